#include "events/codec.h"

#include <simdjson.h>

#include <charconv>
#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <utility>

#include "events/json_writer.h"

namespace sbx {
namespace {

using ojson = nlohmann::ordered_json;
namespace dom = simdjson::dom;

// ---------------------------------------------------------------------------------------
// Schema versions. Bump the number when a payload changes shape, add an upcaster from the
// previous version below, and add tests/events/golden/<Type>.v<N>.json.
struct SchemaVersion {
  std::string_view type;
  int current;
};
constexpr SchemaVersion kSchemaVersions[] = {
    {"SandboxRequested", 3},   {"ProvisioningStarted", 1}, {"SandboxStarted", 1},
    {"ProvisioningFailed", 1}, {"PauseRequested", 1},      {"SandboxPaused", 1},
    {"PauseFailed", 1},        {"ResumeRequested", 1},     {"SandboxResumed", 1},
    {"ResumeFailed", 1},       {"ExpirationRenewed", 1},   {"MetadataPatched", 1},
    {"DeletionRequested", 1},  {"SandboxTerminated", 1},   {"SandboxFailed", 1},
    {"ServerStarted", 1},      {"OrphanRemoved", 1},       {"ReconcileFinding", 1},
    {"MigrationApplied", 1},   {"SandboxAdopted", 1},
    {"NetworkPolicyChanged", 1},
    {"SnapshotRequested", 1},  {"SnapshotReady", 1},       {"SnapshotFailed", 1},
    {"SnapshotDeletionRequested", 1}, {"SnapshotDeleted", 1},
    {"SandboxClaimed", 1},     {"PoolCreated", 1},         {"PoolCapacityChanged", 1},
    {"PoolDeleted", 1},
};
static_assert(std::size(kSchemaVersions) == std::variant_size_v<EventData>);

// Schema version of the projection record written by encode_sandbox.
constexpr int kSandboxRecordSchema = 1;
// Schema version of the projection record written by encode_pool.
constexpr int kPoolRecordSchema = 1;
// Schema version of the projection record written by encode_snapshot.
constexpr int kSnapshotRecordSchema = 1;

struct DecodeError {
  std::string message;
};

[[noreturn]] void bad(std::string message) { throw DecodeError{std::move(message)}; }

// ---------------------------------------------------------------------------------------
// Upcasters: rewrite the `data` of (type, from) into the shape of schema from + 1. They
// run on the rare old payload only, so they work on a parsed nlohmann document.
struct UpcastContext {
  Micros time;  // the envelope time of the event
};
using UpcastFn = void (*)(ojson& data, const UpcastContext& ctx);
struct Upcaster {
  std::string_view type;
  int from;
  UpcastFn apply;
};

// SandboxRequested v1 -> v2: v1 stored the relative `timeoutSeconds` beside the spec and
// no deadline; v2 keeps the timeout inside the spec and stores the absolute `expiresAt`
// (event time + timeout), so that the expiry index never depends on when it was rebuilt.
void sandbox_requested_v1_to_v2(ojson& data, const UpcastContext& c) {
  auto it = data.find("timeoutSeconds");
  if (it == data.end() || it->is_null()) {
    if (it != data.end()) data.erase(it);
    return;
  }
  if (!it->is_number_integer()) bad("SandboxRequested v1: timeoutSeconds: expected an integer");
  const std::int64_t timeout = it->get<std::int64_t>();
  if (timeout < 0 || timeout > std::int64_t{100} * 365 * 86400)
    bad("SandboxRequested v1: timeoutSeconds out of range: " + std::to_string(timeout));
  data.erase(it);
  if (!data.contains("spec") || !data["spec"].is_object()) data["spec"] = ojson::object();
  data["spec"]["timeoutSeconds"] = timeout;
  data["expiresAt"] = format_rfc3339(c.time + timeout * kMicrosPerSecond);
}

// SandboxRequested v2 -> v3: v2 stored the registry credentials in the log
// (`spec.imageAuth` {username, password}); v3 records only that they were given
// (`spec.imageAuth` {"provided": true}) and the store keeps the credentials apart
// (store/FORMAT.md "secrets"). Migration 3 scrubs them from stored v1/v2 events in place;
// this drops them from any that were not (so they never reach a projection or an output).
void sandbox_requested_v2_to_v3(ojson& data, const UpcastContext&) {
  auto spec = data.find("spec");
  if (spec == data.end() || !spec->is_object()) return;
  auto auth = spec->find("imageAuth");
  if (auth == spec->end()) return;
  if (auth->is_null()) {
    spec->erase(auth);
    return;
  }
  *auth = ojson{{"provided", true}};
}

constexpr Upcaster kUpcasters[] = {
    {"SandboxRequested", 1, &sandbox_requested_v1_to_v2},
    {"SandboxRequested", 2, &sandbox_requested_v2_to_v3},
};

// ---------------------------------------------------------------------------------------
// Encoding: written directly with JsonWriter, in the key order nlohmann's ordered_json
// documents had (the bytes are the same; tests/events/encoding_identity_test.cpp).
void write_string_map(JsonWriter& w, const std::map<std::string, std::string>& m) {
  w.begin_object();
  for (const auto& [k, v] : m) w.member(k, v);
  w.end_object();
}

void write_string_array(JsonWriter& w, const std::vector<std::string>& v) {
  w.begin_array();
  for (const auto& s : v) w.value(s);
  w.end_array();
}

void write_spec(JsonWriter& w, const SandboxSpec& s) {
  w.begin_object();
  w.member("imageUri", s.image_uri);
  if (s.image_auth_provided) {
    w.key("imageAuth");
    w.begin_object();
    w.member("provided", true);
    w.end_object();
  }
  w.member("snapshotId", s.snapshot_id);
  w.key("entrypoint");
  write_string_array(w, s.entrypoint);
  w.key("env");
  write_string_map(w, s.env);
  w.key("resourceLimits");
  write_string_map(w, s.resource_limits);
  if (s.platform) {
    w.key("platform");
    w.begin_object();
    w.member("os", s.platform->os);
    w.member("arch", s.platform->arch);
    w.end_object();
  }
  if (s.timeout_seconds) w.member("timeoutSeconds", *s.timeout_seconds);
  w.member("networkMode", s.network_mode);
  w.key("ports");
  w.begin_object();
  for (const auto& [container, host] : s.ports) {
    char buf[16];
    const auto r = std::to_chars(buf, buf + sizeof buf, container);
    w.member(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)), host);
  }
  w.end_object();
  if (!s.network_policy_json.empty()) w.member("networkPolicyJson", s.network_policy_json);
  if (!s.volumes_json.empty()) w.member("volumesJson", s.volumes_json);
  if (!s.extensions_json.empty()) w.member("extensionsJson", s.extensions_json);
  if (!s.pool_name.empty()) {
    w.member("poolName", s.pool_name);
    w.member("poolGeneration", s.pool_generation);
  }
  if (!s.pool_ref.empty()) w.member("poolRef", s.pool_ref);
  w.end_object();
}

