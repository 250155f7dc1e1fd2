// The Docker event watch: GET /events filtered to lifecycle events (start, die, oom,
// destroy, pause, unpause) of containers, read as a stream of JSON lines and turned into
// RuntimeEvents (see Runtime::watch for the contract) for the containers that carry
// sandboxd.io/id or are reference server sandboxes (reference_containers.h: reported under
// their opensandbox.io/id, without an instance id), and the die/destroy of egress sidecars
// (sandboxd.io/egress-of, reported as their sandbox's kDied).
//
// Thread-safe: each call holds its own streaming connection.
#pragma once

#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "events/result.h"
#include "events/time.h"
#include "src/runtime/docker/docker_engine.h"
#include "src/runtime/runtime.h"

namespace sbx {

// One line of the engine's event stream. nullopt for an event that is not one of the six
// lifecycle actions or belongs to no sandbox (neither sandboxd.io/id nor a reference
// sandbox's opensandbox.io/id; helpers are no sandbox; an egress sidecar's die or destroy
// is its sandbox's kDied, its other events are nullopt); kInvalidArgument for a line that
// is not a JSON event (the caller logs and skips it). The time is timeNano (else time, in
// seconds); exit_code is the exitCode attribute of a die.
Result<std::optional<RuntimeEvent>> parse_engine_event(std::string_view line);

// The `since` query value for a time: "<seconds>.<nanoseconds>".
std::string format_since(Micros t);

// Streams events from `since` (nullopt = from now) to `on_event` until `stop` is requested
// (success) or the stream breaks (kUnavailable) or the engine refuses (its error).
Result<void> watch_engine_events(DockerEngine& engine, std::optional<Micros> since,
                                 const Runtime::EventCallback& on_event, std::stop_token stop);

}  // namespace sbx
