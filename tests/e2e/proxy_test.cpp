// The server proxy end to end: the real sandboxd binary, the private Docker engine, and a
// sandbox running proxy-test-app (tests/support/proxy_test_app.cpp, linked statically and
// built into the image sandboxd-test/proxy-app:1 on top of the busybox test image, so
// execd's bootstrap still has its shell). Every request goes to 127.0.0.1:<sandboxd port>
// and reaches the container from inside its network namespace (proxy.connect_in_netns, on
// by default; the first connections, before the namespace is known, and every one with the
// key off, through its published 127.0.0.1 host port).
//
//   HttpMethodsReachTheSandboxWithoutTheClientsCredentials   key required, key/Authorization/
//                                                            Cookie stripped, X-Forwarded-*
//   ServerSentEventsArriveOneByOne                           no buffering of the response
//   WebSocketEchoesBothWays                                  text and binary, byte for byte
//   HundredMegabytesUpAndDownInBoundedMemory                 VmHWM of sandboxd grows < 48 MiB
//   SignedRoutesNeedNoKeyUntilTheyExpire                     ?expires= endpoint, 403 after it
//   ProxiedAccessRenewsTheExpiry                             [renew_intent], one event
//   OnlyRunningSandboxesAreReached                           Paused 409, deleted 404
//   UpstreamConnectionsAreMadeInsideTheSandboxesNamespace    proxy.connect_in_netns on/off
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/require_root.h"

#ifndef SBX_PROXY_TEST_APP
#error "SBX_PROXY_TEST_APP (the proxy-test-app binary) must be defined by the build"
#endif

namespace sbx::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

constexpr char kAppImage[] = "sandboxd-test/proxy-app:1";
constexpr char kSecret[] = "e2e-proxy-signing-secret-0123456789";

// FNV-1a 64 as proxy-test-app computes it, in hex.
std::string fnv_hex(std::uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}
void fnv_add(std::uint64_t& h, const char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(p[i]);
    h *= 1099511628211ULL;
  }
}

// Peak resident memory of a process (VmHWM), in KiB.
long peak_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

struct Answer {
  int status = 0;
  std::string body;
  bhttp::fields headers;
};

