#include "src/config/config.h"

#include <arpa/inet.h>
#include <pwd.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

extern char** environ;

namespace sbx {

std::string_view to_string(RuntimeType v) {
  return v == RuntimeType::kDocker ? "docker" : "kubernetes";
}

std::string_view to_string(WorkloadProvider v) {
  return v == WorkloadProvider::kPod ? "pod" : "batchsandbox";
}

std::string_view to_string(IngressMode v) {
  return v == IngressMode::kDirect ? "direct" : "gateway";
}

std::string_view to_string(GatewayRouteMode v) {
  switch (v) {
    case GatewayRouteMode::kWildcard:
      return "wildcard";
    case GatewayRouteMode::kHeader:
      return "header";
    case GatewayRouteMode::kUri:
      return "uri";
  }
  return "wildcard";
}

int default_thread_count() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

EnvMap process_environment() {
  EnvMap env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

namespace {

constexpr int64_t kNoMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMaxWaitMs = 3'600'000;

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += c;
    }
  }
  out += '"';
  return out;
}

// How a TOML value is shown after "got".
std::string describe(const toml::node& n) {
  if (const auto* s = n.as_string()) return quote(s->get());
  if (const auto* i = n.as_integer()) return std::to_string(i->get());
  if (const auto* f = n.as_floating_point()) {
    std::ostringstream os;
    os << *f;
    return os.str();
  }
  if (const auto* b = n.as_boolean()) return b->get() ? "true" : "false";
  if (n.is_array()) return "an array";
  if (n.is_table()) return "a table";
  return "a date/time";
}

std::string range_text(int64_t lo, int64_t hi) {
  if (hi == kNoMax) return ">= " + std::to_string(lo);
  return "in " + std::to_string(lo) + ".." + std::to_string(hi);
}

int line_of(const toml::source_region& r) { return static_cast<int>(r.begin.line); }

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool is_ip_address(std::string_view s) {
  std::string str(s);
  unsigned char buf[sizeof(struct in6_addr)];
  return ::inet_pton(AF_INET, str.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, str.c_str(), buf) == 1;
}

bool is_docker_host(std::string_view s) {
  if (s.starts_with("unix://")) return s.size() > 7 && s[7] == '/';
  if (s.starts_with("tcp://")) return s.size() > 6;
  return false;
}

constexpr std::string_view kDockerHostRequirement = "expected unix:///PATH or tcp://HOST:PORT";

