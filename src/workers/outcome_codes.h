// Error codes and messages the workers record for runtime failures (internal to workers/).
//
//   runtime_failure_code(error, prefix): the code at the start of the runtime's message
//   (runtime_error_code(), e.g. "DOCKER::IMAGE_NOT_FOUND"), else
//   "<prefix>::INITIALIZATION_ERROR" for an unreachable runtime (kUnavailable,
//   kDeadlineExceeded), "SANDBOX::INVALID_PARAMETER" for a rejected spec (kInvalidArgument),
//   "<prefix>::API_ERROR" for anything else.
//   runtime_failure_message(error): the message without that leading "CODE: ".
//   is_transient(error): kUnavailable or kDeadlineExceeded, worth retrying.
// Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "events/result.h"

namespace sbx {

std::string runtime_failure_code(const Error& error, std::string_view prefix);
std::string runtime_failure_message(const Error& error);
bool is_transient(const Error& error);

}  // namespace sbx
