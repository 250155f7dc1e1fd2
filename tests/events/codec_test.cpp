#include "events/codec.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sbx {
namespace {

constexpr Micros kT = 1'772'366'400'250'000;  // 2026-03-01T12:00:00.250000Z

SandboxSpec full_spec() {
  SandboxSpec s;
  s.image_uri = "python:3.12-slim";
  s.image_auth_provided = true;
  s.snapshot_id = "snap-1";
  s.entrypoint = {"python", "-c", "print(\"hi\\n\")"};
  s.env = {{"LANG", "C.UTF-8"}, {"UNICODE", "h\xC3\xA9llo \xE2\x9C\x93"}, {"EMPTY", ""}};
  s.resource_limits = {{"cpu", "500m"}, {"memory", "1Gi"}};
  s.platform = Platform{"linux", "arm64"};
  s.timeout_seconds = 600;
  s.network_mode = "bridge";
  s.ports = {{8080, 40001}, {44772, 40002}};
  s.network_policy_json = R"({"defaultAction":"deny","egress":[{"host":"a.b"}]})";
  s.volumes_json = R"([{"name":"v","mountPath":"/data"}])";
  s.extensions_json = R"({"x":1})";
  return s;
}

SandboxSpec minimal_spec() {
  SandboxSpec s;
  s.image_uri = "alpine";
  return s;
}

// What a pool keeps as its template: the create request's fields, no ports or network mode.
SandboxSpec pool_template() {
  SandboxSpec s;
  s.image_uri = "python:3.12-slim";
  s.entrypoint = {"python", "-m", "http.server"};
  s.env = {{"MODE", "warm"}};
  s.resource_limits = {{"cpu", "500m"}, {"memory", "1Gi"}};
  s.platform = Platform{"linux", "amd64"};
  s.network_policy_json = R"({"defaultAction":"deny"})";
  s.volumes_json = R"([{"name":"v","mountPath":"/data"}])";
  return s;
}

// A member a pool created: the template plus ports, network mode and the pool fields.
SandboxSpec pool_member_spec() {
  SandboxSpec s = pool_template();
  s.network_mode = "bridge";
  s.ports = {{8080, 40001}, {44772, 40002}};
  s.pool_name = "web";
  s.pool_generation = 3;
  return s;
}

// A sandbox taken from a cluster-kept pool: the template plus poolRef, no member fields.
SandboxSpec pool_ref_spec() {
  SandboxSpec s = pool_template();
  s.network_mode = "pod";
  s.pool_ref = "web";
  return s;
}

// One sample per event type with every optional field set, and one with all unset.
std::vector<EventData> samples() {
  return {
      SandboxRequested{"sb1", full_spec(), {{"team", "ml"}, {"k", "v"}}, kT + 600'000'000},
      SandboxRequested{"sb1", minimal_spec(), {}, std::nullopt},
      ProvisioningStarted{"provisioner-0"},
      SandboxStarted{"c0ffee"},
      SandboxStarted{"pod-sb1", "10.244.1.7"},
      ProvisioningFailed{"DOCKER::IMAGE_NOT_FOUND", "pull access denied"},
      PauseRequested{},
      SandboxPaused{},
      PauseFailed{"freeze failed"},
      ResumeRequested{},
      SandboxResumed{},
      ResumeFailed{"thaw failed"},
      ExpirationRenewed{kT + 3'600'000'000},
      MetadataPatched{{{"owner", "alice"}}, {"team", "old"}},
      MetadataPatched{},
      NetworkPolicyChanged{"PATCH", R"([{"action":"allow","target":"*.pypi.org"}])"},
      DeletionRequested{},
      SandboxTerminated{137, "killed"},
      SandboxTerminated{std::nullopt, ""},
      SandboxTerminated{-1, "negative exit"},
      SandboxFailed{"SANDBOX::DIED", "oom", 1},
      SandboxFailed{"SANDBOX::VANISHED", "gone", std::nullopt},
      ServerStarted{"0.1.0", 18'000'000'000'000'000'000u},
      OrphanRemoved{"deadbeef", "77aa"},
      ReconcileFinding{"died", "sb1", "exit code 1"},
      MigrationApplied{2, "expiry index"},
      SandboxAdopted{"sb1", "c0ffee", minimal_spec(), {{"team", "ml"}}, kT + 600'000'000,
                     SandboxState::kPaused, kT - 5'000'000, "opensandbox-server"},
      SandboxAdopted{"sb1", "c0ffee", full_spec(), {}, std::nullopt, SandboxState::kRunning, 0,
                     ""},
      SnapshotRequested{"sn1", "sb1", "before-upgrade", "sandboxd-snapshot/sn1:latest"},
      SnapshotRequested{"sn1", "sb1", "", "sandboxd-snapshot/sn1:latest"},
      SnapshotReady{"sha256:0123abcd"},
      SnapshotFailed{"SNAPSHOT::SOURCE_NOT_FOUND", "container sandbox-sb1 is gone"},
      SnapshotDeletionRequested{},
      SnapshotDeleted{},
      SandboxClaimed{{{"team", "ml"}, {"owner", "alice"}}, kT + 600'000'000},
      SandboxClaimed{},
      SandboxClaimed{{}, std::nullopt, R"({"poolRef":"web","access.renew.extend.seconds":"600"})"},
      PoolCreated{"web", pool_template(), R"({"image":{"uri":"python:3.12-slim"}})",
                  PoolCapacity{1, 4, 2, 8}},
      PoolCreated{"w", minimal_spec(), "{}", PoolCapacity{}},
      PoolCapacityChanged{PoolCapacity{0, 2, 0, 3}},
      PoolDeleted{},
      SandboxRequested{"sb2", pool_member_spec(), {}, std::nullopt},
      SandboxRequested{"sb3", pool_ref_spec(), {{"team", "ml"}}, kT + 600'000'000},
  };
}

Event envelope(EventData data) {
  Event e;
  e.position = 42;
  e.stream = "sandbox-sb1";
  e.version = 7;
  e.time = kT;
  e.event_id = "0b6f3c2e-7d1a-4e8b-9c55-1f2e3d4c5b6a";
  e.request_id = "req-\"quoted\"";
  e.actor = "api:key-1";
  e.reason = Reason::kExpired;
  e.schema = current_schema(event_type(data));
  e.data = std::move(data);
  return e;
}

TEST(Codec, EveryEventTypeRoundTripsWithOptionalFieldsSetAndUnset) {
  std::set<std::size_t> covered;
  for (const EventData& data : samples()) {
    const Event e = envelope(data);
    const std::string json = encode_event(e);
    const auto back = decode_event(json);
    ASSERT_TRUE(back) << json << "\n" << back.error().message;
    EXPECT_EQ(*back, e) << json;
    covered.insert(data.index());
  }
  EXPECT_EQ(covered.size(), std::variant_size_v<EventData>) << "a type has no sample";
}

TEST(Codec, EnvelopeFieldsRoundTripForEveryReason) {
  for (Reason r : {Reason::kUser, Reason::kExpired, Reason::kReconcile, Reason::kRuntime}) {
    Event e = envelope(SandboxPaused{});
    e.reason = r;
    e.stream = "system";
    e.position = 18'446'744'073'709'551'615u;
    e.time = -1;  // before the epoch still round-trips
    const auto back = decode_event(encode_event(e));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, e);
  }
}

TEST(Codec, EncodeWritesDocumentedEnvelopeAndOmitsAbsentOptionals) {
  const std::string json =
      encode_event(envelope(SandboxRequested{"sb1", minimal_spec(), {}, std::nullopt}));
  const auto j = nlohmann::json::parse(json);
  EXPECT_EQ(j["position"], 42);
  EXPECT_EQ(j["stream"], "sandbox-sb1");
  EXPECT_EQ(j["version"], 7);
  EXPECT_EQ(j["type"], "SandboxRequested");
  EXPECT_EQ(j["schema"], 3);
  EXPECT_EQ(j["time"], "2026-03-01T12:00:00.250000Z");
  EXPECT_EQ(j["reason"], "expired");
  EXPECT_FALSE(j["data"].contains("expiresAt"));
  EXPECT_FALSE(j["data"]["spec"].contains("timeoutSeconds"));
  EXPECT_FALSE(j["data"]["spec"].contains("imageAuth"));
  EXPECT_FALSE(j["data"]["spec"].contains("platform"));
  EXPECT_FALSE(j["data"]["spec"].contains("networkPolicyJson"));
  // Envelope keys keep their documented order.
  EXPECT_EQ(json.rfind(R"({"position":42,"stream":"sandbox-sb1","version":7,"type":)", 0), 0u);

  const auto t = nlohmann::json::parse(encode_event(envelope(SandboxTerminated{})));
  EXPECT_FALSE(t["data"].contains("exitCode"));
}

TEST(Codec, EncodeWritesNewestSchemaWhateverTheEventSays) {
  Event e = envelope(SandboxRequested{"sb1", minimal_spec(), {}, std::nullopt});
  e.schema = 1;
  EXPECT_EQ(nlohmann::json::parse(encode_event(e))["schema"], 3);
}

TEST(Codec, EncodeEventDataIsTheDataObject) {
  const auto j = nlohmann::json::parse(encode_event_data(SandboxFailed{"E", "m", 3}));
  EXPECT_EQ(j, nlohmann::json::parse(R"({"errorCode":"E","message":"m","exitCode":3})"));
}

TEST(Codec, DecodeAcceptsAnyFieldOrderAndIgnoresUnknownFields) {
  const std::string json = R"({"data":{"runtimeId":"cid","future":{"a":[1,2]}},"extra":true,
      "time":"2026-03-01T13:00:00.250+01:00","schema":1,"type":"SandboxStarted",
      "stream":"sandbox-x","version":3,"position":9,"reason":"runtime"})";
  const auto e = decode_event(json);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->time, kT);
  EXPECT_EQ(e->reason, Reason::kRuntime);
  EXPECT_EQ(e->version, 3u);
  EXPECT_EQ(e->position, 9u);
  EXPECT_EQ(std::get<SandboxStarted>(e->data).runtime_id, "cid");
  EXPECT_EQ(e->actor, "");
}