void write_capacity(JsonWriter& w, const PoolCapacity& c) {
  w.begin_object();
  w.member("bufferMin", c.buffer_min);
  w.member("bufferMax", c.buffer_max);
  w.member("poolMin", c.pool_min);
  w.member("poolMax", c.pool_max);
  w.end_object();
}

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};

void write_data(JsonWriter& w, const EventData& data) {
  w.begin_object();
  std::visit(Overloaded{
                 [&](const SandboxRequested& e) {
                   w.member("sandboxId", e.sandbox_id);
                   w.key("spec");
                   write_spec(w, e.spec);
                   w.key("metadata");
                   write_string_map(w, e.metadata);
                   if (e.expires_at) w.time_member("expiresAt", *e.expires_at);
                 },
                 [&](const SandboxAdopted& e) {
                   w.member("sandboxId", e.sandbox_id);
                   w.member("runtimeId", e.runtime_id);
                   w.key("spec");
                   write_spec(w, e.spec);
                   w.key("metadata");
                   write_string_map(w, e.metadata);
                   if (e.expires_at) w.time_member("expiresAt", *e.expires_at);
                   w.member("state", to_string(e.state));
                   if (e.created_at != 0) w.time_member("createdAt", e.created_at);
                   w.member("source", e.source);
                 },
                 [&](const ProvisioningStarted& e) { w.member("worker", e.worker); },
                 [&](const SandboxStarted& e) {
                   w.member("runtimeId", e.runtime_id);
                   if (!e.address.empty()) w.member("address", e.address);
                   if (!e.created_volumes.empty()) {
                     w.key("createdVolumes");
                     write_string_array(w, e.created_volumes);
                   }
                 },
                 [&](const ProvisioningFailed& e) {
                   w.member("errorCode", e.error_code);
                   w.member("message", e.message);
                 },
                 [&](const PauseFailed& e) { w.member("message", e.message); },
                 [&](const ResumeFailed& e) { w.member("message", e.message); },
                 [&](const ExpirationRenewed& e) { w.time_member("expiresAt", e.expires_at); },
                 [&](const NetworkPolicyChanged& e) {
                   w.member("method", e.method);
                   w.member("policy", e.policy);
                 },
                 [&](const MetadataPatched& e) {
                   w.key("set");
                   write_string_map(w, e.set);
                   w.key("removed");
                   write_string_array(w, e.removed);
                 },
                 [&](const SandboxTerminated& e) {
                   if (e.exit_code) w.member("exitCode", *e.exit_code);
                   w.member("message", e.message);
                 },
                 [&](const SandboxFailed& e) {
                   w.member("errorCode", e.error_code);
                   w.member("message", e.message);
                   if (e.exit_code) w.member("exitCode", *e.exit_code);
                 },
                 [&](const ServerStarted& e) {
                   w.member("version", e.version);
                   w.member("liveSandboxes", e.live_sandboxes);
                 },
                 [&](const OrphanRemoved& e) {
                   w.member("runtimeId", e.runtime_id);
                   w.member("sandboxId", e.sandbox_id);
                 },
                 [&](const ReconcileFinding& e) {
                   w.member("kind", e.kind);
                   w.member("sandboxId", e.sandbox_id);
                   w.member("detail", e.detail);
                 },
                 [&](const MigrationApplied& e) {
                   w.member("schemaVersion", e.schema_version);
                   w.member("name", e.name);
                 },
                 [&](const SnapshotRequested& e) {
                   w.member("snapshotId", e.snapshot_id);
                   w.member("sandboxId", e.sandbox_id);
                   if (!e.name.empty()) w.member("name", e.name);
                   w.member("imageRef", e.image_ref);
                 },
                 [&](const SnapshotReady& e) { w.member("imageId", e.image_id); },
                 [&](const SandboxClaimed& e) {
                   w.key("metadata");
                   write_string_map(w, e.metadata);
                   if (e.expires_at) w.time_member("expiresAt", *e.expires_at);
                   if (!e.extensions_json.empty()) w.member("extensionsJson", e.extensions_json);
                 },
                 [&](const PoolCreated& e) {
                   w.member("name", e.name);
                   w.key("templateSpec");
                   write_spec(w, e.template_spec);
                   w.member("templateJson", e.template_json);
                   w.key("capacity");
                   write_capacity(w, e.capacity);
                 },
                 [&](const PoolCapacityChanged& e) {
                   w.key("capacity");
                   write_capacity(w, e.capacity);
                 },
                 [&](const SnapshotFailed& e) {
                   w.member("errorCode", e.error_code);
                   w.member("message", e.message);
                 },
                 // PauseRequested, SandboxPaused, ResumeRequested, SandboxResumed,
                 // DeletionRequested, SnapshotDeletionRequested, SnapshotDeleted, PoolDeleted:
                 // no payload.
                 [&](const auto&) {},
             },
             data);
  w.end_object();
}

