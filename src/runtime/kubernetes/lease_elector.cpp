#include "src/runtime/kubernetes/lease_elector.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "events/time.h"

namespace sbx {
namespace {

using json = nlohmann::json;

std::string string_at(const json& spec, const char* key) {
  auto it = spec.find(key);
  return it != spec.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

LeaseElector::LeaseElector(KubeClient& client, LeaseOptions options,
                           std::function<void(bool leading)> on_change, const Clock& clock)
    : client_(client),
      options_(std::move(options)),
      on_change_(std::move(on_change)),
      clock_(clock),
      log_(logger("kubernetes")) {}

LeaseElector::~LeaseElector() { stop(); }

std::string LeaseElector::lease_path() const {
  return "/apis/coordination.k8s.io/v1/namespaces/" + options_.namespace_ + "/leases/" +
         options_.name;
}

bool LeaseElector::leading() const {
  if (!leading_.load()) return false;
  const auto renewed = std::chrono::steady_clock::time_point(
      std::chrono::nanoseconds(renewed_at_ns_.load()));
  return std::chrono::steady_clock::now() - renewed < options_.duration;
}

std::string LeaseElector::holder() const {
  std::lock_guard lock(mu_);
  return holder_;
}

void LeaseElector::start() {
  std::lock_guard lock(lifecycle_mu_);
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void LeaseElector::stop() {
  std::lock_guard lock(lifecycle_mu_);
  if (!thread_.joinable()) return;
  thread_.request_stop();
  cv_.notify_all();
  thread_.join();
  if (leading_.load()) {
    if (options_.release_on_stop) release();
    set_leading(false);
  }
}

void LeaseElector::set_leading(bool leading) {
  if (leading_.exchange(leading) == leading) return;
  log_->info("lease {}/{}: {} ({})", options_.namespace_, options_.name,
             leading ? "acquired, leading" : "lost, not leading", options_.identity);
  if (on_change_) on_change_(leading);
}

Result<bool> LeaseElector::try_acquire_or_renew() {
  const std::string path = lease_path();
  const Micros now = clock_.now();
  const int duration_s =
      std::max<int>(1, static_cast<int>((options_.duration.count() + 999) / 1000));
  auto current = client_.get_json(path);
  if (!current && current.error().code == ErrorCode::kNotFound) {
    json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", options_.name}, {"namespace", options_.namespace_}}},
                  {"spec",
                   {{"holderIdentity", options_.identity},
                    {"leaseDurationSeconds", duration_s},
                    {"acquireTime", format_rfc3339(now)},
                    {"renewTime", format_rfc3339(now)},
                    {"leaseTransitions", 0}}}};
    auto created = client_.create_json(
        "/apis/coordination.k8s.io/v1/namespaces/" + options_.namespace_ + "/leases", lease);
    if (created) {
      std::lock_guard lock(mu_);
      holder_ = options_.identity;
      return true;
    }
    if (created.error().code == ErrorCode::kAlreadyExists) return false;  // read again next round
    return std::unexpected(created.error());
  }
  if (!current) return std::unexpected(current.error());

  json lease = std::move(*current);
  json& spec = lease["spec"];
  if (!spec.is_object()) spec = json::object();
  const std::string holder = string_at(spec, "holderIdentity");
  {
    std::lock_guard lock(mu_);
    holder_ = holder;
  }
  if (holder != options_.identity && !holder.empty()) {
    const auto renew = parse_rfc3339(string_at(spec, "renewTime"));
    const auto it = spec.find("leaseDurationSeconds");
    const long long held_for = it != spec.end() && it->is_number_integer() ? it->get<long long>() : 0;
    if (renew && *renew + held_for * kMicrosPerSecond > now) return false;  // held, not expired
  }
  if (holder != options_.identity) {
    spec["acquireTime"] = format_rfc3339(now);
    const auto t = spec.find("leaseTransitions");
    spec["leaseTransitions"] = (t != spec.end() && t->is_number_integer() ? t->get<int>() : 0) + 1;
  }
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = duration_s;
  spec["renewTime"] = format_rfc3339(now);
  // The read resourceVersion stays in metadata: a concurrent writer makes this a 409.
  auto updated = client_.replace_json(path, lease);
  if (!updated) {
    if (updated.error().code == ErrorCode::kConflict) return false;
    return std::unexpected(updated.error());
  }
  std::lock_guard lock(mu_);
  holder_ = options_.identity;
  return true;
}

void LeaseElector::release() {
  auto current = client_.get_json(lease_path());
  if (!current) return;
  json lease = std::move(*current);
  json& spec = lease["spec"];
  if (!spec.is_object() || string_at(spec, "holderIdentity") != options_.identity) return;
  spec.erase("holderIdentity");
  spec["leaseDurationSeconds"] = 1;
  spec["renewTime"] = format_rfc3339(clock_.now());
  if (auto r = client_.replace_json(lease_path(), lease); !r) {
    log_->warn("lease {}/{}: release failed: {}", options_.namespace_, options_.name,
               r.error().message);
    return;
  }
  std::lock_guard lock(mu_);
  holder_.clear();
}

void LeaseElector::run(std::stop_token stop) {
  auto last_renewal = std::chrono::steady_clock::now();
  while (!stop.stop_requested()) {
    // The round's start, not its end: the renewTime written is from before the call, and
    // the others count the lease's expiry from it.
    const auto round_start = std::chrono::steady_clock::now();
    auto r = try_acquire_or_renew();
    const auto now = std::chrono::steady_clock::now();
    if (r && *r) {
      last_renewal = round_start;
      renewed_at_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                               round_start.time_since_epoch())
                               .count());
      set_leading(true);
    } else if (r) {
      set_leading(false);  // someone else holds it (or won the race)
    } else {
      log_->warn("lease {}/{}: {}", options_.namespace_, options_.name, r.error().message);
      if (leading_.load() && now - last_renewal >= options_.duration) set_leading(false);
    }
    auto wait = leading_.load() ? options_.renew_interval : options_.retry_interval;
    if (leading_.load()) {
      // Never let a slow round push the next renewal past the deadline.
      auto left = options_.duration - std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - last_renewal);
      if (left < wait) wait = std::max(left, std::chrono::milliseconds(100));
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, stop, wait, [] { return false; });
  }
}

}  // namespace sbx
