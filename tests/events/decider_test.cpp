#include "events/decider.h"

#include <gtest/gtest.h>

#include <array>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include "events/codec.h"

namespace sbx {
namespace {

constexpr Micros kNow = 1'780'000'000'000'000;  // 2026-05-28
constexpr Micros kHour = 3600 * kMicrosPerSecond;

// --- fixtures ---------------------------------------------------------------------------

// The state columns of the table: no stream, every state, and a deleted Failed sandbox.
enum class Col {
  kNone,
  kPending,
  kRunning,
  kPausing,
  kPaused,
  kResuming,
  kStopping,
  kTerminated,
  kFailed,
  kFailedDeleted,
  kCount
};
constexpr std::array<const char*, static_cast<int>(Col::kCount)> kColNames = {
    "NoSandbox", "Pending",  "Running",    "Pausing", "Paused",
    "Resuming",  "Stopping", "Terminated", "Failed",  "FailedDeleted"};

Sandbox live_sandbox(SandboxState state) {
  Sandbox sb;
  sb.id = "sb1";
  sb.version = 3;
  sb.state = state;
  sb.created_at = kNow - kHour;
  sb.last_transition_at = kNow - kHour / 2;
  sb.expires_at = kNow + kHour;
  sb.metadata = {{"team", "ml"}};
  sb.spec.image_uri = "python:3.12";
  sb.spec.network_policy_json = R"({"defaultAction":"deny"})";
  return sb;
}

std::optional<Sandbox> state_of(Col c) {
  switch (c) {
    case Col::kNone:
      return std::nullopt;
    case Col::kPending:
      return live_sandbox(SandboxState::kPending);
    case Col::kRunning:
      return live_sandbox(SandboxState::kRunning);
    case Col::kPausing:
      return live_sandbox(SandboxState::kPausing);
    case Col::kPaused:
      return live_sandbox(SandboxState::kPaused);
    case Col::kResuming:
      return live_sandbox(SandboxState::kResuming);
    case Col::kStopping:
      return live_sandbox(SandboxState::kStopping);
    case Col::kTerminated:
      return live_sandbox(SandboxState::kTerminated);
    case Col::kFailed:
      return live_sandbox(SandboxState::kFailed);
    case Col::kFailedDeleted: {
      Sandbox sb = live_sandbox(SandboxState::kFailed);
      sb.deleted = true;
      return sb;
    }
    case Col::kCount:
      break;
  }
  return std::nullopt;
}

struct NamedCommand {
  const char* name;
  Command command;
};

std::vector<NamedCommand> all_commands() {
  CreateSandbox create;
  create.sandbox_id = "sb1";
  create.spec.image_uri = "python:3.12";
  create.expires_at = kNow + kHour;
  return {
      {"CreateSandbox", create},
      {"PauseSandbox", PauseSandbox{}},
      {"ResumeSandbox", ResumeSandbox{}},
      {"DeleteSandbox", DeleteSandbox{Reason::kUser}},
      {"RenewExpiration", RenewExpiration{kNow + 2 * kHour}},
      {"PatchMetadata", PatchMetadata{{{"owner", std::string("alice")}}}},
      {"RecordProvisioningStarted", RecordProvisioningStarted{"provisioner-0"}},
      {"RecordStarted", RecordStarted{"c0ffee"}},
      {"RecordProvisioningFailed", RecordProvisioningFailed{"DOCKER::IMAGE_NOT_FOUND", "no"}},
      {"RecordPaused", RecordPaused{}},
      {"RecordPauseFailed", RecordPauseFailed{"freeze failed"}},
      {"RecordResumed", RecordResumed{}},
      {"RecordResumeFailed", RecordResumeFailed{"thaw failed"}},
      {"RecordTerminated", RecordTerminated{0, "exited"}},
      {"RecordFailed", RecordFailed{"SANDBOX::DIED", "died", 1}},
      {"ChangeNetworkPolicy", ChangeNetworkPolicy{"PUT", R"({"egress":[]})"}},
      {"ClaimSandbox", ClaimSandbox{{{"owner", "alice"}}, kNow + kHour}},
  };
}

// Expected outcomes: an event type (one event), "-" (no events) or an error code name.
constexpr const char* NF = "NotFound";
constexpr const char* AE = "AlreadyExists";
constexpr const char* FP = "FailedPrecondition";
constexpr const char* NONE = "-";

using Row = std::array<const char*, static_cast<int>(Col::kCount)>;
struct TableRow {
  const char* command;
  Row expected;
};

// clang-format off
//                                 None  Pending                 Running            Pausing          Paused             Resuming           Stopping             Terminated Failed FailedDeleted
const TableRow kTable[] = {
  {"CreateSandbox",             {"SandboxRequested", AE,       AE,                AE,               AE,                AE,                AE,                  AE,   AE,   AE}},
  {"PauseSandbox",              {NF, FP,                       "PauseRequested",  FP,               FP,                FP,                FP,                  NF,   FP,   NF}},
  {"ResumeSandbox",             {NF, FP,                       FP,                FP,               "ResumeRequested", FP,                FP,                  NF,   FP,   NF}},
  {"DeleteSandbox",             {NF, "DeletionRequested",      "DeletionRequested","DeletionRequested","DeletionRequested","DeletionRequested", NONE,            NF,   "DeletionRequested", NF}},
  {"RenewExpiration",           {NF, "ExpirationRenewed",      "ExpirationRenewed","ExpirationRenewed","ExpirationRenewed","ExpirationRenewed", FP,              NF,   FP,   NF}},
  {"PatchMetadata",             {NF, "MetadataPatched",        "MetadataPatched", "MetadataPatched","MetadataPatched", "MetadataPatched", FP,                  NF,   FP,   NF}},
  {"RecordProvisioningStarted", {NF, "ProvisioningStarted",    FP,                FP,               FP,                FP,                FP,                  NF,   FP,   NF}},
  {"RecordStarted",             {NF, "SandboxStarted",         NONE,              NONE,             NONE,              NONE,              FP,                  NF,   FP,   NF}},
  {"RecordProvisioningFailed",  {NF, "ProvisioningFailed",     FP,                FP,               FP,                FP,                FP,                  NONE, NONE, NONE}},
  {"RecordPaused",              {NF, FP,                       FP,                "SandboxPaused",  NONE,              NONE,              FP,                  NF,   FP,   NF}},
  {"RecordPauseFailed",         {NF, FP,                       NONE,              "PauseFailed",    FP,                FP,                FP,                  NF,   FP,   NF}},
  {"RecordResumed",             {NF, FP,                       NONE,              FP,               FP,                "SandboxResumed",  FP,                  NF,   FP,   NF}},
  {"RecordResumeFailed",        {NF, FP,                       FP,                FP,               NONE,              "ResumeFailed",    FP,                  NF,   FP,   NF}},
  {"RecordTerminated",          {NF, "SandboxTerminated",      "SandboxTerminated","SandboxTerminated","SandboxTerminated","SandboxTerminated","SandboxTerminated", NONE, NONE, NONE}},
  {"RecordFailed",              {NF, "SandboxFailed",          "SandboxFailed",   "SandboxFailed",  "SandboxFailed",   "SandboxFailed",   "SandboxFailed",     NONE, NONE, NONE}},
  {"ChangeNetworkPolicy", {NF, FP,                       "NetworkPolicyChanged", FP,          FP,                FP,                FP,                  NF,   FP,   NF}},
  // The table's sandboxes are not pool members: a claim is refused in every live state (the
  // members' rows are in the named tests below).
  {"ClaimSandbox",        {NF, FP,                       FP,                FP,               FP,                FP,                FP,                  NF,   FP,   NF}},
};
// clang-format on

std::string outcome(const Result<std::vector<EventData>>& r) {
  if (!r) return std::string(to_string(r.error().code));
  if (r->empty()) return NONE;
  std::string s;
  for (const auto& e : *r) {
    if (!s.empty()) s += ",";
    s += event_type(e);
  }
  return s;
}

struct Case {
  std::string command;
  Col col;
  std::string expected;
};

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const auto& row : kTable) {
    for (int c = 0; c < static_cast<int>(Col::kCount); ++c)
      cases.push_back({row.command, static_cast<Col>(c), row.expected[c]});
  }
  return cases;
}

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.command << " in " << kColNames[static_cast<int>(c.col)] << " -> " << c.expected;
}

