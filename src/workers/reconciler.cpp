#include "src/workers/reconciler.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>
#include <variant>
#include <vector>

#include "src/common/log.h"
#include "src/common/uuid.h"
#include "src/metrics/sandbox_metrics.h"
#include "src/runtime/runtime.h"
#include "src/workers/backoff.h"
#include "store/event_store.h"

namespace sbx {
namespace {

constexpr std::string_view kActor = "worker:reconciler";

bool is_watched(SandboxState s) {
  return s == SandboxState::kRunning || s == SandboxState::kPaused;
}

bool has_exited(const ContainerStatus& c) {
  return c.state == ContainerState::kExited || c.state == ContainerState::kDead;
}

// Whether `c` (nullopt: no container) disagrees with a Running/Paused sandbox.
bool disagrees(SandboxState s, const std::optional<ContainerStatus>& c) {
  if (!c) return true;
  if (has_exited(*c)) return true;
  if (s == SandboxState::kRunning && c->state == ContainerState::kPaused) return true;
  if (s == SandboxState::kPaused && c->state == ContainerState::kRunning) return true;
  return false;
}

}  // namespace

Reconciler::Reconciler(EventStore& store, Runtime& runtime, const Clock& clock, Recorder recorder,
                       WorkerOptions options, AvailabilityCallback on_availability,
                       metrics::SandboxMetrics* metrics)
    : store_(store),
      runtime_(runtime),
      clock_(clock),
      recorder_(std::move(recorder)),
      options_(std::move(options)),
      on_availability_(std::move(on_availability)),
      metrics_(metrics) {}

Reconciler::~Reconciler() { stop(); }

Result<void> Reconciler::start() {
  if (started_) return fail(ErrorCode::kFailedPrecondition, "reconciler already started");
  // Watch from now: what happened before is covered by the first full pass.
  const std::optional<Micros> since = clock_.now();
  Subscription::Options so;
  so.from_head = true;
  so.name = "sbx-reconcile";
  auto sub = Subscription::open(store_, std::move(so));
  if (!sub) return std::unexpected(sub.error());
  first_round_done_ = false;
  subscription_ = std::move(*sub);
  Subscription& s = *subscription_;
  s.start([this, &s](const Subscription::Batch& batch) { on_batch(s, batch); });
  s.wake();  // the first round: health check and a full pass
  watcher_ = std::jthread([this, since](std::stop_token stop) { watch_loop(stop, since); });
  started_ = true;
  return {};
}

void Reconciler::stop() {
  if (!started_) return;
  watcher_.request_stop();
  subscription_->stop();
  if (watcher_.joinable()) watcher_.join();
  started_ = false;
}

void Reconciler::request_pass() {
  {
    std::lock_guard lock(requests_mu_);
    pass_requested_ = true;
  }
  if (subscription_) subscription_->wake();
}

void Reconciler::request_health_check() {
  {
    std::lock_guard lock(requests_mu_);
    health_requested_ = true;
  }
  if (subscription_) subscription_->wake();
}

bool Reconciler::check_health() {
  auto r = runtime_.ping();
  set_available(r.has_value(), r ? std::string() : r.error().message);
  return r.has_value();
}

void Reconciler::note_runtime_error(const Error& error) {
  if (error.code == ErrorCode::kUnavailable) set_available(false, error.message);
}

void Reconciler::set_available(bool available, const std::string& why) {
  {
    std::lock_guard lock(availability_mu_);
    if (available_.load() == available) return;
    available_.store(available);
    if (available) {
      logger("reconciler")->info("runtime is available again; reconciling now");
    } else {
      logger("reconciler")->warn("runtime is unavailable: {}", why);
    }
    if (on_availability_) on_availability_(available);
  }
  if (available) request_pass();
}

void Reconciler::on_batch(Subscription& subscription, const Subscription::Batch& batch) {
  auto log = logger("reconciler");
  auto pass = [&] {
    if (!runtime_available()) return;
    if (auto r = reconcile_once(); !r) {
      log->warn("reconcile pass failed: {}", r.error().message);
    } else if (*r > 0) {
      log->info("reconcile pass recorded {} finding(s)", *r);
    }
  };
  if (!first_round_done_) {
    first_round_done_ = true;
    check_health();
    pass();  // covers whatever this batch holds
    next_pass_ = SteadyClock::now() + options_.reconcile_interval;
    next_health_ = SteadyClock::now() + options_.health_check_interval;
    subscription.wake_at(std::min(next_pass_, next_health_));
    return;
  }
  // Sandboxes that just became Running or Paused.
  std::set<std::string> recheck;
  for (const Event& e : batch.events()) {
    if (std::holds_alternative<SandboxStarted>(e.data) ||
        std::holds_alternative<SandboxPaused>(e.data) ||
        std::holds_alternative<PauseFailed>(e.data) ||
        std::holds_alternative<SandboxResumed>(e.data) ||
        std::holds_alternative<ResumeFailed>(e.data)) {
      const std::string_view id = sandbox_id_of(e.stream);
      if (!id.empty()) recheck.emplace(id);
    }
  }
  bool do_pass = false;
  bool do_health = false;
  {
    std::lock_guard lock(requests_mu_);
    const auto now = SteadyClock::now();
    do_health = health_requested_ || now >= next_health_;
    do_pass = pass_requested_ || now >= next_pass_;
    health_requested_ = false;
    pass_requested_ = false;
  }
  if (do_health) {
    check_health();  // a comeback requests a pass, picked up on the next round
    next_health_ = SteadyClock::now() + options_.health_check_interval;
  }
  if (do_pass) {
    pass();
    next_pass_ = SteadyClock::now() + options_.reconcile_interval;
  } else if (runtime_available()) {
    for (const std::string& id : recheck) {
      if (subscription.stopping()) return;
      if (auto r = reconcile_sandbox(id); !r) {
        log->warn("sandbox {}: reconcile after its transition failed: {}", id, r.error().message);
      }
    }
  }
  subscription.wake_at(std::min(next_pass_, next_health_));
}

void Reconciler::watch_loop(std::stop_token stop, std::optional<Micros> since) {
  auto log = logger("reconciler");
  Backoff backoff(options_.watch_reconnect);
  bool broken = false;
  while (!stop.stop_requested()) {
    bool got_event = false;
    auto r = runtime_.watch(
        since,
        [&](const RuntimeEvent& e) {
          got_event = true;
          since = e.time;
          if (broken) {
            broken = false;
            log->info("runtime event stream reconnected");
          }
          // A start is news only where readiness comes from the runtime (Kubernetes: the
          // pod became Ready, so a Pending sandbox is now Running).
          if (e.sandbox_id.empty()) return;
          if (e.kind == RuntimeEventKind::kStarted && !runtime_.reports_readiness()) return;
          // Another sandboxd's container: none of our business. (Legacy ones, without an
          // instance label, are decided by check_locked.)
          if (!e.instance_id.empty() && e.instance_id != store_.instance_id()) return;
          auto found = reconcile_sandbox(e.sandbox_id);
          if (!found) {
            log->warn("sandbox {}: reconciling after runtime event {} failed: {}", e.sandbox_id,
                      to_string(e.kind), found.error().message);
          }
        },
        stop);
    if (stop.stop_requested()) return;
    if (got_event) backoff.reset();
    if (!broken) {
      log->warn("runtime event stream broke ({}); reconnecting with backoff",
                r ? std::string("ended") : r.error().message);
      broken = true;
    }
    request_health_check();
    const auto delay = backoff.next().value_or(options_.watch_reconnect.max);
    if (!sleep_unless_stopped(stop, delay)) return;
  }
}

Result<std::size_t> Reconciler::reconcile_once() {
  std::lock_guard pass_lock(pass_mu_);
  // Projection first, then the runtime: a sandbox that reached Running before the snapshot
  // had its container created before it, so list() sees that container unless it is gone.
  const auto snapshot = store_.list_sandboxes();
  auto containers = runtime_.list();
  if (!containers) {
    note_runtime_error(containers.error());
    return std::unexpected(containers.error());
  }
  std::map<std::string, ContainerStatus> by_id;
  for (auto& c : *containers) {
    if (c.sandbox_id.empty() || owner_of(c) != Owner::kOurs) continue;
    by_id.emplace(c.sandbox_id, std::move(c));
  }
  std::size_t findings = 0;
  std::set<std::string> live;
  auto tally = [&](const std::string& id, Result<std::size_t> r) -> Result<void> {
    if (r) {
      findings += *r;
      return {};
    }
    logger("reconciler")->warn("sandbox {}: reconcile failed: {}", id, r.error().message);
    if (r.error().code == ErrorCode::kUnavailable) return std::unexpected(r.error());
    return {};
  };
  for (const auto& sb : snapshot) {
    live.insert(sb->id);
    if (sb->state == SandboxState::kFailed) {
      if (auto r = tally(sb->id, cleanup_failed_pending(*sb)); !r)
        return std::unexpected(r.error());
      continue;
    }
    auto it = by_id.find(sb->id);
    std::optional<ContainerStatus> c;
    if (it != by_id.end()) c = it->second;
    if (sb->state == SandboxState::kPending) {
      if (!pending_needs_look(*sb, c)) continue;
    } else if (!is_watched(sb->state) || !disagrees(sb->state, c)) {
      continue;
    }
    if (auto r = tally(sb->id, check_locked(sb->id)); !r) return std::unexpected(r.error());
  }
  for (const auto& [id, c] : by_id) {
    if (live.contains(id)) continue;
    if (auto r = tally(id, check_locked(id)); !r) return std::unexpected(r.error());
  }
  return findings;
}

Result<std::size_t> Reconciler::reconcile_sandbox(const std::string& sandbox_id) {
  std::lock_guard pass_lock(pass_mu_);
  return check_locked(sandbox_id);
}

Result<std::size_t> Reconciler::check_locked(const std::string& id) {
  const auto before = store_.get_sandbox(id);
  auto container = runtime_.inspect(id);
  if (!container) {
    note_runtime_error(container.error());
    return std::unexpected(container.error());
  }
  const auto after = store_.get_sandbox(id);
  // A container of someone else under this name is not ours to judge: for us it is absent.
  std::optional<ContainerStatus> ours = std::move(*container);
  if (ours && owner_of(*ours) != Owner::kOurs) ours.reset();
  if (before == nullptr && after == nullptr) {
    if (!ours) return 0;
    return remove_orphan(id, *ours);
  }
  if (before == nullptr || after == nullptr || before->version != after->version) {
    return 0;  // the sandbox is moving; the next look decides
  }
  return evaluate(*after, ours);
}

Reconciler::Owner Reconciler::owner_of(const ContainerStatus& c) {
  if (!c.instance_id.empty()) {
    return c.instance_id == store_.instance_id() ? Owner::kOurs : Owner::kOtherInstance;
  }
  // Legacy: made before instance labels. Ours if and only if our log knows its sandbox.
  const bool in_log = !c.sandbox_id.empty() && store_.stream_version(stream_of(c.sandbox_id)) > 0;
  if (legacy_logged_.insert(c.runtime_id.empty() ? c.sandbox_id : c.runtime_id).second) {
    if (in_log) {
      logger("reconciler")
          ->info("adopting container {} ({}) without an instance label: sandbox {} is in this "
                 "store's log",
                 container_name(c.sandbox_id), c.runtime_id, c.sandbox_id);
    } else {
      logger("reconciler")
          ->warn("leaving container {} ({}) alone: it has no instance label and sandbox {} is "
                 "not in this store's log (another sandboxd's, from before instance labels?)",
                 container_name(c.sandbox_id), c.runtime_id, c.sandbox_id);
    }
  }
  return in_log ? Owner::kOurs : Owner::kUnknownLegacy;
}

bool Reconciler::pending_needs_look(const Sandbox& sb,
                                    const std::optional<ContainerStatus>& c) const {
  if (!runtime_.reports_readiness()) return false;
  if (clock_.now() - sb.created_at >= options_.pending_timeout) return true;
  return c && ((c->ready && c->state == ContainerState::kRunning) || has_exited(*c) ||
               c->permanent);
}

Result<std::size_t> Reconciler::evaluate_pending(const Sandbox& sb,
                                                 const std::optional<ContainerStatus>& c) {
  if (!pending_needs_look(sb, c)) return 0;
  const std::string& id = sb.id;
  const std::string prefix = options_.error_code_prefix;
  auto why = [&](const ContainerStatus& s) {
    std::string out = s.reason.empty() ? std::string(to_string(s.state)) : s.reason;
    if (!s.message.empty()) out += ": " + s.message;
    return out;
  };
  if (c && c->ready && c->state == ContainerState::kRunning) {
    std::string detail = "workload " + c->runtime_id + " is ready" +
                         (c->address.empty() ? "" : " at " + c->address);
    auto r = recorder_(id, RecordStarted{c->runtime_id, c->address},
                       RecordContext{std::string(kActor), ""});
    if (!r) {
      if (is_outdated(r.error())) return 0;
      return std::unexpected(r.error());
    }
    logger("reconciler")->info("sandbox {}: {}", id, detail);
    return 0;  // the expected outcome, not a finding
  }
  std::string code;
  std::string detail;
  std::string kind;
  if (c && has_exited(*c)) {
    code = c->oom_killed ? "SANDBOX::OOM_KILLED" : prefix + "::POD_FAILED";
    detail = "workload ended before it became ready (" + why(*c) + ")";
    if (c->exit_code) detail += ", exit code " + std::to_string(*c->exit_code);
    kind = "failed_pending";
  } else if (c && c->permanent) {
    code = prefix + "::POD_FAILED";
    detail = "workload cannot start: " + why(*c);
    kind = "failed_pending";
  } else {
    code = prefix + "::PENDING_TIMEOUT";
    detail = "not ready " + std::to_string(options_.pending_timeout / kMicrosPerSecond) +
             " s after creation: " +
             (c ? why(*c) : std::string("the runtime has no workload for it"));
    kind = "pending_timeout";
  }
  return record_outcome(id, RecordProvisioningFailed{code, detail}, kind, detail);
}

Result<std::size_t> Reconciler::evaluate(const Sandbox& sb,
                                         const std::optional<ContainerStatus>& c) {
  if (sb.state == SandboxState::kPending) return evaluate_pending(sb, c);
  if (!is_watched(sb.state) || !disagrees(sb.state, c)) return 0;
  const std::string& id = sb.id;
  if (!c) {
    std::string detail = "container vanished: the runtime has no container " + container_name(id) +
                         (sb.runtime_id.empty() ? "" : " (was " + sb.runtime_id + ")") +
                         " while the sandbox was " + std::string(to_string(sb.state));
    return record_outcome(id, RecordFailed{"SANDBOX::CONTAINER_VANISHED", detail, std::nullopt},
                          "vanished", detail);
  }
  if (has_exited(*c)) {
    if (c->oom_killed) {
      std::string detail = "container was killed for running out of memory";
      if (c->exit_code) detail += " (exit code " + std::to_string(*c->exit_code) + ")";
      return record_outcome(id, RecordFailed{"SANDBOX::OOM_KILLED", detail, c->exit_code},
                            "oom_killed", detail);
    }
    if (c->exit_code && *c->exit_code == 0) {
      std::string detail = "container exited with code 0";
      return record_outcome(id, RecordTerminated{0, detail}, "died", detail);
    }
    std::string detail =
        c->exit_code ? "container exited with code " + std::to_string(*c->exit_code)
                     : "container is " + std::string(to_string(c->state)) + " without an exit code";
    if (!c->reason.empty()) {
      detail += " (" + c->reason + (c->message.empty() ? "" : ": " + c->message) + ")";
    }
    return record_outcome(id, RecordFailed{"SANDBOX::CONTAINER_EXITED", detail, c->exit_code},
                          "died", detail);
  }
  // Paused or unpaused outside sandboxd: put it back the way the API says.
  const bool api_running = sb.state == SandboxState::kRunning;
  auto r = api_running ? runtime_.resume(id) : runtime_.pause(id);
  if (!r) {
    note_runtime_error(r.error());
    return std::unexpected(r.error());
  }
  const std::string_view kind = api_running ? "paused_outside" : "unpaused_outside";
  std::string detail = api_running
                           ? "container was paused outside sandboxd while the sandbox is Running; "
                             "unpaused it"
                           : "container was unpaused outside sandboxd while the sandbox is "
                             "Paused; paused it again";
  logger("reconciler")->warn("sandbox {}: {}", id, detail);
  append_finding(kind, ReconcileFinding{std::string(kind), id, std::move(detail)});
  return 1;
}

Result<std::size_t> Reconciler::record_outcome(const std::string& id, const Command& command,
                                               std::string_view kind, std::string detail) {
  auto r = recorder_(id, command, RecordContext{std::string(kActor), ""});
  if (!r) {
    if (is_outdated(r.error())) return 0;
    return std::unexpected(r.error());
  }
  logger("reconciler")->warn("sandbox {}: {}", id, detail);
  append_finding(kind, ReconcileFinding{std::string(kind), id, std::move(detail)});
  return 1;
}

Result<std::size_t> Reconciler::remove_orphan(const std::string& id, const ContainerStatus& c) {
  const std::string stream = stream_of(id);
  if (const std::uint64_t version = store_.stream_version(stream); version > 0) {
    auto last = store_.read_stream(stream, version, 1);
    // A last event that does not decode tells no time: the grace does not apply.
    if (!last && last.error().code != ErrorCode::kDataLoss) return std::unexpected(last.error());
    if (last && !last->empty() && clock_.now() - last->back().time < options_.orphan_grace) {
      return 0;  // left the projection just now: the provisioner is on it
    }
  }
  if (auto r = runtime_.remove(id); !r) {
    note_runtime_error(r.error());
    return std::unexpected(r.error());
  }
  logger("reconciler")
      ->warn("removed orphan container {} ({}) of sandbox {}: no live sandbox owns it",
             container_name(id), c.runtime_id, id);
  append_finding("orphan_removed", OrphanRemoved{c.runtime_id, id});
  return 1;
}

Result<std::size_t> Reconciler::cleanup_failed_pending(const Sandbox& sb) {
  // Failed while Pending = never started: no runtime id was ever recorded.
  if (sb.state != SandboxState::kFailed || sb.deleted || !sb.runtime_id.empty()) return 0;
  if (clock_.now() - sb.last_transition_at < options_.pending_failure_ttl) return 0;
  auto r =
      recorder_(sb.id, DeleteSandbox{Reason::kReconcile}, RecordContext{std::string(kActor), ""});
  if (!r) {
    if (is_outdated(r.error())) return 0;
    return std::unexpected(r.error());
  }
  std::string detail = "failed while Pending at " + format_rfc3339(sb.last_transition_at) + " (" +
                       sb.status_reason + "); deleted after the pending-failure TTL";
  logger("reconciler")->info("sandbox {}: {}", sb.id, detail);
  append_finding("pending_failure_cleanup",
                 ReconcileFinding{"pending_failure_cleanup", sb.id, std::move(detail)});
  return 1;
}

void Reconciler::append_finding(std::string_view kind, EventData data) {
  if (metrics_ != nullptr) metrics_->reconcile_findings_total.with({kind}).inc();
  Event e;
  e.time = clock_.now();
  e.event_id = new_uuid();
  e.actor = std::string(kActor);
  e.reason = Reason::kReconcile;
  e.data = std::move(data);
  AppendRequest request;
  request.stream = std::string(kSystemStream);
  request.expected = ExpectedVersion::any();
  request.events.push_back(std::move(e));
  if (auto r = store_.append(std::move(request)); !r) {
    logger("reconciler")->warn("appending the {} finding failed: {}", kind, r.error().message);
  }
}

}  // namespace sbx
