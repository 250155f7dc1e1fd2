// Egress sidecar benchmark: creating a sandbox behind its egress sidecar until it runs,
// through DockerRuntime, against the raw Engine API creating the same two containers.
//
// Needs the private engine with the test images (`scripts/docker-env.sh start DIR`), then
//   SANDBOXD_TEST_DOCKER_HOST=unix://DIR/docker.sock build/release/bench/egress_bench
//
//   BM_RawEgressPair          POST create + start of the sidecar (sandboxd-test/egress:1,
//                             bridge, NET_ADMIN, ipv6 sysctls, 3 published ports), polls
//                             GET /healthz on its 18080 host port until 200, then create +
//                             start of a busybox container in NetworkMode container:<sidecar>
//   BM_RuntimeEgressCreate    DockerRuntime::create_and_start of the same pair (execd off, so
//                             both sides create exactly the same containers)
//   BM_EgressOverhead         both, alternating in each iteration; counters raw_ms,
//                             sandboxd_ms (means) and overhead_pct = sandboxd / raw - 1
// Removal is outside the timed region. Wall time is what counts (UseRealTime).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "src/common/uuid.h"
#include "src/http/http_client.h"
#include "src/runtime/docker/docker_runtime.h"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr char kImage[] = "sandboxd-test/busybox:1";
constexpr char kEgressImage[] = "sandboxd-test/egress:1";
constexpr int kPortBase = 47000;  // host ports of the benchmark's pairs (3 per pair)

std::string docker_host() {
  for (const char* var : {"SANDBOXD_BENCH_DOCKER_HOST", "SANDBOXD_TEST_DOCKER_HOST"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && *v != '\0') return v;
  }
  return {};
}

int next_port_block() {
  static int n = 0;
  return kPortBase + 3 * (n++ % 300);
}

class Raw {
 public:
  static std::unique_ptr<Raw> open(benchmark::State& state) {
    const std::string host = docker_host();
    if (host.empty()) {
      state.SkipWithError("SANDBOXD_TEST_DOCKER_HOST is not set (scripts/docker-env.sh start)");
      return nullptr;
    }
    auto http = sbx::HttpClient::create({.endpoint = host});
    if (!http) {
      state.SkipWithError(http.error().message.c_str());
      return nullptr;
    }
    auto ping = (*http)->send({.target = "/_ping"});
    if (!ping || ping->status != 200) {
      state.SkipWithError("the Docker engine does not answer /_ping");
      return nullptr;
    }
    auto raw = std::make_unique<Raw>();
    raw->http_ = std::move(*http);
    raw->prefix_ = "/v" + std::string(ping->header("API-Version").value_or("1.41"));
    return raw;
  }

  int call(const std::string& method, const std::string& path, const std::string& body = {},
           std::string* out = nullptr) {
    sbx::HttpRequest req{.method = method, .target = prefix_ + path, .body = body};
    if (!body.empty()) req.headers.push_back({"Content-Type", "application/json"});
    auto r = http_->send(req);
    if (!r) return -1;
    if (out != nullptr) *out = std::move(r->body);
    return r->status;
  }

  std::string create(const std::string& name, const json& body) {
    std::string out;
    if (call("POST", "/containers/create?name=" + name, body.dump(), &out) != 201) return {};
    return json::parse(out).at("Id").get<std::string>();
  }
  bool start(const std::string& id) {
    const int s = call("POST", "/containers/" + id + "/start");
    return s == 204 || s == 304;
  }
  void remove(const std::string& id) { call("DELETE", "/containers/" + id + "?force=1&v=1"); }

