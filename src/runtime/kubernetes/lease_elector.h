// LeaseElector: leader election on a coordination.k8s.io/v1 Lease, so that only one
// sandboxd acts on a namespace (the others serve nothing that mutates until it is free).
//
// The lease is acquired when it is absent (created; a 409 means another creator won: read
// again), held by us, released (empty holderIdentity) or expired (renewTime +
// leaseDurationSeconds before now, by the injected Clock). Every write is an update with
// the resourceVersion just read, never a blind write: a 409 means someone else won.
// While leading, the lease is renewed every renew_interval; when no renewal has succeeded
// for `duration` (measured on our own steady clock) or the lease is seen held by another,
// leadership is lost (on_change(false)) and acquisition is retried every retry_interval.
// stop() while leading releases the lease (holderIdentity empty, so another may take it at
// once) unless release_on_stop is false (what a crash looks like to the others).
//
// Threads: start() runs one thread of its own; on_change is called on it, on each change
// only. leading() and holder() are thread-safe. stop() is idempotent and called by the
// destructor. The KubeClient and the Clock must outlive the elector.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include "events/clock.h"
#include "events/result.h"
#include "src/common/log.h"
#include "src/runtime/kubernetes/kube_client.h"

namespace sbx {

struct LeaseOptions {
  std::string namespace_;
  std::string name = "sandboxd";
  std::string identity;  // required: who we are (pod name, host name + instance)
  std::chrono::milliseconds duration{15'000};
  std::chrono::milliseconds renew_interval{5'000};
  std::chrono::milliseconds retry_interval{2'000};
  bool release_on_stop = true;
};

class LeaseElector {
 public:
  LeaseElector(KubeClient& client, LeaseOptions options, std::function<void(bool leading)> on_change,
               const Clock& clock);
  ~LeaseElector();
  LeaseElector(const LeaseElector&) = delete;
  LeaseElector& operator=(const LeaseElector&) = delete;

  void start();  // idempotent
  void stop();   // idempotent; releases the lease when leading (see release_on_stop)

  // True while we hold the lease and the last successful renewal is younger than
  // `duration` — also while a renewal call hangs (on_change(false) then comes only when
  // that call returns, but leading() is false as soon as the deadline passes).
  bool leading() const;
  std::string holder() const;  // the holder last seen ("" = none or unknown)

  // One acquire-or-renew round (what the thread does each period). Returns true when we
  // hold the lease afterwards, false when another does; an error when the API server could
  // not be asked. For tests and for the thread; not concurrently with itself.
  Result<bool> try_acquire_or_renew();

 private:
  void run(std::stop_token stop);
  void set_leading(bool leading);
  void release();
  std::string lease_path() const;

  KubeClient& client_;
  const LeaseOptions options_;
  const std::function<void(bool)> on_change_;
  const Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;

  std::atomic<bool> leading_{false};
  std::atomic<std::int64_t> renewed_at_ns_{0};  // steady clock of the last successful round
  mutable std::mutex mu_;
  std::condition_variable_any cv_;  // stop wakes the wait between rounds
  std::string holder_;              // guarded by mu_

  std::mutex lifecycle_mu_;
  std::jthread thread_;
};

}  // namespace sbx