TEST(Codec, CurrentSchemaIsKnownForEveryTypeAndZeroForUnknown) {
  for (const EventData& data : samples()) EXPECT_GE(current_schema(event_type(data)), 1);
  EXPECT_EQ(current_schema("SandboxRequested"), 3);
  EXPECT_EQ(current_schema("NoSuchEvent"), 0);
}

void expect_data_loss(std::string_view json, std::string_view needle = {}) {
  const auto r = decode_event(json);
  ASSERT_FALSE(r) << "decoded: " << json;
  EXPECT_EQ(r.error().code, ErrorCode::kDataLoss) << json;
  EXPECT_FALSE(r.error().message.empty());
  if (!needle.empty()) {
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  }
}

std::string with(std::string_view field_json) {
  // A valid SandboxStarted envelope with `field_json` spliced in last (it overrides).
  return std::string(R"({"stream":"sandbox-x","type":"SandboxStarted","schema":1,)") +
         R"("time":"2026-03-01T12:00:00Z","data":{"runtimeId":"c"})" +
         (field_json.empty() ? "" : ",") + std::string(field_json) + "}";
}

TEST(Codec, MalformedEventsFailWithDataLoss) {
  ASSERT_TRUE(decode_event(with(""))) << "the base document must be valid";
  expect_data_loss("");
  expect_data_loss("   ");
  expect_data_loss("null");
  expect_data_loss("[]");
  expect_data_loss("42");
  expect_data_loss("{");
  expect_data_loss(R"({"stream":"s")");
  expect_data_loss(with("").substr(0, 60));
  expect_data_loss("{\"stream\":\"s\",}");
  expect_data_loss(R"({"stream":"sandbox-x"})", "type");
  expect_data_loss(R"({"stream":"x","schema":1,"time":"2026-03-01T12:00:00Z","data":{}})", "type");
  expect_data_loss(
      R"({"type":"SandboxStarted","stream":"x","time":"2026-03-01T12:00:00Z","data":{}})",
      "schema");
  expect_data_loss(R"({"type":"SandboxStarted","stream":"x","schema":1,"data":{}})", "time");
  expect_data_loss(
      R"({"type":"SandboxStarted","stream":"x","schema":1,"time":"2026-03-01T12:00:00Z"})", "data");
  expect_data_loss(with(R"("type":"SandboxExploded")"), "SandboxExploded");
  expect_data_loss(with(R"("schema":2)"), "schema");
  expect_data_loss(with(R"("schema":0)"), "schema");
  expect_data_loss(with(R"("schema":"1")"), "schema");
  expect_data_loss(with(R"("time":"yesterday")"), "time");
  expect_data_loss(with(R"("time":1234)"), "time");
  expect_data_loss(with(R"("reason":"boredom")"), "reason");
  expect_data_loss(with(R"("position":-1)"), "position");
  expect_data_loss(with(R"("version":"1")"), "version");
  expect_data_loss(with(R"("data":[])"), "data");
  expect_data_loss(with(R"("data":{"runtimeId":5})"), "data.runtimeId");
  expect_data_loss(with(R"("data":{"runtimeId":"a")"));
  expect_data_loss(
      R"({"stream":"s","type":"ExpirationRenewed","schema":1,"time":"2026-03-01T12:00:00Z","data":{}})",
      "expiresAt");
  expect_data_loss(
      R"({"stream":"s","type":"SandboxTerminated","schema":1,"time":"2026-03-01T12:00:00Z","data":{"exitCode":99999999999}})",
      "exitCode");
  expect_data_loss(
      R"({"stream":"s","type":"SandboxRequested","schema":2,"time":"2026-03-01T12:00:00Z","data":{"spec":{"ports":{"http":1}}}})",
      "ports");
  expect_data_loss(
      R"({"stream":"s","type":"SandboxRequested","schema":2,"time":"2026-03-01T12:00:00Z","data":{"spec":{"entrypoint":"sh"}}})",
      "entrypoint");
  expect_data_loss(
      R"({"stream":"s","type":"SandboxRequested","schema":1,"time":"2026-03-01T12:00:00Z","data":{"timeoutSeconds":"10"}})",
      "timeoutSeconds");
  expect_data_loss(
      R"({"stream":"s","type":"SandboxRequested","schema":1,"time":"2026-03-01T12:00:00Z","data":{"timeoutSeconds":-5}})",
      "timeoutSeconds");
  expect_data_loss(
      R"({"stream":"pool-w","type":"PoolCreated","schema":1,"time":"2026-03-01T12:00:00Z","data":{"capacity":{}}})",
      "name");
  expect_data_loss(
      R"({"stream":"pool-w","type":"PoolCreated","schema":1,"time":"2026-03-01T12:00:00Z","data":{"name":"w"}})",
      "capacity");
  expect_data_loss(
      R"({"stream":"pool-w","type":"PoolCreated","schema":1,"time":"2026-03-01T12:00:00Z","data":{"name":"w","capacity":{"poolMax":"3"}}})",
      "poolMax");
  expect_data_loss(
      R"({"stream":"pool-w","type":"PoolCapacityChanged","schema":1,"time":"2026-03-01T12:00:00Z","data":{}})",
      "capacity");
  expect_data_loss(
      R"({"stream":"s","type":"SandboxClaimed","schema":1,"time":"2026-03-01T12:00:00Z","data":{"expiresAt":"soon"}})",
      "expiresAt");
  expect_data_loss(
      R"({"stream":"s","type":"SandboxRequested","schema":3,"time":"2026-03-01T12:00:00Z","data":{"spec":{"poolName":"w","poolGeneration":-1}}})",
      "poolGeneration");
  expect_data_loss(
      R"({"stream":"s","type":"SandboxRequested","schema":3,"time":"2026-03-01T12:00:00Z","data":{"spec":{"poolRef":7}}})",
      "poolRef");
  expect_data_loss(
      R"({"stream":"s","type":"SandboxRequested","schema":3,"time":"2026-03-01T12:00:00Z","data":{"spec":{"poolRef":{"name":"w"}}}})",
      "poolRef");
}

