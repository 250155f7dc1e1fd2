#include "src/service/sandbox_service.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <set>
#include <thread>

#include "src/common/uuid.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

using namespace std::chrono_literals;

ServiceOptions bridge_options() {
  ServiceOptions o;
  o.network_mode = "bridge";
  o.port_range_low = 42000;
  o.port_range_high = 42999;
  o.probe_host_ports = false;
  o.endpoint_rules.host = "127.0.0.1";
  o.mutation_threads = 4;
  return o;
}

CreateRequest image_request(std::map<std::string, std::string> metadata = {}) {
  CreateRequest r;
  r.spec.image_uri = "busybox:latest";
  r.spec.entrypoint = {"sleep", "infinity"};
  r.spec.resource_limits = {{"cpu", "500m"}, {"memory", "512Mi"}};
  r.metadata = std::move(metadata);
  r.timeout_seconds = 3600;
  return r;
}

const RequestContext kUser{"req-1", "api"};
const RequestContext kWorker{"", "worker:test"};

class SandboxServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { open_store(); }

  void open_store() {
    auto s = EventStore::open(StoreOptions{.path = dir_.str(), .sync = false});
    ASSERT_TRUE(s.has_value()) << s.error().message;
    store_ = std::move(*s);
  }
  std::unique_ptr<SandboxService> make(ServiceOptions o) {
    return std::make_unique<SandboxService>(*store_, clock_, std::move(o));
  }
  // Restart: the service and the store go away and come back on the same directory.
  std::unique_ptr<SandboxService> restart(std::unique_ptr<SandboxService> svc, ServiceOptions o) {
    svc.reset();
    store_.reset();
    open_store();
    return make(std::move(o));
  }

  testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<EventStore> store_;
};

TEST_F(SandboxServiceTest, CreateAppendsSandboxRequestedWithEnvelopeAndAllocatedPorts) {
  auto svc = make(bridge_options());
  auto created = svc->create(image_request({{"team", "ml"}}), kUser);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  const Sandbox& sb = created->sandbox;
  EXPECT_TRUE(is_uuid(sb.id));
  EXPECT_EQ(sb.state, SandboxState::kPending);
  EXPECT_EQ(sb.version, 1u);
  EXPECT_EQ(sb.created_at, clock_.now());
  ASSERT_TRUE(sb.expires_at.has_value());
  EXPECT_EQ(*sb.expires_at, clock_.now() + 3600 * kMicrosPerSecond);
  EXPECT_EQ(sb.spec.network_mode, "bridge");
  ASSERT_EQ(sb.spec.ports.size(), 2u);
  EXPECT_TRUE(sb.spec.ports.contains(44772));
  EXPECT_TRUE(sb.spec.ports.contains(8080));
  EXPECT_NE(sb.spec.ports.at(44772), sb.spec.ports.at(8080));

  auto events = store_->read_stream(stream_of(sb.id));
  ASSERT_TRUE(events.has_value());
  ASSERT_EQ(events->size(), 1u);
  const Event& e = events->front();
  EXPECT_EQ(e.type(), "SandboxRequested");
  EXPECT_EQ(e.request_id, "req-1");
  EXPECT_EQ(e.actor, "api");
  EXPECT_EQ(e.reason, Reason::kUser);
  EXPECT_TRUE(is_uuid(e.event_id));
  EXPECT_EQ(e.time, clock_.now());
  const auto& requested = std::get<SandboxRequested>(e.data);
  EXPECT_EQ(requested.spec.ports, sb.spec.ports);
  EXPECT_EQ(requested.metadata.at("team"), "ml");
  // The projection agrees with the answer.
  auto projected = svc->get(sb.id);
  ASSERT_TRUE(projected);
  EXPECT_EQ(*projected, sb);
}

// image.auth goes to the store's secrets area with the create, never into the event or the
// projection, which record only that it was given.
TEST_F(SandboxServiceTest, CreateKeepsRegistryCredentialsOutOfTheLog) {
  auto svc = make(bridge_options());
  auto r = image_request();
  r.image_auth = ImageAuth{"robot", "hunter2-registry"};
  auto created = svc->create(r, kUser);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  EXPECT_TRUE(created->sandbox.spec.image_auth_provided);
  auto events = store_->read_stream(stream_of(created->sandbox.id));
  ASSERT_TRUE(events.has_value());
  EXPECT_TRUE(std::get<SandboxRequested>(events->front().data).spec.image_auth_provided);
  EXPECT_TRUE(svc->get(created->sandbox.id)->spec.image_auth_provided);
  auto secrets = store_->sandbox_secrets(created->sandbox.id);
  ASSERT_TRUE(secrets && secrets->has_value());
  EXPECT_EQ((*secrets)->image_auth, (ImageAuth{"robot", "hunter2-registry"}));

  auto plain = svc->create(image_request(), kUser);
  ASSERT_TRUE(plain.has_value());
  EXPECT_FALSE(plain->sandbox.spec.image_auth_provided);
  EXPECT_EQ(*store_->sandbox_secrets(plain->sandbox.id), std::nullopt);
}

TEST_F(SandboxServiceTest, ManualCleanupCreateHasNoExpiry) {
  auto svc = make(bridge_options());
  auto r = image_request();
  r.timeout_seconds.reset();
  auto created = svc->create(r, kUser);
  ASSERT_TRUE(created.has_value());
  EXPECT_FALSE(created->sandbox.expires_at.has_value());
}

