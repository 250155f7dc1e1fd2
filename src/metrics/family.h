// Family<Metric>: one metric name with a fixed list of label names, and one child
// (Counter, Gauge or Histogram) per distinct list of label values.
//
//   auto& requests = registry.counter_family("sandboxd_http_requests_total", "...",
//                                            {"method", "route", "status"});
//   Counter& ok = requests.with({"GET", "/v1/sandboxes/{id}", "200"});  // cache this
//   ok.inc();
//
// Thread-safe. with() takes a shared lock and looks the values up in a hash map without
// allocating;
// only the first call for a new label set takes the exclusive lock and creates the child.
// Children are never removed: the returned reference is valid for the Registry's
// lifetime. Label values are free text (escaped at exposition) but must have bounded
// cardinality: use route templates, never ids.
//
// Errors: passing a number of label values different from the number of label names is
// a programming error; it aborts the process with a message naming the family.
//
// Families are created and owned by the Registry (registry.h); exposition writes
// children sorted by label values, so the output is deterministic.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "src/metrics/counter.h"
#include "src/metrics/gauge.h"
#include "src/metrics/histogram.h"

namespace sbx::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };
// "counter", "gauge", "histogram": the word used on the `# TYPE` line.
std::string_view to_string(MetricType type);

namespace detail {

// What the Registry keeps per metric name: something that can write its samples.
class Collectable {
 public:
  virtual ~Collectable() = default;
  // Appends `# HELP`, `# TYPE` and the sample lines; appends nothing when there is no
  // sample (a labelled family before its first child).
  virtual void write(std::string& out) const = 0;
};

// Orders label-value lists lexicographically; transparent so that a list of
// string_views finds a stored list of strings without building one.
struct LabelValuesLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(),
        [](std::string_view x, std::string_view y) { return x < y; });
  }
};

// Hash and equality over label-value lists, transparent like LabelValuesLess.
struct LabelValuesHash {
  using is_transparent = void;
  template <typename Values>
  std::size_t operator()(const Values& values) const {
    std::size_t h = values.size();
    for (std::string_view v : values) {
      h ^= std::hash<std::string_view>{}(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    }
    return h;
  }
};
struct LabelValuesEqual {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](std::string_view x, std::string_view y) { return x == y; });
  }
};

[[noreturn]] void contract_violation(std::string_view family, std::string_view what);

void write_header(std::string& out, const std::string& name, const std::string& help,
                  MetricType type);
void write_child(std::string& out, const std::string& name,
                 std::span<const std::string> label_names,
                 std::span<const std::string> label_values, const Counter& c);
void write_child(std::string& out, const std::string& name,
                 std::span<const std::string> label_names,
                 std::span<const std::string> label_values, const Gauge& g);
void write_child(std::string& out, const std::string& name,
                 std::span<const std::string> label_names,
                 std::span<const std::string> label_values, const Histogram& h);

}  // namespace detail

template <typename Metric>
class Family final : public detail::Collectable {
 public:
  static constexpr MetricType kType = std::is_same_v<Metric, Counter> ? MetricType::kCounter
                                      : std::is_same_v<Metric, Gauge> ? MetricType::kGauge
                                                                      : MetricType::kHistogram;

  // Built by the Registry, which validates the names first. `upper_bounds` only for
  // histograms.
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> upper_bounds = {})
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        bounds_(std::move(upper_bounds)) {
    if (label_names_.empty()) with(std::span<const std::string_view>{});
  }
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  Metric& with(std::initializer_list<std::string_view> label_values) {
    return get(std::span<const std::string_view>(label_values.begin(), label_values.size()));
  }
  Metric& with(std::span<const std::string_view> label_values) { return get(label_values); }
  Metric& with(std::span<const std::string> label_values) { return get(label_values); }
  Metric& with(const std::vector<std::string>& label_values) {
    return get(std::span<const std::string>(label_values));
  }

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  const std::vector<double>& upper_bounds() const { return bounds_; }
  std::size_t size() const {
    std::shared_lock lock(mu_);
    return children_.size();
  }

  void write(std::string& out) const override {
    std::shared_lock lock(mu_);
    if (children_.empty()) return;
    std::vector<const typename Children::value_type*> sorted;
    sorted.reserve(children_.size());
    for (const auto& entry : children_) sorted.push_back(&entry);
    std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) {
      return detail::LabelValuesLess{}(a->first, b->first);
    });
    detail::write_header(out, name_, help_, kType);
    for (const auto* entry : sorted) {
      detail::write_child(out, name_, label_names_, entry->first, *entry->second);
    }
  }

 private:
  template <typename Values>
  Metric& get(const Values& values) {
    if (values.size() != label_names_.size()) {
      detail::contract_violation(name_, "wrong number of label values");
    }
    {
      std::shared_lock lock(mu_);
      if (auto it = children_.find(values); it != children_.end()) return *it->second;
    }
    std::unique_lock lock(mu_);
    if (auto it = children_.find(values); it != children_.end()) return *it->second;
    std::vector<std::string> key(values.begin(), values.end());
    std::unique_ptr<Metric> child;
    if constexpr (std::is_same_v<Metric, Histogram>) {
      child = std::make_unique<Histogram>(std::span<const double>(bounds_));
    } else {
      child = std::make_unique<Metric>();
    }
    return *children_.emplace(std::move(key), std::move(child)).first->second;
  }

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;
  using Children = std::unordered_map<std::vector<std::string>, std::unique_ptr<Metric>,
                                      detail::LabelValuesHash, detail::LabelValuesEqual>;
  mutable std::shared_mutex mu_;
  Children children_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

}  // namespace sbx::metrics
