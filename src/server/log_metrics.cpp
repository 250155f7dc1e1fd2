#include "src/server/log_metrics.h"

#include <optional>
#include <string_view>
#include <variant>

#include "events/decider.h"

namespace sbx {
namespace {

constexpr std::string_view kSandboxPrefix = "sandbox-";

}  // namespace

LogMetrics::LogMetrics(EventStore& store, metrics::StoreMetrics& store_metrics,
                       metrics::SandboxMetrics& sandbox_metrics)
    : store_(store), store_metrics_(store_metrics), sandbox_metrics_(sandbox_metrics) {
  for (const auto& s : store_.list_sandboxes()) last_[s->id] = Seen{s->state, s->created_at};
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
        for (const auto& s : store_.list_sandboxes()) ++counts[static_cast<int>(s->state)];
        for (SandboxState st : kAllStates) {
          if (st == SandboxState::kTerminated) continue;  // never live: not in the projection
          out.push_back(
              {{std::string(to_string(st))}, static_cast<double>(counts[static_cast<int>(st)])});
        }
        return out;
      }))
    callbacks_.push_back(std::move(*h));

  listener_ =
      store_.add_commit_listener([this](const std::vector<Event>& events,
                                        const CommitStats& stats) { on_commit(events, stats); });
}

LogMetrics::~LogMetrics() {
  if (listener_ >= 0) store_.remove_commit_listener(listener_);
}

void LogMetrics::on_commit(const std::vector<Event>& events, const CommitStats& stats) {
  store_metrics_.group_commit_size.observe(static_cast<double>(stats.appends));
  store_metrics_.event_append_duration_seconds.observe(static_cast<double>(stats.write_micros) /
                                                       1e6);
  store_metrics_.events_appended_total.inc(static_cast<double>(events.size()));
  if (!events.empty())
    store_metrics_.log_head_position.set(static_cast<double>(events.back().position));

  // Each event is folded into the state this listener last saw (not read back from the
  // projection, which may already show later commits, or the last of several events of one
  // append), so every transition is counted once, in order.
  std::lock_guard lock(mu_);
  for (const Event& e : events) {
    if (!e.stream.starts_with(kSandboxPrefix)) continue;
    const std::string id = e.stream.substr(kSandboxPrefix.size());
    const auto it = last_.find(id);
    const bool known = it != last_.end();
    std::optional<Sandbox> before;
    if (known) {
      before.emplace();
      before->id = id;
      before->state = it->second.state;
      before->created_at = it->second.created_at;
    } else if (!std::holds_alternative<SandboxRequested>(e.data)) {
      continue;  // a stream this listener never saw start (it was gone before open)
    }
    const Sandbox after = evolve(before, e);
    const SandboxState to = after.deleted ? SandboxState::kTerminated : after.state;
    if (!known || it->second.state != to) {
      const std::string from = known ? std::string(to_string(it->second.state)) : "None";
      sandbox_metrics_.lifecycle_transitions_total.with({from, std::string(to_string(to))}).inc();
      if (to == SandboxState::kRunning && known && it->second.state == SandboxState::kPending)
        sandbox_metrics_.time_to_running_seconds.observe(
            static_cast<double>(e.time - after.created_at) / 1e6);
    }
    if (const auto* d = std::get_if<DeletionRequested>(&e.data); d && e.reason == Reason::kExpired)
      sandbox_metrics_.expirations_total.inc();
    if (to == SandboxState::kTerminated)
      last_.erase(id);
    else
      last_[id] = Seen{to, after.created_at};
  }
}

}  // namespace sbx
