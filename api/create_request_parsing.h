// The field rules of a create request's body, shared by POST /sandboxes
// (parse_create_request) and by a pool's template in the create shape (POST /pools,
// api/pool_request_parsing.cpp), so that both accept and refuse exactly the same values
// with the same messages. Internal to api/.
//
// Shapes:
//   kCreate        the CreateSandboxRequest. With extensions.poolRef (a pool create,
//                  events/pool.h) image, entrypoint and resourceLimits become optional (the
//                  pool's template), snapshotId is refused (400, field snapshotId), poolRef
//                  must be a pool name and extensions.poolWarmOnly "true" or "false" (400;
//                  also 400 without poolRef): they fill CreateRequest::pool_ref /
//                  pool_warm_only; the extensions still go to spec.extensions_json.
//   kPoolTemplate  a pool's template: image and entrypoint required, resourceLimits
//                  optional; metadata, timeout, extensions, snapshotId, secureAccess and
//                  image.auth are refused (400 naming the field: a member is created before
//                  any client asks for it, and credentials are not kept for refills).
// The checker's prefix/message_prefix name the fields (parse_support.h).
//
// Pure; thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include "api/parse_support.h"
#include "api/request_parsing.h"

namespace sbx::api {

enum class CreateShape { kCreate, kPoolTemplate };

// Checks the JSON object `j` field by field into `c` (shape issues and the first value
// error) and fills `r` with what it accepted.
void check_create_object(parsing::Checker& c, const nlohmann::json& j, CreateRequest& r,
                         const CreateParseOptions& options, CreateShape shape);

}  // namespace sbx::api