TEST_F(SandboxServiceTest, FieldsThisVersionCannotHonourAreRefusedBeforeAnyAppend) {
  auto svc = make(bridge_options());
  const std::uint64_t head = store_->head();
  CreateRequest snapshot;
  snapshot.spec.snapshot_id = "snap-1";
  snapshot.spec.resource_limits = {{"cpu", "1"}};
  auto c = svc->create(snapshot, kUser);  // no such snapshot
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(c.error().field, "snapshotId");

  // Host volumes with no storage.allowed_host_paths; ossfs, which no runtime mounts.
  auto volumes = image_request();
  volumes.spec.volumes_json = R"([{"name":"v","host":{"path":"/tmp"},"mountPath":"/data"}])";
  c = svc->create(volumes, kUser);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(c.error().field, "volumes[0].host.path");
  EXPECT_TRUE(c.error().message.starts_with("VOLUME::HOST_PATH_NOT_ALLOWED: ")) << c.error().message;
  auto ossfs = image_request();
  ossfs.spec.volumes_json =
      R"([{"name":"p","pvc":{"claimName":"c"},"mountPath":"/c"},)"
      R"({"name":"o","ossfs":{"bucket":"b"},"mountPath":"/o"}])";
  c = svc->create(ossfs, kUser);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kUnimplemented);
  EXPECT_EQ(c.error().field, "volumes[1].ossfs");
  EXPECT_TRUE(c.error().message.starts_with("VOLUME::UNSUPPORTED_BACKEND: ")) << c.error().message;

  EXPECT_EQ(store_->head(), head) << "a refused create appended something";
  EXPECT_TRUE(svc->create(image_request(), kUser).has_value());
}

// Host volumes are checked on the real file system before the append: under the
// allowlist after resolving links, and present; the spec is recorded as given.
TEST_F(SandboxServiceTest, HostVolumesAreCheckedAgainstTheAllowlistBeforeAnyAppend) {
  testing::TempDir root("sbx-svc-volumes");
  std::filesystem::create_directories(root / "allowed" / "data");
  std::filesystem::create_directories(root / "outside");
  std::filesystem::create_directory_symlink(root / "outside", root / "allowed" / "escape");
  auto o = bridge_options();
  o.allowed_host_paths = {(root / "allowed").string()};
  auto svc = make(o);
  const std::uint64_t head = store_->head();
  auto with_path = [&](const std::string& path) {
    auto r = image_request();
    r.spec.volumes_json = R"([{"name":"c","pvc":{"claimName":"c"},"mountPath":"/c"},)"
                          R"({"name":"v","host":{"path":")" +
                          path + R"("},"mountPath":"/data"}])";
    return r;
  };
  struct Case {
    std::string path;
    std::string code;
  };
  for (const Case& k : {Case{(root / "outside").string(), "VOLUME::HOST_PATH_NOT_ALLOWED"},
                        Case{(root / "allowed" / "escape").string(), "VOLUME::HOST_PATH_NOT_ALLOWED"},
                        Case{(root / "allowed" / "missing").string(), "VOLUME::HOST_PATH_NOT_FOUND"}}) {
    auto c = svc->create(with_path(k.path), kUser);
    ASSERT_FALSE(c.has_value()) << k.path;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(c.error().field, "volumes[1].host.path");
    EXPECT_TRUE(c.error().message.starts_with(k.code + ": volumes[1].host.path")) << c.error().message;
  }
  EXPECT_EQ(store_->head(), head) << "a refused create appended something";
  auto ok = svc->create(with_path((root / "allowed" / "data").string()), kUser);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->sandbox.spec.volumes_json, with_path((root / "allowed" / "data").string()).spec.volumes_json);

  // sandboxd's own volumes (the execd volume) are not a sandbox's to mount.
  auto own = image_request();
  own.spec.volumes_json =
      R"([{"name":"x","pvc":{"claimName":"sandboxd-execd-abc"},"mountPath":"/x"}])";
  auto refused = svc->create(own, kUser);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().field, "volumes[0].pvc.claimName");
  EXPECT_TRUE(refused.error().message.starts_with("VOLUME::INVALID_PVC_NAME: "))
      << refused.error().message;

  // Kubernetes does not mount volumes in this version: refused at once, with a code.
  auto k = bridge_options();
  k.runtime_type = "kubernetes";
  k.allowed_host_paths = o.allowed_host_paths;
  svc.reset();
  auto kube = make(k);
  auto c = kube->create(with_path((root / "allowed" / "data").string()), kUser);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kUnimplemented);
  EXPECT_TRUE(c.error().message.starts_with("VOLUME::NOT_SUPPORTED: ")) << c.error().message;
}

TEST_F(SandboxServiceTest, TimeoutAboveTheServerCapIsInvalidArgumentNamingTimeout) {
  auto o = bridge_options();
  o.max_sandbox_timeout_seconds = 600;
  auto svc = make(o);
  auto r = image_request();
  r.timeout_seconds = 601;
  auto created = svc->create(r, kUser);
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(created.error().field, "timeout");
  EXPECT_NE(created.error().message.find("max_sandbox_timeout_seconds"), std::string::npos);
  r.timeout_seconds = 600;
  EXPECT_TRUE(svc->create(r, kUser).has_value());
}