class ServerProxy : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    ASSERT_NO_FATAL_FAILURE(build_app_image());
  }

  // sandboxd-test/proxy-app:1 = the busybox test image + /app (legacy builder: the base is
  // local, nothing is pulled).
  void build_app_image() {
    if (docker_->has_image(kAppImage)) return;
    TempDir ctx("proxy-app-image");
    std::filesystem::copy_file(SBX_PROXY_TEST_APP, ctx.path() / "app");
    write_text(ctx.path() / "Dockerfile",
               std::string("FROM ") + kTestBusyboxImage + "\nCOPY app /app\n");
    // Through the shell: the docker CLI is found on PATH.
    ChildProcess build({"/bin/sh", "-c", "exec docker -H \"$0\" build -q -t \"$1\" \"$2\"",
                        docker_host_, kAppImage, ctx.path().string()},
                       {{"DOCKER_BUILDKIT", "0"}});
    auto st = build.wait(milliseconds(120'000));
    if (!st) build.signal(SIGKILL);
    build.drain(milliseconds(1'000));
    ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
        << "docker build of " << kAppImage << " failed:\n" << build.output();
  }

  void start(const std::string& api_key = "", const std::string& extra = "") {
    auto o = default_options("bridge");
    o.api_key = api_key;
    o.extra_toml = "[proxy]\nsigning_secret = \"" + std::string(kSecret) + "\"\n" + extra;
    key_ = api_key;
    ASSERT_NO_FATAL_FAILURE(start_sandboxd(o));
  }

  std::vector<HttpHeader> key_headers() const {
    if (key_.empty()) return {};
    return {{"OPEN-SANDBOX-API-KEY", key_}};
  }

  Reply call(const std::string& method, const std::string& target, const Json& body = nullptr) {
    return api().request(method, target, body.is_null() ? "" : body.dump(), key_headers());
  }

  std::string create_app(Json extra = Json::object()) {
    Json req = {{"image", {{"uri", kAppImage}}},
                {"entrypoint", {"/app", "--port", "8080", "--host", "0.0.0.0"}},
                {"resourceLimits", {{"cpu", "500m"}, {"memory", "256Mi"}}},
                {"timeout", 600}};
    for (auto& [k, v] : extra.items()) req[k] = v;
    Reply r = call("POST", "/v1/sandboxes", req);
    EXPECT_EQ(r.status, 202) << r.describe();
    const std::string id = r.str("id");
    if (id.empty()) return "";
    for (int i = 0; i < 600; ++i) {
      Reply g = call("GET", sandbox_path(id));
      if (state_of(g) == "Running") break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    EXPECT_EQ(state_of(call("GET", sandbox_path(id))), "Running");
    // The app listens shortly after the container starts: wait until it answers.
    const std::string base = proxy_path(id);
    // (Opted out of renew-on-access, the reference's header, so that waiting is no activity.)
    for (int i = 0; i < 100; ++i) {
      if (request(bhttp::verb::get, base + "/echo", "", {{"OpenSandbox-Access-Renew", "skip"}},
                  true)
              .status == 200) {
        break;
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    return id;
  }

  std::string proxy_path(const std::string& id, int port = 8080) const {
    return "/sandboxes/" + id + "/proxy/" + std::to_string(port);
  }

  // One request on a fresh connection to sandboxd, answer read whole.
  Answer request(bhttp::verb method, const std::string& target, std::string body,
                 const std::vector<std::pair<std::string, std::string>>& headers, bool with_key) {
    asio::io_context io;
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                            static_cast<unsigned short>(sandboxd_->port())));
    bhttp::request<bhttp::string_body> req(method, target, 11);
    req.set(bhttp::field::host, sandboxd_->address());
    if (with_key && !key_.empty()) req.set("OPEN-SANDBOX-API-KEY", key_);
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = std::move(body);
    req.prepare_payload();
    bhttp::write(s, req);
    beast::flat_buffer buf;
    bhttp::response_parser<bhttp::string_body> p;
    p.body_limit(16 * 1024 * 1024);
    bhttp::read(s, buf, p);
    Answer a;
    a.status = static_cast<int>(p.get().result_int());
    a.body = p.get().body();
    a.headers = p.get().base();
    return a;
  }
  Answer get(const std::string& target, bool with_key = true) {
    return request(bhttp::verb::get, target, "", {}, with_key);
  }

  std::string key_;
};

TEST_F(ServerProxy, HttpMethodsReachTheSandboxWithoutTheClientsCredentials) {
  ASSERT_NO_FATAL_FAILURE(start("e2e-proxy-key-" + std::to_string(::getpid())));
  const std::string id = create_app();
  ASSERT_FALSE(id.empty());

  // The endpoint a client is told to use.
  Reply ep = call("GET", sandbox_path(id) + "/endpoints/8080?use_server_proxy=true");
  ASSERT_EQ(ep.status, 200) << ep.describe();
  EXPECT_EQ(ep.json()["endpoint"], sandboxd_->address() + "/v1" + proxy_path(id));

  for (const std::string prefix : {"", "/v1"}) {
    for (auto verb : {bhttp::verb::get, bhttp::verb::post, bhttp::verb::put, bhttp::verb::patch,
                      bhttp::verb::delete_}) {
      const std::string body = verb == bhttp::verb::get ? "" : "payload-of-17-byte";
      Answer a = request(verb, prefix + proxy_path(id) + "/echo/deep/path?x=1&y=two", body,
                         {{"Authorization", "Bearer client-token"},
                          {"Cookie", "session=abc"},
                          {"X-Custom", "kept"}},
                         true);
      ASSERT_EQ(a.status, 200) << prefix << " " << bhttp::to_string(verb) << ": " << a.body;
      Json j = Json::parse(a.body);
      EXPECT_EQ(j["method"], std::string(bhttp::to_string(verb)));
      EXPECT_EQ(j["path"], "/echo/deep/path");
      EXPECT_EQ(j["query"], "x=1&y=two");
      EXPECT_EQ(j["body_length"], body.size());
      const Json& h = j["headers"];
      EXPECT_FALSE(h.contains("open-sandbox-api-key")) << h.dump();
      EXPECT_FALSE(h.contains("authorization")) << h.dump();
      EXPECT_FALSE(h.contains("cookie")) << h.dump();
      EXPECT_EQ(h.value("x-custom", ""), "kept");
      EXPECT_EQ(h.value("x-forwarded-for", ""), "127.0.0.1") << h.dump();
      EXPECT_EQ(h.value("x-forwarded-proto", ""), "http");
      EXPECT_EQ(h.value("x-forwarded-host", ""), sandboxd_->address());
      EXPECT_EQ(h.value("x-forwarded-prefix", ""), prefix + proxy_path(id));
    }
  }
  // Without the key: refused by sandboxd, the sandbox never sees the request.
  Answer anon = get(proxy_path(id) + "/echo", false);
  EXPECT_EQ(anon.status, 401) << anon.body;
  EXPECT_NE(anon.body.find("MISSING_API_KEY"), std::string::npos) << anon.body;
  Answer wrong = request(bhttp::verb::get, proxy_path(id) + "/echo", "",
                         {{"OPEN-SANDBOX-API-KEY", "not-the-key"}}, false);
  EXPECT_EQ(wrong.status, 401) << wrong.body;
}

TEST_F(ServerProxy, ServerSentEventsArriveOneByOne) {
  ASSERT_NO_FATAL_FAILURE(start());
  const std::string id = create_app();
  ASSERT_FALSE(id.empty());
  asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                          static_cast<unsigned short>(sandboxd_->port())));
  bhttp::request<bhttp::empty_body> req(bhttp::verb::get,
                                        proxy_path(id) + "/sse?n=5&interval_ms=400", 11);
  req.set(bhttp::field::host, sandboxd_->address());
  bhttp::write(s, req);
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::buffer_body> p;
  bhttp::read_header(s, buf, p);
  ASSERT_EQ(p.get().result_int(), 200u);
  // Read the body as it comes; note when each "data:" line arrives.
  std::vector<std::chrono::steady_clock::time_point> arrivals;
  std::string seen;
  char chunk[4096];
  while (!p.is_done()) {
    p.get().body().data = chunk;
    p.get().body().size = sizeof chunk;
    beast::error_code ec;
    bhttp::read_some(s, buf, p, ec);  // what has arrived, not a full buffer
    if (ec && ec != bhttp::error::need_buffer) FAIL() << ec.message();
    const std::size_t got = sizeof chunk - p.get().body().size;
    const std::size_t before = seen.size();
    seen.append(chunk, got);
    for (std::size_t pos = before; (pos = seen.find("data:", pos)) != std::string::npos; ++pos) {
      arrivals.push_back(std::chrono::steady_clock::now());
    }
  }
  ASSERT_EQ(arrivals.size(), 5u) << seen;
  // 400 ms apart at the source: a buffering proxy would deliver them together at the end.
  for (std::size_t i = 1; i < arrivals.size(); ++i) {
    const auto gap = std::chrono::duration_cast<milliseconds>(arrivals[i] - arrivals[i - 1]);
    EXPECT_GE(gap.count(), 200) << "event " << i << " arrived " << gap.count() << " ms after "
                                << "the one before it";
  }
}

TEST_F(ServerProxy, WebSocketEchoesBothWays) {
  ASSERT_NO_FATAL_FAILURE(start("e2e-proxy-ws-key"));
  const std::string id = create_app();
  ASSERT_FALSE(id.empty());
  asio::io_context io;
  websocket::stream<tcp::socket> ws(io);
  ws.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                        static_cast<unsigned short>(sandboxd_->port())));
  ws.set_option(websocket::stream_base::decorator([this](websocket::request_type& r) {
    r.set("OPEN-SANDBOX-API-KEY", key_);
  }));
  ws.handshake(sandboxd_->address(), "/v1" + proxy_path(id) + "/ws");
  ws.text(true);
  ws.write(asio::buffer(std::string("hello through the proxy")));
  beast::flat_buffer in;
  ws.read(in);
  EXPECT_TRUE(ws.got_text());
  EXPECT_EQ(beast::buffers_to_string(in.data()), "hello through the proxy");
  in.consume(in.size());
  std::string blob(256 * 1024, '\0');
  std::mt19937 rng(7);
  for (auto& c : blob) c = static_cast<char>(rng());
  ws.binary(true);
  ws.write(asio::buffer(blob));
  ws.read(in);
  EXPECT_TRUE(ws.got_binary());
  EXPECT_TRUE(beast::buffers_to_string(in.data()) == blob) << "the binary message changed";
  ws.close(websocket::close_code::normal);
}

