// Registry: owns every metric family of one sandboxd process and writes them all in the
// Prometheus text format (text_format.h) for /metrics.
//
// One Registry is built by the composition root and passed by reference to whatever
// registers metrics (the per-module structs: http_metrics.h, store_metrics.h, ...). No
// globals: tests build their own.
//
// Thread-safe. Registration and callback removal take an exclusive lock, exposition a
// shared one; the hot path (inc/set/observe on a cached child) takes no lock at all.
// The Registry owns its families; the references it hands out stay valid until it is
// destroyed. It is neither copyable nor movable.
//
// Families: counter_family / gauge_family / histogram_family. Registering a name again
// with the same type, help, label names (and buckets) returns the existing family, so two
// components may share one. Programming errors abort the process with a message naming
// the metric: an invalid metric or label name, a counter whose name does not end in
// `_total`, a histogram label named `le`, bounds that are not strictly increasing and
// finite, or a name already registered differently. They are fixed in code, not handled.
//
// Callbacks: add_callback registers a gauge or counter family whose samples are computed
// by a function at each scrape (store size, live sandboxes by state, process metrics).
// The returned CallbackHandle unregisters it when destroyed; once the handle's destructor
// has returned the function is never called again. The function runs on the scraping
// thread while the Registry's shared lock is held: it must not call into the Registry,
// and a handle must not be destroyed while holding a lock that its function takes.
// Samples with the wrong number of label values are dropped; duplicates keep the first.
//
// Exposition: families sorted by name, children by label values, so golden tests are
// stable. Families with no sample (a labelled family before its first child, a callback
// returning nothing) are left out.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"
#include "src/metrics/family.h"

namespace sbx::metrics {

struct CallbackSample {
  std::vector<std::string> label_values;
  double value = 0;
};
using CallbackFn = std::function<std::vector<CallbackSample>()>;

class Registry;

// Keeps a callback family registered; move-only. Must be destroyed before its Registry.
class CallbackHandle {
 public:
  CallbackHandle() = default;
  CallbackHandle(CallbackHandle&& other) noexcept;
  CallbackHandle& operator=(CallbackHandle&& other) noexcept;
  CallbackHandle(const CallbackHandle&) = delete;
  CallbackHandle& operator=(const CallbackHandle&) = delete;
  ~CallbackHandle();

  // Unregisters now (idempotent).
  void reset();
  bool active() const { return registry_ != nullptr; }

 private:
  friend class Registry;
  CallbackHandle(Registry* registry, std::string name, std::uint64_t id)
      : registry_(registry), name_(std::move(name)), id_(id) {}

  Registry* registry_ = nullptr;
  std::string name_;
  std::uint64_t id_ = 0;
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  ~Registry();

  CounterFamily& counter_family(std::string_view name, std::string_view help,
                                std::vector<std::string> label_names);
  GaugeFamily& gauge_family(std::string_view name, std::string_view help,
                            std::vector<std::string> label_names);
  // `upper_bounds`: strictly increasing and finite; a trailing +Inf is dropped (implicit).
  HistogramFamily& histogram_family(std::string_view name, std::string_view help,
                                    std::vector<std::string> label_names,
                                    std::vector<double> upper_bounds);

  // Unlabelled shorthands: the family's single child.
  Counter& counter(std::string_view name, std::string_view help);
  Gauge& gauge(std::string_view name, std::string_view help);
  Histogram& histogram(std::string_view name, std::string_view help,
                       std::vector<double> upper_bounds);

  // `type` is kGauge or kCounter. Errors: kInvalidArgument (bad name, label names or
  // type; a counter not ending in `_total`), kAlreadyExists (the name is registered).
  [[nodiscard]] Result<CallbackHandle> add_callback(std::string_view name, std::string_view help,
                                                    MetricType type,
                                                    std::vector<std::string> label_names,
                                                    CallbackFn collect);

  // The whole exposition (ends with a newline unless empty).
  std::string expose() const;
  // Appends the exposition to `out` (lets a caller reuse a buffer).
  void expose_to(std::string& out) const;

 private:
  friend class CallbackHandle;
  template <typename Metric>
  Family<Metric>& register_family(std::string_view name, std::string_view help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> upper_bounds);
  void remove_callback(const std::string& name, std::uint64_t id);

  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<detail::Collectable>, std::less<>> entries_;
  std::uint64_t next_callback_id_ = 1;
};

}  // namespace sbx::metrics
