#include "src/runtime/docker/event_watch.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "src/common/log.h"
#include "src/runtime/docker/reference_containers.h"

namespace sbx {

using json = nlohmann::json;

Result<std::optional<RuntimeEvent>> parse_engine_event(std::string_view line) {
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
      return std::nullopt;
    }
    const json& actor = j.contains("Actor") ? j["Actor"] : json::object();
    e.runtime_id = actor.value("ID", j.value("id", ""));
    const json& attrs = actor.contains("Attributes") ? actor["Attributes"] : json::object();
    e.sandbox_id = attrs.value(std::string(kSandboxIdLabel), "");
    // A container adopted from the reference server: reported under its opensandbox.io/id.
    if (e.sandbox_id.empty()) e.sandbox_id = reference_sandbox_id(attrs);
    e.instance_id = attrs.value(std::string(kInstanceLabel), "");
    if (e.sandbox_id.empty()) {
      // An egress sidecar: its death (or removal) is its sandbox's, which has no network
      // without it. Its other events are not the sandbox's.
      e.sandbox_id = attrs.value(std::string(kEgressOfLabel), "");
      if (e.sandbox_id.empty()) return std::nullopt;
      if (e.kind == RuntimeEventKind::kDestroyed) e.kind = RuntimeEventKind::kDied;
      if (e.kind != RuntimeEventKind::kDied) return std::nullopt;
    }
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
    if (e.sandbox_id.empty()) return std::nullopt;
    return e;
  } catch (const json::exception& ex) {
    return fail(ErrorCode::kInvalidArgument, ex.what());
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

Result<void> watch_engine_events(DockerEngine& engine, std::optional<Micros> since,
                                 const Runtime::EventCallback& on_event, std::stop_token stop) {
  // No label filter: the engine ANDs label filters, and the stream must carry sandboxd's
  // containers (sandboxd.io/id), egress sidecars (sandboxd.io/egress-of) and adopted
  // reference sandboxes (opensandbox.io/id); parse_engine_event drops every other
  // container's events.
  const json filters = {{"type", {"container"}},
                        {"event", {"start", "die", "oom", "destroy", "pause", "unpause"}}};
  std::string path = "/events?filters=" + url_encode(filters.dump());
  if (since) path += "&since=" + format_since(*since);

  auto log = logger("docker");
  std::string buffer;
  auto handle_line = [&](std::string_view line) {
    if (line.empty()) return;
    auto e = parse_engine_event(line);
    if (!e) {
      log->warn("ignoring malformed Docker event: {}", e.error().message);
    } else if (*e) {
      on_event(**e);
    }
  };
  auto r = engine.stream(
      path,
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
  if (!r) return std::unexpected(r.error());
  if (stop.stop_requested()) return {};
  if (r->status != 200) return std::unexpected(engine_error(*r, "docker events"));
  return fail(ErrorCode::kUnavailable, "Docker engine unavailable: event stream ended");
}

}  // namespace sbx
