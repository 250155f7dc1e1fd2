#include "src/runtime/docker/docker_runtime.h"

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <utility>

#include "src/common/log.h"
#include "src/runtime/docker/container_body.h"
#include "src/runtime/docker/egress_sidecar.h"
#include "src/runtime/docker/event_watch.h"
#include "src/runtime/docker/execd_injection.h"
#include "src/runtime/docker/image_pull.h"

namespace sbx {
namespace {

using json = nlohmann::json;

std::optional<Micros> docker_time(const json& v) {
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty() || s.starts_with("0001-")) return std::nullopt;
  return parse_rfc3339(s);
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

ContainerStatus status_from_inspect(const json& j, const std::string& sandbox_id) {
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

}  // namespace

struct DockerRuntime::Impl {
  DockerOptions options;
  std::string seccomp_option;  // "seccomp=..." or empty
  std::unique_ptr<DockerEngine> engine;
  std::unique_ptr<ExecdInjection> execd;  // also sweeps helpers when execd_image is empty
  std::unique_ptr<EgressSidecars> egress;
  std::shared_ptr<spdlog::logger> log = logger("docker");

  bool with_execd() const { return !options.execd_image.empty(); }

  // The body for `spec`, logging the reserved labels it leaves out.
  Result<json> create_body(const ContainerSpec& spec, const std::string& execd_volume) const {
    auto body = container_create_body(spec, options, seccomp_option, execd_volume);
    if (!body) return std::unexpected(body.error());
    for (const std::string& key : body->dropped_labels) {
      log->warn("sandbox {}: label {} is reserved for sandboxd; not set on the container",
                spec.sandbox_id, key);
    }
    return std::move(body->body);
  }

  // --- egress: the sidecar first, then the sandbox container in its namespace -----------
  // The two are one unit: a failure that is not the engine being away removes both.
  Result<RuntimeInfo> create_and_start(const ContainerSpec& spec) {
    if (auto ok = validate_container_spec(spec); !ok) return std::unexpected(ok.error());
    if (!spec.egress) return create_and_start_container(spec);
    EgressSidecars::InFlight guard(*egress, spec.sandbox_id);
    auto undo = [&](const Error& e) -> Result<RuntimeInfo> {
      if (!retryable(e)) {
        if (auto rm = engine->remove_container(container_name(spec.sandbox_id)); !rm) {
          log->warn("sandbox {}: could not remove its container: {}", spec.sandbox_id,
                    rm.error().message);
        }
        if (auto rm = egress->remove(spec.sandbox_id); !rm) {
          log->warn("sandbox {}: could not remove its egress sidecar: {}", spec.sandbox_id,
                    rm.error().message);
        }
      }
      return std::unexpected(e);
    };
    auto sidecar = egress->ensure_started(spec);
    if (!sidecar) return undo(sidecar.error());
    if (!sidecar->paused) {
      if (auto ready = egress->wait_ready(spec); !ready) return undo(ready.error());
    }
    auto created = create_and_start_container(spec);
    if (!created) return undo(created.error());
    return created;
  }

