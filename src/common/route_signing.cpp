#include "src/common/route_signing.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <limits>

namespace sbx {
namespace {

constexpr std::string_view kDigits = "0123456789abcdefghijklmnopqrstuvwxyz";

std::string canonical(std::string_view sandbox_id, int port, std::string_view expires_b36) {
  std::string c = "v1\nshort\n";
  c.append(sandbox_id);
  c += '\n';
  c += std::to_string(port);
  c += '\n';
  c.append(expires_b36);
  c += '\n';
  return c;
}

std::string signature(std::string_view secret, const std::string& canon) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(canon.data()), canon.size(), mac,
           &len) == nullptr) {
    return {};
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len && out.size() < kRouteSignatureHexDigits; ++i) {
    out.push_back(kHex[mac[i] >> 4]);
    out.push_back(kHex[mac[i] & 0xf]);
  }
  return out;
}

std::unexpected<Error> malformed(const std::string& why) {
  return fail(ErrorCode::kInvalidArgument, "not a signed route: " + why, "route");
}

}  // namespace

std::string encode_base36(std::uint64_t value) {
  if (value == 0) return "0";
  std::string out;
  while (value > 0) {
    out.push_back(kDigits[value % 36]);
    value /= 36;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::optional<std::uint64_t> decode_base36(std::string_view digits) {
  if (digits.empty() || digits.size() > kMaxExpiresB36Digits) return std::nullopt;
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  std::uint64_t value = 0;
  for (char c : digits) {
    const auto d = kDigits.find(c);
    if (d == std::string_view::npos) return std::nullopt;
    if (value > (std::numeric_limits<std::uint64_t>::max() - d) / 36) return std::nullopt;
    value = value * 36 + d;
  }
  return value;
}

std::string sign_route(std::string_view secret, std::string_view sandbox_id, int port,
                       std::uint64_t expires) {
  const std::string b36 = encode_base36(expires);
  std::string token(sandbox_id);
  token += '-';
  token += std::to_string(port);
  token += '-';
  token += b36;
  token += '-';
  token += signature(secret, canonical(sandbox_id, port, b36));
  return token;
}

Result<VerifiedRoute> verify_route(std::string_view secret, std::string_view token,
                                   std::uint64_t now_seconds) {
  if (token.size() > 256) return malformed("longer than 256 characters");
  for (char c : token) {
    if (kDigits.find(c) == std::string_view::npos && c != '-') {
      return malformed("only [0-9a-z-] may appear in a route");
    }
  }
  const auto d3 = token.rfind('-');
  if (d3 == std::string_view::npos || d3 == 0) return malformed("no signature");
  const auto d2 = token.rfind('-', d3 - 1);
  if (d2 == std::string_view::npos || d2 == 0) return malformed("no expiry");
  const auto d1 = token.rfind('-', d2 - 1);
  if (d1 == std::string_view::npos || d1 == 0) return malformed("no port");
  const std::string_view id = token.substr(0, d1);
  const std::string_view port_s = token.substr(d1 + 1, d2 - d1 - 1);
  const std::string_view b36 = token.substr(d2 + 1, d3 - d2 - 1);
  const std::string_view sig = token.substr(d3 + 1);
  if (port_s.empty() || port_s.size() > 5 || port_s[0] == '0' ||
      !std::all_of(port_s.begin(), port_s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return malformed("the port is not an integer in 1..65535");
  }
  const int port = std::stoi(std::string(port_s));
  if (port < 1 || port > 65535) return malformed("the port is not an integer in 1..65535");
  const auto expires = decode_base36(b36);
  if (!expires) return malformed("the expiry is not base 36 epoch seconds");
  if (sig.size() != kRouteSignatureHexDigits) return malformed("the signature has the wrong length");
  if (secret.empty()) {
    return fail(ErrorCode::kUnauthenticated,
                "signed routes are not enabled on this server (proxy.signing_secret)", "route");
  }
  const std::string want = signature(secret, canonical(id, port, b36));
  if (want.size() != sig.size() || CRYPTO_memcmp(want.data(), sig.data(), sig.size()) != 0) {
    return fail(ErrorCode::kUnauthenticated, "the route's signature is not valid", "route");
  }
  if (*expires <= now_seconds) {
    return fail(ErrorCode::kDeadlineExceeded,
                "the route expired at " + std::to_string(*expires) + " (Unix seconds)", "route");
  }
  return VerifiedRoute{std::string(id), port, *expires};
}

}  // namespace sbx
