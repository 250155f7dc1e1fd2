#include "store/keys.h"

#include <cstdio>

namespace sbx::keys {

namespace {
constexpr std::uint64_t kSignBit = 0x8000000000000000ULL;
}

void put_u64(std::string& out, std::uint64_t v) {
  char b[8];
  for (int i = 7; i >= 0; --i) {
    b[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out.append(b, 8);
}

void put_u32(std::string& out, std::uint32_t v) {
  char b[4];
  for (int i = 3; i >= 0; --i) {
    b[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out.append(b, 4);
}

void put_micros(std::string& out, Micros v) {
  put_u64(out, static_cast<std::uint64_t>(v) ^ kSignBit);
}

std::uint64_t get_u64(std::string_view in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

std::uint32_t get_u32(std::string_view in) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

Micros get_micros(std::string_view in) { return static_cast<Micros>(get_u64(in) ^ kSignBit); }

std::string u64_key(std::uint64_t v) {
  std::string s;
  s.reserve(8);
  put_u64(s, v);
  return s;
}

std::optional<std::uint64_t> parse_event_key(std::string_view key) {
  if (key.size() != 8) return std::nullopt;
  return get_u64(key);
}

std::string stream_key(std::string_view stream, std::uint64_t version) {
  std::string s;
  s.reserve(stream.size() + 9);
  s.append(stream);
  s.push_back('\0');
  put_u64(s, version);
  return s;
}

std::string stream_prefix(std::string_view stream) {
  std::string s(stream);
  s.push_back('\0');
  return s;
}

std::optional<StreamKey> parse_stream_key(std::string_view key) {
  if (key.size() < 10 || key[key.size() - 9] != '\0') return std::nullopt;
  return StreamKey{key.substr(0, key.size() - 9), get_u64(key.substr(key.size() - 8))};
}

std::string event_id_value(std::uint64_t position, std::uint64_t version) {
  std::string s;
  s.reserve(16);
  put_u64(s, position);
  put_u64(s, version);
  return s;
}

std::optional<EventIdValue> parse_event_id_value(std::string_view value) {
  if (value.size() != 16) return std::nullopt;
  return EventIdValue{get_u64(value), get_u64(value.substr(8))};
}

std::string expiry_key(Micros deadline, std::string_view sandbox_id) {
  std::string s;
  s.reserve(8 + sandbox_id.size());
  put_micros(s, deadline);
  s.append(sandbox_id);
  return s;
}

std::optional<ExpiryKey> parse_expiry_key(std::string_view key) {
  if (key.size() < 9) return std::nullopt;
  return ExpiryKey{get_micros(key), key.substr(8)};
}

std::uint8_t state_code(SandboxState s) {
  switch (s) {
    case SandboxState::kPending:
      return 1;
    case SandboxState::kRunning:
      return 2;
    case SandboxState::kPausing:
      return 3;
    case SandboxState::kPaused:
      return 4;
    case SandboxState::kResuming:
      return 5;
    case SandboxState::kStopping:
      return 6;
    case SandboxState::kTerminated:
      return 7;
    case SandboxState::kFailed:
      return 8;
  }
  return 0;
}

std::optional<SandboxState> state_from_code(std::uint8_t code) {
  for (SandboxState s : kAllStates) {
    if (state_code(s) == code) return s;
  }
  return std::nullopt;
}

std::string by_state_prefix(SandboxState state) {
  return std::string(1, static_cast<char>(state_code(state)));
}

std::string by_state_key(SandboxState state, Micros created_at, std::string_view sandbox_id) {
  std::string s;
  s.reserve(9 + sandbox_id.size());
  s.push_back(static_cast<char>(state_code(state)));
  put_micros(s, created_at);
  s.append(sandbox_id);
  return s;
}

std::optional<ByStateKey> parse_by_state_key(std::string_view key) {
  if (key.size() < 10) return std::nullopt;
  auto state = state_from_code(static_cast<std::uint8_t>(key[0]));
  if (!state) return std::nullopt;
  return ByStateKey{*state, get_micros(key.substr(1)), key.substr(9)};
}

std::optional<RequestOutcome> outcome_from_code(std::uint8_t code) {
  switch (code) {
    case static_cast<std::uint8_t>(RequestOutcome::kAccepted):
      return RequestOutcome::kAccepted;
  }
  return std::nullopt;
}

std::string idempotency_value(const IdempotencyRecord& record) {
  std::string s;
  s.reserve(9 + record.sandbox_id.size());
  put_micros(s, record.expires_at);
  s.push_back(static_cast<char>(record.outcome));
  s.append(record.sandbox_id);
  return s;
}

std::optional<IdempotencyRecord> parse_idempotency_value(std::string_view key,
                                                         std::string_view value) {
  if (value.size() < 9) return std::nullopt;
  auto outcome = outcome_from_code(static_cast<std::uint8_t>(value[8]));
  if (!outcome) return std::nullopt;
  IdempotencyRecord r;
  r.key = std::string(key);
  r.expires_at = get_micros(value);
  r.outcome = *outcome;
  r.sandbox_id = std::string(value.substr(9));
  return r;
}

std::string secrets_value(const SandboxSecrets& secrets) {
  const ImageAuth auth = secrets.image_auth.value_or(ImageAuth{});
  std::string s;
  s.reserve(6 + auth.username.size() + auth.password.size());
  s.push_back(static_cast<char>(kSecretsFormat));
  s.push_back(secrets.image_auth ? 1 : 0);
  put_u32(s, static_cast<std::uint32_t>(auth.username.size()));
  s.append(auth.username);
  s.append(auth.password);
  return s;
}

std::optional<SandboxSecrets> parse_secrets_value(std::string_view value) {
  if (value.size() < 6 || static_cast<unsigned char>(value[0]) != kSecretsFormat) {
    return std::nullopt;
  }
  const auto has_auth = static_cast<unsigned char>(value[1]);
  if (has_auth > 1) return std::nullopt;
  const std::uint32_t username_size = get_u32(value.substr(2));
  if (value.size() - 6 < username_size) return std::nullopt;
  SandboxSecrets out;
  if (has_auth == 1) {
    out.image_auth = ImageAuth{std::string(value.substr(6, username_size)),
                               std::string(value.substr(6 + username_size))};
  }
  return out;
}

namespace {
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char b[5];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    }
  }
  return out;
}
}  // namespace

std::string describe_key(std::string_view cf, std::string_view key) {
  if (cf == "events") {
    if (auto p = parse_event_key(key)) return "position " + std::to_string(*p);
  } else if (cf == "streams") {
    if (auto k = parse_stream_key(key)) {
      return printable(k->stream) + " v" + std::to_string(k->version);
    }
  } else if (cf == "expiry") {
    if (auto k = parse_expiry_key(key)) {
      return format_rfc3339(k->deadline) + " " + printable(k->sandbox_id);
    }
  } else if (cf == "by_state") {
    if (auto k = parse_by_state_key(key)) {
      return std::string(to_string(k->state)) + " " + format_rfc3339(k->created_at) + " " +
             printable(k->sandbox_id);
    }
  }
  return printable(key);
}

}  // namespace sbx::keys
