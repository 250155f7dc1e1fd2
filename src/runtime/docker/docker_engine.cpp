#include "src/runtime/docker/docker_engine.h"

#include <cstdlib>
#include <thread>
#include <utility>

namespace sbx {

using json = nlohmann::json;

std::string default_docker_host() {
  const char* env = std::getenv("DOCKER_HOST");
  if (env != nullptr && *env != '\0') return env;
  return "unix:///var/run/docker.sock";
}

bool docker_api_version_less(std::string_view a, std::string_view b) {
  auto parse = [](std::string_view v) -> std::optional<std::pair<int, int>> {
    auto dot = v.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    try {
      return std::pair{std::stoi(std::string(v.substr(0, dot))),
                       std::stoi(std::string(v.substr(dot + 1)))};
    } catch (const std::exception&) {
      return std::nullopt;
    }
  };
  auto pa = parse(a);
  auto pb = parse(b);
  return pa && pb && *pa < *pb;
}

std::string url_encode(std::string_view s, std::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~' || keep.find(static_cast<char>(c)) != keep.npos) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string engine_message(const HttpResponse& r) {
  try {
    auto j = json::parse(r.body);
    if (j.is_object() && j.contains("message") && j["message"].is_string()) {
      return j["message"].get<std::string>();
    }
  } catch (const json::exception&) {
  }
  std::string body = r.body;
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  return body.empty() ? "HTTP " + std::to_string(r.status) : body;
}

Error engine_error(const HttpResponse& r, std::string_view what) {
  ErrorCode code = ErrorCode::kInternal;
  switch (r.status) {
    case 400:
      code = ErrorCode::kInvalidArgument;
      break;
    case 404:
      code = ErrorCode::kNotFound;
      break;
    case 409:
      code = ErrorCode::kConflict;
      break;
    default:
      break;
  }
  return Error(code, std::string(what) + ": " + engine_message(r) + " (HTTP " +
                         std::to_string(r.status) + ")");
}

bool retryable(const Error& e) {
  return e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kDeadlineExceeded;
}

DockerEngine::DockerEngine(std::string host, std::unique_ptr<HttpTransport> http,
                           std::chrono::seconds api_timeout)
    : host_(std::move(host)),
      http_(std::move(http)),
      api_timeout_(api_timeout),
      log_(logger("docker")) {}

Result<std::string> DockerEngine::api_version() {
  std::lock_guard lock(version_mu_);
  if (!version_.empty()) return version_;
  auto r = http_->send(HttpRequest{.method = "GET", .target = "/_ping"});
  if (!r) return std::unexpected(annotate(r.error()));
  if (r->status != 200) return std::unexpected(engine_error(*r, "docker ping"));
  std::string server(r->header("API-Version").value_or(kMinDockerApiVersion));
  if (docker_api_version_less(server, kMinDockerApiVersion)) {
    return fail(ErrorCode::kFailedPrecondition,
                "Docker engine at " + host_ + " speaks API " + server +
                    ", older than the minimum " + std::string(kMinDockerApiVersion));
  }
  version_ = docker_api_version_less(kMaxDockerApiVersion, server)
                 ? std::string(kMaxDockerApiVersion)
                 : server;
  log_->info("Docker engine at {} speaks API {}; using {}", host_, server, version_);
  return version_;
}

Result<void> DockerEngine::ping() {
  auto r = http_->send(HttpRequest{.method = "GET", .target = "/_ping"});
  if (!r) return std::unexpected(annotate(r.error()));
  if (r->status != 200) return std::unexpected(engine_error(*r, "docker ping"));
  if (auto v = api_version(); !v) return std::unexpected(v.error());
  return {};
}

Error DockerEngine::annotate(Error e) const {
  if (e.code == ErrorCode::kUnavailable) {
    e.message = "Docker engine unavailable: " + e.message;
  }
  return e;
}

Result<HttpResponse> DockerEngine::call(std::string method, const std::string& path,
                                        std::string body, std::vector<HttpHeader> headers) {
  auto v = api_version();
  if (!v) return std::unexpected(v.error());
  HttpRequest req{.method = std::move(method),
                  .target = "/v" + *v + path,
                  .headers = std::move(headers),
                  .body = std::move(body)};
  if (!req.body.empty() && req.headers.empty()) {
    req.headers.push_back({"Content-Type", "application/json"});
  }
  auto r = http_->send(req);
  if (!r) return std::unexpected(annotate(r.error()));
  return r;
}

Result<HttpResponse> DockerEngine::stream(const std::string& path,
                                          const HttpTransport::ChunkHandler& on_chunk,
                                          std::stop_token stop) {
  auto v = api_version();
  if (!v) return std::unexpected(v.error());
  auto r = http_->stream(HttpRequest{.method = "GET", .target = "/v" + *v + path}, on_chunk,
                         std::move(stop));
  if (!r) return std::unexpected(annotate(r.error()));
  return r;
}

Result<std::optional<json>> DockerEngine::inspect_container(const std::string& name) {
  auto r = call("GET", "/containers/" + name + "/json");
  if (!r) return std::unexpected(r.error());
  if (r->status == 404) return std::nullopt;
  if (r->status != 200) return std::unexpected(engine_error(*r, "inspect " + name));
  try {
    return json::parse(r->body);
  } catch (const json::exception& e) {
    return fail(ErrorCode::kInternal, "inspect " + name + ": malformed answer: " + e.what());
  }
}

Result<void> DockerEngine::start_container(const std::string& id) {
  auto r = call("POST", "/containers/" + id + "/start");
  if (!r) return std::unexpected(r.error());
  if (r->status == 204 || r->status == 304) return {};
  return std::unexpected(engine_error(*r, "start container " + id));
}

Result<void> DockerEngine::remove_container(const std::string& id) {
  auto r = call("DELETE", "/containers/" + id + "?force=1&v=1");
  if (!r) return std::unexpected(r.error());
  if (r->status == 204 || r->status == 404) return {};
  if (r->status == 409) {  // removal already in progress: wait until it is gone
    const auto deadline = std::chrono::steady_clock::now() + api_timeout_;
    while (std::chrono::steady_clock::now() < deadline) {
      auto c = inspect_container(id);
      if (!c) return std::unexpected(c.error());
      if (!*c) return {};
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return fail(ErrorCode::kDeadlineExceeded, "container " + id + " is still being removed");
  }
  return std::unexpected(engine_error(*r, "remove container " + id));
}

}  // namespace sbx
