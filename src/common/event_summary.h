// data_summary: a short one-line description of an event's payload, as sandbox-events
// prints it in its table (src/tools/event_format.h) and the diagnostics routes show a
// sandbox's history (api/diagnostics_handlers.cpp). Control characters become spaces; at
// most kSummaryWidth characters (a UTF-8 sequence is never cut). Env values never appear
// (SandboxRequested shows the image, whether auth was given, the expiry and metadata, and
// for a pool member "member=<pool>/<generation>"; PoolCreated the name, image and capacity
// "buffer=<min>..<max> pool=<min>..<max>"; SandboxClaimed the expiry and metadata).
//
// Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "events/event.h"

namespace sbx {

inline constexpr std::size_t kSummaryWidth = 72;

[[nodiscard]] std::string data_summary(const EventData& data);

// `s` with every control character (< 0x20, 0x7f) replaced by a space: one value, one line.
[[nodiscard]] std::string one_line(std::string_view s);

}  // namespace sbx