  // The pair as sandboxd builds it; false on any failure.
  bool create_pair(const std::string& id, int port) {
    const std::string sidecar = "bench-egress-" + id;
    json bindings = json::object();
    json exposed = json::object();
    int p = port;
    for (const char* cp : {"44772/tcp", "8080/tcp", "18080/tcp"}) {
      exposed[cp] = json::object();
      bindings[cp] = json::array({{{"HostIp", "127.0.0.1"}, {"HostPort", std::to_string(p++)}}});
    }
    json sc = {{"Image", kEgressImage},
               {"Labels", {{"sandboxd.io/bench", "raw"}}},
               {"Env", {"OPENSANDBOX_EGRESS_RULES={}", "OPENSANDBOX_EGRESS_MODE=dns",
                        "OPENSANDBOX_EGRESS_TOKEN=t"}},
               {"ExposedPorts", exposed},
               {"HostConfig",
                {{"NetworkMode", "bridge"},
                 {"CapAdd", {"NET_ADMIN"}},
                 {"PortBindings", bindings},
                 {"Sysctls", {{"net.ipv6.conf.all.disable_ipv6", "1"}}}}}};
    const std::string sid = create(sidecar, sc);
    if (sid.empty() || !start(sid)) return false;
    auto health = sbx::HttpClient::create(
        {.endpoint = "http://127.0.0.1:" + std::to_string(port + 2),
         .connect_timeout = std::chrono::milliseconds(1000),
         .request_timeout = std::chrono::milliseconds(2000)});
    if (!health) return false;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (true) {
      auto r = (*health)->send({.target = "/healthz"});
      if (r && r->status == 200) break;
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    json main = {{"Image", kImage},
                 {"Cmd", {"sleep", "3600"}},
                 {"Labels", {{"sandboxd.io/bench", "raw"}}},
                 {"HostConfig", {{"NetworkMode", "container:" + sidecar}, {"CapDrop", {"NET_ADMIN"}}}}};
    const std::string mid = create("bench-main-" + id, main);
    return !mid.empty() && start(mid);
  }
  void remove_pair(const std::string& id) {
    remove("bench-main-" + id);
    remove("bench-egress-" + id);
  }

 private:
  std::unique_ptr<sbx::HttpClient> http_;
  std::string prefix_;
};

std::unique_ptr<sbx::DockerRuntime> open_runtime(benchmark::State& state) {
  const std::string host = docker_host();
  if (host.empty()) {
    state.SkipWithError("SANDBOXD_TEST_DOCKER_HOST is not set (scripts/docker-env.sh start)");
    return nullptr;
  }
  sbx::DockerOptions o;
  o.host = host;
  o.execd_image.clear();  // the same containers as the raw side
  o.port_bind_ip = "127.0.0.1";
  o.instance_id = "egress-bench";
  auto rt = sbx::DockerRuntime::create(o);
  if (!rt) {
    state.SkipWithError(rt.error().message.c_str());
    return nullptr;
  }
  return std::move(*rt);
}

sbx::ContainerSpec egress_spec(int port) {
  sbx::ContainerSpec s;
  s.sandbox_id = sbx::new_uuid();
  s.image_uri = kImage;
  s.entrypoint = {"sleep", "3600"};
  s.network_mode = "bridge";
  s.ports = {{44772, port}, {8080, port + 1}, {18080, port + 2}};
  s.egress = sbx::EgressSpec{kEgressImage, "{}", "dns", true, "t", std::chrono::seconds(30)};
  return s;
}

void BM_RawEgressPair(benchmark::State& state) {
  auto raw = Raw::open(state);
  if (!raw) return;
  for (auto _ : state) {
    const std::string id = sbx::new_uuid();
    const bool ok = raw->create_pair(id, next_port_block());
    state.PauseTiming();
    raw->remove_pair(id);
    state.ResumeTiming();
    if (!ok) {
      state.SkipWithError("raw pair create failed");
      break;
    }
  }
}

void BM_RuntimeEgressCreate(benchmark::State& state) {
  auto rt = open_runtime(state);
  if (!rt) return;
  for (auto _ : state) {
    auto spec = egress_spec(next_port_block());
    auto r = rt->create_and_start(spec);
    state.PauseTiming();
    (void)rt->remove(spec.sandbox_id);
    state.ResumeTiming();
    if (!r) {
      state.SkipWithError(r.error().message.c_str());
      break;
    }
  }
}

void BM_EgressOverhead(benchmark::State& state) {
  auto raw = Raw::open(state);
  auto rt = open_runtime(state);
  if (!raw || !rt) return;
  double raw_s = 0, ours_s = 0;
  std::int64_t n = 0;
  for (auto _ : state) {
    const std::string id = sbx::new_uuid();
    auto t0 = Clock::now();
    const bool ok = raw->create_pair(id, next_port_block());
    raw_s += std::chrono::duration<double>(Clock::now() - t0).count();
    raw->remove_pair(id);
    auto spec = egress_spec(next_port_block());
    t0 = Clock::now();
    auto r = rt->create_and_start(spec);
    ours_s += std::chrono::duration<double>(Clock::now() - t0).count();
    (void)rt->remove(spec.sandbox_id);
    if (!ok || !r) {
      state.SkipWithError(ok ? r.error().message.c_str() : "raw pair create failed");
      break;
    }
    ++n;
  }
  if (n > 0) {
    state.counters["raw_ms"] = 1000 * raw_s / static_cast<double>(n);
    state.counters["sandboxd_ms"] = 1000 * ours_s / static_cast<double>(n);
    state.counters["overhead_pct"] = 100 * (ours_s / raw_s - 1);
  }
}

BENCHMARK(BM_RawEgressPair)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(15);
BENCHMARK(BM_RuntimeEgressCreate)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(15);
BENCHMARK(BM_EgressOverhead)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(15);

}  // namespace

BENCHMARK_MAIN();
