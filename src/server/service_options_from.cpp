#include "src/server/service_options_from.h"

#include "src/service/endpoint_resolver.h"

namespace sbx {

ServiceOptions service_options_from(const Config& config) {
  ServiceOptions o;
  o.runtime_type = std::string(to_string(config.runtime.type));
  o.network_mode = config.docker.network_mode;
  o.port_range_low = config.docker.port_range_low;
  o.port_range_high = config.docker.port_range_high;
  o.port_bind_ip = config.docker.port_bind_ip;
  o.endpoint_host =
      resolve_endpoint_host(config.server.eip, config.docker.host_ip, config.server.host);
  o.max_sandbox_timeout_seconds = config.server.max_sandbox_timeout_seconds;
  o.egress_image = config.egress.image;
  o.max_queued_mutations = static_cast<std::size_t>(config.server.max_queued_mutations);
  return o;
}

}  // namespace sbx