class DecideTable : public ::testing::TestWithParam<Case> {};

TEST_P(DecideTable, ProducesTheExpectedOutcome) {
  const Case& c = GetParam();
  for (const auto& nc : all_commands()) {
    if (c.command != nc.name) continue;
    const auto state = state_of(c.col);
    EXPECT_EQ(outcome(decide(state, nc.command, kNow)), c.expected)
        << c.command << " in " << kColNames[static_cast<int>(c.col)];
    return;
  }
  FAIL() << "no command named " << c.command;
}

INSTANTIATE_TEST_SUITE_P(EveryCommandInEveryState, DecideTable, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.command + "In" +
                                  kColNames[static_cast<int>(info.param.col)];
                         });

TEST(DecideTableCoverage, TableHasOneRowPerCommandAlternative) {
  EXPECT_EQ(std::size(kTable), std::variant_size_v<Command>);
  const auto commands = all_commands();
  ASSERT_EQ(commands.size(), std::variant_size_v<Command>);
  for (std::size_t i = 0; i < commands.size(); ++i) {
    EXPECT_EQ(commands[i].command.index(), i);
    EXPECT_STREQ(commands[i].name, kTable[i].command);
  }
}

// --- named behaviours -------------------------------------------------------------------

const Sandbox kRunning = live_sandbox(SandboxState::kRunning);

