// The end-to-end harness: runs the REAL `sandboxd` binary (SANDBOXD_BINARY_DIR/sandboxd)
// with a TOML file of the test's own, talks to it over HTTP on 127.0.0.1, and looks at
// the Docker engine directly (Engine API over its unix socket) to check what sandboxd did.
// Header-only because the test CMake function compiles only `*_test.cpp` files; shared by
// tests/e2e (binary e2e_test, label docker) and tests/observability.
//
//   Sandboxd        one sandboxd process at a time over one data directory: start() waits
//                   for its `sandboxd <ver> listening on <host>:<port>` log line and takes
//                   the port from that line, stop() = SIGTERM + clean exit,
//                   kill() = SIGKILL; start() again restarts it on the same data directory.
//                   Its output goes to a log file per start (never to a pipe that could fill
//                   up and block it); log_tail() shows it when a test fails.
//   Http            HttpClient + JSON: every answer is a Reply (status 0 = no answer).
//   DockerApi       containers labelled `sandboxd.io/id`, inspect by name, force remove.
//   ContainerJanitor  remembers the labelled containers that existed before the test and
//                   removes every other one at the end, so a failing test leaves nothing.
//   PrivateEngine   a Docker engine of the test's own (scripts/docker-env.sh start/stop DIR).
//
// Network rule: only 127.0.0.1 and the engine's unix socket; never a container address.
// Every wait is bounded in time. Not thread-safe except Http (HttpClient is thread-safe).
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "events/time.h"
#include "src/http/http_client.h"
#include "tests/support/child_process.h"
#include "tests/support/docker_env.h"