TEST_F(SandboxServiceTest, NetworkPolicyNeedsBridgeModeAndAnEgressImage) {
  auto r = image_request();
  r.spec.network_policy_json = R"({"defaultAction":"deny"})";
  {
    auto svc = make(bridge_options());  // bridge, no egress image
    auto c = svc->create(r, kUser);
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error().field, "networkPolicy");
    EXPECT_NE(c.error().message.find("egress.image"), std::string::npos);
    EXPECT_EQ(c.error().message.find("docker.network_mode"), std::string::npos);
  }
  {
    auto o = bridge_options();
    o.network_mode = "host";
    o.egress_image = "opensandbox/egress:v1";
    auto svc = make(o);
    auto c = svc->create(r, kUser);
    ASSERT_FALSE(c.has_value());
    EXPECT_NE(c.error().message.find("docker.network_mode"), std::string::npos);
    EXPECT_EQ(c.error().message.find("egress.image"), std::string::npos);
  }
  {
    // Bridge mode and an egress image: accepted, with a host port for the sidecar's 18080
    // besides the published ones, recorded like them.
    auto o = bridge_options();
    o.egress_image = "opensandbox/egress:v1";
    auto svc = make(o);
    auto c = svc->create(r, kUser);
    ASSERT_TRUE(c.has_value()) << c.error().message;
    EXPECT_EQ(c->sandbox.spec.ports.size(), o.published_ports.size() + 1);
    EXPECT_TRUE(c->sandbox.spec.ports.contains(18080));
    // A sandbox without a policy gets no 18080.
    auto plain = r;
    plain.spec.network_policy_json.clear();
    auto p = svc->create(plain, kUser);
    ASSERT_TRUE(p.has_value());
    EXPECT_FALSE(p->sandbox.spec.ports.contains(18080));
  }
  {
    // Kubernetes: refused at once (no egress sidecar there), nothing appended.
    auto o = bridge_options();
    o.egress_image = "opensandbox/egress:v1";
    o.runtime_type = "kubernetes";
    o.network_mode = "pod";
    auto svc = make(o);
    auto c = svc->create(r, kUser);
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error().code, ErrorCode::kUnimplemented);
    EXPECT_EQ(c.error().field, "networkPolicy");
  }
}

// The server proxy's hooks: where a proxied request connects, and renew-intent.
TEST_F(SandboxServiceTest, ProxyTargetIsThePublishedPortOfARunningSandbox) {
  auto svc = make(bridge_options());
  auto c = svc->create(image_request(), kUser);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  const std::string id = c->sandbox.id;
  auto pending = svc->proxy_target(id, 8080);
  ASSERT_FALSE(pending);
  EXPECT_EQ(pending.error().field, "state");
  ASSERT_TRUE(svc->execute(id, RecordStarted{"c1"}, kWorker).has_value());
  auto t = svc->proxy_target(id, 8080);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, c->sandbox.spec.ports.at(8080));
  EXPECT_EQ(svc->proxy_target("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 8080).error().code,
            ErrorCode::kNotFound);
  ASSERT_TRUE(svc->execute(id, DeleteSandbox{}, kUser).has_value());
  ASSERT_TRUE(svc->execute(id, RecordTerminated{}, kWorker).has_value());
  EXPECT_EQ(svc->proxy_target(id, 8080).error().code, ErrorCode::kNotFound);
}

TEST_F(SandboxServiceTest, ProxiedAccessRenewsAtMostOncePerIntervalWithTheExtension) {
  ServiceOptions o = bridge_options();
  o.renew_on_access = true;
  o.renew_min_interval = 60 * kMicrosPerSecond;
  auto svc = make(o);
  CreateRequest r = image_request();
  r.timeout_seconds = 600;
  r.spec.extensions_json = R"({"access.renew.extend.seconds":"1800"})";
  auto c = svc->create(r, kUser);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  const std::string id = c->sandbox.id;
  ASSERT_TRUE(svc->execute(id, RecordStarted{"c1"}, kWorker).has_value());
  auto plain = svc->create(image_request(), kUser);  // no extension: never renewed on access
  ASSERT_TRUE(plain.has_value());
  ASSERT_TRUE(svc->execute(plain->sandbox.id, RecordStarted{"c2"}, kWorker).has_value());

  auto expiry_of = [&](const std::string& sid) { return *svc->get(sid)->expires_at; };
  auto wait_for_expiry = [&](const std::string& sid, Micros want) {
    for (int i = 0; i < 500 && expiry_of(sid) != want; ++i) std::this_thread::sleep_for(10ms);
    return expiry_of(sid);
  };
  const Micros first = clock_.now() + 1800 * kMicrosPerSecond;
  svc->note_proxy_access(id);
  EXPECT_EQ(wait_for_expiry(id, first), first);
  auto events = store_->read_stream(stream_of(id));
  ASSERT_TRUE(events.has_value());
  ASSERT_TRUE(std::holds_alternative<ExpirationRenewed>(events->back().data));
  EXPECT_EQ(events->back().actor, "proxy:renew-intent");

  // Within the interval: nothing, however many requests.
  clock_.advance(30 * kMicrosPerSecond);
  for (int i = 0; i < 20; ++i) svc->note_proxy_access(id);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(expiry_of(id), first);
  EXPECT_EQ(svc->access_renewals(), 1u);
  // After it: once more, to now + 1800.
  clock_.advance(31 * kMicrosPerSecond);
  const Micros second = clock_.now() + 1800 * kMicrosPerSecond;
  svc->note_proxy_access(id);
  EXPECT_EQ(wait_for_expiry(id, second), second);
  EXPECT_EQ(svc->access_renewals(), 2u);

  const Micros plain_expiry = expiry_of(plain->sandbox.id);
  svc->note_proxy_access(plain->sandbox.id);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(expiry_of(plain->sandbox.id), plain_expiry);
  EXPECT_EQ(svc->access_renewals(), 2u);
}

