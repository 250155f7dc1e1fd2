#include "src/server/log_metrics.h"

#include <optional>
#include <string>
#include <variant>

#include "src/common/log.h"

namespace sbx {
namespace {

// Live batches whose events LogMetrics may be slow to see: generous, its handler is quick.
constexpr std::size_t kBacklogEvents = 1 << 20;

}  // namespace

LogMetrics::LogMetrics(EventStore& store, metrics::StoreMetrics& store_metrics,
                       metrics::SandboxMetrics& sandbox_metrics)
    : store_(store), store_metrics_(store_metrics), sandbox_metrics_(sandbox_metrics) {
  store_metrics_.log_head_position.set(static_cast<double>(store_.head()));

  if (auto h = store_metrics_.expose_store_size(
          [this]() -> std::optional<double> { return static_cast<double>(store_.size_on_disk()); }))
    callbacks_.push_back(std::move(*h));
  if (auto hs = store_metrics_.expose_store_health([this] {
        return metrics::StoreMetrics::Health{static_cast<double>(store_.corrupt_events_found()),
                                             static_cast<double>(store_.projection_records_rebuilt()),
                                             store_.writable()};
      })) {
    for (auto& h : *hs) callbacks_.push_back(std::move(h));
  }
  if (auto h = sandbox_metrics_.expose_sandboxes_by_state([this] {
        std::vector<metrics::CallbackSample> out;
        std::size_t counts[std::size(kAllStates)] = {};
        // A warm pool's unclaimed member is no client's sandbox (sandboxd_pool_members
        // counts it); once claimed it is one like any other.
        for (const auto& s : store_.list_sandboxes())
          if (!s->is_unclaimed_member()) ++counts[static_cast<int>(s->state)];
        for (SandboxState st : kAllStates) {
          if (st == SandboxState::kTerminated) continue;  // never live: not in the projection
          out.push_back(
              {{std::string(to_string(st))}, static_cast<double>(counts[static_cast<int>(st)])});
        }
        return out;
      }))
    callbacks_.push_back(std::move(*h));

  Subscription::Options so;
  so.from_head = true;
  so.max_backlog = kBacklogEvents;
  so.name = "sbx-log-metrics";
  // From the head: cannot fail (no checkpoint to read).
  subscription_ = std::move(*Subscription::open(store_, std::move(so)));
  subscription_->start([this](const Subscription::Batch& batch) { on_batch(batch); });
}

LogMetrics::~LogMetrics() { subscription_->stop(); }

// A warm pool's member starting is the pool filling, not a client waiting for its create
// (a claim of it is Running at once: sandboxd_pool_claims_total). spec.pool_name never
// changes, so the projection as it is now answers for an earlier event too.
bool LogMetrics::is_pool_member(std::string_view stream) const {
  if (!stream.starts_with(kSandboxStreamPrefix)) return false;
  auto sb = store_.get_sandbox(stream.substr(kSandboxStreamPrefix.size()));
  return sb && !sb->spec.pool_name.empty();
}

void LogMetrics::on_batch(const Subscription::Batch& batch) {
  if (const CommitStats* stats = batch.commit()) {
    store_metrics_.group_commit_size.observe(static_cast<double>(stats->appends));
    store_metrics_.event_append_duration_seconds.observe(static_cast<double>(stats->write_micros) /
                                                         1e6);
  }
  const auto events = batch.events();
  store_metrics_.events_appended_total.inc(static_cast<double>(events.size()));
  if (!batch.live() && !events.empty() && !warned_unstaged_) {
    warned_unstaged_ = true;
    logger("server")->warn(
        "log metrics fell behind the log and read {} events back: their lifecycle transitions "
        "are not counted",
        events.size());
  }

  // The projection's changes are in position order, one per event it folded.
  const auto changes = batch.changes();
  auto c = changes.begin();
  for (const Event& e : events) {
    if (const auto* d = std::get_if<DeletionRequested>(&e.data); d && e.reason == Reason::kExpired)
      sandbox_metrics_.expirations_total.inc();
    while (c != changes.end() && c->position < e.position) ++c;
    if (c == changes.end() || c->position != e.position) continue;
    const SandboxState to = c->deleted ? SandboxState::kTerminated : c->to;
    if (!c->from || *c->from != to) {
      const std::string from = c->from ? std::string(to_string(*c->from)) : "None";
      sandbox_metrics_.lifecycle_transitions_total.with({from, std::string(to_string(to))}).inc();
      if (to == SandboxState::kRunning && c->from == SandboxState::kPending &&
          !is_pool_member(e.stream))
        sandbox_metrics_.time_to_running_seconds.observe(
            static_cast<double>(e.time - c->created_at) / 1e6);
    }
  }
  // Last: whoever sees the head here sees everything up to it counted.
  store_metrics_.log_head_position.set(static_cast<double>(batch.next() - 1));
}

}  // namespace sbx