namespace sbx::testing {

using SteadyClock = std::chrono::steady_clock;
using Json = nlohmann::json;

inline constexpr char kSandboxIdLabel[] = "sandboxd.io/id";
// The short-lived container the Docker runtime copies execd out of the execd image with.
inline constexpr char kHelperLabel[] = "sandboxd.io/helper";

// ---- small utilities -------------------------------------------------------------------

inline std::string sandboxd_binary() { return std::string(SANDBOXD_BINARY_DIR) + "/sandboxd"; }
inline std::string source_dir() { return SANDBOXD_SOURCE_DIR; }

// Wall-clock now in µs since the epoch (what expiresAt is measured against).
inline Micros wall_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline double seconds_since(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

inline void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

inline std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

// The last `n` lines of `text` (a final newline does not count as an empty line).
inline std::string last_lines(const std::string& text, std::size_t n) {
  std::size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  for (std::size_t i = 0; i < n && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos + 1);
}

// Polls `pred` until it returns true or `timeout` passes (checked at least once, then
// every `interval`). Returns the last result.
template <class Pred>
bool poll_until(Pred&& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(200)) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

// A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close).
inline int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// Whether a TCP port can be bound on all addresses right now (host networking shares the
// machine's ports with every other process, other test runs' containers included).
inline bool tcp_port_is_free(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// A 1000-port window in 20000-29999 for docker.port_range, so that consecutive runs (and
// a stale docker-proxy of an earlier run) rarely meet.
inline std::pair<int, int> random_port_window() {
  std::random_device rd;
  const int base = 20000 + 1000 * static_cast<int>(rd() % 10);
  return {base, base + 999};
}

// ---- HTTP with JSON ----------------------------------------------------------------------

struct Reply {
  int status = 0;     // 0: no HTTP answer (see error)
  std::string error;  // transport error when status == 0
  std::string body;
  std::vector<HttpHeader> headers;

  Json json() const { return Json::parse(body, nullptr, /*allow_exceptions=*/false); }
  std::string describe() const {
    if (status == 0) return "no answer: " + error;
    return "HTTP " + std::to_string(status) + " " + body.substr(0, 2000);
  }
  // The first header with this name (case-insensitive).
  std::optional<std::string> header(std::string_view name) const {
    for (const auto& h : headers) {
      if (h.name.size() == name.size() &&
          std::equal(name.begin(), name.end(), h.name.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
          }))
        return h.value;
    }
    return std::nullopt;
  }
  // A top-level string field of the JSON body ("" when absent).
  std::string str(const std::string& key) const {
    Json j = json();
    if (j.is_object() && j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
    return "";
  }
};

class Http {
 public:
  // endpoint: "http://127.0.0.1:PORT" or "unix:///path.sock".
  explicit Http(std::string endpoint,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(60'000)) {
    HttpClientOptions o;
    o.endpoint = std::move(endpoint);
    o.connect_timeout = std::chrono::milliseconds(3'000);
    o.request_timeout = timeout;
    auto c = HttpClient::create(std::move(o));
    if (c) client_ = std::move(*c);
  }

  Reply request(const std::string& method, const std::string& target, const std::string& body = "",
                std::vector<HttpHeader> headers = {},
                std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) const {
    Reply r;
    if (!client_) {
      r.error = "bad endpoint";
      return r;
    }
    HttpRequest req;
    req.method = method;
    req.target = target;
    req.body = body;
    req.timeout = timeout;
    if (!body.empty()) headers.push_back({"Content-Type", "application/json"});
    req.headers = std::move(headers);
    auto res = client_->send(req);
    if (!res) {
      r.error = res.error().message;
      return r;
    }
    r.status = res->status;
    r.body = std::move(res->body);
    r.headers = std::move(res->headers);
    return r;
  }
  Reply get(const std::string& target) const { return request("GET", target); }
  Reply post(const std::string& target, const Json& body = Json::object(),
             std::vector<HttpHeader> headers = {}) const {
    return request("POST", target, body.dump(), std::move(headers));
  }
  Reply del(const std::string& target) const { return request("DELETE", target); }

 private:
  std::unique_ptr<HttpClient> client_;
};

// ---- the sandboxd process ----------------------------------------------------------------

struct SandboxdOptions {
  std::string docker_host;
  std::string network_mode = "bridge";
  int port_low = 0;  // docker.port_range; 0 = a random window (random_port_window)
  int port_high = 0;
  int reconcile_interval_seconds = 2;
  std::string api_key;     // server.api_key; empty = auth off
  std::string extra_toml;  // appended verbatim (whole tables)
  // When set, replaces the [runtime] and [docker] tables (a Kubernetes test writes its
  // [runtime] and [kubernetes] tables here).
  std::string runtime_toml;
};

class Sandboxd {
 public:
  // Writes dir/sandboxd.toml; the store lives in dir/data. Does not start anything.
  Sandboxd(std::filesystem::path dir, SandboxdOptions options)
      : dir_(std::move(dir)), options_(std::move(options)) {
    if (options_.port_low == 0)
      std::tie(options_.port_low, options_.port_high) = random_port_window();
    config_path_ = dir_ / "sandboxd.toml";
  }
  ~Sandboxd() { (void)stop(std::chrono::milliseconds(20'000)); }
  Sandboxd(const Sandboxd&) = delete;
  Sandboxd& operator=(const Sandboxd&) = delete;

  std::string render_config() const {
    std::ostringstream t;
    t << "[server]\nhost = \"127.0.0.1\"\nport = " << server_port_ << "\nlog_level = \"INFO\"\n";
    if (!options_.api_key.empty()) t << "api_key = \"" << options_.api_key << "\"\n";
    t << "\n"
      << "[store]\npath = \"" << (dir_ / "data").string() << "\"\n\n"
      ;
    if (!options_.runtime_toml.empty()) {
      t << options_.runtime_toml << "\n\n";
    } else {
      t << "[runtime]\ntype = \"docker\"\nexecd_image = \"" << kTestExecdImage << "\"\n\n"
        << "[docker]\nhost = \"" << options_.docker_host << "\"\n"
        << "network_mode = \"" << options_.network_mode << "\"\n"
        << "port_bind_ip = \"127.0.0.1\"\nhost_ip = \"127.0.0.1\"\n"
        << "port_range = \"" << options_.port_low << "-" << options_.port_high << "\"\n\n";
    }
    t << "[workers]\nreconcile_interval_seconds = " << options_.reconcile_interval_seconds << "\n\n"
      << options_.extra_toml << "\n";
    return t.str();
  }

  // Starts the process and waits for its "listening on" line.
  ::testing::AssertionResult start(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(30'000)) {
    if (running()) return ::testing::AssertionFailure() << "sandboxd is already running";
    ++starts_;
    // server.port = 0 is refused by the config validation (1..65535), so the test picks a
    // free loopback port for every start; the port is still read back from the log line.
    server_port_ = free_loopback_port();
    write_text(config_path_, render_config());
    log_path_ = dir_ / ("sandboxd-" + std::to_string(starts_) + ".log");
    write_text(log_path_, "");
    started_at_ = SteadyClock::now();
    proc_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"/bin/sh", "-c", "exec \"$0\" --config \"$1\" >>\"$2\" 2>&1",
                                 sandboxd_binary(), config_path_.string(), log_path_.string()},
        // The environment overrides the file (DOCKER_HOST -> docker.host, ...): empty means
        // unset, so a developer's own DOCKER_HOST never points sandboxd at their Docker.
        std::map<std::string, std::string>{{"DOCKER_HOST", ""},
                                           {"OPENSANDBOX_SERVER_API_KEY", ""},
                                           {"PENDING_FAILURE_TTL", ""},
                                           {"SANDBOX_CONFIG_PATH", ""}});
    exit_status_.reset();
    static const std::regex kListening(R"(sandboxd \S+ listening on ([0-9.]+):([0-9]+))");
    const auto deadline = SteadyClock::now() + timeout;
    for (;;) {
      std::smatch m;
      const std::string log = read_text(log_path_);
      if (std::regex_search(log, m, kListening)) {
        port_ = std::stoi(m[2].str());
        api_ = std::make_unique<Http>("http://127.0.0.1:" + std::to_string(port_));
        listening_after_ = seconds_since(started_at_);
        return ::testing::AssertionSuccess();
      }
      if (!running()) {
        return ::testing::AssertionFailure() << "sandboxd exited during startup (status "
                                             << exit_status_.value_or(-1) << "); log:\n"
                                             << last_lines(log, 60);
      }
      if (SteadyClock::now() >= deadline) {
        return ::testing::AssertionFailure() << "sandboxd did not log \"listening on\" within "
                                             << timeout.count() << " ms; log:\n"
                                             << last_lines(log, 60);
      }
      sleep_ms(50);
    }
  }

  // SIGTERM, then waits for a clean exit (status 0). A process that does not exit in time
  // is SIGKILLed and reported.
  ::testing::AssertionResult stop(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(20'000)) {
    if (!proc_) return ::testing::AssertionSuccess();
    if (running()) proc_->signal(SIGTERM);
    auto st = exit_status_ ? exit_status_ : proc_->wait(timeout);
    if (!st) {
      proc_->signal(SIGKILL);
      (void)proc_->wait(std::chrono::milliseconds(5'000));
      proc_.reset();
      return ::testing::AssertionFailure()
             << "sandboxd did not stop within " << timeout.count() << " ms of SIGTERM";
    }
    exit_status_ = st;
    proc_.reset();
    if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
      return ::testing::AssertionFailure()
             << "sandboxd exited with wait status " << *st << "; log:\n"
             << log_tail(40);
    }
    return ::testing::AssertionSuccess();
  }

  // SIGKILL at once and reap.
  void kill() {
    if (!proc_) return;
    proc_->signal(SIGKILL);
    exit_status_ = proc_->wait(std::chrono::milliseconds(10'000));
    proc_.reset();
  }

  bool running() {
    if (!proc_) return false;
    if (exit_status_) return false;
    auto st = proc_->wait(std::chrono::milliseconds(0));
    if (st) {
      exit_status_ = st;
      return false;
    }
    return true;
  }

  pid_t pid() const { return proc_ ? proc_->pid() : -1; }
  int port() const { return port_; }
  const Http& api() const { return *api_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const SandboxdOptions& options() const { return options_; }
  const std::filesystem::path& dir() const { return dir_; }
  double listening_after_seconds() const { return listening_after_; }

  std::string log_tail(std::size_t lines = 80) const {
    return log_path_.empty() ? "" : last_lines(read_text(log_path_), lines);
  }
  // Every run's log, for a failing test.
  std::string all_logs(std::size_t lines_per_run = 80) const {
    std::string out;
    for (int i = 1; i <= starts_; ++i) {
      auto p = dir_ / ("sandboxd-" + std::to_string(i) + ".log");
      out += "---- sandboxd run " + std::to_string(i) + " (" + p.string() + ") ----\n";
      out += last_lines(read_text(p), lines_per_run);
    }
    return out;
  }

 private:
  std::filesystem::path dir_;
  SandboxdOptions options_;
  std::filesystem::path config_path_;
  std::filesystem::path log_path_;
  std::unique_ptr<ChildProcess> proc_;
  std::optional<int> exit_status_;
  std::unique_ptr<Http> api_;
  int port_ = 0;
  int server_port_ = 0;
  int starts_ = 0;
  SteadyClock::time_point started_at_{};
  double listening_after_ = 0;
};

// ---- sandboxes over the API --------------------------------------------------------------

// A CreateSandboxRequest for the test image: `sleep 3600`, 500m CPU, 256Mi.
inline Json create_request(std::optional<int> timeout_seconds = 600,
                           Json metadata = Json::object()) {
  Json body = {{"image", {{"uri", kTestBusyboxImage}}},
               {"entrypoint", {"sleep", "3600"}},
               {"resourceLimits", {{"cpu", "500m"}, {"memory", "256Mi"}}}};
  if (timeout_seconds) body["timeout"] = *timeout_seconds;
  if (!metadata.empty()) body["metadata"] = std::move(metadata);
  return body;
}

inline std::string sandbox_path(const std::string& id) { return "/v1/sandboxes/" + id; }

// "NotFound" for a 404, "" when there is no answer, else status.state.
inline std::string state_of(const Reply& r) {
  if (r.status == 404) return "NotFound";
  if (r.status != 200) return "";
  Json j = r.json();
  if (!j.is_object() || !j.contains("status") || !j["status"].is_object()) return "";
  return j["status"].value("state", "");
}

inline std::string state_of(const Http& api, const std::string& id) {
  return state_of(api.get(sandbox_path(id)));
}

// Polls GET /v1/sandboxes/{id} until its state is one of `wanted` ("NotFound" included);
// returns the last state seen.
inline std::string wait_for_state(
    const Http& api, const std::string& id, const std::set<std::string>& wanted,
    std::chrono::milliseconds timeout,
    std::chrono::milliseconds interval = std::chrono::milliseconds(200)) {
  std::string state;
  poll_until(
      [&] {
        state = state_of(api, id);
        return wanted.contains(state);
      },
      timeout, interval);
  return state;
}

// The events of GET /v1/sandboxes/{id}/events: a JSON array, or the array under "events"
// or "items".
inline Json events_of(const Reply& r) {
  Json j = r.json();
  if (j.is_array()) return j;
  if (j.is_object()) {
    for (const char* k : {"events", "items"}) {
      if (j.contains(k) && j[k].is_array()) return j[k];
    }
  }
  return Json::array();
}

// The first host:port of an endpoint string ("127.0.0.1:23456/proxy/44772" -> port 23456,
// path "/proxy/44772").
struct EndpointParts {
  std::string host;
  int port = 0;
  std::string path;
};
inline std::optional<EndpointParts> split_endpoint(const std::string& endpoint) {
  static const std::regex kRe(R"(^([0-9.]+):([0-9]{1,5})(/.*)?$)");
  std::smatch m;
  if (!std::regex_match(endpoint, m, kRe)) return std::nullopt;
  return EndpointParts{m[1].str(), std::stoi(m[2].str()), m[3].matched ? m[3].str() : ""};
}

// GET http://{endpoint}/ping every 200 ms until it answers 200, like the SDKs do; true
// when it did within `timeout`. Only 127.0.0.1 endpoints are ever contacted.
inline bool ping_execd(const std::string& endpoint, std::chrono::milliseconds timeout,
                       std::string* last = nullptr) {
  auto parts = split_endpoint(endpoint);
  if (!parts || parts->host != "127.0.0.1") {
    if (last) *last = "not a 127.0.0.1 endpoint: " + endpoint;
    return false;
  }
  Http http("http://127.0.0.1:" + std::to_string(parts->port), std::chrono::milliseconds(2'000));
  return poll_until(
      [&] {
        Reply r = http.get(parts->path + "/ping");
        if (last) *last = r.describe();
        return r.status == 200;
      },
      timeout);
}

// ---- the Docker engine -------------------------------------------------------------------

struct ContainerInfo {
  std::string id;
  std::string name;        // without the leading '/'
  std::string sandbox_id;  // the sandboxd.io/id label
  std::string state;       // "running", "exited", "created", "paused", ...
};

class DockerApi {
 public:
  explicit DockerApi(std::string host)
      : http_(std::move(host), std::chrono::milliseconds(30'000)) {}

  // Every container (running or not) carrying the label `label` (by default
  // sandboxd.io/id); nullopt when the engine does not answer.
  std::optional<std::vector<ContainerInfo>> labelled_containers(
      const std::string& label = kSandboxIdLabel) const {
    const std::string filters = Json({{"label", {label}}}).dump();
    Reply r = http_.get("/containers/json?all=1&filters=" + url_encode(filters));
    if (r.status != 200) return std::nullopt;
    std::vector<ContainerInfo> out;
    for (const auto& c : r.json()) {
      ContainerInfo info;
      info.id = c.value("Id", "");
      if (c.contains("Names") && c["Names"].is_array() && !c["Names"].empty()) {
        info.name = c["Names"][0].get<std::string>();
        if (!info.name.empty() && info.name[0] == '/') info.name.erase(0, 1);
      }
      if (c.contains("Labels") && c["Labels"].is_object())
        info.sandbox_id = c["Labels"].value(kSandboxIdLabel, "");
      info.state = c.value("State", "");
      out.push_back(std::move(info));
    }
    return out;
  }

  // GET /containers/{name}/json: the HTTP status (404 = no such container, 0 = no answer)
  // and State.Status.
  std::pair<int, std::string> inspect(const std::string& name_or_id) const {
    Reply r = http_.get("/containers/" + url_encode(name_or_id) + "/json");
    std::string state;
    if (r.status == 200) {
      Json j = r.json();
      if (j.contains("State") && j["State"].is_object()) state = j["State"].value("Status", "");
    }
    return {r.status, state};
  }

  // stdout and stderr of a (non-TTY) container, demultiplexed; "" when unavailable.
  std::string logs(const std::string& name_or_id) const {
    Reply r = http_.get("/containers/" + url_encode(name_or_id) + "/logs?stdout=1&stderr=1");
    if (r.status != 200) return "";
    std::string out;
    std::size_t i = 0;
    while (i + 8 <= r.body.size()) {  // frames: 1 byte stream, 3 zero, 4 bytes big-endian size
      const auto* h = reinterpret_cast<const unsigned char*>(r.body.data() + i);
      const std::size_t n = (std::size_t{h[4]} << 24) | (std::size_t{h[5]} << 16) |
                            (std::size_t{h[6]} << 8) | std::size_t{h[7]};
      out.append(r.body, i + 8, n);
      i += 8 + n;
    }
    return out;
  }

  bool remove(const std::string& id) const {
    Reply r = http_.request("DELETE", "/containers/" + id + "?force=1&v=1");
    return r.status == 204 || r.status == 404;
  }

  // Names of the volumes carrying `label` (e.g. "sandboxd.io/helper=execd"); nullopt when
  // the engine does not answer.
  std::optional<std::set<std::string>> labelled_volumes(const std::string& label) const {
    const std::string filters = Json({{"label", {label}}}).dump();
    Reply r = http_.get("/volumes?filters=" + url_encode(filters));
    if (r.status != 200) return std::nullopt;
    std::set<std::string> out;
    Json j = r.json();
    if (j.is_object() && j.contains("Volumes") && j["Volumes"].is_array())
      for (const auto& v : j["Volumes"]) out.insert(v.value("Name", ""));
    return out;
  }

  bool remove_volume(const std::string& name) const {
    Reply r = http_.request("DELETE", "/volumes/" + name);
    return r.status == 204 || r.status == 404;
  }

  bool answers() const { return http_.get("/_ping").status == 200; }
  // True when the engine has the image (by name or id).
  bool has_image(const std::string& name) const {
    return http_.get("/images/" + name + "/json").status == 200;
  }

 private:
  Http http_;
};

// Removes, at cleanup() or destruction, every container labelled sandboxd.io/id,
// sandboxd.io/helper or sandboxd.io/egress-of that was not there when it was constructed (only those: an engine
// shared with other runs is left alone), and then the execd volumes that appeared since
// (each data directory has its own identity, hence its own execd volume, which nothing
// else would ever remove).
class ContainerJanitor {
 public:
  explicit ContainerJanitor(const DockerApi& docker) : docker_(docker) {
    for (const char* label : {kSandboxIdLabel, kHelperLabel, kEgressSidecarLabel})
      if (auto all = docker_.labelled_containers(label))
        for (const auto& c : *all) baseline_.insert(c.id);
    if (auto volumes = docker_.labelled_volumes(kExecdVolumeLabel)) volume_baseline_ = *volumes;
  }
  ~ContainerJanitor() { cleanup(); }
  ContainerJanitor(const ContainerJanitor&) = delete;
  ContainerJanitor& operator=(const ContainerJanitor&) = delete;

  // Containers with `label` created since construction (nullopt: engine does not answer).
  std::optional<std::vector<ContainerInfo>> new_containers(
      const std::string& label = kSandboxIdLabel) const {
    auto all = docker_.labelled_containers(label);
    if (!all) return std::nullopt;
    std::vector<ContainerInfo> out;
    for (auto& c : *all)
      if (!baseline_.contains(c.id)) out.push_back(std::move(c));
    return out;
  }

  // Returns how many containers it removed.
  int cleanup() const {
    int removed = 0;
    for (const char* label : {kSandboxIdLabel, kHelperLabel, kEgressSidecarLabel})
      if (auto fresh = new_containers(label))
        for (const auto& c : *fresh) removed += docker_.remove(c.id) ? 1 : 0;
    if (auto volumes = docker_.labelled_volumes(kExecdVolumeLabel))
      for (const auto& v : *volumes)
        if (!volume_baseline_.contains(v)) (void)docker_.remove_volume(v);
    return removed;
  }

 private:
  static constexpr char kExecdVolumeLabel[] = "sandboxd.io/helper=execd";
  static constexpr char kEgressSidecarLabel[] = "sandboxd.io/egress-of";  // egress sidecars
  const DockerApi& docker_;
  std::set<std::string> baseline_;
  std::set<std::string> volume_baseline_;
};

// Whether the API's view of sandbox `id` has settled and Docker agrees with it: Running
// <-> container running, Paused <-> paused, Failed/Terminated/NotFound <-> no running or
// paused container. Pending and the in-between states are not settled. `why` says both.
inline bool docker_agrees(const Http& api, const DockerApi& docker, const std::string& id,
                          std::string* why) {
  const std::string state = state_of(api, id);
  const auto [status, cstate] = docker.inspect("sandbox-" + id);
  *why = "API " + state + ", Docker " + (status == 404 ? "absent" : cstate);
  if (state == "Running") return cstate == "running";
  if (state == "Paused") return cstate == "paused";
  if (state == "Failed" || state == "Terminated" || state == "NotFound")
    return status == 404 || (status == 200 && cstate != "running" && cstate != "paused");
  return false;
}

// Prints a sandboxd's logs when the test it lives in has failed.
struct LogsOnFailure {
  const Sandboxd& sandboxd;
  ~LogsOnFailure() {
    if (::testing::Test::HasFailure()) std::cerr << sandboxd.all_logs() << std::endl;
  }
};

// A private Docker engine of the test's own, through scripts/docker-env.sh (needs root).
class PrivateEngine {
 public:
  explicit PrivateEngine(std::filesystem::path dir) : dir_(std::move(dir)) {}
  ~PrivateEngine() {
    if (started_) (void)stop();
  }
  PrivateEngine(const PrivateEngine&) = delete;
  PrivateEngine& operator=(const PrivateEngine&) = delete;

  ::testing::AssertionResult start() { return run("start", std::chrono::milliseconds(300'000)); }
  ::testing::AssertionResult stop() { return run("stop", std::chrono::milliseconds(90'000)); }

  std::string host() const { return "unix://" + (dir_ / "docker.sock").string(); }
  const std::filesystem::path& dir() const { return dir_; }

  // SIGKILLs this engine's dockerd (by its pid file, only if that pid is a dockerd) and
  // waits until it is gone. Its containerd survives, as after a real crash; the next
  // start() adopts it, and stop() ends it with that dockerd.
  ::testing::AssertionResult kill() {
    const auto pid = pid_of(dir_ / "dockerd.pid", "dockerd");
    if (!pid) return ::testing::AssertionFailure() << "no live dockerd in " << dir_;
    ::kill(*pid, SIGKILL);
    for (int i = 0; i < 200 && ::kill(*pid, 0) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (::kill(*pid, 0) == 0) return ::testing::AssertionFailure() << "dockerd " << *pid << " lives";
    return ::testing::AssertionSuccess();
  }

  // The containerd this engine runs (its pid file under the exec root), if alive.
  std::optional<pid_t> containerd_pid() const {
    return pid_of(dir_ / "exec" / "containerd" / "containerd.pid", "containerd");
  }

  // After stop(): ends the containerd shims this engine left (a shim outlives a SIGKILLed
  // dockerd's containerd for a task nobody deletes). Only shims whose command line names
  // this engine's directory are touched: they are ours by construction. A shim's children
  // (a container's init, if one still runs) are killed first, then the shim. Bounded
  // wait; returns how many shims it found.
  int end_leftover_shims() const {
    // One walk of /proc: every process's parent, and which are this engine's shims.
    std::vector<pid_t> shims;
    std::vector<std::pair<pid_t, pid_t>> parent_of;  // (pid, ppid)
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
      const std::string name = entry.path().filename().string();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      const auto pid = static_cast<pid_t>(std::stol(name));
      std::ifstream st(entry.path() / "stat");
      std::string line;
      std::getline(st, line);
      // pid (comm) state ppid ...: the comm may hold spaces, so read after its ')'.
      const auto close = line.rfind(')');
      std::istringstream rest(close == std::string::npos ? "" : line.substr(close + 1));
      std::string state;
      long ppid = 0;
      if (rest >> state >> ppid) parent_of.emplace_back(pid, static_cast<pid_t>(ppid));
      std::ifstream in(entry.path() / "cmdline");
      const std::string cmdline((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
      if (cmdline.find("containerd-shim") != std::string::npos &&
          cmdline.find(dir_.string() + "/") != std::string::npos) {
        shims.push_back(pid);
      }
    }
    for (pid_t shim : shims) {
      for (const auto& [pid, ppid] : parent_of)
        if (ppid == shim) ::kill(pid, SIGKILL);
      ::kill(shim, SIGTERM);
    }
    for (pid_t shim : shims) {
      for (int i = 0; i < 50 && ::kill(shim, 0) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (::kill(shim, 0) == 0) ::kill(shim, SIGKILL);
    }
    return static_cast<int>(shims.size());
  }

  // A pid from `file` when that process is alive and its command is `comm`.
  static std::optional<pid_t> pid_of(const std::filesystem::path& file, const std::string& comm) {
    std::ifstream in(file);
    long pid = 0;
    if (!(in >> pid) || pid <= 1) return std::nullopt;
    std::ifstream c("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    if (!std::getline(c, name) || name != comm) return std::nullopt;
    return static_cast<pid_t>(pid);
  }

 private:
  ::testing::AssertionResult run(const std::string& cmd, std::chrono::milliseconds timeout) {
    ChildProcess p({"/bin/bash", source_dir() + "/scripts/docker-env.sh", cmd, dir_.string()});
    auto st = p.wait(timeout);
    if (!st) {
      p.signal(SIGKILL);
      return ::testing::AssertionFailure() << "docker-env.sh " << cmd << " did not finish in "
                                           << timeout.count() << " ms; output:\n"
                                           << p.output();
    }
    p.drain(std::chrono::milliseconds(500));
    if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
      return ::testing::AssertionFailure()
             << "docker-env.sh " << cmd << " failed (wait status " << *st << "); output:\n"
             << p.output();
    }
    started_ = cmd == "start";
    return ::testing::AssertionSuccess();
  }

  std::filesystem::path dir_;
  bool started_ = false;
};

}  // namespace sbx::testing
