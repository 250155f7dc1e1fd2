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
#include "api/http_util.h"
#include "src/service/sandbox_service.h"

namespace sbx::api {

struct CreateParseOptions {
  std::vector<std::string> allowed_host_paths;  // storage.allowed_host_paths
};

std::expected<CreateRequest, ApiError> parse_create_request(std::string_view body,
                                                            const CreateParseOptions& options);

// RFC 7396 merge patch of the flat metadata map: {"k":"v","gone":null}.
std::expected<PatchMetadata, ApiError> parse_metadata_patch(std::string_view body);

// {"expiresAt": "<RFC 3339>"}.
std::expected<RenewExpiration, ApiError> parse_renew_request(std::string_view body);

// GET /sandboxes query: state (repeatable, case-insensitive), metadata ("k=v&k2=v2",
// URL-encoded), page >= 1, pageSize 1..200.
std::expected<ListQuery, ApiError> parse_list_query(const QueryParams& query);

// Endpoint port path segment: an integer in 1..65535.
std::expected<int, ApiError> parse_port(std::string_view segment, std::string_view runtime_prefix);

// Kubernetes label rules. Empty string when valid, else why not.
std::string metadata_key_problem(std::string_view key);
std::string metadata_value_problem(std::string_view value);

// resourceLimits.cpu / .memory: "" when acceptable, else the message of the 400. The
// grammar is events/quantity.h (the one the runtimes use), and the value must lie in
// what a container engine accepts: cpu 10m..1024, memory 6Mi..1Pi.
inline constexpr std::int64_t kMinCpuNanos = 10'000'000;              // 10m, Docker's floor
inline constexpr std::int64_t kMaxCpuNanos = 1024LL * 1'000'000'000;  // 1024 cores
inline constexpr std::int64_t kMinMemoryBytes = 6LL << 20;            // Docker's floor
inline constexpr std::int64_t kMaxMemoryBytes = 1LL << 50;            // 1 PiB
std::string cpu_limit_problem(std::string_view s);
std::string memory_limit_problem(std::string_view s);

// image.uri against the Docker/OCI reference grammar ([host[:port]/]path[:tag][@digest],
// lowercase path components, at most 255 characters of name): "" when valid, else why not.
std::string image_reference_problem(std::string_view ref);

// JSON bodies nest at most this deep (objects and arrays); deeper is a 400 before parsing.
inline constexpr int kMaxJsonDepth = 64;
// Whether `text` (JSON, possibly malformed) opens more than `limit` nested arrays/objects.
// A linear scan that skips strings; never recursive.
bool json_nesting_exceeds(std::string_view text, int limit);

}  // namespace sbx::api
