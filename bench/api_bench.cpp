// api_bench: load on the HTTP API, driven by wrk against an in-process server.
//
//   api_bench [--duration=SECONDS] [--connections=N] [--wrk=PATH] [--micro] [benchmark flags]
//
// Starts a real EventStore (temp dir, sync = true), SandboxService and ApiServer on
// 127.0.0.1:0, seeds 1,000 live sandboxes, then runs wrk for:
//   get        GET /v1/sandboxes/{id}, random id of the 1,000, N keep-alive connections
//   list       GET /v1/sandboxes (page of 20 of 1,000), N connections
//   list200    GET /v1/sandboxes?pageSize=200, N connections
//   create     POST /v1/sandboxes with Prefer: respond-async, 64 connections
// and, as baselines measured in the same run:
//   hello      a bare Pistache handler answering a fixed 2-byte body (raw HTTP cost)
//   create-direct  SandboxService::create from 64 threads, no HTTP (durable-append cost)
// Prints one table (requests/s, p50/p90/p99 latency, non-2xx). --micro runs Google
// Benchmark micro-benchmarks of the request/response code instead (BM_*: rendering,
// parsing, routing).
// --metrics-cost measures only what metrics cost the hot path: GET /v1/sandboxes/{id}
// against two servers over the same store, one recording HttpMetrics into a Registry and
// one without, in alternating wrk runs (--rounds=N each, default 5); prints the medians,
// the median of the per-round ratios, and exits 1 when that cost reaches 5 %.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/api_server.h"
#include "api/request_parsing.h"
#include "api/routes.h"
#include "api/sandbox_json.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/common/uuid.h"
#include "src/metrics/http_metrics.h"
#include "src/metrics/registry.h"
#include "src/service/sandbox_service.h"
#include "store/event_store.h"

namespace {

using namespace sbx;

struct Args {
  int duration = 10;
  int connections = 50;
  int create_connections = 64;
  int wrk_threads = 2;
  std::string wrk = "/usr/bin/wrk";
  bool micro = false;
  bool metrics_cost = false;
  int rounds = 5;
};

struct WrkResult {
  std::string name;
  double rps = 0;
  std::string p50, p90, p99;
  long non2xx = 0;
  long requests = 0;
  std::string raw;
};

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  ::pclose(p);
  return out;
}

WrkResult wrk(const Args& a, const std::string& name, int connections, const std::string& url,
              const std::string& script, const std::string& header = {}) {
  std::string cmd = a.wrk + " --latency -t" + std::to_string(std::min(a.wrk_threads, connections)) +
                    " -c" + std::to_string(connections) + " -d" + std::to_string(a.duration) + "s";
  if (!script.empty()) cmd += " -s " + script;
  if (!header.empty()) cmd += " -H '" + header + "'";
  cmd += " " + url + " 2>&1";
  WrkResult r;
  r.name = name;
  r.raw = run(cmd);
  std::smatch m;
  if (std::regex_search(r.raw, m, std::regex(R"(Requests/sec:\s+([0-9.]+))")))
    r.rps = std::stod(m[1]);
  // Percentiles from the "Latency Distribution" block (the thread stats also print "NN%").
  const auto dist = r.raw.find("Latency Distribution");
  const std::string tail = dist == std::string::npos ? std::string() : r.raw.substr(dist);
  if (std::regex_search(tail, m, std::regex(R"(50%\s+(\S+))"))) r.p50 = m[1];
  if (std::regex_search(tail, m, std::regex(R"(90%\s+(\S+))"))) r.p90 = m[1];
  if (std::regex_search(tail, m, std::regex(R"(99%\s+(\S+))"))) r.p99 = m[1];
  if (std::regex_search(r.raw, m, std::regex(R"(Non-2xx or 3xx responses:\s+(\d+))")))
    r.non2xx = std::stol(m[1]);
  if (std::regex_search(r.raw, m, std::regex(R"((\d+) requests in)"))) r.requests = std::stol(m[1]);
  return r;
}

// Open-loop-ish paced load: `clients` threads, one keep-alive connection each, together
// sending `rate` GET requests per second on a fixed schedule (a late request is sent at
// once, and its latency counts from its scheduled time, so queueing is not hidden).
struct Paced {
  double rate = 0;
  double achieved = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0;  // ms
  long errors = 0;
};

