#include "src/workers/provisioner.h"

#include <algorithm>
#include <functional>
#include <type_traits>
#include <variant>

#include "src/common/egress_token.h"
#include "src/common/log.h"
#include "src/metrics/worker_metrics.h"
#include "src/runtime/runtime.h"
#include "src/workers/backoff.h"
#include "src/workers/container_spec_mapping.h"
#include "src/workers/outcome_codes.h"
#include "store/event_store.h"

namespace sbx {
namespace {

constexpr std::string_view kWorkerName = "provisioner";
constexpr std::string_view kActor = "worker:provisioner";
constexpr std::string_view kCorruptEventCode = "STORE::CORRUPT_EVENT";

bool is_request(const Event& e) {
  return std::holds_alternative<SandboxRequested>(e.data) ||
         std::holds_alternative<PauseRequested>(e.data) ||
         std::holds_alternative<ResumeRequested>(e.data) ||
         std::holds_alternative<DeletionRequested>(e.data) ||
         std::holds_alternative<ExpirationRenewed>(e.data);
}

// The sandbox a request is about; "" for other streams.
std::string sandbox_id_of(const Event& e) {
  if (const auto* r = std::get_if<SandboxRequested>(&e.data)) return r->sandbox_id;
  return std::string(sbx::sandbox_id_of(e.stream));
}

bool is_retryable_store_error(const Error& e) {
  return e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kConflict ||
         e.code == ErrorCode::kDeadlineExceeded || e.code == ErrorCode::kResourceExhausted;
}

std::string seconds_text(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

// The failure message after transient errors used up the retries.
std::string gave_up_message(std::string_view what, const Backoff& backoff, const Error& last) {
  return "runtime unavailable: " + std::string(what) + " failed " +
         std::to_string(backoff.failures()) + " times over " + seconds_text(backoff.elapsed()) +
         "; last error: " + last.message;
}

}  // namespace

Provisioner::Provisioner(EventStore& store, Runtime& runtime, Recorder recorder,
                         WorkerOptions options, metrics::WorkerMetrics* metrics)
    : store_(store),
      runtime_(runtime),
      recorder_(std::move(recorder)),
      options_(std::move(options)) {
  options_.provisioners = std::max(1, options_.provisioners);
  options_.read_batch = std::max<std::size_t>(1, options_.read_batch);
  if (metrics != nullptr) {
    lag_gauge_ = &metrics->worker_lag_events.with({kWorkerName});
    checkpoint_gauge_ = &metrics->worker_checkpoint_position.with({kWorkerName});
  }
}

Provisioner::~Provisioner() { stop(); }

Result<void> Provisioner::start() {
  if (started_) return fail(ErrorCode::kFailedPrecondition, "provisioner already started");
  Subscription::Options so;
  so.consumer = options_.provisioner_checkpoint;
  so.max_batch = options_.read_batch;
  so.name = "sbx-provision";
  auto sub = Subscription::open(store_, std::move(so));
  if (!sub) return std::unexpected(sub.error());
  const std::uint64_t cp = (*sub)->position();
  {
    std::lock_guard lock(mu_);
    read_through_ = cp;
    saved_ = cp;
    in_flight_.clear();
  }
  subscription_ = std::move(*sub);
  queues_.clear();
  for (int i = 0; i < options_.provisioners; ++i) queues_.push_back(std::make_unique<Queue>());
  for (std::size_t i = 0; i < queues_.size(); ++i) {
    workers_.emplace_back([this, i](std::stop_token stop) { worker_loop(stop, i); });
  }
  subscription_->start([this](const Subscription::Batch& batch) { dispatch(batch); });
  started_ = true;
  logger("provisioner")
      ->info("started at checkpoint {} (log head {}) with {} threads", cp, store_.head(),
             queues_.size());
  return {};
}

void Provisioner::stop() {
  if (!started_) return;
  subscription_->stop();  // joins the dispatcher
  for (auto& w : workers_) w.request_stop();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  workers_.clear();
  save_progress();
  started_ = false;
  logger("provisioner")->info("stopped at checkpoint {}", checkpoint());
}

std::uint64_t Provisioner::checkpoint() const {
  std::lock_guard lock(mu_);
  return saved_;
}

std::uint64_t Provisioner::lag() const {
  std::uint64_t done;
  {
    std::lock_guard lock(mu_);
    done = done_position_locked();
  }
  const std::uint64_t head = store_.head();
  return head > done ? head - done : 0;
}

bool Provisioner::wait_until_done(std::uint64_t position, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return done_cv_.wait_for(lock, timeout, [&] { return done_position_locked() >= position; });
}

std::uint64_t Provisioner::done_position_locked() const {
  if (in_flight_.empty()) return read_through_;
  return std::min(read_through_, *in_flight_.begin() - 1);
}

void Provisioner::save_progress() {
  std::uint64_t done;
  bool changed;
  {
    std::lock_guard lock(mu_);
    done = done_position_locked();
    changed = done > saved_;
  }
  if (changed) {
    if (auto r = store_.save_checkpoint(options_.provisioner_checkpoint, done); r) {
      std::lock_guard lock(mu_);
      saved_ = std::max(saved_, done);
    } else {
      logger("provisioner")->warn("saving checkpoint {} failed: {}", done, r.error().message);
    }
  }
  if (checkpoint_gauge_ != nullptr) checkpoint_gauge_->set(static_cast<double>(checkpoint()));
  if (lag_gauge_ != nullptr) {
    const std::uint64_t head = store_.head();
    lag_gauge_->set(static_cast<double>(head > done ? head - done : 0));
  }
}

void Provisioner::dispatch(const Subscription::Batch& batch) {
  // A record that does not decode is skipped; its sandbox (if the store can tell which)
  // is marked Failed by the worker that owns the sandbox, in log order with its requests.
  std::vector<Event> work;
  work.reserve(batch.events().size() + batch.corrupt().size());
  auto corrupt = batch.corrupt().begin();
  for (const Event& e : batch.events()) {
    for (; corrupt != batch.corrupt().end() && corrupt->position < e.position; ++corrupt) {
      if (auto f = corrupt_work(*corrupt)) work.push_back(std::move(*f));
    }
    if (is_request(e)) work.push_back(e);
  }
  for (; corrupt != batch.corrupt().end(); ++corrupt) {
    if (auto f = corrupt_work(*corrupt)) work.push_back(std::move(*f));
  }
  for (Event& e : work) {
    const std::string id = sandbox_id_of(e);
    if (id.empty()) continue;
    {
      std::lock_guard lock(mu_);
      in_flight_.insert(e.position);
    }
    Queue& q = *queues_[std::hash<std::string>{}(id) % queues_.size()];
    {
      std::lock_guard lock(q.mu);
      q.events.push_back(std::move(e));
    }
    q.cv.notify_one();
  }
  {
    std::lock_guard lock(mu_);
    read_through_ = std::max(read_through_, batch.next() - 1);
  }
  done_cv_.notify_all();
  save_progress();
}

void Provisioner::worker_loop(std::stop_token stop, std::size_t index) {
  Queue& q = *queues_[index];
  while (true) {
    Event e;
    {
      std::unique_lock lock(q.mu);
      if (!q.cv.wait(lock, stop, [&] { return !q.events.empty(); })) return;
      if (stop.stop_requested()) return;
      e = std::move(q.events.front());
      q.events.pop_front();
    }
    if (!handle(e, index, stop)) return;  // stopped: not done, redone after a restart
    complete(e.position);
  }
}

void Provisioner::complete(std::uint64_t position) {
  {
    std::lock_guard lock(mu_);
    in_flight_.erase(position);
  }
  done_cv_.notify_all();
  subscription_->wake();  // the dispatcher saves the checkpoint
}

std::optional<Event> Provisioner::corrupt_work(const CorruptEvent& corrupt) {
  logger("provisioner")
      ->error("skipping corrupt event at position {} (stream {}): {}", corrupt.position,
              corrupt.stream.empty() ? "unknown" : corrupt.stream, corrupt.message);
  if (sbx::sandbox_id_of(corrupt.stream).empty()) return std::nullopt;
  Event e;
  e.position = corrupt.position;
  e.stream = corrupt.stream;
  e.data = SandboxFailed{std::string(kCorruptEventCode),
                         "corrupt event at position " + std::to_string(corrupt.position),
                         std::nullopt};
  return e;
}

bool Provisioner::handle(const Event& event, std::size_t worker, std::stop_token stop) {
  const std::string id = sandbox_id_of(event);
  return std::visit(
      [&](const auto& data) -> bool {
        using T = std::decay_t<decltype(data)>;
        if constexpr (std::is_same_v<T, SandboxRequested>) {
          return provision(id, event, worker, stop);
        } else if constexpr (std::is_same_v<T, PauseRequested>) {
          return pause_or_resume(id, event, /*pause=*/true, stop);
        } else if constexpr (std::is_same_v<T, ResumeRequested>) {
          return pause_or_resume(id, event, /*pause=*/false, stop);
        } else if constexpr (std::is_same_v<T, DeletionRequested>) {
          return remove(id, event, stop);
        } else if constexpr (std::is_same_v<T, ExpirationRenewed>) {
          return renew(id, data, stop);
        } else if constexpr (std::is_same_v<T, SandboxFailed>) {
          // Made by the dispatcher for a log record that does not decode (corrupt_work).
          logger("provisioner")->error("sandbox {}: {}; marking it Failed", id, data.message);
          return record(id, RecordFailed{data.error_code, data.message, std::nullopt}, event,
                        stop) != Recorded::kStopped;
        } else {
          return true;
        }
      },
      event.data);
}

Provisioner::Recorded Provisioner::record(const std::string& id, const Command& command,
                                          const Event& cause, std::stop_token stop) {
  const RecordContext context{std::string(kActor), cause.request_id};
  Backoff backoff(options_.record_retry);
  while (true) {
    auto r = recorder_(id, command, context);
    if (r) return Recorded::kYes;
    if (is_outdated(r.error())) {
      logger("provisioner")
          ->debug("sandbox {}: outcome not recorded ({}), request at position {} is outdated", id,
                  r.error().message, cause.position);
      return Recorded::kSkipped;
    }
    if (!is_retryable_store_error(r.error())) {
      logger("provisioner")
          ->error("sandbox {}: recording the outcome of position {} failed for good: {}", id,
                  cause.position, r.error().message);
      return Recorded::kSkipped;
    }
    const auto delay = backoff.next().value_or(options_.record_retry.max);
    logger("provisioner")
        ->warn("sandbox {}: recording an outcome failed ({}); retrying in {} ms", id,
               r.error().message, delay.count());
    if (!sleep_unless_stopped(stop, delay)) return Recorded::kStopped;
  }
}

bool Provisioner::provision(const std::string& id, const Event& event, std::size_t worker,
                            std::stop_token stop) {
  auto log = logger("provisioner");
  auto still_pending = [&] {
    auto sb = store_.get_sandbox(id);
    return sb != nullptr && sb->state == SandboxState::kPending;
  };
  auto sb = store_.get_sandbox(id);
  if (sb == nullptr || sb->state != SandboxState::kPending) {
    log->debug("sandbox {}: request at position {} skipped, sandbox is {}", id, event.position,
               sb == nullptr ? "gone" : to_string(sb->state));
    return true;
  }
  const auto& request = std::get<SandboxRequested>(event.data);
  // Registry credentials are not in the log: the store keeps them apart while the sandbox
  // is Pending (and deletes them with the event that ends that).
  std::optional<ImageAuth> auth;
  if (request.spec.image_auth_provided) {
    Backoff reads(options_.record_retry);
    while (true) {
      auto secrets = store_.sandbox_secrets(id);
      if (secrets) {
        if (*secrets) auth = (*secrets)->image_auth;
        break;
      }
      if (!is_retryable_store_error(secrets.error())) {
        log->error("sandbox {}: reading its registry credentials failed: {}", id,
                   secrets.error().message);
        break;
      }
      const auto delay = reads.next().value_or(options_.record_retry.max);
      if (!sleep_unless_stopped(stop, delay)) return false;
    }
    if (!auth) {
      if (!still_pending()) {
        log->debug("sandbox {}: no longer Pending, request at position {} skipped", id,
                   event.position);
        return true;
      }
      log->warn("sandbox {}: its registry credentials are missing from the store", id);
      return record(id,
                    RecordProvisioningFailed{
                        std::string(options_.error_code_prefix) + "::API_ERROR",
                        "the registry credentials given with the create are no longer stored"},
                    event, stop) != Recorded::kStopped;
    }
  }
  // The egress token is derived from the store's key (src/common/egress_token.h): it is
  // never in the log, and the same after a restart.
  const std::string token = request.spec.network_policy_json.empty()
                                ? std::string()
                                : egress_token(store_.egress_token_key(), id);
  auto spec = to_container_spec(id, request.spec, sb->metadata, auth, options_.egress, token);
  if (spec) spec->expires_at = sb->expires_at;
  if (!spec) {
    log->info("sandbox {}: spec rejected: {}", id, spec.error().message);
    return record(id, RecordProvisioningFailed{"SANDBOX::INVALID_PARAMETER", spec.error().message},
                  event, stop) != Recorded::kStopped;
  }
  switch (record(id,
                 RecordProvisioningStarted{std::string(kWorkerName) + "-" + std::to_string(worker)},
                 event, stop)) {
    case Recorded::kStopped:
      return false;
    case Recorded::kSkipped:
      return true;
    case Recorded::kYes:
      break;
  }
  Backoff backoff(options_.runtime_retry);
  while (true) {
    auto created = runtime_.create_and_start(*spec);
    if (created && !created->ready) {
      // The workload exists but is not Ready yet (Kubernetes): the reconciler records the
      // start when the runtime reports readiness, or the failure with the workload's reason.
      log->info("sandbox {}: created workload {}; waiting for it to become ready", id,
                created->runtime_id);
      return true;
    }
    if (created) {
      log->info("sandbox {}: started container {}", id, created->runtime_id);
      return record(id, RecordStarted{created->runtime_id, created->address,
                                      created->created_volumes},
                    event, stop) != Recorded::kStopped;
    }
    const Error& error = created.error();
    std::string message;
    if (is_transient(error)) {
      if (auto delay = backoff.next()) {
        log->warn("sandbox {}: create failed ({}), attempt {}; retrying in {} ms", id,
                  error.message, backoff.failures(), delay->count());
        if (!sleep_unless_stopped(stop, *delay)) return false;
        if (!still_pending()) {
          log->info("sandbox {}: no longer Pending, create abandoned", id);
          return true;
        }
        continue;
      }
      message = gave_up_message("creating the container", backoff, error);
    } else {
      message = runtime_failure_message(error);
    }
    const std::string code = runtime_failure_code(error, options_.error_code_prefix);
    log->warn("sandbox {}: provisioning failed: {}: {}", id, code, message);
    return record(id, RecordProvisioningFailed{code, message}, event, stop) != Recorded::kStopped;
  }
}

bool Provisioner::renew(const std::string& id, const ExpirationRenewed& renewed,
                        std::stop_token stop) {
  auto log = logger("provisioner");
  Backoff backoff(options_.runtime_retry);
  while (true) {
    auto sb = store_.get_sandbox(id);
    // A later renewal or the end of the sandbox makes this one moot.
    if (sb == nullptr || is_final(sb->state) || sb->expires_at != renewed.expires_at) return true;
    auto r = runtime_.renew(id, renewed.expires_at);
    if (r) return true;
    if (is_transient(r.error())) {
      if (auto delay = backoff.next()) {
        if (!sleep_unless_stopped(stop, *delay)) return false;
        continue;
      }
    }
    // The expirer stays the authority on expiry: a workload that keeps its old expiry is
    // at worst removed by the cluster early, which the reconciler then records.
    log->warn("sandbox {}: telling the runtime its new expiry failed: {}", id,
              r.error().message);
    return true;
  }
}

bool Provisioner::pause_or_resume(const std::string& id, const Event& event, bool pause,
                                  std::stop_token stop) {
  auto log = logger("provisioner");
  const SandboxState expected = pause ? SandboxState::kPausing : SandboxState::kResuming;
  const char* verb = pause ? "pause" : "resume";
  auto in_expected_state = [&] {
    auto sb = store_.get_sandbox(id);
    return sb != nullptr && sb->state == expected;
  };
  if (!in_expected_state()) {
    log->debug("sandbox {}: {} request at position {} is outdated", id, verb, event.position);
    return true;
  }
  Backoff backoff(options_.runtime_retry);
  while (true) {
    auto r = pause ? runtime_.pause(id) : runtime_.resume(id);
    if (r) {
      log->info("sandbox {}: {}d", id, verb);
      const Command done = pause ? Command(RecordPaused{}) : Command(RecordResumed{});
      return record(id, done, event, stop) != Recorded::kStopped;
    }
    std::string message;
    if (is_transient(r.error())) {
      if (auto delay = backoff.next()) {
        log->warn("sandbox {}: {} failed ({}), attempt {}; retrying in {} ms", id, verb,
                  r.error().message, backoff.failures(), delay->count());
        if (!sleep_unless_stopped(stop, *delay)) return false;
        if (!in_expected_state()) return true;
        continue;
      }
      message = gave_up_message(pause ? "pausing" : "resuming", backoff, r.error());
    } else {
      message = std::string(verb) + " failed: " + r.error().message;
    }
    log->warn("sandbox {}: {}", id, message);
    const Command failed =
        pause ? Command(RecordPauseFailed{message}) : Command(RecordResumeFailed{message});
    return record(id, failed, event, stop) != Recorded::kStopped;
  }
}

// The named volumes to remove with a sandbox, from its log: those SandboxStarted records
// as created by sandboxd whose pvc in SandboxRequested says deleteOnSandboxTermination.
// A sandbox that never started (deleted while its create was under way, so the start was
// not recorded) has no such record: then every pvc with the flag is named, and the
// runtime's labels decide (it removes only volumes labelled as made for this sandbox by
// this instance). A failure is logged, not recorded: the sandbox is gone either way.
void Provisioner::remove_volumes(const std::string& id) {
  auto log = logger("provisioner");
  auto events = store_.read_stream(stream_of(id));
  if (!events) {
    log->warn("sandbox {}: reading its log for its volumes failed: {}", id,
              events.error().message);
    return;
  }
  std::vector<VolumeSpec> volumes;
  std::optional<std::vector<std::string>> created;
  for (const Event& e : *events) {
    if (const auto* req = std::get_if<SandboxRequested>(&e.data)) {
      if (auto v = parse_volumes(req->spec.volumes_json)) volumes = std::move(*v);
    } else if (const auto* started = std::get_if<SandboxStarted>(&e.data)) {
      created = started->created_volumes;
    }
  }
  std::vector<std::string> names;
  for (const VolumeSpec& v : volumes) {
    if (v.backend == VolumeBackend::kPvc && v.delete_on_sandbox_termination &&
        (!created || std::find(created->begin(), created->end(), v.claim_name) != created->end())) {
      names.push_back(v.claim_name);
    }
  }
  if (names.empty()) return;
  if (auto r = runtime_.remove_volumes(id, names); !r) {
    log->warn("sandbox {}: removing its volumes failed: {}", id, r.error().message);
  }
}

bool Provisioner::remove(const std::string& id, const Event& event, std::stop_token stop) {
  auto log = logger("provisioner");
  Backoff backoff(options_.runtime_retry);
  while (true) {
    auto r = runtime_.remove(id);
    if (r) {
      log->info("sandbox {}: container removed", id);
      remove_volumes(id);
      return record(id, RecordTerminated{std::nullopt, ""}, event, stop) != Recorded::kStopped;
    }
    std::string message;
    if (is_transient(r.error())) {
      if (auto delay = backoff.next()) {
        log->warn("sandbox {}: remove failed ({}), attempt {}; retrying in {} ms", id,
                  r.error().message, backoff.failures(), delay->count());
        if (!sleep_unless_stopped(stop, *delay)) return false;
        continue;
      }
      message = gave_up_message("removing the container", backoff, r.error());
    } else {
      message = "removing the container failed: " + r.error().message;
    }
    log->error("sandbox {}: {}", id, message);
    const std::string code = runtime_failure_code(r.error(), options_.error_code_prefix);
    return record(id, RecordFailed{code, message, std::nullopt}, event, stop) != Recorded::kStopped;
  }
}

}  // namespace sbx
