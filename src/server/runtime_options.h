// The Config -> options mappings of the runtime and the workers (the composition root maps
// every Config section onto the options of the part that reads it; nothing below src/server
// sees the Config for these).
//
// Pure functions, thread-safe.
#pragma once

#include <string>

#include "src/config/config.h"
#include "src/runtime/docker/docker_options.h"
#include "src/workers/worker_options.h"

namespace sbx {

// [docker] + runtime.execd_image + secure_runtime.docker_runtime (oci_runtime).
// `instance_id`: the store's identity, which labels
// everything the runtime creates. docker.tls_verify reads ca.pem, cert.pem and key.pem in
// docker.cert_path.
DockerOptions docker_options_from(const Config& c, const std::string& instance_id);

// [workers]; error_code_prefix is runtime.type upper-cased ("DOCKER", "KUBERNETES").
WorkerOptions worker_options_from(const Config& c);

}  // namespace sbx
