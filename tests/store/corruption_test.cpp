// Issue 10 item 8: one record that does not decode must not stall readers or stop open.
// Each test writes the damage with raw RocksDB into a closed store (tests/support/
// corrupt_store.h), then opens it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/event_store.h"
#include "store/keys.h"
#include "store/layout.h"
#include "tests/store/workload.h"
#include "tests/support/corrupt_store.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

using testing::make_event;
using testing::TempDir;

constexpr Micros kT0 = 1'800'000'000LL * kMicrosPerSecond;

AppendRequest create(const std::string& id, std::optional<Micros> expires = kT0 + 60'000'000) {
  SandboxRequested r;
  r.sandbox_id = id;
  r.spec.image_uri = "img";
  r.expires_at = expires;
  return {stream_of(id), ExpectedVersion::no_stream(), {make_event(r, kT0)}};
}

AppendRequest started(const std::string& id, std::uint64_t expected) {
  return {stream_of(id), ExpectedVersion::exactly(expected),
          {make_event(SandboxStarted{"ctr-" + id}, kT0 + 1)}};
}

std::unique_ptr<EventStore> open_store(const std::string& path) {
  StoreOptions o;
  o.path = path;
  auto s = EventStore::open(o);
  EXPECT_TRUE(s) << s.error().message;
  return s ? std::move(*s) : nullptr;
}

// a: positions 1 (requested), 3 (started); b: 2 (requested); c: 4 (requested).
void write_three(const std::string& path) {
  auto s = open_store(path);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->append(create("a")));
  ASSERT_TRUE(s->append(create("b")));
  ASSERT_TRUE(s->append(started("a", 1)));
  ASSERT_TRUE(s->append(create("c")));
}

