// GET|PUT|PATCH|DELETE /sandboxes/{id}/networkpolicy: the egress sidecar's policy API,
// forwarded by the service (SandboxService::network_policy_async) with the sandbox's token.
//
// Bodies are validated here and forwarded re-serialised (never the client's bytes), in the
// shapes of the reference API (NetworkPolicy, NetworkRule):
//   PUT     {"defaultAction"?: "allow"|"deny", "egress"?: [rule...]}   replaces the policy
//   PATCH   [rule...] (at least one)                                   merges rules by target
//   DELETE  ["target"...] (at least one)                               removes rules by target
//   rule    {"action": "allow"|"deny", "target": "<domain or *.domain>"}
// A target is 1..253 characters of [A-Za-z0-9.-], an optional leading "*." ; at most
// kMaxRules rules or targets; the body at most kMaxPolicyBody bytes (413). Unknown members
// are a 422. The sidecar's 2xx answer is passed through (JSON); any other answer is a 502
// SANDBOX::EGRESS_ERROR naming its status.
#include <nlohmann/json.hpp>
#include <string>

#include "api/handlers.h"
#include "api/parse_support.h"
#include "api/server_impl.h"

namespace sbx::api {
namespace {

using json = nlohmann::json;
using parsing::Checker;

constexpr std::size_t kMaxPolicyBody = 64 * 1024;
constexpr std::size_t kMaxRules = 1024;
constexpr std::size_t kMaxTarget = 253;

bool valid_target(const std::string& t) {
  if (t.empty() || t.size() > kMaxTarget) return false;
  std::string_view rest = t;
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  if (rest.empty() || rest.front() == '.' || rest.back() == '.') return false;
  for (char c : rest) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-';
    if (!ok) return false;
  }
  return rest.find("..") == std::string_view::npos;
}

constexpr char kTargetRule[] =
    "a domain such as \"example.com\" or \"*.example.com\" (letters, digits, '.', '-'; at most "
    "253 characters)";

// One rule at body.<loc...>; appended to `out` when valid.
void check_rule(Checker& c, const json& rule, std::vector<std::string> loc, json& out) {
  if (!rule.is_object()) {
    c.wrong_type(loc, "an object", rule);
    return;
  }
  bool ok = true;
  for (auto it = rule.begin(); it != rule.end(); ++it) {
    if (it.key() != "action" && it.key() != "target") {
      auto l = loc;
      l.push_back(it.key());
      c.issue(l, "Extra inputs are not permitted", "extra_forbidden");
      ok = false;
    }
  }
  auto at = [&](const char* k) {
    auto l = loc;
    l.push_back(k);
    return l;
  };
  if (!parsing::present(rule, "action") || !rule["action"].is_string() ||
      (rule["action"] != "allow" && rule["action"] != "deny")) {
    c.issue(at("action"), "Input should be 'allow' or 'deny'", "enum");
    ok = false;
  }
  if (!parsing::present(rule, "target") || !rule["target"].is_string()) {
    c.issue(at("target"), "Field required (a domain)", "missing");
    ok = false;
  } else if (!valid_target(rule["target"].get<std::string>())) {
    c.issue(at("target"), std::string("Input should be ") + kTargetRule, "value_error");
    ok = false;
  }
  if (ok) out.push_back({{"action", rule["action"]}, {"target", rule["target"]}});
}

void check_count(Checker& c, const json& arr, std::vector<std::string> loc, const char* what) {
  if (arr.empty()) c.issue(loc, std::string("List should have at least 1 ") + what, "too_short");
  if (arr.size() > kMaxRules) {
    c.issue(loc, "List should have at most " + std::to_string(kMaxRules) + " " + what,
            "too_long");
  }
}

// The body to forward for `method`, or the error to answer.
std::expected<std::string, ApiError> policy_body(const std::string& method, std::string_view body) {
  if (method == "GET") return std::string();
  if (body.size() > kMaxPolicyBody) {
    return std::unexpected(api_error(ApiErrorKind::kBodyTooLarge,
                                     "a network policy body may have at most " +
                                         std::to_string(kMaxPolicyBody) + " bytes, got " +
                                         std::to_string(body.size())));
  }
  auto parsed = parsing::parse_json(body);
  if (!parsed) return std::unexpected(parsed.error());
  const json& j = *parsed;
  Checker c;
  json out;
  if (method == "PUT") {
    if (!j.is_object()) {
      c.wrong_type({}, "a NetworkPolicy object", j);
    } else {
      out = json::object();
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.key() != "defaultAction" && it.key() != "egress") {
          c.issue({it.key()}, "Extra inputs are not permitted", "extra_forbidden");
        }
      }
      if (parsing::present(j, "defaultAction")) {
        if (!j["defaultAction"].is_string() ||
            (j["defaultAction"] != "allow" && j["defaultAction"] != "deny")) {
          c.issue({"defaultAction"}, "Input should be 'allow' or 'deny'", "enum");
        } else {
          out["defaultAction"] = j["defaultAction"];
        }
      }
      json rules = json::array();
      if (parsing::present(j, "egress")) {
        const json& eg = j["egress"];
        if (!eg.is_array()) {
          c.wrong_type({"egress"}, "an array", eg);
        } else if (eg.size() > kMaxRules) {
          c.issue({"egress"}, "List should have at most " + std::to_string(kMaxRules) + " rules",
                  "too_long");
        } else {
          for (std::size_t i = 0; i < eg.size(); ++i)
            check_rule(c, eg[i], {"egress", std::to_string(i)}, rules);
        }
      }
      out["egress"] = rules;
    }
  } else if (method == "PATCH") {
    if (!j.is_array()) {
      c.wrong_type({}, "an array of rules", j);
    } else {
      check_count(c, j, {}, "rule");
      out = json::array();
      if (j.size() <= kMaxRules)
        for (std::size_t i = 0; i < j.size(); ++i) check_rule(c, j[i], {std::to_string(i)}, out);
    }
  } else {  // DELETE
    if (!j.is_array()) {
      c.wrong_type({}, "an array of targets", j);
    } else {
      check_count(c, j, {}, "target");
      out = json::array();
      for (std::size_t i = 0; i < j.size() && i <= kMaxRules; ++i) {
        if (!j[i].is_string() || !valid_target(j[i].get<std::string>())) {
          c.issue({std::to_string(i)}, std::string("Input should be ") + kTargetRule,
                  "value_error");
        } else {
          out.push_back(j[i]);
        }
      }
    }
  }
  if (auto err = c.result()) return std::unexpected(std::move(*err));
  return out.dump();
}

}  // namespace

namespace handlers {

void network_policy(const Call& call) {
  ApiServer::Impl& server = call.server;
  const auto& ex = call.exchange;
  const std::string method(Pistache::Http::methodString(call.request.method()));
  auto body = policy_body(method, call.request.body());
  if (!body) {
    ex->send_error(body.error());
    return;
  }
  server.deps.service.network_policy_async(
      std::string(call.id()), method, std::move(*body),
      RequestContext{ex->request_id(), "api"}, [&server, ex](Result<EgressReply> r) {
        if (!r) {
          ex->send_error(map_error(r.error(), Operation::kNetworkPolicy, server.runtime_prefix));
          return;
        }
        if (r->status < 200 || r->status >= 300) {
          std::string excerpt = parsing::printable(r->body);
          ex->send_error(api_error(ApiErrorKind::kEgressError,
                                   "the egress sidecar answered HTTP " + std::to_string(r->status) +
                                       (excerpt.empty() ? std::string() : ": " + excerpt)));
          return;
        }
        json answer = json::parse(r->body, nullptr, false);
        if (answer.is_discarded()) answer = json{{"status", "ok"}};
        ex->send_json(r->status == 204 ? 200 : r->status, answer.dump());
      });
}

}  // namespace handlers
}  // namespace sbx::api
