// Docker benchmarks: the raw Engine API (the baseline) against DockerRuntime.
//
// Needs the private engine: `scripts/docker-env.sh start DIR` (as root), then
//   SANDBOXD_TEST_DOCKER_HOST=unix://DIR/docker.sock build/bench/docker_bench
// Without it every benchmark reports an error and measures nothing.
//
//   BM_RawCreateStart          POST /containers/create + POST /start (busybox, bridge)
//   BM_RawCreate / BM_RawStart the two halves, each timed alone
//   BM_RawPauseUnpause         POST /pause + POST /unpause
//   BM_RawInspect              GET /containers/{id}/json
//   BM_RawRemove               DELETE /containers/{id}?force=1&v=1 of a running container
//   BM_RuntimeCreateAndStart   DockerRuntime::create_and_start, execd injected
//   BM_RuntimeCreateAndStartNoExecd   the same without injection (runtime overhead only)
//   BM_RuntimePauseResume, BM_RuntimeInspect, BM_RuntimeRemove
// Wall time is what counts (UseRealTime): the work happens in the engine.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "src/common/log.h"
#include "src/common/uuid.h"
#include "src/http/http_client.h"
#include "src/runtime/docker/docker_runtime.h"

namespace {

using json = nlohmann::json;

constexpr char kImage[] = "sandboxd-test/busybox:1";
constexpr char kExecdImage[] = "sandboxd-test/execd:1";

std::string docker_host() {
  for (const char* var : {"SANDBOXD_BENCH_DOCKER_HOST", "SANDBOXD_TEST_DOCKER_HOST"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && *v != '\0') return v;
  }
  return {};
}

// Raw Engine API access at the server's version.
class Raw {
 public:
  static std::unique_ptr<Raw> open(benchmark::State& state) {
    std::string host = docker_host();
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

  // Creates a busybox `sleep 3600` container on the bridge; its id, or "" on failure.
  std::string create() {
    json body = {{"Image", kImage},
                 {"Cmd", {"sleep", "3600"}},
                 {"Labels", {{"sandboxd.io/bench", "raw"}}},
                 {"HostConfig", {{"NetworkMode", "bridge"}}}};
    std::string out;
    if (call("POST", "/containers/create?name=bench-" + sbx::new_uuid(), body.dump(), &out) !=
        201) {
      return {};
    }
    return json::parse(out).at("Id").get<std::string>();
  }
  bool start(const std::string& id) {
    int s = call("POST", "/containers/" + id + "/start");
    return s == 204 || s == 304;
  }
  void remove(const std::string& id) { call("DELETE", "/containers/" + id + "?force=1&v=1"); }

 private:
  std::unique_ptr<sbx::HttpClient> http_;
  std::string prefix_;
};

void BM_RawCreateStart(benchmark::State& state) {
  auto raw = Raw::open(state);
  if (!raw) return;
  std::vector<std::string> ids;
  for (auto _ : state) {
    std::string id = raw->create();
    if (id.empty() || !raw->start(id)) {
      state.SkipWithError("create/start failed");
      break;
    }
    state.PauseTiming();
    raw->remove(id);
    state.ResumeTiming();
  }
}

void BM_RawCreate(benchmark::State& state) {
  auto raw = Raw::open(state);
  if (!raw) return;
  for (auto _ : state) {
    std::string id = raw->create();
    if (id.empty()) {
      state.SkipWithError("create failed");
      break;
    }
    state.PauseTiming();
    raw->remove(id);
    state.ResumeTiming();
  }
}

void BM_RawStart(benchmark::State& state) {
  auto raw = Raw::open(state);
  if (!raw) return;
  for (auto _ : state) {
    state.PauseTiming();
    std::string id = raw->create();
    state.ResumeTiming();
    if (id.empty() || !raw->start(id)) {
      state.SkipWithError("create/start failed");
      break;
    }
    state.PauseTiming();
    raw->remove(id);
    state.ResumeTiming();
  }
}

void BM_RawPauseUnpause(benchmark::State& state) {
  auto raw = Raw::open(state);
  if (!raw) return;
  std::string id = raw->create();
  if (id.empty() || !raw->start(id)) {
    state.SkipWithError("create/start failed");
    return;
  }
  for (auto _ : state) {
    if (raw->call("POST", "/containers/" + id + "/pause") != 204 ||
        raw->call("POST", "/containers/" + id + "/unpause") != 204) {
      state.SkipWithError("pause/unpause failed");
      break;
    }
  }
  raw->remove(id);
}

void BM_RawInspect(benchmark::State& state) {
  auto raw = Raw::open(state);
  if (!raw) return;
  std::string id = raw->create();
  if (id.empty() || !raw->start(id)) {
    state.SkipWithError("create/start failed");
    return;
  }
  for (auto _ : state) {
    if (raw->call("GET", "/containers/" + id + "/json") != 200) {
      state.SkipWithError("inspect failed");
      break;
    }
  }
  raw->remove(id);
}

void BM_RawRemove(benchmark::State& state) {
  auto raw = Raw::open(state);
  if (!raw) return;
  for (auto _ : state) {
    state.PauseTiming();
    std::string id = raw->create();
    bool ok = !id.empty() && raw->start(id);
    state.ResumeTiming();
    if (!ok || raw->call("DELETE", "/containers/" + id + "?force=1&v=1") != 204) {
      state.SkipWithError("remove failed");
      break;
    }
  }
}

std::unique_ptr<sbx::DockerRuntime> open_runtime(benchmark::State& state, bool execd) {
  std::string host = docker_host();
  if (host.empty()) {
    state.SkipWithError("SANDBOXD_TEST_DOCKER_HOST is not set (scripts/docker-env.sh start)");
    return nullptr;
  }
  sbx::DockerOptions o;
  o.host = host;
  o.execd_image = execd ? kExecdImage : "";
  o.port_bind_ip = "127.0.0.1";
  auto rt = sbx::DockerRuntime::create(o);
  if (!rt) {
    state.SkipWithError(rt.error().message.c_str());
    return nullptr;
  }
  return std::move(*rt);
}

sbx::ContainerSpec bench_spec() {
  sbx::ContainerSpec s;
  s.sandbox_id = sbx::new_uuid();
  s.image_uri = kImage;
  s.entrypoint = {"sleep", "3600"};
  s.network_mode = "bridge";
  s.limits = {.cpu = "500m", .memory = "64Mi"};
  return s;
}

void runtime_create_and_start(benchmark::State& state, bool execd) {
  auto rt = open_runtime(state, execd);
  if (!rt) return;
  // Warm up: API negotiation and the execd cache are once-per-process costs.
  auto warm = bench_spec();
  if (auto r = rt->create_and_start(warm); !r) {
    state.SkipWithError(r.error().message.c_str());
    return;
  }
  (void)rt->remove(warm.sandbox_id);
  for (auto _ : state) {
    auto spec = bench_spec();
    if (auto r = rt->create_and_start(spec); !r) {
      state.SkipWithError(r.error().message.c_str());
      break;
    }
    state.PauseTiming();
    (void)rt->remove(spec.sandbox_id);
    state.ResumeTiming();
  }
}

void BM_RuntimeCreateAndStart(benchmark::State& state) { runtime_create_and_start(state, true); }
void BM_RuntimeCreateAndStartNoExecd(benchmark::State& state) {
  runtime_create_and_start(state, false);
}

void BM_RuntimePauseResume(benchmark::State& state) {
  auto rt = open_runtime(state, false);
  if (!rt) return;
  auto spec = bench_spec();
  if (!rt->create_and_start(spec)) {
    state.SkipWithError("create failed");
    return;
  }
  for (auto _ : state) {
    if (!rt->pause(spec.sandbox_id) || !rt->resume(spec.sandbox_id)) {
      state.SkipWithError("pause/resume failed");
      break;
    }
  }
  (void)rt->remove(spec.sandbox_id);
}

void BM_RuntimeInspect(benchmark::State& state) {
  auto rt = open_runtime(state, false);
  if (!rt) return;
  auto spec = bench_spec();
  if (!rt->create_and_start(spec)) {
    state.SkipWithError("create failed");
    return;
  }
  for (auto _ : state) {
    auto s = rt->inspect(spec.sandbox_id);
    if (!s || !*s) {
      state.SkipWithError("inspect failed");
      break;
    }
    benchmark::DoNotOptimize(s);
  }
  (void)rt->remove(spec.sandbox_id);
}

void BM_RuntimeRemove(benchmark::State& state) {
  auto rt = open_runtime(state, false);
  if (!rt) return;
  for (auto _ : state) {
    state.PauseTiming();
    auto spec = bench_spec();
    bool ok = rt->create_and_start(spec).has_value();
    state.ResumeTiming();
    if (!ok || !rt->remove(spec.sandbox_id)) {
      state.SkipWithError("remove failed");
      break;
    }
  }
}

constexpr int kIterations = 20;

BENCHMARK(BM_RawCreateStart)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(kIterations);
BENCHMARK(BM_RawCreate)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(kIterations);
BENCHMARK(BM_RawStart)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(kIterations);
BENCHMARK(BM_RawPauseUnpause)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(50);
BENCHMARK(BM_RawInspect)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(200);
BENCHMARK(BM_RawRemove)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(kIterations);
BENCHMARK(BM_RuntimeCreateAndStart)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(kIterations);
BENCHMARK(BM_RuntimeCreateAndStartNoExecd)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(kIterations);
BENCHMARK(BM_RuntimePauseResume)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(50);
BENCHMARK(BM_RuntimeInspect)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(200);
BENCHMARK(BM_RuntimeRemove)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(kIterations);

}  // namespace

int main(int argc, char** argv) {
  sbx::set_log_level("WARNING");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
