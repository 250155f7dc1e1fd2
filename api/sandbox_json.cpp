#include "api/sandbox_json.h"

#include <nlohmann/json.hpp>

#include "events/codec.h"

namespace sbx::api {
namespace {

using json = nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json status_of(const Sandbox& s) {
  json st = json::object();
  st["state"] = std::string(to_string(s.state));
  if (!s.status_reason.empty()) st["reason"] = s.status_reason;
  if (!s.status_message.empty()) st["message"] = s.status_message;
  if (s.last_transition_at != 0) st["lastTransitionAt"] = format_rfc3339(s.last_transition_at);
  return st;
}

// The fields Sandbox and CreateSandboxResponse share.
void common_fields(json& j, const Sandbox& s) {
  j["id"] = s.id;
  j["status"] = status_of(s);
  j["metadata"] = s.metadata.empty() ? json::object() : json(s.metadata);
  j["entrypoint"] = s.spec.entrypoint;
  if (s.expires_at) j["expiresAt"] = format_rfc3339(*s.expires_at);
  j["createdAt"] = format_rfc3339(s.created_at);
  if (s.spec.platform)
    j["platform"] = {{"os", s.spec.platform->os}, {"arch", s.spec.platform->arch}};
}

json sandbox_json(const Sandbox& s) {
  json j = json::object();
  common_fields(j, s);
  if (!s.spec.image_uri.empty()) j["image"] = {{"uri", s.spec.image_uri}};
  if (!s.spec.snapshot_id.empty()) j["snapshotId"] = s.spec.snapshot_id;
  return j;
}

}  // namespace

std::string render_sandbox(const Sandbox& sandbox) { return dump(sandbox_json(sandbox)); }

std::string render_create_response(const Sandbox& sandbox) {
  json j = json::object();
  common_fields(j, sandbox);
  return dump(j);
}

std::string render_list(const ListPage& page) {
  json items = json::array();
  for (const auto& s : page.items) items.push_back(sandbox_json(*s));
  json j = {{"items", std::move(items)},
            {"pagination",
             {{"page", page.page},
              {"pageSize", page.page_size},
              {"totalItems", page.total_items},
              {"totalPages", page.total_pages},
              {"hasNextPage", page.has_next_page}}}};
  return dump(j);
}

std::string render_endpoint(const Endpoint& endpoint) {
  json j = {{"endpoint", endpoint.endpoint}};
  if (!endpoint.headers.empty()) j["headers"] = endpoint.headers;
  return dump(j);
}

std::string render_renew(Micros expires_at) {
  return dump(json{{"expiresAt", format_rfc3339(expires_at)}});
}

std::string render_event(const Event& event) {
  if (const auto* r = std::get_if<SandboxRequested>(&event.data);
      r && r->spec.image_auth && !r->spec.image_auth->password.empty()) {
    Event copy = event;
    std::get<SandboxRequested>(copy.data).spec.image_auth->password = "***";
    return encode_event(copy);
  }
  return encode_event(event);
}

std::string render_history(std::string_view sandbox_id, const std::vector<Event>& events) {
  std::string out = "{\"sandboxId\":";
  out += dump(json(std::string(sandbox_id)));
  out += ",\"events\":[";
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i) out += ',';
    out += render_event(events[i]);
  }
  out += "]}";
  return out;
}

}  // namespace sbx::api
