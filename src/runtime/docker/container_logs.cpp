#include "src/runtime/docker/container_logs.h"

#include <algorithm>

#include "src/runtime/docker/docker_engine.h"
#include "src/runtime/docker/event_watch.h"

namespace sbx {

std::string docker_logs_path(const std::string& container, const LogLimits& limits) {
  std::string path = std::string("/containers/") + url_encode(container) +
                     "/logs?stdout=1&stderr=1&tail=" +
                     std::to_string(std::max(limits.tail, 0));
  if (limits.timestamps) path += "&timestamps=1";
  if (limits.since) path += std::string("&since=") + format_since(*limits.since);
  return path;
}

bool LogDemuxer::take(std::string_view payload) {
  const std::size_t room = max_bytes_ - out_.size();
  if (payload.size() > room) {
    out_.append(payload.substr(0, room));
    truncated_ = true;
    return false;
  }
  out_.append(payload);
  return true;
}

bool LogDemuxer::feed(std::string_view chunk) {
  if (error_ || truncated_) return false;
  if (framing_ == Framing::kRaw) return take(chunk);
  while (!chunk.empty()) {
    if (payload_left_ > 0) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(payload_left_, chunk.size()));
      payload_left_ -= n;
      if (!take(chunk.substr(0, n))) return false;
      chunk.remove_prefix(n);
      continue;
    }
    const std::size_t n = std::min(header_.size() - header_have_, chunk.size());
    std::copy_n(chunk.begin(), n, header_.begin() + static_cast<std::ptrdiff_t>(header_have_));
    header_have_ += n;
    chunk.remove_prefix(n);
    if (header_have_ < header_.size()) break;
    header_have_ = 0;
    if (header_[0] > 2 || header_[1] != 0 || header_[2] != 0 || header_[3] != 0) {
      error_ = Error(ErrorCode::kInternal,
                     std::string("malformed log stream from the engine: a frame header "
                                 "starts with byte ") +
                         std::to_string(header_[0]) + " " + std::to_string(header_[1]) + " " +
                         std::to_string(header_[2]) + " " + std::to_string(header_[3]),
                     "runtime");
      return false;
    }
    payload_left_ = (std::uint64_t{header_[4]} << 24) | (std::uint64_t{header_[5]} << 16) |
                    (std::uint64_t{header_[6]} << 8) | std::uint64_t{header_[7]};
  }
  if (out_.size() >= max_bytes_ && (payload_left_ > 0 || header_have_ > 0)) {
    truncated_ = true;
    return false;
  }
  return true;
}

ContainerLogs LogDemuxer::finish() && {
  if (truncated_) {
    // Drop a UTF-8 sequence the cut left incomplete.
    std::size_t i = out_.size();
    std::size_t back = 0;
    while (i > 0 && back < 4 && (static_cast<unsigned char>(out_[i - 1]) & 0xC0) == 0x80) {
      --i;
      ++back;
    }
    if (i > 0) {
      const auto lead = static_cast<unsigned char>(out_[i - 1]);
      const std::size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      if (len > 1 && back + 1 < len) out_.resize(i - 1);
    }
  }
  return ContainerLogs{std::move(out_), truncated_};
}

}  // namespace sbx