  Result<RuntimeInfo> create_and_start_container(const ContainerSpec& spec) {
    const std::string name = container_name(spec.sandbox_id);
    // A concurrent create of the same name answers 409 before the engine lets the
    // container be inspected: look again after a short pause, a bounded number of times.
    constexpr int kAttempts = 40;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      auto existing = engine->inspect_container(name);
      if (!existing) return std::unexpected(existing.error());
      if (*existing) {
        ContainerStatus s = status_from_inspect(**existing, spec.sandbox_id);
        switch (s.state) {
          case ContainerState::kRunning:
          case ContainerState::kPaused:
          case ContainerState::kRestarting:
            return RuntimeInfo{s.runtime_id};
          case ContainerState::kCreated:  // an earlier attempt stopped before start
            if (with_execd() && !ExecdInjection::has_execd_mount(**existing)) {
              if (auto in = execd->inject(s.runtime_id); !in) return std::unexpected(in.error());
            }
            [[fallthrough]];
          case ContainerState::kExited:
            if (auto st = engine->start_container(s.runtime_id); !st) {
              return std::unexpected(st.error());
            }
            return RuntimeInfo{s.runtime_id};
          case ContainerState::kDead:
          case ContainerState::kRemoving:
            if (auto rm = engine->remove_container(s.runtime_id); !rm) {
              return std::unexpected(rm.error());
            }
            continue;
        }
      }
      // execd by volume when it can be had; an engine that cannot give one (a volume
      // driver refusing, say) still gets sandboxes, with execd copied in.
      std::string volume;
      if (with_execd()) {
        auto v = execd->volume_name();
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
      if (spec.egress) join_egress_namespace(*body, spec.sandbox_id);
      std::string query = "?name=" + url_encode(name);
      if (spec.platform) {
        query += "&platform=" + url_encode(spec.platform->os + "/" + spec.platform->arch);
      }
      auto created =
          create_container_pulling(*engine, query, *body, spec.image_uri, spec.auth, spec.platform);
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
      if (with_execd() && volume.empty()) done = execd->inject(id);
      if (done) done = engine->start_container(id);
      if (!done) {
        if (!retryable(done.error())) {
          if (auto rm = engine->remove_container(id); !rm) {
            log->warn("could not remove failed container {}: {}", name, rm.error().message);
          }
        }
        return std::unexpected(done.error());
      }
      return RuntimeInfo{id};
    }
    return fail(ErrorCode::kConflict, "container " + name + " keeps changing; try again");
  }

