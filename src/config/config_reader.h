// The machinery of reading a sandboxd TOML file into a Config (internal to src/config):
// Ctx holds the first error and every warning of one parse, with file:line messages;
// Section reads the keys of one table, remembering each key asked for so that finish()
// warns about unknown ones (with a "did you mean" for a close match); and the value checks
// that both the file and the environment overrides apply.
//
// Not thread-safe per object (one parse at a time); the functions are pure.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "events/integer.h"
#include "events/result.h"
#include "src/config/config.h"

namespace sbx::config_internal {

inline constexpr int64_t kNoMax = std::numeric_limits<int64_t>::max();
inline constexpr std::string_view kDockerHostRequirement =
    "expected unix:///PATH or tcp://HOST:PORT";

// A string as a TOML-ish quoted literal ("a\"b"), for messages.
std::string quote(std::string_view s);
// How a TOML value is shown after "got".
std::string describe(const toml::node& n);
// ">= lo" or "in lo..hi".
std::string range_text(int64_t lo, int64_t hi);
inline int line_of(const toml::source_region& r) { return static_cast<int>(r.begin.line); }
size_t edit_distance(std::string_view a, std::string_view b);
std::string upper(std::string_view s);

bool is_ip_address(std::string_view s);
bool is_docker_host(std::string_view s);
bool is_absolute_path(std::string_view s);
// proxy.signing_secret: at least 16 bytes, no NUL.
bool is_signing_secret(std::string_view s);
inline constexpr std::string_view kSigningSecretRequirement =
    "expected a secret of at least 16 bytes (e.g. 32 random bytes in hex)";
// Docker bind syntax "SRC:DST[:ro|:rw]", both absolute without ".." segments or NUL.
bool is_docker_bind(std::string_view s);
// An environment variable name: non-empty, without '=' or NUL.
bool is_env_name(std::string_view s);
// "LOW-HIGH" with 1 <= LOW <= HIGH <= 65535.
std::optional<std::pair<int, int>> parse_port_range(std::string_view s);

// The first error and every warning of one parse.
struct Ctx {
  std::string file;
  std::vector<ConfigWarning>& warnings;
  std::optional<Error> error;

  std::string where(int line) const { return line > 0 ? file + ":" + std::to_string(line) : file; }
  void fail(int line, const std::string& key, std::string_view what) {
    if (error) return;
    error = Error(ErrorCode::kInvalidArgument, where(line) + ": " + key + ": " + std::string(what),
                  key);
  }
  void warn(int line, std::string key, std::string_view what) {
    warnings.push_back(
        ConfigWarning{file, line, std::move(key), where(line) + ": " + std::string(what)});
  }
};

// Reads the keys of one TOML table (which may be absent: then every key keeps its
// default). Every key asked for is remembered as known; finish() warns about the others.
// After the first error every read is a no-op.
class Section {
 public:
  Section(Ctx& ctx, const toml::table* table, std::string prefix)
      : ctx_(ctx), table_(table), prefix_(std::move(prefix)) {}

  std::string key_path(std::string_view k) const {
    return prefix_.empty() ? std::string(k) : prefix_ + "." + std::string(k);
  }

  bool present() const { return table_ != nullptr; }

  // The line of key `k` if set, else of the table itself, else 0.
  int line_of_key(std::string_view k) const {
    if (table_ == nullptr) return 0;
    if (const toml::node* n = table_->get(k)) return line_of(n->source());
    return line_of(table_->source());
  }

  bool has(std::string_view k) const { return table_ != nullptr && table_->get(k) != nullptr; }

  void string(std::string_view k, std::string& out) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    const auto* s = n->as_string();
    if (s == nullptr || s->get().empty()) return bad(*n, k, "expected a non-empty string");
    out = s->get();
  }