std::optional<int64_t> parse_int(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// "LOW-HIGH" with 1 <= LOW <= HIGH <= 65535.
std::optional<std::pair<int, int>> parse_port_range(std::string_view s) {
  size_t dash = s.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto lo = parse_int(s.substr(0, dash));
  auto hi = parse_int(s.substr(dash + 1));
  if (!lo || !hi || *lo < 1 || *hi > 65535 || *lo > *hi) return std::nullopt;
  return std::pair<int, int>(static_cast<int>(*lo), static_cast<int>(*hi));
}

// The first error and every warning of one parse.
struct Ctx {
  std::string file;
  std::vector<ConfigWarning>& warnings;
  std::optional<Error> error;

  std::string where(int line) const { return line > 0 ? file + ":" + std::to_string(line) : file; }
  void fail(int line, const std::string& key, std::string_view what) {
    if (error) return;
    error = Error(ErrorCode::kInvalidArgument, where(line) + ": " + key + ": " + std::string(what),
                  key);
  }
  void warn(int line, std::string key, std::string_view what) {
    warnings.push_back(
        ConfigWarning{file, line, std::move(key), where(line) + ": " + std::string(what)});
  }
};

// Reads the keys of one TOML table (which may be absent: then every key keeps its
// default). Every key asked for is remembered as known; finish() warns about the others.
// After the first error every read is a no-op.
class Section {
 public:
  Section(Ctx& ctx, const toml::table* table, std::string prefix)
      : ctx_(ctx), table_(table), prefix_(std::move(prefix)) {}

  std::string key_path(std::string_view k) const {
    return prefix_.empty() ? std::string(k) : prefix_ + "." + std::string(k);
  }

  bool present() const { return table_ != nullptr; }

  // The line of key `k` if set, else of the table itself, else 0.
  int line_of_key(std::string_view k) const {
    if (table_ == nullptr) return 0;
    if (const toml::node* n = table_->get(k)) return line_of(n->source());
    return line_of(table_->source());
  }

  bool has(std::string_view k) const { return table_ != nullptr && table_->get(k) != nullptr; }

  void string(std::string_view k, std::string& out) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    const auto* s = n->as_string();
    if (s == nullptr || s->get().empty()) return bad(*n, k, "expected a non-empty string");
    out = s->get();
  }

  // "" means unset.
  void optional_string(std::string_view k, std::optional<std::string>& out) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    const auto* s = n->as_string();
    if (s == nullptr) return bad(*n, k, "expected a string");
    if (s->get().empty()) {
      out.reset();
    } else {
      out = s->get();
    }
  }

  // A non-empty string accepted by `ok`; otherwise `requirement` is the message.
  void checked_string(std::string_view k, std::string& out, bool (*ok)(std::string_view),
                      std::string_view requirement) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    const auto* s = n->as_string();
    if (s == nullptr || !ok(s->get())) return bad(*n, k, requirement);
    out = s->get();
  }

  template <typename I>
  void integer(std::string_view k, int64_t lo, int64_t hi, I& out) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    const auto* i = n->as_integer();
    if (i == nullptr || i->get() < lo || i->get() > hi) {
      return bad(*n, k, "expected an integer " + range_text(lo, hi));
    }
    out = static_cast<I>(i->get());
  }

  void optional_integer(std::string_view k, int64_t lo, int64_t hi, std::optional<int64_t>& out) {
    int64_t v = 0;
    if (!has(k)) {
      find(k);
      return;
    }
    integer(k, lo, hi, v);
    if (!ctx_.error) out = v;
  }

  void boolean(std::string_view k, bool& out) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    const auto* b = n->as_boolean();
    if (b == nullptr) return bad(*n, k, "expected true or false");
    out = b->get();
  }

  // An array of non-empty strings, each accepted by `ok` (when given).
  void string_list(std::string_view k, std::vector<std::string>& out,
                   bool (*ok)(std::string_view) = nullptr,
                   std::string_view requirement = "expected an array of non-empty strings") {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    const auto* arr = n->as_array();
    if (arr == nullptr) return bad(*n, k, requirement);
    std::vector<std::string> values;
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::node& e = *arr->get(i);
      const auto* s = e.as_string();
      if (s == nullptr || s->get().empty() || (ok != nullptr && !ok(s->get()))) {
        ctx_.fail(
            line_of(e.source()), key_path(k),
            std::string(requirement) + ", got " + describe(e) + " at index " + std::to_string(i));
        return;
      }
      values.push_back(s->get());
    }
    out = std::move(values);
  }

  template <typename E>
  void choice(std::string_view k, std::initializer_list<std::pair<std::string_view, E>> options,
              E& out) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    if (const auto* s = n->as_string()) {
      for (const auto& [name, value] : options) {
        if (s->get() == name) {
          out = value;
          return;
        }
      }
    }
    std::string want = "expected one of ";
    bool first = true;
    for (const auto& [name, value] : options) {
      want += (first ? "" : ", ") + quote(name);
      first = false;
    }
    bad(*n, k, want);
  }

  void log_level(std::string_view k, std::string& out) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    if (const auto* s = n->as_string()) {
      std::string level = upper(s->get());
      for (std::string_view name : {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}) {
        if (level == name) {
          out = level;
          return;
        }
      }
    }
    bad(*n, k, "expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL (any case)");
  }

  Section table(std::string_view k) {
    const toml::node* n = find(k);
    if (n != nullptr && !n->is_table()) {
      bad(*n, k, "expected a table");
      n = nullptr;
    }
    return Section(ctx_, n == nullptr ? nullptr : n->as_table(), key_path(k));
  }

  // Warns about every key of the table that no read asked for.
  void finish() {
    if (table_ == nullptr || ctx_.error) return;
    for (auto&& [key, node] : *table_) {
      const std::string name(key.str());
      if (known_.contains(name)) continue;
      std::string full = key_path(name);
      std::string msg = (node.is_table() ? "unknown table " : "unknown key ") + full + " (ignored";
      std::string_view best;
      size_t best_distance = 3;  // suggest only close matches
      for (const std::string& candidate : known_) {
        size_t d = edit_distance(name, candidate);
        if (d < best_distance) {
          best_distance = d;
          best = candidate;
        }
      }
      if (!best.empty()) msg += "; did you mean " + key_path(best) + "?";
      msg += ")";
      ctx_.warn(line_of(key.source()), full, msg);
    }
  }

 private:
  const toml::node* find(std::string_view k) {
    known_.emplace(k);
    if (table_ == nullptr || ctx_.error) return nullptr;
    return table_->get(k);
  }

  void bad(const toml::node& n, std::string_view k, std::string_view what) {
    ctx_.fail(line_of(n.source()), key_path(k), std::string(what) + ", got " + describe(n));
  }

  Ctx& ctx_;
  const toml::table* table_;
  std::string prefix_;
  std::set<std::string, std::less<>> known_;
};

