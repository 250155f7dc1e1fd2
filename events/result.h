// Result<T> and Error: how every module boundary in sandboxd reports failure.
//
// A call that can fail returns Result<T> = std::expected<T, Error>. Error carries a code
// from a small, closed enum and a human-readable message; `field` names the request or
// configuration field at fault when there is one. Exceptions never cross a module
// boundary: they are caught at the third-party edge and turned into an Error.
//
// The one table that maps ErrorCode to HTTP status and OpenSandbox error codes lives in
// api/. This header is pure (std only) so that every module may include it.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace sbx {

enum class ErrorCode {
  kInvalidArgument,     // the caller's input is wrong; nothing changed
  kNotFound,            // the named thing does not exist
  kAlreadyExists,       // creating something that exists
  kFailedPrecondition,  // valid input, but not in the current state (e.g. pause a Paused)
  kConflict,            // optimistic concurrency: expected version did not match
  kUnavailable,         // a dependency (Docker, Kubernetes, disk) is down; retry later
  kDeadlineExceeded,    // a bounded wait ran out
  kDataLoss,            // stored data is corrupt or unreadable
  kResourceExhausted,   // out of ports, body too large, ...
  kUnauthenticated,     // missing or wrong credentials
  kUnimplemented,       // the operation cannot be done by this configuration (pause on Kubernetes)
  kInternal,            // a bug or an unexpected failure
};

std::string_view to_string(ErrorCode code);

struct [[nodiscard]] Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  std::string field;  // empty unless one input field is at fault

  Error() = default;
  Error(ErrorCode c, std::string m, std::string f = {})
      : code(c), message(std::move(m)), field(std::move(f)) {}
};

template <typename T>
using Result = std::expected<T, Error>;

// Shorthand: `return fail(ErrorCode::kNotFound, "sandbox x not found");`
inline std::unexpected<Error> fail(ErrorCode code, std::string message, std::string field = {}) {
  return std::unexpected<Error>(Error(code, std::move(message), std::move(field)));
}

}  // namespace sbx
