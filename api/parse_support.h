// Helpers the request parsers share (internal to api/: create_request_parsing.cpp,
// request_parsing.cpp, field_grammar.cpp): the JSON body parse with its nesting guard,
// the collector of request-shape issues, and quoting of user strings in messages.
//
// Pure; thread-safe.
#pragma once

#include <expected>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/error_mapping.h"

namespace sbx::api::parsing {

using json = nlohmann::json;

// The body as JSON: 422 when empty, 400 when nested deeper than kMaxJsonDepth or malformed
// (naming the position of the first error).
std::expected<json, ApiError> parse_json(std::string_view body);
// parse_json, and a body that is not a JSON object is a 422 naming its type.
std::expected<json, ApiError> parse_json_object(std::string_view body);

// A user string as it may be quoted in a message: control characters (NUL among them)
// as \xNN, and at most 200 characters of it.
std::string printable(std::string_view s);

bool has_nul(std::string_view s);
bool is_alnum(char c);

// "null", "boolean", "number", "string", "array" or "object".
std::string type_name(const json& j);

// Collects request-shape issues; the first value error wins separately.
// A Checker for a nested object (a pool's template) names its fields from that object:
// `prefix` goes before every issue's loc (after "body"), `message_prefix` before every
// value error's message ("template." turns "resourceLimits.cpu: ..." into
// "template.resourceLimits.cpu: ...").
struct Checker {
  std::vector<Issue> issues;
  std::optional<ApiError> value_error;
  std::vector<std::string> prefix;
  std::string message_prefix;

  // A shape issue at body.<loc...> (a 422 entry).
  void issue(std::vector<std::string> loc, std::string msg, std::string type = "value_error");
  void wrong_type(std::vector<std::string> loc, std::string_view expected, const json& got);
  // A value error (a 400); only the first is kept.
  void value(ApiErrorKind kind, std::string message);
  // The answer: 422 if any shape issue, else the first value error, else nothing.
  std::optional<ApiError> result();
};

// Whether `obj` has `key` with a non-null value.
bool present(const json& obj, const char* key);

// A JSON object whose values are all strings -> map (nulls dropped when `drop_null`).
std::map<std::string, std::string> string_map(Checker& c, const json& j, const std::string& name,
                                              bool drop_null);

}  // namespace sbx::api::parsing
