#include "src/runtime/fake/fake_runtime.h"

#include <cstdio>
#include <utility>

namespace sbx {

FakeRuntime::FakeRuntime(const Clock& clock, std::string instance_id)
    : clock_(clock), instance_id_(std::move(instance_id)) {}

Result<void> FakeRuntime::enter(std::string_view operation) {
  ++calls_[std::string(operation)];
  if (unreachable_) {
    return fail(ErrorCode::kUnavailable, "fake runtime: engine unreachable (injected)");
  }
  if (fail_remaining_ > 0) {
    --fail_remaining_;
    return fail(fail_code_, "fake runtime: injected failure of " + std::string(operation));
  }
  if (auto it = fail_of_.find(operation); it != fail_of_.end() && it->second.first > 0) {
    --it->second.first;
    return fail(it->second.second, "fake runtime: injected failure of " + std::string(operation));
  }
  return {};
}

void FakeRuntime::fail_next_of(std::string operation, int n, ErrorCode code) {
  std::lock_guard lock(mu_);
  fail_of_[std::move(operation)] = {n, code};
}

void FakeRuntime::emit(RuntimeEventKind kind, const Container& c, std::optional<int> exit_code) {
  if (!c.labelled) return;
  events_.push_back(RuntimeEvent{kind, c.status.sandbox_id, c.status.runtime_id, exit_code,
                                 clock_.now(), c.status.instance_id});
  cv_.notify_all();
}

Result<RuntimeInfo> FakeRuntime::create_and_start(const ContainerSpec& spec) {
  std::lock_guard lock(mu_);
  if (auto r = enter("create_and_start"); !r) return std::unexpected(r.error());
  if (auto r = validate_container_spec(spec); !r) return std::unexpected(r.error());
  if (!spec.pool_ref.empty()) {
    if (!manages_pools_) {
      return fail(ErrorCode::kInvalidArgument,
                  "fake runtime: pool_ref \"" + spec.pool_ref + "\" needs a runtime that keeps pools",
                  "extensions.poolRef");
    }
    auto pool = pools_.find(spec.pool_ref);
    if (pool == pools_.end() || pool->second.foreign) {
      return fail(ErrorCode::kFailedPrecondition,
                  "fake runtime: no pool \"" + spec.pool_ref + "\" of this instance",
                  "extensions.poolRef");
    }
    // Only a new sandbox takes a pod (a repeated create is idempotent).
    RuntimePoolStatus& st = pool->second.status;
    if (!containers_.contains(spec.sandbox_id) && st.reported && st.available > 0) {
      --st.available;
      ++st.allocated;
    }
  }
  ContainerSpec kept = spec;
  std::erase_if(kept.labels, [](const auto& kv) { return is_reserved_label(kv.first); });
  specs_[spec.sandbox_id] = std::move(kept);
  auto it = containers_.find(spec.sandbox_id);
  if (it != containers_.end()) {
    Container& c = it->second;
    if (c.status.state != ContainerState::kRunning && c.status.state != ContainerState::kPaused) {
      c.status.state = ContainerState::kRunning;
      c.status.exit_code.reset();
      c.status.oom_killed = false;
      c.status.finished_at.reset();
      c.status.started_at = clock_.now();
      emit(RuntimeEventKind::kStarted, c, std::nullopt);
    }
    return RuntimeInfo{c.status.runtime_id};
  }
  if (missing_images_.contains(spec.image_uri)) {
    return fail(ErrorCode::kNotFound,
                std::string(kImageNotFoundCode) + ": image \"" + spec.image_uri +
                    "\" is not present and cannot be pulled (fake)",
                "image.uri");
  }
  char id[32];
  std::snprintf(id, sizeof id, "fake%012llx", static_cast<unsigned long long>(next_id_++));
  Container c;
  c.status.runtime_id = id;
  c.status.sandbox_id = spec.sandbox_id;
  c.status.instance_id = instance_id_;
  if (reports_readiness_) {
    // Like a pod: created now, ready when the test says so (simulate_ready).
    c.status.state = ContainerState::kCreated;
    auto [pos, _] = containers_.emplace(spec.sandbox_id, std::move(c));
    return RuntimeInfo{pos->second.status.runtime_id, false, ""};
  }
  c.status.state = ContainerState::kRunning;
  c.status.started_at = clock_.now();
  auto [pos, _] = containers_.emplace(spec.sandbox_id, std::move(c));
  emit(RuntimeEventKind::kStarted, pos->second, std::nullopt);
  RuntimeInfo info{pos->second.status.runtime_id};
  // Like Docker on an engine without the volumes: every pvc with createIfNotExists is made.
  for (const VolumeSpec& v : spec.volumes) {
    if (v.backend == VolumeBackend::kPvc && v.create_if_not_exists) {
      info.created_volumes.push_back(v.claim_name);
    }
  }
  return info;
}

Result<void> FakeRuntime::remove_volumes(const std::string& sandbox_id,
                                         const std::vector<std::string>& names) {
  std::lock_guard lock(mu_);
  if (auto r = enter("remove_volumes"); !r) return r;
  auto& removed = removed_volumes_[sandbox_id];
  removed.insert(removed.end(), names.begin(), names.end());
  return {};
}

std::vector<std::string> FakeRuntime::removed_volumes(const std::string& sandbox_id) const {
  std::lock_guard lock(mu_);
  auto it = removed_volumes_.find(sandbox_id);
  return it == removed_volumes_.end() ? std::vector<std::string>{} : it->second;
}

Result<void> FakeRuntime::pause(const std::string& sandbox_id) {
  std::lock_guard lock(mu_);
  if (auto r = enter("pause"); !r) return r;
  auto it = containers_.find(sandbox_id);
  if (it == containers_.end() || !it->second.labelled) {
    return fail(ErrorCode::kNotFound, "no container for sandbox " + sandbox_id);
  }
  Container& c = it->second;
  if (c.status.state == ContainerState::kPaused) return {};
  if (c.status.state != ContainerState::kRunning) {
    return fail(ErrorCode::kFailedPrecondition, "container of sandbox " + sandbox_id + " is " +
                                                    std::string(to_string(c.status.state)) +
                                                    ", not running");
  }
  c.status.state = ContainerState::kPaused;
  emit(RuntimeEventKind::kPaused, c, std::nullopt);
  return {};
}

Result<void> FakeRuntime::resume(const std::string& sandbox_id) {
  std::lock_guard lock(mu_);
  if (auto r = enter("resume"); !r) return r;
  auto it = containers_.find(sandbox_id);
  if (it == containers_.end() || !it->second.labelled) {
    return fail(ErrorCode::kNotFound, "no container for sandbox " + sandbox_id);
  }
  Container& c = it->second;
  if (c.status.state == ContainerState::kRunning) return {};
  if (c.status.state != ContainerState::kPaused) {
    return fail(ErrorCode::kFailedPrecondition, "container of sandbox " + sandbox_id + " is " +
                                                    std::string(to_string(c.status.state)) +
                                                    ", not paused");
  }
  c.status.state = ContainerState::kRunning;
  emit(RuntimeEventKind::kUnpaused, c, std::nullopt);
  return {};
}

Result<void> FakeRuntime::remove(const std::string& sandbox_id) {
  std::lock_guard lock(mu_);
  if (auto r = enter("remove"); !r) return r;
  auto it = containers_.find(sandbox_id);
  if (it == containers_.end() || !it->second.labelled) return {};
  Container& c = it->second;
  if (c.status.state == ContainerState::kRunning || c.status.state == ContainerState::kPaused) {
    emit(RuntimeEventKind::kDied, c, 137);
  }
  emit(RuntimeEventKind::kDestroyed, c, std::nullopt);
  containers_.erase(it);
  return {};
}

Result<std::optional<ContainerStatus>> FakeRuntime::inspect(const std::string& sandbox_id) {
  std::lock_guard lock(mu_);
  if (auto r = enter("inspect"); !r) return std::unexpected(r.error());
  auto it = containers_.find(sandbox_id);
  if (it == containers_.end() || !it->second.labelled) return std::nullopt;
  return it->second.status;
}

// --- diagnostics (issue 13) ----------------------------------------------------------------

Result<std::optional<ContainerLogs>> FakeRuntime::container_logs(const std::string& sandbox_id,
                                                                 const LogLimits& limits) {
  std::lock_guard lock(mu_);
  if (auto r = enter("container_logs"); !r) return std::unexpected(r.error());
  auto it = containers_.find(sandbox_id);
  if (it == containers_.end() || !it->second.labelled) return std::nullopt;
  std::string_view text;
  if (auto l = logs_.find(sandbox_id); l != logs_.end()) text = l->second;
  // The last `tail` lines (a final line without '\n' counts as one).
  std::size_t start = text.size();
  int lines = 0;
  if (start > 0 && text.back() == '\n') --start;
  while (start > 0) {
    if (text[start - 1] == '\n' && ++lines == limits.tail) break;
    --start;
  }
  if (limits.tail <= 0) start = text.size();
  ContainerLogs out{std::string(text.substr(start)), false};
  if (out.text.size() > limits.max_bytes) {
    out.text.resize(limits.max_bytes);
    out.truncated = true;
  }
  return out;
}

Result<std::optional<std::string>> FakeRuntime::describe(const std::string& sandbox_id) {
  std::lock_guard lock(mu_);
  if (auto r = enter("describe"); !r) return std::unexpected(r.error());
  auto it = containers_.find(sandbox_id);
  if (it == containers_.end() || !it->second.labelled) return std::nullopt;
  const ContainerStatus& st = it->second.status;
  std::string out = std::string("Container ID:   ") + st.runtime_id + "\nStatus:         " +
                    std::string(to_string(st.state)) + "\nExit Code:      " +
                    (st.exit_code ? std::to_string(*st.exit_code) : std::string("N/A"));
  if (auto spec = specs_.find(sandbox_id); spec != specs_.end() && !spec->second.env.empty()) {
    out += "\n\nEnvironment:";
    for (const auto& [key, value] : spec->second.env) out += std::string("\n  ") + key + "=***";
  }
  return std::optional<std::string>(std::move(out));
}

void FakeRuntime::set_logs(const std::string& sandbox_id, std::string text) {
  std::lock_guard lock(mu_);
  logs_[sandbox_id] = std::move(text);
}

Result<std::vector<ContainerStatus>> FakeRuntime::list() {
  std::lock_guard lock(mu_);
  if (auto r = enter("list"); !r) return std::unexpected(r.error());
  std::vector<ContainerStatus> out;
  for (const auto& [_, c] : containers_) {
    if (c.labelled) out.push_back(c.status);
  }
  return out;
}

Result<void> FakeRuntime::ping() {
  std::lock_guard lock(mu_);
  return enter("ping");
}

Result<void> FakeRuntime::watch(std::optional<Micros> since, const EventCallback& on_event,
                                std::stop_token stop) {
  std::unique_lock lock(mu_);
  if (auto r = enter("watch"); !r) return r;
  const std::uint64_t generation = watch_generation_;
  std::size_t next = events_.size();
  if (since) {
    next = 0;
    while (next < events_.size() && events_[next].time < *since) ++next;
  }
  while (true) {
    cv_.wait(lock, stop, [&] {
      return next < events_.size() || watch_generation_ != generation || unreachable_;
    });
    if (stop.stop_requested()) return {};
    while (next < events_.size()) {  // what happened before a break is still delivered
      RuntimeEvent e = events_[next++];
      lock.unlock();
      on_event(e);
      lock.lock();
      if (stop.stop_requested()) return {};
    }
    if (watch_generation_ != generation || unreachable_) {
      return fail(ErrorCode::kUnavailable, "fake runtime: event stream broken (injected)");
    }
  }
}

void FakeRuntime::fail_next(int n, ErrorCode code) {
  std::lock_guard lock(mu_);
  fail_remaining_ = n;
  fail_code_ = code;
}

void FakeRuntime::set_unreachable(bool unreachable) {
  std::lock_guard lock(mu_);
  unreachable_ = unreachable;
  cv_.notify_all();
}

void FakeRuntime::add_missing_image(const std::string& image_uri) {
  std::lock_guard lock(mu_);
  missing_images_.insert(image_uri);
}

bool FakeRuntime::simulate_exit(const std::string& sandbox_id, int exit_code, bool oom_killed) {
  std::lock_guard lock(mu_);
  auto it = containers_.find(sandbox_id);
  if (it == containers_.end()) return false;
  Container& c = it->second;
  if (c.status.state != ContainerState::kRunning && c.status.state != ContainerState::kPaused) {
    return false;
  }
  c.status.state = ContainerState::kExited;
  c.status.exit_code = exit_code;
  c.status.oom_killed = oom_killed;
  c.status.finished_at = clock_.now();
  if (oom_killed) emit(RuntimeEventKind::kOomKilled, c, std::nullopt);
  emit(RuntimeEventKind::kDied, c, exit_code);
  return true;
}

Result<void> FakeRuntime::renew(const std::string& sandbox_id, Micros expires_at) {
  std::lock_guard lock(mu_);
  if (auto r = enter("renew"); !r) return r;
  renewed_[sandbox_id] = expires_at;
  return {};
}

std::optional<Micros> FakeRuntime::renewed_expiry(const std::string& sandbox_id) const {
  std::lock_guard lock(mu_);
  auto it = renewed_.find(sandbox_id);
  if (it == renewed_.end()) return std::nullopt;
  return it->second;
}

void FakeRuntime::set_reports_readiness(bool on) {
  std::lock_guard lock(mu_);
  reports_readiness_ = on;
}

bool FakeRuntime::reports_readiness() const {
  std::lock_guard lock(mu_);
  return reports_readiness_;
}

bool FakeRuntime::simulate_ready(const std::string& sandbox_id, const std::string& address) {
  std::lock_guard lock(mu_);
  auto it = containers_.find(sandbox_id);
  if (it == containers_.end() || it->second.status.state != ContainerState::kCreated) return false;
  ContainerStatus& s = it->second.status;
  s.state = ContainerState::kRunning;
  s.ready = true;
  s.address = address;
  s.reason.clear();
  s.message.clear();
  s.permanent = false;
  s.started_at = clock_.now();
  emit(RuntimeEventKind::kStarted, it->second, std::nullopt);
  return true;
}

bool FakeRuntime::simulate_not_starting(const std::string& sandbox_id, const std::string& reason,
                                        const std::string& message, bool permanent) {
  std::lock_guard lock(mu_);
  auto it = containers_.find(sandbox_id);
  if (it == containers_.end() || it->second.status.state != ContainerState::kCreated) return false;
  ContainerStatus& s = it->second.status;
  s.reason = reason;
  s.message = message;
  s.permanent = permanent;
  if (permanent) emit(RuntimeEventKind::kDied, it->second, std::nullopt);
  return true;
}

bool FakeRuntime::simulate_vanish(const std::string& sandbox_id) {
  std::lock_guard lock(mu_);
  auto it = containers_.find(sandbox_id);
  if (it == containers_.end()) return false;
  emit(RuntimeEventKind::kDestroyed, it->second, std::nullopt);
  containers_.erase(it);
  return true;
}

std::string FakeRuntime::add_foreign_container() {
  std::lock_guard lock(mu_);
  char id[32];
  std::snprintf(id, sizeof id, "fake%012llx", static_cast<unsigned long long>(next_id_++));
  Container c;
  c.labelled = false;
  c.status.runtime_id = id;
  c.status.state = ContainerState::kRunning;
  containers_.emplace(std::string("foreign-") + id, std::move(c));
  return id;
}

std::string FakeRuntime::add_container_of(const std::string& sandbox_id,
                                          const std::string& instance_id) {
  std::lock_guard lock(mu_);
  char id[32];
  std::snprintf(id, sizeof id, "fake%012llx", static_cast<unsigned long long>(next_id_++));
  Container c;
  c.status.runtime_id = id;
  c.status.sandbox_id = sandbox_id;
  c.status.instance_id = instance_id;
  c.status.state = ContainerState::kRunning;
  c.status.started_at = clock_.now();
  auto [pos, _] = containers_.insert_or_assign(sandbox_id, std::move(c));
  emit(RuntimeEventKind::kStarted, pos->second, std::nullopt);
  return id;
}

void FakeRuntime::set_instance_id(std::string instance_id) {
  std::lock_guard lock(mu_);
  instance_id_ = std::move(instance_id);
}

void FakeRuntime::break_watchers() {
  std::lock_guard lock(mu_);
  ++watch_generation_;
  cv_.notify_all();
}

int FakeRuntime::calls(std::string_view operation) const {
  std::lock_guard lock(mu_);
  auto it = calls_.find(operation);
  return it == calls_.end() ? 0 : it->second;
}

std::optional<ContainerSpec> FakeRuntime::last_spec(const std::string& sandbox_id) const {
  std::lock_guard lock(mu_);
  auto it = specs_.find(sandbox_id);
  if (it == specs_.end()) return std::nullopt;
  return it->second;
}
// --- snapshots (issue 13) ---

bool FakeRuntime::supports_snapshots() const {
  std::lock_guard lock(mu_);
  return supports_snapshots_;
}

void FakeRuntime::set_supports_snapshots(bool on) {
  std::lock_guard lock(mu_);
  supports_snapshots_ = on;
}

Result<std::string> FakeRuntime::commit_snapshot(const std::string& sandbox_id,
                                                 const std::string& snapshot_id,
                                                 const std::string& image_ref) {
  std::lock_guard lock(mu_);
  if (auto r = enter("commit_snapshot"); !r) return std::unexpected(r.error());
  if (!supports_snapshots_) {
    return fail(ErrorCode::kUnimplemented, "this runtime cannot take snapshots",
                "runtime.snapshots");
  }
  auto it = containers_.find(sandbox_id);
  if (it == containers_.end() || !it->second.labelled ||
      (it->second.status.state != ContainerState::kRunning &&
       it->second.status.state != ContainerState::kPaused)) {
    return fail(ErrorCode::kNotFound, std::string("no container for sandbox ") + sandbox_id);
  }
  SnapshotImage img{snapshot_id, std::string("sha256:fake") + std::to_string(next_id_++), {image_ref}};
  images_[image_ref] = img;
  return img.image_id;
}

Result<std::optional<std::string>> FakeRuntime::snapshot_image(const std::string& snapshot_id,
                                                               const std::string& image_ref) {
  std::lock_guard lock(mu_);
  if (auto r = enter("snapshot_image"); !r) return std::unexpected(r.error());
  auto it = images_.find(image_ref);
  if (it == images_.end() || it->second.snapshot_id != snapshot_id) return std::nullopt;
  return it->second.image_id;
}

Result<void> FakeRuntime::remove_snapshot_image(const std::string& snapshot_id,
                                                const std::string& image_ref) {
  std::lock_guard lock(mu_);
  if (auto r = enter("remove_snapshot_image"); !r) return r;
  auto it = images_.find(image_ref);
  if (it != images_.end() && it->second.snapshot_id == snapshot_id) images_.erase(it);
  return {};
}

Result<std::vector<SnapshotImage>> FakeRuntime::list_snapshot_images() {
  std::lock_guard lock(mu_);
  if (auto r = enter("list_snapshot_images"); !r) return std::unexpected(r.error());
  std::vector<SnapshotImage> out;
  for (const auto& [ref, img] : images_) out.push_back(img);
  return out;
}

void FakeRuntime::add_snapshot_image(const std::string& snapshot_id, const std::string& image_ref) {
  std::lock_guard lock(mu_);
  images_[image_ref] = SnapshotImage{snapshot_id, std::string("sha256:fake") + std::to_string(next_id_++), {image_ref}};
}

// --- cluster-managed warm pools (issue 14) ---------------------------------------------------

bool FakeRuntime::manages_pools() const {
  std::lock_guard lock(mu_);
  return manages_pools_;
}

void FakeRuntime::set_manages_pools(bool on) {
  std::lock_guard lock(mu_);
  manages_pools_ = on;
}

Result<void> FakeRuntime::apply_pool(const RuntimePoolSpec& spec) {
  std::lock_guard lock(mu_);
  if (auto r = enter("apply_pool"); !r) return std::unexpected(r.error());
  if (!manages_pools_) return Runtime::apply_pool(spec);
  if (spec.name.empty()) return fail(ErrorCode::kInvalidArgument, "pool name is empty", "name");
  const ContainerSpec& t = spec.template_spec;
  if (!t.sandbox_id.empty() || !t.pool_ref.empty() || t.image_uri.empty()) {
    return fail(ErrorCode::kInvalidArgument,
                "fake runtime: a pool template has an image and no sandbox id or pool_ref",
                "template");
  }
  auto it = pools_.find(spec.name);
  if (it != pools_.end() && it->second.foreign) {
    return fail(ErrorCode::kFailedPrecondition,
                "pool " + spec.name + " exists and was not made by this sandboxd", "name");
  }
  if (it == pools_.end() || it->second.spec.generation != spec.generation) {
    // New, or another generation: a new pool (the old one's pods go with it).
    FakePool p;
    p.spec = spec;
    p.status.name = spec.name;
    p.status.generation = spec.generation;
    p.status.capacity = spec.capacity;
    pools_[spec.name] = std::move(p);
    return {};
  }
  it->second.spec.capacity = spec.capacity;  // same generation: the capacity is patched
  it->second.status.capacity = spec.capacity;
  return {};
}

Result<void> FakeRuntime::delete_pool(const std::string& name) {
  std::lock_guard lock(mu_);
  if (auto r = enter("delete_pool"); !r) return std::unexpected(r.error());
  if (!manages_pools_) return Runtime::delete_pool(name);
  auto it = pools_.find(name);
  if (it != pools_.end() && !it->second.foreign) pools_.erase(it);
  return {};
}

Result<std::vector<RuntimePoolStatus>> FakeRuntime::list_pools() {
  std::lock_guard lock(mu_);
  if (auto r = enter("list_pools"); !r) return std::unexpected(r.error());
  if (!manages_pools_) return Runtime::list_pools();
  std::vector<RuntimePoolStatus> out;
  for (const auto& [name, p] : pools_) {
    if (!p.foreign) out.push_back(p.status);
  }
  return out;
}

bool FakeRuntime::set_pool_status(const std::string& name, std::int64_t total,
                                  std::int64_t allocated, std::int64_t available) {
  std::lock_guard lock(mu_);
  auto it = pools_.find(name);
  if (it == pools_.end() || it->second.foreign) return false;
  RuntimePoolStatus& st = it->second.status;
  st.reported = true;
  st.total = total;
  st.allocated = allocated;
  st.available = available;
  st.revision = std::to_string(it->second.spec.generation);
  return true;
}

void FakeRuntime::add_foreign_pool(const std::string& name) {
  std::lock_guard lock(mu_);
  FakePool p;
  p.spec.name = name;
  p.status.name = name;
  p.foreign = true;
  pools_[name] = std::move(p);
}

std::optional<RuntimePoolSpec> FakeRuntime::pool_spec(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = pools_.find(name);
  if (it == pools_.end() || it->second.foreign) return std::nullopt;
  return it->second.spec;
}

}  // namespace sbx