TEST(Codec, PoolRefIsWrittenOnlyWhenSetAndOldSpecsDecodeWithout) {
  SandboxRequested plain{"sb1", minimal_spec(), {}, std::nullopt};
  const std::string without = encode_event(envelope(plain));
  EXPECT_EQ(without.find("poolRef"), std::string::npos) << without;
  const auto back = decode_event(without);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(std::get<SandboxRequested>(back->data).spec.pool_ref, "");

  SandboxRequested pooled = plain;
  pooled.spec.pool_ref = "web";
  const std::string with_ref = encode_event(envelope(pooled));
  EXPECT_NE(with_ref.find(R"("poolRef":"web")"), std::string::npos) << with_ref;
  EXPECT_EQ(with_ref.find("poolName"), std::string::npos) << "never a member";
  const auto again = decode_event(with_ref);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->schema, 3) << "an optional addition, not a new schema";
  EXPECT_EQ(std::get<SandboxRequested>(again->data), pooled);

  // The sandbox record carries the same spec.
  Sandbox sb;
  sb.id = "sb1";
  sb.version = 1;
  sb.spec = pooled.spec;
  const auto record = decode_sandbox(encode_sandbox(sb));
  ASSERT_TRUE(record) << record.error().message;
  EXPECT_EQ(record->spec.pool_ref, "web");
}

