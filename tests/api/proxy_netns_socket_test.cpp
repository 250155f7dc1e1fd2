// socket_in_netns (api/proxy/netns_socket.h): a socket made in another network namespace
// lives there. A thread of this test enters a fresh namespace (unshare), whose loopback is
// down, and stands for a sandbox's: a socket made in it cannot reach a listener of ours,
// one made in our own namespace (/proc/self/ns/net) can. Needs CAP_SYS_ADMIN (CI runs as
// root); without it the namespace tests skip, and fail under CI=true.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "api/proxy/netns_socket.h"
#include "tests/support/require_root.h"

namespace sbx::api::proxy {
namespace {

// A listening TCP socket on 127.0.0.1:0 of this process's namespace.
struct Listener {
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 4);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd); }
  int fd = -1;
  std::uint16_t port = 0;
};

// errno of a blocking-style connect of non-blocking socket `s` to 127.0.0.1:`port` (0: ok).
int connect_errno(int s, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  fd_set w;
  FD_ZERO(&w);
  FD_SET(s, &w);
  timeval tv{5, 0};
  if (::select(s + 1, nullptr, &w, nullptr, &tv) != 1) return ETIMEDOUT;
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
  return err;
}

// A thread in a namespace of its own until destroyed; path() names that namespace.
class ForeignNamespace {
 public:
  ForeignNamespace() {
    thread_ = std::thread([this] {
      std::unique_lock lock(mu_);
      ok_ = ::unshare(CLONE_NEWNET) == 0;
      tid_ = static_cast<pid_t>(::syscall(SYS_gettid));
      ready_ = true;
      cv_.notify_all();
      cv_.wait(lock, [this] { return done_; });
    });
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return ready_; });
  }
  ~ForeignNamespace() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  bool ok() const { return ok_; }
  std::string path() const {
    return "/proc/" + std::to_string(::getpid()) + "/task/" + std::to_string(tid_) + "/ns/net";
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool ready_ = false, done_ = false, ok_ = false;
  pid_t tid_ = 0;
  std::thread thread_;
};

TEST(NetnsSocket, ASocketMadeInAnotherNamespaceCannotReachOurLoopback) {
  SBX_REQUIRE_ROOT("entering a network namespace");
  Listener l;
  ForeignNamespace other;
  ASSERT_TRUE(other.ok()) << "unshare(CLONE_NEWNET) failed";

  auto here = socket_in_netns("/proc/self/ns/net");
  ASSERT_TRUE(here) << here.error();
  EXPECT_EQ(connect_errno(*here, l.port), 0);
  ::close(*here);

  auto there = socket_in_netns(other.path());
  ASSERT_TRUE(there) << there.error();
  // A fresh namespace's loopback is down: nothing of ours is reachable from it.
  EXPECT_NE(connect_errno(*there, l.port), 0);
  ::close(*there);
}

TEST(NetnsSocket, TheCallersThreadStaysInItsNamespace) {
  SBX_REQUIRE_ROOT("entering a network namespace");
  ForeignNamespace other;
  ASSERT_TRUE(other.ok());
  char before[64] = {}, after[64] = {};
  ASSERT_GT(::readlink("/proc/thread-self/ns/net", before, sizeof before - 1), 0);
  auto s = socket_in_netns(other.path());
  ASSERT_TRUE(s) << s.error();
  ::close(*s);
  ASSERT_GT(::readlink("/proc/thread-self/ns/net", after, sizeof after - 1), 0);
  EXPECT_STREQ(before, after);
}

TEST(NetnsSocket, PathsThatAreNotNetworkNamespacesAreRefused) {
  for (const char* bad : {"", "relative/ns", "/nonexistent/sandbox-netns", "/proc/self/status"}) {
    auto s = socket_in_netns(bad);
    ASSERT_FALSE(s) << bad;
    EXPECT_FALSE(s.error().empty());
  }
  EXPECT_NE(socket_in_netns("/nonexistent/ns").error().find("open /nonexistent/ns"),
            std::string::npos);
  EXPECT_NE(socket_in_netns("/proc/self/status").error().find("not a namespace file"),
            std::string::npos);
}

}  // namespace
}  // namespace sbx::api::proxy