TEST_F(ServerProxy, HundredMegabytesUpAndDownInBoundedMemory) {
  ASSERT_NO_FATAL_FAILURE(start());
  const std::string id = create_app();
  ASSERT_FALSE(id.empty());
  const pid_t pid = sandboxd_->pid();
  const long before = peak_rss_kib(pid);
  ASSERT_GT(before, 0);
  constexpr std::size_t kBytes = 100u * 1024 * 1024;

  {  // Upload: Content-Length, written in 256 KiB pieces as fast as the proxy takes them.
    asio::io_context io;
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                            static_cast<unsigned short>(sandboxd_->port())));
    const std::string head = "POST " + proxy_path(id) + "/upload HTTP/1.1\r\nHost: " +
                             sandboxd_->address() + "\r\nContent-Type: application/octet-stream" +
                             "\r\nContent-Length: " + std::to_string(kBytes) + "\r\n\r\n";
    asio::write(s, asio::buffer(head));
    std::string piece(256 * 1024, '\0');
    std::uint64_t h = 1469598103934665603ULL;
    for (std::size_t sent = 0; sent < kBytes; sent += piece.size()) {
      for (std::size_t i = 0; i < piece.size(); ++i) piece[i] = static_cast<char>((sent + i) % 251);
      fnv_add(h, piece.data(), piece.size());
      asio::write(s, asio::buffer(piece));
    }
    beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(s, buf, res);
    ASSERT_EQ(res.result_int(), 200u) << res.body();
    Json j = Json::parse(res.body());
    EXPECT_EQ(j["length"], kBytes);
    EXPECT_EQ(j["checksum"], fnv_hex(h));
  }
  {  // Download: read and checked as it streams.
    asio::io_context io;
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                            static_cast<unsigned short>(sandboxd_->port())));
    bhttp::request<bhttp::empty_body> req(
        bhttp::verb::get, proxy_path(id) + "/download?bytes=" + std::to_string(kBytes), 11);
    req.set(bhttp::field::host, sandboxd_->address());
    bhttp::write(s, req);
    beast::flat_buffer buf;
    bhttp::response_parser<bhttp::buffer_body> p;
    p.body_limit(kBytes + 1);
    bhttp::read_header(s, buf, p);
    ASSERT_EQ(p.get().result_int(), 200u);
    std::vector<char> chunk(256 * 1024);
    std::size_t total = 0;
    bool pattern_ok = true;
    while (!p.is_done()) {
      p.get().body().data = chunk.data();
      p.get().body().size = chunk.size();
      beast::error_code ec;
      bhttp::read(s, buf, p, ec);
      if (ec && ec != bhttp::error::need_buffer) FAIL() << ec.message();
      const std::size_t got = chunk.size() - p.get().body().size;
      for (std::size_t i = 0; i < got; ++i) {
        pattern_ok &= chunk[i] == static_cast<char>((total + i) % 251);
      }
      total += got;
    }
    EXPECT_EQ(total, kBytes);
    EXPECT_TRUE(pattern_ok);
  }
  const long after = peak_rss_kib(pid);
  std::cerr << "[memory] sandboxd VmHWM " << before / 1024 << " MiB -> " << after / 1024
            << " MiB across 100 MiB up and 100 MiB down\n";
  EXPECT_LT(after - before, 48 * 1024) << "the proxy buffered what it relayed";
}