TEST_F(SandboxServiceTest, ProxiedAccessNeverRenewsWhenRenewIntentIsOff) {
  auto svc = make(bridge_options());
  CreateRequest r = image_request();
  r.spec.extensions_json = R"({"access.renew.extend.seconds":"7200"})";
  auto c = svc->create(r, kUser);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(svc->execute(c->sandbox.id, RecordStarted{"c1"}, kWorker).has_value());
  const Micros before = *svc->get(c->sandbox.id)->expires_at;
  svc->note_proxy_access(c->sandbox.id);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(*svc->get(c->sandbox.id)->expires_at, before);
  EXPECT_EQ(svc->access_renewals(), 0u);
}

TEST_F(SandboxServiceTest, SecureAccessIsRefusedOnDocker) {
  auto svc = make(bridge_options());
  auto r = image_request();
  r.secure_access = true;
  auto c = svc->create(r, kUser);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(c.error().field, "secureAccess");
}

TEST_F(SandboxServiceTest, HostModeHoldsOneLiveSandboxAndFreesTheSlotWhenItTerminates) {
  auto o = bridge_options();
  o.network_mode = "host";
  auto svc = make(o);
  auto first = svc->create(image_request(), kUser);
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->sandbox.spec.ports.empty());
  EXPECT_EQ(first->sandbox.spec.network_mode, "host");

  auto second = svc->create(image_request(), kUser);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, ErrorCode::kConflict);
  EXPECT_EQ(second.error().field, "docker.network_mode");
  EXPECT_NE(second.error().message.find("docker.network_mode"), std::string::npos);
  EXPECT_NE(second.error().message.find("bridge"), std::string::npos);

  const std::string id = first->sandbox.id;
  ASSERT_TRUE(svc->execute(id, RecordStarted{"c1"}, kWorker).has_value());
  ASSERT_TRUE(svc->execute(id, DeleteSandbox{}, kUser).has_value());
  EXPECT_FALSE(svc->create(image_request(), kUser).has_value());  // Stopping still holds it
  ASSERT_TRUE(svc->execute(id, RecordTerminated{0, "stopped"}, kWorker).has_value());
  EXPECT_TRUE(svc->create(image_request(), kUser).has_value());
}

TEST_F(SandboxServiceTest, HostSlotIsSeededFromTheProjectionAfterARestart) {
  auto o = bridge_options();
  o.network_mode = "host";
  auto svc = make(o);
  ASSERT_TRUE(svc->create(image_request(), kUser).has_value());
  svc = restart(std::move(svc), o);
  auto again = svc->create(image_request(), kUser);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().field, "docker.network_mode");
}

TEST_F(SandboxServiceTest, PortsAreReleasedWhenTheSandboxFailsOrTerminates) {
  auto svc = make(bridge_options());
  auto a = svc->create(image_request(), kUser);
  auto b = svc->create(image_request(), kUser);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(svc->ports().used_count(), 4u);
  ASSERT_TRUE(svc->execute(a->sandbox.id,
                           RecordProvisioningFailed{"DOCKER::SANDBOX_IMAGE_PULL_FAILED", "no"},
                           kWorker)
                  .has_value());
  EXPECT_EQ(svc->ports().used_count(), 2u);
  EXPECT_TRUE(svc->ports().ports_of(a->sandbox.id).empty());
  ASSERT_TRUE(svc->execute(b->sandbox.id, RecordStarted{"c"}, kWorker).has_value());
  ASSERT_TRUE(svc->execute(b->sandbox.id, DeleteSandbox{}, kUser).has_value());
  EXPECT_EQ(svc->ports().used_count(), 2u);  // Stopping keeps them
  ASSERT_TRUE(svc->execute(b->sandbox.id, RecordTerminated{}, kWorker).has_value());
  EXPECT_EQ(svc->ports().used_count(), 0u);
}

TEST_F(SandboxServiceTest, PortsOfLiveSandboxesAreSeededAtStartup) {
  auto o = bridge_options();
  o.port_range_high = o.port_range_low + 3;  // room for exactly two sandboxes
  auto svc = make(o);
  auto a = svc->create(image_request(), kUser);
  auto b = svc->create(image_request(), kUser);
  ASSERT_TRUE(a && b);
  svc = restart(std::move(svc), o);
  EXPECT_EQ(svc->ports().used_count(), 4u);
  auto c = svc->create(image_request(), kUser);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kResourceExhausted);
  // Terminating one frees room for one more.
  ASSERT_TRUE(
      svc->execute(a->sandbox.id, RecordFailed{"DOCKER::X", "died", 137}, kWorker).has_value());
  EXPECT_TRUE(svc->create(image_request(), kUser).has_value());
}