// Initial buffer sizes: the common documents fit without growing (a SandboxRequested with
// a typical spec is ~600 bytes, its sandbox record ~700).
constexpr std::size_t kEventReserve = 768;
constexpr std::size_t kSandboxReserve = 1024;

// The upcasters' documents (decoding only) are still dumped by nlohmann.
std::string dump(const ojson& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// ---------------------------------------------------------------------------------------
// Decoding (simdjson DOM). Helpers throw DecodeError with the field path; the public
// functions turn it into kDataLoss.
//
// Why DOM and not On Demand (measured on this project's 506-byte sandbox record, g++ 12
// -O2, AMD EPYC; bench/README.md "store"): reading the same fields into the same strings
// took 2.1 us with On Demand and 1.4 us with DOM. Both run stage 1 in libsimdjson, which
// picks its kernel at run time (haswell/westmere/fallback), so building without -mavx2
// costs neither of them the SIMD stage. On Demand's traversal is header code compiled into
// this file (it shows up as `simdjson::fallback::ondemand`, the builtin implementation for
// the baseline target) and cost ~1.6 us per record, just as much when compiled with
// -march=haswell; DOM's stage 2 runs in libsimdjson and its tape walk is cheap. The other
// half of the old cost was ours: a parser and a padded copy allocated per document and a
// std::string field path built for every field. Hence: one parser and one padded buffer
// per thread, and paths that are only spelled out when an error is reported.
//
// DOM validates the whole document, On Demand only what is read: a stored record with
// malformed JSON in a field the decoder skips, or an integer beyond 64 bits anywhere, now
// fails to decode. The encoders never write either.

// The path of a field ("sandbox.spec.ports"), a chain of views on the caller's stack.
struct Path {
  std::string_view name;
  const Path* parent = nullptr;

  std::string str() const {
    if (!parent) return std::string(name);
    std::string s = parent->str();
    s += '.';
    s += name;
    return s;
  }
};

// `key == literal`, compiled to a length check and inline compares of the constant-size
// literal (std::string_view's operator== calls memcmp, the most frequent call of a decode).
template <std::size_t N>
bool is(std::string_view key, const char (&literal)[N]) {
  return key.size() == N - 1 && __builtin_memcmp(key.data(), literal, N - 1) == 0;
}

[[noreturn]] void bad_at(const Path& where, std::string_view what) {
  std::string m = where.str();
  m += ": ";
  m += what;
  bad(std::move(m));
}

using Value = dom::element;
using Object = dom::object;

template <class T>
T check(simdjson::simdjson_result<T> r, const Path& where, std::string_view expected) {
  T v;
  if (auto err = std::move(r).get(v)) [[unlikely]] {
    bad_at(where, std::string("expected ") + std::string(expected) + " (" +
                      simdjson::error_message(err) + ")");
  }
  return v;
}

// Views into the parser's string buffer: valid until the next document on this thread.
std::string_view get_view(Value v, const Path& where) {
  return check(v.get_string(), where, "a string");
}
std::string get_string(Value v, const Path& where) { return std::string(get_view(v, where)); }
std::int64_t get_int(Value v, const Path& where) {
  return check(v.get_int64(), where, "an integer");
}
std::uint64_t get_uint(Value v, const Path& where) {
  return check(v.get_uint64(), where, "an unsigned integer");
}
int get_int32(Value v, const Path& where) {
  const std::int64_t x = get_int(v, where);
  if (x < INT32_MIN || x > INT32_MAX) bad_at(where, "integer out of range");
  return static_cast<int>(x);
}
bool get_bool(Value v, const Path& where) { return check(v.get_bool(), where, "a boolean"); }
Micros get_time(Value v, const Path& where) {
  const std::string_view s = check(v.get_string(), where, "an RFC 3339 time string");
  const auto t = parse_rfc3339(s);
  if (!t) bad_at(where, "not an RFC 3339 time: \"" + std::string(s) + "\"");
  return *t;
}
SandboxState get_state(Value v, const Path& where) {
  const std::string_view s = get_view(v, where);
  for (SandboxState state : kAllStates) {  // the spelling the encoder writes, no case folding
    if (s == to_string(state)) return state;
  }
  const auto state = parse_state(s);
  if (!state) bad_at(where, "unknown state \"" + std::string(s) + "\"");
  return *state;
}
Reason get_reason(Value v, const Path& where) {
  const std::string_view s = get_view(v, where);
  for (Reason r : {Reason::kUser, Reason::kExpired, Reason::kReconcile, Reason::kRuntime}) {
    if (s == to_string(r)) return r;
  }
  const auto reason = parse_reason(s);
  if (!reason) bad_at(where, "unknown reason \"" + std::string(s) + "\"");
  return *reason;
}

// Calls f(key, value, path) for every field of the object `obj`.
template <class F>
void for_each_field(Object obj, const Path& where, F&& f) {
  for (const dom::key_value_pair field : obj) f(field.key, field.value, Path{field.key, &where});
}
template <class F>
void for_each_field(Value v, const Path& where, F&& f) {
  for_each_field(check(v.get_object(), where, "an object"), where, std::forward<F>(f));
}

std::map<std::string, std::string> get_string_map(Value v, const Path& where) {
  std::map<std::string, std::string> m;
  for_each_field(v, where, [&](std::string_view key, Value val, const Path& path) {
    m.insert_or_assign(std::string(key), get_string(val, path));
  });
  return m;
}

std::vector<std::string> get_string_array(Value v, const Path& where) {
  std::vector<std::string> out;
  const dom::array arr = check(v.get_array(), where, "an array");
  out.reserve(arr.size());
  for (const Value item : arr) out.push_back(get_string(item, where));
  return out;
}

int parse_port_key(std::string_view key, const Path& where) {
  int port = 0;
  const auto [ptr, ec] = std::from_chars(key.data(), key.data() + key.size(), port);
  if (ec != std::errc() || ptr != key.data() + key.size() || key.empty())
    bad_at(where, "port key is not an integer");
  return port;
}

// Decodes into `s`; `seen`: `s` holds an earlier "spec" of the same object, which a
// repeated key replaces (the last one wins, as for every other field).
void decode_spec(Value v, const Path& where, SandboxSpec& s, bool& seen) {
  if (seen) s = SandboxSpec{};
  seen = true;
  for_each_field(v, where, [&](std::string_view key, Value val, const Path& path) {
    if (is(key, "imageUri")) {
      s.image_uri = get_string(val, path);
    } else if (is(key, "imageAuth")) {
      // {"provided": true}. A sandbox record written before schema 3 of the store holds
      // {username, password} instead (migration 3 rewrites those): credentials were given,
      // and they are not read.
      bool provided = true;
      for_each_field(val, path, [&](std::string_view k, Value x, const Path& p) {
        if (is(k, "provided")) provided = get_bool(x, p);
      });
      s.image_auth_provided = provided;
    } else if (is(key, "snapshotId")) {
      s.snapshot_id = get_string(val, path);
    } else if (is(key, "entrypoint")) {
      s.entrypoint = get_string_array(val, path);
    } else if (is(key, "env")) {
      s.env = get_string_map(val, path);
    } else if (is(key, "resourceLimits")) {
      s.resource_limits = get_string_map(val, path);
    } else if (is(key, "platform")) {
      Platform p;
      for_each_field(val, path, [&](std::string_view k, Value x, const Path& pp) {
        if (is(k, "os"))
          p.os = get_string(x, pp);
        else if (is(k, "arch"))
          p.arch = get_string(x, pp);
      });
      s.platform = std::move(p);
    } else if (is(key, "timeoutSeconds")) {
      s.timeout_seconds = get_int(val, path);
    } else if (is(key, "networkMode")) {
      s.network_mode = get_string(val, path);
    } else if (is(key, "ports")) {
      for_each_field(val, path, [&](std::string_view k, Value x, const Path& p) {
        s.ports.insert_or_assign(parse_port_key(k, p), get_int32(x, p));
      });
    } else if (is(key, "networkPolicyJson")) {
      s.network_policy_json = get_string(val, path);
    } else if (is(key, "volumesJson")) {
      s.volumes_json = get_string(val, path);
    } else if (is(key, "extensionsJson")) {
      s.extensions_json = get_string(val, path);
    } else if (is(key, "poolName")) {
      s.pool_name = get_string(val, path);
    } else if (is(key, "poolGeneration")) {
      s.pool_generation = get_uint(val, path);
    } else if (is(key, "poolRef")) {
      s.pool_ref = get_string(val, path);
    }
  });
}

PoolCapacity decode_capacity(Value v, const Path& where) {
  PoolCapacity c;
  for_each_field(v, where, [&](std::string_view k, Value x, const Path& p) {
    if (is(k, "bufferMin"))
      c.buffer_min = get_int(x, p);
    else if (is(k, "bufferMax"))
      c.buffer_max = get_int(x, p);
    else if (is(k, "poolMin"))
      c.pool_min = get_int(x, p);
    else if (is(k, "poolMax"))
      c.pool_max = get_int(x, p);
  });
  return c;
}

// Decodes the newest-schema payload of `type`. Unknown fields are ignored (a newer
// writer may add optional ones); missing fields keep their defaults.
EventData decode_data(std::string_view type, Object v) {
  const Path where{"data"};
  auto fields = [&](auto&& f) { for_each_field(v, where, f); };
  if (is(type, "SandboxRequested")) {
    SandboxRequested e;
    bool has_spec = false;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "sandboxId"))
        e.sandbox_id = get_string(x, p);
      else if (is(k, "spec"))
        decode_spec(x, p, e.spec, has_spec);
      else if (is(k, "metadata"))
        e.metadata = get_string_map(x, p);
      else if (is(k, "expiresAt"))
        e.expires_at = get_time(x, p);
    });
    return e;
  }
  if (is(type, "SandboxAdopted")) {
    SandboxAdopted e;
    bool has_spec = false;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "sandboxId")) {
        e.sandbox_id = get_string(x, p);
      } else if (is(k, "runtimeId")) {
        e.runtime_id = get_string(x, p);
      } else if (is(k, "spec")) {
        decode_spec(x, p, e.spec, has_spec);
      } else if (is(k, "metadata")) {
        e.metadata = get_string_map(x, p);
      } else if (is(k, "expiresAt")) {
        e.expires_at = get_time(x, p);
      } else if (is(k, "state")) {
        const std::string name = get_string(x, p);
        const auto st = parse_state(name);
        if (!st || (*st != SandboxState::kRunning && *st != SandboxState::kPaused))
          bad(p.str() + ": an adopted sandbox is Running or Paused, got \"" + name + "\"");
        e.state = *st;
      } else if (is(k, "createdAt")) {
        e.created_at = get_time(x, p);
      } else if (is(k, "source")) {
        e.source = get_string(x, p);
      }
    });
    return e;
  }
  if (is(type, "ProvisioningStarted")) {
    ProvisioningStarted e;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "worker")) e.worker = get_string(x, p);
    });
    return e;
  }
  if (is(type, "SandboxStarted")) {
    SandboxStarted e;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "runtimeId"))
        e.runtime_id = get_string(x, p);
      else if (is(k, "address"))
        e.address = get_string(x, p);
      else if (is(k, "createdVolumes"))
        e.created_volumes = get_string_array(x, p);
    });
    return e;
  }
  if (is(type, "ProvisioningFailed")) {
    ProvisioningFailed e;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "errorCode"))
        e.error_code = get_string(x, p);
      else if (is(k, "message"))
        e.message = get_string(x, p);
    });
    return e;
  }
  auto empty = [&]<class T>(T e) -> EventData {
    fields([](std::string_view, Value, const Path&) {});
    return e;
  };
  if (is(type, "PauseRequested")) return empty(PauseRequested{});
  if (is(type, "SandboxPaused")) return empty(SandboxPaused{});
  if (is(type, "ResumeRequested")) return empty(ResumeRequested{});
  if (is(type, "SandboxResumed")) return empty(SandboxResumed{});
  if (is(type, "DeletionRequested")) return empty(DeletionRequested{});
  if (is(type, "SnapshotDeletionRequested")) return empty(SnapshotDeletionRequested{});
  if (is(type, "SnapshotDeleted")) return empty(SnapshotDeleted{});
  if (is(type, "PoolDeleted")) return empty(PoolDeleted{});
  if (is(type, "SandboxClaimed")) {
    SandboxClaimed e;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "metadata"))
        e.metadata = get_string_map(x, p);
      else if (is(k, "expiresAt"))
        e.expires_at = get_time(x, p);
      else if (is(k, "extensionsJson"))
        e.extensions_json = get_string(x, p);
    });
    return e;
  }
  if (is(type, "PoolCreated")) {
    PoolCreated e;
    bool has_spec = false, has_capacity = false;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "name"))
        e.name = get_string(x, p);
      else if (is(k, "templateSpec"))
        decode_spec(x, p, e.template_spec, has_spec);
      else if (is(k, "templateJson"))
        e.template_json = get_string(x, p);
      else if (is(k, "capacity")) {
        e.capacity = decode_capacity(x, p);
        has_capacity = true;
      }
    });
    if (e.name.empty()) bad("data.name: missing");
    if (!has_capacity) bad("data.capacity: missing");
    return e;
  }
  if (is(type, "PoolCapacityChanged")) {
    PoolCapacityChanged e;
    bool has_capacity = false;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "capacity")) {
        e.capacity = decode_capacity(x, p);
        has_capacity = true;
      }
    });
    if (!has_capacity) bad("data.capacity: missing");
    return e;
  }
  if (is(type, "SnapshotRequested")) {
    SnapshotRequested e;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "snapshotId"))
        e.snapshot_id = get_string(x, p);
      else if (is(k, "sandboxId"))
        e.sandbox_id = get_string(x, p);
      else if (is(k, "name"))
        e.name = get_string(x, p);
      else if (is(k, "imageRef"))
        e.image_ref = get_string(x, p);
    });
    return e;
  }
  if (is(type, "SnapshotReady")) {
    SnapshotReady e;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "imageId")) e.image_id = get_string(x, p);
    });
    return e;
  }
  if (is(type, "SnapshotFailed")) {
    SnapshotFailed e;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "errorCode"))
        e.error_code = get_string(x, p);
      else if (is(k, "message"))
        e.message = get_string(x, p);
    });
    return e;
  }
  if (is(type, "PauseFailed")) {
    PauseFailed e;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "message")) e.message = get_string(x, p);
    });
    return e;
  }
  if (is(type, "ResumeFailed")) {
    ResumeFailed e;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "message")) e.message = get_string(x, p);
    });
    return e;
  }
  if (is(type, "ExpirationRenewed")) {
    ExpirationRenewed e;
    bool seen = false;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "expiresAt")) {
        e.expires_at = get_time(x, p);
        seen = true;
      }
    });
    if (!seen) bad("data.expiresAt: missing");
    return e;
  }
  if (is(type, "NetworkPolicyChanged")) {
    NetworkPolicyChanged e;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "method"))
        e.method = get_string(x, p);
      else if (is(k, "policy"))
        e.policy = get_string(x, p);
    });
    return e;
  }
  if (is(type, "MetadataPatched")) {
    MetadataPatched e;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "set"))
        e.set = get_string_map(x, p);
      else if (is(k, "removed"))
        e.removed = get_string_array(x, p);
    });
    return e;
  }
  if (is(type, "SandboxTerminated")) {
    SandboxTerminated e;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "exitCode"))
        e.exit_code = get_int32(x, p);
      else if (is(k, "message"))
        e.message = get_string(x, p);
    });
    return e;
  }
  if (is(type, "SandboxFailed")) {
    SandboxFailed e;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "errorCode"))
        e.error_code = get_string(x, p);
      else if (is(k, "message"))
        e.message = get_string(x, p);
      else if (is(k, "exitCode"))
        e.exit_code = get_int32(x, p);
    });
    return e;
  }
  if (is(type, "ServerStarted")) {
    ServerStarted e;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "version"))
        e.version = get_string(x, p);
      else if (is(k, "liveSandboxes"))
        e.live_sandboxes = get_uint(x, p);
    });
    return e;
  }
  if (is(type, "OrphanRemoved")) {
    OrphanRemoved e;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "runtimeId"))
        e.runtime_id = get_string(x, p);
      else if (is(k, "sandboxId"))
        e.sandbox_id = get_string(x, p);
    });
    return e;
  }
  if (is(type, "ReconcileFinding")) {
    ReconcileFinding e;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "kind"))
        e.kind = get_string(x, p);
      else if (is(k, "sandboxId"))
        e.sandbox_id = get_string(x, p);
      else if (is(k, "detail"))
        e.detail = get_string(x, p);
    });
    return e;
  }
  if (is(type, "MigrationApplied")) {
    MigrationApplied e;
    fields([&](std::string_view k, Value x, const Path& p) {
      if (is(k, "schemaVersion"))
        e.schema_version = get_int32(x, p);
      else if (is(k, "name"))
        e.name = get_string(x, p);
    });
    return e;
  }
  bad("unknown event type \"" + std::string(type) + "\"");
}

