// The lifecycle handlers: create, list, get, delete, metadata, pause, resume, renew,
// endpoints. Reads answer in place from the service's memory; mutations run on the
// service's mutation threads and answer from there, or park until the outcome (see
// handlers.h and exchange.h).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "api/handlers.h"
#include "api/http_util.h"
#include "api/request_parsing.h"
#include "api/sandbox_json.h"
#include "api/server_impl.h"
#include "src/common/route_signing.h"

namespace sbx::api::handlers {

using namespace Pistache;

namespace {

RequestContext context_of(const Exchange& ex) { return RequestContext{ex.request_id(), "api"}; }

bool prefers_async(const Http::Request& req) {
  auto prefer = req.headers().tryGetRaw("Prefer");
  if (!prefer) return false;
  std::string v = prefer->value();
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  return v.find("respond-async") != std::string::npos;
}

// POST …/pause and …/resume: 202 once the request is recorded, after waiting (unless
// Prefer: respond-async) for the state to leave `in_between`.
void transition(const Call& call, bool pause) {
  ApiServer::Impl& server = call.server;
  const auto& ex = call.exchange;
  const std::string id(call.id());
  const bool respond_async = prefers_async(call.request);
  const auto wait = std::chrono::milliseconds(server.options.transition_wait_ms);
  Command command = pause ? Command(PauseSandbox{}) : Command(ResumeSandbox{});
  const SandboxState in_between = pause ? SandboxState::kPausing : SandboxState::kResuming;
  server.deps.service.execute_async(
      id, std::move(command), context_of(*ex),
      [&server, ex, id, respond_async, wait, pause, in_between](Result<CommandResult> r) {
        if (!r) {
          ex->send_error(map_error(r.error(), pause ? Operation::kPause : Operation::kResume,
                                   server.runtime_prefix));
          return;
        }
        if (respond_async || wait.count() <= 0 || r->sandbox.state != in_between) {
          ex->send_empty(202);
          return;
        }
        server.parked.park(
            ex, id, [in_between](const Sandbox& s) { return s.state != in_between; }, wait,
            [ex](WaitOutcome, std::shared_ptr<const Sandbox>) { ex->send_empty(202); });
      });
}

}  // namespace

void create_sandbox(const Call& call) {
  ApiServer::Impl& server = call.server;
  const auto& ex = call.exchange;
  const Http::Request& req = call.request;
  CreateParseOptions parse_options;
  parse_options.allowed_host_paths = server.options.allowed_host_paths;
  auto request = parse_create_request(req.body(), parse_options);
  if (!request) {
    ex->send_error(request.error());
    return;
  }
  if (auto key = req.headers().tryGetRaw("Idempotency-Key")) {
    const std::string raw_key = key->value();  // value() returns a copy: keep it alive
    const std::string_view k = trim(raw_key);
    if (k.size() > 255) {
      ex->send_error(
          api_error(ApiErrorKind::kInvalidValue, "Idempotency-Key must be at most 255 characters"));
      return;
    }
    request->idempotency_key = std::string(k);
  }
  const bool respond_async = prefers_async(req);
  const auto wait = std::chrono::milliseconds(server.options.create_wait_ms);
  server.deps.service.create_async(
      std::move(*request), context_of(*ex),
      [&server, ex, respond_async, wait](Result<CreateResult> r) {
        if (!r) {
          ex->send_error(map_error(r.error(), Operation::kCreate, server.runtime_prefix));
          return;
        }
        Headers headers = {{"Location", "/v1/sandboxes/" + r->sandbox.id}};
        // A create naming a pool (extensions.poolRef): whether a warm member was claimed.
        if (!r->pool_claim.empty()) headers.emplace_back("X-Sandboxd-Pool", r->pool_claim);
        if (r->replayed) {
          auto now = server.deps.service.get(r->sandbox.id);
          ex->send_json(r->http_status, render_create_response(now ? *now : r->sandbox), headers);
          return;
        }
        if (respond_async || wait.count() <= 0 || r->sandbox.state != SandboxState::kPending) {
          ex->send_json(202, render_create_response(r->sandbox), headers);
          return;
        }
        const Sandbox requested = r->sandbox;
        server.parked.park(
            ex, requested.id, [](const Sandbox& s) { return s.state != SandboxState::kPending; },
            wait, [ex, requested, headers](WaitOutcome, std::shared_ptr<const Sandbox> sb) {
              ex->send_json(202, render_create_response(sb ? *sb : requested), headers);
            });
      });
}

void list_sandboxes(const Call& call) {
  auto q = parse_list_query(call.query);
  if (!q) {
    call.exchange->send_error(q.error());
    return;
  }
  call.exchange->send_json(200, render_list(call.server.deps.service.list(*q)));
}

void get_sandbox(const Call& call) {
  auto sb = call.server.deps.service.get(call.id());
  if (!sb) {
    call.exchange->send_error(
        map_error(Error(ErrorCode::kNotFound, "sandbox " + std::string(call.id()) + " not found"),
                  Operation::kGet, call.server.runtime_prefix));
    return;
  }
  call.exchange->send_json(200, render_sandbox(*sb));
}

void delete_sandbox(const Call& call) {
  ApiServer::Impl& server = call.server;
  const auto& ex = call.exchange;
  const std::string id(call.id());
  const bool respond_async = prefers_async(call.request);
  const auto wait = std::chrono::milliseconds(server.options.transition_wait_ms);
  server.deps.service.execute_async(
      id, DeleteSandbox{Reason::kUser}, context_of(*ex),
      [&server, ex, id, respond_async, wait](Result<CommandResult> r) {
        if (!r) {
          ex->send_error(map_error(r.error(), Operation::kDelete, server.runtime_prefix));
          return;
        }
        if (respond_async || wait.count() <= 0 || r->sandbox.deleted ||
            is_final(r->sandbox.state)) {
          ex->send_empty(204);
          return;
        }
        server.parked.park(
            ex, id, [](const Sandbox& s) { return is_final(s.state); }, wait,
            [ex](WaitOutcome, std::shared_ptr<const Sandbox>) { ex->send_empty(204); });
      });
}

void patch_metadata(const Call& call) {
  ApiServer::Impl& server = call.server;
  const auto& ex = call.exchange;
  auto patch = parse_metadata_patch(call.request.body());
  if (!patch) {
    ex->send_error(patch.error());
    return;
  }
  server.deps.service.execute_async(
      std::string(call.id()), std::move(*patch), context_of(*ex),
      [&server, ex](Result<CommandResult> r) {
        if (!r) {
          ex->send_error(map_error(r.error(), Operation::kPatchMetadata, server.runtime_prefix));
          return;
        }
        ex->send_json(200, render_sandbox(r->sandbox));
      });
}

void pause_sandbox(const Call& call) { transition(call, true); }

void resume_sandbox(const Call& call) { transition(call, false); }

void renew_expiration(const Call& call) {
  ApiServer::Impl& server = call.server;
  const auto& ex = call.exchange;
  auto renew = parse_renew_request(call.request.body());
  if (!renew) {
    ex->send_error(renew.error());
    return;
  }
  server.deps.service.execute_async(
      std::string(call.id()), *renew, context_of(*ex), [&server, ex](Result<CommandResult> r) {
        if (!r) {
          ex->send_error(map_error(r.error(), Operation::kRenew, server.runtime_prefix));
          return;
        }
        if (!r->sandbox.expires_at) {
          ex->send_error(api_error(ApiErrorKind::kInternal, "renewal recorded no expiry"));
          return;
        }
        ex->send_json(200, render_renew(*r->sandbox.expires_at));
      });
}

namespace {

// The base of server-proxied endpoints: server.eip when set (scheme and trailing '/'
// dropped), else the Host the client used (when it is a plain host[:port]) or the bound
// address, plus "/v1" when the client asked under /v1: the reference's form.
std::string proxy_base(const Call& call) {
  const ApiOptions& o = call.server.options;
  if (o.public_base && !o.public_base->empty()) {
    std::string_view b = *o.public_base;
    if (b.starts_with("http://")) b.remove_prefix(7);
    if (b.starts_with("https://")) b.remove_prefix(8);
    while (b.ends_with('/')) b.remove_suffix(1);
    return std::string(b);
  }
  std::string host;
  if (auto h = call.request.headers().tryGetRaw("Host")) host = std::string(trim(h->value()));
  const bool plain = !host.empty() && host.size() <= 255 &&
                     std::all_of(host.begin(), host.end(), [](char c) {
                       return std::isalnum(static_cast<unsigned char>(c)) || c == '.' ||
                              c == '-' || c == ':' || c == '[' || c == ']';
                     });
  if (!plain) {
    const std::string& bound = call.server.bound_host;
    const bool wildcard = bound.empty() || bound == "0.0.0.0" || bound == "::";
    host = (wildcard ? std::string("127.0.0.1") : bound) + ":" +
           std::to_string(call.server.bound_port);
  }
  if (call.request.resource().starts_with("/v1/")) host += "/v1";
  return host;
}

bool proxy_refused(const Call& call) {
  if (call.server.options.proxy.enabled) return false;
  call.exchange->send_error(api_error(
      ApiErrorKind::kServerProxyNotSupported,
      "the server proxy is disabled (proxy.enabled = false); ask for the endpoint without "
      "use_server_proxy or expires and reach the sandbox at the address it gives"));
  return true;
}

// The direct endpoint's headers (OPENSANDBOX-EGRESS-AUTH of port 18080) go with a proxied
// one: the proxy forwards them to the sandbox.
std::map<std::string, std::string> endpoint_headers(const Call& call, int port) {
  auto direct = call.server.deps.service.endpoint(call.id(), port);
  if (!direct) return {};
  return direct->headers;
}

void proxied_endpoint(const Call& call, int port) {
  if (proxy_refused(call)) return;
  ApiServer::Impl& server = call.server;
  if (!server.deps.service.get(call.id())) {
    call.exchange->send_error(map_error(
        Error(ErrorCode::kNotFound, "sandbox " + std::string(call.id()) + " not found"),
        Operation::kEndpoint, server.runtime_prefix));
    return;
  }
  Endpoint out;
  out.endpoint = proxy_base(call) + "/sandboxes/" + std::string(call.id()) + "/proxy/" +
                 std::to_string(port);
  out.headers = endpoint_headers(call, port);
  call.exchange->send_json(200, render_endpoint(out));
}

void signed_endpoint(const Call& call, int port, std::uint64_t expires) {
  if (proxy_refused(call)) return;
  ApiServer::Impl& server = call.server;
  const std::string& secret = server.options.route_signing_secret;
  if (secret.empty()) {
    call.exchange->send_error(api_error(
        ApiErrorKind::kInvalidValue,
        "signed routes (expires) need proxy.signing_secret in the server's configuration; ask "
        "without expires"));
    return;
  }
  const auto now = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  if (expires <= now) {
    call.exchange->send_error(api_error(ApiErrorKind::kInvalidValue,
                                        "expires (" + std::to_string(expires) +
                                            ") must be greater than the current time (" +
                                            std::to_string(now) + ")"));
    return;
  }
  if (!server.deps.service.get(call.id())) {
    call.exchange->send_error(map_error(
        Error(ErrorCode::kNotFound, "sandbox " + std::string(call.id()) + " not found"),
        Operation::kEndpoint, server.runtime_prefix));
    return;
  }
  Endpoint out;
  out.endpoint = proxy_base(call) + "/proxy/" + sign_route(secret, call.id(), port, expires);
  out.headers = endpoint_headers(call, port);
  call.exchange->send_json(200, render_endpoint(out));
}

}  // namespace

void get_endpoint(const Call& call) {
  ApiServer::Impl& server = call.server;
  auto port = parse_port(call.match.param("port"), server.runtime_prefix);
  if (!port) {
    call.exchange->send_error(port.error());
    return;
  }
  // The reference's order: the combination first, then signed routes, before the sandbox
  // is looked up.
  auto query = parse_endpoint_query(call.query);
  if (!query) {
    call.exchange->send_error(query.error());
    return;
  }
  if (query->use_server_proxy && query->expires) {
    call.exchange->send_error(api_error(
        ApiErrorKind::kInvalidValue,
        "use_server_proxy cannot be combined with expires: a signed endpoint is already a "
        "server-proxied route (ask with expires alone)"));
    return;
  }
  if (query->expires) {
    signed_endpoint(call, *port, *query->expires);
    return;
  }
  if (query->use_server_proxy) {
    proxied_endpoint(call, *port);
    return;
  }
  auto endpoint = server.deps.service.endpoint(call.id(), *port);
  if (!endpoint) {
    call.exchange->send_error(
        map_error(endpoint.error(), Operation::kEndpoint, server.runtime_prefix));
    return;
  }
  call.exchange->send_json(200, render_endpoint(*endpoint));
}

}  // namespace sbx::api::handlers
