// Signed, time-limited proxy routes: what GET /sandboxes/{id}/endpoints/{port}?expires=E
// hands out and what the server proxy accepts without the API key until E.
//
// The route token has the shape of OSEP-0011 (the reference server's gateway routes):
//
//   {sandbox_id}-{port}-{expires_b36}-{signature}
//
// expires_b36 is E (Unix epoch seconds, uint64) in lowercase base 36 without leading zeros;
// the token is split from the right, so a sandbox id may contain '-'. The canonical bytes
// are OSEP-0011's, "v1\nshort\n{sandbox_id}\n{port}\n{expires_b36}\n". The signature is
// ours, not the reference's 32-bit digest prefix: the first 32 hex digits (128 bits) of
// HMAC-SHA256(secret, canonical), lowercase. The secret is proxy.signing_secret; changing
// it revokes every route handed out.
//
// The endpoint is "{server}/proxy/{token}" (and the proxy serves "/proxy/{token}/{path...}"
// at both prefixes).
//
// Pure (the time is passed in); thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "events/result.h"

namespace sbx {

inline constexpr std::size_t kRouteSignatureHexDigits = 32;
inline constexpr std::size_t kMaxExpiresB36Digits = 13;  // 2^64 - 1 in base 36

std::string encode_base36(std::uint64_t value);
// nullopt: empty, longer than 13 digits, a character outside [0-9a-z], a leading zero
// (other than "0" itself), or a value above 2^64 - 1.
std::optional<std::uint64_t> decode_base36(std::string_view digits);

// The token for (sandbox id, port, expires). `secret` must not be empty.
std::string sign_route(std::string_view secret, std::string_view sandbox_id, int port,
                       std::uint64_t expires);

struct VerifiedRoute {
  std::string sandbox_id;
  int port = 0;
  std::uint64_t expires = 0;
};

// Checks a token against `secret` at `now_seconds`. Errors (the field is "route"):
//   kInvalidArgument     not a token of the shape above (bad port, bad base 36, ...);
//   kUnauthenticated     the signature does not match (constant-time compare);
//   kDeadlineExceeded    it matched, and expires <= now_seconds.
// An empty secret refuses every token (kUnauthenticated).
[[nodiscard]] Result<VerifiedRoute> verify_route(std::string_view secret, std::string_view token,
                                                 std::uint64_t now_seconds);

}  // namespace sbx