bool is_absolute_path(std::string_view s) { return s.starts_with('/'); }

std::optional<std::string> home_dir(const EnvMap& env) {
  if (auto it = env.find("HOME"); it != env.end() && !it->second.empty()) return it->second;
  struct passwd pw;
  struct passwd* result = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(::getuid(), &pw, buf.data(), buf.size(), &result) == 0 && result != nullptr &&
      result->pw_dir != nullptr && result->pw_dir[0] != '\0') {
    return std::string(result->pw_dir);
  }
  return std::nullopt;
}

// Expands a leading "~" or "~/"; other paths are returned unchanged.
std::optional<std::string> expand_home(const std::string& path, const EnvMap& env) {
  if (path != "~" && !path.starts_with("~/")) return path;
  auto home = home_dir(env);
  if (!home) return std::nullopt;
  return *home + path.substr(1);
}

std::string env_value(const EnvMap& env, const std::string& name) {
  auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}

// Reads every key of `root` (nullptr: none, the built-in defaults) into `c`, validates the
// combinations, then applies the environment.
void build(Ctx& ctx, const toml::table* root, const EnvMap& env, Config& c) {
  Section top(ctx, root, "");

  Section server = top.table("server");
  server.string("host", c.server.host);
  server.integer("port", 0, 65535, c.server.port);  // 0: any free port (tests)
  server.log_level("log_level", c.server.log_level);
  server.optional_string("api_key", c.server.api_key);
  server.optional_string("eip", c.server.eip);
  server.optional_integer("max_sandbox_timeout_seconds", 60, kNoMax,
                          c.server.max_sandbox_timeout_seconds);
  server.integer("timeout_keep_alive", 1, kNoMax, c.server.timeout_keep_alive);
  int threads = c.server.threads;
  server.integer("threads", 0, 4096, threads);
  c.server.threads = threads == 0 ? default_thread_count() : threads;
  server.integer("max_body_bytes", 1, kNoMax, c.server.max_body_bytes);
  server.integer("transition_wait_ms", 0, kMaxWaitMs, c.server.transition_wait_ms);
  server.integer("create_wait_ms", 0, kMaxWaitMs, c.server.create_wait_ms);
  server.boolean("metrics_auth", c.server.metrics_auth);
  server.boolean("insecure_server", c.server.insecure_server);
  server.integer("max_connections", 1, 1'000'000, c.server.max_connections);
  server.integer("max_parked_requests", 0, 10'000'000, c.server.max_parked_requests);
  server.integer("max_event_streams", 0, 100'000, c.server.max_event_streams);
  server.integer("event_stream_buffer_bytes", 4096, kNoMax, c.server.event_stream_buffer_bytes);
  server.integer("max_queued_mutations", 1, 10'000'000, c.server.max_queued_mutations);
  server.integer("header_timeout_seconds", 1, 3600, c.server.header_timeout_seconds);
  server.integer("body_timeout_seconds", 1, 3600, c.server.body_timeout_seconds);
  const int metrics_auth_line = server.line_of_key("metrics_auth");
  server.finish();

  Section runtime = top.table("runtime");
  runtime.choice("type",
                 {{"docker", RuntimeType::kDocker}, {"kubernetes", RuntimeType::kKubernetes}},
                 c.runtime.type);
  runtime.string("execd_image", c.runtime.execd_image);
  runtime.finish();

  Section docker = top.table("docker");
  docker.checked_string("host", c.docker.host, is_docker_host, kDockerHostRequirement);
  docker.boolean("tls_verify", c.docker.tls_verify);
  docker.string("cert_path", c.docker.cert_path);
  docker.string("network_mode", c.docker.network_mode);
  docker.optional_string("host_ip", c.docker.host_ip);
  docker.integer("api_timeout", 1, kNoMax, c.docker.api_timeout);
  docker.string_list("drop_capabilities", c.docker.drop_capabilities);
  docker.boolean("no_new_privileges", c.docker.no_new_privileges);
  docker.optional_string("apparmor_profile", c.docker.apparmor_profile);
  docker.optional_string("seccomp_profile", c.docker.seccomp_profile);
  docker.integer("pids_limit", -1, kNoMax, c.docker.pids_limit);
  docker.checked_string("port_bind_ip", c.docker.port_bind_ip, is_ip_address,
                        "expected an IPv4 or IPv6 address");
  std::string port_range;
  docker.checked_string(
      "port_range", port_range, [](std::string_view s) { return parse_port_range(s).has_value(); },
      "expected \"LOW-HIGH\" with 1 <= LOW <= HIGH <= 65535");
  if (auto range = parse_port_range(port_range)) {
    c.docker.port_range_low = range->first;
    c.docker.port_range_high = range->second;
  }
  docker.finish();

  Section kubernetes = top.table("kubernetes");
  kubernetes.optional_string("kubeconfig_path", c.kubernetes.kubeconfig_path);
  const int kubeconfig_line = kubernetes.line_of_key("kubeconfig_path");
  kubernetes.string("namespace", c.kubernetes.namespace_);
  kubernetes.choice(
      "workload_provider",
      {{"pod", WorkloadProvider::kPod}, {"batchsandbox", WorkloadProvider::kBatchSandbox}},
      c.kubernetes.workload_provider);
  kubernetes.finish();

  Section ingress = top.table("ingress");
  ingress.choice("mode", {{"direct", IngressMode::kDirect}, {"gateway", IngressMode::kGateway}},
                 c.ingress.mode);
  Section gateway = ingress.table("gateway");
  gateway.string("address", c.ingress.gateway_address);
  Section route = gateway.table("route");
  GatewayRouteMode route_mode = GatewayRouteMode::kWildcard;
  route.choice("mode",
               {{"wildcard", GatewayRouteMode::kWildcard},
                {"header", GatewayRouteMode::kHeader},
                {"uri", GatewayRouteMode::kUri}},
               route_mode);
  if (route.has("mode") && !ctx.error) c.ingress.gateway_route_mode = route_mode;
  route.finish();
  gateway.finish();
  if (!ctx.error && c.ingress.mode == IngressMode::kGateway) {
    const int mode_line = ingress.line_of_key("mode");
    if (c.ingress.gateway_address.empty()) {
      ctx.fail(mode_line, "ingress.gateway.address", "required when ingress.mode = \"gateway\"");
    } else if (!c.ingress.gateway_route_mode) {
      ctx.fail(mode_line, "ingress.gateway.route.mode",
               "required when ingress.mode = \"gateway\" (one of \"wildcard\", \"header\", "
               "\"uri\")");
    }
  } else if (!ctx.error && gateway.present()) {
    ctx.warn(ingress.line_of_key("gateway"), "ingress.gateway",
             "ingress.gateway is ignored because ingress.mode is \"direct\"");
  }
  ingress.finish();

  Section egress = top.table("egress");
  egress.optional_string("image", c.egress.image);
  egress.finish();

  Section storage = top.table("storage");
  storage.string_list("allowed_host_paths", c.storage.allowed_host_paths, is_absolute_path,
                      "expected an array of absolute paths");
  storage.finish();

  Section store = top.table("store");
  store.string("path", c.store.path);
  const int store_path_line = store.line_of_key("path");
  store.boolean("sync", c.store.sync);
  store.integer("retention_days", 0, kNoMax, c.store.retention_days);
  // Accepted but never acted on, it would promise a deletion that does not happen (a user
  // may set it for privacy): refuse it until pruning exists.
  if (c.store.retention_days > 0) {
    ctx.fail(store.line_of_key("retention_days"), "store.retention_days",
             "pruning old events is not implemented in this version, every event is kept; set "
             "0 or remove the key");
  }
  store.finish();

  Section workers = top.table("workers");
  workers.integer("provisioners", 1, 1024, c.workers.provisioners);
  workers.integer("reconcile_interval_seconds", 1, kNoMax, c.workers.reconcile_interval_seconds);
  workers.integer("pending_failure_ttl_seconds", 0, kNoMax, c.workers.pending_failure_ttl_seconds);
  workers.finish();

  top.finish();
  if (ctx.error) return;

  // Environment overrides.
  if (std::string key = env_value(env, "OPENSANDBOX_SERVER_API_KEY"); !key.empty()) {
    c.server.api_key = key;
  }
  if (std::string v = env_value(env, "OPENSANDBOX_INSECURE_SERVER"); !v.empty()) {
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char ch) { return std::tolower(ch); });
    c.server.insecure_server = v == "yes" || v == "true" || v == "1";
  }
  if (std::string host = env_value(env, "DOCKER_HOST"); !host.empty()) {
    if (!is_docker_host(host)) {
      ctx.error = Error(ErrorCode::kInvalidArgument,
                        "env DOCKER_HOST: docker.host: " + std::string(kDockerHostRequirement) +
                            ", got " + quote(host),
                        "docker.host");
      return;
    }
    c.docker.host = host;
  }
  if (!env_value(env, "DOCKER_TLS_VERIFY").empty()) c.docker.tls_verify = true;
  if (std::string p = env_value(env, "DOCKER_CERT_PATH"); !p.empty()) c.docker.cert_path = p;
  if (std::string ttl = env_value(env, "PENDING_FAILURE_TTL"); !ttl.empty()) {
    auto v = parse_int(ttl);
    if (!v || *v < 0) {
      ctx.error = Error(ErrorCode::kInvalidArgument,
                        "env PENDING_FAILURE_TTL: workers.pending_failure_ttl_seconds: expected an "
                        "integer >= 0, got " +
                            quote(ttl),
                        "workers.pending_failure_ttl_seconds");
      return;
    }
    c.workers.pending_failure_ttl_seconds = *v;
  }

  // Home expansion.
  if (auto p = expand_home(c.store.path, env)) {
    c.store.path = *p;
  } else {
    ctx.fail(store_path_line, "store.path", "cannot expand ~: HOME is not set");
    return;
  }
  if (auto p = expand_home(c.docker.cert_path, env)) {
    c.docker.cert_path = *p;
  } else if (c.docker.tls_verify) {
    ctx.fail(0, "docker.cert_path", "cannot expand ~: HOME is not set");
    return;
  }
  if (c.docker.tls_verify && !c.docker.host.starts_with("tcp://")) {
    // As the docker CLI: TLS settings mean nothing for a unix socket.
    ctx.warn(0, "docker.tls_verify",
             "ignored: TLS applies to a tcp:// docker.host, not " + quote(c.docker.host));
    c.docker.tls_verify = false;
  }
  if (c.kubernetes.kubeconfig_path) {
    if (auto p = expand_home(*c.kubernetes.kubeconfig_path, env)) {
      c.kubernetes.kubeconfig_path = *p;
    } else {
      ctx.fail(kubeconfig_line, "kubernetes.kubeconfig_path", "cannot expand ~: HOME is not set");
      return;
    }
  }

  if (c.server.metrics_auth && !c.server.api_key) {
    ctx.warn(metrics_auth_line, "server.metrics_auth",
             "server.metrics_auth has no effect without server.api_key");
  }
}

