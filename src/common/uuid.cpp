#include "src/common/uuid.h"

#include <uuid/uuid.h>

#include <cctype>
#include <cstdint>
#include <random>

namespace sbx {

// libuuid's uuid_generate_random takes a process-wide lock and reseeds on every call (22%
// of the profile of 64 concurrent appenders). Each thread instead draws from its own
// generator, seeded once from the OS entropy source.
std::string new_uuid() {
  thread_local std::mt19937_64 gen = [] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }();
  uuid_t u;
  const std::uint64_t hi = gen(), lo = gen();
  for (int i = 0; i < 8; ++i) {
    u[i] = static_cast<unsigned char>(hi >> (56 - 8 * i));
    u[8 + i] = static_cast<unsigned char>(lo >> (56 - 8 * i));
  }
  u[6] = static_cast<unsigned char>((u[6] & 0x0f) | 0x40);  // version 4
  u[8] = static_cast<unsigned char>((u[8] & 0x3f) | 0x80);  // RFC 4122 variant
  char out[37];
  uuid_unparse_lower(u, out);
  return std::string(out, 36);
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace sbx
