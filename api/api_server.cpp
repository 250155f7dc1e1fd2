#include "api/api_server.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>
#include <pistache/transport.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "api/docs_pages.h"
#include "api/error_mapping.h"
#include "api/event_streamer.h"
#include "api/http_util.h"
#include "api/openapi_document.h"
#include "api/request_parsing.h"
#include "api/sandbox_json.h"
#include "src/common/log.h"
#include "src/common/uuid.h"
#include "src/config/config.h"

namespace sbx::api {

using namespace Pistache;

ApiOptions api_options_from(const Config& config) {
  ApiOptions o;
  o.host = config.server.host;
  o.port = static_cast<std::uint16_t>(config.server.port);
  o.threads = std::max(1, config.server.threads);
  o.max_body_bytes =
      static_cast<std::size_t>(std::max<std::int64_t>(1, config.server.max_body_bytes));
  if (config.server.api_key && !config.server.api_key->empty()) o.api_key = config.server.api_key;
  o.metrics_auth = config.server.metrics_auth;
  o.keep_alive_seconds =
      static_cast<int>(std::max<std::int64_t>(1, config.server.timeout_keep_alive));
  o.runtime_type = std::string(to_string(config.runtime.type));
  o.max_wait = std::chrono::milliseconds(
      std::max(config.server.create_wait_ms, config.server.transition_wait_ms));
  o.insecure_server = config.server.insecure_server;
  o.max_connections = static_cast<std::size_t>(config.server.max_connections);
  o.max_parked = static_cast<std::size_t>(config.server.max_parked_requests);
  o.max_event_streams = static_cast<std::size_t>(config.server.max_event_streams);
  o.event_stream_buffer_bytes = static_cast<std::size_t>(config.server.event_stream_buffer_bytes);
  o.header_timeout = std::chrono::seconds(config.server.header_timeout_seconds);
  o.body_timeout = std::chrono::seconds(config.server.body_timeout_seconds);
  return o;
}

namespace {

constexpr std::size_t kMaxHeadBytes = 64 * 1024;
constexpr const char* kHeadData = "sbx.head";

const Http::Mime::MediaType& json_mime() {
  static const auto m = Http::Mime::MediaType::fromString("application/json");
  return m;
}
const Http::Mime::MediaType& html_mime() {
  static const auto m = Http::Mime::MediaType::fromString("text/html; charset=utf-8");
  return m;
}
const Http::Mime::MediaType& prometheus_mime() {
  static const auto m =
      Http::Mime::MediaType::fromString("text/plain; version=0.0.4; charset=utf-8");
  return m;
}

// What we read of a request ourselves before Pistache parses it: the request line (for
// the raw query string: Pistache keeps only the first of repeated keys) and the headers
// (to refuse an oversized body before buffering it).
// Also the connection's bookkeeping: whether it is counted against max_connections, and
// which request is current (`seq`), so a header/body timer armed for one request does
// nothing once that request was dispatched. Touched only on the connection's transport
// thread (input, timers and disconnection all run there).
struct HeadCapture {
  std::string head;
  bool done = false;
  bool poisoned = false;  // an early error was sent: ignore the rest of this connection
  std::string target;
  bool counted = false;    // counted in Impl::connections
  bool started = false;    // a byte of the current request arrived (its timer is armed)
  std::uint64_t seq = 0;   // bumped whenever a request was dispatched
  void reset() {
    head.clear();
    done = false;
    target.clear();
    started = false;
    ++seq;
  }
};

// A response header with a name chosen at run time (Pistache 0.0.5 writes only typed
// headers; raw ones are kept for requests).
class NamedHeader final : public Http::Header::Header {
 public:
  NamedHeader(std::string name, std::string value)
      : name_(std::move(name)), value_(std::move(value)) {}
  const char* name() const override { return name_.c_str(); }
  void write(std::ostream& os) const override { os << value_; }
  uint64_t hash() const override { return Http::Header::detail::hash(name_.c_str()); }

