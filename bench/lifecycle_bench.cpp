// lifecycle_bench: what sandboxd adds to Docker on the create path, against the raw Engine
// API in the same run.
//
//   SANDBOXD_TEST_DOCKER_HOST=unix://DIR/docker.sock lifecycle_bench [--sequential=N]
//       [--burst=N] [--burst-rounds=N] [--network=bridge|host|both]
//
// (scripts/run-bench.sh starts a private engine with the test images and sets the variable.)
// Three ways to get a running `sandboxd-test/busybox:1` container running `sleep 3600`,
// each measured in alternation with the raw baseline so that drift of the machine falls
// on both alike (see run_network for the two phases):
//
//   raw       POST /containers/create + POST /containers/{id}/start straight to the engine,
//             with what sandboxd asks for too (limits, dropped capabilities,
//             no-new-privileges, pids limit, in bridge mode the two published ports on
//             127.0.0.1) but without execd: the issue's baseline.
//   runtime   DockerRuntime::create_and_start of the same spec: adds execd (the shared
//             read-only execd volume mounted) — the Docker adapter alone.
//   sandboxd  POST /v1/sandboxes to an in-process sandboxd (the composition root: store
//             with sync = true, provisioner workers, Docker runtime, HTTP on 127.0.0.1:0),
//             answered once the sandbox is Running (the API's default wait).
//
// Two measures per network mode:
//   sequential   one create at a time; latency median and p90 of N each.
//   burst        N (default 20) concurrent creates; wall time until all are running, as
//                creates/s; median of --burst-rounds rounds (bridge mode only).
// Every container is removed after each measurement (sandboxd's through DELETE) before the
// next starts. Prints tables with the ratios sandboxd/raw (target ≤ 1.10) and
// sandboxd/runtime (the control plane's own share). Exit 2 without an engine.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_server.h"
#include "src/common/log.h"
#include "src/common/uuid.h"
#include "src/config/config.h"
#include "src/http/http_client.h"
#include "src/runtime/docker/docker_runtime.h"
#include "src/server/server.h"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr char kImage[] = "sandboxd-test/busybox:1";
constexpr char kExecdImage[] = "sandboxd-test/execd:1";
constexpr char kBenchLabel[] = "sandboxd.io/bench";

struct Args {
  int sequential = 10;
  int burst = 20;
  int burst_rounds = 3;
  std::vector<std::string> networks = {"bridge", "host"};
};

using sbx::bench::docker_host;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))];
}

// Host ports for the bridge-mode raw containers, away from the bench sandboxd's range and
// below the kernel's ephemeral range (a client socket on such a port would make a
// publish fail with "address already in use").
class Ports {
 public:
  std::uint16_t next() {
    std::lock_guard lock(mu_);
    if (++p_ > 30999) p_ = 30000;
    return p_;
  }

 private:
  std::mutex mu_;
  std::uint16_t p_ = 29999;
};

