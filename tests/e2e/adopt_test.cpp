// Adopting the reference server's sandboxes (issue 12): the reference server
// (opensandbox-server, from its venv) creates sandboxes on the test engine and is stopped;
// sandboxd started on the same engine lists them with their state, metadata and expiry,
// resolves their endpoints to the ports the reference published (execd answers through
// them), pauses, resumes, renews and deletes them, expires the short one on time, leaves
// alone what it did not adopt, and adopts nothing twice across a restart.
#include <gtest/gtest.h>

#include <iostream>
#include <random>
#include <set>

#include "tests/e2e/e2e_fixture.h"
#include "tests/e2e/reference_server.h"

namespace sbx::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kReferenceIdLabel[] = "opensandbox.io/id";

// A 200-port window in 30000-31999 for the reference server's port_range (sandboxd's
// windows are in 20000-29999: random_port_window), so neither hands out the other's ports.
std::pair<int, int> reference_port_window() {
  std::random_device rd;
  const int base = 30000 + 200 * static_cast<int>(rd() % 10);
  return {base, base + 199};
}

class Adopt : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    const std::string venv = ensure_reference_venv();
    ASSERT_EQ(venv, "") << "the reference server is needed for this test";
    // Reference containers this test makes are removed at teardown (the janitor only knows
    // sandboxd's labels).
    if (auto all = docker_->labelled_containers(kReferenceIdLabel))
      for (const auto& c : *all) reference_baseline_.insert(c.id);
  }

  void TearDown() override {
    E2eTest::TearDown();
    if (!docker_) return;
    if (auto all = docker_->labelled_containers(kReferenceIdLabel))
      for (const auto& c : *all)
        if (!reference_baseline_.contains(c.id)) (void)docker_->remove(c.id);
  }

  // The reference container of sandbox `id` (State.Status, or "absent").
  std::string container_state(const std::string& id) const {
    const auto [status, state] = docker_->inspect("sandbox-" + id);
    return status == 404 ? "absent" : state;
  }

  Json get(const std::string& id) { return api().get(sandbox_path(id)).json(); }

  std::string endpoint(const std::string& id, int port) {
    Reply r = api().get(sandbox_path(id) + "/endpoints/" + std::to_string(port));
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.str("endpoint");
  }

  // How many events of `type` the sandbox's history holds.
  std::size_t events_of_type(const std::string& id, const std::string& type) {
    Reply r = api().get(sandbox_path(id) + "/events");
    EXPECT_EQ(r.status, 200) << r.describe();
    std::size_t n = 0;
    for (const auto& e : events_of(r)) n += e.value("type", "") == type ? 1 : 0;
    return n;
  }

  std::set<std::string> reference_baseline_;
};

