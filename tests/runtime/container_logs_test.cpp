// LogDemuxer (the Docker log stream's 8-byte frame headers) and docker_logs_path.
#include "src/runtime/docker/container_logs.h"

#include <gtest/gtest.h>

#include <string>

namespace sbx {
namespace {

// One frame: {stream, 0, 0, 0, size (u32 big-endian)} + payload.
std::string frame(int stream, std::string_view payload, std::uint32_t declared = UINT32_MAX) {
  const std::uint32_t n = declared == UINT32_MAX ? static_cast<std::uint32_t>(payload.size())
                                                 : declared;
  std::string f = {static_cast<char>(stream), 0, 0, 0,
                   static_cast<char>(n >> 24), static_cast<char>((n >> 16) & 0xff),
                   static_cast<char>((n >> 8) & 0xff), static_cast<char>(n & 0xff)};
  f.append(payload);
  return f;
}

TEST(LogDemuxer, JoinsStdoutAndStderrFramesInOrder) {
  LogDemuxer d(1024, LogDemuxer::Framing::kMultiplexed);
  EXPECT_TRUE(d.feed(frame(1, "out one\n") + frame(2, "err one\n") + frame(1, "out two\n")));
  auto logs = std::move(d).finish();
  EXPECT_EQ(logs.text, "out one\nerr one\nout two\n");
  EXPECT_FALSE(logs.truncated);
  EXPECT_FALSE(d.error());
}

TEST(LogDemuxer, FramesSplitAcrossReadsAtEveryByte) {
  const std::string body = frame(1, "hello\n") + frame(2, "") + frame(2, "world\n");
  for (std::size_t piece = 1; piece <= body.size(); ++piece) {
    LogDemuxer d(1024, LogDemuxer::Framing::kMultiplexed);
    for (std::size_t i = 0; i < body.size(); i += piece) {
      ASSERT_TRUE(d.feed(std::string_view(body).substr(i, piece))) << piece;
    }
    EXPECT_EQ(std::move(d).finish().text, "hello\nworld\n") << "pieces of " << piece;
  }
}

TEST(LogDemuxer, AHeaderSplitInsideItsSizeField) {
  const std::string body = frame(1, "abc") + frame(1, "defg");
  LogDemuxer d(1024, LogDemuxer::Framing::kMultiplexed);
  ASSERT_TRUE(d.feed(body.substr(0, 13)));  // 11 bytes of frame 1 + 2 of frame 2's header
  ASSERT_TRUE(d.feed(body.substr(13, 3)));
  ASSERT_TRUE(d.feed(body.substr(16)));
  EXPECT_EQ(std::move(d).finish().text, "abcdefg");
}

TEST(LogDemuxer, StopsAtTheByteCapAndSaysSo) {
  LogDemuxer d(10, LogDemuxer::Framing::kMultiplexed);
  EXPECT_TRUE(d.feed(frame(1, "12345")));
  EXPECT_FALSE(d.feed(frame(1, "67890abcdef")));  // no more wanted
  EXPECT_FALSE(d.feed(frame(1, "more")));
  auto logs = std::move(d).finish();
  EXPECT_EQ(logs.text, "1234567890");
  EXPECT_TRUE(logs.truncated);
}

TEST(LogDemuxer, OutputOfExactlyTheCapThatEndsIsNotTruncated) {
  LogDemuxer d(5, LogDemuxer::Framing::kMultiplexed);
  EXPECT_TRUE(d.feed(frame(1, "12345")));
  auto logs = std::move(d).finish();
  EXPECT_EQ(logs.text, "12345");
  EXPECT_FALSE(logs.truncated);
}

TEST(LogDemuxer, OutputOfExactlyTheCapFollowedByMoreIsTruncated) {
  LogDemuxer d(5, LogDemuxer::Framing::kMultiplexed);
  EXPECT_TRUE(d.feed(frame(1, "12345")));
  EXPECT_FALSE(d.feed(frame(1, "6")));
  EXPECT_TRUE(std::move(d).finish().truncated);
}

// A frame that claims 4 GiB is only counted down as bytes arrive: nothing is reserved for
// it, and the output still stops at the cap.
TEST(LogDemuxer, AHostileFrameLengthCostsOnlyTheBytesThatArrive) {
  LogDemuxer d(64, LogDemuxer::Framing::kMultiplexed);
  EXPECT_TRUE(d.feed(frame(1, "short", 0xFFFFFFFFu - 1)));
  auto logs = std::move(d).finish();
  EXPECT_EQ(logs.text, "short");
  EXPECT_LE(logs.text.capacity(), 4096u);

  LogDemuxer capped(16, LogDemuxer::Framing::kMultiplexed);
  EXPECT_TRUE(capped.feed(frame(1, "0123456789", 0xFFFFFFF0u)));
  EXPECT_FALSE(capped.feed(std::string(100, 'x')));
  auto out = std::move(capped).finish();
  EXPECT_EQ(out.text, "0123456789xxxxxx");
  EXPECT_TRUE(out.truncated);
}

TEST(LogDemuxer, AMalformedHeaderIsAnError) {
  LogDemuxer d(1024, LogDemuxer::Framing::kMultiplexed);
  EXPECT_FALSE(d.feed("hello world, no frames here\n"));
  ASSERT_TRUE(d.error());
  EXPECT_EQ(d.error()->code, ErrorCode::kInternal);
  EXPECT_NE(d.error()->message.find("malformed log stream"), std::string::npos);

  LogDemuxer padding(1024, LogDemuxer::Framing::kMultiplexed);
  std::string bad = frame(1, "x");
  bad[2] = 1;
  EXPECT_FALSE(padding.feed(bad));
  EXPECT_TRUE(padding.error());
}

TEST(LogDemuxer, RawStreamsPassThroughUpToTheCap) {
  LogDemuxer d(8, LogDemuxer::Framing::kRaw);
  EXPECT_TRUE(d.feed("tty "));
  EXPECT_FALSE(d.feed("output!"));
  auto logs = std::move(d).finish();
  EXPECT_EQ(logs.text, "tty outp");
  EXPECT_TRUE(logs.truncated);
}

TEST(LogDemuxer, ACutNeverLeavesHalfAUtf8Character) {
  LogDemuxer d(5, LogDemuxer::Framing::kRaw);
  EXPECT_FALSE(d.feed("abc\xE2\x82\xAC!"));  // "abc€!": the cap falls inside the euro sign
  EXPECT_EQ(std::move(d).finish().text, "abc");
}

TEST(DockerLogsPath, AsksForBothStreamsTheTailAndTimestamps) {
  EXPECT_EQ(docker_logs_path("abc", LogLimits{.tail = 7}),
            "/containers/abc/logs?stdout=1&stderr=1&tail=7&timestamps=1");
  EXPECT_EQ(docker_logs_path("abc", LogLimits{.tail = 1, .since = 1'500'000'000'000'123,
                                              .timestamps = false}),
            "/containers/abc/logs?stdout=1&stderr=1&tail=1&since=1500000000.000123000");
}

}  // namespace
}  // namespace sbx