Result<LoadedConfig> load_file(const std::string& path, std::string_view origin,
                               const EnvMap& env) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    return fail(ErrorCode::kNotFound,
                path + ": config file not found (from " + std::string(origin) + ")");
  }
  if (std::filesystem::is_directory(status)) {
    return fail(ErrorCode::kInvalidArgument,
                path + ": is a directory, not a config file (from " + std::string(origin) + ")");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    return fail(ErrorCode::kUnavailable,
                path + ": cannot read config file: " + std::strerror(errno));
  }
  return parse_config(text.str(), path, env);
}

}  // namespace

Result<LoadedConfig> parse_config(std::string_view toml_text, std::string_view source_name,
                                  const EnvMap& env) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    return fail(ErrorCode::kInvalidArgument,
                std::string(source_name) + ":" + std::to_string(b.line) + ":" +
                    std::to_string(b.column) + ": " + std::string(e.description()));
  }
  LoadedConfig out;
  out.source = std::string(source_name);
  Ctx ctx{std::string(source_name), out.warnings, std::nullopt};
  build(ctx, &root, env, out.config);
  if (ctx.error) return std::unexpected(*ctx.error);
  return out;
}

Result<Config> default_config(const EnvMap& env) {
  std::vector<ConfigWarning> warnings;
  Ctx ctx{std::string(kBuiltinDefaultsSource), warnings, std::nullopt};
  Config c;
  build(ctx, nullptr, env, c);
  if (ctx.error) return std::unexpected(*ctx.error);
  return c;
}

Result<LoadedConfig> load_config(const LoadOptions& options) {
  const EnvMap& env = options.env;
  auto expanded = [&](const std::string& p) { return expand_home(p, env).value_or(p); };
  if (options.explicit_path) {
    return load_file(expanded(*options.explicit_path), "--config", env);
  }
  if (std::string p = env_value(env, "SANDBOX_CONFIG_PATH"); !p.empty()) {
    return load_file(expanded(p), "SANDBOX_CONFIG_PATH", env);
  }
  if (auto home = home_dir(env)) {
    std::string p = *home + "/.sandbox.toml";
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) return load_file(p, "~/.sandbox.toml", env);
  }
  auto c = default_config(env);
  if (!c) return std::unexpected(c.error());
  LoadedConfig out;
  out.config = std::move(*c);
  out.source = std::string(kBuiltinDefaultsSource);
  return out;
}

}  // namespace sbx
