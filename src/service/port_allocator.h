// PortAllocator: hands out host ports from a fixed range so that no two live sandboxes
// ever share one.
//
// Ports are owned by a sandbox id: reserve() takes N free ports for an id, release()
// returns every port the id holds. The service seeds the allocator from the live
// projection at startup (mark_used), reserves before it appends SandboxRequested, and
// releases when the append fails or the sandbox reaches Terminated/Failed/deleted.
// The search starts after the last port handed out (round robin), so a port that was
// just released is not reused at once (the runtime may still be tearing it down).
// With `probe` set, a port some other process is listening on (bind() on `bind_ip`
// fails with EADDRINUSE) is skipped.
//
// Thread-safe (one mutex). Errors: reserve returns kResourceExhausted when fewer than N
// ports are free, and kInvalidArgument for an id that already holds ports.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "events/result.h"

namespace sbx {

class PortAllocator {
 public:
  PortAllocator(int low, int high, bool probe = false, std::string bind_ip = "0.0.0.0");

  // Records ports already held by a sandbox (startup seeding). Ports outside the range
  // are remembered too (so they are released with the id) but never handed out.
  void mark_used(const std::string& owner, const std::vector<int>& ports);

  // `count` distinct free ports, now owned by `owner`.
  [[nodiscard]] Result<std::vector<int>> reserve(const std::string& owner, std::size_t count);

  // Frees every port `owner` holds; returns how many. Unknown owners are a no-op.
  std::size_t release(std::string_view owner);

  bool in_use(int port) const;
  std::size_t used_count() const;
  std::size_t capacity() const;
  std::vector<int> ports_of(std::string_view owner) const;

 private:
  bool probe_free(int port) const;

  const int low_;
  const int high_;
  const bool probe_;
  const std::string bind_ip_;

  mutable std::mutex mu_;
  std::unordered_map<int, std::string> used_;                      // port -> owner
  std::map<std::string, std::vector<int>, std::less<>> by_owner_;  // owner -> ports
  int cursor_;                                                     // next port to try
};

}  // namespace sbx
