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
  Subscription::Options so;
  so.from_head = true;
  so.name = "sbx-expirer";
  auto sub = Subscription::open(store_, std::move(so));
  if (!sub) return std::unexpected(sub.error());
  subscription_ = std::move(*sub);
  Subscription& s = *subscription_;
  s.start([this, &s](const Subscription::Batch& batch) { on_batch(s, batch); });
  s.wake();  // the first pass: whatever is already due
  started_ = true;
  return {};
}

void Expirer::stop() {
  if (!started_) return;
  subscription_->stop();
  started_ = false;
}

void Expirer::poke() {
  if (subscription_) subscription_->wake();
}

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

void Expirer::on_batch(Subscription& subscription, const Subscription::Batch& batch) {
  using namespace std::chrono;
  const bool moves_deadline =
      std::any_of(batch.events().begin(), batch.events().end(), [](const Event& e) {
        return opens_sandbox_stream(e.data) || std::holds_alternative<ExpirationRenewed>(e.data) ||
               std::holds_alternative<SandboxClaimed>(e.data);
      });
  if (!batch.woken() && !batch.timed_out() && !moves_deadline) return;  // the alarm stands
  PassResult result;
  {
    std::lock_guard pass_lock(pass_mu_);
    result = pass();
  }
  const std::optional<Micros> next = store_.next_expiry();
  const Micros delay = next ? *next - clock_.now() : 0;
  const auto now = steady_clock::now();
  if (result.retry_soon) {
    subscription.wake_at(now + kRetryDelay);
  } else if (!next) {
    subscription.wake_at(Subscription::TimePoint::max());
  } else if (delay <= 0) {
    // Still due right after a pass: it just became due, or its deletion changed nothing
    // (it should have left the index). Look again shortly rather than spin.
    subscription.wake_at(now + kStillDueDelay);
  } else {
    const auto sleep = std::min<microseconds>(
        microseconds(delay), duration_cast<microseconds>(options_.expirer_max_sleep));
    subscription.wake_at(now + sleep);
  }
}

}  // namespace sbx
