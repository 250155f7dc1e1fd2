// A client that goes away while its request is parked: the answer that completes the wait
// later must go nowhere — never to the next connection the server accepts (which may well
// get the same file descriptor number), never interleaved into another client's answers.
// Runs in the release, ASan and TSan builds (the parked answer is written from a
// service/mutation thread while a Pistache thread serves the other connection).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/api/api_fixture.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;

// Connects, sends `request` whole, and returns the socket (the caller closes it).
int send_raw(std::uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("connect");
  }
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  return fd;
}

// Closes `fd`, with a TCP reset instead of a FIN when `reset`.
void close_socket(int fd, bool reset) {
  if (reset) {
    const linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  ::close(fd);
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// The newest sandbox id the log holds a SandboxRequested for.
std::string newest_requested(EventStore& store) {
  auto events = store.read(1, 100000);
  std::string id;
  if (!events) return id;
  for (const auto& e : *events) {
    if (const auto* r = std::get_if<SandboxRequested>(&e.data)) id = r->sandbox_id;
  }
  return id;
}

TEST(ApiParkedDisconnect, AnswerOfAGoneClientNeverReachesTheNextConnection) {
  auto o = default_harness_options();
  o.worker = false;  // the test is the (held back) worker
  o.api.create_wait_ms = 400;
  o.api.threads = 2;
  ApiHarness h(o);
  HttpClient setup(h.port());
  auto seed = setup.post("/v1/sandboxes", create_body(), {{"Prefer", "respond-async"}});
  ASSERT_EQ(seed.status, 202) << seed.body;
  const std::string seed_id = body_json(seed)["id"];

  const std::string body = create_body();
  const std::string parked_request =
      "POST /v1/sandboxes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "X-Request-ID: gone-client\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;

  constexpr int kRounds = 12;
  for (int i = 0; i < kRounds; ++i) {
    SCOPED_TRACE("round " + std::to_string(i));
    // Connection A: a create that waits for Running, then A leaves (FIN or RST).
    const std::size_t waits_before = h.service().pending_waits();
    const int a = send_raw(h.port(), parked_request);
    ASSERT_TRUE(eventually([&] { return h.service().pending_waits() > waits_before; }))
        << "the create was never parked";
    close_socket(a, /*reset=*/i % 2 == 1);

    // Connection B, opened right after: it may get A's descriptor number on the server.
    HttpClient b(h.port());
    const std::string first_id = "b-first-" + std::to_string(i);
    auto r1 = b.get("/v1/sandboxes/" + seed_id, {{"X-Request-ID", first_id}});
    EXPECT_EQ(r1.status, 200) << r1.body;
    EXPECT_EQ(r1.header("X-Request-ID"), first_id);
    EXPECT_EQ(body_json(r1).value("id", ""), seed_id);

    // A's wait ends while B is connected: by its outcome (every other round the test
    // records Running for it, as a worker would) or by the create wait running out.
    if (i % 4 < 2) {
      const std::string id = newest_requested(h.store());
      ASSERT_FALSE(id.empty());
      auto done = h.service().execute(id, RecordStarted{"container-" + std::to_string(i)},
                                      RequestContext{"", "worker:test"});
      ASSERT_TRUE(done.has_value()) << done.error().message;
    }
    ASSERT_TRUE(eventually([&] { return h.service().pending_waits() == waits_before; }))
        << "the parked create never completed";
    ASSERT_TRUE(eventually([&] { return h.server().in_flight() == 0; }))
        << "the answer to the gone client is still in flight";

    // B gets exactly its own answers: a stray 202 for A would be read here instead (the
    // client reads responses in order), with A's request id.
    const std::string second_id = "b-second-" + std::to_string(i);
    auto r2 = b.get("/health", {{"X-Request-ID", second_id}});
    EXPECT_EQ(r2.status, 200) << r2.body;
    EXPECT_EQ(r2.header("X-Request-ID"), second_id) << "B received someone else's answer";
    auto r3 = b.get("/v1/sandboxes/" + seed_id, {{"X-Request-ID", second_id + "-again"}});
    EXPECT_EQ(r3.status, 200) << r3.body;
    EXPECT_EQ(r3.header("X-Request-ID"), second_id + "-again");
    EXPECT_EQ(body_json(r3).value("id", ""), seed_id);
  }
  // The server is still whole: a fresh client is answered.
  HttpClient c(h.port());
  EXPECT_EQ(c.get("/health").status, 200);
}

}  // namespace
}  // namespace sbx::testing
