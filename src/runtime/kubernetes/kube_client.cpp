#include "src/runtime/kubernetes/kube_client.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

namespace sbx {
namespace {

using json = nlohmann::json;

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

}  // namespace

Error kube_error(const HttpResponse& response, std::string_view what) {
  std::string reason;
  std::string message;
  const json status = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (status.is_object()) {
    if (auto it = status.find("reason"); it != status.end() && it->is_string()) {
      reason = it->get<std::string>();
    }
    if (auto it = status.find("message"); it != status.end() && it->is_string()) {
      message = it->get<std::string>();
    }
  }
  if (message.empty()) {
    message = response.body.substr(0, 512);
    while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) {
      message.pop_back();
    }
  }
  const int s = response.status;
  std::string text = std::string(kKubeErrorPrefix) + std::string(what) + ": " +
                     std::to_string(s) + (reason.empty() ? "" : " " + reason) +
                     (message.empty() ? "" : ": " + message);
  ErrorCode code = ErrorCode::kInternal;
  if (s == 404) {
    code = ErrorCode::kNotFound;
  } else if (s == 409) {
    code = reason == "AlreadyExists" ? ErrorCode::kAlreadyExists : ErrorCode::kConflict;
  } else if (s == 410) {
    return Error(ErrorCode::kFailedPrecondition, std::string(kKubeGonePrefix) + text);
  } else if (s == 401 || s == 403) {
    code = ErrorCode::kUnauthenticated;
  } else if (s == 400 || s == 422) {
    code = ErrorCode::kInvalidArgument;
  } else if (s == 429 || (s >= 500 && s <= 599)) {
    code = ErrorCode::kUnavailable;
  }
  return Error(code, std::move(text));
}

bool is_gone(const Error& error) {
  return error.code == ErrorCode::kFailedPrecondition &&
         std::string_view(error.message).starts_with(kKubeGonePrefix);
}

Result<std::unique_ptr<KubeClient>> KubeClient::create(KubeClientOptions options) {
  const std::string& server = options.credentials.server;
  if (!server.starts_with("https://") && !server.starts_with("http://")) {
    return fail(ErrorCode::kInvalidArgument,
                "kubernetes server must be https://host:port, got '" + server + "'", "server");
  }
  HttpClientOptions http;
  http.endpoint = server;
  if (server.starts_with("https://")) http.tls = options.credentials.tls();
  http.connect_timeout = options.connect_timeout;
  http.request_timeout = options.request_timeout;
  auto client = HttpClient::create(std::move(http));
  if (!client) return std::unexpected(client.error());
  if (options.burst < 1) options.burst = 1;
  return std::unique_ptr<KubeClient>(new KubeClient(std::move(options), std::move(*client)));
}

KubeClient::KubeClient(KubeClientOptions options, std::unique_ptr<HttpClient> http)
    : options_(std::move(options)),
      http_(std::move(http)),
      tokens_(static_cast<double>(options_.burst)),
      last_refill_(std::chrono::steady_clock::now()),
      token_(options_.credentials.token),
      token_read_at_(std::chrono::steady_clock::now()) {}

void KubeClient::wait_for_turn() {
  if (options_.qps <= 0) return;
  std::chrono::duration<double> wait{0};
  {
    std::lock_guard lock(bucket_mu_);
    const auto now = std::chrono::steady_clock::now();
    const std::chrono::duration<double> elapsed = now - last_refill_;
    last_refill_ = now;
    tokens_ = std::min(static_cast<double>(options_.burst), tokens_ + elapsed.count() * options_.qps);
    // Reserve a token now (the balance may go negative): callers queue up in the order
    // they reserved and each waits until its token has been earned.
    tokens_ -= 1;
    if (tokens_ < 0) wait = std::chrono::duration<double>(-tokens_ / options_.qps);
  }
  if (wait.count() > 0) std::this_thread::sleep_for(wait);
}

std::string KubeClient::bearer_token() {
  std::lock_guard lock(token_mu_);
  const std::string& file = options_.credentials.token_file;
  if (!file.empty()) {
    const auto now = std::chrono::steady_clock::now();
    if (now - token_read_at_ >= options_.token_reread_interval) {
      token_read_at_ = now;
      std::ifstream in(file);
      std::ostringstream s;
      if (in) s << in.rdbuf();
      std::string t = trim(s.str());
      if (!t.empty()) token_ = std::move(t);  // a failed read keeps the last good token
    }
  }
  return token_;
}

