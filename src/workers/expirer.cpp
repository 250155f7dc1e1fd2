#include "src/workers/expirer.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <variant>

#include "src/common/log.h"
#include "src/metrics/sandbox_metrics.h"
#include "store/event_store.h"

namespace sbx {
namespace {

constexpr std::size_t kPassBatch = 256;
constexpr std::chrono::milliseconds kRetryDelay{1000};
constexpr std::chrono::milliseconds kStillDueDelay{100};

}  // namespace

Expirer::Expirer(EventStore& store, const Clock& clock, Recorder recorder, WorkerOptions options,
                 metrics::SandboxMetrics* metrics)
    : store_(store),
      clock_(clock),
      recorder_(std::move(recorder)),
      options_(std::move(options)),
      metrics_(metrics) {}

Expirer::~Expirer() { stop(); }

Result<void> Expirer::start() {
  if (started_) return fail(ErrorCode::kFailedPrecondition, "expirer already started");
  listener_id_ = store_.add_commit_listener(
      [wake = wake_](const std::vector<Event>& events, const CommitStats&) {
        const bool moves_deadline = std::any_of(events.begin(), events.end(), [](const Event& e) {
          return std::holds_alternative<SandboxRequested>(e.data) ||
                 std::holds_alternative<ExpirationRenewed>(e.data);
        });
        if (moves_deadline) wake->raise();
      });
  wake_->raise();
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
  started_ = true;
  return {};
}

void Expirer::stop() {
  if (!started_) return;
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
  if (listener_id_ >= 0) store_.remove_commit_listener(listener_id_);
  listener_id_ = -1;
  started_ = false;
}

void Expirer::poke() { wake_->raise(); }

Result<std::size_t> Expirer::expire_due() {
  std::lock_guard pass_lock(pass_mu_);
  PassResult result = pass();
  if (result.read_error) return std::unexpected(*result.read_error);
  return result.expired;
}

Expirer::PassResult Expirer::pass() {
  PassResult result;
  auto log = logger("expirer");
  const RecordContext context{"worker:expirer", ""};
  while (true) {
    const Micros now = clock_.now();
    auto due = store_.expiring(now, kPassBatch);
    if (!due) {
      log->warn("reading the expiry index failed: {}", due.error().message);
      result.retry_soon = true;
      result.read_error = due.error();
      return result;
    }
    std::size_t handled = 0;
    for (const auto& [deadline, id] : *due) {
      auto r = recorder_(id, DeleteSandbox{Reason::kExpired}, context);
      if (r || is_outdated(r.error())) {
        ++handled;
        ++result.expired;
        if (r) {
          log->info("sandbox {} expired (deadline {})", id, format_rfc3339(deadline));
          if (metrics_ != nullptr) metrics_->expirations_total.inc();
        }
      } else {
        log->warn("deleting expired sandbox {} failed: {}; retrying", id, r.error().message);
        result.retry_soon = true;
      }
    }
    // Another batch only when this one was full and made progress.
    if (due->size() < kPassBatch || handled == 0 || result.retry_soon) return result;
  }
}

void Expirer::run(std::stop_token stop) {
  using namespace std::chrono;
  while (!stop.stop_requested()) {
    {
      std::lock_guard lock(wake_->mu);
      wake_->raised = false;
    }
    PassResult result;
    {
      std::lock_guard pass_lock(pass_mu_);
      result = pass();
    }
    // Store reads happen outside wake_->mu: the commit listener takes it on the writer thread.
    const std::optional<Micros> next = store_.next_expiry();
    const Micros delay = next ? *next - clock_.now() : 0;
    std::unique_lock lock(wake_->mu);
    if (wake_->raised) continue;
    if (result.retry_soon) {
      wake_->cv.wait_for(lock, stop, kRetryDelay, [&] { return wake_->raised; });
      continue;
    }
    if (!next) {
      wake_->cv.wait(lock, stop, [&] { return wake_->raised; });
      continue;
    }
    if (delay <= 0) {
      // Still due right after a pass: it just became due, or its deletion changed nothing
      // (it should have left the index). Look again shortly rather than spin.
      wake_->cv.wait_for(lock, stop, kStillDueDelay, [&] { return wake_->raised; });
      continue;
    }
    const auto sleep = std::min<microseconds>(
        microseconds(delay), duration_cast<microseconds>(options_.expirer_max_sleep));
    wake_->cv.wait_until(lock, stop, steady_clock::now() + sleep, [&] { return wake_->raised; });
  }
}

}  // namespace sbx