// A parser and the document copied behind simdjson's padding. Each thread keeps one parser
// and one buffer and reuses them (a parser's buffers grow to the largest document it has
// parsed, ~14x its size); a document larger than kReuseLimit gets its own, so that no
// thread keeps more than ~250 kB. Elements of the parsed document stay valid until the
// next parse on the same thread.
class Input {
 public:
  Input() {
    thread_local Reused reused;
    reused_ = &reused;
  }

  // Parses `json` as one JSON object.
  Object parse_object(std::string_view json, const Path& where) {
    static constexpr std::size_t kReuseLimit = 16 * 1024;
    Reused* r = reused_;
    if (json.size() > kReuseLimit) {
      own_ = std::make_unique<Reused>();
      r = own_.get();
    }
    r->buffer.assign(json);
    r->buffer.append(simdjson::SIMDJSON_PADDING, '\0');  // readable (and zeroed) padding
    const Value root =
        check(r->parser.parse(r->buffer.data(), json.size(), false), where, "a JSON document");
    return check(root.get_object(), where, "a JSON object");
  }

 private:
  struct Reused {
    dom::parser parser;
    std::string buffer;
  };
  Reused* reused_ = nullptr;
  std::unique_ptr<Reused> own_;
};

Error data_loss(std::string_view what, std::string message) {
  return Error(ErrorCode::kDataLoss, std::string(what) + ": " + std::move(message));
}

