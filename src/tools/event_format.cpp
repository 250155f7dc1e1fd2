#include "src/tools/event_format.h"

#include <algorithm>
#include <type_traits>
#include <variant>

#include "events/codec.h"
#include "events/time.h"
#include "src/common/env_redaction.h"
#include "src/common/event_summary.h"

namespace sbx {

Event redact_secrets(Event event) { return redact_env_values(std::move(event)); }

std::string event_json_line(const Event& event, Reveal reveal) {
  return encode_event(reveal == Reveal::kYes ? event : redact_secrets(event));
}

TableWriter::Row TableWriter::row_of(const Event& event, Reveal reveal) {
  Event e = reveal == Reveal::kYes ? event : redact_secrets(event);
  auto or_dash = [](const std::string& s) { return s.empty() ? std::string("-") : one_line(s); };
  return Row{std::to_string(e.position), format_rfc3339(e.time), one_line(e.stream),
             std::to_string(e.version),  std::string(e.type()),  std::string(to_string(e.reason)),
             or_dash(e.actor),           or_dash(e.request_id),  data_summary(e.data)};
}

void TableWriter::write(const std::vector<Row>& rows) {
  static const Row kHeader = {"POSITION", "TIME",  "STREAM",  "VERSION", "TYPE",
                              "REASON",   "ACTOR", "REQUEST", "DATA"};
  if (!header_written_) {
    for (std::size_t c = 0; c < kColumns; ++c) widths_[c] = std::max(widths_[c], kHeader[c].size());
  }
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < kColumns; ++c) widths_[c] = std::max(widths_[c], row[c].size());
  }
  // POSITION and VERSION are numbers: right-aligned. The last column is not padded.
  auto print = [&](const Row& row) {
    std::string line;
    for (std::size_t c = 0; c < kColumns; ++c) {
      const std::string& cell = row[c];
      std::size_t pad = widths_[c] - std::min(widths_[c], cell.size());
      bool right = (c == 0 || c == 3) && &row != &kHeader;
      if (c > 0) line += "  ";
      if (right) line.append(pad, ' ');
      line += cell;
      if (!right && c + 1 < kColumns) line.append(pad, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out_ << line << '\n';
  };
  if (!header_written_) {
    print(kHeader);
    header_written_ = true;
  }
  for (const auto& row : rows) print(row);
}

}  // namespace sbx
