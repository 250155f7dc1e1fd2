#include "src/common/egress_token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace sbx {

std::string egress_token(std::string_view key, std::string_view sandbox_id) {
  if (key.empty()) return {};
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(sandbox_id.data()), sandbox_id.size(), mac,
           &len) == nullptr) {
    return {};
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[mac[i] >> 4]);
    out.push_back(kHex[mac[i] & 0xf]);
  }
  return out;
}

}  // namespace sbx
