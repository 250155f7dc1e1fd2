// Request parsing and validation: JSON bodies and query strings of the lifecycle API
// turned into service inputs, or into the ApiError the client gets.
//
// Shape errors (missing required field, wrong JSON type, value outside the schema such as
// timeout < 60 or an empty entrypoint) are 422 with a FastAPI-style detail list naming
// every offending location. Well-formed values we refuse are 400 naming the field:
// resource quantities, Kubernetes label rules of metadata (SANDBOX::INVALID_METADATA_LABEL,
// reserved prefixes `opensandbox.io/` and
// `sandboxd.io/`, at most kMaxMetadataEntries), volume rules (VOLUME::…), credentialProxy.enabled,
// extension values. Malformed JSON is 400. Unknown fields are ignored. Rules that depend
// on the configuration (timeout cap, networkPolicy needs bridge mode and egress.image,
// secureAccess) are the service's (SandboxService::create).
//
// The field grammars (labels, quantities, image references, nesting) are field_grammar.h.
// Implementation: create_request_parsing.cpp (the create body), pool_request_parsing.cpp
// (the pool bodies), request_parsing.cpp (the other bodies and the list query),
// parse_support.h (what they share).
//
// Pure functions (parsing uses nlohmann::json; no exception escapes). Thread-safe.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/error_mapping.h"
#include "api/field_grammar.h"
#include "api/http_util.h"
#include "src/service/pool_service.h"
#include "src/service/sandbox_service.h"

namespace sbx::api {

struct CreateParseOptions {
  std::vector<std::string> allowed_host_paths;  // storage.allowed_host_paths
};

// With extensions.poolRef (warm pools): image, entrypoint and resourceLimits optional,
// snapshotId refused, poolRef a pool name, poolWarmOnly "true"/"false" (400s naming the
// field); see create_request_parsing.h.
std::expected<CreateRequest, ApiError> parse_create_request(std::string_view body,
                                                            const CreateParseOptions& options);

// POST /pools: {name, template, capacitySpec} (unknown members ignored).
//   name          required, a pool name (events/pool.h: ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$,
//                 at most 63): else 400 naming "name".
//   capacitySpec  required {bufferMax, bufferMin, poolMax, poolMin}, each a required
//                 integer >= 0: else 400 naming "capacitySpec.<field>" (the rules between
//                 them are the service's: validate_pool_capacity).
//   template      required object, one of two shapes:
//     - a create request {image, entrypoint, env?, resourceLimits?, platform?,
//       networkPolicy?, volumes?}: the create body's own rules and messages
//       (create_request_parsing.h, kPoolTemplate), fields named "template.<field>";
//     - a Kubernetes PodTemplateSpec (an object with "spec"): spec.containers, the one
//       named "sandbox" or else the only one: image -> image.uri, command + args ->
//       entrypoint, env [{name, value}] -> env, resources.limits {cpu, memory} ->
//       resourceLimits (resources.requests {cpu, memory} accepted and ignored, as a
//       create's resourceRequests). Anything else (another container, valueFrom, ports,
//       volumes, pod metadata, ...) is a 400 naming "template.<path>": nothing this
//       server cannot honour is silently dropped.
//   The result's template_json is the template as sent, compact.
std::expected<CreatePoolRequest, ApiError> parse_create_pool_request(
    std::string_view body, const CreateParseOptions& options);

// PUT /pools/{name}: {capacitySpec} only; any other member is a 400 naming it (the
// template of a pool cannot change: delete and create it again).
std::expected<PoolCapacity, ApiError> parse_update_pool_request(std::string_view body);

// RFC 7396 merge patch of the flat metadata map: {"k":"v","gone":null}.
std::expected<PatchMetadata, ApiError> parse_metadata_patch(std::string_view body);

// {"expiresAt": "<RFC 3339>"}.
std::expected<RenewExpiration, ApiError> parse_renew_request(std::string_view body);

// GET /sandboxes query: state (repeatable, case-insensitive), metadata ("k=v&k2=v2",
// URL-encoded), page >= 1, pageSize 1..200.
std::expected<ListQuery, ApiError> parse_list_query(const QueryParams& query);

// GET /sandboxes/{id}/endpoints/{port} query: `use_server_proxy` (a boolean: true/false,
// 1/0, yes/no, on/off, any case; default false) and `expires` (Unix epoch seconds, an
// integer >= 0). A bad value is a 422 naming the parameter.
struct EndpointQuery {
  bool use_server_proxy = false;
  std::optional<std::uint64_t> expires;
};
std::expected<EndpointQuery, ApiError> parse_endpoint_query(const QueryParams& query);

// Endpoint port path segment: an integer in 1..65535.
std::expected<int, ApiError> parse_port(std::string_view segment, std::string_view runtime_prefix);

}  // namespace sbx::api
