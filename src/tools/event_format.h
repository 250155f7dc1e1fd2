// How sandbox-events prints events: JSON Lines and an aligned table, both redacted.
//
// The log keeps env values (SandboxRequested `spec.env`, PoolCreated's template) because
// the provisioner passes them to the container, and they often hold tokens: audit output
// shows the keys and "***" for every value (redact_secrets = src/common/env_redaction.h),
// unless the operator asks with Reveal::kYes (`--reveal`). Registry credentials are not in
// the log at all (only `imageAuth.provided`).
//
// - event_json_line: the codec's envelope JSON (events/codec.h encode_event: position,
//   stream, version, type, schema, time, eventId, requestId, actor, reason, data) on one
//   line, no trailing newline.
// - data_summary (src/common/event_summary.h): the one-line payload summary of the table.
// - TableWriter: columns POSITION TIME STREAM VERSION TYPE REASON ACTOR REQUEST DATA. It
//   writes rows in blocks; a block's columns are as wide as its widest cell and widths
//   never shrink, so the rows of one block are aligned and later blocks (follow) stay
//   aligned unless a longer value appears.
//
// Pure functions; a TableWriter is not thread-safe (one per output).
#pragma once

#include <array>
#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

#include "events/event.h"
#include "src/common/event_summary.h"  // data_summary, kSummaryWidth

namespace sbx {

inline constexpr std::string_view kRedacted = "***";
enum class Reveal { kNo, kYes };

[[nodiscard]] Event redact_secrets(Event event);
[[nodiscard]] std::string event_json_line(const Event& event, Reveal reveal = Reveal::kNo);

class TableWriter {
 public:
  static constexpr std::size_t kColumns = 9;
  using Row = std::array<std::string, kColumns>;

  explicit TableWriter(std::ostream& out) : out_(out) {}

  static Row row_of(const Event& event, Reveal reveal = Reveal::kNo);  // redacted unless kYes
  // Prints the header (first call only) and `rows`, aligned.
  void write(const std::vector<Row>& rows);

 private:
  std::ostream& out_;
  bool header_written_ = false;
  std::array<std::size_t, kColumns> widths_{};
};

}  // namespace sbx
