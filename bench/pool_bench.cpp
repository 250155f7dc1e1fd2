// pool_bench: create -> Running from a warm pool against a cold create, same run (issue 14).
//
//   SANDBOXD_TEST_DOCKER_HOST=unix://DIR/docker.sock pool_bench [--members=N] [--rounds=R]
//
// (scripts/run-bench.sh starts a private engine with the test images and sets the variable.)
// One in-process sandboxd (the composition root: store with sync = true, provisioner
// workers, pool keeper, Docker runtime in bridge mode, HTTP on 127.0.0.1:0) and one pool of
// N members of `sandboxd-test/busybox:1` running `sleep 3600`. Each round:
//   warm   waits until the pool holds N available members, then N sequential
//          POST /v1/sandboxes {extensions: {poolRef, poolWarmOnly: "true"}}: each answer
//          says Running (a claim), so its latency is create -> Running;
//   cold   N sequential POST /v1/sandboxes with the same image, entrypoint and limits and
//          no pool, answered once Running (the API's default wait);
// then every sandbox of the round is deleted. Warm and cold alternate per round, so drift
// of the machine falls on both alike. At the end the pool is deleted and the bench waits
// until the keeper has drained its members (no container outlives it). Prints p50/p90/p99 of both, the ratio, and the
// issue's targets (warm p50 <= 10 ms, p99 <= 30 ms). Exit 2 without an engine, 1 when a
// create fails.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_server.h"
#include "src/common/log.h"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr char kImage[] = "sandboxd-test/busybox:1";

using sbx::bench::docker_host;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(v.size() - 1, i)];
}

std::string template_fields() {
  return std::string(R"("image":{"uri":")") + kImage +
         R"("},"entrypoint":["sleep","3600"],"resourceLimits":{"cpu":"500m","memory":"64Mi"})";
}

class Bench : public sbx::bench::InProcessServer {
 public:
  bool start(const std::string& host, const std::filesystem::path& dir) {
    sbx::Config c = sbx::bench::docker_bench_config(host, dir, 32000, 32999);
    c.pools.keeper_interval_ms = 200;
    return InProcessServer::start(c);
  }

  std::optional<sbx::HttpResponse> send(const std::string& method, const std::string& target,
                                        const std::string& body = {}) {
    sbx::HttpRequest req{.method = method, .target = target, .body = body};
    if (!body.empty()) req.headers.push_back({"Content-Type", "application/json"});
    auto r = http_->send(req);
    if (!r) {
      std::cerr << method << " " << target << ": " << r.error().message << "\n";
      return std::nullopt;
    }
    return std::move(*r);
  }

  bool make_pool(int members) {
    const std::string body = R"({"name":"bench","template":{)" + template_fields() +
                             R"(},"capacitySpec":{"bufferMin":)" + std::to_string(members) +
                             R"(,"bufferMax":)" + std::to_string(members) +
                             R"(,"poolMin":0,"poolMax":)" + std::to_string(members) + "}}";
    auto r = send("POST", "/v1/pools", body);
    if (!r || r->status != 201) {
      if (r) std::cerr << "create pool: " << r->status << " " << r->body << "\n";
      return false;
    }
    return true;
  }