TEST_F(SandboxServiceTest, ParallelCreatesGetDistinctIdsAndNeverShareAHostPort) {
  auto svc = make(bridge_options());
  constexpr int kThreads = 8, kPer = 25;
  std::vector<std::future<std::vector<Sandbox>>> futures;
  for (int t = 0; t < kThreads; ++t) {
    futures.push_back(std::async(std::launch::async, [&] {
      std::vector<Sandbox> out;
      for (int i = 0; i < kPer; ++i) {
        auto c = svc->create(image_request(), kUser);
        EXPECT_TRUE(c.has_value());
        if (c) out.push_back(c->sandbox);
      }
      return out;
    }));
  }
  std::set<std::string> ids;
  std::set<int> ports;
  for (auto& f : futures) {
    for (const auto& sb : f.get()) {
      EXPECT_TRUE(ids.insert(sb.id).second);
      for (auto [c, h] : sb.spec.ports) EXPECT_TRUE(ports.insert(h).second) << "host port " << h;
    }
  }
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kThreads * kPer));
  EXPECT_EQ(store_->live_sandbox_count(), static_cast<std::size_t>(kThreads * kPer));
}

TEST_F(SandboxServiceTest, IdempotencyKeyReturnsTheSameSandboxAlsoAfterARestart) {
  auto o = bridge_options();
  auto svc = make(o);
  auto r = image_request();
  r.idempotency_key = "key-1";
  auto first = svc->create(r, kUser);
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(first->replayed);
  auto second = svc->create(r, kUser);
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE(second->replayed);
  EXPECT_EQ(second->sandbox.id, first->sandbox.id);
  EXPECT_EQ(second->http_status, 202);

  svc = restart(std::move(svc), o);
  auto third = svc->create(r, kUser);
  ASSERT_TRUE(third.has_value());
  EXPECT_TRUE(third->replayed);
  EXPECT_EQ(third->sandbox.id, first->sandbox.id);
  EXPECT_EQ(store_->live_sandbox_count(), 1u);

  // Another key creates another sandbox; the key expires after 24 h.
  r.idempotency_key = "key-2";
  auto other = svc->create(r, kUser);
  ASSERT_TRUE(other.has_value());
  EXPECT_NE(other->sandbox.id, first->sandbox.id);
  clock_.advance(24LL * 3600 * kMicrosPerSecond + 1);
  r.idempotency_key = "key-1";
  auto expired = svc->create(r, kUser);
  ASSERT_TRUE(expired.has_value());
  EXPECT_FALSE(expired->replayed);
  EXPECT_NE(expired->sandbox.id, first->sandbox.id);
}

TEST_F(SandboxServiceTest, ConcurrentCreatesWithOneIdempotencyKeyCreateOneSandbox) {
  auto svc = make(bridge_options());
  auto r = image_request();
  r.idempotency_key = "same";
  std::vector<std::future<std::string>> futures;
  for (int i = 0; i < 16; ++i) {
    futures.push_back(std::async(std::launch::async, [&] {
      auto c = svc->create(r, kUser);
      return c ? c->sandbox.id : std::string("error");
    }));
  }
  std::set<std::string> ids;
  for (auto& f : futures) ids.insert(f.get());
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(store_->live_sandbox_count(), 1u);
}

TEST_F(SandboxServiceTest, IdempotentReplayOfADeletedSandboxAnswersWithItsLastState) {
  auto svc = make(bridge_options());
  auto r = image_request();
  r.idempotency_key = "gone";
  auto c = svc->create(r, kUser);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(svc->execute(c->sandbox.id, DeleteSandbox{}, kUser).has_value());
  ASSERT_TRUE(svc->execute(c->sandbox.id, RecordTerminated{}, kWorker).has_value());
  auto again = svc->create(r, kUser);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->sandbox.id, c->sandbox.id);
  EXPECT_EQ(again->sandbox.state, SandboxState::kTerminated);
}

TEST_F(SandboxServiceTest, ExecuteRecordsEnvelopeAndReturnsTheNewState) {
  auto svc = make(bridge_options());
  auto c = svc->create(image_request(), kUser);
  ASSERT_TRUE(c.has_value());
  const std::string id = c->sandbox.id;
  clock_.advance(kMicrosPerSecond);
  auto started = svc->execute(id, RecordStarted{"container-1"}, kWorker);
  ASSERT_TRUE(started.has_value());
  EXPECT_EQ(started->sandbox.state, SandboxState::kRunning);
  EXPECT_EQ(started->sandbox.runtime_id, "container-1");
  EXPECT_EQ(started->events, 1u);
  EXPECT_EQ(started->last_position, store_->head());
  EXPECT_EQ(*svc->get(id), started->sandbox);

  auto paused = svc->execute(id, PauseSandbox{}, RequestContext{"req-9", "api"});
  ASSERT_TRUE(paused.has_value());
  EXPECT_EQ(paused->sandbox.state, SandboxState::kPausing);
  auto events = store_->read_stream(stream_of(id));
  ASSERT_TRUE(events.has_value());
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[1].reason, Reason::kRuntime);
  EXPECT_EQ((*events)[1].actor, "worker:test");
  EXPECT_EQ((*events)[2].type(), "PauseRequested");
  EXPECT_EQ((*events)[2].request_id, "req-9");
  EXPECT_EQ((*events)[2].time, clock_.now());
}

TEST_F(SandboxServiceTest, OutcomeAlreadyRecordedAppendsNothing) {
  auto svc = make(bridge_options());
  auto c = svc->create(image_request(), kUser);
  ASSERT_TRUE(svc->execute(c->sandbox.id, RecordStarted{"c"}, kWorker).has_value());
  const auto head = store_->head();
  auto again = svc->execute(c->sandbox.id, RecordStarted{"c"}, kWorker);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->events, 0u);
  EXPECT_EQ(again->last_position, 0u);
  EXPECT_EQ(store_->head(), head);
}

