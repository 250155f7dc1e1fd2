// KubeClient::watch_lines and the request headers against a one-shot HTTP server on
// 127.0.0.1 that writes a watch body in awkward pieces (what a proxy or a slow API server
// may do): lines split across writes, several lines in one write, an endless line.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "src/runtime/kubernetes/kube_client.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;

// Accepts one connection, records the request head, answers 200 with `pieces` written one
// by one (a short pause between them), then closes.
class OneShotServer {
 public:
  explicit OneShotServer(std::vector<std::string> pieces) : pieces_(std::move(pieces)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 1), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~OneShotServer() {
    thread_.join();
    ::close(fd_);
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& request_head() const { return head_; }  // after the client returned

 private:
  void serve() {
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    char buf[4096];
    while (head_.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      head_.append(buf, static_cast<std::size_t>(n));
    }
    std::string start = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
    (void)!::write(c, start.data(), start.size());
    for (const std::string& p : pieces_) {
      std::size_t off = 0;
      while (off < p.size()) {
        ssize_t n = ::send(c, p.data() + off, p.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
      }
      if (off < p.size()) break;  // the client hung up
      std::this_thread::sleep_for(20ms);
    }
    ::close(c);
  }

  std::vector<std::string> pieces_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::string head_;
  std::thread thread_;
};

std::unique_ptr<KubeClient> client_for(const std::string& endpoint, const std::string& token) {
  KubeClientOptions o;
  o.credentials.server = endpoint;
  o.credentials.token = token;
  auto c = KubeClient::create(o);
  EXPECT_TRUE(c) << c.error().message;
  return c ? std::move(*c) : nullptr;
}

TEST(KubeWatchLines, LinesSplitAcrossWritesAreReassembledAndBlankLinesSkipped) {
  OneShotServer server({R"({"type":"ADDED","object":{"n":1}})" "\n" R"({"type":"MOD)",
                        R"(IFIED","object":{"n":2}})" "\r\n\n" R"({"type":)",
                        R"("DELETED","object":{"n":3}})" "\n" R"({"partial)"});
  auto client = client_for(server.endpoint(), "tok-123");
  ASSERT_TRUE(client);
  std::vector<std::string> lines;
  auto r = client->watch_lines("/api/v1/pods?watch=1", [&](std::string_view l) {
    lines.emplace_back(l);
    return true;
  }, std::stop_token{});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(lines.size(), 3u);  // the unterminated fragment at the end is no event
  EXPECT_EQ(lines[0], R"({"type":"ADDED","object":{"n":1}})");
  EXPECT_EQ(lines[1], R"({"type":"MODIFIED","object":{"n":2}})");
  EXPECT_EQ(lines[2], R"({"type":"DELETED","object":{"n":3}})");
  EXPECT_NE(server.request_head().find("GET /api/v1/pods?watch=1 HTTP/1.1"), std::string::npos);
  EXPECT_NE(server.request_head().find("Authorization: Bearer tok-123"), std::string::npos)
      << server.request_head();
}

TEST(KubeWatchLines, HandlerReturningFalseEndsTheWatch) {
  OneShotServer server({"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n"});
  auto client = client_for(server.endpoint(), "");
  ASSERT_TRUE(client);
  int seen = 0;
  auto r = client->watch_lines("/w", [&](std::string_view) { return ++seen < 2; }, {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(server.request_head().find("Authorization"), std::string::npos);
}

TEST(KubeWatchLines, ALineBeyondTheBoundIsResourceExhausted) {
  const std::string mib(1u << 20, 'x');
  std::vector<std::string> pieces{"{\"ok\":1}\n"};
  for (std::size_t i = 0; i <= KubeClient::kMaxWatchLine / mib.size(); ++i) pieces.push_back(mib);
  OneShotServer server(pieces);
  auto client = client_for(server.endpoint(), "");
  ASSERT_TRUE(client);
  int seen = 0;
  auto r = client->watch_lines("/w", [&](std::string_view) { return ++seen > 0; }, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted) << r.error().message;
  EXPECT_EQ(seen, 1);
}

}  // namespace
}  // namespace sbx::testing