  Result<void> pause_or_resume(const std::string& sandbox_id, bool pause) {
    const std::string name = container_name(sandbox_id);
    const char* verb = pause ? "pause" : "unpause";
    auto r = engine->call("POST", "/containers/" + name + "/" + verb);
    if (!r) return std::unexpected(r.error());
    if (r->status == 204) return {};
    if (r->status == 404) {
      return fail(ErrorCode::kNotFound, "no container for sandbox " + sandbox_id);
    }
    // Already in the target state, or not running at all?
    auto now = engine->inspect_container(name);
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
  auto seccomp = seccomp_security_option(options.seccomp_profile);
  if (!seccomp) return std::unexpected(seccomp.error());
  auto impl = std::make_unique<Impl>();
  impl->seccomp_option = std::move(*seccomp);
  impl->engine =
      std::make_unique<DockerEngine>(options.host, std::move(transport), options.api_timeout);
  impl->execd =
      std::make_unique<ExecdInjection>(*impl->engine, options.execd_image, options.instance_id);
  impl->options = std::move(options);
  impl->egress =
      std::make_unique<EgressSidecars>(*impl->engine, impl->options, impl->seccomp_option);
  return std::unique_ptr<DockerRuntime>(new DockerRuntime(std::move(impl)));
}

DockerRuntime::DockerRuntime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DockerRuntime::~DockerRuntime() = default;

Result<std::string> DockerRuntime::api_version() { return impl_->engine->api_version(); }

Result<RuntimeInfo> DockerRuntime::create_and_start(const ContainerSpec& spec) {
  return impl_->create_and_start(spec);
}

// Pause freezes the sandbox, then its egress sidecar (absent: nothing to do); resume thaws
// the sidecar first, so the sandbox never runs without its network.
Result<void> DockerRuntime::pause(const std::string& sandbox_id) {
  if (auto r = impl_->pause_or_resume(sandbox_id, true); !r) return r;
  return impl_->egress->pause_or_resume(sandbox_id, true);
}

Result<void> DockerRuntime::resume(const std::string& sandbox_id) {
  if (auto r = impl_->egress->pause_or_resume(sandbox_id, false); !r) return r;
  return impl_->pause_or_resume(sandbox_id, false);
}

Result<void> DockerRuntime::remove(const std::string& sandbox_id) {
  if (auto r = impl_->engine->remove_container(container_name(sandbox_id)); !r) return r;
  return impl_->egress->remove(sandbox_id);
}

Result<std::optional<ContainerStatus>> DockerRuntime::inspect(const std::string& sandbox_id) {
  auto j = impl_->engine->inspect_container(container_name(sandbox_id));
  if (!j) return std::unexpected(j.error());
  if (!*j) return std::nullopt;
  ContainerStatus s = status_from_inspect(**j, sandbox_id);
  // A sandbox in an egress sidecar's namespace lives only as long as the sidecar does.
  const bool alive = s.state == ContainerState::kRunning || s.state == ContainerState::kPaused ||
                     s.state == ContainerState::kRestarting;
  if (alive && joins_egress_sidecar(**j, sandbox_id)) {
    auto sidecar = impl_->egress->status(sandbox_id);
    if (!sidecar) return std::unexpected(sidecar.error());
    const bool sidecar_alive = *sidecar && ((*sidecar)->state == ContainerState::kRunning ||
                                            (*sidecar)->state == ContainerState::kPaused ||
                                            (*sidecar)->state == ContainerState::kRestarting);
    if (!sidecar_alive) {
      s.state = ContainerState::kDead;
      s.exit_code.reset();
      s.reason = "EgressSidecarDied";
      s.message = "the egress sidecar " + egress_container_name(sandbox_id) +
                  (*sidecar ? " died (it is " + std::string(to_string((*sidecar)->state)) +
                                  ((*sidecar)->exit_code
                                       ? ", exit code " + std::to_string(*(*sidecar)->exit_code)
                                       : std::string()) +
                                  ")"
                            : std::string(" is gone")) +
                  "; the sandbox has no network";
    }
  }
  return s;
}

Result<std::vector<ContainerStatus>> DockerRuntime::list() {
  const std::string filters = json{{"label", {std::string(kSandboxIdLabel)}}}.dump();
  auto r = impl_->engine->call("GET", "/containers/json?all=1&filters=" + url_encode(filters));
  if (!r) return std::unexpected(r.error());
  if (r->status != 200) return std::unexpected(engine_error(*r, "list containers"));
  // The egress sidecars, listed after the sandbox containers: a sidecar whose sandbox
  // container is not in that listing is an orphan candidate (sweep_orphans looks again,
  // under its lock, before removing it); a running sandbox container whose sidecar is not
  // alive is reported dead (inspect() says why).
  const std::string sidecar_filters = json{{"label", {std::string(kEgressOfLabel)}}}.dump();
  auto sr =
      impl_->engine->call("GET", "/containers/json?all=1&filters=" + url_encode(sidecar_filters));
  if (!sr) return std::unexpected(sr.error());
  if (sr->status != 200) return std::unexpected(engine_error(*sr, "list egress sidecars"));
  json sidecars;
  std::map<std::string, ContainerState> sidecar_state;
  try {
    sidecars = json::parse(sr->body);
    for (const json& c : sidecars) {
      if (!c.contains("Labels") || !c["Labels"].is_object()) continue;
      sidecar_state[c["Labels"].value(std::string(kEgressOfLabel), "")] =
          parse_container_state(c.value("State", "")).value_or(ContainerState::kDead);
    }
  } catch (const json::exception& e) {
    return fail(ErrorCode::kInternal,
                std::string("list egress sidecars: malformed answer: ") + e.what());
  }
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
      if ((s.state == ContainerState::kRunning || s.state == ContainerState::kPaused) &&
          joins_egress_sidecar(c, s.sandbox_id)) {
        auto it = sidecar_state.find(s.sandbox_id);
        if (it == sidecar_state.end() ||
            (it->second != ContainerState::kRunning && it->second != ContainerState::kPaused &&
             it->second != ContainerState::kRestarting)) {
          s.state = ContainerState::kDead;  // inspect() says why
          s.reason = "EgressSidecarDied";
        }
      }
      out.push_back(std::move(s));
    }
  } catch (const json::exception& e) {
    return fail(ErrorCode::kInternal,
                std::string("list containers: malformed answer: ") + e.what());
  }
  impl_->execd->sweep_stale_helpers();
  std::set<std::string> with_container;
  for (const auto& s : out) with_container.insert(s.sandbox_id);
  impl_->egress->sweep_orphans(sidecars, with_container);
  return out;
}

Result<void> DockerRuntime::ping() { return impl_->engine->ping(); }

Result<void> DockerRuntime::watch(std::optional<Micros> since, const EventCallback& on_event,
                                  std::stop_token stop) {
  return watch_engine_events(*impl_->engine, since, on_event, std::move(stop));
}

}  // namespace sbx
