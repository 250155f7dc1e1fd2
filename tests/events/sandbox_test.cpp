// stream_of / sandbox_id_of (events/sandbox.h): the one place a sandbox stream's name is
// made and parsed back.
#include "events/sandbox.h"

#include <gtest/gtest.h>

namespace sbx {
namespace {

TEST(SandboxStream, SandboxIdOfInvertsStreamOf) {
  EXPECT_EQ(stream_of("0190-abc"), "sandbox-0190-abc");
  EXPECT_EQ(sandbox_id_of(stream_of("0190-abc")), "0190-abc");
  EXPECT_EQ(sandbox_id_of("sandbox-sandbox-x"), "sandbox-x");
}

TEST(SandboxStream, OtherStreamsHaveNoSandboxId) {
  EXPECT_EQ(sandbox_id_of(kSystemStream), "");
  EXPECT_EQ(sandbox_id_of("sandbox-"), "");  // the prefix alone names no sandbox
  EXPECT_EQ(sandbox_id_of("sandbox"), "");
  EXPECT_EQ(sandbox_id_of("xsandbox-a"), "");
  EXPECT_EQ(sandbox_id_of(""), "");
}

}  // namespace
}  // namespace sbx
