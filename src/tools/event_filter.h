// EventFilter: which events of the log `sandbox-events dump` and `follow` print.
//
// Every set criterion must hold (logical AND): the stream (one sandbox's stream or any
// named stream such as `system`), the position range [from, to] (inclusive), the time
// range [since, until) (half-open, UTC microseconds), and the event type (any of `types`;
// empty: every type). Times are compared with the envelope `time`, which the appender set,
// so they need not grow with the position: the time range filters, it does not seek.
//
// Pure value type; thread-compatible. parse_event_types reports kInvalidArgument for a
// type name the codec does not know (field "--type").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "events/event.h"
#include "events/result.h"
#include "events/time.h"

namespace sbx {

struct EventFilter {
  std::optional<std::string> stream;         // "sandbox-<id>" or "system"; nullopt: every stream
  std::uint64_t from_position = 1;           // inclusive
  std::optional<std::uint64_t> to_position;  // inclusive; nullopt: up to the head
  std::optional<Micros> since;               // time >= since
  std::optional<Micros> until;               // time < until
  std::vector<std::string> types;            // exact type names; empty: every type

  [[nodiscard]] bool matches(const Event& event) const;
  // True once no event at or after `position` can match (the position range is past).
  [[nodiscard]] bool past_end(std::uint64_t position) const {
    return to_position && position > *to_position;
  }
};

// Checks type names against the codec's list (events/codec.h current_schema), so that a
// typo is an error rather than an empty dump. Accepts comma-separated lists too.
[[nodiscard]] Result<std::vector<std::string>> parse_event_types(
    const std::vector<std::string>& names);

}  // namespace sbx