// --- sandbox projection record ------------------------------------------------------------

Sandbox full_sandbox() {
  Sandbox sb;
  sb.id = "sb1";
  sb.version = 12;
  sb.state = SandboxState::kPaused;
  sb.status_reason = "resume_failed";
  sb.status_message = "thaw \"failed\"";
  sb.created_at = kT;
  sb.last_transition_at = kT + 1;
  sb.expires_at = kT + 3'600'000'000;
  sb.metadata = {{"team", "ml"}};
  sb.spec = full_spec();
  sb.runtime_id = "c0ffee";
  sb.address = "10.244.1.7";
  sb.exit_code = 0;
  sb.spec.pool_name = "web";
  sb.spec.pool_generation = 4;
  sb.claimed_at = kT + 2;
  sb.deleted = true;
  return sb;
}

TEST(Codec, SandboxRoundTripsWithEveryFieldSet) {
  const Sandbox sb = full_sandbox();
  const auto back = decode_sandbox(encode_sandbox(sb));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, sb);
}

TEST(Codec, SandboxRoundTripsWithOptionalFieldsUnsetInEveryState) {
  for (SandboxState s : kAllStates) {
    Sandbox sb;
    sb.id = "x";
    sb.state = s;
    sb.spec = minimal_spec();
    const std::string json = encode_sandbox(sb);
    EXPECT_EQ(json.find("expiresAt"), std::string::npos);
    EXPECT_EQ(json.find("exitCode"), std::string::npos);
    EXPECT_EQ(json.find("address"), std::string::npos);
    EXPECT_EQ(json.find("claimedAt"), std::string::npos);
    EXPECT_EQ(json.find("poolName"), std::string::npos);
    const auto back = decode_sandbox(json);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, sb);
  }
}

TEST(Codec, MalformedSandboxRecordsFailWithDataLoss) {
  const std::string good = encode_sandbox(full_sandbox());
  for (const std::string& bad :
       {std::string(""), std::string("{}"), std::string("[1]"), good.substr(0, good.size() / 2),
        std::string(R"({"id":"x"})"), std::string(R"({"id":"x","state":"Sleeping"})"),
        std::string(R"({"id":"x","state":"Running","schema":2})"),
        std::string(R"({"id":"x","state":"Running","deleted":"no"})"),
        std::string(R"({"id":"x","state":"Running","createdAt":"now"})")}) {
    const auto r = decode_sandbox(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kDataLoss) << bad;
  }
}

TEST(Codec, ErrorsNameTheFieldPath) {
  auto r = decode_sandbox(R"({"id":"x","state":"Running","spec":{"ports":{"80":"http"}}})");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("sandbox.spec.ports.80: expected an integer"), std::string::npos)
      << r.error().message;
  r = decode_sandbox(R"({"id":"x","state":"Running","spec":{"env":{"A":1}}})");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("sandbox.spec.env.A: expected a string"), std::string::npos)
      << r.error().message;
  r = decode_sandbox(R"({"id":"x","state":"Sleeping"})");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("sandbox.state: unknown state \"Sleeping\""), std::string::npos)
      << r.error().message;
  const auto e = decode_event(with(R"("data":{"runtimeId":["c"]})"));
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find(": data.runtimeId: expected a string"), std::string::npos)
      << e.error().message;
}

TEST(Codec, AcceptsOtherCaseSpellingsOfStatesAndReasons) {
  Sandbox sb = full_sandbox();
  std::string json = encode_sandbox(sb);
  const std::string state = "\"state\":\"Paused\"";
  ASSERT_NE(json.find(state), std::string::npos);
  json.replace(json.find(state), state.size(), "\"state\":\"pAUSED\"");
  const auto back = decode_sandbox(json);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->state, SandboxState::kPaused);
  const auto e = decode_event(with(R"("reason":"RUNTIME")"));
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->reason, Reason::kRuntime);
}

