#include "src/metrics/http_metrics.h"

namespace sbx::metrics {

HttpMetrics::HttpMetrics(Registry& registry)
    : requests_total(registry.counter_family("sandboxd_http_requests_total",
                                             "HTTP requests answered, by route template and "
                                             "status code.",
                                             {"method", "route", "status"})),
      request_duration_seconds(registry.histogram_family(
          "sandboxd_http_request_duration_seconds",
          "Time from request parsed to response sent, by route template.", {"method", "route"},
          {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
           5, 10, 30})),
      requests_in_flight(registry.gauge("sandboxd_http_requests_in_flight",
                                        "HTTP requests being handled or parked now.")) {}

}  // namespace sbx::metrics