class Raw {
 public:
  bool open(const std::string& host) {
    auto http = sbx::HttpClient::create({.endpoint = host});
    if (!http) return false;
    http_ = std::move(*http);
    auto ping = http_->send({.target = "/_ping"});
    if (!ping || ping->status != 200) return false;
    prefix_ = "/v" + std::string(ping->header("API-Version").value_or("1.41"));
    return true;
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
  // The container sandboxd would ask for, minus execd. Its id, or "" on failure.
  std::string create_and_start(const std::string& network, Ports& ports) {
    json host_config = {{"NetworkMode", network},
                        {"NanoCpus", 500'000'000},
                        {"Memory", 64LL * 1024 * 1024},
                        {"PidsLimit", 4096},
                        {"CapDrop",
                         {"AUDIT_WRITE", "MKNOD", "NET_ADMIN", "NET_RAW", "SYS_ADMIN",
                          "SYS_MODULE", "SYS_PTRACE", "SYS_TIME", "SYS_TTY_CONFIG"}},
                        {"SecurityOpt", {"no-new-privileges:true"}}};
    json body = {{"Image", kImage},
                 {"Cmd", {"sleep", "3600"}},
                 {"Labels", {{kBenchLabel, "raw"}}}};
    if (network != "host") {
      json exposed = json::object(), bindings = json::object();
      for (const char* p : {"44772/tcp", "8080/tcp"}) {
        exposed[p] = json::object();
        bindings[p] = json::array(
            {{{"HostIp", "127.0.0.1"}, {"HostPort", std::to_string(ports.next())}}});
      }
      body["ExposedPorts"] = exposed;
      host_config["PortBindings"] = bindings;
    }
    body["HostConfig"] = host_config;
    std::string out;
    if (call("POST", "/containers/create?name=bench-raw-" + sbx::new_uuid(), body.dump(), &out) !=
        201) {
      std::cerr << "raw create: " << out << "\n";
      return {};
    }
    const std::string id = json::parse(out).at("Id").get<std::string>();
    const int s = call("POST", "/containers/" + id + "/start", {}, &out);
    if (s != 204 && s != 304) {
      std::cerr << "raw start: " << s << " " << out << "\n";
      remove(id);
      return {};
    }
    return id;
  }
  void remove(const std::string& id) { call("DELETE", "/containers/" + id + "?force=1&v=1"); }
  // Removes every container the runs left behind (raw, runtime or sandboxd ones).
  int sweep() {
    std::string out;
    int n = 0;
    if (call("GET", "/containers/json?all=1", {}, &out) != 200) return 0;
    for (const auto& c : json::parse(out)) {
      const auto& labels = c.value("Labels", json::object());
      if (labels.contains(kBenchLabel) || labels.contains("sandboxd.io/id")) {
        remove(c.at("Id").get<std::string>());
        ++n;
      }
    }
    return n;
  }

 private:
  std::unique_ptr<sbx::HttpClient> http_;
  std::string prefix_;
};

// One in-process sandboxd on a fresh data directory.
class Sandboxd : public sbx::bench::InProcessServer {
 public:
  bool start(const std::string& host, const std::string& network,
             const std::filesystem::path& dir) {
    sbx::Config c = sbx::bench::docker_bench_config(host, dir, 31000, 31999);
    c.docker.network_mode = network;
    // The runtime side's containers carry sandboxd.io/id too; a periodic reconcile pass
    // would remove them as orphans mid-measurement. The startup pass and the event stream
    // still run.
    c.workers.reconcile_interval_seconds = 3600;
    return InProcessServer::start(c);
  }
  // Creates and waits (the API's default) until Running. The sandbox id, or "".
  std::string create() {
    const std::string body =
        std::string(R"({"image":{"uri":")") + kImage +
        R"("},"entrypoint":["sleep","3600"],"timeout":3600,"resourceLimits":{"cpu":"500m","memory":"64Mi"},"metadata":{"bench":"sandboxd"}})";
    auto r = http_->send({.method = "POST",
                          .target = "/v1/sandboxes",
                          .headers = {{"Content-Type", "application/json"}},
                          .body = body});
    if (!r) {
      std::cerr << "sandboxd create: " << r.error().message << "\n";
      return {};
    }
    json j = json::parse(r->body, nullptr, false);
    if (r->status / 100 != 2 || !j.is_object() || j.value("status", json::object()).value(
                                                       "state", "") != "Running") {
      std::cerr << "sandboxd create: " << r->status << " " << r->body << "\n";
      return {};
    }
    return j.value("id", "");
  }
  void remove(const std::string& id) {
    (void)http_->send({.method = "DELETE", .target = "/v1/sandboxes/" + id});
  }
};

struct Side {
  std::string name;
  std::function<std::string()> create;
  std::function<void(const std::string&)> remove;
  std::vector<double> latencies;  // ms, sequential
  std::vector<double> bursts;     // creates/s, one per round
  int failures = 0;
};

void sequential_round(Side& s) {
  const auto t0 = Clock::now();
  const std::string id = s.create();
  const double ms = ms_since(t0);
  if (id.empty()) {
    ++s.failures;
    return;
  }
  s.latencies.push_back(ms);
  s.remove(id);
}

