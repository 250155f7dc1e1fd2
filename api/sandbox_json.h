// Response bodies of the lifecycle API, rendered from the projection.
//
// Field names follow the OpenSandbox schema (camelCase); fields without a value are
// omitted, never null (the upstream server's behaviour, which the SDKs rely on).
// Timestamps are RFC 3339 UTC with microseconds. `metadata` is always an object.
//
// Event envelopes of the history endpoint are src/service/event_envelope.h's (the codec's
// JSON with the env values of SandboxRequested replaced by "***"; the server-sent events
// use the same).
//
// Pure; thread-safe.
#pragma once

#include <string>

#include "events/event.h"
#include "events/sandbox.h"
#include "src/service/sandbox_service.h"

namespace sbx::api {

std::string render_sandbox(const Sandbox& sandbox);          // Sandbox
std::string render_create_response(const Sandbox& sandbox);  // CreateSandboxResponse
std::string render_list(const ListPage& page);               // ListSandboxesResponse
std::string render_endpoint(const Endpoint& endpoint);       // Endpoint
std::string render_renew(Micros expires_at);                 // RenewSandboxExpirationResponse
// {"sandboxId": id, "events": [envelope...]}
std::string render_history(std::string_view sandbox_id, const std::vector<Event>& events);

}  // namespace sbx::api
