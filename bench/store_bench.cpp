// Store benchmarks (bench/README.md, section "store").
//
//   BM_RawRocksDbPut      baseline: raw RocksDB Put of a value as long as one encoded create
//                         event, sync=true, default options, one key per Put, N threads
//                         each writing on its own.
//   BM_EventStoreAppend   EventStore::append of one SandboxRequested (~560-byte encoded event)
//                         creating a new sandbox, sync=true: the event, its stream and
//                         event-id index entries, the sandbox projection, its expiry and
//                         by_state entries, one group-committed WriteBatch.
//   BM_EventStoreOpen     open time of a store with 100k live sandboxes over a 1M-event log.
//   BM_GetSandbox         in-memory get_sandbox over those 100k sandboxes.
//   BM_DecodeSandbox      decode_sandbox of one such sandbox record (open's per-record CPU).
//
//   BM_RawRocksDbBatch    second baseline: the store's batch for one create (six key/values
//                         in six column families, same sizes and key shapes) written by raw
//                         RocksDB, sync=true: the ceiling for this data layout.
// Append rows run at 1, 8 and 64 threads in the same run; at the end a summary prints the
// ratio store/raw of the medians (or single runs) of items_per_second per thread count, and
// store/raw-batch when that row ran.
// Run: store_bench --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
// The 1M-event fixture is built unsynced in a temporary directory (or reused from
// $SBX_STORE_BENCH_FIXTURE if that directory exists; built there if it does not).
#include <benchmark/benchmark.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "events/codec.h"
#include "events/decider.h"
#include "src/common/log.h"
#include "src/common/uuid.h"
#include "store/event_store.h"