// A decoder's body, run so that a malformed document — a DecodeError, or anything the
// JSON parser threw — is data loss saying `what` and why, never an exception.
template <class T, class Body>
Result<T> decode_guarded(std::string_view what, Body&& body) {
  try {
    return body();
  } catch (const DecodeError& err) {
    return std::unexpected(data_loss(what, err.message));
  } catch (const std::exception& err) {
    return std::unexpected(data_loss(what, err.what()));
  }
}

}  // namespace

int current_schema(std::string_view event_type) {
  for (const auto& v : kSchemaVersions) {
    if (v.type == event_type) return v.current;
  }
  return 0;
}

std::string encode_event_data(const EventData& data) {
  JsonWriter w(std::holds_alternative<SandboxRequested>(data) ? kEventReserve : 128);
  write_data(w, data);
  return std::move(w).take();
}

std::string encode_event(const Event& event) {
  JsonWriter w(kEventReserve);
  w.begin_object();
  w.member("position", event.position);
  w.member("stream", event.stream);
  w.member("version", event.version);
  const std::string_view type = event_type(event.data);
  w.member("type", type);
  w.member("schema", current_schema(type));
  w.time_member("time", event.time);
  w.member("eventId", event.event_id);
  w.member("requestId", event.request_id);
  w.member("actor", event.actor);
  w.member("reason", to_string(event.reason));
  w.key("data");
  write_data(w, event.data);
  w.end_object();
  return std::move(w).take();
}

