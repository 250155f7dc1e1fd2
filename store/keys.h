// Key and value encodings of the store's column families (the byte layouts of
// store/FORMAT.md, which is the reference; this header is its code).
//
// Every integer in a key is big-endian so that RocksDB's bytewise order is numeric
// order. Signed microsecond times (Micros) are stored with the sign bit flipped, so
// negative times sort before positive ones. Pure functions over std::string; no
// RocksDB types. Thread-safe. Decoders return std::nullopt for malformed input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "events/sandbox.h"
#include "events/time.h"
#include "store/event_store.h"

namespace sbx::keys {

// --- integers ---------------------------------------------------------------------------
void put_u64(std::string& out, std::uint64_t v);
void put_u32(std::string& out, std::uint32_t v);
void put_micros(std::string& out, Micros v);  // sign bit flipped
std::uint64_t get_u64(std::string_view in);   // requires in.size() >= 8
std::uint32_t get_u32(std::string_view in);   // requires in.size() >= 4
Micros get_micros(std::string_view in);       // requires in.size() >= 8
std::string u64_key(std::uint64_t v);         // 8 bytes

// --- events: position -> event JSON ---------------------------------------------------
inline std::string event_key(std::uint64_t position) { return u64_key(position); }
std::optional<std::uint64_t> parse_event_key(std::string_view key);

// --- streams: stream NUL version -> position -------------------------------------------
// Stream names never contain NUL (append rejects them), so "a" and "ab" never interleave.
std::string stream_key(std::string_view stream, std::uint64_t version);
std::string stream_prefix(std::string_view stream);  // stream NUL
struct StreamKey {
  std::string_view stream;
  std::uint64_t version = 0;
};
std::optional<StreamKey> parse_stream_key(std::string_view key);

// --- event_ids: eventId -> position, version --------------------------------------------
std::string event_id_value(std::uint64_t position, std::uint64_t version);
struct EventIdValue {
  std::uint64_t position = 0;
  std::uint64_t version = 0;
};
std::optional<EventIdValue> parse_event_id_value(std::string_view value);

// --- expiry: deadline, sandbox id -> empty ----------------------------------------------
std::string expiry_key(Micros deadline, std::string_view sandbox_id);
struct ExpiryKey {
  Micros deadline = 0;
  std::string_view sandbox_id;
};
std::optional<ExpiryKey> parse_expiry_key(std::string_view key);

// --- by_state (schema 2): state code, created_at, sandbox id -> empty --------------------
// State codes are part of the format (not the enum's numeric values):
// Pending 1, Running 2, Pausing 3, Paused 4, Resuming 5, Stopping 6, Terminated 7, Failed 8.
std::uint8_t state_code(SandboxState s);
std::optional<SandboxState> state_from_code(std::uint8_t code);
std::string by_state_key(SandboxState state, Micros created_at, std::string_view sandbox_id);
std::string by_state_prefix(SandboxState state);
struct ByStateKey {
  SandboxState state = SandboxState::kPending;
  Micros created_at = 0;
  std::string_view sandbox_id;
};
std::optional<ByStateKey> parse_by_state_key(std::string_view key);

// --- checkpoints: consumer -> u64 position ----------------------------------------------
// --- idempotency (schema 4): key -> expires_at, outcome code (u8), sandbox id -------------
// Outcome codes are part of the format: Accepted 1 (RequestOutcome's values). Schemas 1-3
// stored an HTTP status (u32) instead; migration 4 rewrote those records.
std::optional<RequestOutcome> outcome_from_code(std::uint8_t code);
std::string idempotency_value(const IdempotencyRecord& record);
std::optional<IdempotencyRecord> parse_idempotency_value(std::string_view key,
                                                         std::string_view value);

// --- secrets (schema 3): sandbox id -> format, has_auth, username length, username, password
inline constexpr std::uint8_t kSecretsFormat = 1;
std::string secrets_value(const SandboxSecrets& secrets);
std::optional<SandboxSecrets> parse_secrets_value(std::string_view value);

// --- meta -------------------------------------------------------------------------------
inline constexpr std::string_view kSchemaVersionKey = "schema_version";  // decimal ASCII
inline constexpr std::string_view kInstanceIdKey = "instance_id";  // UUID text, see FORMAT.md

// A printable form of a key of the named column family, for audit reports.
std::string describe_key(std::string_view column_family, std::string_view key);

}  // namespace sbx::keys
