#include "src/service/port_allocator.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sbx {

PortAllocator::PortAllocator(int low, int high, bool probe, std::string bind_ip)
    : low_(low),
      high_(std::max(low, high)),
      probe_(probe),
      bind_ip_(std::move(bind_ip)),
      cursor_(low) {}

void PortAllocator::mark_used(const std::string& owner, const std::vector<int>& ports) {
  std::lock_guard lock(mu_);
  auto& owned = by_owner_[owner];
  for (int p : ports) {
    if (used_.emplace(p, owner).second) owned.push_back(p);
  }
}

bool PortAllocator::probe_free(int port) const {
  // A listening socket of another process makes bind() fail with EADDRINUSE. SO_REUSEADDR
  // lets us ignore TIME_WAIT remnants, which do not stop Docker from publishing the port.
  const bool v6 = bind_ip_.find(':') != std::string::npos;
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;  // cannot tell: do not skip the port
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc = 0;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET6, bind_ip_.c_str(), &a.sin6_addr) != 1) a.sin6_addr = in6addr_any;
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET, bind_ip_.c_str(), &a.sin_addr) != 1) a.sin_addr.s_addr = INADDR_ANY;
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  const int err = errno;
  ::close(fd);
  return rc == 0 || err != EADDRINUSE;
}

Result<std::vector<int>> PortAllocator::reserve(const std::string& owner, std::size_t count) {
  std::lock_guard lock(mu_);
  if (by_owner_.contains(owner)) {
    return fail(ErrorCode::kInvalidArgument, "ports already reserved for " + owner);
  }
  std::vector<int> picked;
  picked.reserve(count);
  const int span = high_ - low_ + 1;
  for (int tried = 0; tried < span && picked.size() < count; ++tried) {
    const int port = cursor_;
    cursor_ = cursor_ >= high_ ? low_ : cursor_ + 1;
    if (used_.contains(port)) continue;
    if (probe_ && !probe_free(port)) continue;
    picked.push_back(port);
  }
  if (picked.size() < count) {
    return fail(ErrorCode::kResourceExhausted,
                "no free host ports left in docker.port_range " + std::to_string(low_) + "-" +
                    std::to_string(high_) + " (" + std::to_string(used_.size()) +
                    " in use by live sandboxes)",
                "docker.port_range");
  }
  auto& owned = by_owner_[owner];
  for (int p : picked) {
    used_.emplace(p, owner);
    owned.push_back(p);
  }
  return picked;
}

std::size_t PortAllocator::release(std::string_view owner) {
  std::lock_guard lock(mu_);
  auto it = by_owner_.find(owner);
  if (it == by_owner_.end()) return 0;
  std::size_t n = 0;
  for (int p : it->second) n += used_.erase(p);
  by_owner_.erase(it);
  return n;
}

bool PortAllocator::in_use(int port) const {
  std::lock_guard lock(mu_);
  return used_.contains(port);
}

std::size_t PortAllocator::used_count() const {
  std::lock_guard lock(mu_);
  return used_.size();
}

std::size_t PortAllocator::capacity() const { return static_cast<std::size_t>(high_ - low_ + 1); }

std::vector<int> PortAllocator::ports_of(std::string_view owner) const {
  std::lock_guard lock(mu_);
  auto it = by_owner_.find(owner);
  return it == by_owner_.end() ? std::vector<int>{} : it->second;
}

}  // namespace sbx
