// End to end: a sandbox with a network policy runs behind its egress sidecar on the real
// engine (the stand-in sidecar sandboxd-test/egress:1 of scripts/docker-env.sh: /healthz,
// a /policy that keeps what it gets, /requests and /env to read back). Checks what Docker
// really has (namespace sharing, capabilities, sysctls, env, labels), that the sandbox
// reaches the sidecar on 127.0.0.1 and has no NET_ADMIN, the 18080 endpoint and its
// token header, the policy routes and their events, pause/resume/delete of the pair, a
// sidecar that never gets ready, a sidecar that dies, an orphaned sidecar, and a restart.
#include <gtest/gtest.h>

#include <regex>

#include "tests/e2e/e2e_fixture.h"

namespace sbx::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kEgressImage[] = "sandboxd-test/egress:1";
constexpr char kSilentEgressImage[] = "sandboxd-test/egress-silent:1";

const Json kPolicy = {{"defaultAction", "deny"},
                      {"egress", {{{"action", "allow"}, {"target", "pypi.org"}}}}};

class Egress : public E2eTest {
 protected:
  void start_with_egress(const std::string& image = kEgressImage, double readiness = 20) {
    SandboxdOptions o = default_options("bridge");
    o.extra_toml = "[egress]\nimage = \"" + image +
                   "\"\nreadiness_timeout_seconds = " + std::to_string(readiness) + "\n";
    ASSERT_NO_FATAL_FAILURE(start_sandboxd(std::move(o)));
  }

  static Json policy_request() {
    Json r = create_request(600, {{"e2e", "egress"}});
    r["networkPolicy"] = kPolicy;
    return r;
  }

  Http& engine() {
    if (!engine_) engine_ = std::make_unique<Http>(docker_host_);
    return *engine_;
  }

  Json inspect_json(const std::string& name) {
    Reply r = engine().get("/containers/" + name + "/json");
    return r.status == 200 ? r.json() : Json();
  }

  // Runs `cmd` in container `name` and returns its stdout+stderr (demultiplexed).
  std::string exec(const std::string& name, const std::vector<std::string>& cmd) {
    Reply c = engine().request(
        "POST", "/containers/" + name + "/exec",
        Json({{"AttachStdout", true}, {"AttachStderr", true}, {"Cmd", cmd}}).dump());
    if (c.status != 201) return "exec create: " + c.describe();
    Reply s = engine().request("POST", "/exec/" + c.str("Id") + "/start",
                               Json({{"Detach", false}, {"Tty", false}}).dump());
    std::string out;
    std::size_t i = 0;
    while (i + 8 <= s.body.size()) {
      const auto* h = reinterpret_cast<const unsigned char*>(s.body.data() + i);
      const std::size_t n = (std::size_t{h[4]} << 24) | (std::size_t{h[5]} << 16) |
                            (std::size_t{h[6]} << 8) | std::size_t{h[7]};
      out.append(s.body, i + 8, n);
      i += 8 + n;
    }
    return out;
  }

  // The sidecar's env as a map.
  std::map<std::string, std::string> env_of(const Json& inspect) {
    std::map<std::string, std::string> out;
    if (!inspect.contains("Config")) return out;
    for (const auto& kv : inspect["Config"]["Env"]) {
      const std::string s = kv.get<std::string>();
      const auto eq = s.find('=');
      out[s.substr(0, eq)] = eq == std::string::npos ? "" : s.substr(eq + 1);
    }
    return out;
  }

  // Events of sandbox `id` of `type`.
  std::vector<Json> events_of_type(const std::string& id, const std::string& type) {
    std::vector<Json> out;
    for (const auto& e : events_of(api().get(sandbox_path(id) + "/events")))
      if (e.value("type", "") == type) out.push_back(e);
    return out;
  }

  bool gone(const std::string& name) { return docker_->inspect(name).first == 404; }

  std::unique_ptr<Http> engine_;
};

