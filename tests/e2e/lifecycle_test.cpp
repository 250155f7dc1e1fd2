// End to end over plain HTTP: the real sandboxd binary and a real Docker engine, in
// bridge and in host networking. Checks what the API answers and what Docker then really
// has (containers by name and label), and that execd answers on the endpoint sandboxd
// hands out (only ever on 127.0.0.1).
#include <gtest/gtest.h>

#include <regex>

#include "tests/e2e/e2e_fixture.h"

namespace sbx::testing {
namespace {

using std::chrono::milliseconds;

class Lifecycle : public E2eTest {};

TEST_F(Lifecycle, BridgeModeOverHttp) {
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(default_options("bridge")));
  const auto& opts = sandboxd_->options();

  const std::string id = create_running(create_request(600, {{"e2e", "bridge"}}));
  ASSERT_FALSE(id.empty());
  ASSERT_FALSE(HasFailure());

  // The container is named after the sandbox and carries its label.
  auto [status, cstate] = docker_->inspect("sandbox-" + id);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(cstate, "running");

  // Endpoint of execd: {host}:{hostPort(44772)}/proxy/44772, a port of docker.port_range.
  Reply ep = api().get(sandbox_path(id) + "/endpoints/44772");
  ASSERT_EQ(ep.status, 200) << ep.describe();
  const std::string endpoint = ep.str("endpoint");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(endpoint, m, std::regex(R"(127\.0\.0\.1:(\d+)/proxy/44772)")))
      << endpoint;
  const int execd_port = std::stoi(m[1].str());
  EXPECT_GE(execd_port, opts.port_low);
  EXPECT_LE(execd_port, opts.port_high);

  // Port 8080 maps to a host port of its own, without the proxy path.
  Reply ep8080 = api().get(sandbox_path(id) + "/endpoints/8080");
  ASSERT_EQ(ep8080.status, 200) << ep8080.describe();
  const std::string endpoint8080 = ep8080.str("endpoint");
  ASSERT_TRUE(std::regex_match(endpoint8080, m, std::regex(R"(127\.0\.0\.1:(\d+))")))
      << ep8080.describe();
  EXPECT_NE(std::stoi(m[1].str()), execd_port);

