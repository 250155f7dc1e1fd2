// proxy_bench: the server proxy against hitting the sandbox's published port directly, in
// the same run.
//
//   SANDBOXD_TEST_DOCKER_HOST=unix://DIR/docker.sock proxy_bench [--seconds=S] [--rounds=R]
//       [--connections=C] [--ws-messages=N] [--proxy-threads=T] [--connect-in-netns=0|1]
//       (other flags, e.g. run-bench.sh's --benchmark_*, are ignored)
//
// (scripts/run-bench.sh starts a private engine with the test images and sets the variable.)
// One in-process sandboxd (the composition root, API key on, HTTP on 127.0.0.1:0) runs one
// sandbox from sandboxd-test/proxy-app:1 (the busybox test image plus proxy-test-app, built
// here with the engine's legacy builder) in bridge mode. Then, alternating in each round so
// that drift of the machine falls on both alike:
//
//   direct   GET http://127.0.0.1:<published host port of 8080>/download?bytes=256
//   proxied  GET http://127.0.0.1:<sandboxd>/sandboxes/{id}/proxy/8080/download?bytes=256
//            (with the API key, which the proxy checks and strips)
//
// C keep-alive connections (default 4), one thread each, sending requests back to back for
// S seconds (default 3); throughput (requests/s) and the p50/p99 latency of every request.
// Medians of R rounds (default 3), and the ratio proxied/direct (target >= 0.7 throughput).
// sandboxd runs with proxy.connect_in_netns as given (default 1: it reaches the app from
// inside the sandbox's network namespace; 0: through the published port, as `direct` does,
// which is one TCP connection and the engine's docker-proxy more); the routes its upstream
// connections took are printed from its metrics.
// WebSocket: N (default 2000) echo round trips of a 64-byte message on one connection,
// direct vs proxied, p50/p99. Bulk: one 256 MiB download, MB/s each way. Exit 2 without an
// engine, 1 when a side fails.
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_server.h"
#include "src/http/http_client.h"
#include "src/server/server.h"

#ifndef SBX_PROXY_TEST_APP
#error "SBX_PROXY_TEST_APP (the proxy-test-app binary) must be defined by the build"
#endif

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr char kBaseImage[] = "sandboxd-test/busybox:1";
constexpr char kAppImage[] = "sandboxd-test/proxy-app:1";
constexpr char kApiKey[] = "proxy-bench-key";

using sbx::bench::docker_host;

bool build_app_image(const std::string& host) {
  const auto dir = std::filesystem::temp_directory_path() / ("proxy-bench-image-" +
                                                             std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(SBX_PROXY_TEST_APP, dir / "app",
                             std::filesystem::copy_options::overwrite_existing);
  std::ofstream(dir / "Dockerfile") << "FROM " << kBaseImage << "\nCOPY app /app\n";
  const std::string cmd = "DOCKER_BUILDKIT=0 docker -H '" + host + "' build -q -t " + kAppImage +
                          " '" + dir.string() + "' >/dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  std::filesystem::remove_all(dir);
  return rc == 0;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}
double median(std::vector<double> v) { return percentile(std::move(v), 0.5); }

struct Target {
  int port = 0;
  std::string prefix;  // "" (direct) or "/sandboxes/{id}/proxy/8080"
  bool key = false;
};

struct LoadResult {
  double rps = 0;
  double p50_us = 0;
  double p99_us = 0;
  bool ok = true;
};

// C connections, back-to-back GETs for `seconds`.
LoadResult load(const Target& t, int connections, double seconds) {
  std::atomic<bool> failed{false};
  std::vector<std::vector<double>> lat(connections);
  std::vector<std::thread> threads;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
  const auto t0 = Clock::now();
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      try {
        asio::io_context io;
        tcp::socket s(io);
        s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                static_cast<unsigned short>(t.port)));
        s.set_option(tcp::no_delay(true));
        bhttp::request<bhttp::empty_body> req(bhttp::verb::get,
                                              t.prefix + "/download?bytes=256", 11);
        req.set(bhttp::field::host, "127.0.0.1:" + std::to_string(t.port));
        if (t.key) req.set("OPEN-SANDBOX-API-KEY", kApiKey);
        beast::flat_buffer buf;
        while (Clock::now() < end) {
          const auto a = Clock::now();
          bhttp::write(s, req);
          bhttp::response<bhttp::string_body> res;
          bhttp::read(s, buf, res);
          if (res.result_int() != 200 || res.body().size() != 256) {
            failed = true;
            return;
          }
          lat[c].push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
        }
      } catch (const std::exception& e) {
        std::cerr << "load: " << e.what() << "\n";
        failed = true;
      }
    });
  }
  for (auto& th : threads) th.join();
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  LoadResult r;
  r.ok = !failed;
  r.rps = static_cast<double>(all.size()) / wall;
  r.p50_us = percentile(all, 0.5);
  r.p99_us = percentile(all, 0.99);
  return r;
}