TEST_F(Egress, SidecarOwnsTheNetworkAndThePolicyRoutesForwardToIt) {
  ASSERT_NO_FATAL_FAILURE(start_with_egress());
  const std::string id = create_running(policy_request());
  ASSERT_FALSE(id.empty());
  ASSERT_FALSE(HasFailure());
  const std::string main = "sandbox-" + id;
  const std::string sidecar = "sandbox-egress-" + id;

  // --- the sidecar ----------------------------------------------------------------------
  const Json sc = inspect_json(sidecar);
  ASSERT_TRUE(sc.is_object()) << sidecar << " missing";
  EXPECT_EQ(sc["State"]["Status"], "running");
  const Json& labels = sc["Config"]["Labels"];
  EXPECT_EQ(labels.value("sandboxd.io/egress-of", ""), id);
  EXPECT_FALSE(labels.contains("sandboxd.io/id")) << labels.dump();
  EXPECT_TRUE(labels.contains("sandboxd.io/instance")) << labels.dump();
  const Json& sch = sc["HostConfig"];
  EXPECT_NE(std::find(sch["CapAdd"].begin(), sch["CapAdd"].end(), "NET_ADMIN"), sch["CapAdd"].end())
      << sch["CapAdd"].dump();
  EXPECT_EQ(sch["Sysctls"].value("net.ipv6.conf.all.disable_ipv6", ""), "1") << sch.dump();
  for (const char* port : {"44772/tcp", "8080/tcp", "18080/tcp"}) {
    ASSERT_TRUE(sch["PortBindings"].contains(port)) << sch["PortBindings"].dump();
    EXPECT_EQ(sch["PortBindings"][port][0].value("HostIp", ""), "127.0.0.1");
  }
  auto env = env_of(sc);
  EXPECT_EQ(Json::parse(env["OPENSANDBOX_EGRESS_RULES"], nullptr, false), kPolicy);
  EXPECT_EQ(env["OPENSANDBOX_EGRESS_MODE"], "dns");
  EXPECT_EQ(env["OPENSANDBOX_EGRESS_SANDBOX_ID"], id);
  const std::string token = env["OPENSANDBOX_EGRESS_TOKEN"];
  EXPECT_TRUE(std::regex_match(token, std::regex("[0-9a-f]{64}"))) << token;

  // --- the sandbox container: in the sidecar's namespace, publishing nothing, no NET_ADMIN
  const Json mc = inspect_json(main);
  ASSERT_TRUE(mc.is_object());
  const Json& mh = mc["HostConfig"];
  const std::string mode = mh.value("NetworkMode", "");
  EXPECT_TRUE(mode == "container:" + sidecar || mode == "container:" + sc.value("Id", ""))
      << mode;
  EXPECT_TRUE(!mh.contains("PortBindings") || mh["PortBindings"].is_null() ||
              mh["PortBindings"].empty())
      << mh["PortBindings"].dump();
  EXPECT_NE(std::find(mh["CapDrop"].begin(), mh["CapDrop"].end(), "NET_ADMIN"), mh["CapDrop"].end());
  if (mh.contains("CapAdd") && mh["CapAdd"].is_array()) {
    EXPECT_EQ(std::find(mh["CapAdd"].begin(), mh["CapAdd"].end(), "NET_ADMIN"), mh["CapAdd"].end());
  }
  // For real: the kernel's effective set of the sandbox's PID 1 lacks CAP_NET_ADMIN (12).
  const std::string status = exec(main, {"grep", "CapEff", "/proc/1/status"});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(status, m, std::regex(R"(CapEff:\s*([0-9a-fA-F]+))"))) << status;
  EXPECT_EQ(std::stoull(m[1].str(), nullptr, 16) & (1ULL << 12), 0ULL) << status;
  // The sandbox reaches the sidecar on 127.0.0.1: one network namespace.
  EXPECT_NE(exec(main, {"wget", "-qO-", "http://127.0.0.1:18080/healthz"}).find("ok"),
            std::string::npos);
  EXPECT_EQ(exec(main, {"cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6"}).substr(0, 1), "1");

  // --- endpoints: execd through the sidecar's ports, 18080 with the token header ------------
  Reply ep = api().get(sandbox_path(id) + "/endpoints/44772");
  ASSERT_EQ(ep.status, 200) << ep.describe();
  std::string last;
  EXPECT_TRUE(ping_execd(ep.str("endpoint"), milliseconds(30'000), &last)) << last;
  Reply eg = api().get(sandbox_path(id) + "/endpoints/18080");
  ASSERT_EQ(eg.status, 200) << eg.describe();
  const std::string egress_ep = eg.str("endpoint");
  ASSERT_TRUE(std::regex_match(egress_ep, m, std::regex(R"(127\.0\.0\.1:(\d+))"))) << egress_ep;
  EXPECT_EQ(eg.json()["headers"].value("OPENSANDBOX-EGRESS-AUTH", ""), token) << eg.describe();
  Http sidecar_api("http://" + egress_ep);
  const std::vector<HttpHeader> auth = {{"OPENSANDBOX-EGRESS-AUTH", token}};
  EXPECT_EQ(sidecar_api.request("GET", "/policy", "", auth).json()["policy"], kPolicy);
  EXPECT_EQ(sidecar_api.request("GET", "/policy").status, 401);  // the stand-in checks it
  // The token is in no event of the log.
  EXPECT_EQ(api().get(sandbox_path(id) + "/events").body.find(token), std::string::npos);

  // --- the policy routes, both prefixes --------------------------------------------------
  Reply got = api().get(sandbox_path(id) + "/networkpolicy");
  ASSERT_EQ(got.status, 200) << got.describe();
  EXPECT_EQ(got.json()["policy"], kPolicy);
  const Json replaced = {{"defaultAction", "allow"},
                         {"egress", {{{"action", "deny"}, {"target", "*.example.com"}}}}};
  Reply put = api().request("PUT", sandbox_path(id) + "/networkpolicy", replaced.dump());
  ASSERT_EQ(put.status, 200) << put.describe();
  EXPECT_EQ(put.json()["policy"], replaced);
  EXPECT_EQ(api().get("/sandboxes/" + id + "/networkpolicy").json()["policy"], replaced);
  const Json rules = {{{"action", "allow"}, {"target", "pypi.org"}}};
  Reply patch = api().request("PATCH", sandbox_path(id) + "/networkpolicy", rules.dump());
  EXPECT_EQ(patch.status, 200) << patch.describe();
  Reply del =
      api().request("DELETE", "/sandboxes/" + id + "/networkpolicy", Json({"pypi.org"}).dump());
  EXPECT_EQ(del.status, 200) << del.describe();
  const std::string requests = sidecar_api.request("GET", "/requests", "", auth).body;
  EXPECT_NE(requests.find("PUT " + replaced.dump()), std::string::npos) << requests;
  EXPECT_NE(requests.find("PATCH " + rules.dump()), std::string::npos) << requests;
  EXPECT_NE(requests.find("DELETE [\"pypi.org\"]"), std::string::npos) << requests;
  auto changes = events_of_type(id, "NetworkPolicyChanged");
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0]["data"]["method"], "PUT");
  EXPECT_EQ(Json::parse(changes[0]["data"]["policy"].get<std::string>()), replaced);
  EXPECT_EQ(changes[1]["data"]["method"], "PATCH");
  EXPECT_EQ(changes[2]["data"]["method"], "DELETE");

  // Bad bodies: refused with a code, nothing forwarded, nothing recorded.
  Reply bad = api().request("PUT", sandbox_path(id) + "/networkpolicy",
                            R"({"egress":[{"action":"maybe","target":"a.b"}]})");
  EXPECT_EQ(bad.status, 422) << bad.describe();
  EXPECT_EQ(bad.str("code"), "SANDBOX::INVALID_PARAMETER");
  EXPECT_NE(bad.body.find("action"), std::string::npos) << bad.describe();
  Reply bad_target = api().request("PATCH", sandbox_path(id) + "/networkpolicy",
                                   R"([{"action":"allow","target":"a b;rm"}])");
  EXPECT_EQ(bad_target.status, 422) << bad_target.describe();
  Reply not_json = api().request("PUT", sandbox_path(id) + "/networkpolicy", "{nope");
  EXPECT_EQ(not_json.status, 400) << not_json.describe();
  EXPECT_EQ(events_of_type(id, "NetworkPolicyChanged").size(), 3u);
  EXPECT_EQ(sidecar_api.request("GET", "/requests", "", auth).body, requests);

  // --- pause and resume the pair --------------------------------------------------------
  ASSERT_EQ(api().post(sandbox_path(id) + "/pause").status, 202);
  EXPECT_EQ(state_of(api(), id), "Paused");
  EXPECT_EQ(docker_->inspect(main).second, "paused");
  EXPECT_EQ(docker_->inspect(sidecar).second, "paused");
  Reply paused_policy = api().get(sandbox_path(id) + "/networkpolicy");
  EXPECT_EQ(paused_policy.status, 409) << paused_policy.describe();
  EXPECT_EQ(paused_policy.str("code"), "SANDBOX::NOT_RUNNING");
  ASSERT_EQ(api().post(sandbox_path(id) + "/resume").status, 202);
  EXPECT_EQ(state_of(api(), id), "Running");
  EXPECT_EQ(docker_->inspect(sidecar).second, "running");
  EXPECT_EQ(docker_->inspect(main).second, "running");
  EXPECT_TRUE(ping_execd(ep.str("endpoint"), milliseconds(10'000), &last)) << last;

  // --- delete removes both ----------------------------------------------------------------
  EXPECT_EQ(api().del(sandbox_path(id)).status, 204);
  EXPECT_TRUE(poll_until([&] { return gone(main) && gone(sidecar); }, milliseconds(30'000)));
}

TEST_F(Egress, ASandboxWithoutAPolicyHasNoSidecarAndNoPolicyRoute) {
  ASSERT_NO_FATAL_FAILURE(start_with_egress());
  const std::string id = create_running();
  ASSERT_FALSE(id.empty());
  EXPECT_TRUE(gone("sandbox-egress-" + id));
  Reply r = api().get(sandbox_path(id) + "/networkpolicy");
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(r.str("code"), "SANDBOX::NETWORK_POLICY_NOT_ENABLED");
  EXPECT_EQ(api().get(sandbox_path("00000000-0000-4000-8000-000000000000") + "/networkpolicy")
                .status,
            404);
}

TEST_F(Egress, ASidecarThatNeverGetsReadyFailsTheCreateAndLeavesNoContainers) {
  ASSERT_NO_FATAL_FAILURE(start_with_egress(kSilentEgressImage, 2));
  Reply r = api().post("/v1/sandboxes", policy_request());
  ASSERT_EQ(r.status, 202) << r.describe();
  const std::string id = r.str("id");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(wait_for_state(api(), id, {"Failed"}, milliseconds(60'000)), "Failed");
  Reply sb = api().get(sandbox_path(id));
  EXPECT_NE(sb.body.find("DOCKER::EGRESS_NOT_READY"), std::string::npos) << sb.describe();
  EXPECT_NE(sb.body.find("readiness_timeout_seconds"), std::string::npos) << sb.describe();
  EXPECT_TRUE(gone("sandbox-" + id));
  EXPECT_TRUE(gone("sandbox-egress-" + id));
}

TEST_F(Egress, AKilledSidecarFailsItsSandbox) {
  ASSERT_NO_FATAL_FAILURE(start_with_egress());
  const std::string id = create_running(policy_request());
  ASSERT_FALSE(id.empty());
  Reply kill = engine().request("POST", "/containers/sandbox-egress-" + id + "/kill");
  ASSERT_EQ(kill.status, 204) << kill.describe();
  EXPECT_EQ(wait_for_state(api(), id, {"Failed"}, milliseconds(30'000)), "Failed");
  Reply sb = api().get(sandbox_path(id));
  EXPECT_NE(sb.body.find("egress sidecar"), std::string::npos) << sb.describe();
}

TEST_F(Egress, AnOrphanedSidecarIsRemoved) {
  ASSERT_NO_FATAL_FAILURE(start_with_egress());
  const std::string id = create_running(policy_request());
  ASSERT_FALSE(id.empty());
  // The sandbox container vanishes behind sandboxd's back: the sandbox fails, and the
  // sidecar, now without a sandbox container, is swept by the next reconcile pass.
  ASSERT_TRUE(docker_->remove("sandbox-" + id));
  EXPECT_EQ(wait_for_state(api(), id, {"Failed"}, milliseconds(30'000)), "Failed");
  EXPECT_TRUE(poll_until([&] { return gone("sandbox-egress-" + id); }, milliseconds(30'000)))
      << docker_->inspect("sandbox-egress-" + id).second;
}

TEST_F(Egress, ARestartKeepsSandboxSidecarAndToken) {
  ASSERT_NO_FATAL_FAILURE(start_with_egress());
  const std::string id = create_running(policy_request());
  ASSERT_FALSE(id.empty());
  const std::string token =
      api().get(sandbox_path(id) + "/endpoints/18080").json()["headers"].value(
          "OPENSANDBOX-EGRESS-AUTH", "");
  ASSERT_FALSE(token.empty());
  ASSERT_TRUE(sandboxd_->stop());
  ASSERT_TRUE(sandboxd_->start());
  EXPECT_EQ(state_of(api(), id), "Running");
  Reply eg = api().get(sandbox_path(id) + "/endpoints/18080");
  EXPECT_EQ(eg.json()["headers"].value("OPENSANDBOX-EGRESS-AUTH", ""), token);
  Reply got = api().get(sandbox_path(id) + "/networkpolicy");
  EXPECT_EQ(got.status, 200) << got.describe();
  EXPECT_EQ(got.json()["policy"], kPolicy);
  // A few reconcile passes later both still run (no orphan sweep of a live pair).
  std::this_thread::sleep_for(milliseconds(5'000));
  EXPECT_EQ(state_of(api(), id), "Running");
  EXPECT_EQ(docker_->inspect("sandbox-egress-" + id).second, "running");
  EXPECT_EQ(api().del(sandbox_path(id)).status, 204);
  EXPECT_TRUE(poll_until([&] { return gone("sandbox-" + id) && gone("sandbox-egress-" + id); },
                         milliseconds(30'000)));
}

}  // namespace
}  // namespace sbx::testing
