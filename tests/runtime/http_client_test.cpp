// HttpClient against a tiny HTTP/1.1 server on 127.0.0.1 port 0 (tcp://) and on a unix
// socket (unix://), both run by the test.
#include "src/http/http_client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"

namespace {

using namespace std::chrono_literals;

struct SeenRequest {
  std::string head;  // request line and headers
  std::string body;
};

// Serves connections one at a time; `respond` writes the whole answer to the fd.
class MiniServer {
 public:
  using Respond = std::function<void(int fd, const SeenRequest&)>;

  static std::unique_ptr<MiniServer> tcp(Respond respond) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return nullptr;
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    auto s = std::unique_ptr<MiniServer>(new MiniServer(fd, std::move(respond)));
    s->endpoint_ = "tcp://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
    return s;
  }

  static std::unique_ptr<MiniServer> unix_socket(const std::string& path, Respond respond) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return nullptr;
    auto s = std::unique_ptr<MiniServer>(new MiniServer(fd, std::move(respond)));
    s->endpoint_ = "unix://" + path;
    return s;
  }

  ~MiniServer() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    thread_.join();
  }

  const std::string& endpoint() const { return endpoint_; }
  std::vector<SeenRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  MiniServer(int fd, Respond respond) : listen_fd_(fd), respond_(std::move(respond)) {
    ::listen(listen_fd_, 16);
    thread_ = std::thread([this] { loop(); });
  }

  void loop() {
    while (!stop_) {
      int c = ::accept(listen_fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string data;
      char buf[4096];
      SeenRequest req;
      while (true) {
        auto end = data.find("\r\n\r\n");
        if (end != std::string::npos) {
          req.head = data.substr(0, end);
          std::size_t want = 0;
          auto cl = req.head.find("Content-Length: ");
          if (cl != std::string::npos) want = std::stoul(req.head.substr(cl + 16));
          if (data.size() - end - 4 >= want) {
            req.body = data.substr(end + 4, want);
            break;
          }
        }
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        data.append(buf, static_cast<std::size_t>(n));
      }
      {
        std::lock_guard lock(mu_);
        requests_.push_back(req);
      }
      respond_(c, req);
      ::close(c);
    }
  }

  int listen_fd_;
  Respond respond_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<SeenRequest> requests_;
};

void write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

void answer(int fd, int status, const std::string& body, const std::string& extra = "") {
  write_all(fd, "HTTP/1.1 " + std::to_string(status) +
                    " X\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\nConnection: close\r\n" + extra + "\r\n" + body);
}

std::unique_ptr<sbx::HttpClient> client_for(const std::string& endpoint,
                                            std::chrono::milliseconds timeout = 5s) {
  auto c = sbx::HttpClient::create({.endpoint = endpoint, .request_timeout = timeout});
  EXPECT_TRUE(c) << c.error().message;
  return std::move(*c);
}

TEST(HttpClient, SendsMethodTargetHeadersAndBodyOverTcp) {
  auto server = MiniServer::tcp([](int fd, const SeenRequest&) {
    answer(fd, 201, "{\"Id\":\"abc\"}", "API-Version: 1.41\r\n");
  });
  ASSERT_TRUE(server);
  auto client = client_for(server->endpoint());
  auto r = client->send({.method = "POST",
                         .target = "/v1.41/containers/create?name=x",
                         .headers = {{"Content-Type", "application/json"}},
                         .body = "{\"Image\":\"i\"}"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "{\"Id\":\"abc\"}");
  EXPECT_EQ(r->header("api-version").value_or(""), "1.41");
  EXPECT_FALSE(r->header("X-Missing").has_value());
  auto seen = server->requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].head.starts_with("POST /v1.41/containers/create?name=x HTTP/1.1"))
      << seen[0].head;
  EXPECT_NE(seen[0].head.find("Content-Type: application/json"), std::string::npos);
  EXPECT_EQ(seen[0].body, "{\"Image\":\"i\"}");
}

TEST(HttpClient, ErrorStatusIsAResponseAndEmptyPostHasZeroLength) {
  auto server = MiniServer::tcp([](int fd, const SeenRequest&) {
    answer(fd, 404, "{\"message\":\"No such container: x\"}");
  });
  ASSERT_TRUE(server);
  auto client = client_for(server->endpoint());
  auto r = client->send({.method = "POST", .target = "/containers/x/start"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 404);
  auto seen = server->requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].head.starts_with("POST /containers/x/start")) << seen[0].head;
  EXPECT_NE(seen[0].head.find("Content-Length: 0"), std::string::npos) << seen[0].head;
}

