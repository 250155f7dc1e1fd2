// api_options_from: the HTTP API's settings from the loaded configuration — the server.*
// keys (address, threads, limits, timeouts, key), the runtime type (error code prefix), the
// waits (server.create_wait_ms, server.transition_wait_ms) and storage.allowed_host_paths
// (which host volumes a create may mount). One of the composition root's Config ->
// *Options mappings; the api itself never sees Config.
//
// Pure.
#pragma once

#include "api/api_server.h"
#include "src/config/config.h"

namespace sbx {

api::ApiOptions api_options_from(const Config& config);

}  // namespace sbx
