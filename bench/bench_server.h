// What the end-to-end benchmarks on Docker share: the engine they are pointed at, the
// config of an in-process sandboxd on loopback, and that sandboxd with an HTTP client to it.
// Header-only; the benchmarks that include it link sbx_server.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "src/config/config.h"
#include "src/http/http_client.h"
#include "src/server/server.h"

namespace sbx::bench {

// The engine to measure: SANDBOXD_BENCH_DOCKER_HOST, else SANDBOXD_TEST_DOCKER_HOST
// (scripts/docker-env.sh); "" when neither is set.
inline std::string docker_host() {
  for (const char* var : {"SANDBOXD_BENCH_DOCKER_HOST", "SANDBOXD_TEST_DOCKER_HOST"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && *v != '\0') return v;
  }
  return {};
}

// sandboxd on 127.0.0.1 (port 0) with a durable store in `dir`, on the engine at
// `docker_host` in bridge mode, publishing sandbox ports on 127.0.0.1 from [low, high], with
// the test execd image. Callers change what their measurement needs.
inline Config docker_bench_config(const std::string& docker_host, const std::filesystem::path& dir,
                                  int port_low, int port_high) {
  Config c;
  c.server.host = "127.0.0.1";
  c.server.port = 0;
  c.server.log_level = "WARNING";
  c.store.path = dir.string();
  c.store.sync = true;
  c.runtime.execd_image = "sandboxd-test/execd:1";
  c.docker.host = docker_host;
  c.docker.network_mode = "bridge";
  c.docker.port_bind_ip = "127.0.0.1";
  c.docker.host_ip = "127.0.0.1";
  c.docker.port_range_low = port_low;
  c.docker.port_range_high = port_high;
  return c;
}

// A sandboxd running in this process, and a client of its API. Stopped when destroyed.
class InProcessServer {
 public:
  // Starts it; false (with the reason on stderr) when it cannot.
  bool start(const Config& c) {
    auto s = Server::create(c);
    if (!s) {
      std::cerr << "sandboxd: " << s.error().message << "\n";
      return false;
    }
    server_ = std::move(*s);
    auto port = server_->start();
    if (!port) {
      std::cerr << "sandboxd start: " << port.error().message << "\n";
      return false;
    }
    auto http = HttpClient::create({.endpoint = "http://127.0.0.1:" + std::to_string(*port)});
    if (!http) {
      std::cerr << "sandboxd client: " << http.error().message << "\n";
      return false;
    }
    http_ = std::move(*http);
    return true;
  }

  // Stops it (its workers, API and store) and lets it go.
  void stop() {
    if (server_) server_->stop();
    server_.reset();
  }

  InProcessServer() = default;
  InProcessServer(const InProcessServer&) = delete;
  InProcessServer& operator=(const InProcessServer&) = delete;
  ~InProcessServer() { stop(); }

 protected:
  std::unique_ptr<Server> server_;
  std::unique_ptr<HttpClient> http_;
};

}  // namespace sbx::bench
