#include "src/http/http_client.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stop_token>
#include <utility>

namespace sbx {
namespace {

constexpr std::size_t kMaxIdleHandles = 16;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Per-transfer state shared with curl's callbacks.
struct Transfer {
  HttpResponse response;
  const HttpTransport::ChunkHandler* on_chunk = nullptr;  // streaming when set
  CURL* curl = nullptr;
  bool stopped_by_handler = false;
};

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    // A new status line (e.g. after "100 Continue"): forget earlier headers.
    t->response.headers.clear();
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    t->response.headers.push_back(
        {std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1)))});
  }
  return size * n;
}

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view chunk(data, size * n);
  if (t->on_chunk != nullptr) {
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
      if (!(*t->on_chunk)(chunk)) {
        t->stopped_by_handler = true;
        return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
      }
      return chunk.size();
    }
  }
  t->response.body.append(chunk);
  return chunk.size();
}

Error curl_error(CURLcode code, const std::string& endpoint, const char* errbuf,
                 std::chrono::milliseconds timeout) {
  std::string detail = (errbuf != nullptr && errbuf[0] != '\0') ? errbuf : curl_easy_strerror(code);
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return Error(ErrorCode::kDeadlineExceeded, "request to " + endpoint + " timed out after " +
                                                     std::to_string(timeout.count()) +
                                                     " ms: " + detail);
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
      return Error(ErrorCode::kUnavailable, "cannot reach " + endpoint + ": " + detail);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CIPHER:
      return Error(ErrorCode::kFailedPrecondition,
                   "TLS with " + endpoint + " failed (check the CA and client certificate): " +
                       detail);
    default:
      return Error(ErrorCode::kInternal, "HTTP request to " + endpoint + " failed: " + detail);
  }
}

// Prepares `curl` for `request`; `headers` receives the header list the caller frees.
void configure(CURL* curl, const std::string& url, const std::string& unix_socket,
               const HttpRequest& request, std::chrono::milliseconds connect_timeout,
               curl_slist** headers, Transfer* transfer, char* errbuf) {
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (!unix_socket.empty()) curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, unix_socket.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, transfer);
  curl_easy_setopt(curl, CURLOPT_PROXY, "");  // never an environment proxy
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");

  const bool has_body =
      !request.body.empty() || request.method == "POST" || request.method == "PUT";
  if (has_body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
  } else {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  }
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (!(request.method == "GET" && !has_body) && !(request.method == "POST" && has_body)) {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  *headers = curl_slist_append(*headers, "Expect:");
  for (const auto& h : request.headers) {
    std::string line = h.name + ": " + h.value;
    *headers = curl_slist_append(*headers, line.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, *headers);
}

}  // namespace

std::optional<std::string_view> HttpResponse::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

Result<std::unique_ptr<HttpClient>> HttpClient::create(HttpClientOptions options) {
  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });

  std::string_view ep = options.endpoint;
  std::string base_url;
  std::string unix_socket;
  if (ep.starts_with("unix://")) {
    unix_socket = std::string(ep.substr(7));
    if (unix_socket.empty() || unix_socket.front() != '/') {
      return fail(ErrorCode::kInvalidArgument,
                  "unix endpoint needs an absolute socket path: " + options.endpoint);
    }
    base_url = "http://localhost";
  } else if (ep.starts_with("tcp://") || ep.starts_with("http://") ||
             ep.starts_with("https://")) {
    std::string_view authority = ep.substr(ep.find("://") + 3);
    while (authority.ends_with('/')) authority.remove_suffix(1);
    if (authority.empty() || authority.find('/') != std::string_view::npos) {
      return fail(ErrorCode::kInvalidArgument, "malformed HTTP endpoint: " + options.endpoint);
    }
    if (ep.starts_with("https://") && !options.tls) options.tls.emplace();
    base_url = (options.tls ? "https://" : "http://") + std::string(authority);
    if (options.tls) {
      for (const std::string* f : {&options.tls->ca_file, &options.tls->cert_file,
                                   &options.tls->key_file}) {
        if (f->empty()) continue;
        if (::access(f->c_str(), R_OK) != 0) {
          return fail(ErrorCode::kInvalidArgument, "TLS file " + *f + " is not readable");
        }
      }
      const bool has_cert = !options.tls->cert_file.empty() || !options.tls->cert_pem.empty();
      const bool has_key = !options.tls->key_file.empty() || !options.tls->key_pem.empty();
      if (has_cert != has_key) {
        return fail(ErrorCode::kInvalidArgument,
                    "a TLS client certificate needs its key and the key its certificate");
      }
    }
  } else {
    return fail(ErrorCode::kInvalidArgument,
                "unsupported endpoint (want unix://, tcp://, http:// or https://): " +
                    options.endpoint);
  }
  return std::unique_ptr<HttpClient>(
      new HttpClient(std::move(options), std::move(base_url), std::move(unix_socket)));
}

