#include "src/metrics/registry.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <mutex>
#include <set>

#include "src/metrics/text_format.h"

namespace sbx::metrics {

namespace {

// Empty when valid, else what is wrong.
std::string check_names(std::string_view name, MetricType type,
                        const std::vector<std::string>& label_names) {
  if (!is_valid_metric_name(name)) return "invalid metric name";
  if (type == MetricType::kCounter && !name.ends_with("_total")) {
    return "counter names must end in _total";
  }
  std::set<std::string_view> seen;
  for (const auto& label : label_names) {
    if (!is_valid_label_name(label)) return "invalid label name '" + label + "'";
    if (type == MetricType::kHistogram && label == "le") {
      return "'le' is reserved for histogram buckets";
    }
    if (!seen.insert(label).second) return "duplicate label name '" + label + "'";
  }
  return {};
}

class CallbackFamily final : public detail::Collectable {
 public:
  CallbackFamily(std::string name, std::string help, MetricType type,
                 std::vector<std::string> label_names, CallbackFn collect, std::uint64_t id)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(type),
        label_names_(std::move(label_names)),
        collect_(std::move(collect)),
        id_(id) {}

  std::uint64_t id() const { return id_; }

  void write(std::string& out) const override {
    std::vector<CallbackSample> samples;
    try {
      samples = collect_();
    } catch (const std::exception&) {
      return;  // a failing source leaves its family out of this scrape
    }
    std::erase_if(samples, [this](const CallbackSample& s) {
      return s.label_values.size() != label_names_.size();
    });
    if (samples.empty()) return;
    std::stable_sort(samples.begin(), samples.end(), [](const auto& a, const auto& b) {
      return detail::LabelValuesLess{}(a.label_values, b.label_values);
    });
    auto last = std::unique(samples.begin(), samples.end(), [](const auto& a, const auto& b) {
      return a.label_values == b.label_values;
    });
    samples.erase(last, samples.end());
    detail::write_header(out, name_, help_, type_);
    for (const auto& s : samples) {
      out += name_;
      append_labels(out, label_names_, s.label_values);
      out += ' ';
      append_value(out, s.value);
      out += '\n';
    }
  }

 private:
  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
  const CallbackFn collect_;
  const std::uint64_t id_;
};

}  // namespace

CallbackHandle::CallbackHandle(CallbackHandle&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)),
      name_(std::move(other.name_)),
      id_(other.id_) {}

CallbackHandle& CallbackHandle::operator=(CallbackHandle&& other) noexcept {
  if (this != &other) {
    reset();
    registry_ = std::exchange(other.registry_, nullptr);
    name_ = std::move(other.name_);
    id_ = other.id_;
  }
  return *this;
}

CallbackHandle::~CallbackHandle() { reset(); }

void CallbackHandle::reset() {
  if (registry_ != nullptr) {
    std::exchange(registry_, nullptr)->remove_callback(name_, id_);
  }
}

Registry::~Registry() = default;

template <typename Metric>
Family<Metric>& Registry::register_family(std::string_view name, std::string_view help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> upper_bounds) {
  constexpr MetricType kType = Family<Metric>::kType;
  if (std::string problem = check_names(name, kType, label_names); !problem.empty()) {
    detail::contract_violation(name, problem);
  }
  if constexpr (kType == MetricType::kHistogram) {
    if (!upper_bounds.empty() && std::isinf(upper_bounds.back()) && upper_bounds.back() > 0) {
      upper_bounds.pop_back();
    }
    for (std::size_t i = 0; i < upper_bounds.size(); ++i) {
      if (!std::isfinite(upper_bounds[i]) || (i > 0 && !(upper_bounds[i - 1] < upper_bounds[i]))) {
        detail::contract_violation(name, "bucket bounds must be finite and strictly increasing");
      }
    }
  }
  std::unique_lock lock(mu_);
  if (auto it = entries_.find(name); it != entries_.end()) {
    auto* existing = dynamic_cast<Family<Metric>*>(it->second.get());
    if (existing == nullptr || existing->help() != help || existing->label_names() != label_names ||
        existing->upper_bounds() != upper_bounds) {
      detail::contract_violation(name, "already registered with a different definition");
    }
    return *existing;
  }
  auto family = std::make_unique<Family<Metric>>(std::string(name), std::string(help),
                                                 std::move(label_names), std::move(upper_bounds));
  auto& ref = *family;
  entries_.emplace(std::string(name), std::move(family));
  return ref;
}

CounterFamily& Registry::counter_family(std::string_view name, std::string_view help,
                                        std::vector<std::string> label_names) {
  return register_family<Counter>(name, help, std::move(label_names), {});
}

GaugeFamily& Registry::gauge_family(std::string_view name, std::string_view help,
                                    std::vector<std::string> label_names) {
  return register_family<Gauge>(name, help, std::move(label_names), {});
}

HistogramFamily& Registry::histogram_family(std::string_view name, std::string_view help,
                                            std::vector<std::string> label_names,
                                            std::vector<double> upper_bounds) {
  return register_family<Histogram>(name, help, std::move(label_names), std::move(upper_bounds));
}

Counter& Registry::counter(std::string_view name, std::string_view help) {
  return counter_family(name, help, {}).with({});
}

Gauge& Registry::gauge(std::string_view name, std::string_view help) {
  return gauge_family(name, help, {}).with({});
}

Histogram& Registry::histogram(std::string_view name, std::string_view help,
                               std::vector<double> upper_bounds) {
  return histogram_family(name, help, {}, std::move(upper_bounds)).with({});
}

Result<CallbackHandle> Registry::add_callback(std::string_view name, std::string_view help,
                                              MetricType type, std::vector<std::string> label_names,
                                              CallbackFn collect) {
  if (type == MetricType::kHistogram) {
    return fail(ErrorCode::kInvalidArgument,
                "callback metric " + std::string(name) + ": only gauges and counters");
  }
  if (std::string problem = check_names(name, type, label_names); !problem.empty()) {
    return fail(ErrorCode::kInvalidArgument,
                "callback metric " + std::string(name) + ": " + problem);
  }
  if (!collect) {
    return fail(ErrorCode::kInvalidArgument,
                "callback metric " + std::string(name) + ": no function");
  }
  std::unique_lock lock(mu_);
  if (entries_.contains(name)) {
    return fail(ErrorCode::kAlreadyExists,
                "metric " + std::string(name) + " is already registered");
  }
  const std::uint64_t id = next_callback_id_++;
  entries_.emplace(std::string(name), std::make_unique<CallbackFamily>(
                                          std::string(name), std::string(help), type,
                                          std::move(label_names), std::move(collect), id));
  return CallbackHandle(this, std::string(name), id);
}

void Registry::remove_callback(const std::string& name, std::uint64_t id) {
  std::unique_lock lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  auto* cb = dynamic_cast<CallbackFamily*>(it->second.get());
  if (cb != nullptr && cb->id() == id) entries_.erase(it);
}

std::string Registry::expose() const {
  std::string out;
  expose_to(out);
  return out;
}

void Registry::expose_to(std::string& out) const {
  std::shared_lock lock(mu_);
  for (const auto& [name, entry] : entries_) entry->write(out);
}

}  // namespace sbx::metrics
