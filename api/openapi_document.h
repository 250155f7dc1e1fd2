// Our own OpenAPI 3 document of the sandboxd HTTP API: every route (both prefixes are
// described by the servers list), every schema, our additions (Idempotency-Key, Prefer:
// respond-async, the event endpoints, /metrics, /health details, error codes).
// The document is the JSON file api/openapi.json (shared parts as `$ref`s to
// `components`), embedded in the binary at build time; edit the file, not code.
// tests/api/openapi_document_test.cpp checks that every reference resolves and that it
// describes exactly the routes of api/routes.cpp.
// Served at GET /openapi.json. Pure; thread-safe.
#pragma once

#include <string_view>

namespace sbx::api {

// The bytes of api/openapi.json.
std::string_view openapi_document();

}  // namespace sbx::api
