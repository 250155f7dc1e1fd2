// The route table of the lifecycle API: every route the server serves, as data
// ({method, path template, auth, handler, body, prefixes}), and the Router built from it.
// ApiServer::Impl::dispatch (routes.cpp) matches a request against it and runs the checks
// every route shares before the handler. tests/api/openapi_document_test.cpp checks that
// the OpenAPI document describes exactly these routes.
//
// Pure data, built once; thread-safe.
#pragma once

#include <span>

#include "api/router.h"

namespace sbx::api {

std::span<const Route> api_routes();
const Router& api_router();

}  // namespace sbx::api