// Each thread reuses one parser for documents up to 16 kB; larger ones get their own. Any
// order of sizes, on several threads at once, decodes the same.
TEST(Codec, DecodesDocumentsOfEverySizeInAnyOrderOnSeveralThreads) {
  std::vector<Sandbox> sandboxes;
  for (std::size_t entries : {0u, 3u, 2000u, 10u, 5000u, 1u}) {
    Sandbox sb = full_sandbox();
    for (std::size_t i = 0; i < entries; ++i) {
      sb.metadata["key-" + std::to_string(i)] = std::string(i % 40, 'v');
    }
    sandboxes.push_back(std::move(sb));
  }
  ASSERT_GT(encode_sandbox(sandboxes[2]).size(), 16u * 1024);
  std::vector<std::string> json;
  for (const auto& sb : sandboxes) json.push_back(encode_sandbox(sb));
  std::atomic<int> failures{0};
  auto run = [&](std::size_t offset) {
    for (std::size_t round = 0; round < 30; ++round) {
      const std::size_t k = (round * 7 + offset) % json.size();
      const auto back = decode_sandbox(json[k]);
      if (!back || *back != sandboxes[k]) ++failures;
      const auto bad = decode_sandbox(json[k].substr(0, json[k].size() - 1));
      if (bad || bad.error().code != ErrorCode::kDataLoss) ++failures;
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t) threads.emplace_back(run, t);
  run(5);
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

// --- golden files ---------------------------------------------------------------------------

const std::filesystem::path kGoldenDir =
    std::filesystem::path(SANDBOXD_SOURCE_DIR) / "tests" / "events" / "golden";

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr Micros kGoldenTime = kT;

Event golden_envelope(std::uint64_t position, std::string stream, std::uint64_t version,
                      Reason reason, std::string actor, std::string request_id, EventData data) {
  Event e;
  e.position = position;
  e.stream = std::move(stream);
  e.version = version;
  e.time = kGoldenTime;
  e.event_id = "0b6f3c2e-7d1a-4e8b-9c55-1f2e3d4c5b6a";
  e.request_id = std::move(request_id);
  e.actor = std::move(actor);
  e.reason = reason;
  e.schema = current_schema(event_type(data));
  e.data = std::move(data);
  return e;
}
Event user_event(std::uint64_t v, EventData d) {
  return golden_envelope(v, "sandbox-4f1c2a9e", v, Reason::kUser, "api:key-1", "req-1",
                         std::move(d));
}
Event runtime_event(std::uint64_t v, EventData d) {
  return golden_envelope(v, "sandbox-4f1c2a9e", v, Reason::kRuntime, "worker:provisioner", "",
                         std::move(d));
}

SandboxSpec golden_spec() {
  SandboxSpec s;
  s.image_uri = "python:3.12-slim";
  s.image_auth_provided = true;
  s.entrypoint = {"python", "-m", "http.server"};
  s.env = {{"LANG", "C.UTF-8"}, {"MODE", "test"}};
  s.resource_limits = {{"cpu", "500m"}, {"memory", "1Gi"}};
  s.platform = Platform{"linux", "amd64"};
  s.timeout_seconds = 600;
  s.network_mode = "bridge";
  s.ports = {{8080, 40001}, {44772, 40002}};
  return s;
}

// What an adopted reference container's spec looks like (no env, no auth).
SandboxSpec adopted_spec() {
  SandboxSpec s;
  s.image_uri = "python:3.12-slim";
  s.entrypoint = {"python", "-m", "http.server"};
  s.resource_limits = {{"cpu", "500m"}, {"memory", "512Mi"}};
  s.timeout_seconds = 660;
  s.network_mode = "bridge";
  s.ports = {{8080, 41001}, {44772, 41000}};
  return s;
}

SandboxSpec golden_pool_template() {
  SandboxSpec s;
  s.image_uri = "python:3.12-slim";
  s.entrypoint = {"python", "-m", "http.server"};
  s.env = {{"MODE", "warm"}};
  s.resource_limits = {{"cpu", "500m"}, {"memory", "1Gi"}};
  return s;
}

SandboxSpec golden_pool_member_spec() {
  SandboxSpec s = golden_pool_template();
  s.network_mode = "bridge";
  s.ports = {{8080, 40011}, {44772, 40012}};
  s.pool_name = "web";
  s.pool_generation = 1;
  return s;
}

// A sandbox taken from a cluster-kept pool (Kubernetes provider batchsandbox): an ordinary
// sandbox whose spec names the pool in poolRef.
SandboxSpec golden_pool_ref_spec() {
  SandboxSpec s = golden_pool_template();
  s.timeout_seconds = 600;
  s.network_mode = "pod";
  s.extensions_json = R"({"poolRef":"web"})";
  s.pool_ref = "web";
  return s;
}

// What each golden file must decode to, forever.
std::vector<std::pair<std::string, Event>> golden_expectations() {
  SandboxSpec v2_spec = golden_spec();
  v2_spec.network_policy_json = R"({"defaultAction":"deny"})";
  const Micros in_ten_minutes = kGoldenTime + 600 * kMicrosPerSecond;
  return {
      // v1 stored timeoutSeconds beside the spec; upcast to spec.timeoutSeconds and an
      // absolute expiresAt = event time + timeout.
      {"SandboxRequested.v1",
       user_event(1,
                  SandboxRequested{"4f1c2a9e", golden_spec(), {{"team", "ml"}}, in_ten_minutes})},
      // v1 and v2 stored the registry username and password in `spec.imageAuth`; they
      // decode (v2 -> v3 upcaster) to "credentials were given", the credentials dropped.
      {"SandboxRequested.v2",
       user_event(1, SandboxRequested{"4f1c2a9e", v2_spec, {{"team", "ml"}}, in_ten_minutes})},
      // v3 records only `spec.imageAuth` {"provided": true}.
      {"SandboxRequested.v3",
       user_event(1, SandboxRequested{"4f1c2a9e", v2_spec, {{"team", "ml"}}, in_ten_minutes})},
      {"ProvisioningStarted.v1", runtime_event(2, ProvisioningStarted{"provisioner-0"})},
      {"SandboxStarted.v1", runtime_event(3, SandboxStarted{"c0ffee1234"})},
      {"ProvisioningFailed.v1",
       runtime_event(3, ProvisioningFailed{"DOCKER::IMAGE_NOT_FOUND", "pull access denied"})},
      {"PauseRequested.v1", user_event(4, PauseRequested{})},
      {"SandboxPaused.v1", runtime_event(5, SandboxPaused{})},
      {"PauseFailed.v1", runtime_event(5, PauseFailed{"cgroup freeze failed"})},
      {"ResumeRequested.v1", user_event(6, ResumeRequested{})},
      {"SandboxResumed.v1", runtime_event(7, SandboxResumed{})},
      {"ResumeFailed.v1", runtime_event(7, ResumeFailed{"thaw failed"})},
      {"ExpirationRenewed.v1",
       user_event(8, ExpirationRenewed{kGoldenTime + 3600 * kMicrosPerSecond})},
      {"MetadataPatched.v1", user_event(9, MetadataPatched{{{"owner", "alice"}}, {"team"}})},
      {"NetworkPolicyChanged.v1",
       user_event(12, NetworkPolicyChanged{
                          "PUT", R"({"defaultAction":"deny","egress":[{"action":"allow","target":"pypi.org"}]})"})},
      {"DeletionRequested.v1", golden_envelope(10, "sandbox-4f1c2a9e", 10, Reason::kExpired,
                                               "worker:expirer", "", DeletionRequested{})},
      {"SandboxTerminated.v1", runtime_event(11, SandboxTerminated{137, "killed"})},
      {"SandboxFailed.v1",
       golden_envelope(11, "sandbox-4f1c2a9e", 11, Reason::kReconcile, "worker:reconciler", "",
                       SandboxFailed{"SANDBOX::DIED", "container exited", 1})},
      {"ServerStarted.v1",
       golden_envelope(12, "system", 1, Reason::kRuntime, "server", "", ServerStarted{"0.1.0", 3})},
      {"OrphanRemoved.v1", golden_envelope(13, "system", 2, Reason::kReconcile, "worker:reconciler",
                                           "", OrphanRemoved{"deadbeef", "77aa"})},
      {"ReconcileFinding.v1",
       golden_envelope(14, "system", 3, Reason::kReconcile, "worker:reconciler", "",
                       ReconcileFinding{"died", "4f1c2a9e", "exit code 1"})},
      {"MigrationApplied.v1", golden_envelope(15, "system", 4, Reason::kRuntime, "migrations", "",
                                              MigrationApplied{2, "expiry index by deadline"})},
      {"SandboxAdopted.v1",
       golden_envelope(1, "sandbox-4f1c2a9e", 1, Reason::kRuntime, "server", "",
                       SandboxAdopted{"4f1c2a9e", "c0ffee1234", adopted_spec(), {{"team", "ml"}},
                                      in_ten_minutes, SandboxState::kPaused,
                                      kGoldenTime - 60 * kMicrosPerSecond,
                                      "opensandbox-server"})},
      {"SnapshotRequested.v1",
       golden_envelope(1, "snapshot-7a3e0c11", 1, Reason::kUser, "api:key-1", "req-1",
                       SnapshotRequested{"7a3e0c11", "4f1c2a9e", "before-upgrade",
                                         "sandboxd-snapshot/7a3e0c11:latest"})},
      {"SnapshotReady.v1",
       golden_envelope(2, "snapshot-7a3e0c11", 2, Reason::kRuntime, "worker:snapshotter", "",
                       SnapshotReady{"sha256:5e0ac39c6a1b"})},
      {"SnapshotFailed.v1",
       golden_envelope(2, "snapshot-7a3e0c11", 2, Reason::kRuntime, "worker:snapshotter", "",
                       SnapshotFailed{"SNAPSHOT::SOURCE_NOT_FOUND",
                                      "container sandbox-4f1c2a9e does not exist"})},
      {"SnapshotDeletionRequested.v1",
       golden_envelope(3, "snapshot-7a3e0c11", 3, Reason::kUser, "api:key-1", "req-2",
                       SnapshotDeletionRequested{})},
      {"SnapshotDeleted.v1", golden_envelope(4, "snapshot-7a3e0c11", 4, Reason::kRuntime,
                                             "worker:snapshotter", "", SnapshotDeleted{})},
      // A pool member: spec.poolName/poolGeneration were added to schema 3 as optional
      // fields (absent on every other sandbox).
      {"SandboxRequested.v3.pool-member",
       golden_envelope(1, "sandbox-9b2d7e40", 1, Reason::kUser, "pool:web", "",
                       SandboxRequested{"9b2d7e40", golden_pool_member_spec(), {},
                                        std::nullopt})},
      // A sandbox of a cluster-kept pool: spec.poolRef, an optional addition to schema 3.
      {"SandboxRequested.v3.pool-ref",
       golden_envelope(1, "sandbox-6c01d5a3", 1, Reason::kUser, "api:key-1", "req-5",
                       SandboxRequested{"6c01d5a3", golden_pool_ref_spec(), {{"team", "ml"}},
                                        in_ten_minutes})},
      {"SandboxClaimed.v1",
       golden_envelope(4, "sandbox-9b2d7e40", 4, Reason::kUser, "api:key-1", "req-3",
                       SandboxClaimed{{{"team", "ml"}}, in_ten_minutes})},
      {"PoolCreated.v1",
       golden_envelope(1, "pool-web", 1, Reason::kUser, "api:key-1", "req-1",
                       PoolCreated{"web", golden_pool_template(),
                                   R"({"image":{"uri":"python:3.12-slim"},"entrypoint":["python","-m","http.server"]})",
                                   PoolCapacity{1, 4, 2, 8}})},
      {"PoolCapacityChanged.v1",
       golden_envelope(2, "pool-web", 2, Reason::kUser, "api:key-1", "req-2",
                       PoolCapacityChanged{PoolCapacity{0, 2, 0, 3}})},
      {"PoolDeleted.v1", golden_envelope(3, "pool-web", 3, Reason::kUser, "api:key-1", "req-4",
                                         PoolDeleted{})},
  };
}

TEST(Golden, EveryGoldenFileDecodesToItsExpectedEvent) {
  for (const auto& [name, expected] : golden_expectations()) {
    const auto path = kGoldenDir / (name + ".json");
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    const auto e = decode_event(read_file(path));
    ASSERT_TRUE(e) << name << ": " << e.error().message;
    EXPECT_EQ(*e, expected) << name;
  }
}

TEST(Golden, EveryFileInTheGoldenDirHasAnExpectation) {
  std::set<std::string> expected;
  for (const auto& [name, _] : golden_expectations()) expected.insert(name + ".json");
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kGoldenDir)) {
    EXPECT_TRUE(expected.contains(entry.path().filename().string())) << entry.path();
    ++n;
  }
  EXPECT_EQ(n, expected.size());
}

