// What the warm-pool tests of the service and the workers stand on: a real EventStore in a
// temp dir with a SandboxService and a PoolService over it on a manual clock, the pool
// template they make pools from, and the create fields a create with poolRef may not
// change. Header-only: the test binaries that include it already link the services.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "src/common/clock.h"
#include "src/service/pool_service.h"
#include "src/service/sandbox_service.h"
#include "tests/support/temp_dir.h"

namespace sbx::testing {

inline const RequestContext kPoolUser{"req-1", "api:key"};

// Service options for the Docker bridge mode, host ports from [low, high], never probed.
inline ServiceOptions bridge_service_options(int low, int high) {
  ServiceOptions o;
  o.network_mode = "bridge";
  o.port_range_low = low;
  o.port_range_high = high;
  o.probe_host_ports = false;
  return o;
}

// Service options for Kubernetes (no host ports).
inline ServiceOptions kubernetes_service_options() {
  ServiceOptions o;
  o.runtime_type = "kubernetes";
  o.network_mode = "pod";
  o.published_ports.clear();
  o.probe_host_ports = false;
  return o;
}

// The pool template of the tests: busybox sleeping, two env entries, cpu and memory limits.
inline CreatePoolRequest pool_request(const std::string& name, PoolCapacity capacity) {
  CreatePoolRequest r;
  r.name = name;
  r.template_request.spec.image_uri = "busybox:latest";
  r.template_request.spec.entrypoint = {"sleep", "infinity"};
  r.template_request.spec.env = {{"LANG", "C.UTF-8"}, {"MODE", "warm"}};
  r.template_request.spec.resource_limits = {{"cpu", "500m"}, {"memory", "256Mi"}};
  r.template_json = R"({"image":{"uri":"busybox:latest"}})";
  r.capacity = capacity;
  return r;
}

// A create field a poolRef create may not set, and a change of it that differs from the
// template of pool_request (the error must name `field`).
struct RefusedPoolField {
  const char* field;
  void (*apply)(CreateRequest&);
};
inline std::vector<RefusedPoolField> refused_pool_fields() {
  return {
      {"image.uri", [](CreateRequest& r) { r.spec.image_uri = "alpine:3"; }},
      {"entrypoint", [](CreateRequest& r) { r.spec.entrypoint = {"sh"}; }},
      {"resourceLimits",
       [](CreateRequest& r) {
         r.spec.resource_limits = {{"cpu", "2"}};
       }},
      {"env",
       [](CreateRequest& r) {
         r.spec.env = {{"MODE", "cold"}};
       }},
      {"env",
       [](CreateRequest& r) {
         r.spec.env = {{"OTHER", "1"}};
       }},
      {"networkPolicy", [](CreateRequest& r) { r.spec.network_policy_json = R"({"egress":[]})"; }},
      {"volumes", [](CreateRequest& r) { r.spec.volumes_json = "[]"; }},
      {"snapshotId", [](CreateRequest& r) { r.spec.snapshot_id = "s1"; }},
      {"image.auth",
       [](CreateRequest& r) {
         r.image_auth = ImageAuth{"u", "p"};
       }},
      {"platform",
       [](CreateRequest& r) {
         r.spec.platform = Platform{"linux", "arm64"};
       }},
  };
}

// The fixture: derive, call open_services() in SetUp (again to reopen over the same
// directory), close_services() in TearDown before anything that uses them goes.
class PoolFixture : public ::testing::Test {
 protected:
  void open_services(ServiceOptions service, PoolOptions pools = {}) {
    pools_.reset();
    sandboxes_.reset();
    store_.reset();
    auto s = EventStore::open(StoreOptions{.path = dir_.str(), .sync = false});
    ASSERT_TRUE(s.has_value()) << s.error().message;
    store_ = std::move(*s);
    sandboxes_ = std::make_unique<SandboxService>(*store_, clock_, std::move(service));
    pools_ = std::make_unique<PoolService>(*store_, clock_, *sandboxes_, std::move(pools));
  }

  void close_services() {
    if (pools_) pools_->shutdown();
    if (sandboxes_) sandboxes_->shutdown();
  }

  // A pool of pool_request's template; null (and a test failure) if it was refused.
  std::shared_ptr<const Pool> make_pool(const std::string& name, PoolCapacity capacity) {
    auto p = pools_->create(pool_request(name, capacity), kPoolUser);
    EXPECT_TRUE(p) << p.error().message;
    return p ? p->pool : nullptr;
  }

  // A client's create from pool `pool`, with metadata and a 10-minute timeout.
  static CreateRequest pool_create(const std::string& pool) {
    CreateRequest r;
    r.pool_ref = pool;
    r.spec.extensions_json = R"({"poolRef":")" + pool + R"("})";
    r.metadata = {{"team", "ml"}};
    r.timeout_seconds = 600;
    return r;
  }

  // Declared in this order so the services go before the store they use.
  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<SandboxService> sandboxes_;
  std::unique_ptr<PoolService> pools_;
};

}  // namespace sbx::testing
