#include "api/http_handler.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "api/error_mapping.h"
#include "api/exchange.h"
#include "api/http_util.h"
#include "api/proxy/proxy_path.h"
#include "api/server_impl.h"

namespace sbx::api {

using namespace Pistache;

namespace {

// Answers of a connection not yet written, and whether a hand-off to the proxy waits for
// them (a pipelining client: a proxied request behind a parked one). Shared with the
// Exchange's after-write hook, which may run after the connection's capture is gone.
struct Answers {
  std::atomic<int> unanswered{0};
  std::atomic<bool> handoff_waiting{false};
};

// Pistache's Transport::removePeer is protected; this names it without deriving.
struct TransportAccess : Tcp::Transport {
  using Tcp::Transport::removePeer;
};

// What we read of a request ourselves before Pistache parses it: the request line (for
// the raw query string: Pistache keeps only the first of repeated keys) and the headers
// (to refuse an oversized body before buffering it).
// Also the connection's bookkeeping: whether it is counted against max_connections, and
// which request is current (`seq`), so a header/body timer armed for one request does
// nothing once that request was dispatched. Touched only on the connection's transport
// thread (input, timers and disconnection all run there), and owned by that thread's
// handler (HttpHandler::captures_), never by Pistache's Peer: Pistache drops a Peer's last
// reference on whichever of its threads comes last, so Peer data would be destroyed away
// from the thread that wrote it with only Pistache's uninstrumented counts in between.
struct HeadCapture {
  std::string head;
  bool done = false;
  bool poisoned = false;  // an early error was sent: ignore the rest of this connection
  std::string target;
  bool counted = false;    // counted in Impl::connections
  bool header_timer = false;  // the current request's header timeout is armed
  bool body_timer = false;    // the current request's body timeout is armed
  std::uint64_t seq = 0;   // bumped whenever a request was dispatched
  // Handed to the proxy (or about to be): every later byte goes to `pending`, which the
  // engine gets with the connection.
  bool handed_off = false;
  bool disconnected = false;  // Pistache closed it (its descriptor number may be reused)
  std::string pending;
  std::shared_ptr<Answers> answers = std::make_shared<Answers>();
  void reset() {
    head.clear();
    done = false;
    target.clear();
    header_timer = false;
    body_timer = false;
    ++seq;
  }
};

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

// Content-Length of a captured head, if present and numeric.
std::optional<unsigned long long> content_length_of(std::string_view head) {
  auto v = header_of(head, "content-length");
  if (!v) return std::nullopt;
  auto n = parse_int(*v, SignPolicy::kAllowPlus);
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

}  // namespace

void on_transport_thread(Tcp::Transport* transport, std::chrono::milliseconds delay,
                         std::function<void(int fired_fd)> fn, int prev_fd) {
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

void keep_stream_fresh(Tcp::Transport* transport, std::weak_ptr<Tcp::Peer> peer,
                       std::chrono::milliseconds every, int prev_fd) {
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

namespace {

// Our own onInput (see HeadCapture), then dispatch.
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
    if (auto cap = release_capture(*peer)) {
      cap->disconnected = true;
      if (cap->counted) {
        cap->counted = false;
        impl_->connections.fetch_sub(1);
      }
    }
    Http::Handler::onDisconnection(peer);
  }

 private:
  // A connection's capture, made on its first input. Each transport thread has its own
  // handler (Pistache clones it per thread), so the table is touched by one thread only.
  std::shared_ptr<HeadCapture> capture_of(const std::shared_ptr<Tcp::Peer>& peer) {
    auto it = captures_.find(peer.get());
    // The same address with an expired owner is a new Peer where an old one was.
    if (it != captures_.end() && !it->second.peer.expired()) return it->second.cap;
    if (it == captures_.end() && ++made_since_sweep_ >= kSweepEvery) sweep_captures();
    auto cap = std::make_shared<HeadCapture>();
    captures_[peer.get()] = Capture{peer, cap};
    return cap;
  }

  // The capture of a live connection, or null.
  std::shared_ptr<HeadCapture> find_capture(const Tcp::Peer& peer) const {
    auto it = captures_.find(&peer);
    if (it == captures_.end() || it->second.peer.expired()) return nullptr;
    return it->second.cap;
  }

  // Takes a connection's capture out of the table (it is gone or handed to the proxy).
  std::shared_ptr<HeadCapture> release_capture(const Tcp::Peer& peer) {
    auto it = captures_.find(&peer);
    if (it == captures_.end()) return nullptr;
    auto cap = std::move(it->second.cap);
    captures_.erase(it);
    return cap;
  }

  // Connections Pistache forgot without telling onDisconnection (its own shutdown paths)
  // leave an expired entry; every kSweepEvery new connections drops those.
  void sweep_captures() {
    made_since_sweep_ = 0;
    std::erase_if(captures_, [](const auto& entry) { return entry.second.peer.expired(); });
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

  // Takes the connection away from Pistache and gives it to the proxy engine, on the
  // transport thread after the current onInput returned (1 ms: a timerfd armed with 0 is
  // disarmed and never fires): the socket is dup'ed, Pistache
  // forgets its own descriptor (removePeer: out of the poller, closed; ~Peer closes nothing
  // more, checked in 0.0.5), and the engine gets the copy plus every byte read so far.
  void schedule_handoff(const std::shared_ptr<Tcp::Peer>& peer,
                        std::chrono::milliseconds after = std::chrono::milliseconds(1)) {
    std::weak_ptr<Tcp::Peer> wp = peer;
    auto* transport = this->transport();
    ApiServer::Impl* impl = impl_;
    on_transport_thread(transport, after, [this, wp, transport, impl](int fired) {
      ::close(fired);
      auto p = wp.lock();
      if (!p) return;
      auto cap = release_capture(*p);
      if (!cap || cap->disconnected) return;  // the client left before the hand-off
      const int fd = ::fcntl(p->fd(), F_DUPFD_CLOEXEC, 0);
      std::string address;
      try {
        address = p->address().host();
      } catch (const std::exception&) {
      }
      (transport->*&TransportAccess::removePeer)(p);
      if (fd < 0) return;  // no descriptor left: Pistache closed the connection
      impl->proxy->adopt(fd, std::move(cap->pending), std::move(address));
    });
  }

  // Hands the connection to the proxy once every earlier answer on it is written (a
  // pipelined request behind a parked one waits; the order of answers is kept).
  void hand_off(const std::shared_ptr<Tcp::Peer>& peer, HeadCapture& cap, std::string bytes) {
    cap.handed_off = true;
    cap.pending = std::move(bytes);
    if (cap.counted) {  // the proxy counts it from now on
      cap.counted = false;
      impl_->connections.fetch_sub(1);
    }
    auto answers = cap.answers;
    if (answers->unanswered.load() == 0) {
      // The connection's first request goes at once; after earlier answers, a few
      // milliseconds let the transport write what it queued (answer_hook).
      schedule_handoff(peer, std::chrono::milliseconds(cap.seq == 0 ? 1 : 5));
      return;
    }
    answers->handoff_waiting.store(true);
    if (answers->unanswered.load() == 0 && answers->handoff_waiting.exchange(false)) {
      schedule_handoff(peer, std::chrono::milliseconds(5));
      return;
    }
    // An answer that is never written (an event stream holds the connection) must not
    // hold it forever either: past the longest wait the connection is closed.
    std::weak_ptr<Tcp::Peer> wp = peer;
    on_transport_thread(transport(), impl_->options.max_wait + std::chrono::seconds(5),
                        [this, wp, answers](int fired) {
                          ::close(fired);
                          if (!answers->handoff_waiting.exchange(false)) return;
                          auto p = wp.lock();
                          if (!p) return;
                          auto cap = find_capture(*p);
                          if (!cap || cap->disconnected) return;
                          ::shutdown(p->fd(), SHUT_RDWR);
                        });
  }

  // The on-sent hook of a dispatched request (Exchange::set_on_sent; any thread). A
  // waiting hand-off runs a few milliseconds after the last answer was handed to the
  // transport: the transport thread writes queued answers as soon as its poller wakes, so
  // by then it is on the wire (a Pistache promise would tell exactly, but chaining one from
  // another thread races in Pistache 0.0.5).
  std::function<void()> answer_hook(const std::shared_ptr<Tcp::Peer>& peer, HeadCapture& cap) {
    cap.answers->unanswered.fetch_add(1);
    std::weak_ptr<Tcp::Peer> wp = peer;
    return [this, wp, answers = cap.answers] {
      if (answers->unanswered.fetch_sub(1) != 1 || !answers->handoff_waiting.load()) return;
      if (!answers->handoff_waiting.exchange(false)) return;
      auto p = wp.lock();
      if (!p) return;
      schedule_handoff(p, std::chrono::milliseconds(5));
    };
  }

  void onInput(const char* buffer, size_t len, const std::shared_ptr<Tcp::Peer>& peer) override {
    auto cap = capture_of(peer);
    if (cap->handed_off) {
      cap->pending.append(buffer, len);
      return;
    }
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
        if (impl_->proxy && proxy::is_proxy_target(cap->target)) {
          // From here on the proxy engine owns the connection: it gets the head and
          // whatever of the body this read brought.
          const std::size_t body_from = end + 4 - before;
          std::string bytes = cap->head + "\r\n";
          if (body_from < len) bytes.append(buffer + body_from, len - body_from);
          hand_off(peer, *cap, std::move(bytes));
          return;
        }
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
      if (parser->parse() != Http::Private::State::Done) {
        // Incomplete after this input: from now on the rest must arrive within its
        // timeout. Armed only here, so a request that arrives whole (the common case)
        // costs no timer: each is a descriptor until it fires, and one per request ran a
        // busy server out of descriptors.
        if (!cap->done) {
          if (!cap->header_timer) {
            cap->header_timer = true;
            arm_timeout(peer, cap, impl_->options.header_timeout, false);
          }
        } else if (!cap->body_timer) {
          cap->body_timer = true;
          arm_timeout(peer, cap, impl_->options.body_timeout, true);
        }
        return;
      }

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
      impl_->dispatch(request, target, std::move(response), transport(), peer,
                      answer_hook(peer, *cap));
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

  struct Capture {
    std::weak_ptr<Tcp::Peer> peer;  // to tell a reused address from the same connection
    std::shared_ptr<HeadCapture> cap;
  };
  static constexpr unsigned kSweepEvery = 256;

  ApiServer::Impl* impl_;
  std::unordered_map<const Tcp::Peer*, Capture> captures_;
  unsigned made_since_sweep_ = 0;
};

}  // namespace

std::shared_ptr<Http::Handler> make_http_handler(ApiServer::Impl* server) {
  return Http::make_handler<HttpHandler>(server);
}

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
    ex->set_after_write([weak, transport] {
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
    });
  }
  ex->send_error(error);
}

}  // namespace sbx::api
