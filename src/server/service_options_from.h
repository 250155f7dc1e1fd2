// service_options_from: what SandboxService needs from the loaded configuration — network
// mode, port range, bind ip, endpoint rules (runtime, the Docker endpoint host resolved
// once here, the ingress mode), whether pause is supported (not on Kubernetes), timeout
// cap, egress image, mutation queue cap. On Kubernetes network_mode is "pod" with no
// published ports (docker.network_mode does not apply to pods). One of the composition root's Config -> *Options mappings; the
// service itself never sees Config.
//
// Pure (but for resolving the endpoint host, which may look up the primary address).
#pragma once

#include "src/config/config.h"
#include "src/service/service_options.h"

namespace sbx {

ServiceOptions service_options_from(const Config& config);

}  // namespace sbx