  // Waits (at most 5 min) until the pool has `n` available members.
  bool wait_full(int n) {
    const auto deadline = Clock::now() + std::chrono::minutes(5);
    while (Clock::now() < deadline) {
      auto r = send("GET", "/v1/pools/bench");
      if (r && r->status == 200) {
        json j = json::parse(r->body, nullptr, false);
        if (j.is_object() && j["status"].value("available", 0) >= n) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::cerr << "the pool did not fill within 5 minutes\n";
    return false;
  }

  // One create answered Running: its latency in ms, or < 0 on failure.
  double create(bool warm, std::vector<std::string>& ids) {
    const std::string body =
        warm ? std::string(R"({"extensions":{"poolRef":"bench","poolWarmOnly":"true"},"timeout":3600})")
             : "{" + template_fields() + R"(,"timeout":3600})";
    const auto t0 = Clock::now();
    auto r = send("POST", "/v1/sandboxes", body);
    const double ms = ms_since(t0);
    if (!r) return -1;
    json j = json::parse(r->body, nullptr, false);
    if (r->status != 202 || !j.is_object() ||
        j.value("status", json::object()).value("state", "") != "Running") {
      std::cerr << (warm ? "warm" : "cold") << " create: " << r->status << " " << r->body << "\n";
      return -1;
    }
    if (warm && r->header("X-Sandboxd-Pool").value_or("") != "warm") {
      std::cerr << "warm create was not served from the pool\n";
      return -1;
    }
    ids.push_back(j.value("id", ""));
    return ms;
  }

  // Deletes the pool and waits (at most 60 s) until its members' containers are gone, so
  // that no container outlives the bench; then stops sandboxd.
  void finish(const std::string& docker_host) {
    (void)send("DELETE", "/v1/pools/bench");
    auto docker = sbx::HttpClient::create({.endpoint = docker_host});
    const std::string filter = R"({"label":["sandboxd.io/id"]})";
    std::string target = "/containers/json?all=1&filters=";
    for (char c : filter) {
      const bool plain = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '/';
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      target += plain ? std::string(1, c) : std::string(buf);
    }
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (docker && Clock::now() < deadline) {
      auto r = (*docker)->send({.target = target});
      if (!r || r->status != 200) break;
      json list = json::parse(r->body, nullptr, false);
      if (!list.is_array() || list.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    stop();
  }

  void remove_all(std::vector<std::string>& ids) {
    for (const auto& id : ids) (void)send("DELETE", "/v1/sandboxes/" + id);
    ids.clear();
  }
};

}  // namespace

int main(int argc, char** argv) {
  int members = 20;
  int rounds = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    if (s.rfind("--members=", 0) == 0) {
      members = std::clamp(std::stoi(s.substr(10)), 1, 200);
    } else if (s.rfind("--rounds=", 0) == 0) {
      rounds = std::clamp(std::stoi(s.substr(9)), 1, 50);
    } else if (s.rfind("--benchmark_", 0) == 0) {
      // scripts/run-bench.sh passes Google Benchmark flags to every bench; not used here.
    } else {
      std::cerr << "unknown argument " << s << " (--members=N --rounds=R)\n";
      return 2;
    }
  }
  sbx::set_log_level("WARNING");
  const std::string host = docker_host();
  if (host.empty()) {
    std::cerr << "SANDBOXD_TEST_DOCKER_HOST is not set (scripts/docker-env.sh start DIR)\n";
    return 2;
  }
  char tmpl[] = "/tmp/sandboxd-pool-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return 1;
  const std::filesystem::path dir = tmpl;
  int rc = 0;
  {
    Bench b;
    if (!b.start(host, dir) || !b.make_pool(members)) {
      rc = 1;
    } else {
      std::vector<double> warm, cold;
      std::vector<std::string> ids;
      for (int round = 0; round < rounds && rc == 0; ++round) {
        if (!b.wait_full(members)) {
          rc = 1;
          break;
        }
        for (int i = 0; i < members && rc == 0; ++i) {
          const double ms = b.create(true, ids);
          if (ms < 0) rc = 1;
          else warm.push_back(ms);
        }
        for (int i = 0; i < members && rc == 0; ++i) {
          const double ms = b.create(false, ids);
          if (ms < 0) rc = 1;
          else cold.push_back(ms);
        }
        b.remove_all(ids);
        std::fprintf(stderr, "round %d: warm p50 %.2f ms, cold p50 %.1f ms\n", round + 1,
                     pct(warm, 0.5), pct(cold, 0.5));
      }
      b.finish(host);
      if (rc == 0) {
        std::printf("\npool_bench: create -> Running, %d rounds x %d creates each (bridge mode, "
                    "store sync on)\n\n", rounds, members);
        std::printf("| measure | cold create (baseline) | warm pool claim | cold / warm |\n");
        std::printf("|---|---|---|---|\n");
        for (const auto& [name, p] : {std::pair{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}}) {
          std::printf("| %s | %.1f ms | %.2f ms | %.0fx |\n", name, pct(cold, p), pct(warm, p),
                      pct(cold, p) / std::max(0.001, pct(warm, p)));
        }
        std::printf("\ntarget warm p50 <= 10 ms: %s (%.2f ms); warm p99 <= 30 ms: %s (%.2f ms)\n",
                    pct(warm, 0.5) <= 10 ? "met" : "NOT met", pct(warm, 0.5),
                    pct(warm, 0.99) <= 30 ? "met" : "NOT met", pct(warm, 0.99));
      }
    }
  }
  std::filesystem::remove_all(dir);
  return rc;
}