TEST_F(ServerProxy, SignedRoutesNeedNoKeyUntilTheyExpire) {
  ASSERT_NO_FATAL_FAILURE(start("e2e-proxy-signed-key"));
  const std::string id = create_app();
  ASSERT_FALSE(id.empty());
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  Reply ep = call("GET", sandbox_path(id) + "/endpoints/8080?expires=" + std::to_string(now + 4));
  ASSERT_EQ(ep.status, 200) << ep.describe();
  const std::string endpoint = ep.json()["endpoint"];
  const std::string host = sandboxd_->address();
  ASSERT_EQ(endpoint.rfind(host + "/v1/proxy/", 0), 0u) << endpoint;
  const std::string route_path = endpoint.substr(host.size());

  Answer ok = get(route_path + "/echo?via=signed", false);  // no API key
  ASSERT_EQ(ok.status, 200) << ok.body;
  Json j = Json::parse(ok.body);
  EXPECT_EQ(j["path"], "/echo");
  EXPECT_EQ(j["query"], "via=signed");

  std::string tampered = route_path;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  Answer bad = get(tampered + "/echo", false);
  EXPECT_EQ(bad.status, 403) << bad.body;
  EXPECT_NE(bad.body.find("SANDBOX::ROUTE_SIGNATURE_INVALID"), std::string::npos) << bad.body;

  std::this_thread::sleep_for(milliseconds((now + 5 - std::chrono::duration_cast<std::chrono::seconds>(
                                                           std::chrono::system_clock::now()
                                                               .time_since_epoch())
                                                           .count()) *
                                           1000));
  Answer expired = get(route_path + "/echo", false);
  EXPECT_EQ(expired.status, 403) << expired.body;
  EXPECT_NE(expired.body.find("SANDBOX::ROUTE_EXPIRED"), std::string::npos) << expired.body;
}