void burst_round(Side& s, int n) {
  std::vector<std::string> ids(n);
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) threads.emplace_back([&, i] { ids[i] = s.create(); });
  for (auto& t : threads) t.join();
  const double ms = ms_since(t0);
  int ok = 0;
  for (const auto& id : ids) ok += id.empty() ? 0 : 1;
  s.failures += n - ok;
  if (ok == n) s.bursts.push_back(n / (ms / 1000.0));
  std::vector<std::thread> removers;
  for (const auto& id : ids)
    if (!id.empty()) removers.emplace_back([&s, &id] { s.remove(id); });
  for (auto& t : removers) t.join();
}

// Runs the sequential and burst rounds of `sides`, alternating between them.
void measure(const Args& a, std::vector<Side*> sides, bool burst) {
  for (int i = 0; i < a.sequential; ++i) {
    // Rotate the order so no side always follows the same one.
    for (std::size_t k = 0; k < sides.size(); ++k) sequential_round(*sides[(i + k) % sides.size()]);
  }
  if (!burst) return;
  for (int r = 0; r < a.burst_rounds; ++r) {
    for (std::size_t k = 0; k < sides.size(); ++k) {
      burst_round(*sides[(r + k) % sides.size()], a.burst);
      std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let removals settle
    }
  }
}

bool warm(Side& s) {
  const std::string id = s.create();
  if (id.empty()) {
    std::cerr << "warm-up failed for " << s.name << "\n";
    return false;
  }
  s.remove(id);
  return true;
}

