// sandbox-events knows pool streams: stats counts them apart from sandbox streams, dump
// shows one line per pool event (env values hidden), verify compares the pools projection
// with a replay.
#include <gtest/gtest.h>

#include <sstream>

#include "events/pool.h"
#include "src/tools/cli.h"
#include "store/event_store.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

struct CliResult {
  int code = 0;
  std::string out, err;
};

CliResult cli(std::vector<std::string> args) {
  args.insert(args.begin(), "sandbox-events");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  CliResult r;
  r.code = run_cli(static_cast<int>(argv.size()), argv.data(), out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

void append(EventStore& store, const std::string& stream, std::uint64_t version, EventData data) {
  AppendRequest r;
  r.stream = stream;
  r.expected = version == 0 ? ExpectedVersion::no_stream() : ExpectedVersion::exactly(version);
  Event e;
  e.time = 1'800'000'000LL * kMicrosPerSecond;
  e.actor = "test";
  e.data = std::move(data);
  r.events.push_back(std::move(e));
  auto a = store.append(std::move(r));
  ASSERT_TRUE(a) << a.error().message;
}

PoolCreated created(const std::string& name) {
  PoolCreated p;
  p.name = name;
  p.template_spec.image_uri = "busybox:1";
  p.template_spec.env = {{"API_TOKEN", "hunter2"}};
  p.template_json = R"({"image":{"uri":"busybox:1"},"env":{"API_TOKEN":"hunter2"}})";
  p.capacity = PoolCapacity{1, 2, 0, 4};
  return p;
}

TEST(PoolTools, StatsDumpAndVerifyKnowPoolStreams) {
  testing::TempDir dir;
  {
    auto s = EventStore::open(StoreOptions{.path = dir.str(), .sync = false});
    ASSERT_TRUE(s) << s.error().message;
    EventStore& store = **s;
    append(store, pool_stream_of("web"), 0, created("web"));
    append(store, pool_stream_of("web"), 1, PoolCapacityChanged{PoolCapacity{0, 3, 0, 3}});
    append(store, pool_stream_of("old"), 0, created("old"));
    append(store, pool_stream_of("old"), 1, PoolDeleted{});
    SandboxRequested member;
    member.sandbox_id = "m1";
    member.spec.image_uri = "busybox:1";
    member.spec.pool_name = "web";
    member.spec.pool_generation = 1;
    append(store, stream_of("m1"), 0, member);
  }
  CliResult stats = cli({"stats", "--data", dir.str()});
  ASSERT_EQ(stats.code, 0) << stats.err;
  EXPECT_NE(stats.out.find("sandboxes               1 (streams in the log)\n"), std::string::npos)
      << stats.out;
  EXPECT_NE(stats.out.find("pools                   2 (streams in the log)\n"
                           "  live                  1\n"
                           "  deleted               1\n"
                           "  unclaimed members     1 (live sandboxes)\n"),
            std::string::npos)
      << stats.out;

  CliResult dump = cli({"dump", "--format", "table", "--data", dir.str()});
  ASSERT_EQ(dump.code, 0) << dump.err;
  EXPECT_NE(dump.out.find("web image=busybox:1 buffer=1..2 pool=0..4"), std::string::npos)
      << dump.out;
  EXPECT_NE(dump.out.find("buffer=0..3 pool=0..3"), std::string::npos) << dump.out;
  EXPECT_NE(dump.out.find("PoolDeleted"), std::string::npos) << dump.out;
  EXPECT_NE(dump.out.find("member=web/1"), std::string::npos) << dump.out;
  CliResult lines = cli({"dump", "--stream", "pool-web", "--data", dir.str()});
  ASSERT_EQ(lines.code, 0) << lines.err;
  EXPECT_EQ(lines.out.find("hunter2"), std::string::npos) << lines.out;
  EXPECT_NE(lines.out.find("PoolCapacityChanged"), std::string::npos) << lines.out;
  CliResult revealed = cli({"dump", "--stream", "pool-web", "--reveal", "--data", dir.str()});
  ASSERT_EQ(revealed.code, 0) << revealed.err;
  EXPECT_NE(revealed.out.find("hunter2"), std::string::npos) << revealed.out;

  CliResult verify = cli({"verify", "--data", dir.str()});
  EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
}

}  // namespace
}  // namespace sbx