TEST_F(SandboxServiceTest, DecisionErrorsComeBackTyped) {
  auto svc = make(bridge_options());
  auto missing = svc->execute(new_uuid(), PauseSandbox{}, kUser);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

  auto c = svc->create(image_request(), kUser);
  auto pause_pending = svc->execute(c->sandbox.id, PauseSandbox{}, kUser);
  ASSERT_FALSE(pause_pending.has_value());
  EXPECT_EQ(pause_pending.error().code, ErrorCode::kFailedPrecondition);

  auto past = svc->execute(c->sandbox.id, RenewExpiration{clock_.now() - 1}, kUser);
  ASSERT_FALSE(past.has_value());
  EXPECT_EQ(past.error().code, ErrorCode::kInvalidArgument);

  auto r = image_request();
  r.timeout_seconds.reset();
  auto manual = svc->create(r, kUser);
  auto renew_manual = svc->execute(manual->sandbox.id, RenewExpiration{clock_.now() + 1000}, kUser);
  ASSERT_FALSE(renew_manual.has_value());
  EXPECT_EQ(renew_manual.error().code, ErrorCode::kFailedPrecondition);
}

TEST_F(SandboxServiceTest, ConcurrentCommandsOnOneSandboxAllLandThroughConflictRetries) {
  auto svc = make(bridge_options());
  auto c = svc->create(image_request(), kUser);
  ASSERT_TRUE(c.has_value());
  const std::string id = c->sandbox.id;
  constexpr int kWriters = 8;
  std::vector<std::future<bool>> futures;
  for (int i = 0; i < kWriters; ++i) {
    futures.push_back(std::async(std::launch::async, [&, i] {
      PatchMetadata p;
      p.patch["k" + std::to_string(i)] = "v";
      return svc->execute(id, p, kUser).has_value();
    }));
  }
  for (auto& f : futures) EXPECT_TRUE(f.get());
  auto sb = svc->get(id);
  ASSERT_TRUE(sb);
  EXPECT_EQ(sb->metadata.size(), static_cast<std::size_t>(kWriters));
  EXPECT_EQ(sb->version, 1u + kWriters);
}

TEST_F(SandboxServiceTest, RuntimeUnavailableRefusesRuntimeCommandsButNotOutcomesOrReads) {
  auto svc = make(bridge_options());
  auto c = svc->create(image_request(), kUser);
  ASSERT_TRUE(c.has_value());
  const std::string id = c->sandbox.id;
  svc->set_runtime_available(false);
  EXPECT_FALSE(svc->runtime_available());
  auto refused = svc->create(image_request(), kUser);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  auto started = svc->execute(id, RecordStarted{"c"}, kWorker);
  ASSERT_TRUE(started.has_value());
  auto pause = svc->execute(id, PauseSandbox{}, kUser);
  ASSERT_FALSE(pause.has_value());
  EXPECT_EQ(pause.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(svc->execute(id, DeleteSandbox{}, kUser).error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(
      svc->execute(id, DeleteSandbox{Reason::kExpired}, RequestContext{"", "expirer"}).has_value());
  EXPECT_TRUE(svc->get(id));
  EXPECT_EQ(svc->list(ListQuery{}).total_items, 1u);
  svc->set_runtime_available(true);
  EXPECT_TRUE(svc->create(image_request(), kUser).has_value());
}

ServiceOptions kubernetes_options() {
  ServiceOptions o;
  o.runtime_type = "kubernetes";
  o.pause_supported = false;
  o.network_mode = "pod";
  o.published_ports.clear();
  o.probe_host_ports = false;
  o.endpoint_rules.runtime = EndpointRuntime::kKubernetes;
  o.mutation_threads = 2;
  return o;
}

TEST_F(SandboxServiceTest, PauseAndResumeWithoutPauseSupportFailAtOnceAndAppendNothing) {
  auto svc = make(kubernetes_options());
  auto c = svc->create(image_request(), kUser);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  const std::string id = c->sandbox.id;
  ASSERT_TRUE(svc->execute(id, RecordStarted{"pod", "10.244.0.9"}, kWorker).has_value());
  const std::uint64_t head = store_->head();
  for (const Command& command : {Command{PauseSandbox{}}, Command{ResumeSandbox{}}}) {
    auto r = svc->execute(id, command, kUser);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kUnimplemented);
    EXPECT_EQ(r.error().field, "runtime.pause");
    EXPECT_EQ(r.error().message,
              "pause is not supported by the kubernetes runtime: Kubernetes cannot freeze a "
              "pod's processes; delete the sandbox or keep it running");
  }
  // The same answer for any sandbox, known or not: nothing about it is looked at.
  EXPECT_EQ(svc->execute(new_uuid(), PauseSandbox{}, kUser).error().code,
            ErrorCode::kUnimplemented);
  EXPECT_EQ(store_->head(), head);
  EXPECT_EQ(svc->get(id)->state, SandboxState::kRunning);
  // Docker keeps pausing.
  auto docker = restart(std::move(svc), bridge_options());
  EXPECT_TRUE(docker->execute(id, PauseSandbox{}, kUser).has_value());
}

TEST_F(SandboxServiceTest, PodsNeedNoHostSlotNorHostPorts) {
  auto svc = make(kubernetes_options());
  for (int i = 0; i < 3; ++i) {
    auto c = svc->create(image_request(), kUser);
    ASSERT_TRUE(c.has_value()) << c.error().message;
    EXPECT_EQ(c->sandbox.spec.network_mode, "pod");
    EXPECT_TRUE(c->sandbox.spec.ports.empty());
  }
}

TEST_F(SandboxServiceTest, FenceRefusesClientMutationsNamingTheHolderButNotReadsOrOutcomes) {
  auto svc = make(bridge_options());
  auto c = svc->create(image_request(), kUser);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  const std::string id = c->sandbox.id;
  EXPECT_FALSE(svc->fence_holder());
  svc->set_fence("the lease sandboxes/sandboxd is held by sandboxd-1");
  EXPECT_EQ(svc->fence_holder(), "the lease sandboxes/sandboxd is held by sandboxd-1");
  const std::uint64_t head = store_->head();

  auto expect_fenced = [&](const Result<CommandResult>& r, const char* what) {
    ASSERT_FALSE(r.has_value()) << what;
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << what;
    EXPECT_EQ(r.error().field, "lease") << what;
    EXPECT_EQ(r.error().message.rfind("the lease sandboxes/sandboxd is held by sandboxd-1", 0), 0u)
        << r.error().message;
  };
  auto created = svc->create(image_request(), kUser);
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.error().field, "lease");
  EXPECT_NE(created.error().message.find("sandboxd-1"), std::string::npos);
  expect_fenced(svc->execute(id, PauseSandbox{}, kUser), "pause");
  expect_fenced(svc->execute(id, ResumeSandbox{}, kUser), "resume");
  expect_fenced(svc->execute(id, RenewExpiration{clock_.now() + 7200 * kMicrosPerSecond}, kUser),
                "renew");
  expect_fenced(svc->execute(id, PatchMetadata{{{"a", std::string("b")}}}, kUser), "patch");
  expect_fenced(svc->execute(id, DeleteSandbox{}, kUser), "delete");
  EXPECT_EQ(store_->head(), head) << "a fenced instance appends nothing for a client";

  // Reads keep working; an outcome of a runtime call already made is still recorded.
  EXPECT_TRUE(svc->get(id));
  EXPECT_EQ(svc->list(ListQuery{}).total_items, 1u);
  EXPECT_TRUE(svc->endpoint(id, 44772).has_value());
  EXPECT_TRUE(svc->execute(id, RecordStarted{"c"}, kWorker).has_value());

  // Async mutations get the same answer.
  std::promise<Result<CommandResult>> done;
  svc->execute_async(id, PauseSandbox{}, kUser,
                     [&](Result<CommandResult> r) { done.set_value(std::move(r)); });
  expect_fenced(done.get_future().get(), "async pause");

  svc->set_fence(std::nullopt);
  EXPECT_FALSE(svc->fence_holder());
  EXPECT_TRUE(svc->execute(id, PauseSandbox{}, kUser).has_value());
  EXPECT_TRUE(svc->create(image_request(), kUser).has_value());
}