Result<Event> decode_event(std::string_view json) {
  return decode_guarded<Event>("malformed event", [&]() -> Event {
    Input in;
    Event e;
    std::string type;
    std::int64_t schema = 0;
    Object data_object;
    bool has_type = false, has_schema = false, has_time = false, has_data = false;
    bool has_stream = false;
    const Path event{"event"};
    for_each_field(in.parse_object(json, event), event,
                   [&](std::string_view k, Value x, const Path& p) {
                     if (is(k, "position")) {
                       e.position = get_uint(x, p);
                     } else if (is(k, "stream")) {
                       e.stream = get_string(x, p);
                       has_stream = true;
                     } else if (is(k, "version")) {
                       e.version = get_uint(x, p);
                     } else if (is(k, "type")) {
                       type = get_view(x, p);
                       has_type = true;
                     } else if (is(k, "schema")) {
                       schema = get_int(x, p);
                       has_schema = true;
                     } else if (is(k, "time")) {
                       e.time = get_time(x, p);
                       has_time = true;
                     } else if (is(k, "eventId")) {
                       e.event_id = get_string(x, p);
                     } else if (is(k, "requestId")) {
                       e.request_id = get_string(x, p);
                     } else if (is(k, "actor")) {
                       e.actor = get_string(x, p);
                     } else if (is(k, "reason")) {
                       e.reason = get_reason(x, p);
                     } else if (is(k, "data")) {
                       data_object = check(x.get_object(), p, "an object");
                       has_data = true;
                     }
                   });
    if (!has_type) bad("event.type: missing");
    if (!has_stream) bad("event.stream: missing");
    if (!has_schema) bad("event.schema: missing");
    if (!has_time) bad("event.time: missing");
    if (!has_data) bad("event.data: missing");
    const int current = current_schema(type);
    if (current == 0) bad("event.type: unknown event type \"" + type + "\"");
    if (schema < 1 || schema > current)
      bad("event.schema: " + type + " schema " + std::to_string(schema) +
          " is not supported (newest known: " + std::to_string(current) + ")");

    if (schema == current) {
      e.data = decode_data(type, data_object);
    } else {
      ojson doc = ojson::parse(simdjson::to_string(data_object));
      const UpcastContext uc{e.time};
      for (int from = static_cast<int>(schema); from < current; ++from) {
        const Upcaster* up = nullptr;
        for (const auto& u : kUpcasters) {
          if (u.type == type && u.from == from) up = &u;
        }
        if (!up) bad("event.schema: no upcaster for " + type + " schema " + std::to_string(from));
        up->apply(doc, uc);
      }
      e.data = decode_data(type, in.parse_object(dump(doc), Path{"data"}));
    }
    e.schema = current;
    return e;
  });
}

