#include "src/runtime/docker/docker_runtime.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <utility>

#include "src/common/log.h"
#include "src/runtime/docker/execd_archive.h"
#include "events/quantity.h"

namespace sbx {
namespace {

using json = nlohmann::json;

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string base64url(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  while (i + 2 < in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
    i += 3;
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// "repo/name:tag" -> {"repo/name", "tag"}; "name@sha256:..." -> {"name", "sha256:..."};
// no tag -> "latest".
std::pair<std::string, std::string> split_image_reference(const std::string& ref) {
  if (auto at = ref.find('@'); at != std::string::npos) {
    return {ref.substr(0, at), ref.substr(at + 1)};
  }
  auto slash = ref.rfind('/');
  auto colon = ref.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    return {ref.substr(0, colon), ref.substr(colon + 1)};
  }
  return {ref, "latest"};
}

// The registry part of an image reference ("127.0.0.1:5000/x" -> "127.0.0.1:5000"), or "".
std::string registry_of(const std::string& repo) {
  auto slash = repo.find('/');
  if (slash == std::string::npos) return {};
  std::string first = repo.substr(0, slash);
  if (first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
      first == "localhost") {
    return first;
  }
  return {};
}

std::optional<Micros> docker_time(const json& v) {
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty() || s.starts_with("0001-")) return std::nullopt;
  return parse_rfc3339(s);
}

// The engine's {"message": ...} or the raw body.
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

std::optional<int> exit_code_from_status_text(std::string_view status) {
  // "Exited (137) 2 seconds ago"
  auto open = status.find('(');
  auto close = status.find(')');
  if (!status.starts_with("Exited") || open == std::string_view::npos || close < open) {
    return std::nullopt;
  }
  try {
    return std::stoi(std::string(status.substr(open + 1, close - open - 1)));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string format_since(Micros t) {
  char buf[48];
  long long secs = t / kMicrosPerSecond;
  long long micros = t % kMicrosPerSecond;
  if (micros < 0) {
    micros += kMicrosPerSecond;
    --secs;
  }
  std::snprintf(buf, sizeof buf, "%lld.%06lld000", secs, micros);
  return buf;
}

}  // namespace

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

struct DockerRuntime::Impl {
  DockerOptions options;
  std::unique_ptr<HttpTransport> http;
  std::string seccomp_option;  // "seccomp=..." or empty
  std::shared_ptr<spdlog::logger> log = logger("docker");

  std::mutex version_mu;
  std::string version;  // guarded by version_mu; empty until negotiated

  std::mutex execd_mu;  // held while fetching, so concurrent creates fetch once
  std::shared_ptr<const std::string> execd_payload;  // guarded by execd_mu
  std::string execd_volume;                          // guarded by execd_mu; "" = not ready

  // ---- transport ------------------------------------------------------------------

  Result<std::string> negotiate() {
    std::lock_guard lock(version_mu);
    if (!version.empty()) return version;
    auto r = http->send(HttpRequest{.method = "GET", .target = "/_ping"});
    if (!r) return std::unexpected(annotate(r.error()));
    if (r->status != 200) return std::unexpected(engine_error(*r, "docker ping"));
    std::string server(r->header("API-Version").value_or(kMinDockerApiVersion));
    if (docker_api_version_less(server, kMinDockerApiVersion)) {
      return fail(ErrorCode::kFailedPrecondition,
                  "Docker engine at " + options.host + " speaks API " + server +
                      ", older than the minimum " + std::string(kMinDockerApiVersion));
    }
    version = docker_api_version_less(kMaxDockerApiVersion, server)
                  ? std::string(kMaxDockerApiVersion)
                  : server;
    log->info("Docker engine at {} speaks API {}; using {}", options.host, server, version);
    return version;
  }

  Error annotate(Error e) const {
    if (e.code == ErrorCode::kUnavailable) {
      e.message = "Docker engine unavailable: " + e.message;
    }
    return e;
  }

  Result<HttpResponse> call(std::string method, const std::string& path, std::string body = {},
                            std::vector<HttpHeader> headers = {}) {
    auto v = negotiate();
    if (!v) return std::unexpected(v.error());
    HttpRequest req{.method = std::move(method),
                    .target = "/v" + *v + path,
                    .headers = std::move(headers),
                    .body = std::move(body)};
    if (!req.body.empty() && req.headers.empty()) {
      req.headers.push_back({"Content-Type", "application/json"});
    }
    auto r = http->send(req);
    if (!r) return std::unexpected(annotate(r.error()));
    return r;
  }

  // ---- containers -----------------------------------------------------------------

  // The inspect JSON of a container, nullopt when absent.
  Result<std::optional<json>> inspect_raw(const std::string& name) {
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

  static ContainerStatus status_from_inspect(const json& j, const std::string& sandbox_id) {
    ContainerStatus s;
    s.runtime_id = j.value("Id", "");
    s.sandbox_id = sandbox_id;
    if (j.contains("Config") && j["Config"].is_object() && j["Config"].contains("Labels") &&
        j["Config"]["Labels"].is_object()) {
      s.sandbox_id = j["Config"]["Labels"].value(std::string(kSandboxIdLabel), sandbox_id);
      s.instance_id = j["Config"]["Labels"].value(std::string(kInstanceLabel), "");
    }
    const json& st = j.contains("State") ? j["State"] : json::object();
    s.state = parse_container_state(st.value("Status", "")).value_or(ContainerState::kDead);
    if (s.state == ContainerState::kExited || s.state == ContainerState::kDead) {
      s.exit_code = st.value("ExitCode", 0);
    }
    s.oom_killed = st.value("OOMKilled", false);
    if (st.contains("StartedAt")) s.started_at = docker_time(st["StartedAt"]);
    if (st.contains("FinishedAt")) s.finished_at = docker_time(st["FinishedAt"]);
    return s;
  }

  Result<void> start(const std::string& id) {
    auto r = call("POST", "/containers/" + id + "/start");
    if (!r) return std::unexpected(r.error());
    if (r->status == 204 || r->status == 304) return {};
    return std::unexpected(engine_error(*r, "start container " + id));
  }

  Result<void> force_remove(const std::string& id) {
    auto r = call("DELETE", "/containers/" + id + "?force=1&v=1");
    if (!r) return std::unexpected(r.error());
    if (r->status == 204 || r->status == 404) return {};
    if (r->status == 409) {  // removal already in progress: wait until it is gone
      const auto deadline = std::chrono::steady_clock::now() + options.api_timeout;
      while (std::chrono::steady_clock::now() < deadline) {
        auto c = inspect_raw(id);
        if (!c) return std::unexpected(c.error());
        if (!*c) return {};
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      return fail(ErrorCode::kDeadlineExceeded, "container " + id + " is still being removed");
    }
    return std::unexpected(engine_error(*r, "remove container " + id));
  }

  // ---- images ---------------------------------------------------------------------

  Result<void> pull(const std::string& image, const std::optional<RegistryAuth>& auth,
                    const std::optional<Platform>& platform) {
    auto [repo, tag] = split_image_reference(image);
    std::string path = "/images/create?fromImage=" + url_encode(repo) + "&tag=" + url_encode(tag);
    if (platform) path += "&platform=" + url_encode(platform->os + "/" + platform->arch);
    std::vector<HttpHeader> headers;
    if (auth) {
      json a = {{"username", auth->username}, {"password", auth->password}};
      if (auto reg = registry_of(repo); !reg.empty()) a["serveraddress"] = reg;
      headers.push_back({"X-Registry-Auth", base64url(a.dump())});
    }
    headers.push_back({"Content-Type", "text/plain"});
    log->info("pulling image {}", image);
    auto r = call("POST", path, {}, std::move(headers));
    if (!r) return std::unexpected(r.error());
    auto not_found = [&](const std::string& why) {
      return fail(ErrorCode::kNotFound,
                  std::string(kImageNotFoundCode) + ": image \"" + image +
                      "\" is not present on the Docker engine and could not be pulled: " + why,
                  "image.uri");
    };
    if (r->status != 200) return not_found(engine_message(*r));
    // A 200 answer is a stream of JSON progress lines; a failure is a line with "error".
    std::istringstream lines(r->body);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      try {
        auto j = json::parse(line);
        if (!j.is_object()) continue;
        if (j.contains("error") && j["error"].is_string()) {
          return not_found(j["error"].get<std::string>());
        }
        if (j.contains("errorDetail") && j["errorDetail"].is_object()) {
          return not_found(j["errorDetail"].value("message", "pull failed"));
        }
      } catch (const json::exception&) {
      }
    }
    return {};
  }

  // POST /containers/create; pulls on "no such image" and retries once.
  Result<HttpResponse> create_container(const std::string& query, const json& body,
                                        const std::string& image,
                                        const std::optional<RegistryAuth>& auth,
                                        const std::optional<Platform>& platform) {
    const std::string payload = body.dump();
    auto r = call("POST", "/containers/create" + query, payload);
    if (!r) return r;
    if (r->status == 404) {
      if (auto p = pull(image, auth, platform); !p) return std::unexpected(p.error());
      r = call("POST", "/containers/create" + query, payload);
      if (!r) return r;
      if (r->status == 404) {
        return fail(ErrorCode::kNotFound,
                    std::string(kImageNotFoundCode) + ": image \"" + image +
                        "\" is still missing after a pull: " + engine_message(*r),
                    "image.uri");
      }
    }
    return r;
  }

  // ---- execd ----------------------------------------------------------------------

  // Labels that mark what this runtime creates besides sandbox containers (helpers,
  // volumes): sandboxd.io/helper=execd and, when scoped, sandboxd.io/instance=<id>.
  json helper_labels() const {
    json labels = {{std::string(kHelperLabel), "execd"}};
    if (!options.instance_id.empty()) labels[std::string(kInstanceLabel)] = options.instance_id;
    return labels;
  }

  // Whether labels (a JSON object, possibly null) say "made by this runtime's instance":
  // the instance label equals options.instance_id (absent counts as "").
  bool own_instance(const json& labels) const {
    std::string instance;
    if (labels.is_object()) instance = labels.value(std::string(kInstanceLabel), "");
    return instance == options.instance_id;
  }

  // Removes execd helper containers left behind by a process of this instance that died
  // between a helper's create and its removal (kill -9). Only when no helper of this process
  // is in flight (execd_mu free), and only helpers of this instance: other sandboxd on the
  // same engine (other instance ids) have helpers of their own in flight. A helper is a
  // container labelled sandboxd.io/helper, with this instance's label and WITHOUT
  // sandboxd.io/id: a container with that label is a sandbox, whatever else it carries.
  void sweep_stale_helpers() {
    std::unique_lock lock(execd_mu, std::try_to_lock);
    if (!lock.owns_lock()) return;
    json label_filter = json::array({std::string(kHelperLabel)});
    if (!options.instance_id.empty()) {
      label_filter.push_back(std::string(kInstanceLabel) + "=" + options.instance_id);
    }
    const std::string filters = json{{"label", label_filter}}.dump();
    auto r = call("GET", "/containers/json?all=1&filters=" + url_encode(filters));
    if (!r || r->status != 200) return;
    try {
      for (const json& c : json::parse(r->body)) {
        const std::string id = c.value("Id", "");
        if (id.empty()) continue;
        const json labels = c.contains("Labels") ? c["Labels"] : json();
        if (!labels.is_object() || labels.contains(std::string(kSandboxIdLabel))) continue;
        if (!own_instance(labels)) continue;
        if (auto rm = force_remove(id); rm) {
          log->info("removed stale execd helper container {}", id.substr(0, 12));
        }
      }
    } catch (const json::exception&) {
    }
  }

  // Creates (never starts) a container of the execd image, labelled as a helper so that a
  // crash between its create and removal is swept up; its id.
  Result<std::string> create_execd_helper(json host_config) {
    const std::string& image = options.execd_image;
    json body = {{"Image", image},
                 {"Entrypoint", json::array({"/execd"})},
                 {"Labels", helper_labels()},
                 {"NetworkDisabled", true}};
    if (!host_config.empty()) body["HostConfig"] = std::move(host_config);
    auto created = create_container("", body, image, std::nullopt, std::nullopt);
    if (!created) return std::unexpected(created.error());
    if (created->status != 201) {
      return std::unexpected(engine_error(*created, "create execd helper from " + image));
    }
    try {
      return json::parse(created->body).at("Id").get<std::string>();
    } catch (const json::exception& e) {
      return fail(ErrorCode::kInternal, std::string("malformed create answer: ") + e.what());
    }
  }

  Result<std::shared_ptr<const std::string>> execd() {
    std::lock_guard lock(execd_mu);
    return execd_locked();
  }

  Result<std::shared_ptr<const std::string>> execd_locked() {
    if (execd_payload) return execd_payload;
    const std::string& image = options.execd_image;
    auto created = create_execd_helper(json::object());
    if (!created) return std::unexpected(created.error());
    const std::string helper = *created;
    auto fetch = [&](const char* path) -> Result<std::string> {
      auto r = call("GET", "/containers/" + helper + "/archive?path=" + url_encode(path));
      if (!r) return std::unexpected(r.error());
      if (r->status != 200) {
        return std::unexpected(engine_error(*r, std::string("copy ") + path + " out of " + image));
      }
      return std::move(r->body);
    };
    auto execd_tar = fetch("/execd");
    auto bootstrap_tar = execd_tar ? fetch("/bootstrap.sh") : Result<std::string>("");
    if (auto rm = force_remove(helper); !rm) {
      log->warn("could not remove execd helper container {}: {}", helper, rm.error().message);
    }
    if (!execd_tar) return std::unexpected(execd_tar.error());
    if (!bootstrap_tar) return std::unexpected(bootstrap_tar.error());
    auto payload = make_execd_payload(*execd_tar, *bootstrap_tar);
    if (!payload) {
      Error e = payload.error();
      e.message = "execd image " + image + ": " + e.message;
      return std::unexpected(std::move(e));
    }
    execd_payload = std::make_shared<const std::string>(std::move(*payload));
    log->info("execd from {} cached ({} bytes)", image, execd_payload->size());
    return execd_payload;
  }

  // The execd volume: one named volume per execd payload ("sandboxd-execd-" + a hash of
  // its bytes), holding opt/opensandbox/{execd,bootstrap.sh}, mounted read-only at
  // /opt/opensandbox in every sandbox. It is filled once per engine through a
  // created-never-started helper container that mounts it (the archive API writes into a
  // stopped container's volumes), so a create costs a mount instead of a copy into the
  // container's root file system (the copy mounts and unmounts that file system: ~80 ms
  // per create, more for a real execd of tens of MB). Read-only, so one sandbox cannot
  // change the execd another one runs. The volume outlives sandboxd (a cache: the next
  // start finds it filled); a new execd image gets a new volume.
  //
  // Filled means: bootstrap.sh, the payload's last entry, is present (the engine writes
  // the entries in order). The name is checked on every create (GET /volumes/{name}, ~1 ms)
  // so a volume pruned while sandboxd runs is filled again instead of being recreated
  // empty by the engine.
  Result<std::string> execd_volume_name() {
    std::lock_guard lock(execd_mu);
    if (!execd_volume.empty()) {
      auto r = call("GET", "/volumes/" + execd_volume);
      if (!r) return std::unexpected(r.error());
      if (r->status == 200) return execd_volume;
      log->warn("execd volume {} is gone (answer {}); filling it again", execd_volume, r->status);
      execd_volume.clear();
    }
    auto payload = execd_locked();
    if (!payload) return std::unexpected(payload.error());
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a 64 of the payload
    for (unsigned char c : **payload) h = (h ^ c) * 1099511628211ULL;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    // One volume per instance: its labels say whose it is, and only its instance prunes it.
    std::string name = std::string("sandboxd-execd-") + hex;
    if (!options.instance_id.empty()) name += "-" + options.instance_id;

    json volume_labels = helper_labels();
    volume_labels["sandboxd.io/execd-image"] = options.execd_image;
    auto vol = call("POST", "/volumes/create",
                    json{{"Name", name}, {"Labels", volume_labels}}.dump());
    if (!vol) return std::unexpected(vol.error());
    if (vol->status != 201 && vol->status != 200) {
      return std::unexpected(engine_error(*vol, "create volume " + name));
    }
    const std::string& image = options.execd_image;
    auto created = create_execd_helper(
        {{"Mounts",
          json::array(
              {{{"Type", "volume"}, {"Source", name}, {"Target", std::string(kExecdDir)}}})}});
    if (!created) return std::unexpected(created.error());
    const std::string helper = *created;
    Result<void> filled;
    auto probe = call("GET", "/containers/" + helper +
                                 "/archive?path=" + url_encode(std::string(kBootstrapPath)));
    if (!probe) {
      filled = std::unexpected(probe.error());
    } else if (probe->status != 200) {
      auto put = call("PUT", "/containers/" + helper + "/archive?path=%2F", std::string(**payload),
                      {{"Content-Type", "application/x-tar"}});
      if (!put) {
        filled = std::unexpected(put.error());
      } else if (put->status != 200) {
        filled = std::unexpected(engine_error(*put, "fill execd volume " + name));
      } else {
        log->info("execd volume {} filled from {}", name, image);
      }
    }
    if (auto rm = force_remove(helper); !rm) {  // v=1 removes anonymous volumes only
      log->warn("could not remove execd helper container {}: {}", helper, rm.error().message);
    }
    if (!filled) return std::unexpected(filled.error());
    execd_volume = name;
    remove_stale_execd_volumes(name);
    return execd_volume;
  }

  // Execd volumes of this instance's earlier execd payloads (another execd_image, or the
  // image updated) that no container mounts any more. One still mounted (a sandbox created
  // before the change) answers 409 and is left for the next fill. Volumes of other
  // instances are theirs to prune. Best effort: failures are logged.
  void remove_stale_execd_volumes(const std::string& current) {
    json label_filter = json::array({std::string(kHelperLabel) + "=execd"});
    if (!options.instance_id.empty()) {
      label_filter.push_back(std::string(kInstanceLabel) + "=" + options.instance_id);
    }
    const std::string filters = json{{"label", label_filter}}.dump();
    auto listed = call("GET", "/volumes?filters=" + url_encode(filters));
    if (!listed || listed->status != 200) {
      log->warn("could not list old execd volumes: {}",
                listed ? engine_error(*listed, "list volumes").message : listed.error().message);
      return;
    }
    json body = json::parse(listed->body, nullptr, false);
    if (!body.is_object() || !body.contains("Volumes") || !body["Volumes"].is_array()) return;
    for (const auto& v : body["Volumes"]) {
      const std::string name = v.value("Name", "");
      if (name.empty() || name == current || !name.starts_with("sandboxd-execd-")) continue;
      if (!own_instance(v.contains("Labels") ? v["Labels"] : json())) continue;
      auto del = call("DELETE", "/volumes/" + url_encode(name));
      if (!del) {
        log->warn("could not remove old execd volume {}: {}", name, del.error().message);
      } else if (del->status == 204 || del->status == 404) {
        log->info("removed old execd volume {}", name);
      } else if (del->status != 409) {
        log->warn("could not remove old execd volume {}: {}", name,
                  engine_error(*del, "remove volume").message);
      }
    }
  }

  // Whether an inspected container has the execd volume mounted at kExecdDir.
  static bool has_execd_mount(const json& inspected) {
    if (!inspected.contains("Mounts") || !inspected["Mounts"].is_array()) return false;
    for (const json& m : inspected["Mounts"]) {
      if (m.is_object() && m.value("Destination", "") == kExecdDir) return true;
    }
    return false;
  }

  Result<void> inject_execd(const std::string& id) {
    auto payload = execd();
    if (!payload) return std::unexpected(payload.error());
    auto r = call("PUT", "/containers/" + id + "/archive?path=%2F", std::string(**payload),
                  {{"Content-Type", "application/x-tar"}});
    if (!r) return std::unexpected(r.error());
    if (r->status != 200) return std::unexpected(engine_error(*r, "copy execd into " + id));
    return {};
  }

  // ---- create ---------------------------------------------------------------------

  // `execd_volume_name`: mount that volume at kExecdDir ("" = execd is copied in instead).
  Result<json> create_body(const ContainerSpec& spec, const std::string& execd_volume_name) const {
    json env = json::array();
    for (const auto& [k, v] : spec.env) {
      if (!options.execd_image.empty() && k == "EXECD") continue;
      env.push_back(k + "=" + v);
    }
    // User labels never enter sandboxd's namespace (sandboxd.io/, *.sandboxd.io/): a user
    // label sandboxd.io/helper would make the sandbox look like a helper, one
    // sandboxd.io/instance would hand it to another sandboxd.
    json labels = json::object();
    for (const auto& [k, v] : spec.labels) {
      if (is_reserved_label(k)) {
        log->warn("sandbox {}: label {} is reserved for sandboxd; not set on the container",
                  spec.sandbox_id, k);
        continue;
      }
      labels[k] = v;
    }
    labels[std::string(kSandboxIdLabel)] = spec.sandbox_id;
    if (!options.instance_id.empty()) {
      labels[std::string(kInstanceLabel)] = options.instance_id;
    }

    json host = json::object();
    host["NetworkMode"] = spec.network_mode;
    if (!spec.limits.cpu.empty()) host["NanoCpus"] = *parse_cpu_quantity(spec.limits.cpu);
    if (!spec.limits.memory.empty()) host["Memory"] = *parse_memory_quantity(spec.limits.memory);
    if (options.pids_limit > 0) host["PidsLimit"] = options.pids_limit;
    if (!options.drop_capabilities.empty()) host["CapDrop"] = options.drop_capabilities;
    json security = json::array();
    if (options.no_new_privileges) security.push_back("no-new-privileges:true");
    if (!options.apparmor_profile.empty())
      security.push_back("apparmor=" + options.apparmor_profile);
    if (!seccomp_option.empty()) security.push_back(seccomp_option);
    if (!security.empty()) host["SecurityOpt"] = security;

    json body = json::object();
    body["Image"] = spec.image_uri;
    body["Labels"] = labels;
    if (spec.network_mode != "host" && !spec.ports.empty()) {
      json exposed = json::object();
      json bindings = json::object();
      for (auto [container_port, host_port] : spec.ports) {
        std::string key = std::to_string(container_port) + "/tcp";
        exposed[key] = json::object();
        bindings[key] = json::array(
            {{{"HostIp", options.port_bind_ip}, {"HostPort", std::to_string(host_port)}}});
      }
      body["ExposedPorts"] = exposed;
      host["PortBindings"] = bindings;
    }
    if (options.execd_image.empty()) {
      body["Entrypoint"] = spec.entrypoint;
      body["Cmd"] = json::array();
    } else {
      env.push_back("EXECD=" + std::string(kExecdPath));
      body["Entrypoint"] = json::array({std::string(kBootstrapPath)});
      body["Cmd"] = spec.entrypoint;
    }
    if (!execd_volume_name.empty()) {
      host["Mounts"] = json::array({{{"Type", "volume"},
                                     {"Source", execd_volume_name},
                                     {"Target", std::string(kExecdDir)},
                                     {"ReadOnly", true}}});
    }
    body["Env"] = env;
    body["HostConfig"] = host;
    return body;
  }

  Result<RuntimeInfo> create_and_start(const ContainerSpec& spec) {
    if (auto ok = validate_container_spec(spec); !ok) return std::unexpected(ok.error());
    const std::string name = container_name(spec.sandbox_id);
    // A concurrent create of the same name answers 409 before the engine lets the
    // container be inspected: look again after a short pause, a bounded number of times.
    constexpr int kAttempts = 40;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      auto existing = inspect_raw(name);
      if (!existing) return std::unexpected(existing.error());
      if (*existing) {
        ContainerStatus s = status_from_inspect(**existing, spec.sandbox_id);
        switch (s.state) {
          case ContainerState::kRunning:
          case ContainerState::kPaused:
          case ContainerState::kRestarting:
            return RuntimeInfo{s.runtime_id};
          case ContainerState::kCreated:  // an earlier attempt stopped before start
            if (!options.execd_image.empty() && !has_execd_mount(**existing)) {
              if (auto in = inject_execd(s.runtime_id); !in) return std::unexpected(in.error());
            }
            [[fallthrough]];
          case ContainerState::kExited:
            if (auto st = start(s.runtime_id); !st) return std::unexpected(st.error());
            return RuntimeInfo{s.runtime_id};
          case ContainerState::kDead:
          case ContainerState::kRemoving:
            if (auto rm = force_remove(s.runtime_id); !rm) return std::unexpected(rm.error());
            continue;
        }
      }
      // execd by volume when it can be had; an engine that cannot give one (a volume
      // driver refusing, say) still gets sandboxes, with execd copied in.
      std::string volume;
      if (!options.execd_image.empty()) {
        auto v = execd_volume_name();
        if (v) {
          volume = *v;
        } else if (retryable(v.error())) {
          return std::unexpected(v.error());
        } else {
          log->warn("no execd volume ({}); copying execd into {} instead", v.error().message, name);
        }
      }
      auto body = create_body(spec, volume);
      if (!body) return std::unexpected(body.error());
      std::string query = "?name=" + url_encode(name);
      if (spec.platform) {
        query += "&platform=" + url_encode(spec.platform->os + "/" + spec.platform->arch);
      }
      auto created = create_container(query, *body, spec.image_uri, spec.auth, spec.platform);
      if (!created) return std::unexpected(created.error());
      if (created->status == 409) continue;  // created concurrently: look again
      if (created->status != 201) {
        return std::unexpected(engine_error(*created, "create container " + name));
      }
      std::string id;
      try {
        id = json::parse(created->body).at("Id").get<std::string>();
      } catch (const json::exception& e) {
        return fail(ErrorCode::kInternal, std::string("malformed create answer: ") + e.what());
      }
      Result<void> done;
      if (!options.execd_image.empty() && volume.empty()) done = inject_execd(id);
      if (done) done = start(id);
      if (!done) {
        if (!retryable(done.error())) {
          if (auto rm = force_remove(id); !rm) {
            log->warn("could not remove failed container {}: {}", name, rm.error().message);
          }
        }
        return std::unexpected(done.error());
      }
      return RuntimeInfo{id};
    }
    return fail(ErrorCode::kConflict, "container " + name + " keeps changing; try again");
  }

  // ---- pause / resume -------------------------------------------------------------

  Result<void> pause_or_resume(const std::string& sandbox_id, bool pause) {
    const std::string name = container_name(sandbox_id);
    const char* verb = pause ? "pause" : "unpause";
    auto r = call("POST", "/containers/" + name + "/" + verb);
    if (!r) return std::unexpected(r.error());
    if (r->status == 204) return {};
    if (r->status == 404) {
      return fail(ErrorCode::kNotFound, "no container for sandbox " + sandbox_id);
    }
    // Already in the target state, or not running at all?
    auto now = inspect_raw(name);
    if (!now) return std::unexpected(now.error());
    if (!*now) return fail(ErrorCode::kNotFound, "no container for sandbox " + sandbox_id);
    ContainerState st = status_from_inspect(**now, sandbox_id).state;
    if (st == (pause ? ContainerState::kPaused : ContainerState::kRunning)) return {};
    return fail(ErrorCode::kFailedPrecondition, std::string(verb) + " sandbox " + sandbox_id +
                                                    ": container is " + std::string(to_string(st)) +
                                                    " (" + engine_message(*r) + ")");
  }
};

Result<std::unique_ptr<DockerRuntime>> DockerRuntime::create(DockerOptions options) {
  auto http = HttpClient::create(HttpClientOptions{
      .endpoint = options.host,
      .tls = options.tls,
      .connect_timeout = options.connect_timeout,
      .request_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(options.api_timeout),
  });
  if (!http) {
    Error e = http.error();
    e.field = "docker.host";
    return std::unexpected(std::move(e));
  }
  return create(std::move(options), std::move(*http));
}

Result<std::unique_ptr<DockerRuntime>> DockerRuntime::create(
    DockerOptions options, std::unique_ptr<HttpTransport> transport) {
  if (options.api_timeout.count() <= 0) {
    return fail(ErrorCode::kInvalidArgument, "docker.api_timeout must be positive",
                "docker.api_timeout");
  }
  auto impl = std::make_unique<Impl>();
  if (!options.seccomp_profile.empty()) {
    if (options.seccomp_profile == "unconfined") {
      impl->seccomp_option = "seccomp=unconfined";
    } else {
      std::ifstream in(options.seccomp_profile);
      std::stringstream ss;
      ss << in.rdbuf();
      if (!in || ss.str().empty()) {
        return fail(ErrorCode::kInvalidArgument,
                    "cannot read seccomp profile " + options.seccomp_profile,
                    "docker.seccomp_profile");
      }
      try {
        impl->seccomp_option = "seccomp=" + json::parse(ss.str()).dump();
      } catch (const json::exception& e) {
        return fail(ErrorCode::kInvalidArgument,
                    "seccomp profile " + options.seccomp_profile + " is not JSON: " + e.what(),
                    "docker.seccomp_profile");
      }
    }
  }
  impl->options = std::move(options);
  impl->http = std::move(transport);
  return std::unique_ptr<DockerRuntime>(new DockerRuntime(std::move(impl)));
}

DockerRuntime::DockerRuntime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DockerRuntime::~DockerRuntime() = default;

Result<std::string> DockerRuntime::api_version() { return impl_->negotiate(); }

Result<RuntimeInfo> DockerRuntime::create_and_start(const ContainerSpec& spec) {
  return impl_->create_and_start(spec);
}

Result<void> DockerRuntime::pause(const std::string& sandbox_id) {
  return impl_->pause_or_resume(sandbox_id, true);
}

Result<void> DockerRuntime::resume(const std::string& sandbox_id) {
  return impl_->pause_or_resume(sandbox_id, false);
}

Result<void> DockerRuntime::remove(const std::string& sandbox_id) {
  return impl_->force_remove(container_name(sandbox_id));
}

Result<std::optional<ContainerStatus>> DockerRuntime::inspect(const std::string& sandbox_id) {
  auto j = impl_->inspect_raw(container_name(sandbox_id));
  if (!j) return std::unexpected(j.error());
  if (!*j) return std::nullopt;
  return Impl::status_from_inspect(**j, sandbox_id);
}

Result<std::vector<ContainerStatus>> DockerRuntime::list() {
  const std::string filters = json{{"label", {std::string(kSandboxIdLabel)}}}.dump();
  auto r = impl_->call("GET", "/containers/json?all=1&filters=" + url_encode(filters));
  if (!r) return std::unexpected(r.error());
  if (r->status != 200) return std::unexpected(engine_error(*r, "list containers"));
  std::vector<ContainerStatus> out;
  try {
    for (const json& c : json::parse(r->body)) {
      ContainerStatus s;
      s.runtime_id = c.value("Id", "");
      if (c.contains("Labels") && c["Labels"].is_object()) {
        s.sandbox_id = c["Labels"].value(std::string(kSandboxIdLabel), "");
        s.instance_id = c["Labels"].value(std::string(kInstanceLabel), "");
      }
      s.state = parse_container_state(c.value("State", "")).value_or(ContainerState::kDead);
      if (s.state == ContainerState::kExited) {
        s.exit_code = exit_code_from_status_text(c.value("Status", ""));
      }
      out.push_back(std::move(s));
    }
  } catch (const json::exception& e) {
    return fail(ErrorCode::kInternal,
                std::string("list containers: malformed answer: ") + e.what());
  }
  impl_->sweep_stale_helpers();
  return out;
}

Result<void> DockerRuntime::ping() {
  auto r = impl_->http->send(HttpRequest{.method = "GET", .target = "/_ping"});
  if (!r) return std::unexpected(impl_->annotate(r.error()));
  if (r->status != 200) return std::unexpected(engine_error(*r, "docker ping"));
  if (auto v = impl_->negotiate(); !v) return std::unexpected(v.error());
  return {};
}

Result<void> DockerRuntime::watch(std::optional<Micros> since, const EventCallback& on_event,
                                  std::stop_token stop) {
  auto v = impl_->negotiate();
  if (!v) return std::unexpected(v.error());
  const json filters = {{"type", {"container"}},
                        {"label", {std::string(kSandboxIdLabel)}},
                        {"event", {"start", "die", "oom", "destroy", "pause", "unpause"}}};
  std::string target = "/v" + *v + "/events?filters=" + url_encode(filters.dump());
  if (since) target += "&since=" + format_since(*since);

  std::string buffer;
  auto handle_line = [&](std::string_view line) {
    if (line.empty()) return;
    try {
      json j = json::parse(line);
      std::string action = j.value("Action", j.value("status", ""));
      RuntimeEvent e;
      if (action == "start") {
        e.kind = RuntimeEventKind::kStarted;
      } else if (action == "die") {
        e.kind = RuntimeEventKind::kDied;
      } else if (action == "oom") {
        e.kind = RuntimeEventKind::kOomKilled;
      } else if (action == "destroy") {
        e.kind = RuntimeEventKind::kDestroyed;
      } else if (action == "pause") {
        e.kind = RuntimeEventKind::kPaused;
      } else if (action == "unpause") {
        e.kind = RuntimeEventKind::kUnpaused;
      } else {
        return;
      }
      const json& actor = j.contains("Actor") ? j["Actor"] : json::object();
      e.runtime_id = actor.value("ID", j.value("id", ""));
      const json& attrs = actor.contains("Attributes") ? actor["Attributes"] : json::object();
      e.sandbox_id = attrs.value(std::string(kSandboxIdLabel), "");
      e.instance_id = attrs.value(std::string(kInstanceLabel), "");
      if (e.kind == RuntimeEventKind::kDied && attrs.contains("exitCode")) {
        try {
          e.exit_code = std::stoi(attrs["exitCode"].get<std::string>());
        } catch (const std::exception&) {
        }
      }
      if (j.contains("timeNano")) {
        e.time = j["timeNano"].get<std::int64_t>() / 1000;
      } else {
        e.time = j.value("time", std::int64_t{0}) * kMicrosPerSecond;
      }
      if (!e.sandbox_id.empty()) on_event(e);
    } catch (const json::exception& ex) {
      impl_->log->warn("ignoring malformed Docker event: {}", ex.what());
    }
  };
  auto r = impl_->http->stream(
      HttpRequest{.method = "GET", .target = target},
      [&](std::string_view chunk) {
        buffer.append(chunk);
        std::size_t pos;
        while ((pos = buffer.find('\n')) != std::string::npos) {
          handle_line(std::string_view(buffer).substr(0, pos));
          buffer.erase(0, pos + 1);
        }
        return true;
      },
      stop);
  if (!r) return std::unexpected(impl_->annotate(r.error()));
  if (stop.stop_requested()) return {};
  if (r->status != 200) return std::unexpected(engine_error(*r, "docker events"));
  return fail(ErrorCode::kUnavailable, "Docker engine unavailable: event stream ended");
}

}  // namespace sbx
