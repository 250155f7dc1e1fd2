#include "api/parse_support.h"

#include <cctype>

#include "api/field_grammar.h"

namespace sbx::api::parsing {

std::expected<json, ApiError> parse_json(std::string_view body) {
  if (body.empty()) {
    return std::unexpected(api_error(ApiErrorKind::kValidation, "request body is required",
                                     {Issue{{"body"}, "Field required", "missing"}}));
  }
  // Before the parser builds a tree: nothing that walks the tree afterwards (dump, copy,
  // the checks below) may meet a nesting deeper than this.
  if (json_nesting_exceeds(body, kMaxJsonDepth)) {
    return std::unexpected(api_error(ApiErrorKind::kInvalidValue,
                                     "body: JSON nesting deeper than " +
                                         std::to_string(kMaxJsonDepth) + " levels is not accepted",
                                     {Issue{{"body"}, "nesting too deep", "value_error"}}));
  }
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) {
    // Re-parse with exceptions to get the position of the first error.
    std::string where;
    try {
      json ignored = json::parse(body.begin(), body.end());
      (void)ignored;
    } catch (const json::parse_error& e) {
      where = std::string(": ") + e.what();
    } catch (...) {
    }
    return std::unexpected(api_error(ApiErrorKind::kMalformedJson, "malformed JSON body" + where));
  }
  return j;
}

// A user string as it may be quoted in a message: control characters (NUL among them)
// as \xNN, and at most 200 characters of it.
std::expected<json, ApiError> parse_json_object(std::string_view body) {
  auto parsed = parse_json(body);
  if (!parsed || parsed->is_object()) return parsed;
  Checker c;
  c.issues.push_back(
      Issue{{"body"}, "Input should be an object, got " + type_name(*parsed), "type_error"});
  return std::unexpected(*c.result());
}

std::string printable(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < 200; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 200) out += "...";
  return out;
}

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

std::string type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "number";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    default:
      return "value";
  }
}

void Checker::issue(std::vector<std::string> loc, std::string msg, std::string type) {
  loc.insert(loc.begin(), prefix.begin(), prefix.end());
  loc.insert(loc.begin(), "body");
  issues.push_back(Issue{std::move(loc), std::move(msg), std::move(type)});
}

void Checker::wrong_type(std::vector<std::string> loc, std::string_view expected, const json& got) {
  issue(std::move(loc), "Input should be " + std::string(expected) + ", got " + type_name(got),
        "type_error");
}

void Checker::value(ApiErrorKind kind, std::string message) {
  if (!value_error) value_error = api_error(kind, message_prefix + message);
}

std::optional<ApiError> Checker::result() {
  if (!issues.empty()) {
    std::string message = "invalid request: ";
    for (std::size_t i = 0; i < issues.size(); ++i) {
      if (i) message += "; ";
      std::string where;
      for (std::size_t k = 1; k < issues[i].loc.size(); ++k) {
        if (!where.empty()) where += '.';
        where += issues[i].loc[k];
      }
      message += (where.empty() ? "body" : where) + ": " + issues[i].msg;
    }
    return api_error(ApiErrorKind::kValidation, std::move(message), std::move(issues));
  }
  return std::move(value_error);
}


bool present(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null();
}

std::map<std::string, std::string> string_map(Checker& c, const json& j, const std::string& name,
                                              bool drop_null) {
  std::map<std::string, std::string> out;
  if (!j.is_object()) {
    c.wrong_type({name}, "an object", j);
    return out;
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it->is_string()) {
      out[it.key()] = it->get<std::string>();
    } else if (it->is_null() && drop_null) {
      continue;
    } else {
      c.wrong_type({name, it.key()}, "a string", *it);
    }
  }
  return out;
}
}  // namespace sbx::api::parsing
