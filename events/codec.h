// The codec: events and sandbox projections to and from JSON.
//
// Encoding appends directly into one string (events/json_writer.h), byte for byte what the
// earlier nlohmann/json encoder wrote; decoding reads with simdjson (DOM, one parser per
// thread).
// Every event type has a schema version; `encode` writes the newest; `decode` accepts
// every version ever written, upcasting older payloads (see kSchemaVersions and
// upcasters in codec.cpp). Golden files in tests/events/golden/ pin every type and version.
//
// Envelope JSON (field names are part of the on-disk format, see store/FORMAT.md):
//   {"position":1,"stream":"sandbox-…","version":1,"type":"SandboxRequested","schema":1,
//    "time":"2026-…Z","eventId":"…","requestId":"…","actor":"…","reason":"user","data":{…}}
//
// Thread-safe (no shared mutable state). Errors: decode returns kDataLoss for malformed
// or unknown documents (the message says what and where).
#pragma once

#include <string>
#include <string_view>

#include "events/event.h"
#include "events/result.h"

namespace sbx {

// encode_event writes current_schema(type) whatever `event.schema` says; decode_event
// returns the payload upcast to the newest schema, so `schema` is current_schema(type).
[[nodiscard]] std::string encode_event(const Event& event);
[[nodiscard]] Result<Event> decode_event(std::string_view json);

// The `data` object alone (used by the HTTP event endpoints together with the envelope).
[[nodiscard]] std::string encode_event_data(const EventData& data);

// The projection record of one sandbox (the sandboxes column family).
[[nodiscard]] std::string encode_sandbox(const Sandbox& sandbox);
[[nodiscard]] Result<Sandbox> decode_sandbox(std::string_view json);

// The projection record of one snapshot (the snapshots column family, store/FORMAT.md).
[[nodiscard]] std::string encode_snapshot(const Snapshot& snapshot);
[[nodiscard]] Result<Snapshot> decode_snapshot(std::string_view json);

// The projection record of one pool (the pools column family, store/FORMAT.md). A deleted
// pool has no record: `deleted` is never written and decodes as false.
[[nodiscard]] std::string encode_pool(const Pool& pool);
[[nodiscard]] Result<Pool> decode_pool(std::string_view json);

// Newest schema version written for an event type name; 0 if the type is unknown.
int current_schema(std::string_view event_type);

}  // namespace sbx