// WebSocket echo round trips on one connection: latencies in microseconds.
std::vector<double> ws_echo(const Target& t, int messages) {
  std::vector<double> out;
  asio::io_context io;
  websocket::stream<tcp::socket> ws(io);
  ws.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                        static_cast<unsigned short>(t.port)));
  ws.next_layer().set_option(tcp::no_delay(true));
  if (t.key) {
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::request_type& r) { r.set("OPEN-SANDBOX-API-KEY", kApiKey); }));
  }
  ws.handshake("127.0.0.1:" + std::to_string(t.port), t.prefix + "/ws");
  const std::string msg(64, 'm');
  beast::flat_buffer in;
  for (int i = 0; i < messages; ++i) {
    const auto a = Clock::now();
    ws.write(asio::buffer(msg));
    ws.read(in);
    if (in.size() != msg.size()) throw std::runtime_error("short echo");
    in.consume(in.size());
    out.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
  }
  ws.close(websocket::close_code::normal);
  return out;
}

// One download of `bytes`: MB/s.
double bulk(const Target& t, std::size_t bytes) {
  asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(t.port)));
  bhttp::request<bhttp::empty_body> req(
      bhttp::verb::get, t.prefix + "/download?bytes=" + std::to_string(bytes), 11);
  req.set(bhttp::field::host, "127.0.0.1");
  if (t.key) req.set("OPEN-SANDBOX-API-KEY", kApiKey);
  const auto a = Clock::now();
  bhttp::write(s, req);
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::buffer_body> p;
  p.body_limit(bytes + 1);
  bhttp::read_header(s, buf, p);
  std::vector<char> chunk(256 * 1024);
  std::size_t total = 0;
  while (!p.is_done()) {
    p.get().body().data = chunk.data();
    p.get().body().size = chunk.size();
    beast::error_code ec;
    bhttp::read(s, buf, p, ec);
    if (ec && ec != bhttp::error::need_buffer) throw beast::system_error(ec);
    total += chunk.size() - p.get().body().size;
  }
  if (total != bytes) throw std::runtime_error("short download");
  return static_cast<double>(bytes) / 1e6 / std::chrono::duration<double>(Clock::now() - a).count();
}