TEST_F(SandboxServiceTest, KubernetesEndpointsComeFromThePodIpInTheLog) {
  auto svc = make(kubernetes_options());
  auto c = svc->create(image_request(), kUser);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  const std::string id = c->sandbox.id;
  auto pending = svc->endpoint(id, 44772);
  ASSERT_FALSE(pending.has_value());
  EXPECT_EQ(pending.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(pending.error().message, "sandbox " + id +
                                         " has no pod IP yet (state Pending); its endpoints "
                                         "resolve once it is Running");
  ASSERT_TRUE(svc->execute(id, RecordStarted{"sandbox-" + id, "10.244.2.3"}, kWorker).has_value());
  EXPECT_EQ(svc->get(id)->address, "10.244.2.3");
  EXPECT_EQ(svc->endpoint(id, 44772)->endpoint, "10.244.2.3:44772");
  // After a restart the address comes back from the sandboxes column family.
  auto again = restart(std::move(svc), kubernetes_options());
  EXPECT_EQ(again->endpoint(id, 18080)->endpoint, "10.244.2.3:18080");

  auto gateway = kubernetes_options();
  gateway.endpoint_rules.ingress = IngressKind::kGateway;
  gateway.endpoint_rules.gateway_address = "gw.test";
  gateway.endpoint_rules.gateway_route = GatewayRoute::kHeader;
  auto gw = restart(std::move(again), gateway);
  auto other = gw->create(image_request(), kUser);
  ASSERT_TRUE(other.has_value());
  auto e = gw->endpoint(other->sandbox.id, 8080);  // Pending: resolves at once
  ASSERT_TRUE(e.has_value()) << e.error().message;
  EXPECT_EQ(e->endpoint, "gw.test");
  EXPECT_EQ(e->headers.at("OpenSandbox-Ingress-To"), other->sandbox.id + "-8080");
}

TEST_F(SandboxServiceTest, EndpointsFollowTheNetworkModeAndResolveWhilePending) {
  auto svc = make(bridge_options());
  auto c = svc->create(image_request(), kUser);
  ASSERT_TRUE(c.has_value());
  const auto& sb = c->sandbox;
  const int execd = sb.spec.ports.at(44772);
  const int http = sb.spec.ports.at(8080);
  auto e1 = svc->endpoint(sb.id, 44772);
  ASSERT_TRUE(e1.has_value());
  EXPECT_EQ(e1->endpoint, "127.0.0.1:" + std::to_string(execd) + "/proxy/44772");
  auto e2 = svc->endpoint(sb.id, 8080);
  ASSERT_TRUE(e2.has_value());
  EXPECT_EQ(e2->endpoint, "127.0.0.1:" + std::to_string(http));
  auto e3 = svc->endpoint(sb.id, 18080);
  ASSERT_TRUE(e3.has_value());
  EXPECT_EQ(e3->endpoint, "127.0.0.1:" + std::to_string(execd) + "/proxy/18080");
  EXPECT_EQ(svc->endpoint(sb.id, 0).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(svc->endpoint(sb.id, 65536).error().field, "port");
  EXPECT_EQ(svc->endpoint(new_uuid(), 80).error().code, ErrorCode::kNotFound);

  auto o = bridge_options();
  o.network_mode = "host";
  o.endpoint_rules.host = "10.1.2.3";
  auto host_svc = restart(std::move(svc), o);
  // The bridge sandbox keeps its bridge endpoints; a new host-mode sandbox uses host ports.
  EXPECT_EQ(host_svc->endpoint(sb.id, 8080)->endpoint, "10.1.2.3:" + std::to_string(http));
  ASSERT_TRUE(host_svc->execute(sb.id, DeleteSandbox{}, kUser).has_value());
  ASSERT_TRUE(host_svc->execute(sb.id, RecordTerminated{}, kWorker).has_value());
  auto h = host_svc->create(image_request(), kUser);
  ASSERT_TRUE(h.has_value()) << h.error().message;
  EXPECT_EQ(host_svc->endpoint(h->sandbox.id, 44772)->endpoint, "10.1.2.3:44772");
  EXPECT_EQ(host_svc->endpoint(h->sandbox.id, 18080)->endpoint, "10.1.2.3:18080");
}

TEST_F(SandboxServiceTest, ListFiltersSortsNewestFirstAndPaginates) {
  auto svc = make(bridge_options());
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    clock_.advance(kMicrosPerSecond);
    auto c = svc->create(
        image_request({{"team", i % 2 ? "odd" : "even"}, {"n", std::to_string(i)}}), kUser);
    ASSERT_TRUE(c.has_value());
    ids.push_back(c->sandbox.id);
  }
  ASSERT_TRUE(svc->execute(ids[1], RecordStarted{"c"}, kWorker).has_value());
  ASSERT_TRUE(svc->execute(ids[3], RecordStarted{"c"}, kWorker).has_value());

  auto all = svc->list(ListQuery{});
  ASSERT_EQ(all.items.size(), 5u);
  EXPECT_EQ(all.items.front()->id, ids[4]);
  EXPECT_EQ(all.items.back()->id, ids[0]);

  ListQuery running;
  running.states = {SandboxState::kRunning};
  auto r = svc->list(running);
  ASSERT_EQ(r.items.size(), 2u);
  EXPECT_EQ(r.items[0]->id, ids[3]);

  ListQuery either;
  either.states = {SandboxState::kRunning, SandboxState::kPending};
  EXPECT_EQ(svc->list(either).total_items, 5u);

  ListQuery odd_running;
  odd_running.states = {SandboxState::kRunning};
  odd_running.metadata = {{"team", "odd"}, {"n", "3"}};
  auto orr = svc->list(odd_running);
  ASSERT_EQ(orr.items.size(), 1u);
  EXPECT_EQ(orr.items[0]->id, ids[3]);

  ListQuery page2;
  page2.page = 2;
  page2.page_size = 2;
  auto p = svc->list(page2);
  EXPECT_EQ(p.total_items, 5u);
  EXPECT_EQ(p.total_pages, 3u);
  EXPECT_TRUE(p.has_next_page);
  ASSERT_EQ(p.items.size(), 2u);
  EXPECT_EQ(p.items[0]->id, ids[2]);
  page2.page = 3;
  auto last = svc->list(page2);
  EXPECT_FALSE(last.has_next_page);
  ASSERT_EQ(last.items.size(), 1u);
  page2.page = 9;
  EXPECT_TRUE(svc->list(page2).items.empty());
}

TEST_F(SandboxServiceTest, AsyncCreateAndWaitCompleteWhenAWorkerRecordsTheOutcome) {
  auto svc = make(bridge_options());
  std::promise<Result<CreateResult>> created;
  svc->create_async(image_request(), kUser,
                    [&](Result<CreateResult> r) { created.set_value(std::move(r)); });
  auto r = created.get_future().get();
  ASSERT_TRUE(r.has_value());
  const std::string id = r->sandbox.id;

  std::promise<std::pair<WaitOutcome, SandboxState>> done;
  svc->wait_async(
      id, [](const Sandbox& s) { return s.state != SandboxState::kPending; }, 10s,
      [&](WaitOutcome o, std::shared_ptr<const Sandbox> sb) {
        done.set_value({o, sb->state});
      });
  EXPECT_EQ(svc->pending_waits(), 1u);
  std::thread worker(
      [&] { ASSERT_TRUE(svc->execute(id, RecordStarted{"c"}, kWorker).has_value()); });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  worker.join();
  auto [outcome, state] = f.get();
  EXPECT_EQ(outcome, WaitOutcome::kSatisfied);
  EXPECT_EQ(state, SandboxState::kRunning);
}

TEST_F(SandboxServiceTest, AsyncCallsAfterShutdownFailAtOnceWithUnavailable) {
  auto svc = make(bridge_options());
  svc->shutdown();
  bool called = false;
  svc->execute_async(new_uuid(), PauseSandbox{}, kUser, [&](Result<CommandResult> r) {
    called = true;
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  });
  EXPECT_TRUE(called);
}

}  // namespace
}  // namespace sbx
