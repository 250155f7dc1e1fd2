// Fuzz target: the HTTP input handling of the real ApiServer (Pistache 0.0.5 underneath).
// One server for the whole run — a real RocksDB store in a temp dir, the real service,
// ApiServer on 127.0.0.1 port 0 — like tests/api/api_fixture.h but without a worker
// (waits are 0, so no request is parked). Each input is sent as raw bytes over a fresh
// loopback TCP connection in chunks whose sizes come from a PRNG seeded with a hash of the
// input (so a given input always splits the same way), the write side is closed, and
// whatever comes back is drained for at most kDrain. Then, on another fresh connection,
// GET /health must answer 200: no input may crash, wedge or poison the server.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "api/api_server.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/service/event_reads.h"
#include "src/service/sandbox_service.h"
#include "store/event_store.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace sbx;
using Steady = std::chrono::steady_clock;

constexpr auto kDrain = std::chrono::milliseconds(150);        // per fuzz input, at most
constexpr auto kFirstByte = std::chrono::milliseconds(40);     // no answer at all: move on
constexpr auto kIdle = std::chrono::milliseconds(10);          // answers stopped coming
constexpr auto kHealthWait = std::chrono::milliseconds(5000);  // the server must answer

struct Server {
  std::string dir;
  SystemClock clock;
  std::unique_ptr<EventStore> store;
  std::unique_ptr<SandboxService> service;
  std::unique_ptr<EventReads> reads;
  std::unique_ptr<api::ApiServer> server;
  std::uint16_t port = 0;
};

Server* g_server = nullptr;

void teardown() {
  if (!g_server) return;
  g_server->server->shutdown();
  g_server->service->shutdown();
  g_server->server.reset();
  g_server->reads.reset();
  g_server->service.reset();
  g_server->store.reset();
  std::error_code ec;
  std::filesystem::remove_all(g_server->dir, ec);
  delete g_server;
  g_server = nullptr;
}

Server& server() {
  if (g_server) return *g_server;
  ::signal(SIGPIPE, SIG_IGN);
  set_log_level("CRITICAL");
  auto s = std::make_unique<Server>();
  std::string tmpl = (std::filesystem::temp_directory_path() / "sandboxd-fuzz-http.XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) {
    std::perror("mkdtemp");
    std::abort();
  }
  s->dir = tmpl;
  auto store = EventStore::open(StoreOptions{.path = s->dir, .sync = false});
  FUZZ_CHECK(store.has_value(), "store: %s", store ? "" : store.error().message.c_str());
  s->store = std::move(*store);
  ServiceOptions so;
  so.network_mode = "bridge";
  so.port_range_low = 43000;
  so.port_range_high = 44999;
  so.probe_host_ports = false;
  so.mutation_threads = 2;
  s->service = std::make_unique<SandboxService>(*s->store, s->clock, so);
  s->reads = std::make_unique<EventReads>(*s->store);
  api::ApiOptions ao;
  ao.host = "127.0.0.1";
  ao.port = 0;
  ao.threads = 2;
  ao.max_body_bytes = 64 * 1024;
  ao.create_wait_ms = 0;
  ao.transition_wait_ms = 0;
  ao.max_wait = std::chrono::milliseconds(1000);
  ao.sse_heartbeat = std::chrono::milliseconds(50);
  s->server = std::make_unique<api::ApiServer>(
      api::ApiDeps{*s->service, *s->reads, nullptr, nullptr}, ao);
  auto port = s->server->start();
  FUZZ_CHECK(port.has_value(), "server: %s", port ? "" : port.error().message.c_str());
  s->port = *port;
  g_server = s.release();
  std::atexit(teardown);
  return *g_server;
}

int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(fd >= 0, "socket: %s", std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  FUZZ_CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0,
             "connect to the server: %s", std::strerror(errno));
  return fd;
}

// Reads until EOF, the deadline, or `idle` without a byte once something came (`first`
// before anything came); returns what came. Pistache keeps a half-closed connection open,
// so waiting for EOF alone would cost the whole deadline on every input.
std::string drain(int fd, Steady::time_point deadline, std::chrono::milliseconds first,
                  std::chrono::milliseconds idle) {
  std::string out;
  char buf[16384];
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now());
    if (left.count() <= 0) break;
    const auto wait = std::min(left, out.empty() ? first : idle);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

void send_in_chunks(int fd, std::string_view in) {
  std::uint64_t x = fnv1a(in) | 1;
  std::size_t pos = 0;
  while (pos < in.size()) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    // Mostly small chunks (1..16 bytes: splits inside tokens), sometimes up to 1 KiB.
    const std::size_t want = (x & 3) ? 1 + (x >> 8) % 16 : 1 + (x >> 8) % 1024;
    const std::size_t len = std::min(want, in.size() - pos);
    const ssize_t n = ::send(fd, in.data() + pos, len, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server closed on us (e.g. 413, bad request): fine
    pos += static_cast<std::size_t>(n);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Server& s = server();
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  {
    const int fd = connect_loopback(s.port);
    send_in_chunks(fd, in);
    ::shutdown(fd, SHUT_WR);
    (void)drain(fd, Steady::now() + kDrain, kFirstByte, kIdle);
    ::close(fd);
  }
  const int fd = connect_loopback(s.port);
  const std::string_view health = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  send_in_chunks(fd, health);
  std::string answer;
  const auto deadline = Steady::now() + kHealthWait;
  while (answer.find("\r\n\r\n") == std::string::npos && Steady::now() < deadline) {
    std::string more = drain(fd, deadline, kHealthWait, kIdle);
    if (more.empty()) break;  // EOF or deadline
    answer += more;
  }
  ::close(fd);
  FUZZ_CHECK(answer.starts_with("HTTP/1.1 200"),
             "GET /health on a fresh connection after this input answered: %.200s",
             answer.c_str());
  return 0;
}
