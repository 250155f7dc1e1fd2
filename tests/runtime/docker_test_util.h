// Helpers for the runtime tests that talk to the private Docker engine (header-only).
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "src/http/http_client.h"
#include "src/runtime/docker/docker_runtime.h"
#include "tests/support/docker_env.h"

namespace sbx::testing {

// A TCP port on 127.0.0.1 that was free a moment ago.
inline std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Polls GET http://127.0.0.1:<port><path> up to `tries` x 100 ms; the last status (0 if
// never connected).
inline int poll_http_status(std::uint16_t port, const std::string& path, int tries = 50) {
  auto client = HttpClient::create({.endpoint = "http://127.0.0.1:" + std::to_string(port),
                                    .connect_timeout = std::chrono::milliseconds(500),
                                    .request_timeout = std::chrono::milliseconds(1000)});
  if (!client) return -1;
  int status = 0;
  for (int i = 0; i < tries; ++i) {
    auto r = (*client)->send({.target = path});
    if (r) {
      status = r->status;
      if (status == 200) return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return status;
}

// Options for a DockerRuntime on the test engine, publishing on 127.0.0.1 only.
inline DockerOptions test_docker_options(const std::string& host) {
  DockerOptions o;
  o.host = host;
  o.api_timeout = std::chrono::seconds(60);
  o.execd_image = kTestExecdImage;
  o.port_bind_ip = "127.0.0.1";
  return o;
}

}  // namespace sbx::testing