TEST(Corruption, ReadLogSkipsACorruptEventAndNamesItsStream) {
  TempDir dir;
  write_three(dir.str());
  testing::corrupt_event(dir.str(), 2);
  auto s = open_store(dir.str());
  ASSERT_TRUE(s);

  auto strict = s->read(1, 10);  // read() still refuses to hide it
  ASSERT_FALSE(strict);
  EXPECT_EQ(strict.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(strict.error().message.find("position 2"), std::string::npos);

  auto chunk = s->read_log(1, 10);
  ASSERT_TRUE(chunk) << chunk.error().message;
  ASSERT_EQ(chunk->events.size(), 3u);
  EXPECT_EQ(chunk->events[0].position, 1u);
  EXPECT_EQ(chunk->events[1].position, 3u);
  EXPECT_EQ(chunk->events[2].position, 4u);
  ASSERT_EQ(chunk->corrupt.size(), 1u);
  EXPECT_EQ(chunk->corrupt[0].position, 2u);
  EXPECT_EQ(chunk->corrupt[0].stream, "sandbox-b");  // from the stream index: no JSON left
  EXPECT_EQ(chunk->next, 5u);

  // max_count counts the corrupt position too, and next moves past it.
  auto two = s->read_log(1, 2);
  ASSERT_TRUE(two);
  EXPECT_EQ(two->events.size(), 1u);
  EXPECT_EQ(two->corrupt.size(), 1u);
  EXPECT_EQ(two->next, 3u);
  EXPECT_EQ(s->corrupt_events_found(), 1u);  // counted once per position
}

TEST(Corruption, AnEventWithAMangledPayloadIsAttributedFromItsOwnRecord) {
  TempDir dir;
  write_three(dir.str());
  // Valid JSON, unknown payload: the record still names its stream and version.
  testing::corrupt_event(dir.str(), 3,
                         R"({"position":3,"stream":"sandbox-a","version":2,"type":"NoSuchType",)"
                         R"("schema":1,"time":"2027-01-15T08:00:00Z","data":{}})");
  auto s = open_store(dir.str());
  ASSERT_TRUE(s);
  auto chunk = s->read_log(1, 10);
  ASSERT_TRUE(chunk);
  ASSERT_EQ(chunk->corrupt.size(), 1u);
  EXPECT_EQ(chunk->corrupt[0].stream, "sandbox-a");
  EXPECT_EQ(chunk->events.size(), 3u);
}

TEST(Corruption, OpenRebuildsACorruptProjectionRecordFromItsStream) {
  TempDir dir;
  Sandbox before;
  {
    write_three(dir.str());
    auto s = open_store(dir.str());
    ASSERT_TRUE(s);
    before = *s->get_sandbox("a");
  }
  testing::corrupt_sandbox_record(dir.str(), "a");
  {
    auto s = open_store(dir.str());  // today: "sandbox projection 'a' does not decode"
    ASSERT_TRUE(s);
    ASSERT_NE(s->get_sandbox("a"), nullptr);
    EXPECT_EQ(*s->get_sandbox("a"), before);
    EXPECT_EQ(s->live_sandbox_count(), 3u);
    EXPECT_EQ(s->projection_records_rebuilt(), 1u);
    auto running = s->sandbox_ids_in_state(SandboxState::kRunning);
    ASSERT_TRUE(running);
    EXPECT_EQ(*running, std::vector<std::string>{"a"});
    ASSERT_TRUE(s->append(
        {stream_of("a"), ExpectedVersion::exactly(2), {make_event(PauseRequested{}, kT0 + 2)}}));
  }
  auto s = open_store(dir.str());  // rewritten: nothing left to rebuild
  ASSERT_TRUE(s);
  EXPECT_EQ(s->projection_records_rebuilt(), 0u);
  EXPECT_EQ(s->get_sandbox("a")->state, SandboxState::kPausing);
  EXPECT_EQ(s->count_by_state()->at(SandboxState::kPausing), 1u);
}

TEST(Corruption, OpenFailsASandboxWhoseRecordAndStreamAreBothUnreadable) {
  TempDir dir;
  write_three(dir.str());
  testing::corrupt_sandbox_record(dir.str(), "a");
  testing::corrupt_event(dir.str(), 3);  // a's SandboxStarted
  {
    auto s = open_store(dir.str());
    ASSERT_TRUE(s);
    auto a = s->get_sandbox("a");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->state, SandboxState::kFailed);
    EXPECT_EQ(a->status_reason, "STORE::CORRUPT_RECORD");
    EXPECT_NE(a->status_message.find("corrupt event at position 3"), std::string::npos);
    EXPECT_EQ(a->version, 3u);
    EXPECT_EQ(s->head(), 5u);  // the SandboxFailed event
    auto last = s->read(5, 1);
    ASSERT_TRUE(last);
    ASSERT_EQ(last->size(), 1u);
    EXPECT_EQ((*last)[0].stream, "sandbox-a");
    EXPECT_TRUE(std::holds_alternative<SandboxFailed>((*last)[0].data));
    EXPECT_EQ(s->get_sandbox("b")->state, SandboxState::kPending);  // the others untouched
  }
  auto s = open_store(dir.str());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->head(), 5u);  // not failed twice
  EXPECT_EQ(s->get_sandbox("a")->state, SandboxState::kFailed);
  EXPECT_EQ(s->count_by_state()->at(SandboxState::kFailed), 1u);
  EXPECT_TRUE(s->expiring(INT64_MAX, 10)->size() == 2u);  // b and c; not a (Failed)
}

TEST(Corruption, ReadOnlyOpenOfACorruptRecordServesTheRebuiltSandbox) {
  TempDir dir;
  write_three(dir.str());
  testing::corrupt_sandbox_record(dir.str(), "b");
  StoreOptions o;
  o.path = dir.str();
  o.read_only = true;
  auto s = EventStore::open(o);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_NE((*s)->get_sandbox("b"), nullptr);
  EXPECT_EQ((*s)->get_sandbox("b")->state, SandboxState::kPending);
}

}  // namespace
}  // namespace sbx
