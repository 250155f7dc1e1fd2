#include "src/metrics/family.h"

#include <cstdio>
#include <cstdlib>
#include <limits>

#include "src/metrics/text_format.h"

namespace sbx::metrics {

std::string_view to_string(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

namespace detail {

void contract_violation(std::string_view family, std::string_view what) {
  std::fprintf(stderr, "sandboxd metrics: %.*s: %.*s\n", static_cast<int>(family.size()),
               family.data(), static_cast<int>(what.size()), what.data());
  std::fflush(stderr);
  std::abort();
}

void write_header(std::string& out, const std::string& name, const std::string& help,
                  MetricType type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  append_escaped_help(out, help);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += to_string(type);
  out += '\n';
}

namespace {

void write_sample(std::string& out, std::string_view name, std::string_view suffix,
                  std::span<const std::string> label_names,
                  std::span<const std::string> label_values, double value,
                  std::string_view extra_name = {}, std::string_view extra_value = {}) {
  out += name;
  out += suffix;
  append_labels(out, label_names, label_values, extra_name, extra_value);
  out += ' ';
  append_value(out, value);
  out += '\n';
}

}  // namespace

void write_child(std::string& out, const std::string& name,
                 std::span<const std::string> label_names,
                 std::span<const std::string> label_values, const Counter& c) {
  write_sample(out, name, {}, label_names, label_values, c.value());
}

void write_child(std::string& out, const std::string& name,
                 std::span<const std::string> label_names,
                 std::span<const std::string> label_values, const Gauge& g) {
  write_sample(out, name, {}, label_names, label_values, g.value());
}

void write_child(std::string& out, const std::string& name,
                 std::span<const std::string> label_names,
                 std::span<const std::string> label_values, const Histogram& h) {
  const Histogram::Snapshot s = h.snapshot();
  const auto bounds = h.upper_bounds();
  // `{a="x",b="y",` (or `{`), escaped once and reused by every bucket line.
  std::string prefix;
  append_labels(prefix, label_names, label_values);
  if (prefix.empty()) {
    prefix.push_back('{');
  } else {
    prefix.back() = ',';
  }
  auto bucket = [&](double bound, std::uint64_t count) {
    out += name;
    out += "_bucket";
    out += prefix;
    out += "le=\"";
    append_value(out, bound);
    out += "\"} ";
    append_value(out, static_cast<double>(count));
    out += '\n';
  };
  for (std::size_t i = 0; i < bounds.size(); ++i) bucket(bounds[i], s.cumulative[i]);
  bucket(std::numeric_limits<double>::infinity(), s.count);
  write_sample(out, name, "_sum", label_names, label_values, s.sum);
  write_sample(out, name, "_count", label_names, label_values, static_cast<double>(s.count));
}

}  // namespace detail

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

}  // namespace sbx::metrics
