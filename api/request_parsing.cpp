#include "api/request_parsing.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "api/parse_support.h"
#include "events/time.h"

namespace sbx::api {

using namespace parsing;

std::expected<PatchMetadata, ApiError> parse_metadata_patch(std::string_view body) {
  auto parsed = parse_json_object(body);
  if (!parsed) return std::unexpected(parsed.error());
  const json& j = *parsed;
  Checker c;
  PatchMetadata patch;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it->is_null()) {
      patch.patch[it.key()] = std::nullopt;
      continue;
    }
    if (!it->is_string()) {
      c.wrong_type({it.key()}, "a string or null", *it);
      continue;
    }
    const std::string value = it->get<std::string>();
    if (auto p = metadata_key_problem(it.key()); !p.empty()) {
      c.value(ApiErrorKind::kInvalidMetadataLabel, p);
    } else if (auto q = metadata_value_problem(value); !q.empty()) {
      c.value(ApiErrorKind::kInvalidMetadataLabel, q);
    }
    patch.patch[it.key()] = value;
  }
  // Deleting a reserved key is as invalid as setting it.
  for (const auto& [k, v] : patch.patch) {
    if (!v) {
      if (auto p = metadata_key_problem(k); !p.empty())
        c.value(ApiErrorKind::kInvalidMetadataLabel, p);
    }
  }
  if (auto err = c.result()) return std::unexpected(std::move(*err));
  return patch;
}

std::expected<RenewExpiration, ApiError> parse_renew_request(std::string_view body) {
  auto parsed = parse_json_object(body);
  if (!parsed) return std::unexpected(parsed.error());
  const json& j = *parsed;
  Checker c;
  if (!present(j, "expiresAt") || !j["expiresAt"].is_string()) {
    c.issue({"expiresAt"}, "Field required (an RFC 3339 date-time)", "missing");
    return std::unexpected(*c.result());
  }
  const std::string text = j["expiresAt"].get<std::string>();
  auto t = parse_rfc3339(text);
  if (!t) {
    c.issue({"expiresAt"}, "Input should be an RFC 3339 date-time, got \"" + text + "\"",
            "datetime_parsing");
    return std::unexpected(*c.result());
  }
  return RenewExpiration{*t};
}

namespace {

// The 422 of query parameters that do not parse: one message naming each, and the list.
ApiError query_error(std::vector<Issue> issues) {
  std::string message = "invalid query: ";
  for (std::size_t i = 0; i < issues.size(); ++i) {
    if (i) message += "; ";
    message += issues[i].loc.back() + ": " + issues[i].msg;
  }
  return api_error(ApiErrorKind::kValidation, std::move(message), std::move(issues));
}

}  // namespace

std::expected<ListQuery, ApiError> parse_list_query(const QueryParams& query) {
  ListQuery q;
  std::vector<Issue> issues;
  bool state_given = false;
  for (const auto& s : query_values(query, "state")) {
    // Also accept one comma-separated value ("Running,Paused"). An unknown state matches
    // no sandbox (the reference server answers 200 with no items, and so do we).
    std::string_view rest = s;
    while (true) {
      const auto comma = rest.find(',');
      const std::string_view one = trim(rest.substr(0, comma));
      if (!one.empty()) {
        state_given = true;
        auto st = parse_state(one);
        if (st && std::find(q.states.begin(), q.states.end(), *st) == q.states.end()) {
          q.states.push_back(*st);
        }
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  q.no_state_matches = state_given && q.states.empty();
  auto int_param = [&](const char* name, int low, int high, int& out) {
    auto v = query_value(query, name);
    if (!v) return;
    auto n = parse_int(trim(*v), SignPolicy::kAllowPlus);
    if (!n) {
      issues.push_back(Issue{{"query", name}, "Input should be a valid integer", "int_parsing"});
    } else if (*n < low || *n > high) {
      issues.push_back(
          Issue{{"query", name},
                "Input should be between " + std::to_string(low) + " and " + std::to_string(high),
                "range"});
    } else {
      out = static_cast<int>(*n);
    }
  };
  int_param("page", 1, 1'000'000, q.page);
  int_param("pageSize", 1, 200, q.page_size);
  if (!issues.empty()) return std::unexpected(query_error(std::move(issues)));
  // metadata: after the query's own decoding, a form-encoded "k=v&k2=v2".
  for (const auto& m : query_values(query, "metadata")) {
    if (trim(m).empty()) continue;
    std::string_view rest = m;
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
      const auto eq = pair.find('=');
      if (pair.empty() || eq == std::string_view::npos || eq == 0) {
        return std::unexpected(
            api_error(ApiErrorKind::kInvalidMetadataFilter,
                      "metadata filter must be URL-encoded key=value pairs joined by '&' (e.g. "
                      "metadata=team%3Dml%26env%3Dprod), got \"" +
                          m + "\""));
      }
      auto k = percent_decode(pair.substr(0, eq), true);
      auto v = percent_decode(pair.substr(eq + 1), true);
      if (!k || !v) {
        return std::unexpected(
            api_error(ApiErrorKind::kInvalidMetadataFilter,
                      "metadata filter has a malformed %-escape: \"" + m + "\""));
      }
      q.metadata.emplace_back(std::move(*k), std::move(*v));
    }
  }
  return q;
}

std::expected<EndpointQuery, ApiError> parse_endpoint_query(const QueryParams& query) {
  EndpointQuery q;
  std::vector<Issue> issues;
  if (auto v = query_value(query, "use_server_proxy")) {
    std::string lower;
    for (char c : trim(*v)) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") {
      q.use_server_proxy = true;
    } else if (lower == "false" || lower == "0" || lower == "no" || lower == "off") {
      q.use_server_proxy = false;
    } else {
      issues.push_back(Issue{{"query", "use_server_proxy"},
                             "Input should be a valid boolean (true or false)", "bool_parsing"});
    }
  }
  if (auto v = query_value(query, "expires")) {
    auto n = parse_int(trim(*v), SignPolicy::kAllowPlus);
    if (!n || *n < 0) {
      issues.push_back(Issue{{"query", "expires"},
                             "Input should be Unix epoch seconds (an integer >= 0)",
                             "int_parsing"});
    } else {
      q.expires = static_cast<std::uint64_t>(*n);
    }
  }
  if (!issues.empty()) return std::unexpected(query_error(std::move(issues)));
  return q;
}

std::expected<int, ApiError> parse_port(std::string_view segment, std::string_view runtime_prefix) {
  auto n = parse_int(segment, SignPolicy::kAllowPlus);
  if (!n || *n < 1 || *n > 65535) {
    return std::unexpected(
        api_error(ApiErrorKind::kInvalidPort,
                  "port must be an integer in 1..65535, got \"" + std::string(segment) + "\"", {},
                  runtime_prefix));
  }
  return static_cast<int>(*n);
}

}  // namespace sbx::api
