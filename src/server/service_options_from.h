// service_options_from: what SandboxService needs from the loaded configuration — network
// mode, port range, bind ip, endpoint host (resolved once, here), timeout cap, egress image,
// mutation queue cap. One of the composition root's Config -> *Options mappings; the
// service itself never sees Config.
//
// Pure (but for resolving the endpoint host, which may look up the primary address).
#pragma once

#include "src/config/config.h"
#include "src/service/service_options.h"

namespace sbx {

ServiceOptions service_options_from(const Config& config);

}  // namespace sbx
