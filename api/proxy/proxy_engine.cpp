// The one translation unit of sandboxd that includes Boost.Beast/Asio (they compile slowly).
// Each adopted client connection is a Conn: one coroutine (run) that reads a request head,
// authorizes and resolves it, relays the request and its answer through two bounded
// buffers, and loops while both sides keep the connection alive; a watchdog coroutine
// enforces the header, connect, response-head and idle timeouts; an upgrade answered 101
// becomes two pump coroutines. The engine runs one single-threaded io_context per thread
// (proxy.threads) and gives each connection to one of them in turn: all of a Conn's
// coroutines, and its sockets, live on that one thread, so its state needs no lock and no
// request wakes a second thread (a strand over a shared io_context did, at every step).
// Idle upstream connections are pooled per io_context for the same reason. The engine's
// shared state (connection registry, idle upstream pool, the API address) is guarded by
// Impl::mu.
#include "api/proxy/proxy_engine.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <deque>
#include <limits>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "api/http_util.h"
#include "api/proxy/netns_socket.h"
#include "api/proxy/proxy_path.h"
#include "src/common/log.h"

namespace sbx::api::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;
// A connection's executor: its io_context (one thread), which serialises it as a strand would.
using Strand = asio::io_context::executor_type;
template <typename T>
using awaitable = asio::awaitable<T>;

