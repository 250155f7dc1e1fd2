// The Docker side of Runtime::container_logs (runtime.h): the query of
// GET /containers/{id}/logs and LogDemuxer, which turns the engine's answer into text.
//
// A container without a TTY answers with a multiplexed stream: frames of an 8-byte header
// {stream (0 stdin, 1 stdout, 2 stderr), 0, 0, 0, payload size (u32 big-endian)} and the
// payload. A TTY container answers the raw bytes. LogDemuxer takes the body piece by piece
// as it arrives (a header or a payload may be split across any number of pieces), appends
// payloads in order and stops at `max_bytes` of output: a frame's declared size is only
// counted down as bytes arrive, never allocated, so a hostile or corrupt size costs
// nothing. A header whose stream byte is not 0..2 or whose padding is not zero is a
// malformed stream (error(), and feed() returns false).
//
// Not thread-safe (one per call).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "events/result.h"
#include "src/runtime/runtime.h"

namespace sbx {

// "/containers/<name>/logs?stdout=1&stderr=1&tail=<n>&timestamps=1[&since=<s.us>]".
std::string docker_logs_path(const std::string& container, const LogLimits& limits);

class LogDemuxer {
 public:
  enum class Framing { kMultiplexed, kRaw };
  LogDemuxer(std::size_t max_bytes, Framing framing) : max_bytes_(max_bytes), framing_(framing) {}

  // Takes the next piece of the body. False when no more is wanted: max_bytes reached, or
  // the stream is malformed.
  bool feed(std::string_view chunk);

  // The collected output; `truncated` when max_bytes was reached while more was coming (an
  // output cut there loses a trailing incomplete UTF-8 sequence).
  ContainerLogs finish() &&;

  // Set once a malformed frame header was seen (kInternal, message says what).
  const std::optional<Error>& error() const { return error_; }

 private:
  bool take(std::string_view payload);

  const std::size_t max_bytes_;
  const Framing framing_;
  std::string out_;
  bool truncated_ = false;
  std::optional<Error> error_;
  std::array<unsigned char, 8> header_{};
  std::size_t header_have_ = 0;
  std::uint64_t payload_left_ = 0;  // of the current frame
};

}  // namespace sbx
