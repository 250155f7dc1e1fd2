#include "src/metrics/proxy_metrics.h"

namespace sbx::metrics {

ProxyMetrics::ProxyMetrics(Registry& registry)
    : requests_total(registry.counter_family("sandboxd_proxy_requests_total",
                                             "Requests answered through the server proxy, by "
                                             "status class.",
                                             {"status_class"})),
      connections(registry.gauge("sandboxd_proxy_connections",
                                 "Client connections held by the server proxy now.")),
      bytes_total(registry.counter_family("sandboxd_proxy_bytes_total",
                                          "Bytes the server proxy wrote towards the sandbox "
                                          "(upstream) and towards the client (downstream).",
                                          {"direction"})),
      upstream_errors_total(registry.counter_family(
          "sandboxd_proxy_upstream_errors_total",
          "Proxied requests that failed at the proxy, by kind (unreachable, timeout, busy).",
          {"kind"})),
      websockets_total(registry.counter("sandboxd_proxy_websockets_total",
                                        "Connection upgrades (WebSocket) relayed by the server "
                                        "proxy.")),
      upstream_connects_total(registry.counter_family(
          "sandboxd_proxy_upstream_connects_total",
          "New upstream connections of the server proxy, by route (netns: inside the "
          "sandbox's network namespace; published: its published port; fallback: the netns "
          "route failed and the published one was used).",
          {"route"})) {}

}  // namespace sbx::metrics