Paced paced_get(std::uint16_t port, const std::vector<std::string>& ids, double rate, int clients,
                int seconds) {
  std::vector<std::vector<double>> lat(clients);
  std::atomic<long> errors{0};
  const auto start = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
  const auto interval = std::chrono::duration<double>(clients / rate);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ++errors;
        return;
      }
      std::string buf;
      char tmp[65536];
      const auto offset = std::chrono::duration<double>(interval.count() * c / clients);
      for (long i = 0;; ++i) {
        const auto due = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     offset + interval * static_cast<double>(i));
        if (due >= start + std::chrono::seconds(seconds)) break;
        std::this_thread::sleep_until(due);
        const std::string req = "GET /v1/sandboxes/" + ids[(i * clients + c) % ids.size()] +
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) < 0) {
          ++errors;
          break;
        }
        buf.clear();
        std::size_t need = std::string::npos;
        while (need == std::string::npos || buf.size() < need) {
          const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
          if (n <= 0) break;
          buf.append(tmp, static_cast<std::size_t>(n));
          const auto head = buf.find("\r\n\r\n");
          if (head != std::string::npos && need == std::string::npos) {
            const auto cl = buf.find("Content-Length: ");
            need = head + 4 + (cl == std::string::npos ? 0 : std::stoul(buf.substr(cl + 16)));
          }
        }
        if (buf.compare(0, 12, "HTTP/1.1 200") != 0) ++errors;
        lat[c].push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - due)
                .count());
      }
      ::close(fd);
    });
  }
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  Paced r;
  r.rate = rate;
  r.errors = errors;
  if (all.empty()) return r;
  r.achieved = all.size() / static_cast<double>(seconds);
  r.p50 = all[all.size() / 2];
  r.p90 = all[all.size() * 9 / 10];
  r.p99 = all[all.size() * 99 / 100];
  r.max = all.back();
  return r;
}

std::string write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
  return p.string();
}

CreateRequest bench_create() {
  CreateRequest r;
  r.spec.image_uri = "python:3.11";
  r.spec.entrypoint = {"python", "-m", "http.server", "8000"};
  r.spec.resource_limits = {{"cpu", "500m"}, {"memory", "512Mi"}};
  r.spec.env = {{"MODE", "bench"}};
  r.metadata = {{"team", "bench"}, {"run", "api"}};
  r.timeout_seconds = 3600;
  return r;
}

// The raw-Pistache baseline: same library, same options, no routing, no JSON.
class HelloHandler : public Pistache::Http::Handler {
 public:
  HTTP_PROTOTYPE(HelloHandler)
  void onRequest(const Pistache::Http::Request&, Pistache::Http::ResponseWriter w) override {
    w.send(Pistache::Http::Code::Ok, "ok");
  }
};

// One server process's worth of parts on a fresh data directory (sync = true).
struct Stack {
  explicit Stack(const std::filesystem::path& dir, metrics::HttpMetrics* http_metrics = nullptr) {
    auto s = EventStore::open(StoreOptions{.path = dir.string(), .sync = true});
    if (!s) throw std::runtime_error("store: " + s.error().message);
    store = std::move(*s);
    ServiceOptions so;
    so.network_mode = "bridge";
    so.port_range_low = 1024;
    so.port_range_high = 65535;
    so.probe_host_ports = false;
    so.endpoint_rules.host = "127.0.0.1";
    so.mutation_threads = 64;
    service = std::make_unique<SandboxService>(*store, clock, so);
    reads = std::make_unique<EventReads>(*store);
    api::ApiOptions ao;
    ao.host = "127.0.0.1";
    ao.port = 0;
    ao.threads = 2;
    server = std::make_unique<api::ApiServer>(api::ApiDeps{*service, *reads, {}, http_metrics}, ao);
    auto p = server->start();
    if (!p) throw std::runtime_error("server: " + p.error().message);
    port = *p;
    base = "http://127.0.0.1:" + std::to_string(port);
  }
  ~Stack() {
    server->shutdown();
    service->shutdown();
  }
  SystemClock clock;
  std::unique_ptr<EventStore> store;
  std::unique_ptr<SandboxService> service;
  std::unique_ptr<EventReads> reads;
  std::unique_ptr<api::ApiServer> server;
  std::uint16_t port = 0;
  std::string base;
};

