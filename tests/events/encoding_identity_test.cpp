// The hand-written encoders (events/json_writer.h, events/codec.cpp, format_rfc3339 in
// events/time.cpp) write exactly the bytes the earlier nlohmann/snprintf code wrote: the
// stored events and records must not change. `reference` below is a verbatim copy of that
// earlier code; every test compares it with the new one byte for byte, on generated
// events and sandboxes of every type (quotes, backslashes, control bytes, multi-byte and
// invalid UTF-8, empty maps, optional fields set and unset, extreme integers and times)
// and on every short byte string.
#include <gtest/gtest.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "events/codec.h"
#include "events/json_writer.h"
#include "events/time.h"

namespace sbx {
namespace {

// ---------------------------------------------------------------------------------------
// The reference: the encoders as they were before JsonWriter (copied, not shared).
namespace reference {

using ojson = nlohmann::ordered_json;

std::string format_rfc3339(Micros t) {
  using namespace std::chrono;
  const sys_time<microseconds> tp{microseconds{t}};
  const auto day = floor<days>(tp);
  const year_month_day ymd{day};
  const hh_mm_ss<microseconds> hms{tp - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ", int(ymd.year()),
                unsigned(ymd.month()), unsigned(ymd.day()), int(hms.hours().count()),
                int(hms.minutes().count()), int(hms.seconds().count()),
                static_cast<long long>(hms.subseconds().count()));
  return buf;
}

ojson string_map(const std::map<std::string, std::string>& m) {
  ojson j = ojson::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

ojson spec_to_json(const SandboxSpec& s) {
  ojson j = ojson::object();
  j["imageUri"] = s.image_uri;
  if (s.image_auth_provided) j["imageAuth"] = {{"provided", true}};
  j["snapshotId"] = s.snapshot_id;
  j["entrypoint"] = s.entrypoint;
  j["env"] = string_map(s.env);
  j["resourceLimits"] = string_map(s.resource_limits);
  if (s.platform) j["platform"] = {{"os", s.platform->os}, {"arch", s.platform->arch}};
  if (s.timeout_seconds) j["timeoutSeconds"] = *s.timeout_seconds;
  j["networkMode"] = s.network_mode;
  ojson ports = ojson::object();
  for (const auto& [container, host] : s.ports) ports[std::to_string(container)] = host;
  j["ports"] = std::move(ports);
  if (!s.network_policy_json.empty()) j["networkPolicyJson"] = s.network_policy_json;
  if (!s.volumes_json.empty()) j["volumesJson"] = s.volumes_json;
  if (!s.extensions_json.empty()) j["extensionsJson"] = s.extensions_json;
  // Warm pools (added to the spec as optional members; absent on every other sandbox).
  if (!s.pool_name.empty()) {
    j["poolName"] = s.pool_name;
    j["poolGeneration"] = s.pool_generation;
  }
  return j;
}

ojson capacity_to_json(const PoolCapacity& c) {
  return {{"bufferMin", c.buffer_min},
          {"bufferMax", c.buffer_max},
          {"poolMin", c.pool_min},
          {"poolMax", c.pool_max}};
}

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};

ojson data_to_json(const EventData& data) {
  ojson j = ojson::object();
  std::visit(Overloaded{
                 [&](const SandboxRequested& e) {
                   j["sandboxId"] = e.sandbox_id;
                   j["spec"] = spec_to_json(e.spec);
                   j["metadata"] = string_map(e.metadata);
                   if (e.expires_at) j["expiresAt"] = format_rfc3339(*e.expires_at);
                 },
                 [&](const ProvisioningStarted& e) { j["worker"] = e.worker; },
                 [&](const SandboxStarted& e) {
                   j["runtimeId"] = e.runtime_id;
                   if (!e.address.empty()) j["address"] = e.address;
                 },
                 [&](const ProvisioningFailed& e) {
                   j["errorCode"] = e.error_code;
                   j["message"] = e.message;
                 },
                 [&](const PauseFailed& e) { j["message"] = e.message; },
                 [&](const ResumeFailed& e) { j["message"] = e.message; },
                 [&](const ExpirationRenewed& e) { j["expiresAt"] = format_rfc3339(e.expires_at); },
                 [&](const NetworkPolicyChanged& e) {
                   j["method"] = e.method;
                   j["policy"] = e.policy;
                 },
                 [&](const MetadataPatched& e) {
                   j["set"] = string_map(e.set);
                   j["removed"] = e.removed;
                 },
                 [&](const SandboxTerminated& e) {
                   if (e.exit_code) j["exitCode"] = *e.exit_code;
                   j["message"] = e.message;
                 },
                 [&](const SandboxFailed& e) {
                   j["errorCode"] = e.error_code;
                   j["message"] = e.message;
                   if (e.exit_code) j["exitCode"] = *e.exit_code;
                 },
                 [&](const ServerStarted& e) {
                   j["version"] = e.version;
                   j["liveSandboxes"] = e.live_sandboxes;
                 },
                 [&](const OrphanRemoved& e) {
                   j["runtimeId"] = e.runtime_id;
                   j["sandboxId"] = e.sandbox_id;
                 },
                 [&](const ReconcileFinding& e) {
                   j["kind"] = e.kind;
                   j["sandboxId"] = e.sandbox_id;
                   j["detail"] = e.detail;
                 },
                 [&](const MigrationApplied& e) {
                   j["schemaVersion"] = e.schema_version;
                   j["name"] = e.name;
                 },
                 [&](const SnapshotRequested& e) {
                   j["snapshotId"] = e.snapshot_id;
                   j["sandboxId"] = e.sandbox_id;
                   if (!e.name.empty()) j["name"] = e.name;
                   j["imageRef"] = e.image_ref;
                 },
                 [&](const SnapshotReady& e) { j["imageId"] = e.image_id; },
                 [&](const SandboxClaimed& e) {
                   j["metadata"] = string_map(e.metadata);
                   if (e.expires_at) j["expiresAt"] = format_rfc3339(*e.expires_at);
                 },
                 [&](const PoolCreated& e) {
                   j["name"] = e.name;
                   j["templateSpec"] = spec_to_json(e.template_spec);
                   j["templateJson"] = e.template_json;
                   j["capacity"] = capacity_to_json(e.capacity);
                 },
                 [&](const PoolCapacityChanged& e) { j["capacity"] = capacity_to_json(e.capacity); },
                 [&](const SnapshotFailed& e) {
                   j["errorCode"] = e.error_code;
                   j["message"] = e.message;
                 },
                 [&](const SandboxAdopted& e) {
                   j["sandboxId"] = e.sandbox_id;
                   j["runtimeId"] = e.runtime_id;
                   j["spec"] = spec_to_json(e.spec);
                   j["metadata"] = string_map(e.metadata);
                   if (e.expires_at) j["expiresAt"] = format_rfc3339(*e.expires_at);
                   j["state"] = std::string(to_string(e.state));
                   if (e.created_at != 0) j["createdAt"] = format_rfc3339(e.created_at);
                   j["source"] = e.source;
                 },
                 [&](const auto&) {},
             },
             data);
  return j;
}

std::string dump(const ojson& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string encode_event_data(const EventData& data) { return dump(data_to_json(data)); }

std::string encode_event(const Event& event) {
  ojson j = ojson::object();
  j["position"] = event.position;
  j["stream"] = event.stream;
  j["version"] = event.version;
  const std::string_view type = event_type(event.data);
  j["type"] = type;
  j["schema"] = current_schema(type);
  j["time"] = format_rfc3339(event.time);
  j["eventId"] = event.event_id;
  j["requestId"] = event.request_id;
  j["actor"] = event.actor;
  j["reason"] = to_string(event.reason);
  j["data"] = data_to_json(event.data);
  return dump(j);
}

std::string encode_sandbox(const Sandbox& sb) {
  ojson j = ojson::object();
  j["schema"] = 1;
  j["id"] = sb.id;
  j["version"] = sb.version;
  j["state"] = to_string(sb.state);
  j["statusReason"] = sb.status_reason;
  j["statusMessage"] = sb.status_message;
  j["createdAt"] = format_rfc3339(sb.created_at);
  j["lastTransitionAt"] = format_rfc3339(sb.last_transition_at);
  if (sb.expires_at) j["expiresAt"] = format_rfc3339(*sb.expires_at);
  j["metadata"] = string_map(sb.metadata);
  j["spec"] = spec_to_json(sb.spec);
  j["runtimeId"] = sb.runtime_id;
  if (!sb.address.empty()) j["address"] = sb.address;
  if (sb.exit_code) j["exitCode"] = *sb.exit_code;
  if (sb.claimed_at) j["claimedAt"] = format_rfc3339(*sb.claimed_at);
  j["deleted"] = sb.deleted;
  return dump(j);
}

}  // namespace reference

// ---------------------------------------------------------------------------------------
// Generated inputs (a fixed seed: a failure reproduces).

// 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z: the edges of the four-digit years.
constexpr Micros kYear0 = -62'167'219'200LL * kMicrosPerSecond;
constexpr Micros kYear10000 = 253'402'300'800LL * kMicrosPerSecond;
// Beyond about ±9.2e18 µs std::chrono's day arithmetic itself overflows (undefined), so
// the reference stops there.
constexpr Micros kFar = 9'000'000'000'000'000'000;

class Gen {
 public:
  explicit Gen(std::uint64_t seed) : rng_(seed) {}

