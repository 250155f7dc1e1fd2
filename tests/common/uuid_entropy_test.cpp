// Ids draw their random bits from the kernel's CSPRNG. This binary interposes getrandom()
// (a definition in the executable wins over libc's for the statically linked sbx_common):
// while `capture` is on it fills buffers with a known pattern, so the test can see that
// the bits of an id are exactly what getrandom gave. With a seeded PRNG (mt19937, as
// before) the pattern never shows up.
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>

#include "src/common/uuid.h"

namespace {
std::atomic<bool> capture{false};
std::atomic<int> calls{0};
}  // namespace

extern "C" ssize_t getrandom(void* buf, size_t len, unsigned int flags) {
  if (capture.load()) {
    calls.fetch_add(1);
    std::memset(buf, 0x5a, len);
    return static_cast<ssize_t>(len);
  }
  return syscall(SYS_getrandom, buf, len, flags);
}

namespace sbx {
namespace {

TEST(UuidEntropy, RandomBitsComeFromGetrandom) {
  capture = true;
  std::string id;
  // A fresh thread has an empty buffer, so its first id is made from a new getrandom call.
  std::thread([&] { id = new_uuid(); }).join();
  capture = false;
  ASSERT_GE(calls.load(), 1);
  // 62 random bits after the variant: 0x5a5a... >> 2 | variant -> "9696-96969696..."
  // The last 12 hex digits are all random bits.
  EXPECT_EQ(id.substr(24), "969696969696") << id;
  EXPECT_EQ(id.substr(19, 4), "9696") << id;
}

}  // namespace
}  // namespace sbx
