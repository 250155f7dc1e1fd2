// Snapshots (issue 13), in the reference's shapes (Snapshot, ListSnapshotsResponse):
//   POST   /sandboxes/{id}/snapshots   body optional {"name"?: string}  -> 202 Snapshot,
//                                      Location: <prefix>/snapshots/{snapshotId}
//   GET    /snapshots                  ?sandboxId= &name= &state= (repeatable, OR) &page=
//                                      &pageSize= (1..200)              -> 200 ListSnapshotsResponse
//   GET    /snapshots/{snapshotId}                                      -> 200 Snapshot
//   DELETE /snapshots/{snapshotId}                                      -> 204 (the worker
//                                      removes the image; the snapshot shows Deleting until then)
// Errors (error_mapping.cpp): 404 SNAPSHOT::NOT_FOUND, 409 SNAPSHOT::INVALID_SOURCE_STATE
// (source not Running), 409 SNAPSHOT::INVALID_STATE (delete while Creating), 501
// SNAPSHOT::NOT_SUPPORTED (Kubernetes), 422 for a body of the wrong shape (unknown
// members, a name that is empty, longer than 128 bytes, or has control characters).
#include <nlohmann/json.hpp>
#include <string>

#include "api/handlers.h"
#include "api/parse_support.h"
#include "api/request_parsing.h"
#include "api/sandbox_json.h"
#include "api/server_impl.h"
#include "events/time.h"
#include "src/service/snapshot_service.h"

namespace sbx::api {
namespace {

using json = nlohmann::json;
using parsing::Checker;

constexpr std::size_t kMaxSnapshotBody = 4096;

std::string render_snapshot(const Snapshot& s) {
  json j = json::object();
  j["id"] = s.id;
  j["sandboxId"] = s.sandbox_id;
  if (!s.name.empty()) j["name"] = s.name;
  json status = json::object();
  status["state"] = std::string(to_string(s.state));
  if (!s.status_reason.empty()) status["reason"] = s.status_reason;
  if (!s.status_message.empty()) status["message"] = s.status_message;
  status["lastTransitionAt"] = format_rfc3339(s.last_transition_at);
  j["status"] = std::move(status);
  j["createdAt"] = format_rfc3339(s.created_at);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The optional body of a create: absent/empty, or {"name"?: string}.
std::expected<std::string, ApiError> parse_create_body(std::string_view body) {
  if (body.empty()) return std::string();
  if (body.size() > kMaxSnapshotBody) {
    return std::unexpected(api_error(ApiErrorKind::kBodyTooLarge,
                                     std::string("a snapshot request body may have at most ") +
                                         std::to_string(kMaxSnapshotBody) + " bytes"));
  }
  auto parsed = parsing::parse_json(body);
  if (!parsed) return std::unexpected(parsed.error());
  const json& j = *parsed;
  Checker c;
  std::string name;
  if (j.is_null()) return std::string();
  if (!j.is_object()) {
    c.wrong_type({}, "a CreateSnapshotRequest object", j);
  } else {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() != "name") c.issue({it.key()}, "Extra inputs are not permitted", "extra_forbidden");
    }
    if (j.contains("name") && !j["name"].is_null()) {
      if (!j["name"].is_string()) {
        c.wrong_type({"name"}, "a string", j["name"]);
      } else {
        name = j["name"].get<std::string>();
        if (auto ok = validate_snapshot_name(name); !ok) {
          c.issue({"name"}, ok.error().message, name.empty() ? "string_too_short" : "value_error");
        }
      }
    }
  }
  if (auto err = c.result()) return std::unexpected(std::move(*err));
  return name;
}

}  // namespace

