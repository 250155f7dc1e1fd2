// Warm pools (issue 14), in the reference's shapes (PoolResponse, ListPoolsResponse):
//   POST   /pools          {name, template, capacitySpec}  -> 201 PoolResponse,
//                          Location: <prefix>/pools/{name}
//   GET    /pools                                          -> 200 {"items": [PoolResponse]}
//                                                             (by name)
//   GET    /pools/{name}                                   -> 200 PoolResponse
//   PUT    /pools/{name}   {capacitySpec}                  -> 200 PoolResponse
//   DELETE /pools/{name}                                   -> 204 (the keeper drains the
//                                                             unclaimed members)
// PoolResponse: {name, capacitySpec {bufferMax, bufferMin, poolMax, poolMin}, status
// {total, allocated, available, warming, revision}, createdAt, template}; revision is the
// pool stream's version as a decimal string, template the template as it was sent with its
// env values replaced by "***" (redact_template_env_json).
// Bodies: request_parsing.h (parse_create_pool_request, parse_update_pool_request).
// Errors (error_mapping.h): 400 SANDBOX::INVALID_PARAMETER naming the field, 404
// <RT>::POOL_NOT_FOUND (also for a path name that cannot be a pool's, without a lookup),
// 409 <RT>::POOL_ALREADY_EXISTS, 501 <RT>::POOL_NOT_SUPPORTED (no PoolService, or
// pools.enabled = false), the fence and storage 503s of every mutation. Mutations run on
// PoolService's mutation thread (the *_async forms) and answer from there.
#include <nlohmann/json.hpp>
#include <string>

#include "api/handlers.h"
#include "api/parse_support.h"
#include "api/request_parsing.h"
#include "api/server_impl.h"
#include "events/pool.h"
#include "events/time.h"
#include "src/common/env_redaction.h"
#include "src/service/pool_service.h"

namespace sbx::api {
namespace {

using json = nlohmann::json;

std::string render_pool(const PoolView& view) {
  const Pool& p = *view.pool;
  json j = json::object();
  j["name"] = p.name;
  j["capacitySpec"] = {{"bufferMax", p.capacity.buffer_max},
                       {"bufferMin", p.capacity.buffer_min},
                       {"poolMax", p.capacity.pool_max},
                       {"poolMin", p.capacity.pool_min}};
  j["status"] = {{"total", view.counts.total},
                 {"allocated", view.counts.allocated},
                 {"available", view.counts.available},
                 {"warming", view.counts.warming},
                 {"revision", std::to_string(p.version)}};
  j["createdAt"] = format_rfc3339(p.created_at);
  // The template as the client sent it (stored compact), env values replaced by "***" (as a
  // sandbox's env is never served: values often hold tokens); a pool written without one
  // (never by this API) simply has none.
  if (!p.template_json.empty()) {
    json t = json::parse(redact_template_env_json(p.template_json), nullptr, false);
    if (!t.is_discarded() && !t.is_null()) j["template"] = std::move(t);
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The pool routes need a PoolService with pools enabled; otherwise every one of them is the
// same 501 (true: answered).
bool refuse_unsupported(const Call& call) {
  ApiServer::Impl& server = call.server;
  if (server.deps.pools != nullptr && server.deps.pools->options().enabled) return false;
  call.exchange->send_error(
      map_error(Error(ErrorCode::kUnimplemented,
                      server.deps.pools == nullptr
                          ? "warm pools are not supported by this server"
                          : "warm pools are disabled (pools.enabled = false)",
                      "runtime.pools"),
                Operation::kPool, server.runtime_prefix));
  return true;
}

void not_found(const Call& call, std::string_view name) {
  call.exchange->send_error(map_error(
      Error(ErrorCode::kNotFound, "pool \"" + parsing::printable(name) + "\" not found", "pool"),
      Operation::kPool, call.server.runtime_prefix));
}

// The {name} of the path; empty (and a 404 sent) when it cannot name a pool.
std::string path_name(const Call& call) {
  const std::string name(call.match.param("name"));
  if (is_valid_pool_name(name)) return name;
  not_found(call, name);
  return {};
}

RequestContext context_of(const Exchange& ex) { return RequestContext{ex.request_id(), "api"}; }

}  // namespace

namespace handlers {

void create_pool(const Call& call) {
  if (refuse_unsupported(call)) return;
  ApiServer::Impl& server = call.server;
  const auto& ex = call.exchange;
  CreateParseOptions parse_options;
  parse_options.allowed_host_paths = server.options.allowed_host_paths;
  auto request = parse_create_pool_request(call.request.body(), parse_options);
  if (!request) {
    ex->send_error(request.error());
    return;
  }
  const std::string location =
      std::string(call.match.versioned() ? "/v1" : "") + "/pools/" + request->name;
  server.deps.pools->create_async(
      std::move(*request), context_of(*ex), [&server, ex, location](Result<PoolView> r) {
        if (!r) {
          ex->send_error(map_error(r.error(), Operation::kPool, server.runtime_prefix));
          return;
        }
        ex->send_json(201, render_pool(*r), {{"Location", location}});
      });
}

void list_pools(const Call& call) {
  if (refuse_unsupported(call)) return;
  const auto pools = call.server.deps.pools->list();
  std::string out = "{\"items\":[";
  for (std::size_t i = 0; i < pools.size(); ++i) {
    if (i) out += ',';
    out += render_pool(pools[i]);
  }
  out += "]}";
  call.exchange->send_json(200, out);
}

void get_pool(const Call& call) {
  if (refuse_unsupported(call)) return;
  const std::string name = path_name(call);
  if (name.empty()) return;
  auto view = call.server.deps.pools->get(name);
  if (!view) return not_found(call, name);
  call.exchange->send_json(200, render_pool(*view));
}

void update_pool(const Call& call) {
  if (refuse_unsupported(call)) return;
  ApiServer::Impl& server = call.server;
  const auto& ex = call.exchange;
  const std::string name = path_name(call);
  if (name.empty()) return;
  auto capacity = parse_update_pool_request(call.request.body());
  if (!capacity) {
    ex->send_error(capacity.error());
    return;
  }
  server.deps.pools->update_capacity_async(
      name, *capacity, context_of(*ex), [&server, ex](Result<PoolView> r) {
        if (!r) {
          ex->send_error(map_error(r.error(), Operation::kPool, server.runtime_prefix));
          return;
        }
        ex->send_json(200, render_pool(*r));
      });
}

void delete_pool(const Call& call) {
  if (refuse_unsupported(call)) return;
  ApiServer::Impl& server = call.server;
  const auto& ex = call.exchange;
  const std::string name = path_name(call);
  if (name.empty()) return;
  server.deps.pools->remove_async(name, context_of(*ex), [&server, ex](Result<void> r) {
    if (!r) {
      ex->send_error(map_error(r.error(), Operation::kPool, server.runtime_prefix));
      return;
    }
    ex->send_empty(204);
  });
}

}  // namespace handlers
}  // namespace sbx::api