  std::int64_t uniform(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }
  bool percent(int p) { return uniform(0, 99) < p; }

  template <class T>
  T integer() {
    using L = std::numeric_limits<T>;
    switch (uniform(0, 7)) {
      case 0:
        return L::min();
      case 1:
        return L::max();
      case 2:
        return T{0};
      case 3:
        return static_cast<T>(std::is_signed_v<T> ? -1 : 1);
      case 4:
        return static_cast<T>(uniform(0, 99));
      case 5:
        return static_cast<T>(uniform(-100'000, 100'000));
      default:
        return static_cast<T>(rng_());
    }
  }

  Micros time() {
    switch (uniform(0, 9)) {
      case 0:
        return uniform(-kFar, kFar);
      case 1:
        return uniform(kYear0, kYear10000 - 1);
      case 2: {  // near an edge of the four-digit years or of the epoch
        const Micros edges[] = {kYear0, kYear10000, 0, -1'000'000'000LL * kMicrosPerSecond};
        return edges[uniform(0, 3)] + uniform(-100'000'000, 100'000'000);
      }
      case 3:
        return uniform(-kYear10000, kYear0);  // negative years
      default:                                // 2000 .. 2100
        return uniform(946'684'800LL * kMicrosPerSecond, 4'102'444'800LL * kMicrosPerSecond);
    }
  }

  // A string of random pieces; about one in five may contain ill-formed UTF-8.
  std::string str() {
    if (percent(12)) return {};
    const bool may_be_invalid = percent(20);
    const int pieces =
        percent(4) ? static_cast<int>(uniform(100, 400)) : static_cast<int>(uniform(1, 10));
    std::string s;
    for (int i = 0; i < pieces; ++i) append_piece(s, may_be_invalid);
    return s;
  }

  std::map<std::string, std::string> string_map() {
    std::map<std::string, std::string> m;
    const int n = percent(25) ? 0 : static_cast<int>(uniform(1, 6));
    for (int i = 0; i < n; ++i) m[str()] = str();
    return m;
  }

  std::vector<std::string> strings() {
    std::vector<std::string> v;
    const int n = percent(25) ? 0 : static_cast<int>(uniform(1, 6));
    for (int i = 0; i < n; ++i) v.push_back(str());
    return v;
  }

  int invalid_pieces() const { return invalid_pieces_; }

 private:
  static void append_utf8(std::string& s, std::uint32_t cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::uint32_t code_point() {
    static constexpr std::uint32_t kEdges[] = {0x80,   0x7FF,  0x800,  0xD7FF,  0xE000,
                                               0xFFFD, 0xFEFF, 0xFFFF, 0x10000, 0x10FFFF};
    switch (uniform(0, 3)) {
      case 0:
        return kEdges[uniform(0, std::size(kEdges) - 1)];
      case 1:
        return static_cast<std::uint32_t>(uniform(0x80, 0x7FF));
      case 2: {
        const auto cp = static_cast<std::uint32_t>(uniform(0x800, 0xFFFF));
        return cp >= 0xD800 && cp <= 0xDFFF ? 0xE9 : cp;
      }
      default:
        return static_cast<std::uint32_t>(uniform(0x10000, 0x10FFFF));
    }
  }

  void append_piece(std::string& s, bool may_be_invalid) {
    switch (uniform(0, may_be_invalid ? 9 : 7)) {
      case 0:
      case 1: {  // printable ASCII, quotes, backslashes and slashes among them
        const int n = static_cast<int>(uniform(1, 12));
        for (int i = 0; i < n; ++i) s += static_cast<char>(uniform(0x20, 0x7E));
        break;
      }
      case 2:
        s += percent(50) ? '"' : '\\';
        break;
      case 3:  // a control byte (NUL included) or DEL
        s += static_cast<char>(percent(90) ? uniform(0x00, 0x1F) : 0x7F);
        break;
      case 4:
      case 5:
      case 6:
        append_utf8(s, code_point());
        break;
      case 7:
        s += "/\xC3\xA9\xE2\x9C\x93";
        break;
      default:
        append_invalid(s);
    }
  }

  void append_invalid(std::string& s) {
    ++invalid_pieces_;
    switch (uniform(0, 6)) {
      case 0:  // any byte of the upper half (a lone continuation, a lead, F5..FF)
        s += static_cast<char>(uniform(0x80, 0xFF));
        break;
      case 1: {  // a multi-byte sequence cut short
        std::string cp;
        append_utf8(cp, code_point());
        s += cp.substr(
            0, static_cast<std::size_t>(uniform(1, static_cast<std::int64_t>(cp.size()) - 1)));
        break;
      }
      case 2: {  // overlong forms
        static constexpr const char* kOverlong[] = {"\xC0\x80",         "\xC1\xBF",
                                                    "\xE0\x80\x80",     "\xE0\x9F\xBF",
                                                    "\xF0\x80\x80\x80", "\xF0\x8F\xBF\xBF"};
        s += kOverlong[uniform(0, 5)];
        break;
      }
      case 3:  // a UTF-16 surrogate
        s += percent(50) ? "\xED\xA0\x80" : "\xED\xBF\xBF";
        break;
      case 4:  // above U+10FFFF
        s += percent(50) ? "\xF4\x90\x80\x80" : "\xF7\xBF\xBF\xBF";
        break;
      case 5:  // a lead followed by ASCII or a quote
        s += static_cast<char>(uniform(0xC2, 0xF4));
        s += percent(50) ? 'a' : '"';
        break;
      default:  // two random bytes of the upper half
        s += static_cast<char>(uniform(0x80, 0xFF));
        s += static_cast<char>(uniform(0x80, 0xFF));
    }
  }

  std::mt19937_64 rng_;
  int invalid_pieces_ = 0;
};

SandboxSpec random_spec(Gen& g) {
  SandboxSpec s;
  s.image_uri = g.str();
  s.image_auth_provided = g.percent(50);
  s.snapshot_id = g.str();
  s.entrypoint = g.strings();
  s.env = g.string_map();
  s.resource_limits = g.string_map();
  if (g.percent(50)) s.platform = Platform{g.str(), g.str()};
  if (g.percent(50)) s.timeout_seconds = g.integer<std::int64_t>();
  s.network_mode = g.str();
  const int ports = g.percent(30) ? 0 : static_cast<int>(g.uniform(1, 5));
  for (int i = 0; i < ports; ++i) s.ports[g.integer<int>()] = g.integer<int>();
  if (g.percent(50)) s.network_policy_json = g.str();
  if (g.percent(50)) s.volumes_json = g.str();
  if (g.percent(50)) s.extensions_json = g.str();
  if (g.percent(30)) {
    s.pool_name = g.str();
    s.pool_generation = g.integer<std::uint64_t>();
  }
  return s;
}

template <class T>
std::optional<T> maybe(Gen& g, T v) {
  return g.percent(50) ? std::optional<T>(v) : std::nullopt;
}

void fill(Gen& g, SandboxRequested& e) {
  e.sandbox_id = g.str();
  e.spec = random_spec(g);
  e.metadata = g.string_map();
  e.expires_at = maybe(g, g.time());
}
void fill(Gen& g, ProvisioningStarted& e) { e.worker = g.str(); }
void fill(Gen& g, SandboxStarted& e) {
  e.runtime_id = g.str();
  if (g.percent(50)) e.address = g.str();
}
void fill(Gen& g, ProvisioningFailed& e) {
  e.error_code = g.str();
  e.message = g.str();
}
void fill(Gen& g, PauseFailed& e) { e.message = g.str(); }
void fill(Gen& g, ResumeFailed& e) { e.message = g.str(); }
void fill(Gen& g, ExpirationRenewed& e) { e.expires_at = g.time(); }
void fill(Gen& g, NetworkPolicyChanged& e) {
  e.method = g.str();
  e.policy = g.str();
}
void fill(Gen& g, MetadataPatched& e) {
  e.set = g.string_map();
  e.removed = g.strings();
}
void fill(Gen& g, SandboxTerminated& e) {
  e.exit_code = maybe(g, g.integer<int>());
  e.message = g.str();
}
void fill(Gen& g, SandboxFailed& e) {
  e.error_code = g.str();
  e.message = g.str();
  e.exit_code = maybe(g, g.integer<int>());
}
void fill(Gen& g, ServerStarted& e) {
  e.version = g.str();
  e.live_sandboxes = g.integer<std::uint64_t>();
}
void fill(Gen& g, OrphanRemoved& e) {
  e.runtime_id = g.str();
  e.sandbox_id = g.str();
}
void fill(Gen& g, ReconcileFinding& e) {
  e.kind = g.str();
  e.sandbox_id = g.str();
  e.detail = g.str();
}
void fill(Gen& g, MigrationApplied& e) {
  e.schema_version = g.integer<int>();
  e.name = g.str();
}
void fill(Gen& g, SandboxAdopted& e) {
  e.sandbox_id = g.str();
  e.runtime_id = g.str();
  e.spec = random_spec(g);
  e.metadata = g.string_map();
  e.expires_at = maybe(g, g.time());
  e.state = g.percent(50) ? SandboxState::kRunning : SandboxState::kPaused;
  if (g.percent(50)) e.created_at = g.time();
  e.source = g.str();
}
void fill(Gen& g, SnapshotRequested& e) {
  e.snapshot_id = g.str();
  e.sandbox_id = g.str();
  if (g.percent(50)) e.name = g.str();
  e.image_ref = g.str();
}
void fill(Gen& g, SnapshotReady& e) { e.image_id = g.str(); }
void fill(Gen& g, SnapshotFailed& e) {
  e.error_code = g.str();
  e.message = g.str();
}
void fill(Gen& g, SandboxClaimed& e) {
  e.metadata = g.string_map();
  e.expires_at = maybe(g, g.time());
}
PoolCapacity random_capacity(Gen& g) {
  return PoolCapacity{g.integer<std::int64_t>(), g.integer<std::int64_t>(),
                      g.integer<std::int64_t>(), g.integer<std::int64_t>()};
}
void fill(Gen& g, PoolCreated& e) {
  e.name = g.str();
  e.template_spec = random_spec(g);
  e.template_json = g.str();
  e.capacity = random_capacity(g);
}
void fill(Gen& g, PoolCapacityChanged& e) { e.capacity = random_capacity(g); }
template <class T>
void fill(Gen&, T&) {
  static_assert(std::is_empty_v<T>, "an event type with fields needs its own fill()");
}

template <std::size_t I>
EventData random_data_of(Gen& g) {
  std::variant_alternative_t<I, EventData> e;
  fill(g, e);
  return e;
}

EventData random_data(Gen& g, std::size_t index) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    using Make = EventData (*)(Gen&);
    static constexpr Make kMake[] = {&random_data_of<I>...};
    return kMake[index](g);
  }
  (std::make_index_sequence<std::variant_size_v<EventData>>());
}

Event random_event(Gen& g, std::size_t index) {
  static constexpr Reason kReasons[] = {Reason::kUser, Reason::kExpired, Reason::kReconcile,
                                        Reason::kRuntime};
  Event e;
  e.position = g.integer<std::uint64_t>();
  e.stream = g.str();
  e.version = g.integer<std::uint64_t>();
  e.schema = g.integer<int>();  // ignored: the newest schema is written
  e.time = g.time();
  e.event_id = g.str();
  e.request_id = g.str();
  e.actor = g.str();
  e.reason = kReasons[g.uniform(0, 3)];
  e.data = random_data(g, index);
  return e;
}

Sandbox random_sandbox(Gen& g) {
  Sandbox sb;
  sb.id = g.str();
  sb.version = g.integer<std::uint64_t>();
  sb.state = kAllStates[g.uniform(0, std::size(kAllStates) - 1)];
  sb.status_reason = g.str();
  sb.status_message = g.str();
  sb.created_at = g.time();
  sb.last_transition_at = g.time();
  sb.expires_at = maybe(g, g.time());
  sb.metadata = g.string_map();
  sb.spec = random_spec(g);
  sb.runtime_id = g.str();
  if (g.percent(50)) sb.address = g.str();
  sb.exit_code = maybe(g, g.integer<int>());
  sb.claimed_at = maybe(g, g.time());
  sb.deleted = g.percent(50);
  return sb;
}

// ---------------------------------------------------------------------------------------

std::string nlohmann_string(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
std::string writer_string(const std::string& s) {
  JsonWriter w(16);
  w.value(s);
  return std::move(w).take();
}

// Every string of one and two bytes; three bytes after a lead of 0xC0.. and four after
// one of 0xF0.., the later bytes on and around the edges of the valid ranges.
TEST(EncodingIdentity, StringsMatchNlohmannOnEveryShortByteString) {
  int mismatches = 0;
  auto check = [&](const std::string& s) {
    const std::string want = nlohmann_string(s);
    const std::string got = writer_string(s);
    if (got != want && ++mismatches <= 10) {
      ADD_FAILURE() << "bytes " << ::testing::PrintToString(s) << ": want "
                    << ::testing::PrintToString(want) << ", got " << ::testing::PrintToString(got);
    }
  };
  for (int a = 0; a < 256; ++a) {
    check(std::string(1, static_cast<char>(a)));
    for (int b = 0; b < 256; ++b) check({static_cast<char>(a), static_cast<char>(b)});
  }
  static constexpr int kLater[] = {0x00, 0x22, 0x41, 0x5C, 0x7F, 0x80, 0x8F, 0x90,
                                   0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF0, 0xFF};
  for (int a = 0xC0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      for (int c : kLater) {
        check({static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)});
        if (a < 0xF0) continue;
        for (int d : kLater) {
          check({static_cast<char>(a), static_cast<char>(b), static_cast<char>(c),
                 static_cast<char>(d)});
        }
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(EncodingIdentity, StringsMatchNlohmannOnGeneratedStrings) {
  Gen g(0x5eed'0001);
  for (int i = 0; i < 20'000; ++i) {
    const std::string s = g.str();
    ASSERT_EQ(writer_string(s), nlohmann_string(s)) << ::testing::PrintToString(s);
  }
  EXPECT_GT(g.invalid_pieces(), 1000) << "the generator must produce ill-formed UTF-8";
}

TEST(EncodingIdentity, FormatRfc3339MatchesTheChronoPrintfFormatting) {
  std::vector<Micros> times = {0,
                               -1,
                               1,
                               kYear0,
                               kYear0 - 1,
                               kYear0 + 1,
                               kYear10000,
                               kYear10000 - 1,
                               kYear10000 + 1,
                               kFar,
                               -kFar,
                               -62'135'596'800LL * kMicrosPerSecond,  // 0001-01-01
                               -30'610'224'000LL * kMicrosPerSecond,  // 1000-01-01
                               -30'610'224'000LL * kMicrosPerSecond - 1,
                               951'782'400LL * kMicrosPerSecond,  // 2000-02-29
                               4'107'542'400LL * kMicrosPerSecond - 1};
  Gen g(0x5eed'0002);
  for (int i = 0; i < 300'000; ++i) times.push_back(g.time());
  for (Micros t : times) {
    ASSERT_EQ(format_rfc3339(t), reference::format_rfc3339(t)) << t;
    std::string appended = "x";
    append_rfc3339(appended, t);
    ASSERT_EQ(appended, "x" + reference::format_rfc3339(t)) << t;
  }
}

TEST(EncodingIdentity, EventsOfEveryTypeMatchTheNlohmannEncoder) {
  Gen g(0x5eed'0003);
  for (std::size_t type = 0; type < std::variant_size_v<EventData>; ++type) {
    for (int i = 0; i < 400; ++i) {
      const Event e = random_event(g, type);
      ASSERT_EQ(encode_event(e), reference::encode_event(e)) << e.type() << " #" << i;
      ASSERT_EQ(encode_event_data(e.data), reference::encode_event_data(e.data))
          << e.type() << " #" << i;
    }
  }
  EXPECT_GT(g.invalid_pieces(), 1000) << "the generator must produce ill-formed UTF-8";
}

TEST(EncodingIdentity, SandboxRecordsMatchTheNlohmannEncoder) {
  Gen g(0x5eed'0004);
  for (int i = 0; i < 3000; ++i) {
    const Sandbox sb = random_sandbox(g);
    ASSERT_EQ(encode_sandbox(sb), reference::encode_sandbox(sb)) << "#" << i;
  }
  // The all-defaults record (every optional unset, every map and string empty).
  EXPECT_EQ(encode_sandbox(Sandbox{}), reference::encode_sandbox(Sandbox{}));
  EXPECT_GT(g.invalid_pieces(), 500) << "the generator must produce ill-formed UTF-8";
}

TEST(EncodingIdentity, DefaultEventsOfEveryTypeMatchTheNlohmannEncoder) {
  const std::vector<EventData> defaults = []<std::size_t... I>(std::index_sequence<I...>) {
    return std::vector<EventData>{EventData(std::in_place_index<I>)...};
  }
  (std::make_index_sequence<std::variant_size_v<EventData>>());
  for (const EventData& data : defaults) {
    Event e;
    e.data = data;
    EXPECT_EQ(encode_event(e), reference::encode_event(e)) << e.type();
    EXPECT_EQ(encode_event_data(e.data), reference::encode_event_data(e.data)) << e.type();
  }
}

}  // namespace
}  // namespace sbx
