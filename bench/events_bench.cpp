// Micro-benchmarks of the pure event model: encoding and decoding one event (the store
// does both on every append and replay), encoding a create (event + projection record, the
// store's group-commit path), format_rfc3339, and folding one event into a projection.
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>

#include "events/codec.h"
#include "events/decider.h"

namespace {

constexpr sbx::Micros kT = 1'772'366'400'250'000;

sbx::Event requested_event() {
  sbx::SandboxRequested r;
  r.sandbox_id = "4f1c2a9e-0b6f-4c2e-9c55-1f2e3d4c5b6a";
  r.spec.image_uri = "python:3.12-slim";
  r.spec.entrypoint = {"python", "-m", "http.server", "8080"};
  r.spec.env = {{"LANG", "C.UTF-8"}, {"MODE", "bench"}, {"PATH", "/usr/local/bin:/usr/bin"}};
  r.spec.resource_limits = {{"cpu", "500m"}, {"memory", "1Gi"}};
  r.spec.timeout_seconds = 600;
  r.spec.network_mode = "bridge";
  r.spec.ports = {{8080, 40001}, {44772, 40002}};
  r.metadata = {{"team", "ml"}, {"owner", "alice"}};
  r.expires_at = kT + 600'000'000;
  sbx::Event e;
  e.position = 123456;
  e.stream = sbx::stream_of(r.sandbox_id);
  e.version = 1;
  e.time = kT;
  e.event_id = "0b6f3c2e-7d1a-4e8b-9c55-1f2e3d4c5b6a";
  e.request_id = "req-1";
  e.actor = "api:key-1";
  e.data = r;
  return e;
}

sbx::Event small_event() {
  sbx::Event e = requested_event();
  e.version = 2;
  e.data = sbx::SandboxStarted{"c0ffee1234567890"};
  return e;
}

void BM_EncodeEvent(benchmark::State& state) {
  const sbx::Event e = state.range(0) ? requested_event() : small_event();
  for (auto _ : state) benchmark::DoNotOptimize(sbx::encode_event(e));
}
BENCHMARK(BM_EncodeEvent)->ArgName("requested")->Arg(0)->Arg(1);

void BM_DecodeEvent(benchmark::State& state) {
  const std::string json = sbx::encode_event(state.range(0) ? requested_event() : small_event());
  for (auto _ : state) {
    auto e = sbx::decode_event(json);
    if (!e) state.SkipWithError(e.error().message.c_str());
    benchmark::DoNotOptimize(e);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(json.size()));
}
BENCHMARK(BM_DecodeEvent)->ArgName("requested")->Arg(0)->Arg(1);

// Baseline: only parsing the same document into a nlohmann DOM (no typed event built).
void BM_BaselineNlohmannParse(benchmark::State& state) {
  const std::string json = sbx::encode_event(state.range(0) ? requested_event() : small_event());
  for (auto _ : state) benchmark::DoNotOptimize(nlohmann::json::parse(json));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(json.size()));
}
BENCHMARK(BM_BaselineNlohmannParse)->ArgName("requested")->Arg(0)->Arg(1);

// Decoding a schema-1 SandboxRequested pays for the upcaster (nlohmann parse + rewrite).
void BM_DecodeEventUpcast(benchmark::State& state) {
  const std::string json =
      R"({"position":1,"stream":"sandbox-a","version":1,"type":"SandboxRequested","schema":1,)"
      R"("time":"2026-03-01T12:00:00.250000Z","eventId":"e","requestId":"r","actor":"a",)"
      R"("reason":"user","data":{"sandboxId":"a","spec":{"imageUri":"python:3.12-slim",)"
      R"("entrypoint":["python"],"env":{"LANG":"C.UTF-8"},"networkMode":"bridge",)"
      R"("ports":{"8080":40001}},"metadata":{"team":"ml"},"timeoutSeconds":600}})";
  for (auto _ : state) {
    auto e = sbx::decode_event(json);
    if (!e) state.SkipWithError(e.error().message.c_str());
    benchmark::DoNotOptimize(e);
  }
}
BENCHMARK(BM_DecodeEventUpcast);

void BM_Evolve(benchmark::State& state) {
  const sbx::Sandbox sb = sbx::evolve(std::nullopt, requested_event());
  sbx::Event renewed = small_event();
  renewed.data = sbx::ExpirationRenewed{kT + 3'600'000'000};
  for (auto _ : state) benchmark::DoNotOptimize(sbx::evolve(sb, renewed));
}
BENCHMARK(BM_Evolve);

// What a create costs the store's group-commit path: the SandboxRequested event and the
// projection record folded from it, both encoded.
void BM_EncodeCreate(benchmark::State& state) {
  const sbx::Event e = requested_event();
  const sbx::Sandbox sb = sbx::evolve(std::nullopt, e);
  for (auto _ : state) {
    benchmark::DoNotOptimize(sbx::encode_event(e));
    benchmark::DoNotOptimize(sbx::encode_sandbox(sb));
  }
}
BENCHMARK(BM_EncodeCreate);

void BM_EncodeSandbox(benchmark::State& state) {
  const sbx::Sandbox sb = sbx::evolve(std::nullopt, requested_event());
  for (auto _ : state) benchmark::DoNotOptimize(sbx::encode_sandbox(sb));
}
BENCHMARK(BM_EncodeSandbox);

void BM_EncodeEventData(benchmark::State& state) {
  const sbx::Event e = state.range(0) ? requested_event() : small_event();
  for (auto _ : state) benchmark::DoNotOptimize(sbx::encode_event_data(e.data));
}
BENCHMARK(BM_EncodeEventData)->ArgName("requested")->Arg(0)->Arg(1);

void BM_FormatRfc3339(benchmark::State& state) {
  sbx::Micros t = kT;
  for (auto _ : state) {
    benchmark::DoNotOptimize(sbx::format_rfc3339(t));
    t += 1'234'567;
  }
}
BENCHMARK(BM_FormatRfc3339);

void BM_EncodeDecodeSandbox(benchmark::State& state) {
  const sbx::Sandbox sb = sbx::evolve(std::nullopt, requested_event());
  for (auto _ : state) {
    auto back = sbx::decode_sandbox(sbx::encode_sandbox(sb));
    benchmark::DoNotOptimize(back);
  }
}
BENCHMARK(BM_EncodeDecodeSandbox);

}  // namespace

BENCHMARK_MAIN();