TEST(Decide, PauseFromPausedFailsWithFailedPrecondition) {
  const auto r = decide(live_sandbox(SandboxState::kPaused), PauseSandbox{}, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(r.error().message, "sandbox is Paused; pause requires Running");
}

TEST(Decide, ResumeFromRunningFailsWithMessageNamingBothStates) {
  const auto r = decide(kRunning, ResumeSandbox{}, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(r.error().message, "sandbox is Running; resume requires Paused");
}

TEST(Decide, CreateCarriesSpecMetadataAndExpiry) {
  CreateSandbox c;
  c.sandbox_id = "abc";
  c.spec.image_uri = "nginx";
  c.spec.ports = {{80, 40000}};
  c.metadata = {{"k", "v"}};
  c.expires_at = kNow + kHour;
  const auto r = decide(std::nullopt, c, kNow);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  const auto& e = std::get<SandboxRequested>(r->front());
  EXPECT_EQ(e.sandbox_id, "abc");
  EXPECT_EQ(e.spec, c.spec);
  EXPECT_EQ(e.metadata, c.metadata);
  EXPECT_EQ(e.expires_at, c.expires_at);
}

TEST(Decide, CreateOnTerminatedStreamFailsWithAlreadyExists) {
  const auto r = decide(live_sandbox(SandboxState::kTerminated), CreateSandbox{}, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kAlreadyExists);
}

TEST(Decide, RenewOnManualCleanupSandboxFailsWithFailedPrecondition) {
  Sandbox sb = kRunning;
  sb.expires_at.reset();
  const auto r = decide(sb, RenewExpiration{kNow + kHour}, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
}

TEST(Decide, RenewToNowOrPastFailsWithInvalidArgumentOnExpiresAt) {
  for (Micros t : {kNow, kNow - 1, Micros{0}}) {
    const auto r = decide(kRunning, RenewExpiration{t}, kNow);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().field, "expiresAt");
  }
}

TEST(Decide, RenewCarriesTheNewDeadline) {
  const auto r = decide(kRunning, RenewExpiration{kNow + 1}, kNow);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(std::get<ExpirationRenewed>(r->front()).expires_at, kNow + 1);
}

TEST(Decide, PatchMetadataEmitsOnlyEffectiveSetsAndRemovals) {
  Sandbox sb = kRunning;
  sb.metadata = {{"keep", "1"}, {"change", "old"}, {"drop", "x"}};
  PatchMetadata p;
  p.patch = {{"keep", std::string("1")},
             {"change", std::string("new")},
             {"add", std::string("a")},
             {"drop", std::nullopt},
             {"missing", std::nullopt}};
  const auto r = decide(sb, p, kNow);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  const auto& e = std::get<MetadataPatched>(r->front());
  const std::map<std::string, std::string> want_set = {{"add", "a"}, {"change", "new"}};
  EXPECT_EQ(e.set, want_set);
  EXPECT_EQ(e.removed, std::vector<std::string>{"drop"});
}

TEST(Decide, PatchMetadataWithoutEffectiveChangeEmitsNothing) {
  PatchMetadata p;
  p.patch = {{"team", std::string("ml")}, {"absent", std::nullopt}};
  const auto r = decide(kRunning, p, kNow);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
}

TEST(Decide, RecordOutcomesCarryTheirPayload) {
  const Sandbox pending = live_sandbox(SandboxState::kPending);
  auto started = decide(pending, RecordStarted{"cid"}, kNow);
  ASSERT_TRUE(started);
  EXPECT_EQ(std::get<SandboxStarted>(started->front()).runtime_id, "cid");
  EXPECT_EQ(std::get<SandboxStarted>(started->front()).address, "");
  started = decide(pending, RecordStarted{"pod-1", "10.244.3.4"}, kNow);
  ASSERT_TRUE(started);
  EXPECT_EQ(std::get<SandboxStarted>(started->front()), (SandboxStarted{"pod-1", "10.244.3.4"}));

  auto prov = decide(pending, RecordProvisioningFailed{"E", "m"}, kNow);
  ASSERT_TRUE(prov);
  EXPECT_EQ(std::get<ProvisioningFailed>(prov->front()), (ProvisioningFailed{"E", "m"}));

  auto term = decide(kRunning, RecordTerminated{137, "killed"}, kNow);
  ASSERT_TRUE(term);
  EXPECT_EQ(std::get<SandboxTerminated>(term->front()), (SandboxTerminated{137, "killed"}));

  auto failed = decide(kRunning, RecordFailed{"X", "y", std::nullopt}, kNow);
  ASSERT_TRUE(failed);
  EXPECT_EQ(std::get<SandboxFailed>(failed->front()), (SandboxFailed{"X", "y", std::nullopt}));

  auto pf = decide(live_sandbox(SandboxState::kPausing), RecordPauseFailed{"why"}, kNow);
  ASSERT_TRUE(pf);
  EXPECT_EQ(std::get<PauseFailed>(pf->front()).message, "why");

  auto ps = decide(pending, RecordProvisioningStarted{"w1"}, kNow);
  ASSERT_TRUE(ps);
  EXPECT_EQ(std::get<ProvisioningStarted>(ps->front()).worker, "w1");
}

TEST(Decide, ReasonOfDeleteIsItsReasonWorkersAreRuntimeOthersAreUser) {
  EXPECT_EQ(reason_of(DeleteSandbox{Reason::kExpired}), Reason::kExpired);
  EXPECT_EQ(reason_of(DeleteSandbox{Reason::kReconcile}), Reason::kReconcile);
  EXPECT_EQ(reason_of(DeleteSandbox{}), Reason::kUser);
  EXPECT_EQ(reason_of(PauseSandbox{}), Reason::kUser);
  EXPECT_EQ(reason_of(CreateSandbox{}), Reason::kUser);
  EXPECT_EQ(reason_of(PatchMetadata{}), Reason::kUser);
  for (const auto& nc : all_commands()) {
    const std::string name = nc.name;
    if (name.starts_with("Record")) {
      EXPECT_EQ(reason_of(nc.command), Reason::kRuntime) << name;
    }
  }
}

// --- decide then evolve -----------------------------------------------------------------

Event envelope(const Sandbox& sb, EventData data, Micros at, Reason reason = Reason::kUser) {
  Event e;
  e.stream = stream_of(sb.id.empty() ? "sb1" : sb.id);
  e.version = sb.version + 1;
  e.time = at;
  e.reason = reason;
  e.data = std::move(data);
  return e;
}

// A worker that records the same outcome twice (crash and redo) causes nothing the
// second time.
TEST(DecideThenEvolve, RedoneWorkerOutcomeProducesNoEvents) {
  for (const auto& nc : all_commands()) {
    const std::string name = nc.name;
    if (!name.starts_with("Record") || name == "RecordProvisioningStarted") continue;
    for (int c = 0; c < static_cast<int>(Col::kCount); ++c) {
      const auto state = state_of(static_cast<Col>(c));
      const auto first = decide(state, nc.command, kNow);
      if (!first || first->empty()) continue;
      Sandbox sb = *state;
      for (const auto& data : *first)
        sb = evolve(sb, envelope(sb, data, kNow, reason_of(nc.command)));
      const auto second = decide(sb, nc.command, kNow + 1);
      ASSERT_TRUE(second) << name << " in " << kColNames[c] << ": " << second.error().message;
      EXPECT_TRUE(second->empty()) << name << " in " << kColNames[c];
    }
  }
}

TEST(DecideThenEvolve, DeleteTwiceFromLiveStatesIsIdempotent) {
  for (SandboxState s : {SandboxState::kPending, SandboxState::kRunning, SandboxState::kPausing,
                         SandboxState::kPaused, SandboxState::kResuming}) {
    Sandbox sb = live_sandbox(s);
    const auto first = decide(sb, DeleteSandbox{}, kNow);
    ASSERT_TRUE(first);
    ASSERT_EQ(first->size(), 1u);
    sb = evolve(sb, envelope(sb, first->front(), kNow));
    EXPECT_EQ(sb.state, SandboxState::kStopping);
    const auto second = decide(sb, DeleteSandbox{}, kNow);
    ASSERT_TRUE(second);
    EXPECT_TRUE(second->empty());
  }
}

TEST(DecideThenEvolve, DeleteOnFailedKeepsFailedMarksDeletedAndThenIsNotFound) {
  Sandbox sb = live_sandbox(SandboxState::kFailed);
  sb.status_reason = "SANDBOX::DIED";
  const auto first = decide(sb, DeleteSandbox{}, kNow);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 1u);
  ASSERT_TRUE(std::holds_alternative<DeletionRequested>(first->front()));
  const Sandbox after = evolve(sb, envelope(sb, first->front(), kNow));
  EXPECT_EQ(after.state, SandboxState::kFailed);
  EXPECT_TRUE(after.deleted);
  EXPECT_EQ(after.status_reason, "SANDBOX::DIED");
  EXPECT_EQ(after.last_transition_at, sb.last_transition_at);
  const auto again = decide(after, DeleteSandbox{}, kNow);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
}

// --- evolve -----------------------------------------------------------------------------

Event make_event(std::uint64_t version, Micros time, EventData data,
                 Reason reason = Reason::kUser) {
  Event e;
  e.stream = "sandbox-sb1";
  e.version = version;
  e.time = time;
  e.reason = reason;
  e.data = std::move(data);
  return e;
}

SandboxRequested requested() {
  SandboxRequested r;
  r.sandbox_id = "sb1";
  r.spec.image_uri = "python:3.12";
  r.spec.timeout_seconds = 3600;
  r.metadata = {{"team", "ml"}};
  r.expires_at = kNow + kHour;
  return r;
}

TEST(Evolve, SandboxRequestedCreatesPendingProjection) {
  const Sandbox sb = evolve(std::nullopt, make_event(1, kNow, requested()));
  EXPECT_EQ(sb.id, "sb1");
  EXPECT_EQ(sb.version, 1u);
  EXPECT_EQ(sb.state, SandboxState::kPending);
  EXPECT_EQ(sb.created_at, kNow);
  EXPECT_EQ(sb.last_transition_at, kNow);
  EXPECT_EQ(sb.expires_at, kNow + kHour);
  EXPECT_EQ(sb.metadata, requested().metadata);
  EXPECT_EQ(sb.spec, requested().spec);
  EXPECT_FALSE(sb.deleted);
}

SandboxAdopted adopted(SandboxState state) {
  SandboxAdopted a;
  a.sandbox_id = "sb1";
  a.runtime_id = "c0ffee";
  a.spec.image_uri = "python:3.12";
  a.spec.network_mode = "bridge";
  a.spec.ports = {{44772, 41000}, {8080, 41001}};
  a.metadata = {{"team", "ml"}};
  a.expires_at = kNow + kHour;
  a.state = state;
  a.created_at = kNow - kHour;
  a.source = "opensandbox-server";
  return a;
}

TEST(Evolve, SandboxAdoptedOpensTheStreamInItsRuntimeState) {
  const Sandbox running = evolve(std::nullopt, make_event(1, kNow, adopted(SandboxState::kRunning),
                                                          Reason::kRuntime));
  EXPECT_EQ(running.id, "sb1");
  EXPECT_EQ(running.state, SandboxState::kRunning);
  EXPECT_EQ(running.status_reason, "adopted");
  EXPECT_EQ(running.created_at, kNow - kHour) << "the container's creation time";
  EXPECT_EQ(running.last_transition_at, kNow);
  EXPECT_EQ(running.runtime_id, "c0ffee");
  EXPECT_EQ(running.expires_at, kNow + kHour);
  EXPECT_EQ(running.metadata, adopted(SandboxState::kRunning).metadata);
  EXPECT_EQ(running.spec, adopted(SandboxState::kRunning).spec);

  const Sandbox paused =
      evolve(std::nullopt, make_event(1, kNow, adopted(SandboxState::kPaused), Reason::kRuntime));
  EXPECT_EQ(paused.state, SandboxState::kPaused);
  // From there the ordinary commands apply: resume a paused one, pause a running one.
  auto resume = decide(paused, ResumeSandbox{}, kNow);
  ASSERT_TRUE(resume);
  ASSERT_EQ(resume->size(), 1u);
  EXPECT_TRUE(std::holds_alternative<ResumeRequested>(resume->front()));
  auto renew = decide(running, RenewExpiration{kNow + 2 * kHour}, kNow);
  ASSERT_TRUE(renew);
  EXPECT_EQ(renew->size(), 1u);

  // Unknown creation time: the event's.
  SandboxAdopted no_time = adopted(SandboxState::kRunning);
  no_time.created_at = 0;
  EXPECT_EQ(evolve(std::nullopt, make_event(1, kNow, no_time)).created_at, kNow);
  // A second adoption on an existing stream changes nothing but the version.
  const Sandbox again = evolve(running, make_event(2, kNow + 1, adopted(SandboxState::kPaused)));
  EXPECT_EQ(again.state, SandboxState::kRunning);
  EXPECT_EQ(again.version, 2u);
}

TEST(Evolve, TheAddressComesFromTheStartAndGoesWithTheSandbox) {
  const Sandbox pending = evolve(std::nullopt, make_event(1, kNow, requested()));
  EXPECT_EQ(pending.address, "");
  Sandbox running =
      evolve(pending, make_event(2, kNow + 1, SandboxStarted{"pod", "10.244.0.5"}, Reason::kRuntime));
  EXPECT_EQ(running.state, SandboxState::kRunning);
  EXPECT_EQ(running.address, "10.244.0.5");
  // Kept while the pod lives: stopping still has it.
  const Sandbox stopping = evolve(running, make_event(3, kNow + 2, DeletionRequested{}));
  EXPECT_EQ(stopping.state, SandboxState::kStopping);
  EXPECT_EQ(stopping.address, "10.244.0.5");
  // A final sandbox has no pod, so no address another pod could since have taken.
  const Sandbox terminated =
      evolve(stopping, make_event(4, kNow + 3, SandboxTerminated{0, ""}, Reason::kRuntime));
  EXPECT_EQ(terminated.state, SandboxState::kTerminated);
  EXPECT_EQ(terminated.address, "");
  const Sandbox failed = evolve(
      running, make_event(3, kNow + 2, SandboxFailed{"KUBERNETES::POD_EVICTED", "evicted", {}},
                          Reason::kRuntime));
  EXPECT_EQ(failed.state, SandboxState::kFailed);
  EXPECT_EQ(failed.address, "");
}

TEST(Evolve, FullLifecycleTracksStateVersionAndTransitionTimes) {
  Sandbox sb = evolve(std::nullopt, make_event(1, kNow, requested()));
  sb = evolve(sb, make_event(2, kNow + 1, ProvisioningStarted{"w"}, Reason::kRuntime));
  EXPECT_EQ(sb.state, SandboxState::kPending);
  EXPECT_EQ(sb.version, 2u);
  EXPECT_EQ(sb.last_transition_at, kNow) << "no state change, no transition";
  sb = evolve(sb, make_event(3, kNow + 2, SandboxStarted{"cid"}, Reason::kRuntime));
  EXPECT_EQ(sb.state, SandboxState::kRunning);
  EXPECT_EQ(sb.runtime_id, "cid");
  EXPECT_EQ(sb.last_transition_at, kNow + 2);
  sb = evolve(sb, make_event(4, kNow + 3, PauseRequested{}));
  EXPECT_EQ(sb.state, SandboxState::kPausing);
  sb = evolve(sb, make_event(5, kNow + 4, SandboxPaused{}, Reason::kRuntime));
  EXPECT_EQ(sb.state, SandboxState::kPaused);
  sb = evolve(sb, make_event(6, kNow + 5, ResumeRequested{}));
  EXPECT_EQ(sb.state, SandboxState::kResuming);
  sb = evolve(sb, make_event(7, kNow + 6, SandboxResumed{}, Reason::kRuntime));
  EXPECT_EQ(sb.state, SandboxState::kRunning);
  EXPECT_EQ(sb.last_transition_at, kNow + 6);
  sb = evolve(sb, make_event(8, kNow + 7, DeletionRequested{}, Reason::kExpired));
  EXPECT_EQ(sb.state, SandboxState::kStopping);
  EXPECT_EQ(sb.status_reason, "expired");
  sb = evolve(sb, make_event(9, kNow + 8, SandboxTerminated{0, ""}, Reason::kRuntime));
  EXPECT_EQ(sb.state, SandboxState::kTerminated);
  EXPECT_EQ(sb.status_reason, "expired") << "why it stopped survives termination";
  EXPECT_EQ(sb.exit_code, 0);
  EXPECT_EQ(sb.version, 9u);
  EXPECT_EQ(sb.last_transition_at, kNow + 8);
  EXPECT_EQ(sb.created_at, kNow);
}

TEST(Evolve, UserDeletionClearsStatusReason) {
  Sandbox sb = live_sandbox(SandboxState::kRunning);
  sb.status_reason = "pause_failed";
  sb.status_message = "freeze failed";
  sb = evolve(sb, make_event(4, kNow, DeletionRequested{}, Reason::kUser));
  EXPECT_EQ(sb.state, SandboxState::kStopping);
  EXPECT_EQ(sb.status_reason, "");
  EXPECT_EQ(sb.status_message, "");
}

TEST(Evolve, ProvisioningFailedRecordsErrorCodeAndMessage) {
  Sandbox sb = evolve(std::nullopt, make_event(1, kNow, requested()));
  sb = evolve(sb, make_event(2, kNow + 5, ProvisioningFailed{"DOCKER::IMAGE_NOT_FOUND", "nope"}));
  EXPECT_EQ(sb.state, SandboxState::kFailed);
  EXPECT_EQ(sb.status_reason, "DOCKER::IMAGE_NOT_FOUND");
  EXPECT_EQ(sb.status_message, "nope");
  EXPECT_EQ(sb.last_transition_at, kNow + 5);
}

TEST(Evolve, PauseFailedReturnsToRunningWithReasonThenNormalTransitionClearsIt) {
  Sandbox sb = live_sandbox(SandboxState::kPausing);
  sb = evolve(sb, make_event(4, kNow, PauseFailed{"freeze failed"}));
  EXPECT_EQ(sb.state, SandboxState::kRunning);
  EXPECT_EQ(sb.status_reason, "pause_failed");
  EXPECT_EQ(sb.status_message, "freeze failed");
  sb = evolve(sb, make_event(5, kNow + 1, PauseRequested{}));
  EXPECT_EQ(sb.state, SandboxState::kPausing);
  EXPECT_EQ(sb.status_reason, "");
  EXPECT_EQ(sb.status_message, "");
}

TEST(Evolve, ResumeFailedReturnsToPaused) {
  Sandbox sb = live_sandbox(SandboxState::kResuming);
  sb = evolve(sb, make_event(4, kNow, ResumeFailed{"thaw failed"}));
  EXPECT_EQ(sb.state, SandboxState::kPaused);
  EXPECT_EQ(sb.status_reason, "resume_failed");
  EXPECT_EQ(sb.status_message, "thaw failed");
}

TEST(Evolve, SandboxFailedRecordsErrorAndExitCode) {
  Sandbox sb = live_sandbox(SandboxState::kRunning);
  sb = evolve(sb, make_event(4, kNow, SandboxFailed{"SANDBOX::DIED", "oom", 137}));
  EXPECT_EQ(sb.state, SandboxState::kFailed);
  EXPECT_EQ(sb.status_reason, "SANDBOX::DIED");
  EXPECT_EQ(sb.status_message, "oom");
  EXPECT_EQ(sb.exit_code, 137);
}

TEST(Evolve, TerminatedFromRunningIsMarkedExited) {
  Sandbox sb = live_sandbox(SandboxState::kRunning);
  sb = evolve(sb, make_event(4, kNow, SandboxTerminated{std::nullopt, "container exited"},
                             Reason::kReconcile));
  EXPECT_EQ(sb.state, SandboxState::kTerminated);
  EXPECT_EQ(sb.status_reason, "exited");
  EXPECT_EQ(sb.status_message, "container exited");
  EXPECT_FALSE(sb.exit_code.has_value());
}

TEST(Evolve, ExpirationRenewedMovesDeadlineWithoutTransition) {
  const Sandbox before = live_sandbox(SandboxState::kRunning);
  const Sandbox sb = evolve(before, make_event(4, kNow, ExpirationRenewed{kNow + 5 * kHour}));
  EXPECT_EQ(sb.expires_at, kNow + 5 * kHour);
  EXPECT_EQ(sb.state, SandboxState::kRunning);
  EXPECT_EQ(sb.last_transition_at, before.last_transition_at);
  EXPECT_EQ(sb.version, 4u);
}

TEST(Decide, NetworkPolicyChangeOfASandboxWithoutAPolicyIsAFailedPrecondition) {
  Sandbox sb = live_sandbox(SandboxState::kRunning);
  sb.spec.network_policy_json.clear();
  auto r = decide(sb, ChangeNetworkPolicy{"PUT", "{}"}, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(r.error().field, "networkPolicy");
  auto ok = decide(live_sandbox(SandboxState::kRunning),
                   ChangeNetworkPolicy{"PATCH", R"([{"action":"allow","target":"a.b"}])"},
                   kNow);
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_EQ(std::get<NetworkPolicyChanged>(ok->front()),
            (NetworkPolicyChanged{"PATCH", R"([{"action":"allow","target":"a.b"}])"}));
  EXPECT_EQ(reason_of(Command{ChangeNetworkPolicy{}}), Reason::kUser);
}

TEST(Evolve, NetworkPolicyChangedLeavesTheStateAlone) {
  Sandbox sb = live_sandbox(SandboxState::kRunning);
  Sandbox after = evolve(sb, make_event(4, kNow, NetworkPolicyChanged{"DELETE", R"(["a.b"])"}));
  EXPECT_EQ(after.state, SandboxState::kRunning);
  EXPECT_EQ(after.spec, sb.spec);
  EXPECT_EQ(after.metadata, sb.metadata);
}

TEST(Evolve, MetadataPatchedAppliesSetsAndRemovals) {
  Sandbox sb = live_sandbox(SandboxState::kRunning);
  sb.metadata = {{"a", "1"}, {"b", "2"}};
  MetadataPatched p;
  p.set = {{"a", "10"}, {"c", "3"}};
  p.removed = {"b"};
  sb = evolve(sb, make_event(4, kNow, p));
  const std::map<std::string, std::string> want = {{"a", "10"}, {"c", "3"}};
  EXPECT_EQ(sb.metadata, want);
}

TEST(Evolve, EventThatDoesNotApplyChangesOnlyTheVersion) {
  Sandbox before = live_sandbox(SandboxState::kRunning);
  for (const EventData& data :
       std::vector<EventData>{SandboxPaused{}, SandboxResumed{}, ResumeRequested{},
                              SandboxStarted{"other"}, requested(), ServerStarted{"1", 2}}) {
    Sandbox after = evolve(before, make_event(9, kNow, data));
    EXPECT_EQ(after.version, 9u) << event_type(data);
    after.version = before.version;
    EXPECT_EQ(after, before) << event_type(data);
  }
  Sandbox terminated = live_sandbox(SandboxState::kTerminated);
  Sandbox after = evolve(terminated, make_event(9, kNow, SandboxFailed{"x", "y", 1}));
  after.version = terminated.version;
  EXPECT_EQ(after, terminated) << "final states stay final";
}

TEST(Evolve, FirstEventOtherThanRequestedTakesIdFromStream) {
  const Sandbox sb = evolve(std::nullopt, make_event(1, kNow, SandboxStarted{"cid"}));
  EXPECT_EQ(sb.id, "sb1");
  EXPECT_EQ(sb.version, 1u);
}

// --- warm pool members -----------------------------------------------------------------

Sandbox member(SandboxState state) {
  Sandbox sb = live_sandbox(state);
  sb.spec.pool_name = "web";
  sb.spec.pool_generation = 3;
  sb.metadata.clear();
  sb.expires_at.reset();
  return sb;
}

TEST(Decide, ClaimOfAnUnclaimedRunningMemberIsSandboxClaimed) {
  const Sandbox m = member(SandboxState::kRunning);
  ASSERT_TRUE(m.is_unclaimed_member());
  const auto r = decide(m, ClaimSandbox{{{"owner", "alice"}}, kNow + kHour}, kNow);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(std::get<SandboxClaimed>(r->front()),
            (SandboxClaimed{{{"owner", "alice"}}, kNow + kHour}));
  EXPECT_EQ(reason_of(Command{ClaimSandbox{}}), Reason::kUser);
  // Without a deadline (timeout null: manual cleanup).
  const auto manual = decide(m, ClaimSandbox{}, kNow);
  ASSERT_TRUE(manual);
  EXPECT_EQ(std::get<SandboxClaimed>(manual->front()).expires_at, std::nullopt);
}

TEST(Decide, ClaimOfAClaimedMemberFailsWithFailedPrecondition) {
  Sandbox m = member(SandboxState::kRunning);
  m.claimed_at = kNow - 5;
  const auto r = decide(m, ClaimSandbox{}, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(r.error().field, "poolRef");
}

TEST(Decide, ClaimOfASandboxThatIsNoMemberFailsWithFailedPrecondition) {
  const auto r = decide(live_sandbox(SandboxState::kRunning), ClaimSandbox{}, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(r.error().field, "poolRef");
}

TEST(Decide, ClaimOfAMemberNotRunningFailsWithFailedPrecondition) {
  for (SandboxState s : {SandboxState::kPending, SandboxState::kPausing, SandboxState::kPaused,
                         SandboxState::kResuming, SandboxState::kStopping, SandboxState::kFailed}) {
    const auto r = decide(member(s), ClaimSandbox{}, kNow);
    ASSERT_FALSE(r) << to_string(s);
    EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition) << to_string(s);
  }
  const auto gone = decide(member(SandboxState::kTerminated), ClaimSandbox{}, kNow);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
}

TEST(Evolve, SandboxClaimedSetsMetadataDeadlineAndClaimTime) {
  const Sandbox m = member(SandboxState::kRunning);
  const Sandbox sb =
      evolve(m, make_event(4, kNow + 7, SandboxClaimed{{{"owner", "alice"}}, kNow + kHour}));
  EXPECT_EQ(sb.metadata, (std::map<std::string, std::string>{{"owner", "alice"}}));
  EXPECT_EQ(sb.expires_at, kNow + kHour);
  EXPECT_EQ(sb.claimed_at, kNow + 7);
  EXPECT_FALSE(sb.is_unclaimed_member());
  EXPECT_EQ(sb.state, SandboxState::kRunning);
  EXPECT_EQ(sb.last_transition_at, m.last_transition_at);
  EXPECT_EQ(sb.version, 4u);
  EXPECT_EQ(sb.spec, m.spec) << "the member keeps its spec (pool name and generation)";
}

TEST(Evolve, SandboxClaimedWithoutDeadlineClearsIt) {
  Sandbox m = member(SandboxState::kRunning);
  m.expires_at = kNow + 5 * kHour;  // whatever the member had
  const Sandbox sb = evolve(m, make_event(4, kNow, SandboxClaimed{{}, std::nullopt}));
  EXPECT_EQ(sb.expires_at, std::nullopt);
  EXPECT_EQ(sb.claimed_at, kNow);
}

TEST(Evolve, SandboxClaimedThatDoesNotApplyChangesOnlyTheVersion) {
  Sandbox claimed = member(SandboxState::kRunning);
  claimed.claimed_at = kNow - 1;
  claimed.metadata = {{"owner", "bob"}};
  const Sandbox not_member = live_sandbox(SandboxState::kRunning);
  const Sandbox final_member = member(SandboxState::kFailed);
  for (const Sandbox& before : {claimed, not_member, final_member}) {
    Sandbox after =
        evolve(before, make_event(9, kNow, SandboxClaimed{{{"owner", "eve"}}, kNow + kHour}));
    EXPECT_EQ(after.version, 9u);
    after.version = before.version;
    EXPECT_EQ(after, before);
  }
}

TEST(Evolve, MemberFieldsSurviveTheProjectionRecord) {
  SandboxRequested r = requested();
  r.spec.pool_name = "web";
  r.spec.pool_generation = 3;
  r.metadata.clear();
  r.expires_at.reset();
  Sandbox sb = evolve(std::nullopt, make_event(1, kNow, r));
  EXPECT_TRUE(sb.is_unclaimed_member());
  sb = evolve(sb, make_event(2, kNow + 1, SandboxStarted{"c0ffee"}, Reason::kRuntime));
  sb = evolve(sb, make_event(3, kNow + 2, SandboxClaimed{{{"k", "v"}}, kNow + kHour}));
  const auto back = decode_sandbox(encode_sandbox(sb));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, sb);
  EXPECT_EQ(back->spec.pool_name, "web");
  EXPECT_EQ(back->spec.pool_generation, 3u);
  EXPECT_EQ(back->claimed_at, kNow + 2);
  EXPECT_FALSE(back->is_unclaimed_member());
}

// --- names ------------------------------------------------------------------------------

TEST(SandboxNames, StatesRoundTripCaseInsensitively) {
  for (SandboxState s : kAllStates) {
    const std::string name(to_string(s));
    EXPECT_EQ(parse_state(name), s);
    std::string lower = name, upper = name;
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    EXPECT_EQ(parse_state(lower), s);
    EXPECT_EQ(parse_state(upper), s);
  }
  EXPECT_EQ(parse_state(""), std::nullopt);
  EXPECT_EQ(parse_state("Runnin"), std::nullopt);
  EXPECT_EQ(parse_state("Running "), std::nullopt);
}

TEST(SandboxNames, OnlyFailedAndTerminatedAreFinal) {
  for (SandboxState s : kAllStates) {
    EXPECT_EQ(is_final(s), s == SandboxState::kFailed || s == SandboxState::kTerminated)
        << to_string(s);
  }
}

TEST(SandboxNames, ReasonsRoundTrip) {
  for (Reason r : {Reason::kUser, Reason::kExpired, Reason::kReconcile, Reason::kRuntime})
    EXPECT_EQ(parse_reason(to_string(r)), r);
  EXPECT_EQ(to_string(Reason::kExpired), "expired");
  EXPECT_EQ(parse_reason("EXPIRED"), Reason::kExpired);
  EXPECT_EQ(parse_reason("because"), std::nullopt);
}

}  // namespace
}  // namespace sbx