  // execd answers /ping there, as the SDKs expect (they poll up to 30 s).
  std::string last;
  const auto t_ping = SteadyClock::now();
  EXPECT_TRUE(ping_execd(endpoint, milliseconds(30'000), &last)) << last << "; container output:\n"
                                                                 << docker_->logs("sandbox-" + id);
  std::cerr << "[timing] execd /ping answered after " << seconds_since(t_ping) << " s\n";

  // Pause: 202 with an empty body, then Paused (in Docker too).
  Reply pause = api().post(sandbox_path(id) + "/pause");
  EXPECT_EQ(pause.status, 202) << pause.describe();
  // By default the request waits for the outcome (server.transition_wait_ms), so the
  // state is reached when it answers: no polling.
  EXPECT_EQ(state_of(api(), id), "Paused");
  EXPECT_EQ(docker_->inspect("sandbox-" + id).second, "paused");
  // Pausing twice is a conflict.
  EXPECT_EQ(api().post(sandbox_path(id) + "/pause").status, 409);

  // Resume: 202, then Running, and execd answers again.
  Reply resume = api().post(sandbox_path(id) + "/resume");
  EXPECT_EQ(resume.status, 202) << resume.describe();
  EXPECT_EQ(state_of(api(), id), "Running");
  EXPECT_EQ(docker_->inspect("sandbox-" + id).second, "running");
  EXPECT_TRUE(ping_execd(endpoint, milliseconds(10'000), &last)) << last;

  // Renew: 200 {"expiresAt"}; GET shows the new deadline.
  const std::string before = api().get(sandbox_path(id)).str("expiresAt");
  const Micros wanted = wall_now() + 1800 * kMicrosPerSecond;
  Reply renew =
      api().post(sandbox_path(id) + "/renew-expiration", {{"expiresAt", format_rfc3339(wanted)}});
  ASSERT_EQ(renew.status, 200) << renew.describe();
  auto renewed = parse_rfc3339(renew.str("expiresAt"));
  ASSERT_TRUE(renewed.has_value()) << renew.describe();
  EXPECT_LE(std::llabs(*renewed - wanted), 1000) << renew.describe();
  const std::string after = api().get(sandbox_path(id)).str("expiresAt");
  EXPECT_NE(after, before);
  EXPECT_EQ(parse_rfc3339(after), renewed);
  // A deadline in the past is refused.
  EXPECT_EQ(api()
                .post(sandbox_path(id) + "/renew-expiration",
                      {{"expiresAt", format_rfc3339(wall_now() - kMicrosPerSecond)}})
                .status,
            400);

  // Delete: 204, then 404, and the container is gone from Docker.
  const auto t_del = SteadyClock::now();
  Reply del = api().del(sandbox_path(id));
  EXPECT_EQ(del.status, 204) << del.describe();
  EXPECT_EQ(state_of(api(), id), "NotFound");
  EXPECT_EQ(docker_->inspect("sandbox-" + id).first, 404)
      << "container sandbox-" << id << " still exists when DELETE answered";
  std::cerr << "[timing] delete answered (container gone) in " << seconds_since(t_del) << " s\n";
  // The endpoint of a deleted sandbox is a 404 too.
  EXPECT_EQ(api().get(sandbox_path(id) + "/endpoints/44772").status, 404);
}

TEST_F(Lifecycle, HostModeHoldsOneSandbox) {
  // Host networking: execd binds the machine's own port 44772, so nothing else may hold it
  // (another test run's host-mode sandbox would make ours fail to bind).
  ASSERT_TRUE(poll_until([] { return tcp_port_is_free(kExecdPort); }, milliseconds(30'000)))
      << "host port " << kExecdPort << " stays busy (another process or container holds it)";
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(default_options("host")));

  const std::string id = create_running();
  ASSERT_FALSE(id.empty());
  ASSERT_FALSE(HasFailure());

  // Host networking: the endpoint is the host's own port, no proxy path.
  Reply ep = api().get(sandbox_path(id) + "/endpoints/44772");
  ASSERT_EQ(ep.status, 200) << ep.describe();
  EXPECT_EQ(ep.str("endpoint"), "127.0.0.1:44772");
  std::string last;
  EXPECT_TRUE(ping_execd(ep.str("endpoint"), milliseconds(30'000), &last))
      << last << "; container output:\n"
      << docker_->logs("sandbox-" + id);

  // A second live sandbox would share the host's ports: 409 naming docker.network_mode.
  Reply second = api().post("/v1/sandboxes", create_request());
  EXPECT_EQ(second.status, 409) << second.describe();
  EXPECT_NE(second.str("message").find("docker.network_mode"), std::string::npos)
      << second.describe();
  EXPECT_FALSE(second.str("code").empty()) << second.describe();

  // Delete: the container is gone and the slot is free again.
  Reply del = api().del(sandbox_path(id));
  EXPECT_EQ(del.status, 204) << del.describe();
  EXPECT_EQ(wait_for_state(api(), id, {"NotFound"}, milliseconds(10'000)), "NotFound");
  EXPECT_TRUE(poll_until([&] { return docker_->inspect("sandbox-" + id).first == 404; },
                         milliseconds(10'000)));

  const std::string next = create_running();
  ASSERT_FALSE(next.empty());
  Reply del_next = api().del(sandbox_path(next));
  EXPECT_EQ(del_next.status, 204) << del_next.describe();
  EXPECT_TRUE(poll_until([&] { return docker_->inspect("sandbox-" + next).first == 404; },
                         milliseconds(10'000)));
}

}  // namespace
}  // namespace sbx::testing