 private:
  std::string name_;
  std::string value_;
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Content-Length of a captured head, if present and numeric.
// The value of header `name` in a captured head, if present.
std::optional<std::string_view> header_of(std::string_view head, std::string_view name) {
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    const std::size_t start = pos + 2;
    const std::size_t end = head.find("\r\n", start);
    const std::string_view line =
        head.substr(start, end == std::string_view::npos ? head.npos : end - start);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos && iequals(trim(line.substr(0, colon)), name)) {
      return trim(line.substr(colon + 1));
    }
    pos = end;
  }
  return std::nullopt;
}

std::optional<unsigned long long> content_length_of(std::string_view head) {
  auto v = header_of(head, "content-length");
  if (!v) return std::nullopt;
  auto n = parse_int(*v);
  if (n && *n >= 0) return static_cast<unsigned long long>(*n);
  return std::nullopt;
}

// "GET /v1/sandboxes?x=1 HTTP/1.1" -> "/v1/sandboxes?x=1" (absolute-form reduced to path).
std::string target_of(std::string_view head) {
  const std::string_view line = head.substr(0, head.find("\r\n"));
  const auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return {};
  const auto sp2 = line.find(' ', sp1 + 1);
  std::string_view target =
      line.substr(sp1 + 1, sp2 == std::string_view::npos ? line.npos : sp2 - sp1 - 1);
  if (target.starts_with("http://") || target.starts_with("https://")) {
    const auto slash = target.find('/', target.find("//") + 2);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  return std::string(target);
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  while (!path.empty()) {
    const auto slash = path.find('/');
    const std::string_view seg = path.substr(0, slash);
    if (!seg.empty()) out.push_back(percent_decode(seg, false).value_or(std::string(seg)));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

// "application/json", any case, with or without parameters ("; charset=utf-8").
bool is_json_content_type(const Http::Request& req) {
  auto ct = req.headers().tryGetRaw("Content-Type");
  if (!ct) return false;
  const std::string value = ct->value();
  std::string_view v = trim(value);
  v = trim(v.substr(0, v.find(';')));
  return iequals(v, "application/json");
}

// A sandbox id as the service makes them: a lowercase UUID.
bool is_sandbox_id(std::string_view s) {
  return is_uuid(s) && std::none_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

bool is_loopback_host(std::string_view host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

bool prefers_async(const Http::Request& req) {
  auto prefer = req.headers().tryGetRaw("Prefer");
  if (!prefer) return false;
  std::string v = prefer->value();
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  return v.find("respond-async") != std::string::npos;
}

// Runs `fn` on `transport`'s own thread after `delay` (a one-shot timerfd in its poller).
// `prev_fd` is the timer that fired the caller, closed here once the poller is done with it.
void on_transport_thread(Tcp::Transport* transport, std::chrono::milliseconds delay,
                         std::function<void(int fired_fd)> fn, int prev_fd = -1) {
  const int tfd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (prev_fd >= 0) ::close(prev_fd);
  if (tfd < 0) return;
  try {
    // The continuation is attached before the timer is armed: Pistache 0.0.5's promises
    // race when one thread chains (.then) while the transport thread resolves, which an
    // armed timer could do first when the caller is not the transport thread (the event
    // streamer is not).
    std::optional<Async::Deferred<uint64_t>> deferred;
    Async::Promise<uint64_t> p([&](Async::Deferred<uint64_t> d) { deferred.emplace(std::move(d)); });
    p.then([fn = std::move(fn), tfd](uint64_t) { fn(tfd); },
           [tfd](std::exception_ptr) { ::close(tfd); });
    transport->armTimer(tfd, delay, std::move(*deferred));
  } catch (...) {
    ::close(tfd);
  }
}

// Keeps a streaming connection alive: Pistache 0.0.5 times a connection out by the age of
// its parser state even while a response is being streamed, so the stream's own transport
// thread refreshes it periodically until the client is gone.
void keep_stream_fresh(Tcp::Transport* transport, std::weak_ptr<Tcp::Peer> peer,
                       std::chrono::milliseconds every, int prev_fd = -1) {
  on_transport_thread(
      transport, every,
      [transport, peer, every](int fired) {
        auto p = peer.lock();
        if (!p) {
          ::close(fired);
          return;
        }
        Http::Handler::getParser(p)->reset();
        keep_stream_fresh(transport, peer, every, fired);
      },
      prev_fd);
}

}  // namespace

// ------------------------------------------------------------------------------------------

struct Exchange;

struct ApiServer::Impl : std::enable_shared_from_this<ApiServer::Impl> {
  Impl(ApiDeps d, ApiOptions o)
      : deps(std::move(d)),
        options(std::move(o)),
        runtime_prefix(runtime_prefix_of(options.runtime_type)),
        streamer(deps.store, options.sse_heartbeat) {}

  ApiDeps deps;
  ApiOptions options;
  std::string runtime_prefix;
  EventStreamer streamer;
  std::function<std::string()> metrics_provider;
  std::unique_ptr<Http::Endpoint> endpoint;
  std::uint16_t bound_port = 0;
  std::string bound_host;  // set by start()
  std::atomic<std::size_t> connections{0};
  bool started = false;

  std::atomic<bool> stopping{false};
  mutable std::mutex mu;
  std::condition_variable idle_cv;
  std::size_t in_flight = 0;
  // Parked requests: how to answer each one now (at shutdown). Removed when answered, so
  // nothing here outlives its request.
  std::unordered_map<Exchange*, std::function<void()>> parked;
  std::once_flag shutdown_once;

  void begin_request() {
    std::lock_guard lock(mu);
    ++in_flight;
  }
  void end_request() {
    {
      std::lock_guard lock(mu);
      if (in_flight > 0) --in_flight;
    }
    idle_cv.notify_all();
  }
  bool wait_idle(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu);
    return idle_cv.wait_for(lock, limit, [&] { return in_flight == 0; });
  }

  void dispatch(const Http::Request& req, const std::string& target, Http::ResponseWriter w,
                Tcp::Transport* transport, const std::shared_ptr<Tcp::Peer>& peer);
  void reject_early(Http::ResponseWriter w, const ApiError& error,
                    const std::shared_ptr<Tcp::Peer>& peer, Tcp::Transport* transport = nullptr);
  void park(const std::shared_ptr<Exchange>& ex, std::string sandbox_id,
            SandboxService::Predicate predicate, std::chrono::milliseconds timeout,
            std::function<void(WaitOutcome, std::shared_ptr<const Sandbox>)> answer);
  void do_shutdown();

  // Handlers.
  void create(const std::shared_ptr<Exchange>& ex, const Http::Request& req);
  void list(const std::shared_ptr<Exchange>& ex, const QueryParams& query);
  void get(const std::shared_ptr<Exchange>& ex, const std::string& id);
  void remove(const std::shared_ptr<Exchange>& ex, const Http::Request& req, const std::string& id);
  void patch_metadata(const std::shared_ptr<Exchange>& ex, const Http::Request& req,
                      const std::string& id);
  void transition(const std::shared_ptr<Exchange>& ex, const Http::Request& req,
                  const std::string& id, bool pause);
  void renew(const std::shared_ptr<Exchange>& ex, const Http::Request& req, const std::string& id);
  void endpoint_of(const std::shared_ptr<Exchange>& ex, const std::string& id,
                   const std::string& port);
  void history(const std::shared_ptr<Exchange>& ex, const std::string& id);
  void watch(const std::shared_ptr<Exchange>& ex, const Http::Request& req,
             const QueryParams& query, Tcp::Transport* transport,
             const std::shared_ptr<Tcp::Peer>& peer);
  void health(const std::shared_ptr<Exchange>& ex, bool with_details);
  void metrics(const std::shared_ptr<Exchange>& ex);
};

// One request/response: owns the ResponseWriter until the answer is sent (exactly once,
// from whichever thread completes it), records metrics and keeps the in-flight count.
struct Exchange {
  Exchange(std::shared_ptr<ApiServer::Impl> i, Http::ResponseWriter w, std::string rid,
           std::string m)
      : owner(std::move(i)),
        impl(owner.get()),
        writer(std::move(w)),
        request_id(std::move(rid)),
        method(std::move(m)),
        start(std::chrono::steady_clock::now()) {
    impl->begin_request();
    if (auto* hm = impl->deps.http_metrics) hm->requests_in_flight.inc();
  }
  ~Exchange() {
    // Never answered (a handler bug): still release the in-flight slot.
    if (!sent.exchange(true)) finish_metrics(500), impl->end_request();
  }

  // Keeps the server's state alive for as long as a callback may still answer through this
  // exchange (a wait the service completes after the ApiServer object is gone).
  std::shared_ptr<ApiServer::Impl> owner;
  ApiServer::Impl* impl;
  Http::ResponseWriter writer;
  std::string request_id;
  std::string method;
  std::string route = "unmatched";
  std::chrono::steady_clock::time_point start;
  std::atomic<bool> sent{false};
  std::function<void()> after_write;  // runs on the transport thread once written

  void finish_metrics(int status) {
    auto* hm = impl->deps.http_metrics;
    if (!hm) return;
    hm->requests_in_flight.dec();
    const std::string s = std::to_string(status);
    hm->requests_total.with({method, route, s}).inc();
    hm->request_duration_seconds.with({method, route})
        .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  // False if an answer was already sent.
  bool send(int status, std::string_view body, const Http::Mime::MediaType* mime,
            const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    if (sent.exchange(true)) return false;
    finish_metrics(status);
    static const auto access = logger("http");
    if (access->should_log(spdlog::level::debug)) {
      access->debug(
          "{} {} -> {} in {:.3f} ms (request {})", method, route, status,
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count(),
          request_id);
    }
    ApiServer::Impl* i = impl;
    try {
      writer.headers().add(std::make_shared<NamedHeader>("X-Request-ID", request_id));
      for (const auto& [k, v] : headers) writer.headers().add(std::make_shared<NamedHeader>(k, v));
      auto promise = writer.send(static_cast<Http::Code>(status), body.data(), body.size(),
                                 mime ? *mime : Http::Mime::MediaType());
      if (auto after = std::move(after_write)) {
        promise.then([after](ssize_t) { after(); }, [after](std::exception_ptr) { after(); });
      }
    } catch (const std::exception& e) {
      logger("api")->debug("response {} not sent: {}", request_id, e.what());
    }
    // Handed to the connection's transport thread (which writes it, or drops it if the
    // client is gone): no longer ours to wait for.
    i->end_request();
    return true;
  }
  bool send_json(int status, std::string_view body,
                 const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return send(status, body, &json_mime(), headers);
  }
  bool send_error(const ApiError& error) {
    if (error.status >= 500) {
      logger("api")->warn("{} {} -> {} {}: {} (request {})", method, route, error.status,
                          error.code, error.message, request_id);
    }
    return send_json(error.status, render_error(error));
  }
  bool send_empty(int status) { return send(status, {}, nullptr); }
};

// ------------------------------------------------------------------------------------------
// The Pistache handler: our own onInput (see HeadCapture), then dispatch.

class HttpHandler : public Http::Handler {
 public:
  HTTP_PROTOTYPE(HttpHandler)

  explicit HttpHandler(ApiServer::Impl* impl) : impl_(impl) {}

  void onRequest(const Http::Request& req, Http::ResponseWriter w) override {
    // Only reached if Pistache calls it directly; our onInput dispatches itself.
    impl_->dispatch(req, req.resource() + req.query().as_str(), std::move(w), transport(), nullptr);
  }

  void onTimeout(const Http::Request&, Http::ResponseWriter) override {}

  void onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) override {
    if (auto data = peer->tryGetData(kHeadData)) {
      auto cap = std::static_pointer_cast<HeadCapture>(data);
      if (cap->counted) {
        cap->counted = false;
        impl_->connections.fetch_sub(1);
      }
    }
    Http::Handler::onDisconnection(peer);
  }

 private:
  static std::shared_ptr<HeadCapture> capture_of(const std::shared_ptr<Tcp::Peer>& peer) {
    auto data = peer->tryGetData(kHeadData);
    if (data) return std::static_pointer_cast<HeadCapture>(data);
    auto cap = std::make_shared<HeadCapture>();
    peer->putData(kHeadData, cap);
    return cap;
  }

  void refuse(const std::shared_ptr<Tcp::Peer>& peer, HeadCapture& cap, const ApiError& error) {
    cap.poisoned = true;
    Http::ResponseWriter w(Http::Version::Http11, transport(), this, peer);
    impl_->reject_early(std::move(w), error, peer, transport());
  }

  // A request whose headers (or, once they are in, body) have not fully arrived by
  // `after` is answered 408 and its connection closed: a client trickling bytes
  // (slowloris) holds a connection for at most these timeouts.
  void arm_timeout(const std::shared_ptr<Tcp::Peer>& peer, const std::shared_ptr<HeadCapture>& cap,
                   std::chrono::milliseconds after, bool body) {
    std::weak_ptr<Tcp::Peer> wp = peer;
    std::weak_ptr<HeadCapture> wc = cap;
    const std::uint64_t seq = cap->seq;
    on_transport_thread(transport(), after, [this, wp, wc, seq, body, after](int fired) {
      ::close(fired);
      auto p = wp.lock();
      auto c = wc.lock();
      if (!p || !c || c->poisoned || c->seq != seq || (!body && c->done)) return;
      const std::string secs = std::to_string(after.count() / 1000);
      refuse(p, *c,
             api_error(ApiErrorKind::kRequestTimeout,
                       body ? "request body not received within " + secs +
                                  " s (server.body_timeout_seconds)"
                            : "request headers not received within " + secs +
                                  " s (server.header_timeout_seconds)"));
    });
  }

  void onInput(const char* buffer, size_t len, const std::shared_ptr<Tcp::Peer>& peer) override {
    auto cap = capture_of(peer);
    if (cap->poisoned) return;
    if (!cap->counted) {  // the connection's first bytes
      cap->counted = true;
      const std::size_t open = impl_->connections.fetch_add(1) + 1;
      if (open > impl_->options.max_connections) {
        refuse(peer, *cap,
               api_error(ApiErrorKind::kServerBusy,
                         "too many open connections (server.max_connections = " +
                             std::to_string(impl_->options.max_connections) + "); retry later"));
        return;
      }
    }
    if (!cap->started) {
      cap->started = true;
      arm_timeout(peer, cap, impl_->options.header_timeout, false);
    }
    if (!cap->done) {
      const std::size_t before = cap->head.size();
      cap->head.append(buffer,
                       std::min(len, kMaxHeadBytes + 4 - std::min(before, kMaxHeadBytes + 4)));
      const std::size_t from = before >= 3 ? before - 3 : 0;
      const auto end = cap->head.find("\r\n\r\n", from);
      if (end != std::string::npos) {
        cap->head.resize(end + 2);
        cap->done = true;
        cap->target = target_of(cap->head);
        const auto cl = content_length_of(cap->head);
        if (cl && *cl > impl_->options.max_body_bytes) {
          refuse(peer, *cap,
                 api_error(ApiErrorKind::kBodyTooLarge,
                           "request body of " + std::to_string(*cl) +
                               " bytes exceeds server.max_body_bytes (" +
                               std::to_string(impl_->options.max_body_bytes) + ")"));
          return;
        }
        // A body is read only from a client holding the key: a wrong or missing key is
        // refused on its headers, before the server buffers up to max_body_bytes of it.
        const bool has_body =
            (cl && *cl > 0) || header_of(cap->head, "transfer-encoding").has_value();
        if (has_body && impl_->options.api_key && !impl_->options.api_key->empty()) {
          auto key = header_of(cap->head, "open-sandbox-api-key");
          if (!key || key->empty()) {
            refuse(peer, *cap,
                   api_error(ApiErrorKind::kMissingApiKey,
                             "authentication required: send the API key in header "
                             "OPEN-SANDBOX-API-KEY"));
            return;
          }
          if (!constant_time_equals(*key, *impl_->options.api_key)) {
            refuse(peer, *cap, api_error(ApiErrorKind::kInvalidApiKey, "the API key is not valid"));
            return;
          }
        }
        if (has_body) arm_timeout(peer, cap, impl_->options.body_timeout, true);
        // A client that waits for permission before sending its body (curl does for
        // bodies over 1 KiB) gets it at once instead of after its own timeout.
        if (auto expect = header_of(cap->head, "expect"); expect &&
                                                          iequals(*expect, "100-continue") && cl &&
                                                          *cl > 0 && len <= end + 4 - before) {
          static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          peer->send(RawBuffer(kContinue, kContinue.size()));
        }
      } else if (cap->head.size() > kMaxHeadBytes) {
        refuse(peer, *cap,
               api_error(
                   ApiErrorKind::kHeadersTooLarge,
                   "request line and headers exceed " + std::to_string(kMaxHeadBytes) + " bytes"));
        return;
      }
    }

    auto parser = getParser(peer);
    auto& request = parser->request;
    try {
      if (!parser->feed(buffer, len)) {
        parser->reset();
        cap->reset();
        refuse(peer, *cap,
               api_error(ApiErrorKind::kBodyTooLarge,
                         "request exceeds server.max_body_bytes (" +
                             std::to_string(impl_->options.max_body_bytes) + ")"));
        return;
      }
      if (parser->parse() != Http::Private::State::Done) return;

      Http::ResponseWriter response(request.version(), transport(), this, peer);
      request.copyAddress(peer->address());
      if (auto conn = request.headers().tryGet<Http::Header::Connection>()) {
        response.headers().add<Http::Header::Connection>(conn->control());
      } else if (request.version() == Http::Version::Http10) {
        response.headers().add<Http::Header::Connection>(Http::ConnectionControl::Close);
      }
      peer->setIdle(false);
      const std::string target =
          cap->done ? cap->target : request.resource() + request.query().as_str();
      impl_->dispatch(request, target, std::move(response), transport(), peer);
      parser->reset();
      cap->reset();
    } catch (const Http::HttpError& err) {
      parser->reset();
      cap->reset();
      Http::ResponseWriter response(request.version(), transport(), this, peer);
      impl_->reject_early(std::move(response),
                          api_error(ApiErrorKind::kInvalidValue,
                                    std::string("malformed HTTP request: ") + err.what()),
                          nullptr);
    } catch (const std::exception& e) {
      parser->reset();
      cap->reset();
      Http::ResponseWriter response(request.version(), transport(), this, peer);
      impl_->reject_early(
          std::move(response),
          api_error(ApiErrorKind::kInternal, std::string("internal error: ") + e.what()), nullptr);
    }
  }

  ApiServer::Impl* impl_;
};

// ------------------------------------------------------------------------------------------

void ApiServer::Impl::reject_early(Http::ResponseWriter w, const ApiError& error,
                                   const std::shared_ptr<Tcp::Peer>& close_peer,
                                   Tcp::Transport* transport) {
  auto ex = std::make_shared<Exchange>(shared_from_this(), std::move(w),
                                       request_id_from(std::nullopt), "UNKNOWN");
  if (close_peer) {
    // The rest of this request is not read: close the connection once the answer is out.
    // A lingering close, as web servers do: first only our sending side, while what the
    // client still sends is read and dropped (the connection is poisoned), so a client
    // busy sending its refused body reads the answer instead of a reset; then, at most a
    // second later, the whole connection.
    std::weak_ptr<Tcp::Peer> weak = close_peer;
    ex->after_write = [weak, transport] {
      auto p = weak.lock();
      if (!p) return;
      if (transport == nullptr) {
        ::shutdown(p->fd(), SHUT_RDWR);
        return;
      }
      ::shutdown(p->fd(), SHUT_WR);
      on_transport_thread(transport, std::chrono::milliseconds(1000), [weak](int fired) {
        ::close(fired);
        if (auto q = weak.lock()) ::shutdown(q->fd(), SHUT_RDWR);
      });
    };
  }
  ex->send_error(error);
}

void ApiServer::Impl::park(
    const std::shared_ptr<Exchange>& ex, std::string sandbox_id,
    SandboxService::Predicate predicate, std::chrono::milliseconds timeout,
    std::function<void(WaitOutcome, std::shared_ptr<const Sandbox>)> answer) {
  bool parked_now = false;
  bool full = false;
  {
    std::lock_guard lock(mu);
    if (!stopping) {
      if (parked.size() >= options.max_parked) {
        full = true;
      } else {
        parked.emplace(ex.get(), [this, answer, sandbox_id] {
          answer(WaitOutcome::kCancelled, deps.service.get(sandbox_id));
        });
        parked_now = true;
      }
    }
  }
  if (!parked_now) {
    // Waiting is a courtesy: with server.max_parked_requests waiting already, answer with
    // the state reached so far (the client polls, as it would after a timed-out wait).
    if (full) logger("api")->debug("parked requests at the cap ({}); answering at once", options.max_parked);
    answer(full ? WaitOutcome::kTimedOut : WaitOutcome::kCancelled, deps.service.get(sandbox_id));
    return;
  }
  deps.service.wait_async(
      std::move(sandbox_id), std::move(predicate), timeout,
      [this, ex, answer](WaitOutcome outcome, std::shared_ptr<const Sandbox> sb) {
        std::function<void()> dropped;  // destroyed outside the lock
        {
          std::lock_guard lock(mu);
          if (auto it = parked.find(ex.get()); it != parked.end()) {
            dropped = std::move(it->second);
            parked.erase(it);
          }
        }
        answer(outcome, std::move(sb));
      });
}

void ApiServer::Impl::dispatch(const Http::Request& req, const std::string& target,
                               Http::ResponseWriter w, Tcp::Transport* transport,
                               const std::shared_ptr<Tcp::Peer>& peer) {
  std::optional<std::string_view> rid_header;
  std::string rid_raw;
  if (auto raw = req.headers().tryGetRaw("X-Request-ID")) {
    rid_raw = raw->value();
    rid_header = rid_raw;
  }
  auto ex =
      std::make_shared<Exchange>(shared_from_this(), std::move(w), request_id_from(rid_header),
                                 Http::methodString(req.method()));

  const auto qmark = target.find('?');
  const std::string_view path = std::string_view(target).substr(0, qmark);
  const std::string_view raw_query =
      qmark == std::string::npos ? std::string_view{} : std::string_view(target).substr(qmark + 1);

  std::vector<std::string> seg = split_path(path);
  std::string prefix;
  if (!seg.empty() && seg[0] == "v1") {
    prefix = "/v1";
    seg.erase(seg.begin());
  }
  const Http::Method m = req.method();
  const std::size_t n = seg.size();
  auto is = [&](std::size_t i, std::string_view s) { return n > i && seg[i] == s; };

  // Route table: template, allowed methods, whether auth applies.
  enum class R {
    kNone,
    kHealth,
    kSandboxes,
    kSandbox,
    kMetadata,
    kPause,
    kResume,
    kRenew,
    kEndpoint,
    kHistory,
    kWatch,
    kOpenApi,
    kDocs,
    kRedoc,
    kMetrics,
  };
  R route = R::kNone;
  std::vector<Http::Method> allowed;
  std::string tmpl;
  if (n == 1 && is(0, "health") && prefix.empty()) {
    route = R::kHealth, allowed = {Http::Method::Get}, tmpl = "/health";
  } else if (n == 1 && is(0, "sandboxes")) {
    route = R::kSandboxes, allowed = {Http::Method::Get, Http::Method::Post}, tmpl = "/sandboxes";
  } else if (n == 2 && is(0, "sandboxes")) {
    route = R::kSandbox, allowed = {Http::Method::Get, Http::Method::Delete},
    tmpl = "/sandboxes/{id}";
  } else if (n == 3 && is(0, "sandboxes") && is(2, "metadata")) {
    route = R::kMetadata, allowed = {Http::Method::Patch}, tmpl = "/sandboxes/{id}/metadata";
  } else if (n == 3 && is(0, "sandboxes") && is(2, "pause")) {
    route = R::kPause, allowed = {Http::Method::Post}, tmpl = "/sandboxes/{id}/pause";
  } else if (n == 3 && is(0, "sandboxes") && is(2, "resume")) {
    route = R::kResume, allowed = {Http::Method::Post}, tmpl = "/sandboxes/{id}/resume";
  } else if (n == 3 && is(0, "sandboxes") && is(2, "renew-expiration")) {
    route = R::kRenew, allowed = {Http::Method::Post}, tmpl = "/sandboxes/{id}/renew-expiration";
  } else if (n == 4 && is(0, "sandboxes") && is(2, "endpoints")) {
    route = R::kEndpoint, allowed = {Http::Method::Get}, tmpl = "/sandboxes/{id}/endpoints/{port}";
  } else if (n == 3 && is(0, "sandboxes") && is(2, "events")) {
    route = R::kHistory, allowed = {Http::Method::Get}, tmpl = "/sandboxes/{id}/events";
  } else if (n == 1 && is(0, "events")) {
    route = R::kWatch, allowed = {Http::Method::Get}, tmpl = "/events";
  } else if (n == 1 && is(0, "openapi.json")) {
    route = R::kOpenApi, allowed = {Http::Method::Get}, tmpl = "/openapi.json";
  } else if (n == 1 && is(0, "docs")) {
    route = R::kDocs, allowed = {Http::Method::Get}, tmpl = "/docs";
  } else if (n == 1 && is(0, "redoc")) {
    route = R::kRedoc, allowed = {Http::Method::Get}, tmpl = "/redoc";
  } else if (n == 1 && is(0, "metrics")) {
    route = R::kMetrics, allowed = {Http::Method::Get}, tmpl = "/metrics";
  }
  if (route == R::kNone) {
    ex->send_error(api_error(ApiErrorKind::kRouteNotFound, "no route for " + std::string(path)));
    return;
  }
  ex->route = prefix + tmpl;
  if (std::find(allowed.begin(), allowed.end(), m) == allowed.end()) {
    std::string allow;
    for (auto a : allowed)
      allow += (allow.empty() ? "" : ", ") + std::string(Http::methodString(a));
    ex->send(405,
             render_error(api_error(ApiErrorKind::kMethodNotAllowed,
                                    std::string(Http::methodString(m)) + " is not allowed on " +
                                        ex->route + " (allowed: " + allow + ")")),
             &json_mime(), {{"Allow", allow}});
    return;
  }

  // Auth.
  const bool exempt = route == R::kHealth || route == R::kOpenApi || route == R::kDocs ||
                      route == R::kRedoc || (route == R::kMetrics && !options.metrics_auth);
  const bool auth_on = options.api_key && !options.api_key->empty();
  if (route == R::kHealth) {
    auto key = req.headers().tryGetRaw("OPEN-SANDBOX-API-KEY");
    const bool with_details =
        !auth_on || (key && constant_time_equals(trim(key->value()), *options.api_key));
    return health(ex, with_details);
  }
  if (auth_on && !exempt) {
    auto key = req.headers().tryGetRaw("OPEN-SANDBOX-API-KEY");
    if (!key || trim(key->value()).empty()) {
      ex->send_error(api_error(ApiErrorKind::kMissingApiKey,
                               "authentication required: send the API key in header "
                               "OPEN-SANDBOX-API-KEY"));
      return;
    }
    if (!constant_time_equals(trim(key->value()), *options.api_key)) {
      ex->send_error(api_error(ApiErrorKind::kInvalidApiKey, "the API key is not valid"));
      return;
    }
  }

  if (stopping && route != R::kHealth) {
    ex->send_error(api_error(ApiErrorKind::kShuttingDown, "the server is shutting down"));
    return;
  }
  if (req.body().size() > options.max_body_bytes) {
    ex->send_error(api_error(ApiErrorKind::kBodyTooLarge,
                             "request body of " + std::to_string(req.body().size()) +
                                 " bytes exceeds server.max_body_bytes (" +
                                 std::to_string(options.max_body_bytes) + ")"));
    return;
  }

  // Bodies are JSON, and only JSON: a cross-site form or fetch can send text/plain or a
  // form encoding without a preflight, never application/json.
  if ((route == R::kSandboxes && m == Http::Method::Post) || route == R::kMetadata ||
      route == R::kRenew) {
    if (!req.body().empty() && !is_json_content_type(req)) {  // an empty body is a 422 below
      auto ct = req.headers().tryGetRaw("Content-Type");
      ex->send_error(api_error(ApiErrorKind::kUnsupportedMediaType,
                               "Content-Type must be application/json, got " +
                                   (ct ? "\"" + std::string(trim(ct->value())).substr(0, 100) + "\""
                                       : std::string("none"))));
      return;
    }
  }
  // A path id that cannot be a sandbox id names no sandbox: 404 without touching the store.
  if (n >= 2 && route != R::kSandboxes && route != R::kWatch && !is_sandbox_id(seg[1])) {
    ex->send_error(map_error(Error(ErrorCode::kNotFound, "sandbox not found: the id in the path "
                                                         "is not a sandbox id (a lowercase UUID)"),
                             route == R::kHistory ? Operation::kSandboxEvents : Operation::kGet,
                             runtime_prefix));
    return;
  }

  auto query = parse_query(raw_query);
  if (!query) {
    ex->send_error(
        api_error(ApiErrorKind::kInvalidValue, "malformed %-escape in the query string"));
    return;
  }
  const std::string id = n >= 2 ? seg[1] : std::string();
  try {
    switch (route) {
      case R::kHealth:
        return health(ex, true);
      case R::kSandboxes:
        if (m == Http::Method::Post) return create(ex, req);
        return list(ex, *query);
      case R::kSandbox:
        if (m == Http::Method::Delete) return remove(ex, req, id);
        return get(ex, id);
      case R::kMetadata:
        return patch_metadata(ex, req, id);
      case R::kPause:
        return transition(ex, req, id, true);
      case R::kResume:
        return transition(ex, req, id, false);
      case R::kRenew:
        return renew(ex, req, id);
      case R::kEndpoint:
        return endpoint_of(ex, id, seg[3]);
      case R::kHistory:
        return history(ex, id);
      case R::kWatch:
        return watch(ex, req, *query, transport, peer);
      case R::kOpenApi:
        ex->send_json(200, openapi_document());
        return;
      case R::kDocs:
        ex->send(200, swagger_ui_page(options.docs_assets_base), &html_mime());
        return;
      case R::kRedoc:
        ex->send(200, redoc_page(options.docs_assets_base), &html_mime());
        return;
      case R::kMetrics:
        return metrics(ex);
      case R::kNone:
        break;
    }
  } catch (const std::exception& e) {
    ex->send_error(api_error(ApiErrorKind::kInternal, std::string("internal error: ") + e.what()));
  }
}

// --- handlers ------------------------------------------------------------------------------

namespace {

RequestContext context_of(const Exchange& ex) { return RequestContext{ex.request_id, "api"}; }

}  // namespace

void ApiServer::Impl::create(const std::shared_ptr<Exchange>& ex, const Http::Request& req) {
  CreateParseOptions parse_options;
  parse_options.allowed_host_paths = deps.service.options().allowed_host_paths;
  auto request = parse_create_request(req.body(), parse_options);
  if (!request) {
    ex->send_error(request.error());
    return;
  }
  if (auto key = req.headers().tryGetRaw("Idempotency-Key")) {
    const std::string raw_key = key->value();  // value() returns a copy: keep it alive
    const std::string_view k = trim(raw_key);
    if (k.size() > 255) {
      ex->send_error(
          api_error(ApiErrorKind::kInvalidValue, "Idempotency-Key must be at most 255 characters"));
      return;
    }
    request->idempotency_key = std::string(k);
  }
  const bool respond_async = prefers_async(req);
  const auto wait = std::chrono::milliseconds(deps.service.options().create_wait_ms);
  deps.service.create_async(
      std::move(*request), context_of(*ex),
      [this, ex, respond_async, wait](Result<CreateResult> r) {
        if (!r) {
          ex->send_error(map_error(r.error(), Operation::kCreate, runtime_prefix));
          return;
        }
        const std::vector<std::pair<std::string, std::string>> location = {
            {"Location", "/v1/sandboxes/" + r->sandbox.id}};
        if (r->replayed) {
          auto now = deps.service.get(r->sandbox.id);
          ex->send_json(r->http_status, render_create_response(now ? *now : r->sandbox), location);
          return;
        }
        if (respond_async || wait.count() <= 0 || r->sandbox.state != SandboxState::kPending) {
          ex->send_json(202, render_create_response(r->sandbox), location);
          return;
        }
        const Sandbox requested = r->sandbox;
        park(
            ex, requested.id, [](const Sandbox& s) { return s.state != SandboxState::kPending; },
            wait,
            [ex, requested, location](WaitOutcome, std::shared_ptr<const Sandbox> sb) {
              ex->send_json(202, render_create_response(sb ? *sb : requested), location);
            });
      });
}

void ApiServer::Impl::list(const std::shared_ptr<Exchange>& ex, const QueryParams& query) {
  auto q = parse_list_query(query);
  if (!q) {
    ex->send_error(q.error());
    return;
  }
  ex->send_json(200, render_list(deps.service.list(*q)));
}

void ApiServer::Impl::get(const std::shared_ptr<Exchange>& ex, const std::string& id) {
  auto sb = deps.service.get(id);
  if (!sb) {
    ex->send_error(map_error(Error(ErrorCode::kNotFound, "sandbox " + id + " not found"),
                             Operation::kGet, runtime_prefix));
    return;
  }
  ex->send_json(200, render_sandbox(*sb));
}

void ApiServer::Impl::remove(const std::shared_ptr<Exchange>& ex, const Http::Request& req,
                             const std::string& id) {
  const bool respond_async = prefers_async(req);
  const auto wait = std::chrono::milliseconds(deps.service.options().transition_wait_ms);
  deps.service.execute_async(
      id, DeleteSandbox{Reason::kUser}, context_of(*ex),
      [this, ex, id, respond_async, wait](Result<CommandResult> r) {
        if (!r) {
          ex->send_error(map_error(r.error(), Operation::kDelete, runtime_prefix));
          return;
        }
        if (respond_async || wait.count() <= 0 || r->sandbox.deleted ||
            is_final(r->sandbox.state)) {
          ex->send_empty(204);
          return;
        }
        park(
            ex, id, [](const Sandbox& s) { return is_final(s.state); }, wait,
            [ex](WaitOutcome, std::shared_ptr<const Sandbox>) { ex->send_empty(204); });
      });
}

void ApiServer::Impl::patch_metadata(const std::shared_ptr<Exchange>& ex, const Http::Request& req,
                                     const std::string& id) {
  auto patch = parse_metadata_patch(req.body());
  if (!patch) {
    ex->send_error(patch.error());
    return;
  }
  deps.service.execute_async(
      id, std::move(*patch), context_of(*ex), [this, ex](Result<CommandResult> r) {
        if (!r) {
          ex->send_error(map_error(r.error(), Operation::kPatchMetadata, runtime_prefix));
          return;
        }
        ex->send_json(200, render_sandbox(r->sandbox));
      });
}

void ApiServer::Impl::transition(const std::shared_ptr<Exchange>& ex, const Http::Request& req,
                                 const std::string& id, bool pause) {
  const bool respond_async = prefers_async(req);
  const auto wait = std::chrono::milliseconds(deps.service.options().transition_wait_ms);
  Command command = pause ? Command(PauseSandbox{}) : Command(ResumeSandbox{});
  const SandboxState in_between = pause ? SandboxState::kPausing : SandboxState::kResuming;
  deps.service.execute_async(
      id, std::move(command), context_of(*ex),
      [this, ex, id, respond_async, wait, pause, in_between](Result<CommandResult> r) {
        if (!r) {
          ex->send_error(
              map_error(r.error(), pause ? Operation::kPause : Operation::kResume, runtime_prefix));
          return;
        }
        if (respond_async || wait.count() <= 0 || r->sandbox.state != in_between) {
          ex->send_empty(202);
          return;
        }
        park(
            ex, id, [in_between](const Sandbox& s) { return s.state != in_between; }, wait,
            [ex](WaitOutcome, std::shared_ptr<const Sandbox>) { ex->send_empty(202); });
      });
}

void ApiServer::Impl::renew(const std::shared_ptr<Exchange>& ex, const Http::Request& req,
                            const std::string& id) {
  auto renew = parse_renew_request(req.body());
  if (!renew) {
    ex->send_error(renew.error());
    return;
  }
  deps.service.execute_async(id, *renew, context_of(*ex), [this, ex](Result<CommandResult> r) {
    if (!r) {
      ex->send_error(map_error(r.error(), Operation::kRenew, runtime_prefix));
      return;
    }
    if (!r->sandbox.expires_at) {
      ex->send_error(api_error(ApiErrorKind::kInternal, "renewal recorded no expiry"));
      return;
    }
    ex->send_json(200, render_renew(*r->sandbox.expires_at));
  });
}

void ApiServer::Impl::endpoint_of(const std::shared_ptr<Exchange>& ex, const std::string& id,
                                  const std::string& port_segment) {
  auto port = parse_port(port_segment, runtime_prefix);
  if (!port) {
    ex->send_error(port.error());
    return;
  }
  auto endpoint = deps.service.endpoint(id, *port);
  if (!endpoint) {
    ex->send_error(map_error(endpoint.error(), Operation::kEndpoint, runtime_prefix));
    return;
  }
  ex->send_json(200, render_endpoint(*endpoint));
}

void ApiServer::Impl::history(const std::shared_ptr<Exchange>& ex, const std::string& id) {
  auto events = deps.store.read_stream(stream_of(id));
  if (!events) {
    ex->send_error(map_error(events.error(), Operation::kSandboxEvents, runtime_prefix));
    return;
  }
  if (events->empty()) {
    ex->send_error(map_error(Error(ErrorCode::kNotFound, "sandbox " + id + " has no history"),
                             Operation::kSandboxEvents, runtime_prefix));
    return;
  }
  ex->send_json(200, render_history(id, *events));
}

void ApiServer::Impl::watch(const std::shared_ptr<Exchange>& ex, const Http::Request& req,
                            const QueryParams& query, Tcp::Transport* transport,
                            const std::shared_ptr<Tcp::Peer>& peer) {
  // Resume point: ?since=N, else Last-Event-ID, else the current head (new events only).
  std::optional<std::string> since_text = query_value(query, "since");
  if (!since_text) {
    if (auto last = req.headers().tryGetRaw("Last-Event-ID"))
      since_text = std::string(trim(last->value()));
  }
  std::uint64_t after = deps.store.head();
  if (since_text) {
    auto n = parse_int(trim(*since_text));
    if (!n || *n < 0) {
      ex->send_error(
          api_error(ApiErrorKind::kValidation, "since must be a non-negative integer position",
                    {Issue{{"query", "since"}, "Input should be a valid integer", "int_parsing"}}));
      return;
    }
    after = static_cast<std::uint64_t>(*n);
    // The oldest event still stored; a position before it cannot be resumed gap-free.
    auto first = deps.store.read(1, 1);
    if (!first) {
      ex->send_error(map_error(first.error(), Operation::kWatchEvents, runtime_prefix));
      return;
    }
    const std::uint64_t oldest = first->empty() ? deps.store.head() + 1 : first->front().position;
    if (after + 1 < oldest) {
      ex->send_error(api_error(
          ApiErrorKind::kEventsExpired,
          "position " + std::to_string(after) + " is older than the oldest retained event (" +
              std::to_string(oldest) + "); restart from since=" + std::to_string(oldest - 1)));
      return;
    }
  }
  if (!peer || !transport) {
    ex->send_error(api_error(ApiErrorKind::kInternal, "event streams need a live connection"));
    return;
  }
  if (streamer.subscribers() >= options.max_event_streams) {
    ex->send_error(api_error(ApiErrorKind::kServerBusy,
                             "too many event streams (server.max_event_streams = " +
                                 std::to_string(options.max_event_streams) + "); retry later"));
    return;
  }
  // The kernel holds at most this much of a stream; what the client does not read beyond
  // it counts against event_stream_buffer_bytes below.
  const int sndbuf = 256 * 1024;
  ::setsockopt(peer->fd(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  // The response head, then chunks written by the streamer thread.
  if (ex->sent.exchange(true)) return;
  ex->finish_metrics(200);
  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "X-Accel-Buffering: no\r\nX-Request-ID: " +
      ex->request_id + "\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::weak_ptr<Tcp::Peer> weak = peer;
  auto chunk = [](std::string_view data) {
    char size[20];
    const int len = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    std::string out(size, static_cast<std::size_t>(len));
    out.append(data);
    out += "\r\n";
    return out;
  };
  head += chunk("retry: 3000\n\n");
  peer->send(RawBuffer(head, head.size()));
  end_request();  // the stream is not an in-flight request; its end is tracked below
  keep_stream_fresh(transport, weak,
                    std::chrono::milliseconds(std::max<long long>(
                        1000, std::min<long long>(options.sse_heartbeat.count(), 15000))));
  EventStreamer::Subscriber sub;
  // Bytes handed to the transport and not yet written to the socket. A client that stops
  // reading lets this grow; past the limit it is cut (the connection closed on its own
  // transport thread) and resumes with ?since= / Last-Event-ID, instead of the server
  // queueing frames for it without bound.
  //
  // Frames are sent from the connection's transport thread, never from the streamer's:
  // Pistache 0.0.5's promises are not safe to chain (.then) on one thread while another
  // resolves them. The streamer queues the frames and schedules one flush at a time, which
  // sends them in order and learns, through the promises, when each was written.
  struct Outbox {
    std::mutex mu;
    std::deque<std::string> frames;  // guarded by mu
    bool flush_scheduled = false;    // guarded by mu
    std::atomic<std::size_t> unsent{0};
  };
  auto box = std::make_shared<Outbox>();
  const std::size_t limit = options.event_stream_buffer_bytes;
  // Queues `c` behind what is queued and schedules a flush if none is pending.
  auto enqueue = [weak, box, transport](std::string c) {
    box->unsent.fetch_add(c.size());
    bool schedule = false;
    {
      std::lock_guard lock(box->mu);
      box->frames.push_back(std::move(c));
      schedule = !std::exchange(box->flush_scheduled, true);
    }
    if (!schedule) return;
    on_transport_thread(transport, std::chrono::milliseconds(1), [weak, box](int fired) {
      ::close(fired);
      std::deque<std::string> out;
      {
        std::lock_guard lock(box->mu);
        out.swap(box->frames);
        box->flush_scheduled = false;
      }
      auto p = weak.lock();
      for (auto& f : out) {
        const std::size_t size = f.size();
        if (!p) {
          box->unsent.fetch_sub(size);
          continue;
        }
        try {
          p->send(RawBuffer(f, f.size()))
              .then([box, size](ssize_t) { box->unsent.fetch_sub(size); },
                    [box, size](std::exception_ptr) { box->unsent.fetch_sub(size); });
        } catch (...) {
          box->unsent.fetch_sub(size);
        }
      }
    });
  };
  sub.write = [weak, chunk, box, limit, transport, enqueue](std::string_view frames) {
    if (weak.expired()) return false;
    if (box->unsent.load() > limit) {
      logger("api")->info("event stream cut: the client left {} bytes unread (limit {})",
                          box->unsent.load(), limit);
      on_transport_thread(transport, std::chrono::milliseconds(1), [weak](int fired) {
        ::close(fired);
        if (auto q = weak.lock()) ::shutdown(q->fd(), SHUT_RDWR);
      });
      return false;
    }
    enqueue(chunk(frames));
    return true;
  };
  sub.end = [weak, enqueue] {
    if (!weak.expired()) enqueue("0\r\n\r\n");  // after every frame queued before it
  };
  streamer.add(std::move(sub), after);
}

void ApiServer::Impl::health(const std::shared_ptr<Exchange>& ex, bool with_details) {
  if (!with_details) {  // the key holder sees the runtime, the store and their counts
    ex->send_json(200, nlohmann::json{{"status", "healthy"}}.dump());
    return;
  }
  nlohmann::json j = {
      {"status", "healthy"},
      {"runtime",
       {{"type", options.runtime_type}, {"available", deps.service.runtime_available()}}},
      {"store",
       {{"head", deps.store.head()},
        {"liveSandboxes", deps.store.live_sandbox_count()},
        {"writable", deps.store.writable()}}}};
  if (deps.health_details) {
    try {
      nlohmann::json extra = deps.health_details();
      if (extra.is_object()) {
        for (auto it = extra.begin(); it != extra.end(); ++it) {
          if (it.key() != "status") j[it.key()] = *it;
        }
      }
    } catch (const std::exception& e) {
      j["detailsError"] = e.what();
    }
  }
  ex->send_json(200, j.dump());
}

void ApiServer::Impl::metrics(const std::shared_ptr<Exchange>& ex) {
  if (!metrics_provider) {
    ex->send_error(api_error(ApiErrorKind::kRouteNotFound, "metrics are not enabled"));
    return;
  }
  ex->send(200, metrics_provider(), &prometheus_mime());
}

void ApiServer::Impl::do_shutdown() {
  stopping = true;
  // Parked requests answer now with the state reached.
  std::unordered_map<Exchange*, std::function<void()>> waiting;
  {
    std::lock_guard lock(mu);
    waiting.swap(parked);
  }
  for (auto& [ex, answer_now] : waiting) answer_now();
  // Mutations already running answer when their append completes.
  if (!wait_idle(std::chrono::seconds(10))) {
    logger("api")->warn("shutdown: {} requests still unanswered after 10 s", in_flight);
  }
  streamer.shutdown();
  // Answers are queued on the transport threads; give them a moment to reach the wire.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (endpoint) endpoint->shutdown();
}

// --- ApiServer ----------------------------------------------------------------------------

ApiServer::ApiServer(ApiDeps deps, ApiOptions options)
    : impl_(std::make_shared<Impl>(std::move(deps), std::move(options))) {}

ApiServer::~ApiServer() { shutdown(); }

void ApiServer::set_metrics_provider(std::function<std::string()> provider) {
  impl_->metrics_provider = std::move(provider);
}

Result<std::uint16_t> ApiServer::start() {
  if (impl_->started)
    return fail(ErrorCode::kFailedPrecondition, "the API server was already started");
  ::signal(SIGPIPE, SIG_IGN);
  const ApiOptions& o = impl_->options;
  std::string host = o.host.empty() ? "0.0.0.0" : o.host;
  if (!o.api_key && !is_loopback_host(host)) {
    if (o.insecure_server) {
      logger("api")->warn(
          "!!! NO API KEY and listening on {}: anyone who can reach this address can start "
          "containers on this host (server.insecure_server / OPENSANDBOX_INSECURE_SERVER). Set "
          "server.api_key or OPENSANDBOX_SERVER_API_KEY. !!!",
          host);
    } else {
      logger("api")->warn(
          "!!! NO API KEY: listening on 127.0.0.1 only, not on {} as configured. Set "
          "server.api_key (or OPENSANDBOX_SERVER_API_KEY) to serve the network, or allow an "
          "unauthenticated network bind explicitly with server.insecure_server = true or "
          "OPENSANDBOX_INSECURE_SERVER=YES. !!!",
          host);
      host = "127.0.0.1";
    }
  }
  try {
    Address addr = host == "0.0.0.0" ? Address(Ipv4::any(), Port(o.port)) : Address(host, Port(o.port));
    auto endpoint = std::make_unique<Http::Endpoint>(addr);
    // Read timeouts above the longest parked wait, so the server never cuts its own waits.
    const auto read_timeout = std::max<std::chrono::milliseconds>(
        std::chrono::seconds(60), o.max_wait + std::chrono::seconds(30));
    auto opts = Http::Endpoint::options()
                    .threads(std::max(1, o.threads))
                    .threadsName("sbx-http")
                    .flags(Tcp::Options::ReuseAddr)
                    .backlog(1024)
                    .maxRequestSize(o.max_body_bytes + kMaxHeadBytes + 1024)
                    .headerTimeout(read_timeout)
                    .bodyTimeout(read_timeout)
                    .keepaliveTimeout(std::chrono::seconds(std::max(1, o.keep_alive_seconds)));
    endpoint->init(opts);
    endpoint->setHandler(Http::make_handler<HttpHandler>(impl_.get()));
    endpoint->serveThreaded();
    impl_->bound_port = static_cast<std::uint16_t>(endpoint->getPort());
    impl_->bound_host = host;
    impl_->endpoint = std::move(endpoint);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kUnavailable,
                "cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " + e.what(),
                "server.port");
  }
  impl_->started = true;
  logger("api")->info("listening on {}:{} ({} threads{})", host, impl_->bound_port, o.threads,
                      o.api_key ? ", API key required" : ", no API key: auth is off");
  return impl_->bound_port;
}

void ApiServer::shutdown() {
  std::call_once(impl_->shutdown_once, [this] {
    if (!impl_->started) {
      impl_->streamer.shutdown();
      return;
    }
    impl_->do_shutdown();
  });
}

std::uint16_t ApiServer::port() const { return impl_->bound_port; }

std::string ApiServer::bound_host() const { return impl_->bound_host; }

std::size_t ApiServer::connections() const { return impl_->connections.load(); }

std::size_t ApiServer::in_flight() const {
  std::lock_guard lock(impl_->mu);
  return impl_->in_flight;
}

}  // namespace sbx::api
