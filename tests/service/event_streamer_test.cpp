// EventStreamer::frame: the SSE frame of one event (the feed itself is exercised over HTTP
// in tests/api/event_handlers_test.cpp and through EventReads in event_reads_test.cpp).
#include "src/service/event_streamer.h"

#include <gtest/gtest.h>

#include "src/common/uuid.h"

namespace sbx {
namespace {

TEST(EventFrames, FrameIsIdThenOneDataLine) {
  Event e;
  e.position = 42;
  e.stream = "sandbox-x";
  e.version = 1;
  e.time = 1'800'000'000LL * kMicrosPerSecond;
  e.event_id = new_uuid();
  SandboxRequested r;
  r.sandbox_id = "x";
  r.spec.image_uri = "private/img";
  r.spec.image_auth_provided = true;
  r.spec.env = {{"TOKEN", "hunter2"}};
  e.data = r;
  const std::string f = EventStreamer::frame(e);
  ASSERT_TRUE(f.starts_with("id: 42\ndata: {"));
  ASSERT_TRUE(f.ends_with("}\n\n"));
  EXPECT_EQ(f.find('\n', 6), f.find("\ndata: "));  // exactly one data line
  EXPECT_EQ(f.find("hunter2"), std::string::npos) << "env value leaked: " << f;
  EXPECT_NE(f.find(R"("imageAuth":{"provided":true})"), std::string::npos) << f;
}

// Env values are secrets as often as not (tokens, passwords): every view of the log shows
// the keys and replaces the values with "***", over the history endpoint and SSE alike.
TEST(EventFrames, EnvValuesAreRedactedKeysKept) {
  Event e;
  e.position = 3;
  e.stream = "sandbox-x";
  e.version = 1;
  e.time = 1'800'000'000LL * kMicrosPerSecond;
  e.event_id = new_uuid();
  SandboxRequested r;
  r.sandbox_id = "x";
  r.spec.image_uri = "img";
  r.spec.env = {{"API_TOKEN", "tok-4711"}, {"LANG", "C.UTF-8"}};
  e.data = r;
  const std::string f = EventStreamer::frame(e);
  EXPECT_EQ(f.find("tok-4711"), std::string::npos) << f;
  EXPECT_EQ(f.find("C.UTF-8"), std::string::npos) << f;
  EXPECT_NE(f.find(R"("env":{"API_TOKEN":"***","LANG":"***"})"), std::string::npos) << f;
}

}  // namespace
}  // namespace sbx
