// Fault-injection suite: a hung Docker engine. A loopback listener accepts connections and
// never answers (DOCKER_HOST=tcp://127.0.0.1:port); every runtime call must give up after
// docker.api_timeout with a transient error instead of hanging its caller forever.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "src/runtime/docker/docker_runtime.h"

namespace sbx {
namespace {

using Clock = std::chrono::steady_clock;

// Accepts every connection and keeps it open without ever writing a byte.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 64), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) break;
        accepted_.push_back(c);
      }
    });
  }
  ~SilentListener() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (int c : accepted_) ::close(c);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> accepted_;  // only the accept thread touches it until the join
  std::thread thread_;
};

TEST(HungEngine, EveryCallTimesOutAfterTheApiTimeout) {
  SilentListener engine;
  DockerOptions o;
  o.host = "tcp://127.0.0.1:" + std::to_string(engine.port());
  o.api_timeout = std::chrono::seconds(1);
  auto runtime = DockerRuntime::create(o);
  ASSERT_TRUE(runtime) << runtime.error().message;

  auto timed = [](auto&& call) {
    const auto t0 = Clock::now();
    auto r = call();
    return std::pair{!r.has_value() ? r.error().code : ErrorCode::kInternal,
                     Clock::now() - t0};
  };
  ContainerSpec spec;
  spec.sandbox_id = "hung-engine";
  spec.image_uri = "busybox:latest";
  spec.entrypoint = {"sleep", "1"};
  for (auto [code, took] :
       {timed([&] { return (*runtime)->ping(); }),
        timed([&] { return (*runtime)->pause("hung-engine"); }),
        timed([&] { return (*runtime)->remove("hung-engine"); })}) {
    EXPECT_TRUE(code == ErrorCode::kDeadlineExceeded || code == ErrorCode::kUnavailable)
        << static_cast<int>(code);
    EXPECT_LT(took, std::chrono::seconds(4)) << "a call outlived docker.api_timeout (1 s)";
  }
  auto [code, took] = timed([&] { return (*runtime)->create_and_start(spec); });
  EXPECT_TRUE(code == ErrorCode::kDeadlineExceeded || code == ErrorCode::kUnavailable);
  EXPECT_LT(took, std::chrono::seconds(8));
}

}  // namespace
}  // namespace sbx
