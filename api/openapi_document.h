// Our own OpenAPI 3 document of the sandboxd HTTP API: every route (both prefixes are
// described by the servers list), every schema, our additions (Idempotency-Key, Prefer:
// respond-async, the event endpoints, /metrics, /health details, error codes).
// Served at GET /openapi.json. Pure; thread-safe.
#pragma once

#include <string_view>

namespace sbx::api {

std::string_view openapi_document();

}  // namespace sbx::api
