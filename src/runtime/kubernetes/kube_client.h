// KubeClient: sandboxd's client of the Kubernetes API server, over the one HttpClient
// (libcurl, HTTPS). It adds what every Kubernetes call needs: the bearer token (re-read
// from `token_file` at most once a minute by default, for in-cluster token rotation), a client-side
// token-bucket rate limit (qps/burst, shared by every call of this client; a call waits
// for its turn, it is never dropped; a watch is limited once, at its start), the mapping
// of non-2xx answers (a metav1.Status body) to Error, and watch streams split into JSON
// lines.
//
// Thread-safety: thread-safe; any number of threads may call any method at once.
//
// Errors (Result): transport failures keep HttpClient's codes (kUnavailable when the API
// server cannot be reached or the connection breaks, kDeadlineExceeded after
// request_timeout, kFailedPrecondition for a TLS verification failure). A non-2xx answer
// becomes kube_error(): see there. create() returns kInvalidArgument for a bad server URL
// or unreadable certificate files.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "events/result.h"
#include "src/http/http_client.h"
#include "src/runtime/kubernetes/kube_credentials.h"

namespace sbx {

// `s` percent-encoded for a query parameter or path segment (RFC 3986 unreserved kept).
std::string url_encode(std::string_view s);

struct KubeClientOptions {
  KubeCredentials credentials;
  double qps = 50;   // <= 0: no client-side rate limit
  int burst = 100;   // bucket size (at least 1)
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds connect_timeout{5'000};
  // How often credentials.token_file is read again (the kubelet rotates the projected
  // service-account token; client-go re-reads it once a minute too).
  std::chrono::milliseconds token_reread_interval{60'000};
};

// Every Kubernetes error message starts with this (410 Gone starts with kKubeGonePrefix).
inline constexpr std::string_view kKubeErrorPrefix = "KUBERNETES::API_ERROR: ";
inline constexpr std::string_view kKubeGonePrefix = "Gone: ";

// The one mapping of a non-2xx answer to Error. Reads the metav1.Status body (reason,
// message, code) when there is one:
//   404 → kNotFound; 409 reason AlreadyExists → kAlreadyExists; other 409 → kConflict;
//   410 → kFailedPrecondition, message "Gone: KUBERNETES::API_ERROR: …";
//   401/403 → kUnauthenticated; 400/422 → kInvalidArgument; 429/5xx → kUnavailable;
//   anything else → kInternal.
// The message is "KUBERNETES::API_ERROR: <what>: <status> <reason>: <Status message>".
// `what` says which call failed ("GET /api/v1/namespaces/x/pods/y").
Error kube_error(const HttpResponse& response, std::string_view what);

// True for the error kube_error() gives a 410 (and the informer for a watch ERROR 410).
bool is_gone(const Error& error);

class KubeClient {
 public:
  // Validates the options and builds the HTTP client; no request is sent.
  static Result<std::unique_ptr<KubeClient>> create(KubeClientOptions options);
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;

  // One request; path_and_query starts with '/'. The response whatever its status (2xx
  // or not): the caller maps it, usually through kube_error().
  Result<HttpResponse> request(std::string_view method, std::string_view path_and_query,
                               std::string_view body = {},
                               std::string_view content_type = "application/json");

  // The JSON conveniences: a non-2xx answer becomes kube_error(); a 2xx body that is not
  // JSON is kInternal.
  Result<nlohmann::json> get_json(std::string_view path);
  Result<nlohmann::json> create_json(std::string_view path, const nlohmann::json& object);   // POST
  Result<nlohmann::json> replace_json(std::string_view path, const nlohmann::json& object);  // PUT
  Result<nlohmann::json> merge_patch(std::string_view path, const nlohmann::json& patch);
  // DELETE with DeleteOptions {gracePeriodSeconds, propagationPolicy}; a 404 is kNotFound
  // (idempotent callers treat it as done).
  Result<void> delete_object(std::string_view path, std::optional<int> grace_seconds = std::nullopt,
                             std::string_view propagation = "Background");

  // Streams a watch (the path carries `watch=1` or `watch=true`): calls `on_line` with each
  // newline-delimited JSON object as it arrives (partial lines are buffered; a line longer
  // than kMaxWatchLine is kResourceExhausted). Returns the response when the server ends
  // the stream, when `on_line` returns false, or promptly after `stop` is requested. A
  // non-2xx answer is kube_error(); a connection that breaks is kUnavailable.
  static constexpr std::size_t kMaxWatchLine = 16u << 20;
  Result<HttpResponse> watch_lines(std::string_view path_and_query,
                                   const std::function<bool(std::string_view line)>& on_line,
                                   std::stop_token stop);

  // GET /version: the server answers and accepts our credentials.
  Result<void> ping();

  const KubeCredentials& credentials() const { return options_.credentials; }
  const std::string& server() const { return options_.credentials.server; }

 private:
  KubeClient(KubeClientOptions options, std::unique_ptr<HttpClient> http);
  void wait_for_turn();            // the token bucket: blocks until a request may go
  std::string bearer_token();      // the current token (re-read from token_file when due)
  HttpRequest build(std::string_view method, std::string_view path_and_query,
                    std::string_view body, std::string_view content_type);
  Result<nlohmann::json> json_call(std::string_view method, std::string_view path,
                                   std::string body, std::string_view content_type);

  KubeClientOptions options_;
  std::unique_ptr<HttpClient> http_;

  std::mutex bucket_mu_;
  double tokens_;                                        // guarded by bucket_mu_
  std::chrono::steady_clock::time_point last_refill_;    // guarded by bucket_mu_

  std::mutex token_mu_;
  std::string token_;                                    // guarded by token_mu_
  std::chrono::steady_clock::time_point token_read_at_;  // guarded by token_mu_
};

}  // namespace sbx
