// HttpClient: the one HTTP/1.1 client of sandboxd (libcurl), used by the runtimes to talk
// to the Docker Engine API (over its unix socket or tcp) and to other HTTP servers.
//
// An HttpClient is bound to one endpoint:
//   "unix:///var/run/docker.sock"  HTTP over a unix socket (CURLOPT_UNIX_SOCKET_PATH)
//   "tcp://127.0.0.1:2375"         plain HTTP over TCP (Docker's DOCKER_HOST form)
//   "http://127.0.0.1:8080"        the same
//   "https://10.0.0.1:6443"        HTTPS, always (the Kubernetes API server form); `tls`
//                                  optional (absent = the system CA bundle, no client cert)
// With `tls` set, a tcp:// endpoint speaks HTTPS: the server's certificate is verified
// against `tls.ca_file` (and its name against the endpoint's host) and the client
// authenticates with `tls.cert_file` + `tls.key_file`, as the docker CLI does with
// DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH/{ca,cert,key}.pem. Each file has an in-memory
// PEM alternative (`ca_pem`, `cert_pem`, `key_pem`: a kubeconfig's `*-data` keys); the PEM
// form wins when both are set. `insecure_skip_verify` turns off the verification of the
// server's certificate and name (kubeconfig `insecure-skip-tls-verify`; tests only).
// Requests name only the target ("/v1.41/containers/json?all=1").
//
// Thread-safety: HttpClient is thread-safe; any number of threads may call send() and
// stream() at once. It keeps a small pool of curl handles so that connections are reused.
// HttpTransport is the interface (a test seam for the runtime clients).
//
// Errors (Result): kUnavailable when the endpoint cannot be reached or the connection
// breaks (the message names the endpoint), kDeadlineExceeded when the request timeout
// runs out, kInvalidArgument for a malformed endpoint, kInternal for anything else curl
// reports. An HTTP error status (4xx, 5xx) is NOT an error: it is a response.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"

namespace sbx {

struct HttpHeader {
  std::string name;
  std::string value;
};

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // path and query, starting with '/'
  std::vector<HttpHeader> headers;
  std::string body;                      // sent when non-empty, and always for POST/PUT
  std::chrono::milliseconds timeout{0};  // whole request; 0 = the client's default
};

struct HttpResponse {
  int status = 0;
  std::vector<HttpHeader> headers;  // as received, in order
  std::string body;

  // The first header with this name (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
};

struct HttpTlsOptions {
  std::string ca_file;    // PEM bundle that signs the server's certificate
  std::string cert_file;  // client certificate (PEM); empty = none
  std::string key_file;   // its private key (PEM)
  std::string ca_pem;     // in-memory alternatives of the three files (PEM text)
  std::string cert_pem;
  std::string key_pem;
  bool insecure_skip_verify = false;  // do not verify the server's certificate or name
};

struct HttpClientOptions {
  std::string endpoint;                                // see the header comment
  std::optional<HttpTlsOptions> tls;                   // tcp:// and https:// endpoints
  std::chrono::milliseconds connect_timeout{5'000};    // connection establishment
  std::chrono::milliseconds request_timeout{180'000};  // default whole-request timeout
};

class HttpTransport {
 public:
  // Receives the body of a streamed response piece by piece. Return false to stop.
  using ChunkHandler = std::function<bool(std::string_view chunk)>;

  virtual ~HttpTransport() = default;

  // Sends the request and returns the full response.
  virtual Result<HttpResponse> send(const HttpRequest& request) = 0;

  // Sends the request and hands a 2xx response body to `on_chunk` as it arrives, with no
  // overall timeout (request.timeout is ignored). Returns the response (status, headers;
  // body only for a non-2xx status) when the server ends the body, when `on_chunk`
  // returns false, or promptly after `stop` is requested. A connection that breaks
  // mid-stream is kUnavailable.
  virtual Result<HttpResponse> stream(const HttpRequest& request, const ChunkHandler& on_chunk,
                                      std::stop_token stop) = 0;
};

class HttpClient final : public HttpTransport {
 public:
  // kInvalidArgument when the endpoint is not one of the forms above.
  static Result<std::unique_ptr<HttpClient>> create(HttpClientOptions options);
  ~HttpClient() override;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Result<HttpResponse> send(const HttpRequest& request) override;
  Result<HttpResponse> stream(const HttpRequest& request, const ChunkHandler& on_chunk,
                              std::stop_token stop) override;

  const std::string& endpoint() const { return options_.endpoint; }

 private:
  HttpClient(HttpClientOptions options, std::string base_url, std::string unix_socket);
  void configure_tls(void* curl) const;

  void* acquire();           // a CURL* from the pool or a new one
  void release(void* curl);  // back to the pool (reset, connection kept)

  HttpClientOptions options_;
  std::string base_url_;     // "http://localhost" for unix sockets, "http://host:port" else
  std::string unix_socket_;  // empty for tcp
  std::mutex mu_;
  std::vector<void*> idle_;  // guarded by mu_
};

}  // namespace sbx