namespace handlers {

void create_snapshot(const Call& call) {
  ApiServer::Impl& server = call.server;
  const auto& ex = call.exchange;
  if (server.deps.snapshots == nullptr || !server.deps.snapshots->supported()) {
    ex->send_error(map_error(Error(ErrorCode::kUnimplemented,
                                   "snapshots are not supported by this runtime (Docker only)",
                                   "runtime.snapshots"),
                             Operation::kOther, server.runtime_prefix));
    return;
  }
  auto name = parse_create_body(call.request.body());
  if (!name) {
    ex->send_error(name.error());
    return;
  }
  const std::string prefix = call.match.versioned() ? "/v1" : "";
  server.deps.snapshots->create_async(
      std::string(call.id()), std::move(*name), RequestContext{ex->request_id(), "api"},
      [&server, ex, prefix](Result<Snapshot> r) {
        if (!r) {
          ex->send_error(map_error(r.error(), Operation::kOther, server.runtime_prefix));
          return;
        }
        ex->send_json(202, render_snapshot(*r), {{"Location", prefix + std::string("/snapshots/") + r->id}});
      });
}

void list_snapshots(const Call& call) {
  ApiServer::Impl& server = call.server;
  if (server.deps.snapshots == nullptr) {
    call.exchange->send_error(map_error(
        Error(ErrorCode::kUnimplemented, "snapshots are not supported", "runtime.snapshots"),
        Operation::kOther, server.runtime_prefix));
    return;
  }
  // page, pageSize and state as the sandbox list (the same bounds and 422s).
  auto base = parse_list_query(call.query);
  if (!base) {
    call.exchange->send_error(base.error());
    return;
  }
  SnapshotListQuery q;
  q.page = base->page;
  q.page_size = base->page_size;
  bool state_given = false;
  for (const auto& s : query_values(call.query, "state")) {
    std::string_view rest = s;
    while (true) {
      const auto comma = rest.find(',');
      const std::string_view one = trim(rest.substr(0, comma));
      if (!one.empty()) {
        state_given = true;
        if (auto st = parse_snapshot_state(one)) q.states.push_back(*st);
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  q.no_state_matches = state_given && q.states.empty();
  if (auto v = query_value(call.query, "sandboxId")) q.sandbox_id = std::string(*v);
  if (auto v = query_value(call.query, "name")) q.name = std::string(*v);
  const SnapshotPage page = server.deps.snapshots->list(q);
  std::string out = "{\"items\":[";
  for (std::size_t i = 0; i < page.items.size(); ++i) {
    if (i) out += ',';
    out += render_snapshot(*page.items[i]);
  }
  out += std::string("],\"pagination\":") +
         json{{"page", page.page},
              {"pageSize", page.page_size},
              {"totalItems", page.total_items},
              {"totalPages", page.total_pages},
              {"hasNextPage", page.has_next_page}}
             .dump() +
         "}";
  call.exchange->send_json(200, out);
}

void get_snapshot(const Call& call) {
  ApiServer::Impl& server = call.server;
  const std::string id(call.match.param("snapshotId"));
  auto s = server.deps.snapshots ? server.deps.snapshots->get(id) : nullptr;
  if (!s) {
    call.exchange->send_error(
        map_error(Error(ErrorCode::kNotFound, std::string("Snapshot ") + parsing::printable(id) + " not found",
                        "snapshot"),
                  Operation::kOther, server.runtime_prefix));
    return;
  }
  call.exchange->send_json(200, render_snapshot(*s));
}

void delete_snapshot(const Call& call) {
  ApiServer::Impl& server = call.server;
  const auto& ex = call.exchange;
  const std::string id(call.match.param("snapshotId"));
  if (server.deps.snapshots == nullptr || !server.deps.snapshots->get(id)) {
    ex->send_error(
        map_error(Error(ErrorCode::kNotFound, std::string("Snapshot ") + parsing::printable(id) + " not found",
                        "snapshot"),
                  Operation::kOther, server.runtime_prefix));
    return;
  }
  server.deps.snapshots->remove_async(id, RequestContext{ex->request_id(), "api"},
                                      [&server, ex](Result<Snapshot> r) {
                                        if (!r) {
                                          ex->send_error(map_error(r.error(), Operation::kOther,
                                                                   server.runtime_prefix));
                                          return;
                                        }
                                        ex->send_empty(204);
                                      });
}

}  // namespace handlers
}  // namespace sbx::api
