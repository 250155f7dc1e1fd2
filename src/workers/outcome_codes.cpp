#include "src/workers/outcome_codes.h"

#include "src/runtime/runtime.h"

namespace sbx {

std::string runtime_failure_code(const Error& error, std::string_view prefix) {
  if (std::string_view code = runtime_error_code(error); !code.empty()) return std::string(code);
  switch (error.code) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kDeadlineExceeded:
      return std::string(prefix) + "::INITIALIZATION_ERROR";
    case ErrorCode::kInvalidArgument:
      return "SANDBOX::INVALID_PARAMETER";
    default:
      return std::string(prefix) + "::API_ERROR";
  }
}

std::string runtime_failure_message(const Error& error) {
  std::string_view code = runtime_error_code(error);
  std::string_view m = error.message;
  if (!code.empty() && m.starts_with(code)) {
    m.remove_prefix(code.size());
    if (m.starts_with(": ")) m.remove_prefix(2);
  }
  return std::string(m);
}

bool is_transient(const Error& error) {
  return error.code == ErrorCode::kUnavailable || error.code == ErrorCode::kDeadlineExceeded;
}

}  // namespace sbx