std::string encode_sandbox(const Sandbox& sb) {
  JsonWriter w(kSandboxReserve);
  w.begin_object();
  w.member("schema", kSandboxRecordSchema);
  w.member("id", sb.id);
  w.member("version", sb.version);
  w.member("state", to_string(sb.state));
  w.member("statusReason", sb.status_reason);
  w.member("statusMessage", sb.status_message);
  w.time_member("createdAt", sb.created_at);
  w.time_member("lastTransitionAt", sb.last_transition_at);
  if (sb.expires_at) w.time_member("expiresAt", *sb.expires_at);
  w.key("metadata");
  write_string_map(w, sb.metadata);
  w.key("spec");
  write_spec(w, sb.spec);
  w.member("runtimeId", sb.runtime_id);
  if (!sb.address.empty()) w.member("address", sb.address);
  if (sb.exit_code) w.member("exitCode", *sb.exit_code);
  if (sb.claimed_at) w.time_member("claimedAt", *sb.claimed_at);
  w.member("deleted", sb.deleted);
  w.end_object();
  return std::move(w).take();
}

Result<Sandbox> decode_sandbox(std::string_view json) {
  return decode_guarded<Sandbox>("malformed sandbox record", [&]() -> Sandbox {
    Input in;
    Sandbox sb;
    bool has_id = false, has_state = false, has_spec = false;
    const Path sandbox{"sandbox"};
    for_each_field(
        in.parse_object(json, sandbox), sandbox, [&](std::string_view k, Value x, const Path& p) {
          if (is(k, "schema")) {
            const std::int64_t schema = get_int(x, p);
            if (schema < 1 || schema > kSandboxRecordSchema)
              bad_at(p, "sandbox record schema " + std::to_string(schema) + " is not supported");
          } else if (is(k, "id")) {
            sb.id = get_string(x, p);
            has_id = true;
          } else if (is(k, "version")) {
            sb.version = get_uint(x, p);
          } else if (is(k, "state")) {
            sb.state = get_state(x, p);
            has_state = true;
          } else if (is(k, "statusReason")) {
            sb.status_reason = get_string(x, p);
          } else if (is(k, "statusMessage")) {
            sb.status_message = get_string(x, p);
          } else if (is(k, "createdAt")) {
            sb.created_at = get_time(x, p);
          } else if (is(k, "lastTransitionAt")) {
            sb.last_transition_at = get_time(x, p);
          } else if (is(k, "expiresAt")) {
            sb.expires_at = get_time(x, p);
          } else if (is(k, "metadata")) {
            sb.metadata = get_string_map(x, p);
          } else if (is(k, "spec")) {
            decode_spec(x, p, sb.spec, has_spec);
          } else if (is(k, "runtimeId")) {
            sb.runtime_id = get_string(x, p);
          } else if (is(k, "address")) {
            sb.address = get_string(x, p);
          } else if (is(k, "exitCode")) {
            sb.exit_code = get_int32(x, p);
          } else if (is(k, "claimedAt")) {
            sb.claimed_at = get_time(x, p);
          } else if (is(k, "deleted")) {
            sb.deleted = get_bool(x, p);
          }
        });
    if (!has_id) bad("sandbox.id: missing");
    if (!has_state) bad("sandbox.state: missing");
    return sb;
  });
}

