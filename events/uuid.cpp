#include "events/uuid.h"

#include <sys/random.h>
#include <uuid/uuid.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>

namespace sbx {

// Version 7 (RFC 9562) with a 12-bit counter (its "method 1"): 48 bits of Unix time in
// milliseconds and 12 bits of counter that together only grow within this process, then 62
// random bits. Ids made one after the other sort one after the other, so the store's
// indexes keyed by sandbox id or event id (stream index, event-id index, projection) take
// each new key at the end of their memtable skiplists instead of at a random place: a
// random-key insert was a fifth of the store's CPU at 64 appenders, and a group commit's
// memtable work halves with ordered keys. Should more than 4096 ids be made in one
// millisecond, or the clock step back, the time field runs ahead of the clock until it
// catches up; it never goes back. 62 random bits keep ids unguessable.
//
// The random bits come from the OS CSPRNG (getrandom), never from a seeded PRNG: ids are
// capabilities of a sort (whoever knows one can address the sandbox when auth is off),
// and a Mersenne Twister's state can be recovered from its outputs. libuuid's generators
// take a process-wide lock and reseed on every call (22% of the profile of 64 concurrent
// appenders); each thread instead keeps a small buffer filled by one getrandom call per
// 64 ids.
namespace {

std::uint64_t random_u64() {
  thread_local std::array<std::uint64_t, 64> buf;
  thread_local std::size_t next = buf.size();
  if (next == buf.size()) {
    auto* p = reinterpret_cast<unsigned char*>(buf.data());
    std::size_t got = 0;
    const std::size_t want = sizeof buf;
    while (got < want) {
      const ssize_t n = ::getrandom(p + got, want - got, 0);
      if (n > 0) {
        got += static_cast<std::size_t>(n);
      } else if (n < 0 && errno != EINTR) {
        std::abort();  // no kernel entropy interface: refuse to make guessable ids
      }
    }
    next = 0;
  }
  return buf[next++];
}

}  // namespace

std::string new_uuid() {
  static std::atomic<std::uint64_t> last{0};  // (milliseconds << 12) | counter
  const auto ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  std::uint64_t prev = last.load(std::memory_order_relaxed), next;
  do {
    next = std::max(ms << 12, prev + 1);
  } while (!last.compare_exchange_weak(prev, next, std::memory_order_relaxed));
  const std::uint64_t hi = ((next >> 12) << 16) | 0x7000 | (next & 0xfff);  // version 7
  const std::uint64_t lo = (random_u64() >> 2) | 0x8000000000000000ULL;  // RFC 9562 variant
  uuid_t u;
  for (int i = 0; i < 8; ++i) {
    u[i] = static_cast<unsigned char>(hi >> (56 - 8 * i));
    u[8 + i] = static_cast<unsigned char>(lo >> (56 - 8 * i));
  }
  char out[37];
  uuid_unparse_lower(u, out);
  return std::string(out, 36);
}

std::string new_random_uuid() {
  uuid_t u;
  uuid_generate_random(u);
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