TEST(Golden, EveryCurrentTypeHasAGoldenFileForEachSchemaVersion) {
  for (const EventData& data : samples()) {
    const std::string type(event_type(data));
    const int current = current_schema(type);
    for (int v = 1; v <= current; ++v) {
      const auto path = kGoldenDir / (type + ".v" + std::to_string(v) + ".json");
      EXPECT_TRUE(std::filesystem::exists(path)) << "missing golden file " << path;
    }
  }
}

// The current-schema golden files are exactly what the encoder writes today: a change of
// the on-disk format shows up here and needs a new schema version.
TEST(Golden, EncodingTheExpectedEventReproducesTheCurrentGoldenFile) {
  for (const auto& [name, expected] : golden_expectations()) {
    const std::string type(expected.type());
    if (name != type + ".v" + std::to_string(current_schema(type))) continue;
    const auto golden = nlohmann::json::parse(read_file(kGoldenDir / (name + ".json")));
    EXPECT_EQ(nlohmann::json::parse(encode_event(expected)), golden) << name;
  }
}

TEST(Codec, SandboxStartedWritesTheAddressOnlyWhenKnown) {
  Event e = decode_event(with("")).value();
  EXPECT_EQ(std::get<SandboxStarted>(e.data).address, "");
  EXPECT_EQ(encode_event(e).find("address"), std::string::npos);  // Docker: as before

  e.data = SandboxStarted{"sandbox-x", "10.244.0.12"};
  const std::string json = encode_event(e);
  EXPECT_NE(json.find(R"("data":{"runtimeId":"sandbox-x","address":"10.244.0.12"})"),
            std::string::npos)
      << json;
  const auto back = decode_event(json);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->schema, 1) << "an optional addition, not a new schema";
  EXPECT_EQ(std::get<SandboxStarted>(back->data), (SandboxStarted{"sandbox-x", "10.244.0.12"}));
  expect_data_loss(with(R"("data":{"runtimeId":"c","address":7})"), "data.address");
}