namespace {

auto tok(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

// Bodies are streamed, never held: no size limit. (Beast 1.74 compares a length with an
// empty optional as "exceeded", so body_limit(boost::none) would refuse every body.)
constexpr std::uint64_t kNoBodyLimit = std::numeric_limits<std::uint64_t>::max();

// Request and response headers that concern one connection only (RFC 9110 7.6.1), and so
// are never relayed; bodies are re-framed instead of relaying Transfer-Encoding.
constexpr http::field kHopByHop[] = {
    http::field::connection,         http::field::keep_alive,
    http::field::proxy_authenticate, http::field::proxy_authorization,
    http::field::te,                 http::field::trailer,
    http::field::transfer_encoding,  http::field::upgrade,
};

std::string status_class(unsigned status) { return std::to_string(status / 100) + "xx"; }

// The comma-separated tokens of a header value, trimmed, empty ones dropped.
std::vector<std::string> tokens_of(std::string_view value) {
  std::vector<std::string> out;
  while (!value.empty()) {
    const auto comma = value.find(',');
    const std::string_view t = trim(value.substr(0, comma));
    if (!t.empty()) out.emplace_back(t);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

// Removes the hop-by-hop headers of `fields` and every header its Connection names.
template <typename Fields>
void strip_hop_by_hop(Fields& fields) {
  std::vector<std::string> named;
  for (auto it = fields.find(http::field::connection); it != fields.end() &&
                                                       it->name() == http::field::connection;
       ++it) {
    for (auto& t : tokens_of(std::string_view(it->value().data(), it->value().size()))) {
      named.push_back(std::move(t));
    }
  }
  for (const auto& n : named) fields.erase(beast::string_view(n));
  for (auto f : kHopByHop) fields.erase(f);
}

// "GET http://h/x HTTP/1.1" -> "/x": absolute-form reduced to origin-form.
std::string origin_form(beast::string_view target) {
  std::string_view t(target.data(), target.size());
  if (t.starts_with("http://") || t.starts_with("https://")) {
    const auto slash = t.find('/', t.find("//") + 2);
    return slash == std::string_view::npos ? std::string("/") : std::string(t.substr(slash));
  }
  return std::string(t);
}

std::string host_port(const std::string& host, std::uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

// A pooled connection is reusable when the upstream has neither closed it nor sent
// anything unasked (a peek that would block).
bool still_idle(tcp::socket& s) {
  char c;
  const ssize_t n = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

class Conn;

struct ProxyEngine::Impl {
  Impl(ProxyOptions o, ProxyDeps d)
      : options(std::move(o)), deps(std::move(d)) {
    for (int i = 0; i < std::max(1, options.threads); ++i) {
      loops.push_back(std::make_unique<asio::io_context>(1));
    }
  }

  ProxyOptions options;
  ProxyDeps deps;
  // How often a connection's watchdog compares its deadline with the clock: a quarter of the
  // shortest timeout, within 5..500 ms (so timeouts fire within that much of their value).
  std::chrono::milliseconds tick = std::clamp(
      std::min({options.header_timeout, options.idle_timeout, options.connect_timeout}) / 4,
      std::chrono::milliseconds(5), std::chrono::milliseconds(500));
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> open{0};

  mutable std::mutex mu;
  std::string api_host;       // guarded by mu
  std::uint16_t api_port = 0;  // guarded by mu
  std::unordered_map<Conn*, std::weak_ptr<Conn>> conns;  // guarded by mu
  struct Idle {
    tcp::socket sock;
    SteadyClock::time_point since;
  };
  std::unordered_map<std::string, std::deque<Idle>> idle;  // guarded by mu

  std::vector<std::thread> threads;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::atomic<std::size_t> next_loop{0};
  // Last: destroyed first, so the coroutines they still hold find the fields above alive.
  std::vector<std::unique_ptr<asio::io_context>> loops;  // one per thread

  std::optional<tcp::socket> take_idle(const std::string& key) {
    std::lock_guard lock(mu);
    auto it = idle.find(key);
    if (it == idle.end()) return std::nullopt;
    auto& dq = it->second;
    while (!dq.empty()) {
      tcp::socket s = std::move(dq.back().sock);
      const auto since = dq.back().since;
      dq.pop_back();
      if (SteadyClock::now() - since < std::chrono::seconds(30) && still_idle(s)) return s;
      error_code ec;
      s.close(ec);
    }
    return std::nullopt;
  }

  void release_idle(const std::string& key, tcp::socket s) {
    std::lock_guard lock(mu);
    error_code ec;
    if (stopping || options.max_idle_upstream == 0) {
      s.close(ec);
      return;
    }
    auto& dq = idle[key];
    while (dq.size() >= options.max_idle_upstream) {
      dq.front().sock.close(ec);
      dq.pop_front();
    }
    dq.push_back(Idle{std::move(s), SteadyClock::now()});
  }

  void count(const char* family_dir, std::size_t n) {
    if (deps.metrics && n > 0) deps.metrics->bytes_total.with({family_dir}).inc(std::uint64_t{n});
  }
  void answered(unsigned status) {
    if (deps.metrics) deps.metrics->requests_total.with({status_class(status)}).inc();
  }
  void connected(const char* route) {
    if (deps.metrics) deps.metrics->upstream_connects_total.with({route}).inc();
  }
  // The netns route failed before a connect: said once per server at warn level (it is a
  // deployment fact: no CAP_SYS_ADMIN, or the engine's files not visible here), then at debug.
  void netns_unusable(const std::string& why) {
    if (!netns_warned.exchange(true)) {
      logger("proxy")->warn("connecting inside a sandbox's network namespace failed ({}); "
                            "using its published port (proxy.connect_in_netns)",
                            why);
    } else {
      logger("proxy")->debug("netns route unusable: {}", why);
    }
  }
  std::atomic<bool> netns_warned{false};
  void upstream_error(const char* kind) {
    if (deps.metrics) deps.metrics->upstream_errors_total.with({kind}).inc();
  }
};

// One client connection owned by the engine. Lives as long as one of its coroutines.
class Conn : public std::enable_shared_from_this<Conn> {
 public:
  using Impl = ProxyEngine::Impl;

  Conn(Impl* eng, Strand strand, tcp::socket client, std::string already, std::string addr)
      : eng_(eng),
        loop_tag_(std::to_string(reinterpret_cast<std::uintptr_t>(&strand.context())) + "|"),
        strand_(std::move(strand)),
        client_(std::move(client)),
        cbuf_(std::max(kMaxHeadBytes + eng->options.buffer_bytes,
                       already.size() + eng->options.buffer_bytes)),
        ubuf_(kMaxHeadBytes + eng->options.buffer_bytes),
        up_buf_(std::max<std::size_t>(eng->options.buffer_bytes, 1024)),
        down_buf_(std::max<std::size_t>(eng->options.buffer_bytes, 1024)),
        client_addr_(std::move(addr)),
        timer_(strand_) {
    // Reads fill what the buffer has room for (a fresh flat_buffer reads 512 bytes at a time).
    cbuf_.reserve(std::min<std::size_t>(eng->options.buffer_bytes, 16 * 1024) + already.size());
    ubuf_.reserve(std::min<std::size_t>(eng->options.buffer_bytes, 16 * 1024));
    auto mb = cbuf_.prepare(already.size());
    asio::buffer_copy(mb, asio::buffer(already));
    cbuf_.commit(already.size());
    eng_->open.fetch_add(1);
    if (eng_->deps.metrics) eng_->deps.metrics->connections.inc();
  }

  ~Conn() {
    {
      std::lock_guard lock(eng_->mu);
      eng_->conns.erase(this);
    }
    if (eng_->deps.metrics) eng_->deps.metrics->connections.dec();
    // Last touch of the engine: once `open` is 0, shutdown() may go on and destroy it.
    eng_->open.fetch_sub(1);
  }

  void start(bool busy) {
    auto self = shared_from_this();
    asio::co_spawn(strand_, [self]() -> awaitable<void> { co_await self->watch(); },
                   asio::detached);
    asio::co_spawn(
        strand_,
        [self, busy]() -> awaitable<void> {
          co_await self->run(busy);
          if (!self->tunnel_) self->close_all();
        },
        asio::detached);
  }

  // On the strand: ends every coroutine of this connection.
  void close_all() {
    closed_ = true;
    error_code ec;
    client_.shutdown(tcp::socket::shutdown_both, ec);
    client_.close(ec);
    if (upstream_) upstream_->close(ec);
    timer_.cancel();
  }

  const Strand& strand() const { return strand_; }

 private:
  enum class Phase { kIdle, kHead, kConnect, kAwaitHead, kStream, kClosing };

  // Moves the deadline to now + `d` for the current phase.
  // A store only: the watchdog looks at the deadline every tick (re-arming a timer on every
  // read and write cost more than the relay itself).
  void touch(std::chrono::milliseconds d) { deadline_ = SteadyClock::now() + d; }
  void enter(Phase p, std::chrono::milliseconds d) {
    phase_ = p;
    touch(d);
  }

  awaitable<void> watch() {
    auto self = shared_from_this();
    while (!closed_) {
      timer_.expires_after(eng_->tick);
      error_code ec;
      co_await timer_.async_wait(tok(ec));
      if (closed_) break;
      if (SteadyClock::now() < deadline_) continue;
      timed_out_ = true;
      error_code ignored;
      switch (phase_) {
        case Phase::kHead:
          client_.cancel(ignored);  // run() answers 408
          deadline_ = SteadyClock::now() + std::chrono::seconds(2);
          break;
        case Phase::kConnect:
        case Phase::kAwaitHead:
          if (upstream_) upstream_->close(ignored);  // run() answers 504
          deadline_ = SteadyClock::now() + std::chrono::seconds(2);
          break;
        default:
          close_all();
          break;
      }
    }
  }

  // Callers name the error first (`const ApiError error = ...; co_await fail(error, ...)`):
  // GCC 12 destroys twice the temporaries of a co_await operand (strings built with ?:
  // crashed here with a double free), so no operand of a co_await here builds a string.
  //
  // Answers `error` (JSON, X-Request-ID: the client's `client_rid` if usable, else a fresh
  // UUID) and closes the connection: our sending side at once, the rest after the client's
  // remaining bytes were read for up to a second.
  awaitable<void> fail(const ApiError& error, unsigned version, const std::string& client_rid,
                       const char* upstream_kind = nullptr) {
    const std::string rid = request_id_from(
        client_rid.empty() ? std::nullopt : std::optional<std::string_view>(client_rid));
    if (upstream_kind) eng_->upstream_error(upstream_kind);
    if (error.status >= 500) {
      logger("proxy")->warn("{} {}: {} (request {})", error.status, error.code, error.message,
                            rid);
    }
    http::response<http::string_body> res{static_cast<http::status>(error.status),
                                          version == 10 ? 10u : 11u};
    res.set(http::field::content_type, "application/json");
    res.set("X-Request-ID", rid);
    res.keep_alive(false);
    res.body() = render_error(error);
    res.prepare_payload();
    enter(Phase::kClosing, std::chrono::milliseconds(2000));
    error_code ec;
    const std::size_t n = co_await http::async_write(client_, res, tok(ec));
    eng_->count("downstream", n);
    eng_->answered(error.status);
    if (ec) co_return;
    client_.shutdown(tcp::socket::shutdown_send, ec);
    enter(Phase::kClosing, std::chrono::milliseconds(1000));
    char drop[4096];
    while (!ec && !closed_) {
      co_await client_.async_read_some(asio::buffer(drop), tok(ec));
    }
  }

  awaitable<void> run(bool busy) {
    if (busy) {
      {
        const ApiError error = api_error(ApiErrorKind::kProxyBusy,
            "too many proxied connections (proxy.max_connections = " +
            std::to_string(eng_->options.max_connections) +
            "); retry later");
        const std::string rid;
        co_await fail(error, 11, rid, "busy");
      }
      co_return;
    }
    while (!closed_) {
      error_code ec;
      if (cbuf_.size() == 0) {
        // Between requests: the next one's first bytes (a read, not a wait for readability:
        // Asio re-arms epoll for every wait, one system call per request more).
        enter(Phase::kIdle, eng_->options.idle_timeout);
        const std::size_t n = co_await client_.async_read_some(
            cbuf_.prepare(std::min<std::size_t>(eng_->options.buffer_bytes, 16 * 1024)), tok(ec));
        if (ec || closed_) co_return;
        cbuf_.commit(n);
      }
      enter(Phase::kHead, eng_->options.header_timeout);
      http::request_parser<http::buffer_body> rp;
      rp.header_limit(static_cast<std::uint32_t>(kMaxHeadBytes));
      rp.body_limit(kNoBodyLimit);
      co_await http::async_read_header(client_, cbuf_, rp, tok(ec));
      if (ec) {
        const std::string rid0;
        if (ec == http::error::end_of_stream || closed_) co_return;
        if (timed_out_) {
          {
            const ApiError error = api_error(ApiErrorKind::kRequestTimeout,
                "request headers not received within " +
                std::to_string(eng_->options.header_timeout.count() / 1000) +
                " s (server.header_timeout_seconds)");
            co_await fail(error, 11, rid0);
          }
        } else if (ec == http::error::header_limit) {
          {
            const ApiError error = api_error(ApiErrorKind::kHeadersTooLarge,
                "request line and headers exceed " +
                std::to_string(kMaxHeadBytes) + " bytes");
            co_await fail(error, 11, rid0);
          }
        } else if (ec == http::error::bad_content_length ||
                   ec == http::error::bad_transfer_encoding) {
          {
            const ApiError error = api_error(ApiErrorKind::kInvalidValue,
                "ambiguous request framing (Content-Length with "
                "Transfer-Encoding, or conflicting Content-Length): " +
                ec.message());
            co_await fail(error, 11, rid0);
          }
        } else if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
          {
            const ApiError error = api_error(ApiErrorKind::kInvalidValue,
                "malformed HTTP request: " + ec.message());
            co_await fail(error, 11, rid0);
          }
        }
        co_return;
      }
      if (!co_await handle(rp)) co_return;
    }
  }

  // One request whose head is in `rp`. True when the connection may carry another.
  awaitable<bool> handle(http::request_parser<http::buffer_body>& rp) {
    auto& req = rp.get();
    const unsigned version = req.version();
    // The client's X-Request-ID, for an error answer (fail() makes one up when it is absent).
    std::string rid;
    if (auto it = req.find("X-Request-ID"); it != req.end()) rid = std::string(it->value());

    // Framing a server and this proxy could read differently is refused (smuggling).
    if (req.count(http::field::content_length) > 1 ||
        req[http::field::content_length].find(',') != beast::string_view::npos) {
      {
        const ApiError error = api_error(ApiErrorKind::kInvalidValue,
            "repeated Content-Length: the request framing is ambiguous");
        co_await fail(error, version, rid);
      }
      co_return false;
    }
    if (req.count(http::field::transfer_encoding) > 0) {
      const auto te = req[http::field::transfer_encoding];
      if (req.count(http::field::transfer_encoding) > 1 || req.count(http::field::content_length) ||
          !iequals(trim(std::string_view(te.data(), te.size())), "chunked")) {
        {
          const ApiError error = api_error(ApiErrorKind::kInvalidValue,
              "Transfer-Encoding must be exactly \"chunked\" and not combined "
              "with Content-Length");
          co_await fail(error, version, rid);
        }
        co_return false;
      }
    }

    const std::string target = origin_form(req.target());
    auto path = parse_proxy_path(target);
    if (!path) {
      // Another request on a connection the proxy took over: to the API server itself.
      std::string host;
      std::uint16_t port = 0;
      {
        std::lock_guard lock(eng_->mu);
        host = eng_->api_host;
        port = eng_->api_port;
      }
      if (port == 0) {
        {
          const ApiError error = api_error(ApiErrorKind::kRouteNotFound, "no route for " + target);
          co_await fail(error, version,
          rid);
        }
        co_return false;
      }
      Target api_target{std::move(host), port, {}, {}, 0};  // named: GCC 12 destroys co_await operand temporaries twice
      co_return co_await forward(rp, api_target, nullptr, rid);
    }

    std::string sandbox_id;
    std::uint16_t port = 0;
    if (path->kind == ProxyPath::Kind::kSandbox) {
      const auto& key = eng_->deps.api_key;
      if (key && !key->empty()) {
        const auto it = req.find("OPEN-SANDBOX-API-KEY");
        const std::string_view sent =
            it == req.end() ? std::string_view{}
                            : trim(std::string_view(it->value().data(), it->value().size()));
        if (sent.empty()) {
          {
            const ApiError error = api_error(ApiErrorKind::kMissingApiKey,
                "authentication required: send the API key in header "
                "OPEN-SANDBOX-API-KEY");
            co_await fail(error, version, rid);
          }
          co_return false;
        }
        if (!constant_time_equals(sent, *key)) {
          {
            const ApiError error = api_error(ApiErrorKind::kInvalidApiKey, "the API key is not valid");
            co_await fail(error, version, rid);
          }
          co_return false;
        }
      }
      if (!is_lowercase_uuid(path->sandbox_id)) {
        {
          const ApiError error = map_error(Error(ErrorCode::kNotFound,
              "sandbox not found: the id in the path is not a sandbox id "
              "(a lowercase UUID)"),
              Operation::kGet, eng_->deps.runtime_prefix);
          co_await fail(error, version, rid);
        }
        co_return false;
      }
      auto p = parse_proxy_port(path->port);
      if (!p) {
        {
          const ApiError error = api_error(ApiErrorKind::kInvalidPort,
              "port must be a number in 1..65535, got \"" +
              path->port.substr(0, 16) + "\"",
              {}, eng_->deps.runtime_prefix);
          co_await fail(error, version, rid);
        }
        co_return false;
      }
      sandbox_id = path->sandbox_id;
      port = *p;
    } else {
      if (!eng_->deps.verify_route) {
        {
          const ApiError error = api_error(ApiErrorKind::kRouteNotFound,
              "signed routes are not enabled on this server");
          co_await fail(error, version, rid);
        }
        co_return false;
      }
      if (!is_route_token(path->route)) {
        {
          const ApiError error = api_error(ApiErrorKind::kRouteSignatureInvalid,
              "the route is not a signed route token ([0-9a-z-])");
          co_await fail(error, version, rid);
        }
        co_return false;
      }
      std::expected<std::pair<std::string, std::uint16_t>, ApiError> verified =
          std::unexpected(api_error(ApiErrorKind::kInternal, "route verification failed"));
      try {
        verified = eng_->deps.verify_route(path->route);
      } catch (const std::exception& e) {
        verified = std::unexpected(
            api_error(ApiErrorKind::kInternal, std::string("route verification: ") + e.what()));
      }
      if (!verified) {
        {
          const ApiError error = verified.error();
          co_await fail(error, version, rid);
        }
        co_return false;
      }
      sandbox_id = verified->first;
      port = verified->second;
    }

    std::expected<Target, ApiError> target_addr =
        std::unexpected(api_error(ApiErrorKind::kInternal, "no proxy target"));
    try {
      target_addr = eng_->deps.resolve(sandbox_id, port);
    } catch (const std::exception& e) {
      target_addr = std::unexpected(
          api_error(ApiErrorKind::kInternal, std::string("proxy target: ") + e.what()));
    }
    if (!target_addr) {
      {
        const ApiError error = target_addr.error();
        co_await fail(error, version, rid);
      }
      co_return false;
    }
    // OSEP-0009's per-request opt-out of renew-on-access (the reference's header).
    const auto renew = req.find("OpenSandbox-Access-Renew");
    const bool skip_activity =
        renew != req.end() &&
        trim(std::string_view(renew->value().data(), renew->value().size())) == "skip";
    if (eng_->deps.on_activity && !skip_activity) {
      try {
        eng_->deps.on_activity(sandbox_id);
      } catch (const std::exception& e) {
        logger("proxy")->warn("activity hook for {}: {}", sandbox_id, e.what());
      }
    }
    Target sandbox_target = std::move(*target_addr);
    co_return co_await forward(rp, sandbox_target, &*path, rid);
  }

  // The upstream connection for `key`: a pooled one or a new one (connect_timeout). Sets
  // `reused`.
  // `route` names the new connection in upstream_connects_total (null: not counted).
  awaitable<error_code> connect(const std::string& host, std::uint16_t port, const std::string& key,
                                bool& reused, const char* route) {
    reused = false;
    if (auto s = eng_->take_idle(loop_tag_ + key)) {
      upstream_.emplace(std::move(*s));
      reused = true;
      co_return error_code{};
    }
    enter(Phase::kConnect, eng_->options.connect_timeout);
    upstream_.emplace(strand_);
    error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (!ec) {
      co_await upstream_->async_connect(tcp::endpoint(addr, port), tok(ec));
    } else {
      tcp::resolver resolver(strand_);
      const std::string service = std::to_string(port);
      auto results = co_await resolver.async_resolve(host, service, tok(ec));
      if (!ec) co_await asio::async_connect(*upstream_, results, tok(ec));
    }
    if (!ec) upstream_->set_option(tcp::no_delay(true), ec);
    if (!ec && route) eng_->connected(route);
    co_return ec;
  }

  // The upstream connection inside `t.netns` (127.0.0.1:t.netns_port): a pooled one or a
  // new one. False when the route cannot be used (the caller falls back to the published
  // one); `timed_out_` set when the connect timed out (no fallback: answer 504).
  awaitable<bool> connect_netns(const Target& t, const std::string& key, bool& reused) {
    reused = false;
    if (auto s = eng_->take_idle(loop_tag_ + key)) {
      upstream_.emplace(std::move(*s));
      reused = true;
      co_return true;
    }
    auto fd = socket_in_netns(t.netns);
    if (!fd) {
      eng_->netns_unusable(fd.error());
      co_return false;
    }
    enter(Phase::kConnect, eng_->options.connect_timeout);
    upstream_.emplace(strand_);
    error_code ec;
    upstream_->assign(tcp::v4(), *fd, ec);
    if (ec) {
      ::close(*fd);
      upstream_.reset();
      co_return false;
    }
    co_await upstream_->async_connect(
        tcp::endpoint(asio::ip::address_v4::loopback(), t.netns_port), tok(ec));
    if (!ec) upstream_->set_option(tcp::no_delay(true), ec);
    if (ec) {
      error_code ignored;
      upstream_->close(ignored);
      upstream_.reset();
      co_return false;
    }
    eng_->connected("netns");
    co_return true;
  }

  enum class Relay { kDone, kReadFailed, kWriteFailed };

  // Streams the body of `p` (whose head is in) from `in` to `out` through `buf`, head first.
  template <bool isRequest>
  awaitable<Relay> relay(tcp::socket& in, beast::flat_buffer& inbuf,
                         http::parser<isRequest, http::buffer_body>& p, tcp::socket& out,
                         std::vector<char>& buf, const char* direction) {
    http::serializer<isRequest, http::buffer_body> sr{p.get()};
    error_code ec;
    std::size_t n = 0;
    // When the body (or its first piece) is already here, the head goes out with it in one
    // write below (one send, one wake-up of the reader: what small answers cost); otherwise
    // at once, so that a reader waiting for a slow body (a stream) has the head meanwhile.
    if (!p.is_done() && inbuf.size() == 0) {
      n = co_await http::async_write_header(out, sr, tok(ec));
      eng_->count(direction, n);
      if (ec) co_return Relay::kWriteFailed;
      touch(eng_->options.idle_timeout);
    }
    // Until the piece read last (more = false) is written: the serializer then also writes
    // the end of a chunked body.
    while (!sr.is_done()) {
      bool last = true;
      if (!p.is_done()) {
        p.get().body().data = buf.data();
        p.get().body().size = buf.size();
        co_await http::async_read_some(in, inbuf, p, tok(ec));
        if (ec == http::error::need_buffer) ec = {};
        if (ec) co_return Relay::kReadFailed;
        touch(eng_->options.idle_timeout);
        p.get().body().size = buf.size() - p.get().body().size;
        p.get().body().data = buf.data();
        last = p.is_done();
        p.get().body().more = !last;
        // Nothing new (a chunk header, say): read on. Beast 1.74 writes an empty piece of a
        // chunked body as a zero-size chunk (which ends the body), so an empty last piece
        // is no piece at all (data null: only the last-chunk is written).
        if (p.get().body().size == 0) {
          if (!last) continue;
          p.get().body().data = nullptr;
        }
      } else {
        p.get().body().data = nullptr;
        p.get().body().size = 0;
        p.get().body().more = false;
      }
      n = co_await http::async_write(out, sr, tok(ec));
      eng_->count(direction, n);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return Relay::kWriteFailed;
      touch(eng_->options.idle_timeout);
      if (last) break;
    }
    co_return Relay::kDone;
  }

  // Relays one request and its answer to `t`. `path` null: to the API server, headers
  // unchanged. On the published route `t.path_prefix` goes before the upstream path.
  awaitable<bool> forward(http::request_parser<http::buffer_body>& rp, const Target& t,
                          const ProxyPath* path, const std::string& rid) {
    auto& req = rp.get();
    const unsigned version = req.version();
    const bool client_keep_alive = req.keep_alive();
    const bool is_head = req.method() == http::verb::head;
    const bool upgrade = rp.upgrade();
    const std::string upgrade_value(req[http::field::upgrade]);
    const bool expect_continue = iequals(
        trim(std::string_view(req[http::field::expect].data(), req[http::field::expect].size())),
        "100-continue");
    req.erase(http::field::expect);
    req.erase(http::field::transfer_encoding);  // re-framed below

    if (path) {
      const std::string client_host(req[http::field::host]);
      strip_hop_by_hop(req);
      req.erase("OPEN-SANDBOX-API-KEY");
      req.erase("OpenSandbox-Access-Renew");  // consumed here
      if (!eng_->options.forward_credentials) {
        req.erase(http::field::authorization);
        req.erase(http::field::cookie);
      }
      std::string xff(req["X-Forwarded-For"]);
      xff = xff.empty() ? client_addr_ : xff + ", " + client_addr_;
      req.set("X-Forwarded-For", xff);
      req.set("X-Forwarded-Proto", "http");
      if (!client_host.empty()) {
        req.set("X-Forwarded-Host", client_host);
      } else {
        req.erase("X-Forwarded-Host");
      }
      req.set("X-Forwarded-Prefix", path->prefix);
      if (upgrade) {
        req.set(http::field::upgrade, upgrade_value);
        req.set(http::field::connection, "Upgrade");
      }
    }
    if (rp.chunked()) req.chunked(true);
    req.version(11);

    if (expect_continue && !rp.is_done()) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      error_code ec;
      const std::size_t n =
          co_await asio::async_write(client_, asio::buffer(kContinue.data(), kContinue.size()),
                                     tok(ec));
      eng_->count("downstream", n);
      if (ec) co_return false;
    }

    // The route: inside the sandbox's namespace when it has one and that works, else the
    // published address.
    std::string host = t.host;
    std::uint16_t port = t.port;
    std::string key = (path ? "" : "api|") + host_port(host, port);
    bool reused = false;
    bool via_netns = false;
    const char* route = path ? "published" : nullptr;
    error_code ec;
    if (path && !t.netns.empty() && t.netns_port != 0) {
      std::string netns_key = std::string("ns|");
      netns_key.append(t.netns).append("|").append(std::to_string(t.netns_port));
      via_netns = co_await connect_netns(t, netns_key, reused);
      if (via_netns) {
        key = netns_key;
        host = "127.0.0.1";
        port = t.netns_port;
      } else if (timed_out_) {
        host = "127.0.0.1";  // inside the sandbox's namespace: what the error names
        port = t.netns_port;
        ec = asio::error::timed_out;
      } else {
        route = "fallback";
      }
    }
    if (!via_netns && !ec) ec = co_await connect(host, port, key, reused, route);
    if (path) {
      req.set(http::field::host, host_port(host, port));
      req.target(via_netns ? path->upstream_target : t.path_prefix + path->upstream_target);
    }
    if (ec) {
      const bool timeout = timed_out_;
      {
        const ApiError error = api_error(timeout ? ApiErrorKind::kProxyUpstreamTimeout
            : ApiErrorKind::kProxyUpstreamUnreachable,
            timeout ? "upstream " + host_port(host, port) + " did not accept within " +
            std::to_string(eng_->options.connect_timeout.count()) + " ms"
            : "upstream " + host_port(host, port) + " unreachable: " +
            ec.message());
        co_await fail(error, version, rid, timeout ? "timeout" : "unreachable");
      }
      co_return false;
    }
    timed_out_ = false;
    enter(Phase::kStream, eng_->options.idle_timeout);

    const Relay sent = co_await relay(client_, cbuf_, rp, *upstream_, up_buf_, "upstream");
    if (sent == Relay::kReadFailed || closed_) co_return false;  // the client went away
    if (sent == Relay::kWriteFailed) {
      {
        const ApiError error = api_error(ApiErrorKind::kProxyUpstreamUnreachable,
            "upstream " + host_port(host, port) +
            " closed the connection while the request was sent");
        co_await fail(error, version, rid, "unreachable");
      }
      co_return false;
    }

    for (;;) {
      enter(Phase::kAwaitHead, eng_->options.idle_timeout);
      http::response_parser<http::buffer_body> up;
      up.header_limit(static_cast<std::uint32_t>(kMaxHeadBytes));
      up.body_limit(kNoBodyLimit);
      if (is_head) up.skip(true);
      co_await http::async_read_header(*upstream_, ubuf_, up, tok(ec));
      if (ec) {
        if (closed_) co_return false;
        const bool timeout = timed_out_;
        {
          const ApiError error = api_error(timeout ? ApiErrorKind::kProxyUpstreamTimeout
              : ApiErrorKind::kProxyUpstreamUnreachable,
              timeout ? "upstream " + host_port(host, port) + " sent no answer within " +
              std::to_string(eng_->options.idle_timeout.count()) +
              " ms (proxy.idle_timeout_seconds)"
              : "upstream " + host_port(host, port) +
              " closed the connection without an answer: " + ec.message());
          co_await fail(error, version, rid, timeout ? "timeout" : "unreachable");
        }
        co_return false;
      }
      enter(Phase::kStream, eng_->options.idle_timeout);
      auto& res = up.get();
      const unsigned status = res.result_int();

      if (status == 101) {
        if (!upgrade) {
          {
            const ApiError error = api_error(ApiErrorKind::kProxyUpstreamUnreachable,
                "upstream switched protocols without being asked");
            co_await fail(error, version, rid, "unreachable");
          }
          co_return false;
        }
        const std::string up_value(res[http::field::upgrade]);
        if (path) strip_hop_by_hop(res);
        res.set(http::field::upgrade, up_value);
        res.set(http::field::connection, "Upgrade");
        http::serializer<false, http::buffer_body> sr{res};
        const std::size_t n = co_await http::async_write_header(client_, sr, tok(ec));
        eng_->count("downstream", n);
        if (path) eng_->answered(status);
        if (ec) co_return false;
        if (eng_->deps.metrics) eng_->deps.metrics->websockets_total.inc();
        co_await start_tunnel();
        co_return false;
      }

      if (path) {
        strip_hop_by_hop(res);
        // A root-relative redirect stays inside the proxy route the client used (as the
        // reference server does); absolute and scheme-relative ones are left alone.
        if (auto loc = res.find(http::field::location); loc != res.end()) {
          const std::string_view v(loc->value().data(), loc->value().size());
          if (v.starts_with("/") && !v.starts_with("//")) {
            res.set(http::field::location, path->prefix + std::string(v));
          }
        }
      }
      res.version(version == 10 ? 10 : 11);
      const bool no_body = is_head || status < 200 || status == 204 || status == 304;
      bool keep = client_keep_alive;
      if (!no_body && !up.content_length()) {
        // Chunked or until-close upstream: chunked to an HTTP/1.1 client, until close to 1.0.
        if (version == 11) {
          res.chunked(true);
        } else {
          keep = false;
        }
      }
      if (status >= 200) res.keep_alive(keep);

      if (no_body) {
        http::serializer<false, http::buffer_body> sr{res};
        const std::size_t n = co_await http::async_write_header(client_, sr, tok(ec));
        eng_->count("downstream", n);
        if (ec) co_return false;
        if (status < 200) continue;  // an interim answer: the final one follows
        if (path) eng_->answered(status);
      } else {
        const Relay got = co_await relay(*upstream_, ubuf_, up, client_, down_buf_, "downstream");
        if (got != Relay::kDone) co_return false;  // mid-body: nothing sane to answer
        if (path) eng_->answered(status);
      }
      if (up.keep_alive() && up.is_done() && rp.is_done() && ubuf_.size() == 0) {
        eng_->release_idle(loop_tag_ + key, std::move(*upstream_));
      } else {
        upstream_->close(ec);
      }
      upstream_.reset();
      ubuf_.consume(ubuf_.size());
      co_return keep && rp.is_done();
    }
  }

  // After a 101: what either side already sent past the heads, then raw bytes both ways
  // until both sides closed (a side's end is passed on as a half-close).
  awaitable<void> start_tunnel() {
    error_code ec;
    if (cbuf_.size() > 0) {
      const std::size_t n = co_await asio::async_write(*upstream_, cbuf_.data(), tok(ec));
      eng_->count("upstream", n);
      cbuf_.consume(cbuf_.size());
    }
    if (!ec && ubuf_.size() > 0) {
      const std::size_t n = co_await asio::async_write(client_, ubuf_.data(), tok(ec));
      eng_->count("downstream", n);
      ubuf_.consume(ubuf_.size());
    }
    if (ec) co_return;
    tunnel_ = true;
    pumps_ = 2;
    auto self = shared_from_this();
    asio::co_spawn(
        strand_,
        [self]() -> awaitable<void> {
          co_await self->pump(self->client_, *self->upstream_, self->up_buf_, "upstream");
        },
        asio::detached);
    asio::co_spawn(
        strand_,
        [self]() -> awaitable<void> {
          co_await self->pump(*self->upstream_, self->client_, self->down_buf_, "downstream");
        },
        asio::detached);
  }

  awaitable<void> pump(tcp::socket& from, tcp::socket& to, std::vector<char>& buf,
                       const char* direction) {
    error_code ec;
    for (;;) {
      const std::size_t got = co_await from.async_read_some(asio::buffer(buf), tok(ec));
      if (ec) break;
      touch(eng_->options.idle_timeout);
      const std::size_t n = co_await asio::async_write(to, asio::buffer(buf.data(), got), tok(ec));
      eng_->count(direction, n);
      if (ec) break;
      touch(eng_->options.idle_timeout);
    }
    if (ec == asio::error::eof && !closed_) {
      error_code ignored;
      to.shutdown(tcp::socket::shutdown_send, ignored);  // half-close: the other way goes on
    } else if (!closed_) {
      close_all();
    }
    if (--pumps_ == 0) close_all();
  }

  Impl* eng_;
  std::string loop_tag_;  // the idle pool's key prefix of this connection's io_context
  Strand strand_;
  tcp::socket client_;
  std::optional<tcp::socket> upstream_;
  beast::flat_buffer cbuf_;  // read from the client, not yet relayed
  beast::flat_buffer ubuf_;  // read from the upstream, not yet relayed
  std::vector<char> up_buf_;
  std::vector<char> down_buf_;
  std::string client_addr_;
  asio::steady_timer timer_;
  SteadyClock::time_point deadline_ = SteadyClock::now() + std::chrono::hours(1);
  Phase phase_ = Phase::kIdle;
  bool timed_out_ = false;
  bool closed_ = false;
  bool tunnel_ = false;
  int pumps_ = 0;
};

// --- ProxyEngine -----------------------------------------------------------------------------

ProxyEngine::ProxyEngine(ProxyOptions options, ProxyDeps deps)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(deps))) {}

ProxyEngine::~ProxyEngine() { shutdown(); }

void ProxyEngine::start() {
  if (!impl_->threads.empty()) return;
  for (auto& loop : impl_->loops) {
    impl_->work.push_back(asio::make_work_guard(*loop));
    impl_->threads.emplace_back([loop = loop.get()] {
      try {
        loop->run();
      } catch (const std::exception& e) {
        logger("proxy")->error("proxy io thread ended: {}", e.what());
      }
    });
  }
}

void ProxyEngine::set_api_address(std::string host, std::uint16_t port) {
  std::lock_guard lock(impl_->mu);
  impl_->api_host = std::move(host);
  impl_->api_port = port;
}

void ProxyEngine::adopt(int fd, std::string already_read, std::string client_address) {
  Impl& I = *impl_;
  if (I.stopping || I.threads.empty()) {
    ::close(fd);
    return;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    ::close(fd);
    return;
  }
  Strand strand = I.loops[I.next_loop.fetch_add(1) % I.loops.size()]->get_executor();
  tcp::socket sock(strand);
  error_code ec;
  sock.assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  sock.set_option(tcp::no_delay(true), ec);
  auto conn = std::make_shared<Conn>(&I, strand, std::move(sock), std::move(already_read),
                                     std::move(client_address));
  const bool busy = I.open.load() > I.options.max_connections;
  {
    std::lock_guard lock(I.mu);
    I.conns.emplace(conn.get(), conn);
  }
  conn->start(busy);
}

void ProxyEngine::shutdown() {
  Impl& I = *impl_;
  if (I.stopping.exchange(true)) return;
  std::vector<std::shared_ptr<Conn>> live;
  {
    std::lock_guard lock(I.mu);
    for (auto& [ptr, weak] : I.conns) {
      if (auto c = weak.lock()) live.push_back(std::move(c));
    }
  }
  for (auto& c : live) {
    asio::post(c->strand(), [c] { c->close_all(); });
  }
  live.clear();
  // The coroutines end as their sockets close; give them a moment, bounded.
  const auto until = SteadyClock::now() + std::chrono::seconds(2);
  while (I.open.load() > 0 && SteadyClock::now() < until && !I.threads.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  I.work.clear();
  for (auto& loop : I.loops) loop->stop();
  for (auto& t : I.threads) {
    if (t.joinable()) t.join();
  }
  std::lock_guard lock(I.mu);
  error_code ec;
  for (auto& [key, dq] : I.idle) {
    for (auto& idle : dq) idle.sock.close(ec);
  }
  I.idle.clear();
}

std::size_t ProxyEngine::connections() const { return impl_->open.load(); }

}  // namespace sbx::api::proxy
