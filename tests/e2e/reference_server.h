// The reference server (opensandbox-server from the venv of reference_venv.h) run by a test
// on the test's Docker engine, to leave behind the sandboxes that sandboxd then adopts.
//
//   ReferenceServer ref(dir, docker_host, {30000, 30199});
//   ASSERT_TRUE(ref.start());               // writes dir/ref.toml, waits for /health
//   Json sb = ref.create(create_request(600, {{"team", "ml"}}));   // waits for Running
//   ASSERT_TRUE(ref.pause(sb["id"]));       // waits for Paused
//   ASSERT_TRUE(ref.stop());                // SIGTERM by pid, bounded wait
//
// Its config: bridge networking, ports published on 127.0.0.1 from `ports` (at least 100
// of them, the reference's rule), `sandboxd-test/execd:1` as its execd image (the stand-in
// of scripts/docker-env.sh, whose bootstrap.sh starts /opt/opensandbox/execd), its SQLite
// store and its HOME (where it keeps metadata overrides) in `dir`, no API key
// (OPENSANDBOX_INSECURE_SERVER=YES), listening on 127.0.0.1 only. Its output goes to
// dir/ref-N.log (log_tail()). Header-only; every wait is bounded.
#pragma once

#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>

#include "tests/e2e/e2e_harness.h"
#include "tests/e2e/reference_venv.h"
#include "tests/support/child_process.h"
#include "tests/support/docker_env.h"

namespace sbx::testing {

class ReferenceServer {
 public:
  ReferenceServer(std::filesystem::path dir, std::string docker_host, std::pair<int, int> ports)
      : dir_(std::move(dir)), docker_host_(std::move(docker_host)), ports_(ports) {
    std::filesystem::create_directories(dir_ / "home");
  }
  ~ReferenceServer() { (void)stop(std::chrono::milliseconds(10'000)); }
  ReferenceServer(const ReferenceServer&) = delete;
  ReferenceServer& operator=(const ReferenceServer&) = delete;

  ::testing::AssertionResult start(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(120'000)) {
    if (proc_) return ::testing::AssertionFailure() << "the reference server is already running";
    ++starts_;
    port_ = free_loopback_port();
    write_text(dir_ / "ref.toml", render_config());
    log_ = dir_ / ("ref-" + std::to_string(starts_) + ".log");
    write_text(log_, "");
    proc_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"/bin/sh", "-c", "exec \"$0\" --config \"$1\" >>\"$2\" 2>&1",
                                 reference_server_bin().string(), (dir_ / "ref.toml").string(),
                                 log_.string()},
        std::map<std::string, std::string>{{"DOCKER_HOST", docker_host_},
                                           {"HOME", (dir_ / "home").string()},
                                           {"OPENSANDBOX_INSECURE_SERVER", "YES"},
                                           {"OPENSANDBOX_SERVER_API_KEY", ""},
                                           {"SANDBOX_CONFIG_PATH", ""}});
    api_ = std::make_unique<Http>("http://127.0.0.1:" + std::to_string(port_),
                                  std::chrono::milliseconds(60'000));
    const bool up = poll_until(
        [&] {
          if (!alive()) return true;
          return api_->get("/health").status == 200;
        },
        timeout, std::chrono::milliseconds(250));
    if (!alive()) {
      return ::testing::AssertionFailure() << "the reference server exited during startup; log:\n"
                                           << log_tail();
    }
    if (!up) {
      return ::testing::AssertionFailure() << "the reference server did not answer /health within "
                                           << timeout.count() << " ms; log:\n"
                                           << log_tail();
    }
    return ::testing::AssertionSuccess();
  }

  // SIGTERM (by the pid it was started with), then SIGKILL if it has not exited in time.
  ::testing::AssertionResult stop(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(30'000)) {
    if (!proc_) return ::testing::AssertionSuccess();
    proc_->signal(SIGTERM);
    auto st = proc_->wait(timeout);
    if (!st) {
      proc_->signal(SIGKILL);
      (void)proc_->wait(std::chrono::milliseconds(10'000));
      proc_.reset();
      return ::testing::AssertionFailure()
             << "the reference server did not stop within " << timeout.count() << " ms";
    }
    proc_.reset();
    return ::testing::AssertionSuccess();
  }

  // POST /v1/sandboxes (the reference answers once the container runs); the sandbox as it
  // answered, or an empty object (with a test failure) when it did not create it.
  Json create(const Json& request) {
    Reply r = api_->post("/v1/sandboxes", request);
    EXPECT_TRUE(r.status == 200 || r.status == 202) << r.describe() << "\n" << log_tail();
    Json j = r.json();
    if (!j.is_object() || !j.contains("id")) return Json::object();
    const std::string id = j.value("id", "");
    EXPECT_EQ(wait_for_state(id, "Running"), "Running") << log_tail();
    return j;
  }

  // POST /v1/sandboxes/{id}/pause and wait until it says Paused.
  bool pause(const std::string& id) {
    Reply r = api_->post("/v1/sandboxes/" + id + "/pause");
    EXPECT_TRUE(r.status == 200 || r.status == 202 || r.status == 204) << r.describe();
    return wait_for_state(id, "Paused") == "Paused";
  }

  // Polls GET /v1/sandboxes/{id} until status.state is `want` (or 60 s pass); the last state.
  std::string wait_for_state(const std::string& id, const std::string& want) {
    std::string last;
    poll_until(
        [&] {
          last = state_of(api_->get("/v1/sandboxes/" + id));
          return last == want;
        },
        std::chrono::milliseconds(60'000), std::chrono::milliseconds(250));
    return last;
  }

  const Http& api() const { return *api_; }
  std::string log_tail(std::size_t lines = 60) const {
    return log_.empty() ? "" : last_lines(read_text(log_), lines);
  }

 private:
  std::string render_config() const {
    std::ostringstream t;
    t << "[server]\nhost = \"127.0.0.1\"\nport = " << port_ << "\n\n"
      << "[log]\nlevel = \"INFO\"\n\n"
      << "[runtime]\ntype = \"docker\"\nexecd_image = \"" << kTestExecdImage << "\"\n\n"
      << "[store]\ntype = \"sqlite\"\npath = \"" << (dir_ / "ref.db").string() << "\"\n\n"
      << "[docker]\nnetwork_mode = \"bridge\"\npublish_host = \"127.0.0.1\"\n"
      << "port_range_min = " << ports_.first << "\nport_range_max = " << ports_.second << "\n";
    return t.str();
  }

  bool alive() {
    if (!proc_) return false;
    if (proc_->wait(std::chrono::milliseconds(0)).has_value()) {
      proc_.reset();  // exited (and reaped): nothing left to stop
      return false;
    }
    return true;
  }

  std::filesystem::path dir_;
  std::string docker_host_;
  std::pair<int, int> ports_;
  std::filesystem::path log_;
  std::unique_ptr<ChildProcess> proc_;
  std::unique_ptr<Http> api_;
  int port_ = 0;
  int starts_ = 0;
};

}  // namespace sbx::testing
