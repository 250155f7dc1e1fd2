#include "src/server/api_options.h"

#include <algorithm>
#include <cstdint>

namespace sbx {

api::ApiOptions api_options_from(const Config& config) {
  api::ApiOptions o;
  o.host = config.server.host;
  o.port = static_cast<std::uint16_t>(config.server.port);
  o.threads = std::max(1, config.server.threads);
  o.max_body_bytes =
      static_cast<std::size_t>(std::max<std::int64_t>(1, config.server.max_body_bytes));
  if (config.server.api_key && !config.server.api_key->empty()) o.api_key = config.server.api_key;
  o.metrics_auth = config.server.metrics_auth;
  o.keep_alive_seconds =
      static_cast<int>(std::max<std::int64_t>(1, config.server.timeout_keep_alive));
  o.runtime_type = std::string(to_string(config.runtime.type));
  o.create_wait_ms = config.server.create_wait_ms;
  o.transition_wait_ms = config.server.transition_wait_ms;
  o.max_wait = std::chrono::milliseconds(
      std::max(config.server.create_wait_ms, config.server.transition_wait_ms));
  o.allowed_host_paths = config.storage.allowed_host_paths;
  o.insecure_server = config.server.insecure_server;
  o.max_connections = static_cast<std::size_t>(config.server.max_connections);
  o.max_parked = static_cast<std::size_t>(config.server.max_parked_requests);
  o.max_event_streams = static_cast<std::size_t>(config.server.max_event_streams);
  o.event_stream_buffer_bytes = static_cast<std::size_t>(config.server.event_stream_buffer_bytes);
  o.header_timeout = std::chrono::seconds(config.server.header_timeout_seconds);
  o.body_timeout = std::chrono::seconds(config.server.body_timeout_seconds);
  o.proxy.enabled = config.proxy.enabled;
  o.proxy.threads = config.proxy.threads;
  o.proxy.max_connections = static_cast<std::size_t>(config.proxy.max_connections);
  o.proxy.connect_timeout = std::chrono::seconds(config.proxy.connect_timeout_seconds);
  o.proxy.idle_timeout = std::chrono::seconds(config.proxy.idle_timeout_seconds);
  o.proxy.header_timeout = std::chrono::seconds(config.server.header_timeout_seconds);
  o.proxy.buffer_bytes = static_cast<std::size_t>(config.proxy.buffer_bytes);
  o.proxy.max_idle_upstream = static_cast<std::size_t>(config.proxy.max_idle_upstream);
  o.proxy.forward_credentials = config.proxy.forward_credentials;
  o.public_base = config.server.eip;
  o.route_signing_secret = config.proxy.signing_secret.value_or("");
  return o;
}

}  // namespace sbx