HttpRequest KubeClient::build(std::string_view method, std::string_view path_and_query,
                              std::string_view body, std::string_view content_type) {
  HttpRequest r;
  r.method = std::string(method);
  r.target = std::string(path_and_query);
  r.body = std::string(body);
  r.headers.push_back({"Accept", "application/json"});
  if (!body.empty()) r.headers.push_back({"Content-Type", std::string(content_type)});
  if (std::string token = bearer_token(); !token.empty()) {
    r.headers.push_back({"Authorization", "Bearer " + token});
  }
  return r;
}

Result<HttpResponse> KubeClient::request(std::string_view method, std::string_view path_and_query,
                                         std::string_view body, std::string_view content_type) {
  wait_for_turn();
  return http_->send(build(method, path_and_query, body, content_type));
}

Result<json> KubeClient::json_call(std::string_view method, std::string_view path,
                                   std::string body, std::string_view content_type) {
  auto r = request(method, path, body, content_type);
  if (!r) return std::unexpected(r.error());
  const std::string what = std::string(method) + " " + std::string(path);
  if (r->status < 200 || r->status > 299) return std::unexpected(kube_error(*r, what));
  json j = json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return fail(ErrorCode::kInternal,
                std::string(kKubeErrorPrefix) + what + ": the answer is not JSON");
  }
  return j;
}

Result<json> KubeClient::get_json(std::string_view path) {
  return json_call("GET", path, {}, "application/json");
}

Result<json> KubeClient::create_json(std::string_view path, const json& object) {
  return json_call("POST", path, object.dump(), "application/json");
}

Result<json> KubeClient::replace_json(std::string_view path, const json& object) {
  return json_call("PUT", path, object.dump(), "application/json");
}

Result<json> KubeClient::merge_patch(std::string_view path, const json& patch) {
  return json_call("PATCH", path, patch.dump(), "application/merge-patch+json");
}

Result<void> KubeClient::delete_object(std::string_view path, std::optional<int> grace_seconds,
                                       std::string_view propagation) {
  json options = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
  if (grace_seconds) options["gracePeriodSeconds"] = *grace_seconds;
  if (!propagation.empty()) options["propagationPolicy"] = std::string(propagation);
  auto r = json_call("DELETE", path, options.dump(), "application/json");
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<HttpResponse> KubeClient::watch_lines(
    std::string_view path_and_query, const std::function<bool(std::string_view line)>& on_line,
    std::stop_token stop) {
  wait_for_turn();
  std::string buffer;
  std::optional<Error> failure;
  auto on_chunk = [&](std::string_view chunk) -> bool {
    buffer.append(chunk);
    std::size_t start = 0;
    bool go_on = true;
    while (go_on) {
      const std::size_t nl = buffer.find('\n', start);
      if (nl == std::string::npos) break;
      std::string_view line(buffer.data() + start, nl - start);
      start = nl + 1;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
      if (!line.empty()) go_on = on_line(line);
    }
    buffer.erase(0, start);
    if (go_on && buffer.size() > kMaxWatchLine) {
      failure = Error(ErrorCode::kResourceExhausted,
                      std::string(kKubeErrorPrefix) + "watch " + std::string(path_and_query) +
                          ": a line is longer than " + std::to_string(kMaxWatchLine) + " bytes");
      return false;
    }
    return go_on;
  };
  auto r = http_->stream(build("GET", path_and_query, {}, {}), on_chunk, stop);
  if (failure) return std::unexpected(std::move(*failure));
  if (!r) return r;
  if (r->status < 200 || r->status > 299) {
    return std::unexpected(kube_error(*r, "watch " + std::string(path_and_query)));
  }
  // A last line without its newline (the server ended the body mid-way) is dropped: a
  // watch event is always terminated by '\n', so such a fragment is a broken event.
  return r;
}

Result<void> KubeClient::ping() {
  auto r = get_json("/version");
  if (!r) return std::unexpected(r.error());
  return {};
}

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (std::isalnum(u) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

}  // namespace sbx
