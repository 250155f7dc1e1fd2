// HttpMetrics: what the api/ module records per request. Built once from the Registry by
// the composition root and passed to the router by reference.
//
//   sandboxd_http_requests_total{method,route,status}          counter
//   sandboxd_http_request_duration_seconds{method,route}       histogram, 100 µs .. 30 s
//   sandboxd_http_requests_in_flight                           gauge
//
// `route` is the route template ("/v1/sandboxes/{id}"), never the raw path, so the label
// set stays bounded; `status` is the numeric code ("200"). Thread-safe (see family.h);
// the families belong to the Registry, which must outlive this struct.
#pragma once

#include "src/metrics/registry.h"

namespace sbx::metrics {

struct HttpMetrics {
  explicit HttpMetrics(Registry& registry);

  CounterFamily& requests_total;              // {method, route, status}
  HistogramFamily& request_duration_seconds;  // {method, route}
  Gauge& requests_in_flight;
};

}  // namespace sbx::metrics
