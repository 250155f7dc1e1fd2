// The records a group commit is made of, shared by the write pipeline (write_pipeline.h,
// which forms groups, orders and writes them) and append staging (append_staging.h, which
// checks each append and stages its events and projection changes). store/ only.
//
// Thread-safety: a Group is written by the thread that stages it (under the pipeline's
// staging lock) and, once sealed, only read; `sealed` is guarded by InFlight::mu. InFlight
// is guarded by its own mutex.
#pragma once

#include <linux/futex.h>
#include <rocksdb/write_batch.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "events/result.h"
#include "store/commit.h"
#include "store/event_store.h"
#include "store/projection.h"
#include "store/string_map.h"

namespace sbx::store_detail {

// What an appender sleeps on until its requests are done: a counter and a futex.
// std::latch would do, but libstdc++'s wait spins and calls sched_yield before it sleeps,
// which with 64 waiting appenders on 2 cores was a tenth of the process's CPU.
class Completion {
 public:
  explicit Completion(std::uint32_t count) : left_(count) {}
  void count_down() {
    if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      // The waiter may return and free this object as soon as it sees 0; a wake-up on a
      // freed address is harmless (at worst a spurious wake-up of a later futex there).
      ::syscall(SYS_futex, &left_, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
    }
  }
  void wait() {
    for (;;) {
      const std::uint32_t v = left_.load(std::memory_order_acquire);
      if (v == 0) return;
      ::syscall(SYS_futex, &left_, FUTEX_WAIT_PRIVATE, v, nullptr, nullptr, 0);
    }
  }

 private:
  std::atomic<std::uint32_t> left_;
};

// One append waiting for the writer. Lives on the appender's stack until `done` counts down.
struct Request {
  AppendRequest req;
  Result<AppendResult> result = fail(ErrorCode::kInternal, "append not processed");
  bool in_batch = false;  // the result holds only if the group's batch is written
  Completion* done = nullptr;
};

struct StagedId {
  std::uint64_t position = 0;
  std::uint64_t version = 0;
  std::string stream;
};

struct Group {
  std::vector<Request*> requests;
  std::vector<Request*> accepted;  // staged: their events go into the batch
  rocksdb::WriteBatch batch;
  StringMap<StreamWork> streams;  // immutable once in flight
  StringMap<StagedId> ids;        // immutable once in flight
  std::uint64_t next = 1;         // next position while staging
  std::uint64_t seq = 0;
  std::uint64_t epoch = 0;
  std::size_t encoded = 0;  // accepted[0, encoded) have their events in the batch
  std::size_t events = 0;   // events of all requests taken
  bool sealed = false;      // InFlight::mu: takes no more requests
  // A commit listener was registered when the group formed: the projection's changes are
  // recorded for it (CommittedBatch::changes).
  bool record_changes = false;
  std::vector<SandboxChange> changes;
  CommitStats stats;
};

// The groups staged and not yet finished, in seq order, and the pipeline's epoch (bumped by
// a failed write: every group staged before the failure was known fails unwritten).
struct InFlight {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Group*> groups;      // mu
  std::uint64_t epoch = 0;        // mu
  std::uint64_t written_seq = 0;  // mu: last group finished
};

}  // namespace sbx::store_detail