TEST_F(ServerProxy, ProxiedAccessRenewsTheExpiry) {
  ASSERT_NO_FATAL_FAILURE(start("", "[renew_intent]\nenabled = true\nmin_interval_seconds = 60\n"));
  const std::string id = create_app({{"extensions", {{"access.renew.extend.seconds", "3600"}}}});
  ASSERT_FALSE(id.empty());
  const std::string before = call("GET", sandbox_path(id)).json()["expiresAt"];
  // Waiting for the app opted out of renewal: nothing was renewed yet.
  for (const auto& e : events_of(call("GET", sandbox_path(id) + "/events"))) {
    EXPECT_NE(e.value("type", ""), "ExpirationRenewed") << e.dump();
  }
  for (int i = 0; i < 5; ++i) ASSERT_EQ(get(proxy_path(id) + "/echo").status, 200);
  std::string after = before;
  for (int i = 0; i < 100 && after == before; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
    after = call("GET", sandbox_path(id)).json()["expiresAt"];
  }
  EXPECT_NE(after, before) << "the expiry did not move";
  EXPECT_GT(after, before);  // ISO 8601 UTC strings sort by time
  Json events = events_of(call("GET", sandbox_path(id) + "/events"));
  int renewals = 0;
  for (const auto& e : events) {
    if (e.value("type", "") == "ExpirationRenewed") {
      ++renewals;
      EXPECT_EQ(e.value("actor", ""), "proxy:renew-intent") << e.dump();
    }
  }
  EXPECT_EQ(renewals, 1) << "five requests inside one min_interval renew once: " << events.dump();
}

TEST_F(ServerProxy, OnlyRunningSandboxesAreReached) {
  ASSERT_NO_FATAL_FAILURE(start());
  const std::string id = create_app();
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(call("POST", sandbox_path(id) + "/pause").status, 202);
  ASSERT_EQ(wait_for_state(api(), id, {"Paused", "Failed"}, milliseconds(30'000)), "Paused");
  Answer paused = get(proxy_path(id) + "/echo");
  EXPECT_EQ(paused.status, 409) << paused.body;
  ASSERT_EQ(call("DELETE", sandbox_path(id)).status, 204);
  ASSERT_EQ(wait_for_state(api(), id, {"NotFound"}, milliseconds(30'000)), "NotFound");
  Answer gone = get(proxy_path(id) + "/echo");
  EXPECT_EQ(gone.status, 404) << gone.body;
}

// The count of sandboxd_proxy_upstream_connects_total{route="<route>"} (0 when absent).
double upstream_connects(const std::string& metrics, const std::string& route) {
  const std::string needle = "\nsandboxd_proxy_upstream_connects_total{route=\"" + route + "\"} ";
  const auto pos = metrics.find(needle);
  return pos == std::string::npos ? 0 : std::stod(metrics.substr(pos + needle.size()));
}

TEST_F(ServerProxy, UpstreamConnectionsAreMadeInsideTheSandboxesNamespace) {
  SBX_REQUIRE_ROOT("connecting inside a sandbox's network namespace");
  for (const bool netns_on : {true, false}) {
    SCOPED_TRACE(netns_on ? "connect_in_netns = true" : "connect_in_netns = false");
    ASSERT_NO_FATAL_FAILURE(
        start("", netns_on ? "" : "connect_in_netns = false\n"));
    const std::string id = create_app();
    ASSERT_FALSE(id.empty());
    // The namespace is looked up in the background after the first proxied request: fresh
    // requests until one went through it (bounded).
    double via_netns = 0;
    Answer last;
    for (int i = 0; i < 50; ++i) {
      last = get(proxy_path(id) + "/echo/ns");
      ASSERT_EQ(last.status, 200) << last.body;
      via_netns = upstream_connects("\n" + api().get("/metrics").body, "netns");
      if (via_netns > 0 || (!netns_on && i >= 5)) break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    const std::string metrics = "\n" + api().get("/metrics").body;
    const Json echo = Json::parse(last.body);
    if (netns_on) {
      EXPECT_GT(via_netns, 0) << metrics;
      EXPECT_EQ(upstream_connects(metrics, "fallback"), 0) << metrics;
      // Inside the namespace the sandbox is 127.0.0.1:<its port>, with no execd prefix.
      EXPECT_EQ(echo["headers"].value("host", ""), "127.0.0.1:8080") << echo.dump();
      EXPECT_EQ(echo["path"], "/echo/ns");
    } else {
      EXPECT_EQ(via_netns, 0) << metrics;
      EXPECT_GT(upstream_connects(metrics, "published"), 0) << metrics;
    }
    ASSERT_EQ(call("DELETE", sandbox_path(id)).status, 204);
    ASSERT_EQ(wait_for_state(api(), id, {"NotFound"}, milliseconds(30'000)), "NotFound");
    sandboxd_.reset();  // the next round restarts it on the same data
  }
}

}  // namespace
}  // namespace sbx::testing