std::string encode_snapshot(const Snapshot& sn) {
  JsonWriter w(512);
  w.begin_object();
  w.member("schema", kSnapshotRecordSchema);
  w.member("id", sn.id);
  w.member("version", sn.version);
  w.member("sandboxId", sn.sandbox_id);
  if (!sn.name.empty()) w.member("name", sn.name);
  w.member("imageRef", sn.image_ref);
  if (!sn.image_id.empty()) w.member("imageId", sn.image_id);
  w.member("state", to_string(sn.state));
  w.member("statusReason", sn.status_reason);
  w.member("statusMessage", sn.status_message);
  w.time_member("createdAt", sn.created_at);
  w.time_member("lastTransitionAt", sn.last_transition_at);
  w.end_object();
  return std::move(w).take();
}

Result<Snapshot> decode_snapshot(std::string_view json) {
  return decode_guarded<Snapshot>("malformed snapshot record", [&]() -> Snapshot {
    Input in;
    Snapshot sn;
    bool has_id = false, has_state = false;
    const Path snapshot{"snapshot"};
    for_each_field(
        in.parse_object(json, snapshot), snapshot,
        [&](std::string_view k, Value x, const Path& p) {
          if (is(k, "schema")) {
            const std::int64_t schema = get_int(x, p);
            if (schema < 1 || schema > kSnapshotRecordSchema)
              bad_at(p, "snapshot record schema " + std::to_string(schema) + " is not supported");
          } else if (is(k, "id")) {
            sn.id = get_string(x, p);
            has_id = true;
          } else if (is(k, "version")) {
            sn.version = get_uint(x, p);
          } else if (is(k, "sandboxId")) {
            sn.sandbox_id = get_string(x, p);
          } else if (is(k, "name")) {
            sn.name = get_string(x, p);
          } else if (is(k, "imageRef")) {
            sn.image_ref = get_string(x, p);
          } else if (is(k, "imageId")) {
            sn.image_id = get_string(x, p);
          } else if (is(k, "state")) {
            const std::string_view name = get_view(x, p);
            const auto st = parse_snapshot_state(name);
            if (!st) bad_at(p, "unknown snapshot state \"" + std::string(name) + "\"");
            sn.state = *st;
            has_state = true;
          } else if (is(k, "statusReason")) {
            sn.status_reason = get_string(x, p);
          } else if (is(k, "statusMessage")) {
            sn.status_message = get_string(x, p);
          } else if (is(k, "createdAt")) {
            sn.created_at = get_time(x, p);
          } else if (is(k, "lastTransitionAt")) {
            sn.last_transition_at = get_time(x, p);
          }
        });
    if (!has_id) bad("snapshot.id: missing");
    if (!has_state) bad("snapshot.state: missing");
    return sn;
  });
}

std::string encode_pool(const Pool& pool) {
  JsonWriter w(512);
  w.begin_object();
  w.member("schema", kPoolRecordSchema);
  w.member("name", pool.name);
  w.member("version", pool.version);
  w.member("generation", pool.generation);
  w.key("templateSpec");
  write_spec(w, pool.template_spec);
  w.member("templateJson", pool.template_json);
  w.key("capacity");
  write_capacity(w, pool.capacity);
  w.time_member("createdAt", pool.created_at);
  w.time_member("updatedAt", pool.updated_at);
  w.end_object();
  return std::move(w).take();
}

Result<Pool> decode_pool(std::string_view json) {
  return decode_guarded<Pool>("malformed pool record", [&]() -> Pool {
    Input in;
    Pool pool;
    bool has_name = false, has_spec = false, has_capacity = false, has_generation = false;
    const Path where{"pool"};
    for_each_field(in.parse_object(json, where), where,
                   [&](std::string_view k, Value x, const Path& p) {
                     if (is(k, "schema")) {
                       const std::int64_t schema = get_int(x, p);
                       if (schema < 1 || schema > kPoolRecordSchema)
                         bad_at(p, "pool record schema " + std::to_string(schema) +
                                       " is not supported");
                     } else if (is(k, "name")) {
                       pool.name = get_string(x, p);
                       has_name = true;
                     } else if (is(k, "version")) {
                       pool.version = get_uint(x, p);
                     } else if (is(k, "generation")) {
                       pool.generation = get_uint(x, p);
                       has_generation = true;
                     } else if (is(k, "templateSpec")) {
                       decode_spec(x, p, pool.template_spec, has_spec);
                     } else if (is(k, "templateJson")) {
                       pool.template_json = get_string(x, p);
                     } else if (is(k, "capacity")) {
                       pool.capacity = decode_capacity(x, p);
                       has_capacity = true;
                     } else if (is(k, "createdAt")) {
                       pool.created_at = get_time(x, p);
                     } else if (is(k, "updatedAt")) {
                       pool.updated_at = get_time(x, p);
                     }
                   });
    if (!has_name || pool.name.empty()) bad("pool.name: missing");
    if (!has_generation) bad("pool.generation: missing");
    if (!has_capacity) bad("pool.capacity: missing");
    return pool;
  });
}

}  // namespace sbx