int load(const Args& a) {
  set_log_level("WARNING");
  char tmpl[] = "/tmp/sandboxd-api-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  const std::filesystem::path dir = tmpl;
  std::vector<WrkResult> results;
  double direct_rps = 0;
  std::vector<Paced> paced;
  const RequestContext ctx{"bench", "bench"};
  // Creates allocate two host ports each from 64,512: keep create phases short enough
  // (and on fresh stacks) never to exhaust the range.
  Args create_args = a;
  create_args.duration = std::min(a.duration, 5);
  try {
    {
      Stack st(dir / "reads");
      // 1,000 live sandboxes, a third of them Running.
      std::vector<std::string> ids;
      for (int i = 0; i < 1000; ++i) {
        auto c = st.service->create(bench_create(), ctx);
        if (!c) return 1;
        ids.push_back(c->sandbox.id);
        if (i % 3 == 0) (void)st.service->execute(c->sandbox.id, RecordStarted{"c"}, ctx);
      }
      std::string lua = "local ids = {";
      for (const auto& id : ids) lua += "\"" + id + "\",";
      lua +=
          "}\nrequest = function()\n  return wrk.format(\"GET\", \"/v1/sandboxes/\" .. "
          "ids[math.random(#ids)])\nend\n";
      const std::string get_script = write_file(dir / "get.lua", lua);
      for (double rate : {2000.0, 5000.0, 8000.0})
        paced.push_back(paced_get(st.port, ids, rate, 8, a.duration));
      results.push_back(wrk(a, "GET /v1/sandboxes/{id}", a.connections, st.base, get_script));
      results.push_back(wrk(a, "GET /v1/sandboxes/{id}, 8 connections", 8, st.base, get_script));
      results.push_back(
          wrk(a, "GET /v1/sandboxes (20 of 1000)", a.connections, st.base + "/v1/sandboxes", ""));
      results.push_back(wrk(a, "GET /v1/sandboxes?pageSize=200", a.connections,
                            st.base + "/v1/sandboxes?pageSize=200", ""));
    }
    {
      Stack st(dir / "creates");
      const std::string body =
          R"({"image":{"uri":"python:3.11"},"entrypoint":["python","-m","http.server"],"timeout":3600,"resourceLimits":{"cpu":"500m","memory":"512Mi"},"metadata":{"team":"bench"}})";
      const std::string create_script = write_file(
          dir / "create.lua", "wrk.method = \"POST\"\nwrk.body = '" + body +
                                  "'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
                                  "wrk.headers[\"Prefer\"] = \"respond-async\"\n");
      results.push_back(wrk(create_args, "POST /v1/sandboxes (respond-async)", a.create_connections,
                            st.base + "/v1/sandboxes", create_script));
    }
    {
      // Baseline: the same creates without HTTP, from as many threads as connections.
      Stack st(dir / "direct");
      std::atomic<bool> stop{false};
      std::atomic<long> done{0};
      std::vector<std::thread> threads;
      const auto t0 = std::chrono::steady_clock::now();
      for (int t = 0; t < a.create_connections; ++t) {
        threads.emplace_back([&] {
          while (!stop) {
            if (st.service->create(bench_create(), ctx)) ++done;
          }
        });
      }
      std::this_thread::sleep_for(std::chrono::seconds(create_args.duration));
      stop = true;
      for (auto& t : threads) t.join();
      direct_rps =
          done / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  {
    // Raw Pistache baseline.
    using namespace Pistache;
    Http::Endpoint ep(Address(Ipv4::loopback(), Port(0)));
    ep.init(Http::Endpoint::options().threads(2).flags(Tcp::Options::ReuseAddr));
    ep.setHandler(Http::make_handler<HelloHandler>());
    ep.serveThreaded();
    // Pistache's own input handler answers "Connection: close" to HTTP/1.1 requests without
    // a Connection header (ours does not); ask for keep-alive so the baseline keeps its
    // connections like the API runs do.
    const std::string url =
        "http://127.0.0.1:" + std::to_string(static_cast<uint16_t>(ep.getPort())) + "/";
    results.push_back(wrk(a, "baseline: bare Pistache handler", a.connections, url, "",
                          "Connection: keep-alive"));
    results.push_back(wrk(a, "baseline: bare Pistache handler, 8 connections", 8, url, "",
                          "Connection: keep-alive"));
    ep.shutdown();
  }
  std::filesystem::remove_all(dir);

  std::printf(
      "\n| scenario | connections | requests/s | p50 | p90 | p99 | non-2xx "
      "|\n|---|---|---|---|---|---|---|\n");
  for (const auto& r : results) {
    const int conns = r.name.starts_with("POST")          ? a.create_connections
                      : r.name.ends_with("8 connections") ? 8
                                                          : a.connections;
    std::printf("| %s | %d | %.0f | %s | %s | %s | %ld |\n", r.name.c_str(), conns, r.rps,
                r.p50.c_str(), r.p90.c_str(), r.p99.c_str(), r.non2xx);
  }
  std::printf("| baseline: SandboxService::create, no HTTP | %d threads | %.0f | | | | |\n",
              a.create_connections, direct_rps);
  std::printf(
      "\n| paced GET /v1/sandboxes/{id} (8 connections) | target req/s | achieved | p50 | p90 | "
      "p99 | max | errors |\n|---|---|---|---|---|---|---|---|\n");
  for (const auto& p : paced) {
    std::printf("| | %.0f | %.0f | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %ld |\n", p.rate,
                p.achieved, p.p50, p.p90, p.p99, p.max, p.errors);
  }
  for (const auto& r : results) {
    if (r.rps == 0) std::cerr << "wrk output for " << r.name << ":\n" << r.raw << "\n";
  }
  return 0;
}

// The cost of metrics on the hot path. Both servers run in this process over one store
// and one service (the same 1,000 sandboxes), so the only difference between them is the
// HttpMetrics pointer: with it, every request increments the in-flight gauge, looks up its
// {method, route, status} counter and {method, route} histogram children and records them.
// The runs alternate (without, with, without, ...) so that drift of the machine's load
// falls on both sides alike.
int metrics_cost(const Args& a) {
  set_log_level("WARNING");
  char tmpl[] = "/tmp/sandboxd-api-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  const std::filesystem::path dir = tmpl;
  std::vector<double> with, without;
  long non2xx = 0;
  std::string scrape_sample;
  try {
    metrics::Registry registry;
    metrics::HttpMetrics hm(registry);
    Stack plain(dir / "store");
    api::ApiOptions ao;
    ao.host = "127.0.0.1";
    ao.port = 0;
    ao.threads = 2;
    api::ApiServer measured(api::ApiDeps{*plain.service, *plain.reads, {}, &hm}, ao);
    auto p = measured.start();
    if (!p) throw std::runtime_error("server: " + p.error().message);
    const std::string measured_base = "http://127.0.0.1:" + std::to_string(*p);
    const RequestContext ctx{"bench", "bench"};
    std::string lua = "local ids = {";
    for (int i = 0; i < 1000; ++i) {
      auto c = plain.service->create(bench_create(), ctx);
      if (!c) throw std::runtime_error("seed: " + c.error().message);
      lua += "\"" + c->sandbox.id + "\",";
    }
    lua +=
        "}\nrequest = function()\n  return wrk.format(\"GET\", \"/v1/sandboxes/\" .. "
        "ids[math.random(#ids)])\nend\n";
    const std::string script = write_file(dir / "get.lua", lua);
    // Warm both (connections, caches, the metric children) before measuring.
    Args warm = a;
    warm.duration = 2;
    (void)wrk(warm, "warm", a.connections, plain.base, script);
    (void)wrk(warm, "warm", a.connections, measured_base, script);
    for (int r = 0; r < a.rounds; ++r) {
      for (bool on : {false, true}) {
        // Alternate which side goes first so neither always runs second.
        const bool side = (r % 2 == 0) ? on : !on;
        WrkResult w = wrk(a, side ? "with metrics" : "without metrics", a.connections,
                          side ? measured_base : plain.base, script);
        if (w.rps == 0) {
          std::cerr << "wrk output:\n" << w.raw << "\n";
          return 1;
        }
        non2xx += w.non2xx;
        (side ? with : without).push_back(w.rps);
        std::printf("round %d %-16s %9.0f req/s  p99 %s\n", r + 1,
                    side ? "with metrics" : "without metrics", w.rps, w.p99.c_str());
        std::fflush(stdout);
      }
    }
    measured.shutdown();
    const std::string text = registry.expose();
    const auto at = text.find("sandboxd_http_requests_total{");
    if (at != std::string::npos) scrape_sample = text.substr(at, text.find('\n', at) - at);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  std::filesystem::remove_all(dir);
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  // Each round's two runs are back to back, so their ratio cancels the slow drift of the
  // machine's load; the median of those paired ratios is the figure that counts.
  std::vector<double> paired;
  for (std::size_t i = 0; i < with.size() && i < without.size(); ++i)
    paired.push_back(with[i] / without[i]);
  const double m_with = median(with), m_without = median(without);
  const double m_paired = median(paired);
  const double diff = (1.0 - m_paired) * 100.0;
  std::printf(
      "\n| GET /v1/sandboxes/{id}, %d connections, %d x %d s | req/s |\n|---|---|\n"
      "| without metrics (baseline), median | %.0f |\n| with metrics, median | %.0f |\n"
      "| ratio of the medians | %.3f |\n| median of the paired (same round) ratios | %.3f |\n"
      "| cost of metrics (from the paired ratios) | %.1f %% (target < 5 %%) |\n",
      a.connections, a.rounds, a.duration, m_without, m_with, m_with / m_without, m_paired,
      diff);
  std::printf("non-2xx answers: %ld; a recorded series: %s\n", non2xx, scrape_sample.c_str());
  return (diff < 5.0 && non2xx == 0) ? 0 : 1;
}

// --- micro-benchmarks ----------------------------------------------------------------------

Sandbox sample_sandbox() {
  Sandbox s;
  s.id = new_uuid();
  s.version = 3;
  s.state = SandboxState::kRunning;
  s.created_at = 1'800'000'000LL * kMicrosPerSecond;
  s.last_transition_at = s.created_at + 170'000;
  s.expires_at = s.created_at + 3600 * kMicrosPerSecond;
  s.metadata = {{"team", "ml"}, {"project", "apollo"}};
  s.spec.image_uri = "python:3.11";
  s.spec.entrypoint = {"python", "-m", "http.server", "8000"};
  s.spec.ports = {{44772, 40001}, {8080, 40002}};
  s.spec.network_mode = "bridge";
  return s;
}

void BM_RenderSandbox(benchmark::State& state) {
  const Sandbox s = sample_sandbox();
  for (auto _ : state) benchmark::DoNotOptimize(api::render_sandbox(s));
}
BENCHMARK(BM_RenderSandbox);

void BM_RenderList20(benchmark::State& state) {
  ListPage page;
  for (int i = 0; i < 20; ++i) page.items.push_back(std::make_shared<Sandbox>(sample_sandbox()));
  page.total_items = 1000;
  page.total_pages = 50;
  page.has_next_page = true;
  for (auto _ : state) benchmark::DoNotOptimize(api::render_list(page));
}
BENCHMARK(BM_RenderList20);

void BM_ParseCreateRequest(benchmark::State& state) {
  const std::string body =
      R"({"image":{"uri":"python:3.11"},"entrypoint":["python","-m","http.server"],"timeout":3600,"resourceLimits":{"cpu":"500m","memory":"512Mi"},"env":{"A":"1","B":null},"metadata":{"team":"bench","project":"x"}})";
  for (auto _ : state) benchmark::DoNotOptimize(api::parse_create_request(body, {}));
}
BENCHMARK(BM_ParseCreateRequest);

// The router on the hot path: GET /v1/sandboxes/{id} matched against the route table.
void BM_RouteMatch(benchmark::State& state) {
  const std::string path = "/v1/sandboxes/" + new_uuid();
  const api::Router& router = api::api_router();
  for (auto _ : state) {
    api::RouteMatch m;
    router.match(Pistache::Http::Method::Get, path, m);
    benchmark::DoNotOptimize(m.route());
    benchmark::DoNotOptimize(m.param("id").data());
  }
}
BENCHMARK(BM_RouteMatch);

}  // namespace

int main(int argc, char** argv) {
  Args a;
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    if (s.rfind("--duration=", 0) == 0) {
      a.duration = std::stoi(s.substr(11));
    } else if (s.rfind("--connections=", 0) == 0) {
      a.connections = std::stoi(s.substr(14));
    } else if (s.rfind("--wrk=", 0) == 0) {
      a.wrk = s.substr(6);
    } else if (s == "--micro") {
      a.micro = true;
    } else if (s == "--metrics-cost") {
      a.metrics_cost = true;
    } else if (s.rfind("--rounds=", 0) == 0) {
      a.rounds = std::stoi(s.substr(9));
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (a.micro) {
    int n = static_cast<int>(rest.size());
    benchmark::Initialize(&n, rest.data());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
  }
  if (::access(a.wrk.c_str(), X_OK) != 0) {
    std::cerr << "wrk not found at " << a.wrk
              << " (install the Debian package wrk or pass --wrk=PATH)\n";
    return 2;
  }
  return a.metrics_cost ? metrics_cost(a) : load(a);
}