int arg_int(int argc, char** argv, const std::string& name, int def) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--" + name + "=", 0) == 0) return std::atoi(a.c_str() + name.size() + 3);
  }
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  const int seconds = std::max(1, arg_int(argc, argv, "seconds", 3));
  const int rounds = std::max(1, arg_int(argc, argv, "rounds", 3));
  const int connections = std::max(1, arg_int(argc, argv, "connections", 4));
  const int ws_messages = std::max(10, arg_int(argc, argv, "ws-messages", 2000));
  const int proxy_threads = std::max(1, arg_int(argc, argv, "proxy-threads", 2));
  const bool connect_in_netns = arg_int(argc, argv, "connect-in-netns", 1) != 0;
  const std::string host = docker_host();
  if (host.empty()) {
    std::cerr << "SANDBOXD_TEST_DOCKER_HOST is not set (scripts/docker-env.sh start DIR)\n";
    return 2;
  }
  if (!build_app_image(host)) {
    std::cerr << "docker build of " << kAppImage << " failed\n";
    return 1;
  }
  const auto dir = std::filesystem::temp_directory_path() / ("proxy-bench-" +
                                                             std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  sbx::Config c = sbx::bench::docker_bench_config(host, dir, 32000, 32999);
  c.server.api_key = kApiKey;
  c.proxy.threads = proxy_threads;
  c.proxy.connect_in_netns = connect_in_netns;
  auto server = sbx::Server::create(c);
  if (!server) {
    std::cerr << "sandboxd: " << server.error().message << "\n";
    return 1;
  }
  auto port = (*server)->start();
  if (!port) {
    std::cerr << "sandboxd start: " << port.error().message << "\n";
    return 1;
  }
  auto api = sbx::HttpClient::create({.endpoint = "http://127.0.0.1:" + std::to_string(*port)});
  if (!api) return 1;
  const std::vector<sbx::HttpHeader> key = {{"OPEN-SANDBOX-API-KEY", kApiKey},
                                            {"Content-Type", "application/json"}};
  const std::string body = std::string(R"({"image":{"uri":")") + kAppImage +
                           R"("},"entrypoint":["/app","--port","8080","--host","0.0.0.0"],)"
                           R"("timeout":3600,"resourceLimits":{"cpu":"1","memory":"256Mi"}})";
  auto created = (*api)->send({.method = "POST", .target = "/v1/sandboxes", .headers = key,
                               .body = body});
  json j = created ? json::parse(created->body, nullptr, false) : json();
  if (!created || !j.is_object() || j.value("status", json::object()).value("state", "") !=
                                        "Running") {
    std::cerr << "create: " << (created ? created->body : created.error().message) << "\n";
    (*server)->stop();
    return 1;
  }
  const std::string id = j.value("id", "");
  auto ep = (*api)->send({.method = "GET", .target = "/v1/sandboxes/" + id + "/endpoints/8080",
                          .headers = key});
  json e = ep ? json::parse(ep->body, nullptr, false) : json();
  const std::string endpoint = e.is_object() ? e.value("endpoint", "") : "";
  const int app_port = std::atoi(endpoint.substr(endpoint.find(':') + 1).c_str());
  const Target direct{app_port, "", false};
  const Target proxied{*port, "/sandboxes/" + id + "/proxy/8080", true};

  int rc = 0;
  try {
    // The app needs a moment after the container starts.
    for (int i = 0; i < 100; ++i) {
      if (load(direct, 1, 0.05).ok) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    (void)load(proxied, connections, 0.5);  // warm both paths
    (void)load(direct, connections, 0.5);
    std::vector<double> d_rps, p_rps, d_p50, p_p50, d_p99, p_p99;
    for (int r = 0; r < rounds; ++r) {
      auto d = load(direct, connections, seconds);
      auto p = load(proxied, connections, seconds);
      if (!d.ok || !p.ok) throw std::runtime_error("a load round failed");
      d_rps.push_back(d.rps);
      p_rps.push_back(p.rps);
      d_p50.push_back(d.p50_us);
      p_p50.push_back(p.p50_us);
      d_p99.push_back(d.p99_us);
      p_p99.push_back(p.p99_us);
      std::printf("round %d: direct %.0f req/s (p99 %.0f us), proxied %.0f req/s (p99 %.0f us)\n",
                  r + 1, d.rps, d.p99_us, p.rps, p.p99_us);
    }
    std::vector<double> d_ws, p_ws;
    for (int r = 0; r < rounds; ++r) {
      auto d = ws_echo(direct, ws_messages);
      auto p = ws_echo(proxied, ws_messages);
      d_ws.insert(d_ws.end(), d.begin(), d.end());
      p_ws.insert(p_ws.end(), p.begin(), p.end());
    }
    std::vector<double> d_bulk, p_bulk;
    for (int r = 0; r < rounds; ++r) {
      d_bulk.push_back(bulk(direct, 256u << 20));
      p_bulk.push_back(bulk(proxied, 256u << 20));
    }
    std::printf("\nproxy_bench: %d connections, %d s x %d rounds, GET of 256 bytes (medians)\n",
                connections, seconds, rounds);
    std::printf("%-28s %12s %12s %8s\n", "", "direct", "proxied", "ratio");
    std::printf("%-28s %12.0f %12.0f %8.2f\n", "HTTP throughput (req/s)", median(d_rps),
                median(p_rps), median(p_rps) / median(d_rps));
    std::printf("%-28s %12.0f %12.0f %8.2f\n", "HTTP latency p50 (us)", median(d_p50),
                median(p_p50), median(p_p50) / median(d_p50));
    std::printf("%-28s %12.0f %12.0f %8.2f\n", "HTTP latency p99 (us)", median(d_p99),
                median(p_p99), median(p_p99) / median(d_p99));
    std::printf("%-28s %12.0f %12.0f %8.2f\n", "WebSocket echo p50 (us)", percentile(d_ws, 0.5),
                percentile(p_ws, 0.5), percentile(p_ws, 0.5) / percentile(d_ws, 0.5));
    std::printf("%-28s %12.0f %12.0f %8.2f\n", "WebSocket echo p99 (us)", percentile(d_ws, 0.99),
                percentile(p_ws, 0.99), percentile(p_ws, 0.99) / percentile(d_ws, 0.99));
    std::printf("%-28s %12.0f %12.0f %8.2f\n", "256 MiB download (MB/s)", median(d_bulk),
                median(p_bulk), median(p_bulk) / median(d_bulk));
    auto m = (*api)->send({.method = "GET", .target = "/metrics", .headers = key});
    const std::string text = m ? "\n" + m->body : std::string();
    std::string routes;
    for (const char* route : {"netns", "published", "fallback"}) {
      const std::string needle =
          std::string("\nsandboxd_proxy_upstream_connects_total{route=\"") + route + "\"} ";
      const auto pos = text.find(needle);
      const auto from = pos == std::string::npos ? pos : pos + needle.size();
      routes += std::string(" ") + route + "=" +
                (pos == std::string::npos ? std::string("0")
                                          : text.substr(from, text.find('\n', from) - from));
    }
    std::printf("proxy.connect_in_netns = %s; upstream connections by route:%s\n",
                connect_in_netns ? "true" : "false", routes.c_str());
    std::printf("target: proxied/direct throughput >= 0.70 -> %s\n",
                median(p_rps) / median(d_rps) >= 0.70 ? "met" : "NOT met");
  } catch (const std::exception& ex) {
    std::cerr << "proxy_bench: " << ex.what() << "\n";
    rc = 1;
  }
  (void)(*api)->send({.method = "DELETE", .target = "/v1/sandboxes/" + id, .headers = key});
  std::this_thread::sleep_for(std::chrono::seconds(2));
  (*server)->stop();
  std::filesystem::remove_all(dir);
  return rc;
}