// --- pool projection record -------------------------------------------------------------

Pool full_pool() {
  Pool p;
  p.name = "web";
  p.version = 7;
  p.generation = 4;
  p.template_spec = pool_template();
  p.template_json = R"({"image":{"uri":"python:3.12-slim"},"env":{"MODE":"warm"}})";
  p.capacity = PoolCapacity{1, 4, 2, 8};
  p.created_at = kT;
  p.updated_at = kT + 5;
  return p;
}

TEST(Codec, PoolRoundTripsAndNeverWritesDeleted) {
  const Pool p = full_pool();
  const std::string json = encode_pool(p);
  EXPECT_EQ(json.find("deleted"), std::string::npos);
  const auto back = decode_pool(json);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, p);
  Pool minimal;
  minimal.name = "w";
  minimal.generation = 1;
  const auto min_back = decode_pool(encode_pool(minimal));
  ASSERT_TRUE(min_back) << min_back.error().message;
  EXPECT_EQ(*min_back, minimal);
}

TEST(Codec, MalformedPoolRecordsFailWithDataLoss) {
  const std::string good = encode_pool(full_pool());
  for (const std::string& bad :
       {std::string(""), std::string("{}"), std::string("[1]"), good.substr(0, good.size() / 2),
        std::string(R"({"name":"w","generation":1})"),
        std::string(R"({"name":"w","capacity":{}})"),
        std::string(R"({"generation":1,"capacity":{}})"),
        std::string(R"({"name":"","generation":1,"capacity":{}})"),
        std::string(R"({"name":"w","generation":1,"capacity":{},"schema":2})"),
        std::string(R"({"name":"w","generation":-1,"capacity":{}})"),
        std::string(R"({"name":"w","generation":1,"capacity":{"bufferMax":1.5}})"),
        std::string(R"({"name":"w","generation":1,"capacity":{},"templateSpec":[]})")}) {
    const auto r = decode_pool(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kDataLoss) << bad;
  }
}