TEST(HttpClient, PutAndDeleteUseTheirMethods) {
  auto server = MiniServer::tcp([](int fd, const SeenRequest&) { answer(fd, 200, ""); });
  ASSERT_TRUE(server);
  auto client = client_for(server->endpoint());
  std::string binary("tar\0data", 8);
  ASSERT_TRUE(client->send({.method = "PUT", .target = "/a", .body = binary}));
  ASSERT_TRUE(client->send({.method = "DELETE", .target = "/b?force=1"}));
  auto seen = server->requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[0].head.starts_with("PUT /a ")) << seen[0].head;
  EXPECT_EQ(seen[0].body, binary);
  EXPECT_TRUE(seen[1].head.starts_with("DELETE /b?force=1 ")) << seen[1].head;
}

TEST(HttpClient, WorksOverAUnixSocket) {
  sbx::testing::TempDir dir("sbx-http");
  auto server = MiniServer::unix_socket((dir / "s.sock").string(),
                                        [](int fd, const SeenRequest&) { answer(fd, 200, "OK"); });
  ASSERT_TRUE(server);
  auto client = client_for(server->endpoint());
  auto r = client->send({.target = "/_ping"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "OK");
}

TEST(HttpClient, MissingUnixSocketIsUnavailableAndSaysWhere) {
  auto client = client_for("unix:///nonexistent/sandboxd/docker.sock");
  auto start = std::chrono::steady_clock::now();
  auto r = client->send({.target = "/_ping"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, sbx::ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("/nonexistent/sandboxd/docker.sock"), std::string::npos)
      << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(HttpClient, SlowServerIsDeadlineExceeded) {
  auto server = MiniServer::tcp([](int fd, const SeenRequest&) {
    std::this_thread::sleep_for(800ms);
    answer(fd, 200, "late");
  });
  ASSERT_TRUE(server);
  auto client = client_for(server->endpoint(), 200ms);
  auto r = client->send({.target = "/slow"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, sbx::ErrorCode::kDeadlineExceeded) << r.error().message;
}

TEST(HttpClient, MalformedEndpointsAreInvalidArgument) {
  for (const char* e : {"", "ftp://x", "unix://relative.sock", "tcp://", "tcp://h:1/path"}) {
    auto c = sbx::HttpClient::create({.endpoint = e});
    ASSERT_FALSE(c) << e;
    EXPECT_EQ(c.error().code, sbx::ErrorCode::kInvalidArgument) << e;
  }
}

TEST(HttpClient, StreamDeliversChunksAndStopsPromptlyOnRequest) {
  std::atomic<bool> release{false};
  auto server = MiniServer::tcp([&](int fd, const SeenRequest&) {
    write_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    write_all(fd, "6\r\nline1\n\r\n");
    write_all(fd, "6\r\nline2\n\r\n");
    while (!release) std::this_thread::sleep_for(10ms);  // then hold the stream open
  });
  ASSERT_TRUE(server);
  auto client = client_for(server->endpoint());
  std::stop_source stop;
  std::string got;
  std::mutex mu;
  std::thread t([&] {
    auto r = client->stream(
        {.target = "/events"},
        [&](std::string_view chunk) {
          std::lock_guard lock(mu);
          got.append(chunk);
          return true;
        },
        stop.get_token());
    EXPECT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
  });
  for (int i = 0; i < 100; ++i) {
    {
      std::lock_guard lock(mu);
      if (got.size() >= 12) break;
    }
    std::this_thread::sleep_for(20ms);
  }
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(got, "line1\nline2\n");
  }
  auto asked = std::chrono::steady_clock::now();
  stop.request_stop();
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 500ms);
  release = true;
}

TEST(HttpClient, StreamReturnsErrorBodyOfNon2xx) {
  auto server = MiniServer::tcp(
      [](int fd, const SeenRequest&) { answer(fd, 400, "{\"message\":\"bad filter\"}"); });
  ASSERT_TRUE(server);
  auto client = client_for(server->endpoint());
  bool called = false;
  auto r = client->stream(
      {.target = "/events"}, [&](std::string_view) { return called = true; },
      std::stop_source().get_token());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, "{\"message\":\"bad filter\"}");
  EXPECT_FALSE(called);
}

}  // namespace
