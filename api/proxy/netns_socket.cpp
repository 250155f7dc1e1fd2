#include "api/proxy/netns_socket.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace sbx::api::proxy {

namespace {

// statfs(2) f_type of the nsfs file system (linux/magic.h NSFS_MAGIC).
constexpr long kNsfsMagic = 0x6e736673;

std::string errno_text(const char* step, int err) {
  return std::string(step) + ": " + std::strerror(err);
}

}  // namespace

std::expected<int, std::string> socket_in_netns(const std::string& path, bool ipv6) {
  if (path.empty() || path.front() != '/') {
    return std::unexpected("network namespace path \"" + path + "\" is not absolute");
  }
  const int ns = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns < 0) return std::unexpected(errno_text(("open " + path).c_str(), errno));
  struct statfs fs {};
  if (::fstatfs(ns, &fs) != 0 || static_cast<long>(fs.f_type) != kNsfsMagic) {
    ::close(ns);
    return std::unexpected(path + " is not a namespace file");
  }
  // The namespace is entered by a thread that ends right after: nothing else ever runs in it.
  std::expected<int, std::string> out = std::unexpected(std::string("not run"));
  std::thread worker([&] {
    if (::setns(ns, CLONE_NEWNET) != 0) {
      out = std::unexpected(errno_text(("setns " + path).c_str(), errno));
      return;
    }
    const int s = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) {
      out = std::unexpected(errno_text("socket", errno));
      return;
    }
    out = s;
  });
  worker.join();
  ::close(ns);
  return out;
}

}  // namespace sbx::api::proxy
