#include "events/snapshot_decider.h"

#include <gtest/gtest.h>

#include "events/codec.h"

namespace sbx {
namespace {

constexpr Micros kNow = 1'780'000'000'000'000;

Event ev(std::uint64_t version, EventData data, Micros t = kNow) {
  Event e;
  e.stream = "snapshot-sn1";
  e.version = version;
  e.time = t;
  e.data = std::move(data);
  return e;
}

// Folds the events of `decide` into `state`, as the store would.
std::optional<Snapshot> fold(std::optional<Snapshot> state, const SnapshotCommand& c,
                              Micros t = kNow) {
  auto events = decide_snapshot(state, c, t);
  EXPECT_TRUE(events) << events.error().message;
  std::uint64_t v = state ? state->version : 0;
  for (auto& d : *events) state = evolve_snapshot(state, ev(++v, d, t));
  return state;
}

Snapshot creating() {
  return *fold(std::nullopt, CreateSnapshot{"sn1", "sb1", "nightly", "sandboxd-snapshot/sn1:latest"});
}

TEST(SnapshotDecider, CreateOpensTheStreamInCreating) {
  const Snapshot s = creating();
  EXPECT_EQ(s.id, "sn1");
  EXPECT_EQ(s.sandbox_id, "sb1");
  EXPECT_EQ(s.name, "nightly");
  EXPECT_EQ(s.image_ref, "sandboxd-snapshot/sn1:latest");
  EXPECT_EQ(s.state, SnapshotState::kCreating);
  EXPECT_EQ(s.status_reason, "snapshot_accepted");
  EXPECT_EQ(s.created_at, kNow);
  EXPECT_EQ(s.version, 1u);
  auto again = decide_snapshot(s, CreateSnapshot{"sn1", "sb1", "", "x"}, kNow);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
}

TEST(SnapshotDecider, ReadyAndFailedOnlyLeaveCreating) {
  auto ready = fold(creating(), RecordSnapshotReady{"sha256:ab"}, kNow + 5);
  EXPECT_EQ(ready->state, SnapshotState::kReady);
  EXPECT_EQ(ready->image_id, "sha256:ab");
  EXPECT_EQ(ready->last_transition_at, kNow + 5);
  // A worker that redoes its work: no events, no error.
  auto redo = decide_snapshot(ready, RecordSnapshotReady{"sha256:cd"}, kNow);
  ASSERT_TRUE(redo);
  EXPECT_TRUE(redo->empty());
  // A Ready snapshot whose image is gone (found by the reconcile) fails.
  auto gone = fold(ready, RecordSnapshotFailed{"SNAPSHOT::IMAGE_MISSING", "image removed"});
  EXPECT_EQ(gone->state, SnapshotState::kFailed);
  EXPECT_EQ(gone->status_reason, "SNAPSHOT::IMAGE_MISSING");
  // Not once it is being deleted.
  auto deleting = fold(ready, DeleteSnapshot{});
  auto late = decide_snapshot(deleting, RecordSnapshotFailed{"X", "y"}, kNow);
  ASSERT_TRUE(late);
  EXPECT_TRUE(late->empty());

  auto failed = fold(creating(), RecordSnapshotFailed{"SNAPSHOT::SOURCE_NOT_FOUND", "gone"});
  EXPECT_EQ(failed->state, SnapshotState::kFailed);
  EXPECT_EQ(failed->status_reason, "SNAPSHOT::SOURCE_NOT_FOUND");
  EXPECT_EQ(failed->status_message, "gone");
}

TEST(SnapshotDecider, DeleteIsRefusedWhileCreatingAndIdempotentWhileDeleting) {
  auto refused = decide_snapshot(creating(), DeleteSnapshot{}, kNow);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(refused.error().field, "snapshot.state");

  auto deleting = fold(fold(creating(), RecordSnapshotReady{"sha256:ab"}), DeleteSnapshot{});
  EXPECT_EQ(deleting->state, SnapshotState::kDeleting);
  auto twice = decide_snapshot(deleting, DeleteSnapshot{}, kNow);
  ASSERT_TRUE(twice);
  EXPECT_TRUE(twice->empty());
  // A Ready outcome arriving after the deletion request changes nothing.
  EXPECT_TRUE(decide_snapshot(deleting, RecordSnapshotReady{"x"}, kNow)->empty());

  auto gone = fold(deleting, RecordSnapshotDeleted{});
  EXPECT_TRUE(gone->deleted);
  auto after = decide_snapshot(gone, DeleteSnapshot{}, kNow);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, ErrorCode::kNotFound);