HttpClient::HttpClient(HttpClientOptions options, std::string base_url, std::string unix_socket)
    : options_(std::move(options)),
      base_url_(std::move(base_url)),
      unix_socket_(std::move(unix_socket)) {}

void HttpClient::configure_tls(void* handle) const {
  if (!options_.tls) return;
  CURL* curl = static_cast<CURL*>(handle);
  const HttpTlsOptions& tls = *options_.tls;
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, tls.insecure_skip_verify ? 0L : 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, tls.insecure_skip_verify ? 0L : 2L);
  // curl copies blobs (CURL_BLOB_COPY), so the options need not outlive the transfer.
  auto set_blob = [curl](CURLoption option, const std::string& pem) {
    curl_blob blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(curl, option, &blob);
  };
  if (!tls.ca_pem.empty()) {
    set_blob(CURLOPT_CAINFO_BLOB, tls.ca_pem);
  } else if (!tls.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, tls.ca_file.c_str());
  }
  if (!tls.cert_pem.empty()) {
    set_blob(CURLOPT_SSLCERT_BLOB, tls.cert_pem);
    curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
  } else if (!tls.cert_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, tls.cert_file.c_str());
  }
  if (!tls.key_pem.empty()) {
    set_blob(CURLOPT_SSLKEY_BLOB, tls.key_pem);
    curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
  } else if (!tls.key_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLKEY, tls.key_file.c_str());
  }
}

HttpClient::~HttpClient() {
  for (void* c : idle_) curl_easy_cleanup(static_cast<CURL*>(c));
}

void* HttpClient::acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      void* c = idle_.back();
      idle_.pop_back();
      return c;
    }
  }
  return curl_easy_init();
}

void HttpClient::release(void* c) {
  curl_easy_reset(static_cast<CURL*>(c));
  std::lock_guard lock(mu_);
  if (idle_.size() < kMaxIdleHandles) {
    idle_.push_back(c);
  } else {
    curl_easy_cleanup(static_cast<CURL*>(c));
  }
}

Result<HttpResponse> HttpClient::send(const HttpRequest& request) {
  CURL* curl = static_cast<CURL*>(acquire());
  if (curl == nullptr) return fail(ErrorCode::kInternal, "curl_easy_init failed");
  Transfer transfer;
  transfer.curl = curl;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  const auto timeout = request.timeout.count() > 0 ? request.timeout : options_.request_timeout;
  configure(curl, base_url_ + request.target, unix_socket_, request, options_.connect_timeout,
            &headers, &transfer, errbuf);
  configure_tls(curl);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));

  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    Error err = curl_error(rc, options_.endpoint, errbuf, timeout);
    curl_easy_cleanup(curl);  // the connection state is unknown: do not pool it
    return std::unexpected(std::move(err));
  }
  release(curl);
  transfer.response.status = static_cast<int>(status);
  return std::move(transfer.response);
}

Result<HttpResponse> HttpClient::stream(const HttpRequest& request, const ChunkHandler& on_chunk,
                                        std::stop_token stop) {
  CURL* curl = curl_easy_init();  // never pooled: a stream owns its connection
  if (curl == nullptr) return fail(ErrorCode::kInternal, "curl_easy_init failed");
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) {
    curl_easy_cleanup(curl);
    return fail(ErrorCode::kInternal, "curl_multi_init failed");
  }
  Transfer transfer;
  transfer.curl = curl;
  transfer.on_chunk = &on_chunk;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  configure(curl, base_url_ + request.target, unix_socket_, request, options_.connect_timeout,
            &headers, &transfer, errbuf);
  configure_tls(curl);
  curl_multi_add_handle(multi, curl);

  // Wake the poll below as soon as a stop is requested.
  std::stop_callback wake(stop, [multi] { curl_multi_wakeup(multi); });

  CURLcode result = CURLE_OK;
  bool done = false;
  while (!done && !stop.stop_requested()) {
    int running = 0;
    CURLMcode mc = curl_multi_perform(multi, &running);
    if (mc != CURLM_OK) {
      result = CURLE_RECV_ERROR;
      break;
    }
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg == CURLMSG_DONE) {
        result = msg->data.result;
        done = true;
      }
    }
    if (done || running == 0) break;
    curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }

  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_multi_remove_handle(multi, curl);
  curl_easy_cleanup(curl);
  curl_multi_cleanup(multi);
  curl_slist_free_all(headers);

  if (result != CURLE_OK && !(result == CURLE_WRITE_ERROR && transfer.stopped_by_handler)) {
    return std::unexpected(curl_error(result, options_.endpoint, errbuf, {}));
  }
  transfer.response.status = static_cast<int>(status);
  return std::move(transfer.response);
}

}  // namespace sbx
