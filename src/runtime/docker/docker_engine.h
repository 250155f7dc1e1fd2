// DockerEngine: the client of one Docker Engine API endpoint (unix socket or tcp), over an
// HttpTransport. It negotiates the API version, prefixes every call with it, maps engine
// answers to errors, and offers the few container calls every part of the Docker runtime
// needs (inspect, start, remove).
//
// The API version is negotiated once with GET /_ping (header API-Version): the lower of
// the server's version and kMaxDockerApiVersion, so it works with Debian's 20.10 engine
// (1.41) as well as engines that refuse old clients (Docker 29 wants >= 1.44). Engines
// older than kMinDockerApiVersion are refused (kFailedPrecondition). A failed negotiation
// is retried on the next call.
//
// Errors: a transport failure keeps its code (kUnavailable, kDeadlineExceeded), and an
// unreachable engine's message starts "Docker engine unavailable: ". engine_error() maps
// an engine's error status: 400 -> kInvalidArgument, 404 -> kNotFound, 409 -> kConflict,
// other -> kInternal, each with the engine's message.
//
// Thread-safe: the negotiated version is behind a mutex; the transport is thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"
#include "src/common/log.h"
#include "src/http/http_client.h"

namespace sbx {

inline constexpr std::string_view kMaxDockerApiVersion = "1.52";
inline constexpr std::string_view kMinDockerApiVersion = "1.41";

// $DOCKER_HOST when set and non-empty, else "unix:///var/run/docker.sock".
std::string default_docker_host();

// "1.41" < "1.44": compares dotted numeric versions; false on malformed input.
bool docker_api_version_less(std::string_view a, std::string_view b);

// Percent-encodes everything but RFC 3986's unreserved characters (query values) and the
// characters of `keep` (an image reference as a path segment keeps "/:@").
std::string url_encode(std::string_view s, std::string_view keep = {});

// The engine's {"message": ...} of an answer, or its raw body ("HTTP <status>" if empty).
std::string engine_message(const HttpResponse& r);

// The error for an engine answer with an unexpected status: "<what>: <message> (HTTP n)".
Error engine_error(const HttpResponse& r, std::string_view what);

// Whether an error is the engine being away (kUnavailable, kDeadlineExceeded): a retry
// later may succeed, so work in progress is kept for it.
bool retryable(const Error& e);

class DockerEngine {
 public:
  // `host` is used in messages only; `api_timeout` bounds the wait of remove_container for
  // a removal already in progress.
  DockerEngine(std::string host, std::unique_ptr<HttpTransport> http,
               std::chrono::seconds api_timeout);

  const std::string& host() const { return host_; }

  // The negotiated API version ("1.41"), negotiating if not done yet.
  Result<std::string> api_version();

  // GET /_ping (unversioned), then negotiation.
  Result<void> ping();

  // One call of the versioned API: `path` after "/v<version>". A non-empty body without
  // headers is sent as application/json. Any HTTP status is a success here.
  Result<HttpResponse> call(std::string method, const std::string& path, std::string body = {},
                            std::vector<HttpHeader> headers = {});

  // A streaming GET of the versioned API (see HttpTransport::stream).
  Result<HttpResponse> stream(const std::string& path, const HttpTransport::ChunkHandler& on_chunk,
                              std::stop_token stop);

  // The inspect JSON of a container (by name or id), nullopt when absent.
  Result<std::optional<nlohmann::json>> inspect_container(const std::string& name);

  // Starts a container; already running (304) is success.
  Result<void> start_container(const std::string& id);

  // Kills and removes a container with its anonymous volumes; absent is success. A removal
  // already in progress (409) is waited for, up to api_timeout (then kDeadlineExceeded).
  Result<void> remove_container(const std::string& id);

 private:
  Error annotate(Error e) const;

  const std::string host_;
  const std::unique_ptr<HttpTransport> http_;
  const std::chrono::seconds api_timeout_;
  std::shared_ptr<spdlog::logger> log_;

  std::mutex version_mu_;
  std::string version_;  // guarded by version_mu_; empty until negotiated
};

}  // namespace sbx