namespace {

using sbx::AppendRequest;
using sbx::Event;
using sbx::EventStore;
using sbx::ExpectedVersion;
using sbx::Micros;

constexpr Micros kT0 = 1'800'000'000LL * 1'000'000;

std::string make_temp_dir(const char* prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  return tmpl;
}

double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Process CPU (every thread) per operation, over all threads' operations; thread 0 calls it
// after the loop with the process_cpu_seconds() it read before.
void set_cpu_us(benchmark::State& state, double cpu0) {
  state.counters["cpu_us"] = benchmark::Counter(
      1e6 * (process_cpu_seconds() - cpu0) / static_cast<double>(state.iterations()),
      benchmark::Counter::kAvgThreads);
}

std::string be64(std::uint64_t v) {
  std::string out(8, '\0');
  for (int b = 7; b >= 0; --b, v >>= 8)
    out[static_cast<std::size_t>(b)] = static_cast<char>(v & 0xff);
  return out;
}

Event create_event(const std::string& id, Micros t) {
  sbx::SandboxRequested r;
  r.sandbox_id = id;
  r.spec.image_uri = "python:3.11";
  r.spec.entrypoint = {"python", "-m", "http.server"};
  r.spec.resource_limits = {{"cpu", "500m"}};
  r.spec.timeout_seconds = 600;
  r.expires_at = t + 600 * sbx::kMicrosPerSecond;
  Event e;
  e.event_id = sbx::new_uuid();
  e.time = t;
  e.actor = "api:bench";
  e.request_id = "r";
  e.data = std::move(r);
  return e;
}

AppendRequest create_request(const std::string& id, Micros t) {
  AppendRequest a;
  a.stream = sbx::stream_of(id);
  a.expected = ExpectedVersion::no_stream();
  a.events.push_back(create_event(id, t));
  return a;
}

// --- raw RocksDB baseline ---------------------------------------------------------------

// Random letters as long as the encoded envelope of one create: the baseline writes the
// same number of payload bytes per operation as the store's event record.
std::string event_sized_value() {
  Event e = create_event(sbx::new_uuid(), kT0);
  e.position = 1;
  e.version = 1;
  e.stream = sbx::stream_of("00000000-0000-4000-8000-000000000000");
  const std::size_t size = sbx::encode_event(e).size();
  std::mt19937 rng(42);
  std::string v(size, ' ');
  for (auto& c : v) c = static_cast<char>('a' + rng() % 26);
  return v;
}

struct RawDb {
  std::string dir;
  rocksdb::DB* db = nullptr;
};
RawDb* g_raw = nullptr;

void BM_RawRocksDbPut(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_raw = new RawDb{make_temp_dir("store-bench-raw")};
    rocksdb::Options o;
    o.create_if_missing = true;
    if (!rocksdb::DB::Open(o, g_raw->dir, &g_raw->db).ok()) std::abort();
  }
  static const std::string value = event_sized_value();
  const double cpu0 = state.thread_index() == 0 ? process_cpu_seconds() : 0;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  const std::uint64_t base = static_cast<std::uint64_t>(state.thread_index()) << 40;
  std::uint64_t i = 0;
  for (auto _ : state) {
    if (!g_raw->db->Put(wo, be64(base | i++), value).ok()) {
      state.SkipWithError("put failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    set_cpu_us(state, cpu0);
    delete g_raw->db;
    std::filesystem::remove_all(g_raw->dir);
    delete g_raw;
    g_raw = nullptr;
  }
}

// The second baseline: what the store writes per create, written by raw RocksDB with no
// store code around it: one WriteBatch of six key/values in six column families (default
// options), with the sizes and key shapes of the store's batch (store/FORMAT.md) and ids
// from the same generator. It is the ceiling for an append with this data layout: the
// gap store/raw-batch is what the store's own code costs, the gap raw-batch/raw-put what
// the layout costs.
struct RawBatchDb {
  std::string dir;
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  std::atomic<std::uint64_t> position{0};
};
RawBatchDb* g_raw_batch = nullptr;

void BM_RawRocksDbBatch(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_raw_batch = new RawBatchDb{make_temp_dir("store-bench-raw-batch")};
    rocksdb::DBOptions o;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> d;
    for (const char* name : {"default", "streams", "event_ids", "sandboxes", "expiry", "by_state"})
      d.emplace_back(name, rocksdb::ColumnFamilyOptions());
    if (!rocksdb::DB::Open(o, g_raw_batch->dir, d, &g_raw_batch->cfs, &g_raw_batch->db).ok())
      std::abort();
  }
  static const std::string event = event_sized_value();
  static const std::string sandbox = [] {
    sbx::SandboxRequested r = std::get<sbx::SandboxRequested>(create_event("x", kT0).data);
    sbx::Sandbox sb;
    sb.id = sbx::new_uuid();
    sb.spec = r.spec;
    sb.created_at = sb.last_transition_at = kT0;
    sb.expires_at = r.expires_at;
    return std::string(sbx::encode_sandbox(sb).size(), 's');
  }();
  const double cpu0 = state.thread_index() == 0 ? process_cpu_seconds() : 0;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  for (auto _ : state) {
    RawBatchDb& r = *g_raw_batch;  // set by thread 0 before the loop's start barrier
    const std::string id = sbx::new_uuid(), event_id = sbx::new_uuid();
    const std::string pos = be64(r.position.fetch_add(1) + 1);
    const std::string expiry = be64(kT0 + 600 * sbx::kMicrosPerSecond);
    rocksdb::WriteBatch b;
    (void)b.Put(r.cfs[0], pos, event);
    (void)b.Put(r.cfs[1], "sandbox-" + id + be64(1), pos);
    (void)b.Put(r.cfs[2], event_id, pos + be64(1));
    (void)b.Put(r.cfs[3], id, sandbox);
    (void)b.Put(r.cfs[4], expiry + id, rocksdb::Slice());
    (void)b.Put(r.cfs[5], std::string(1, '\1') + be64(kT0) + id, rocksdb::Slice());
    if (!r.db->Write(wo, &b).ok()) {
      state.SkipWithError("write failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    set_cpu_us(state, cpu0);
    RawBatchDb& r = *g_raw_batch;
    for (auto* h : r.cfs) (void)r.db->DestroyColumnFamilyHandle(h);
    delete r.db;
    std::filesystem::remove_all(r.dir);
    delete g_raw_batch;
    g_raw_batch = nullptr;
  }
}

// --- EventStore append --------------------------------------------------------------------

struct StoreUnderTest {
  std::string dir;
  std::unique_ptr<EventStore> store;
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> appends{0};
  std::atomic<std::uint64_t> write_micros{0};
};
StoreUnderTest* g_store = nullptr;

void BM_EventStoreAppend(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_store = new StoreUnderTest{make_temp_dir("store-bench-append")};
    sbx::StoreOptions o;
    o.path = g_store->dir;
    o.sync = true;
    auto s = EventStore::open(o);
    if (!s) std::abort();
    g_store->store = std::move(*s);
    g_store->store->add_commit_listener([](const std::vector<Event>&, const sbx::CommitStats& st) {
      g_store->batches.fetch_add(1, std::memory_order_relaxed);
      g_store->appends.fetch_add(st.appends, std::memory_order_relaxed);
      g_store->write_micros.fetch_add(static_cast<std::uint64_t>(st.write_micros),
                                      std::memory_order_relaxed);
    });
  }
  const double cpu0 = state.thread_index() == 0 ? process_cpu_seconds() : 0;
  for (auto _ : state) {
    // Ids as the service makes them (sandbox id and event id), made just before the append.
    auto r = g_store->store->append(create_request(sbx::new_uuid(), kT0));
    if (!r) {
      state.SkipWithError(r.error().message.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    set_cpu_us(state, cpu0);
    state.counters["event_bytes"] =
        static_cast<double>(sbx::encode_event(g_store->store->read(1, 1)->at(0)).size());
    auto batches = g_store->batches.load();
    state.counters["group_size"] =
        batches ? static_cast<double>(g_store->appends.load()) / static_cast<double>(batches) : 0;
    state.counters["write_us"] =
        batches ? static_cast<double>(g_store->write_micros.load()) / static_cast<double>(batches)
                : 0;
    state.counters["batches_per_s"] =
        benchmark::Counter(static_cast<double>(batches), benchmark::Counter::kIsRate);
    g_store->store.reset();
    std::filesystem::remove_all(g_store->dir);
    delete g_store;
    g_store = nullptr;
  }
}

// --- open time and in-memory reads over a 1M-event log ---------------------------------------

constexpr std::size_t kLive = 100'000;
constexpr std::size_t kTerminated = 100'000;
// live: Requested, Started, 4 x ExpirationRenewed (6 events); terminated: Requested,
// Started, DeletionRequested, SandboxTerminated (4 events): 100k*6 + 100k*4 = 1M events.

std::string g_temp_fixture;  // removed at exit

std::string build_fixture() {
  const char* env = std::getenv("SBX_STORE_BENCH_FIXTURE");
  std::string dir;
  if (env && *env) {
    dir = env;
    if (std::filesystem::exists(std::filesystem::path(dir) / "CURRENT")) return dir;
  } else {
    dir = make_temp_dir("store-bench-open");
    g_temp_fixture = dir;
  }
  auto started = std::chrono::steady_clock::now();
  sbx::StoreOptions o;
  o.path = dir;
  o.sync = false;
  auto s = EventStore::open(o);
  if (!s) std::abort();
  EventStore& store = **s;
  std::mt19937_64 rng(7);
  auto ev = [&](sbx::EventData d, Micros t) {
    Event e;
    e.event_id = sbx::new_uuid();
    e.time = t;
    e.actor = "worker:bench";
    e.reason = sbx::Reason::kRuntime;
    e.data = std::move(d);
    return e;
  };
  constexpr std::size_t kChunk = 1000;
  Micros t = kT0;
  for (std::size_t base = 0; base < kLive + kTerminated; base += kChunk) {
    std::vector<std::string> ids(kChunk);
    for (auto& id : ids) id = sbx::new_uuid();
    const bool live = base < kLive;
    std::vector<AppendRequest> rs;
    for (auto& id : ids) rs.push_back(create_request(id, ++t));
    auto add = [&](const std::string& id, std::uint64_t v, sbx::EventData d) {
      AppendRequest a;
      a.stream = sbx::stream_of(id);
      a.expected = ExpectedVersion::exactly(v);
      a.events.push_back(ev(std::move(d), ++t));
      rs.push_back(std::move(a));
    };
    for (auto& id : ids) add(id, 1, sbx::SandboxStarted{"container-" + id.substr(0, 12)});
    if (live) {
      for (std::uint64_t v = 2; v < 6; ++v) {
        for (auto& id : ids) add(id, v, sbx::ExpirationRenewed{t + 3600 * sbx::kMicrosPerSecond});
      }
    } else {
      for (auto& id : ids) add(id, 2, sbx::DeletionRequested{});
      for (auto& id : ids) add(id, 3, sbx::SandboxTerminated{0, "done"});
    }
    for (auto& r : store.append_all(std::move(rs))) {
      if (!r) {
        std::fprintf(stderr, "fixture append failed: %s\n", r.error().message.c_str());
        std::abort();
      }
    }
  }
  std::fprintf(stderr, "fixture: %zu live sandboxes, %llu events, built in %.1f s\n",
               store.live_sandbox_count(), static_cast<unsigned long long>(store.head()),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  store.close();
  return dir;
}

const std::string& fixture() {
  static const std::string dir = build_fixture();
  return dir;
}

void BM_EventStoreOpen(benchmark::State& state) {
  sbx::StoreOptions o;
  o.path = fixture();
  std::size_t live = 0;
  std::uint64_t head = 0;
  double cpu_seconds = 0;
  for (auto _ : state) {
    const double cpu0 = process_cpu_seconds();
    auto t0 = std::chrono::steady_clock::now();
    auto s = EventStore::open(o);
    auto t1 = std::chrono::steady_clock::now();
    cpu_seconds += process_cpu_seconds() - cpu0;
    if (!s) {
      state.SkipWithError(s.error().message.c_str());
      break;
    }
    live = (*s)->live_sandbox_count();
    head = (*s)->head();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
  // CPU of every thread of the process during open (what an idle machine needs, spread
  // over its cores), per open.
  state.counters["cpu_ms"] = 1000 * cpu_seconds / static_cast<double>(state.iterations());
  state.counters["live_sandboxes"] = static_cast<double>(live);
  state.counters["log_events"] = static_cast<double>(head);
}

std::unique_ptr<EventStore> g_read_store;
std::vector<std::string> g_read_id_strings;  // the live ids in random order
std::string g_read_id_bytes;                 // the same ids in that order, back to back
std::vector<std::string_view> g_read_ids;    // views of them into g_read_id_bytes

// get_sandbox of the 100k live sandboxes in random order. packed_ids:1 looks up views into
// one buffer, which the loop reads in order: like a request handler, which has its id at
// hand in its request. packed_ids:0 looks up the 100k separately allocated std::strings,
// as this benchmark did up to 2026-11-27: reading each id is a cache miss of the
// benchmark's own (about a quarter of a get, see bench/README.md).
void BM_GetSandbox(benchmark::State& state) {
  const bool packed = state.range(0) == 1;
  if (state.thread_index() == 0) {
    sbx::StoreOptions o;
    o.path = fixture();
    o.read_only = true;
    auto s = EventStore::open(o);
    if (!s) std::abort();
    g_read_store = std::move(*s);
    auto& ids = g_read_id_strings;
    ids.clear();
    for (const auto& sb : g_read_store->list_sandboxes()) ids.push_back(sb->id);
    std::sort(ids.begin(), ids.end());  // the list's order is the table's: make it repeatable
    std::shuffle(ids.begin(), ids.end(), std::mt19937(1));
    g_read_id_bytes.clear();
    for (const auto& id : ids) g_read_id_bytes += id;
    g_read_ids.clear();
    std::size_t offset = 0;
    for (const auto& id : ids) {
      g_read_ids.emplace_back(g_read_id_bytes.data() + offset, id.size());
      offset += id.size();
    }
  }
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {  // starts once thread 0 has set up (the threads meet at a barrier)
    const std::size_t k = i++ % g_read_ids.size();
    auto sb =
        g_read_store->get_sandbox(packed ? g_read_ids[k] : std::string_view(g_read_id_strings[k]));
    benchmark::DoNotOptimize(sb);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    g_read_store.reset();
  }
}

// The JSON a create costs the writer: the event and the new sandbox projection.
void BM_EncodeCreate(benchmark::State& state) {
  Event e = create_event(sbx::new_uuid(), kT0);
  e.position = 1;
  e.stream = "sandbox-x";
  e.version = 1;
  const sbx::Sandbox sandbox = sbx::evolve(std::nullopt, e);
  for (auto _ : state) {
    auto a = sbx::encode_event(e);
    auto b = sbx::encode_sandbox(sandbox);
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(b);
  }
  state.counters["sandbox_bytes"] = static_cast<double>(sbx::encode_sandbox(sandbox).size());
}

// One record of the open fixture's live sandboxes (create, start, 4 renewals) decoded: the
// per-record CPU of EventStore::open's decode step, without RocksDB or the map insert.
void BM_DecodeSandbox(benchmark::State& state) {
  const std::string id = sbx::new_uuid();
  Micros t = kT0;
  Event create = create_event(id, ++t);
  create.stream = sbx::stream_of(id);
  create.version = 1;
  sbx::Sandbox sb = sbx::evolve(std::nullopt, create);
  Event started = create;
  started.version = 2;
  started.time = ++t;
  started.data = sbx::SandboxStarted{"container-" + id.substr(0, 12)};
  sb = sbx::evolve(sb, started);
  for (std::uint64_t v = 3; v <= 6; ++v) {
    Event renew = started;
    renew.version = v;
    renew.time = ++t;
    renew.data = sbx::ExpirationRenewed{t + 3600 * sbx::kMicrosPerSecond};
    sb = sbx::evolve(sb, renew);
  }
  const std::string json = sbx::encode_sandbox(sb);
  for (auto _ : state) {
    auto back = sbx::decode_sandbox(json);
    if (!back) {
      state.SkipWithError(back.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(back);
  }
  state.counters["record_bytes"] = static_cast<double>(json.size());
}

BENCHMARK(BM_RawRocksDbPut)->Threads(1)->Threads(8)->Threads(64)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_RawRocksDbBatch)->Threads(1)->Threads(8)->Threads(64)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_EventStoreAppend)->Threads(1)->Threads(8)->Threads(64)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_EventStoreOpen)->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GetSandbox)
    ->ArgName("packed_ids")
    ->Arg(1)
    ->Arg(0)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(BM_EncodeCreate);
BENCHMARK(BM_DecodeSandbox);

// Keeps the medians (or single runs) of items_per_second for the summary.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      bool use =
          r.run_type == Run::RT_Aggregate ? r.aggregate_name == "median" : r.repetitions <= 1;
      auto it = r.counters.find("items_per_second");
      if (!use || it == r.counters.end()) continue;
      rates_[r.run_name.function_name][r.threads] = it->second.value;
    }
  }
  void print_summary() const {
    auto raw = rates_.find("BM_RawRocksDbPut");
    auto store = rates_.find("BM_EventStoreAppend");
    if (raw == rates_.end() || store == rates_.end()) return;
    auto batch = rates_.find("BM_RawRocksDbBatch");
    std::printf("\nstore/raw appends per second (medians):\n");
    std::printf("%8s %14s %14s %8s %14s %12s\n", "threads", "raw put/s", "store append/s", "ratio",
                "raw batch/s", "store/batch");
    for (const auto& [threads, r] : raw->second) {
      auto s = store->second.find(threads);
      if (s == store->second.end()) continue;
      std::printf("%8lld %14.0f %14.0f %8.2f", static_cast<long long>(threads), r, s->second,
                  s->second / r);
      if (batch != rates_.end()) {
        if (auto b = batch->second.find(threads); b != batch->second.end()) {
          std::printf(" %14.0f %12.2f", b->second, s->second / b->second);
        }
      }
      std::printf("\n");
    }
  }

 private:
  std::map<std::string, std::map<std::int64_t, double>> rates_;
};

}  // namespace

int main(int argc, char** argv) {
  sbx::set_log_level("WARNING");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_summary();
  benchmark::Shutdown();
  if (!g_temp_fixture.empty()) std::filesystem::remove_all(g_temp_fixture);
  return 0;
}