TEST(Codec, SandboxRecordWithoutAddressDecodesAsNoAddress) {
  // A record written before the field existed (every Docker record too).
  const auto old = decode_sandbox(
      R"({"schema":1,"id":"a","version":3,"state":"Running","runtimeId":"c","spec":{}})");
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_EQ(old->address, "");
  EXPECT_EQ(old->runtime_id, "c");
  const auto k8s = decode_sandbox(
      R"({"schema":1,"id":"a","state":"Running","runtimeId":"p","address":"10.0.0.9","spec":{}})");
  ASSERT_TRUE(k8s) << k8s.error().message;
  EXPECT_EQ(k8s->address, "10.0.0.9");
}

TEST(Upcast, SandboxRequestedV2CredentialsAreDroppedAndNeverReEncoded) {
  for (int schema : {1, 2}) {
    const auto e = decode_event(
        R"({"stream":"sandbox-a","type":"SandboxRequested","schema":)" + std::to_string(schema) +
        R"(,"time":"2026-03-01T12:00:00Z","data":{"sandboxId":"a","spec":{"imageUri":"alpine",
            "imageAuth":{"username":"bob","password":"s3cret"}},"metadata":{}}})");
    ASSERT_TRUE(e) << e.error().message;
    EXPECT_EQ(e->schema, 3);
    EXPECT_TRUE(std::get<SandboxRequested>(e->data).spec.image_auth_provided);
    const std::string again = encode_event(*e);
    EXPECT_EQ(again.find("s3cret"), std::string::npos) << again;
    EXPECT_EQ(again.find("bob"), std::string::npos) << again;
    EXPECT_NE(again.find(R"("imageAuth":{"provided":true})"), std::string::npos) << again;
  }
  // What migration 3 leaves in a v2 event decodes the same way.
  const auto scrubbed = decode_event(
      R"({"stream":"sandbox-a","type":"SandboxRequested","schema":2,"time":"2026-03-01T12:00:00Z",
          "data":{"sandboxId":"a","spec":{"imageUri":"alpine","imageAuth":{"provided":true}}}})");
  ASSERT_TRUE(scrubbed) << scrubbed.error().message;
  EXPECT_TRUE(std::get<SandboxRequested>(scrubbed->data).spec.image_auth_provided);
  // A sandbox record written before the store's schema 3 (migration 3 rewrites those).
  const auto record = decode_sandbox(
      R"({"id":"a","state":"Pending","spec":{"imageAuth":{"username":"u","password":"p"}}})");
  ASSERT_TRUE(record) << record.error().message;
  EXPECT_TRUE(record->spec.image_auth_provided);
  EXPECT_EQ(encode_sandbox(*record).find(R"("password")"), std::string::npos);
}

TEST(Upcast, SandboxRequestedV1WithoutTimeoutHasNoExpiry) {
  const auto e = decode_event(
      R"({"stream":"sandbox-a","type":"SandboxRequested","schema":1,"time":"2026-03-01T12:00:00Z",
          "data":{"sandboxId":"a","spec":{"imageUri":"alpine"},"metadata":{}}})");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->schema, 3);
  const auto& r = std::get<SandboxRequested>(e->data);
  EXPECT_FALSE(r.expires_at.has_value());
  EXPECT_FALSE(r.spec.timeout_seconds.has_value());
  EXPECT_EQ(r.spec.image_uri, "alpine");
}

TEST(Upcast, SandboxRequestedV1ExpiryIsEventTimePlusTimeout) {
  const auto e = decode_event(
      R"({"stream":"sandbox-a","type":"SandboxRequested","schema":1,
          "time":"2026-03-01T12:00:00.5Z","data":{"timeoutSeconds":90}})");
  ASSERT_TRUE(e) << e.error().message;
  const auto& r = std::get<SandboxRequested>(e->data);
  EXPECT_EQ(r.expires_at, parse_rfc3339("2026-03-01T12:01:30.5Z"));
  EXPECT_EQ(r.spec.timeout_seconds, 90);
}

TEST(Codec, SandboxAdoptedIsRunningOrPausedOnly) {
  Event e = envelope(SandboxAdopted{"sb1", "c0ffee", minimal_spec(), {}, std::nullopt,
                                    SandboxState::kRunning, 0, "opensandbox-server"});
  std::string json = encode_event(e);
  const auto pos = json.find(R"("state":"Running")");
  ASSERT_NE(pos, std::string::npos) << json;
  for (const char* bad_state : {"Pending", "Terminated", "Sleeping"}) {
    std::string broken = json;
    broken.replace(pos, std::string(R"("state":"Running")").size(),
                   std::string(R"("state":")") + bad_state + "\"");
    const auto back = decode_event(broken);
    ASSERT_FALSE(back) << bad_state;
    EXPECT_EQ(back.error().code, ErrorCode::kDataLoss);
    EXPECT_NE(back.error().message.find("data.state"), std::string::npos)
        << back.error().message;
  }
}

}  // namespace
}  // namespace sbx
