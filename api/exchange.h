// Exchange: one HTTP request and its answer, and ParkedExchanges: the requests that wait
// for an outcome (a create waiting for Running, a pause for Paused, ...) without holding a
// thread.
//
// An Exchange owns the Pistache ResponseWriter until the answer is sent, exactly once, by
// whichever thread completes the request: a Pistache worker (reads), a mutation thread of
// the service, or the thread that completes a wait. It counts the request in flight from
// construction to send (or destruction, if a handler never answered: then as a 500),
// records the HTTP metrics under its route label, logs 5xx answers, and adds
// X-Request-ID to every answer. Thread-safe: send*() may race; one wins, the others
// return false.
//
// ParkedExchanges registers a waiting exchange with the service (SandboxService::
// wait_async) and remembers how to answer it at once, which shutdown does for every
// exchange still parked (answer_all_now). Beyond `max_parked` waiting, or after shutdown
// began, a request is not parked but answered at once with the state reached (waiting is a
// courtesy: the client polls as after a timed-out wait). Thread-safe.
//
// Lifetime: an Exchange keeps the server state (ApiServer::Impl) alive, so an answer
// completed after the ApiServer object is gone still has somewhere to go; the
// ParkedExchanges lives in that state.
#pragma once

#include "api/pistache.h"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/api_server.h"
#include "api/error_mapping.h"

namespace sbx::api {

using Headers = std::vector<std::pair<std::string, std::string>>;

const Pistache::Http::Mime::MediaType& json_mime();

class Exchange {
 public:
  Exchange(std::shared_ptr<ApiServer::Impl> server, Pistache::Http::ResponseWriter writer,
           std::string request_id, std::string method);
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // False if an answer was already sent. `mime` null: no Content-Type.
  bool send(int status, std::string_view body, const Pistache::Http::Mime::MediaType* mime,
            const Headers& headers = {});
  bool send_json(int status, std::string_view body, const Headers& headers = {});
  // A 429 also carries Retry-After: 1.
  bool send_error(const ApiError& error);
  bool send_empty(int status);

  // For a response the caller writes itself (the event stream): true if nobody answered
  // yet; the metrics are recorded with `status` and the exchange counts as answered, but
  // the in-flight slot stays taken until the caller calls ApiServer::Impl::end_request().
  bool claim(int status);

  const std::string& request_id() const { return request_id_; }
  // The route label of the metrics ("/v1/sandboxes/{id}"); "unmatched" until set. Must
  // point at storage that outlives the exchange (the Router's).
  void set_route(std::string_view label) { route_ = label; }
  // Runs on the transport thread once the answer is written (or dropped). Set before send.
  // Only for exchanges answered on their transport thread: Pistache 0.0.5's promises race
  // when another thread chains while the transport thread resolves.
  void set_after_write(std::function<void()> fn) { after_write_ = std::move(fn); }
  // Runs on the answering thread (any) right after the answer was handed to the
  // connection's transport, or when the exchange ends unanswered. Set before send.
  void set_on_sent(std::function<void()> fn) { on_sent_ = std::move(fn); }

 private:
  void finish_metrics(int status);

  // Keeps the server's state alive for as long as a callback may still answer through this
  // exchange (a wait the service completes after the ApiServer object is gone).
  std::shared_ptr<ApiServer::Impl> owner_;
  Pistache::Http::ResponseWriter writer_;
  std::string request_id_;
  std::string method_;
  std::string_view route_ = "unmatched";
  std::chrono::steady_clock::time_point start_;
  std::atomic<bool> sent_{false};
  std::function<void()> after_write_;
  std::function<void()> on_sent_;
};

class ParkedExchanges {
 public:
  using Answer = std::function<void(WaitOutcome, std::shared_ptr<const Sandbox>)>;

  ParkedExchanges(SandboxService& service, std::size_t max_parked);
  ParkedExchanges(const ParkedExchanges&) = delete;
  ParkedExchanges& operator=(const ParkedExchanges&) = delete;

  // Waits up to `timeout` for `predicate` to hold for sandbox `sandbox_id`, then calls
  // `answer` (exactly once) with the outcome and the sandbox as it is then.
  void park(const std::shared_ptr<Exchange>& ex, std::string sandbox_id,
            SandboxService::Predicate predicate, std::chrono::milliseconds timeout, Answer answer);

  // Shutdown: parks nothing more and answers every parked exchange now (kCancelled, with
  // the state reached).
  void answer_all_now();

 private:
  SandboxService& service_;
  const std::size_t max_parked_;
  std::mutex mu_;
  bool closed_ = false;  // guarded by mu_
  // How to answer each parked exchange now; removed when answered, so nothing here
  // outlives its request. Guarded by mu_.
  std::unordered_map<Exchange*, std::function<void()>> parked_;
};

}  // namespace sbx::api
