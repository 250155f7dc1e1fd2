// Issue 10 item 9: a data directory whose disk refuses writes (full) used to stop the
// server at start (the open for writing, then the ServerStarted append, were fatal). Now
// it starts, serves reads, and answers mutations 503 SANDBOX::STORAGE_UNAVAILABLE (not a
// runtime code); nothing acknowledged before is lost, and a restart on a writable disk
// carries on. The disk is a RocksDB environment that fails on demand (ServerHooks).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "src/common/clock.h"
#include "src/common/uuid.h"
#include "src/config/config.h"
#include "src/http/http_client.h"
#include "src/server/server.h"
#include "store/event_store.h"
#include "tests/support/faulty_env.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

using testing::FaultyEnv;
using testing::TempDir;

Config config_in(const TempDir& dir) {
  const std::string path = dir.str() + "/sandboxd.toml";
  std::ofstream(path) << "[server]\nhost = \"127.0.0.1\"\nport = 0\nthreads = 2\n"
                      << "[store]\npath = \"" << dir.str() << "/data\"\n"
                      << "[docker]\nhost = \"unix://" << dir.str() << "/no-docker.sock\"\n";
  LoadOptions lo;
  lo.explicit_path = path;
  lo.env = {{"HOME", dir.str()}};
  auto loaded = load_config(lo);
  EXPECT_TRUE(loaded) << loaded.error().message;
  return loaded->config;
}

HttpResponse send(int port, const std::string& method, const std::string& target,
                  const std::string& body = "") {
  auto client = HttpClient::create({.endpoint = "http://127.0.0.1:" + std::to_string(port)});
  EXPECT_TRUE(client.has_value());
  HttpRequest req{.method = method, .target = target};
  if (!body.empty()) {
    req.body = body;
    req.headers.push_back({"Content-Type", "application/json"});
  }
  auto r = (*client)->send(req);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : HttpResponse{};
}

const std::string kKept = new_uuid();

// One live sandbox, kKept, written while the disk was fine.
void seed(const std::string& path) {
  StoreOptions o;
  o.path = path;
  auto s = EventStore::open(o);
  ASSERT_TRUE(s) << s.error().message;
  SandboxRequested r;
  r.sandbox_id = kKept;
  r.spec.image_uri = "img";
  r.spec.network_mode = "host";
  Event e;
  e.time = SystemClock().now();
  e.actor = "test";
  e.data = r;
  ASSERT_TRUE((*s)->append({stream_of(kKept), ExpectedVersion::no_stream(), {e}}));
}

TEST(DiskFull, TheServerStartsServesReadsAndAnswersMutations503Storage) {
  TempDir dir;
  const Config config = config_in(dir);
  seed(config.store.path);
  FaultyEnv env;
  env.disk_full = true;
  {
    auto server = Server::create(config, ServerHooks{&env});
    ASSERT_TRUE(server) << server.error().message;
    auto port = (*server)->start();
    ASSERT_TRUE(port) << port.error().message;

    auto got = send(*port, "GET", "/v1/sandboxes/" + kKept);
    EXPECT_EQ(got.status, 200) << got.body;
    EXPECT_EQ(nlohmann::json::parse(got.body)["status"]["state"], "Pending") << got.body;
    EXPECT_EQ(send(*port, "GET", "/v1/sandboxes").status, 200);
    auto health = send(*port, "GET", "/health");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(nlohmann::json::parse(health.body)["store"]["writable"], false) << health.body;

    // Create needs the runtime too (down here): the storage answer comes first.
    auto created = send(*port, "POST", "/v1/sandboxes",
                        R"({"image":{"uri":"busybox"},"entrypoint":["sleep","1"],)"
                        R"("resourceLimits":{"cpu":"1","memory":"1Gi"},"timeout":60})");
    EXPECT_EQ(created.status, 503) << created.body;
    EXPECT_EQ(nlohmann::json::parse(created.body)["code"], "SANDBOX::STORAGE_UNAVAILABLE")
        << created.body;
    // A mutation that needs no runtime reaches the store, which refuses it the same way.
    auto patched = send(*port, "PATCH", "/v1/sandboxes/" + kKept + "/metadata", R"({"team":"a"})");
    EXPECT_EQ(patched.status, 503) << patched.body;
    EXPECT_EQ(nlohmann::json::parse(patched.body)["code"], "SANDBOX::STORAGE_UNAVAILABLE")
        << patched.body;

    auto metrics = send(*port, "GET", "/metrics");
    EXPECT_NE(metrics.body.find("sandboxd_store_writable 0"), std::string::npos) << metrics.body;
    (*server)->stop();
  }
  // The disk has room again: a restart writes, and nothing was lost.
  env.disk_full = false;
  auto server = Server::create(config, ServerHooks{&env});
  ASSERT_TRUE(server) << server.error().message;
  auto port = (*server)->start();
  ASSERT_TRUE(port);
  EXPECT_EQ(send(*port, "GET", "/v1/sandboxes/" + kKept).status, 200);
  // Writes reach the store again (the answer may be 409 if the provisioner, finding no
  // engine, has failed the sandbox meanwhile; never 503 storage).
  auto patched = send(*port, "PATCH", "/v1/sandboxes/" + kKept + "/metadata", R"({"team":"a"})");
  EXPECT_TRUE(patched.status == 200 || patched.status == 409) << patched.body;
  auto metrics = send(*port, "GET", "/metrics");
  EXPECT_NE(metrics.body.find("sandboxd_store_writable 1"), std::string::npos);
  auto health = send(*port, "GET", "/health");
  EXPECT_EQ(nlohmann::json::parse(health.body)["store"]["writable"], true) << health.body;
  (*server)->stop();
}

}  // namespace
}  // namespace sbx
