// ProxyMetrics: what the server proxy (api/proxy/proxy_engine.h) records. Built once from
// the Registry by the composition root and passed to the ApiServer (ApiDeps::proxy_metrics).
//
//   sandboxd_proxy_requests_total{status_class}       counter: proxied requests answered,
//                                                     by "1xx".."5xx" (errors of the proxy
//                                                     itself included)
//   sandboxd_proxy_connections                        gauge: client connections held by
//                                                     the proxy now
//   sandboxd_proxy_bytes_total{direction}             counter: bytes written towards the
//                                                     sandbox ("upstream") and towards the
//                                                     client ("downstream"), heads included
//   sandboxd_proxy_upstream_errors_total{kind}        counter: "unreachable" (connect
//                                                     refused, reset before an answer),
//                                                     "timeout" (connect or response head),
//                                                     "busy" (max_connections reached)
//   sandboxd_proxy_websockets_total                   counter: upgrades relayed (101 seen)
//   sandboxd_proxy_upstream_connects_total{route}     counter: new upstream connections,
//                                                     "netns" (from inside the sandbox's
//                                                     network namespace), "published" (its
//                                                     published port or execd), "fallback"
//                                                     (the netns route failed, the published
//                                                     one was used)
//
// Thread-safe (see family.h); the families belong to the Registry, which must outlive
// this struct.
#pragma once

#include "src/metrics/registry.h"

namespace sbx::metrics {

struct ProxyMetrics {
  explicit ProxyMetrics(Registry& registry);

  CounterFamily& requests_total;         // {status_class}
  Gauge& connections;
  CounterFamily& bytes_total;            // {direction}
  CounterFamily& upstream_errors_total;  // {kind}
  Counter& websockets_total;
  CounterFamily& upstream_connects_total;  // {route}
};

}  // namespace sbx::metrics
