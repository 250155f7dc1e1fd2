#include "src/common/uuid.h"

#include <uuid/uuid.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <random>

namespace sbx {

// Version 7 (RFC 9562): 48 bits of Unix time in milliseconds, then 74 random bits. Ids made
// close in time sort close together, so the skiplists and SST blocks of the store's indexes
// keyed by sandbox id or event id take each new key next to the previous ones instead of at
// a random place (a random-key memtable insert was a fifth of the store's CPU at 64
// appenders). 74 random bits per millisecond keep ids unguessable and collisions out of
// reach.
//
// libuuid's generators take a process-wide lock and reseed on every call (22% of the profile
// of 64 concurrent appenders); each thread draws from its own generator, seeded once from
// the OS entropy source.
std::string new_uuid() {
  thread_local std::mt19937_64 gen = [] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }();
  const auto ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  const std::uint64_t hi = (ms << 16) | (gen() & 0xffff), lo = gen();
  uuid_t u;
  for (int i = 0; i < 8; ++i) {
    u[i] = static_cast<unsigned char>(hi >> (56 - 8 * i));
    u[8 + i] = static_cast<unsigned char>(lo >> (56 - 8 * i));
  }
  u[6] = static_cast<unsigned char>((u[6] & 0x0f) | 0x70);  // version 7
  u[8] = static_cast<unsigned char>((u[8] & 0x3f) | 0x80);  // RFC 9562 variant
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