  // A Failed snapshot may be deleted too (its image, if any, is removed).
  auto failed = fold(creating(), RecordSnapshotFailed{"E", "m"});
  EXPECT_EQ(fold(failed, DeleteSnapshot{})->state, SnapshotState::kDeleting);
}

TEST(SnapshotDecider, CommandsOnNoStreamAreNotFound) {
  const std::vector<SnapshotCommand> commands = {DeleteSnapshot{}, RecordSnapshotReady{"x"},
                                                 RecordSnapshotFailed{}, RecordSnapshotDeleted{}};
  for (const SnapshotCommand& c : commands) {
    auto r = decide_snapshot(std::nullopt, c, kNow);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  }
}

TEST(SnapshotDecider, EvolveIgnoresEventsThatDoNotApply) {
  // SnapshotDeleted on a Ready snapshot (never decided) leaves it as it was but the version.
  auto ready = fold(creating(), RecordSnapshotReady{"sha256:ab"});
  Snapshot s = evolve_snapshot(ready, ev(9, SnapshotDeleted{}));
  EXPECT_EQ(s.state, SnapshotState::kReady);
  EXPECT_FALSE(s.deleted);
  EXPECT_EQ(s.version, 9u);
  // An event other than SnapshotRequested opening a stream yields no id.
  EXPECT_TRUE(evolve_snapshot(std::nullopt, ev(1, SnapshotReady{"x"})).id.empty());
  EXPECT_TRUE(opens_snapshot_stream(SnapshotRequested{}));
  EXPECT_FALSE(opens_snapshot_stream(SnapshotReady{}));
}

TEST(SnapshotDecider, ReasonsAndStateNames) {
  EXPECT_EQ(snapshot_reason_of(CreateSnapshot{}), Reason::kUser);
  EXPECT_EQ(snapshot_reason_of(DeleteSnapshot{}), Reason::kUser);
  EXPECT_EQ(snapshot_reason_of(RecordSnapshotReady{}), Reason::kRuntime);
  for (SnapshotState s : kAllSnapshotStates) EXPECT_EQ(parse_snapshot_state(to_string(s)), s);
  EXPECT_EQ(parse_snapshot_state("ready"), SnapshotState::kReady);
  EXPECT_FALSE(parse_snapshot_state("Terminated"));
  EXPECT_EQ(snapshot_id_of("snapshot-abc"), "abc");
  EXPECT_EQ(snapshot_id_of("sandbox-abc"), "");
  EXPECT_EQ(snapshot_id_of("snapshot-"), "");
  EXPECT_EQ(snapshot_image_ref("abc"), "sandboxd-snapshot/abc:latest");
}

TEST(SnapshotCodec, RecordRoundTripsInEveryState) {
  for (SnapshotState st : kAllSnapshotStates) {
    Snapshot s = creating();
    s.state = st;
    s.image_id = st == SnapshotState::kCreating ? "" : "sha256:ff";
    s.name = st == SnapshotState::kReady ? "" : "n\"\\ame\x01";
    s.last_transition_at = kNow + 7;
    auto back = decode_snapshot(encode_snapshot(s));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, s);
  }
}

TEST(SnapshotCodec, MalformedRecordsFailWithDataLoss) {
  for (const char* bad : {R"({"id":"a"})", R"({"state":"Ready"})",
                          R"({"id":"a","state":"Running"})",
                          R"({"schema":2,"id":"a","state":"Ready"})", "[]", "{"}) {
    auto r = decode_snapshot(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kDataLoss) << bad;
  }
}

}  // namespace
}  // namespace sbx