TEST_F(Adopt, ReferenceSandboxesKeepWorkingUnderSandboxd) {
  ReferenceServer ref(dir_->path() / "reference", docker_host_, reference_port_window());
  ASSERT_TRUE(ref.start());
  // a: a timeout and metadata; b: paused, manual cleanup; c: the shortest timeout there is
  // (60 s), to expire under sandboxd; d: exited before sandboxd starts (never adopted).
  const Json a = ref.create(create_request(900, {{"team", "ml"}, {"owner", "alice"}}));
  const Json b = ref.create(create_request(std::nullopt));
  const Json c = ref.create(create_request(60));
  const Json d = ref.create(create_request(900));
  ASSERT_FALSE(HasFailure());
  const std::string ida = a.value("id", ""), idb = b.value("id", ""), idc = c.value("id", ""),
                    idd = d.value("id", "");
  ASSERT_TRUE(ref.pause(idb));
  const Json a_ref = ref.api().get("/v1/sandboxes/" + ida).json();
  const std::string a_execd =
      ref.api().get("/v1/sandboxes/" + ida + "/endpoints/44772").str("endpoint");
  const std::string a_http =
      ref.api().get("/v1/sandboxes/" + ida + "/endpoints/8080").str("endpoint");
  ASSERT_FALSE(a_execd.empty());
  ASSERT_TRUE(ref.stop());
  // d's container dies: not running, not paused, so not adoptable.
  ASSERT_EQ(docker_->inspect("sandbox-" + idd).first, 200);
  {
    Http engine(docker_host_);
    ASSERT_EQ(engine.request("POST", "/containers/sandbox-" + idd + "/kill").status, 204);
  }
  ASSERT_TRUE(poll_until([&] { return container_state(idd) == "exited"; }, milliseconds(10'000)));
  ASSERT_EQ(container_state(ida), "running") << "the reference left its sandboxes running";
  ASSERT_EQ(container_state(idb), "paused");

  ASSERT_NO_FATAL_FAILURE(start_sandboxd(default_options()));
  const std::string log = sandboxd_->log_tail(200);
  EXPECT_NE(log.find("adopted reference sandbox " + ida), std::string::npos) << log;
  EXPECT_NE(log.find("3 adopted"), std::string::npos) << log;
  EXPECT_NE(log.find("1 left alone"), std::string::npos) << log;

  // Listed with their state, metadata and expiry; d is not.
  Reply list = api().get("/v1/sandboxes?pageSize=100");
  ASSERT_EQ(list.status, 200) << list.describe();
  std::map<std::string, Json> listed;
  for (const auto& item : list.json().value("items", Json::array()))
    listed[item.value("id", "")] = item;
  ASSERT_TRUE(listed.contains(ida) && listed.contains(idb) && listed.contains(idc))
      << list.describe();
  EXPECT_FALSE(listed.contains(idd)) << "an exited reference container is not adopted";
  EXPECT_EQ(state_of(Reply{200, "", listed[ida].dump(), {}}), "Running");
  EXPECT_EQ(state_of(Reply{200, "", listed[idb].dump(), {}}), "Paused");
  EXPECT_EQ(state_of(Reply{200, "", listed[idc].dump(), {}}), "Running");
  EXPECT_EQ(listed[ida].value("metadata", Json::object()),
            (Json{{"team", "ml"}, {"owner", "alice"}}));
  EXPECT_EQ(parse_rfc3339(listed[ida].value("expiresAt", "")),
            parse_rfc3339(a_ref.value("expiresAt", "")))
      << listed[ida].dump() << " vs " << a_ref.dump();
  EXPECT_FALSE(listed[idb].contains("expiresAt") && !listed[idb]["expiresAt"].is_null())
      << "manual cleanup: " << listed[idb].dump();
  EXPECT_EQ(listed[ida].value("image", Json::object()).value("uri", ""), kTestBusyboxImage);

  // Endpoints are the ports the reference published; execd answers through them.
  EXPECT_EQ(endpoint(ida, 44772), a_execd);
  EXPECT_EQ(endpoint(ida, 8080), a_http);
  std::string last;
  EXPECT_TRUE(ping_execd(endpoint(ida, 44772), milliseconds(15'000), &last)) << last;

  // Not orphans, not missing: two reconcile passes (2 s each) change nothing.
  sleep_ms(5'000);
  EXPECT_EQ(state_of(api(), ida), "Running");
  EXPECT_EQ(state_of(api(), idb), "Paused");
  EXPECT_EQ(container_state(ida), "running");
  EXPECT_EQ(container_state(idb), "paused");
  EXPECT_EQ(container_state(idd), "exited") << "what was not adopted is left alone";

  // Pause / resume / renew / delete.
  Reply p = api().post(sandbox_path(ida) + "/pause");
  EXPECT_TRUE(p.status == 200 || p.status == 202 || p.status == 204) << p.describe();
  EXPECT_EQ(wait_for_state(api(), ida, {"Paused", "Failed"}, milliseconds(30'000)), "Paused");
  EXPECT_EQ(container_state(ida), "paused");
  Reply r = api().post(sandbox_path(ida) + "/resume");
  EXPECT_TRUE(r.status == 200 || r.status == 202 || r.status == 204) << r.describe();
  EXPECT_EQ(wait_for_state(api(), ida, {"Running", "Failed"}, milliseconds(30'000)), "Running");
  EXPECT_EQ(container_state(ida), "running");
  r = api().post(sandbox_path(idb) + "/resume");
  EXPECT_EQ(wait_for_state(api(), idb, {"Running", "Failed"}, milliseconds(30'000)), "Running");
  EXPECT_TRUE(ping_execd(endpoint(idb, 44772), milliseconds(15'000), &last)) << last;
  const Micros renewed = wall_now() + 3600 * kMicrosPerSecond;
  r = api().post(sandbox_path(ida) + "/renew-expiration", {{"expiresAt", format_rfc3339(renewed)}});
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(parse_rfc3339(get(ida).value("expiresAt", "")), renewed);
  r = api().del(sandbox_path(idb));
  EXPECT_TRUE(r.status == 200 || r.status == 202 || r.status == 204) << r.describe();
  EXPECT_EQ(wait_for_state(api(), idb, {"NotFound"}, milliseconds(30'000)), "NotFound");
  EXPECT_TRUE(poll_until([&] { return container_state(idb) == "absent"; }, milliseconds(10'000)));

  // c expires on time (its reference deadline), through the ordinary expirer.
  const auto c_deadline = parse_rfc3339(c.value("expiresAt", ""));
  ASSERT_TRUE(c_deadline) << c.dump();
  const Micros wait_us = std::max<Micros>(0, *c_deadline - wall_now()) + 15 * kMicrosPerSecond;
  Micros gone_at = 0;
  poll_until(
      [&] {
        if (state_of(api(), idc) != "NotFound") return false;
        gone_at = wall_now();
        return true;
      },
      milliseconds(wait_us / 1000), milliseconds(100));
  ASSERT_NE(gone_at, 0) << "the 60 s sandbox did not expire; "
                        << api().get(sandbox_path(idc)).describe();
  EXPECT_GE(gone_at, *c_deadline - kMicrosPerSecond) << "not before its deadline";
  EXPECT_LE(gone_at, *c_deadline + 5 * kMicrosPerSecond) << "on time";
  EXPECT_TRUE(poll_until([&] { return container_state(idc) == "absent"; }, milliseconds(10'000)));

  // A restart adopts nothing twice.
  ASSERT_TRUE(sandboxd_->stop());
  ASSERT_TRUE(sandboxd_->start());
  const std::string log2 = sandboxd_->log_tail(200);
  EXPECT_NE(log2.find("0 adopted"), std::string::npos) << log2;
  EXPECT_NE(log2.find("1 already known"), std::string::npos) << log2;
  EXPECT_EQ(events_of_type(ida, "SandboxAdopted"), 1u);
  EXPECT_EQ(state_of(api(), ida), "Running");
  EXPECT_EQ(endpoint(ida, 44772), a_execd);

  // And the adopted sandbox is deleted like any other.
  r = api().del(sandbox_path(ida));
  EXPECT_TRUE(r.status == 200 || r.status == 202 || r.status == 204) << r.describe();
  EXPECT_EQ(wait_for_state(api(), ida, {"NotFound"}, milliseconds(30'000)), "NotFound");
  EXPECT_TRUE(poll_until([&] { return container_state(ida) == "absent"; }, milliseconds(10'000)));
  EXPECT_EQ(container_state(idd), "exited");
}

// `sandbox-events adopt` with sandboxd stopped; refused while sandboxd holds the store.
TEST_F(Adopt, TheToolAdoptsOfflineAndRefusesBesideARunningServer) {
  ReferenceServer ref(dir_->path() / "reference", docker_host_, reference_port_window());
  ASSERT_TRUE(ref.start());
  const Json a = ref.create(create_request(900, {{"team", "tools"}}));
  const std::string id = a.value("id", "");
  ASSERT_FALSE(id.empty());
  // Changed after the create: the reference keeps both in its override files under HOME.
  const Micros renewed = wall_now() + 7200 * kMicrosPerSecond;
  Reply renew = ref.api().post("/v1/sandboxes/" + id + "/renew-expiration",
                               {{"expiresAt", format_rfc3339(renewed)}});
  EXPECT_EQ(renew.status, 200) << renew.describe();
  Reply patch = ref.api().request("PATCH", "/v1/sandboxes/" + id + "/metadata",
                                  Json{{"stage", "adopted"}}.dump());
  EXPECT_EQ(patch.status, 200) << patch.describe();
  ASSERT_TRUE(ref.stop());

  // sandboxd with adoption at startup switched off: it leaves the container alone.
  SandboxdOptions o = default_options();
  const auto [low, high] = random_port_window();
  o.runtime_toml = std::string("[runtime]\ntype = \"docker\"\nexecd_image = \"") +
                   kTestExecdImage + "\"\n\n[docker]\nhost = \"" + docker_host_ +
                   "\"\nnetwork_mode = \"bridge\"\nport_bind_ip = \"127.0.0.1\"\n"
                   "host_ip = \"127.0.0.1\"\nport_range = \"" +
                   std::to_string(low) + "-" + std::to_string(high) +
                   "\"\nadopt_reference_sandboxes = false\n";
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(o));
  EXPECT_NE(sandboxd_->log_tail(200).find("adopt_reference_sandboxes = false"), std::string::npos);
  EXPECT_EQ(state_of(api(), id), "NotFound");
  sleep_ms(3'000);  // a reconcile pass
  EXPECT_EQ(container_state(id), "running") << "not adopted, not touched";

  const std::string config = (dir_->path() / "sandboxd.toml").string();
  auto run_tool = [&](int* status) {
    ChildProcess p({std::string(SANDBOXD_BINARY_DIR) + "/sandbox-events", "adopt", "--config",
                    config},
                   {{"DOCKER_HOST", ""},
                    {"SANDBOX_CONFIG_PATH", ""},
                    // Where the reference kept its overrides (~/.opensandbox/metadata).
                    {"HOME", (dir_->path() / "reference" / "home").string()}});
    auto st = p.wait(milliseconds(60'000));
    if (!st) {
      p.signal(SIGKILL);
      *status = -1;
    } else {
      *status = WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
    }
    p.drain(milliseconds(500));
    return p.output();
  };
  int status = 0;
  std::string output = run_tool(&status);
  EXPECT_EQ(status, 2) << output;
  EXPECT_NE(output.find("held by a running sandboxd"), std::string::npos) << output;

  ASSERT_TRUE(sandboxd_->stop());
  output = run_tool(&status);
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("1 adopted"), std::string::npos) << output;
  output = run_tool(&status);
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("0 adopted"), std::string::npos) << output;
  EXPECT_NE(output.find("1 already known"), std::string::npos) << output;

  ASSERT_TRUE(sandboxd_->start());
  EXPECT_EQ(state_of(api(), id), "Running");
  EXPECT_EQ(get(id).value("metadata", Json::object()),
            (Json{{"team", "tools"}, {"stage", "adopted"}}))
      << "the reference's PATCH, from its override file";
  EXPECT_EQ(parse_rfc3339(get(id).value("expiresAt", "")), renewed)
      << "the reference's renewal, from its override file";
  std::string last;
  EXPECT_TRUE(ping_execd(endpoint(id, 44772), milliseconds(15'000), &last)) << last;
  Reply r = api().del(sandbox_path(id));
  EXPECT_TRUE(r.status == 200 || r.status == 202 || r.status == 204) << r.describe();
  EXPECT_EQ(wait_for_state(api(), id, {"NotFound"}, milliseconds(30'000)), "NotFound");
  EXPECT_TRUE(poll_until([&] { return container_state(id) == "absent"; }, milliseconds(10'000)));
}

}  // namespace
}  // namespace sbx::testing