// Two phases, each against the raw baseline measured beside it:
//   A  raw vs runtime, with no sandboxd running (its reconciler would remove the runtime
//      side's containers, which carry sandboxd's label but belong to no sandbox);
//   B  raw vs sandboxd.
// In host mode a sandboxd runs one live sandbox at a time (the host's ports are shared),
// so there is no burst there.
int run_network(const Args& a, const std::string& host, const std::string& network,
                const std::filesystem::path& dir) {
  Raw raw;
  if (!raw.open(host)) {
    std::cerr << "the Docker engine at " << host << " does not answer\n";
    return 2;
  }
  Ports ports;
  const bool burst = network != "host";
  Side raw_a{"raw Engine API create+start", [&] { return raw.create_and_start(network, ports); },
             [&](const std::string& id) { raw.remove(id); }};
  Side raw_b = raw_a;
  Side runtime_side;
  {
    sbx::DockerOptions ro;
    ro.host = host;
    ro.execd_image = kExecdImage;
    ro.port_bind_ip = "127.0.0.1";
    auto rt_or = sbx::DockerRuntime::create(ro);
    if (!rt_or) {
      std::cerr << rt_or.error().message << "\n";
      return 2;
    }
    auto rt = std::move(*rt_or);
    runtime_side = {"DockerRuntime::create_and_start (+execd)",
                    [&] {
                      sbx::ContainerSpec spec;
                      spec.sandbox_id = sbx::new_uuid();
                      spec.image_uri = kImage;
                      spec.entrypoint = {"sleep", "3600"};
                      spec.network_mode = network;
                      spec.limits = {.cpu = "500m", .memory = "64Mi"};
                      spec.labels = {{kBenchLabel, "runtime"}};
                      if (network != "host")
                        spec.ports = {{44772, ports.next()}, {8080, ports.next()}};
                      auto r = rt->create_and_start(spec);
                      if (!r) {
                        std::cerr << "runtime: " << r.error().message << "\n";
                        return std::string();
                      }
                      return spec.sandbox_id;
                    },
                    [&](const std::string& id) { (void)rt->remove(id); }};
    if (!warm(raw_a) || !warm(runtime_side)) return 1;
    measure(a, {&raw_a, &runtime_side}, burst);
    runtime_side.create = nullptr;
    runtime_side.remove = nullptr;
  }
  Side sandboxd_side;
  {
    Sandboxd sd;
    if (!sd.start(host, network, dir / network)) return 1;
    sandboxd_side = {"sandboxd POST /v1/sandboxes → Running", [&] { return sd.create(); },
                     [&](const std::string& id) { sd.remove(id); }};
    if (!warm(raw_b) || !warm(sandboxd_side)) return 1;
    measure(a, {&raw_b, &sandboxd_side}, burst);
  }
  const int leftover = raw.sweep();

  std::printf("\n### network_mode = %s\n\n", network.c_str());
  std::printf(
      "| phase | path | create→running median | p90 | %s | failures |\n"
      "|---|---|---|---|---|---|\n",
      burst ? (std::to_string(a.burst) + " concurrent: creates/s (median of " +
               std::to_string(a.burst_rounds) + ")")
                  .c_str()
            : "burst");
  auto row = [&](const char* phase, const Side& s) {
    std::printf("| %s | %s | %.0f ms | %.0f ms | %s | %d |\n", phase, s.name.c_str(),
                median(s.latencies), pct(s.latencies, 0.9),
                burst ? std::to_string(median(s.bursts)).substr(0, 5).c_str() : "n/a",
                s.failures);
  };
  row("A", raw_a);
  row("A", runtime_side);
  row("B", raw_b);
  row("B", sandboxd_side);
  auto ratio = [](double x, double y) { return y > 0 ? x / y : 0.0; };
  const double lat_b = ratio(median(sandboxd_side.latencies), median(raw_b.latencies));
  const double thr_b = ratio(median(sandboxd_side.bursts), median(raw_b.bursts));
  const double lat_a = ratio(median(runtime_side.latencies), median(raw_a.latencies));
  const double thr_a = ratio(median(runtime_side.bursts), median(raw_a.bursts));
  std::printf(
      "\n| ratio | latency (lower is better) | burst throughput (higher is better) |\n"
      "|---|---|---|\n"
      "| sandboxd / raw, phase B (target: latency ≤ 1.10, throughput ≥ 0.91) | %.3f | %s |\n"
      "| runtime / raw, phase A (the Docker adapter incl. execd) | %.3f | %s |\n"
      "| sandboxd over runtime (B ratio / A ratio: HTTP, event log, worker) | %.3f | %s |\n",
      lat_b, burst ? std::to_string(thr_b).substr(0, 5).c_str() : "n/a", lat_a,
      burst ? std::to_string(thr_a).substr(0, 5).c_str() : "n/a", ratio(lat_b, lat_a),
      burst ? std::to_string(ratio(thr_b, thr_a)).substr(0, 5).c_str() : "n/a");
  if (leftover != 0) std::printf("\n(swept %d containers left after the runs)\n", leftover);
  std::fflush(stdout);
  const int failures =
      raw_a.failures + raw_b.failures + runtime_side.failures + sandboxd_side.failures;
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    if (s.rfind("--sequential=", 0) == 0) {
      a.sequential = std::stoi(s.substr(13));
    } else if (s.rfind("--burst=", 0) == 0) {
      a.burst = std::stoi(s.substr(8));
    } else if (s.rfind("--burst-rounds=", 0) == 0) {
      a.burst_rounds = std::stoi(s.substr(15));
    } else if (s.rfind("--network=", 0) == 0) {
      const std::string n = s.substr(10);
      a.networks = n == "both" ? std::vector<std::string>{"bridge", "host"}
                               : std::vector<std::string>{n};
    } else if (s.rfind("--benchmark_", 0) == 0) {
      // scripts/run-bench.sh passes Google Benchmark flags to every bench; not used here.
    } else {
      std::cerr << "unknown argument " << s
                << " (--sequential=N --burst=N --burst-rounds=N --network=bridge|host|both)\n";
      return 2;
    }
  }
  sbx::set_log_level("WARNING");
  const std::string host = docker_host();
  if (host.empty()) {
    std::cerr << "SANDBOXD_TEST_DOCKER_HOST is not set (scripts/docker-env.sh start DIR)\n";
    return 2;
  }
  char tmpl[] = "/tmp/sandboxd-lifecycle-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return 1;
  const std::filesystem::path dir = tmpl;
  int rc = 0;
  for (const auto& n : a.networks) rc = std::max(rc, run_network(a, host, n, dir));
  std::filesystem::remove_all(dir);
  return rc;
}
