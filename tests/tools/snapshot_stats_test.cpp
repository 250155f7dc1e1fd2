// sandbox-events knows snapshot streams: stats counts them by state, dump --stream shows
// one, verify compares the snapshots projection with a replay.
#include <gtest/gtest.h>

#include <sstream>

#include "events/snapshot.h"
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

void append(EventStore& store, const std::string& id, std::uint64_t version, EventData data) {
  AppendRequest r;
  r.stream = snapshot_stream_of(id);
  r.expected = version == 0 ? ExpectedVersion::no_stream() : ExpectedVersion::exactly(version);
  Event e;
  e.time = 1'800'000'000LL * kMicrosPerSecond;
  e.actor = "test";
  e.data = std::move(data);
  r.events.push_back(std::move(e));
  ASSERT_TRUE(store.append(std::move(r)));
}

TEST(SnapshotTools, StatsDumpAndVerifyKnowSnapshotStreams) {
  testing::TempDir dir;
  {
    auto s = EventStore::open(StoreOptions{.path = dir.str(), .sync = false});
    ASSERT_TRUE(s) << s.error().message;
    EventStore& store = **s;
    for (const char* id : {"a", "b", "c"}) {
      append(store, id, 0, SnapshotRequested{id, "sb1", "", snapshot_image_ref(id)});
    }
    append(store, "a", 1, SnapshotReady{"sha256:a"});
    append(store, "b", 1, SnapshotFailed{"SNAPSHOT::SOURCE_NOT_FOUND", "gone"});
    append(store, "c", 1, SnapshotFailed{"E", "m"});
    append(store, "c", 2, SnapshotDeletionRequested{});
    append(store, "c", 3, SnapshotDeleted{});
  }
  CliResult stats = cli({"stats", "--data", dir.str()});
  ASSERT_EQ(stats.code, 0) << stats.err;
  EXPECT_NE(stats.out.find("snapshots               3 (streams in the log)\n"), std::string::npos)
      << stats.out;
  EXPECT_NE(stats.out.find("  Ready                 1\n"), std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find("  Deleting              0\n"), std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find("  deleted               1\n"), std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find("sandboxes               0 (streams in the log)\n"), std::string::npos)
      << stats.out;

  CliResult dump = cli({"dump", "--stream", "snapshot-b", "--format", "table", "--data", dir.str()});
  ASSERT_EQ(dump.code, 0) << dump.err;
  EXPECT_NE(dump.out.find("SnapshotFailed"), std::string::npos) << dump.out;
  EXPECT_NE(dump.out.find("SNAPSHOT::SOURCE_NOT_FOUND: gone"), std::string::npos) << dump.out;
  EXPECT_EQ(dump.out.find("SnapshotReady"), std::string::npos) << dump.out;

  CliResult verify = cli({"verify", "--data", dir.str()});
  EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
}

}  // namespace
}  // namespace sbx
