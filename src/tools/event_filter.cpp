#include "src/tools/event_filter.h"

#include <algorithm>

#include "events/codec.h"

namespace sbx {

bool EventFilter::matches(const Event& event) const {
  if (stream && event.stream != *stream) return false;
  if (event.position < from_position) return false;
  if (to_position && event.position > *to_position) return false;
  if (since && event.time < *since) return false;
  if (until && event.time >= *until) return false;
  if (!types.empty() && std::find(types.begin(), types.end(), event.type()) == types.end()) {
    return false;
  }
  return true;
}

Result<std::vector<std::string>> parse_event_types(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& item : names) {
    std::size_t start = 0;
    while (start <= item.size()) {
      std::size_t comma = item.find(',', start);
      if (comma == std::string::npos) comma = item.size();
      std::string name = item.substr(start, comma - start);
      start = comma + 1;
      if (name.empty()) continue;
      if (current_schema(name) == 0) {
        return fail(ErrorCode::kInvalidArgument, "unknown event type '" + name + "'", "--type");
      }
      if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
    }
  }
  return out;
}

}  // namespace sbx