  // "" means unset.
  void optional_string(std::string_view k, std::optional<std::string>& out) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    const auto* s = n->as_string();
    if (s == nullptr) return bad(*n, k, "expected a string");
    if (s->get().empty()) {
      out.reset();
    } else {
      out = s->get();
    }
  }

  // A non-empty string accepted by `ok`; otherwise `requirement` is the message.
  void checked_string(std::string_view k, std::string& out, bool (*ok)(std::string_view),
                      std::string_view requirement) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    const auto* s = n->as_string();
    if (s == nullptr || !ok(s->get())) return bad(*n, k, requirement);
    out = s->get();
  }

  // An optional string (empty = unset) that, when set, `ok` accepts.
  void optional_checked_string(std::string_view k, std::optional<std::string>& out,
                               bool (*ok)(std::string_view), std::string_view requirement) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    const auto* s = n->as_string();
    if (s == nullptr || (!s->get().empty() && !ok(s->get()))) return bad(*n, k, requirement);
    if (s->get().empty()) {
      out.reset();
    } else {
      out = s->get();
    }
  }

  // A finite number (TOML integer or float) greater than 0.
  void positive_number(std::string_view k, double& out) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    double v = 0;
    if (const auto* i = n->as_integer()) {
      v = static_cast<double>(i->get());
    } else if (const auto* f = n->as_floating_point()) {
      v = f->get();
    } else {
      return bad(*n, k, "expected a number > 0");
    }
    if (!(v > 0) || v == std::numeric_limits<double>::infinity()) {
      return bad(*n, k, "expected a number > 0");
    }
    out = v;
  }

  // A key this version knows but does not act on: never an error; when set, a warning
  // that says `why` instead of "unknown key".
  void not_honoured(std::string_view k, std::string_view why) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    ctx_.warn(line_of(n->source()), key_path(k),
              key_path(k) + " is not honoured by this version (ignored): " + std::string(why));
  }

  template <typename I>
  void integer(std::string_view k, int64_t lo, int64_t hi, I& out) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    const auto* i = n->as_integer();
    if (i == nullptr || i->get() < lo || i->get() > hi) {
      return bad(*n, k, "expected an integer " + range_text(lo, hi));
    }
    out = static_cast<I>(i->get());
  }

  void optional_integer(std::string_view k, int64_t lo, int64_t hi, std::optional<int64_t>& out) {
    int64_t v = 0;
    if (!has(k)) {
      find(k);
      return;
    }
    integer(k, lo, hi, v);
    if (!ctx_.error) out = v;
  }

  void boolean(std::string_view k, bool& out) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    const auto* b = n->as_boolean();
    if (b == nullptr) return bad(*n, k, "expected true or false");
    out = b->get();
  }

  // An array of non-empty strings, each accepted by `ok` (when given).
  void string_list(std::string_view k, std::vector<std::string>& out,
                   bool (*ok)(std::string_view) = nullptr,
                   std::string_view requirement = "expected an array of non-empty strings") {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    const auto* arr = n->as_array();
    if (arr == nullptr) return bad(*n, k, requirement);
    std::vector<std::string> values;
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::node& e = *arr->get(i);
      const auto* s = e.as_string();
      if (s == nullptr || s->get().empty() || (ok != nullptr && !ok(s->get()))) {
        ctx_.fail(
            line_of(e.source()), key_path(k),
            std::string(requirement) + ", got " + describe(e) + " at index " + std::to_string(i));
        return;
      }
      values.push_back(s->get());
    }
    out = std::move(values);
  }

  // A table of strings (string -> string); keys accepted by `key_ok`, values without NUL.
  void string_table(std::string_view k, std::map<std::string, std::string>& out,
                    bool (*key_ok)(std::string_view), std::string_view key_requirement) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    const auto* t = n->as_table();
    if (t == nullptr) return bad(*n, k, "expected a table of strings");
    std::map<std::string, std::string> values;
    for (auto&& [key, node] : *t) {
      const std::string name(key.str());
      const auto* s = node.as_string();
      if (!key_ok(name)) {
        ctx_.fail(line_of(key.source()), key_path(k) + "." + name, key_requirement);
        return;
      }
      if (s == nullptr || s->get().find('\0') != std::string::npos) {
        ctx_.fail(line_of(node.source()), key_path(k) + "." + name,
                  "expected a string without NUL, got " + describe(node));
        return;
      }
      values[name] = s->get();
    }
    out = std::move(values);
  }

  template <typename E>
  void choice(std::string_view k, std::initializer_list<std::pair<std::string_view, E>> options,
              E& out) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    if (const auto* s = n->as_string()) {
      for (const auto& [name, value] : options) {
        if (s->get() == name) {
          out = value;
          return;
        }
      }
    }
    std::string want = "expected one of ";
    bool first = true;
    for (const auto& [name, value] : options) {
      want += (first ? "" : ", ") + quote(name);
      first = false;
    }
    bad(*n, k, want);
  }

  void log_level(std::string_view k, std::string& out) {
    const toml::node* n = find(k);
    if (n == nullptr) return;
    if (const auto* s = n->as_string()) {
      std::string level = upper(s->get());
      for (std::string_view name : {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}) {
        if (level == name) {
          out = level;
          return;
        }
      }
    }
    bad(*n, k, "expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL (any case)");
  }

  Section table(std::string_view k) {
    const toml::node* n = find(k);
    if (n != nullptr && !n->is_table()) {
      bad(*n, k, "expected a table");
      n = nullptr;
    }
    return Section(ctx_, n == nullptr ? nullptr : n->as_table(), key_path(k));
  }

  // Warns about every key of the table that no read asked for.
  void finish() {
    if (table_ == nullptr || ctx_.error) return;
    for (auto&& [key, node] : *table_) {
      const std::string name(key.str());
      if (known_.contains(name)) continue;
      std::string full = key_path(name);
      std::string msg = (node.is_table() ? "unknown table " : "unknown key ") + full + " (ignored";
      std::string_view best;
      size_t best_distance = 3;  // suggest only close matches
      for (const std::string& candidate : known_) {
        size_t d = edit_distance(name, candidate);
        if (d < best_distance) {
          best_distance = d;
          best = candidate;
        }
      }
      if (!best.empty()) msg += "; did you mean " + key_path(best) + "?";
      msg += ")";
      ctx_.warn(line_of(key.source()), full, msg);
    }
  }

 private:
  const toml::node* find(std::string_view k) {
    known_.emplace(k);
    if (table_ == nullptr || ctx_.error) return nullptr;
    return table_->get(k);
  }

  void bad(const toml::node& n, std::string_view k, std::string_view what) {
    ctx_.fail(line_of(n.source()), key_path(k), std::string(what) + ", got " + describe(n));
  }

  Ctx& ctx_;
  const toml::table* table_;
  std::string prefix_;
  std::set<std::string, std::less<>> known_;
};

}  // namespace sbx::config_internal
