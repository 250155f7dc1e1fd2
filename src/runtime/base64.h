// Base64 (RFC 4648) for the runtimes: Docker's X-Registry-Auth header (URL alphabet), the
// Kubernetes dockerconfigjson pull Secret (standard alphabet) and kubeconfig `*-data` keys.
// Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sbx {

enum class Base64Alphabet { kStandard, kUrl };  // "+/" or "-_" as the last two letters

// Padded with '='.
std::string encode_base64(std::string_view in, Base64Alphabet alphabet = Base64Alphabet::kStandard);

// Standard alphabet, padding optional, whitespace ignored; nullopt when `in` is not base64.
std::optional<std::string> decode_base64(std::string_view in);

}  // namespace sbx
