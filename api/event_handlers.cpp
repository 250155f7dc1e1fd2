// The event handlers: GET /sandboxes/{id}/events (a sandbox's whole history, also after
// delete) and GET /events (server-sent events of the global log, from ?since=N or
// Last-Event-ID). Both read through the service's read port (deps.reads), never the store.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>

#include "api/handlers.h"
#include "api/http_handler.h"
#include "api/sandbox_json.h"
#include "api/server_impl.h"
#include "src/common/log.h"

namespace sbx::api::handlers {

using namespace Pistache;

namespace {

// One chunk of a chunked response body.
std::string chunk(std::string_view data) {
  char size[20];
  const int len = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out(size, static_cast<std::size_t>(len));
  out.append(data);
  out += "\r\n";
  return out;
}

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

// Queues `c` behind what is queued and schedules a flush if none is pending.
void enqueue(const std::shared_ptr<Outbox>& box, const std::weak_ptr<Tcp::Peer>& weak,
             Tcp::Transport* transport, std::string c) {
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
}

}  // namespace

void sandbox_history(const Call& call) {
  ApiServer::Impl& server = call.server;
  const std::string_view id = call.id();
  auto events = server.deps.reads.history(id);
  if (!events) {
    call.exchange->send_error(
        map_error(events.error(), Operation::kSandboxEvents, server.runtime_prefix));
    return;
  }
  if (events->empty()) {
    call.exchange->send_error(
        map_error(Error(ErrorCode::kNotFound, "sandbox " + std::string(id) + " has no history"),
                  Operation::kSandboxEvents, server.runtime_prefix));
    return;
  }
  call.exchange->send_json(200, render_history(id, *events));
}

void watch_events(const Call& call) {
  ApiServer::Impl& server = call.server;
  const ApiOptions& options = server.options;
  const auto& ex = call.exchange;
  // Resume point: ?since=N, else Last-Event-ID, else the current head (new events only).
  std::optional<std::string> since_text = query_value(call.query, "since");
  if (!since_text) {
    if (auto last = call.request.headers().tryGetRaw("Last-Event-ID"))
      since_text = std::string(trim(last->value()));
  }
  std::uint64_t after = server.deps.reads.head();
  if (since_text) {
    auto n = parse_int(trim(*since_text), SignPolicy::kAllowPlus);
    if (!n || *n < 0) {
      ex->send_error(
          api_error(ApiErrorKind::kValidation, "since must be a non-negative integer position",
                    {Issue{{"query", "since"}, "Input should be a valid integer", "int_parsing"}}));
      return;
    }
    after = static_cast<std::uint64_t>(*n);
    // The oldest event still stored; a position before it cannot be resumed gap-free.
    auto oldest = server.deps.reads.oldest_position();
    if (!oldest) {
      ex->send_error(map_error(oldest.error(), Operation::kWatchEvents, server.runtime_prefix));
      return;
    }
    if (after + 1 < *oldest) {
      ex->send_error(api_error(
          ApiErrorKind::kEventsExpired,
          "position " + std::to_string(after) + " is older than the oldest retained event (" +
              std::to_string(*oldest) + "); restart from since=" + std::to_string(*oldest - 1)));
      return;
    }
  }
  const std::shared_ptr<Tcp::Peer>& peer = call.peer;
  Tcp::Transport* transport = call.transport;
  if (!peer || !transport) {
    ex->send_error(api_error(ApiErrorKind::kInternal, "event streams need a live connection"));
    return;
  }
  if (server.streamer->subscribers() >= options.max_event_streams) {
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
  if (!ex->claim(200)) return;
  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "X-Accel-Buffering: no\r\nX-Request-ID: " +
      ex->request_id() + "\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::weak_ptr<Tcp::Peer> weak = peer;
  head += chunk("retry: 3000\n\n");
  peer->send(RawBuffer(head, head.size()));
  server.end_request();  // the stream is not an in-flight request; its end is tracked below
  keep_stream_fresh(transport, weak,
                    std::chrono::milliseconds(std::max<long long>(
                        1000, std::min<long long>(options.sse_heartbeat.count(), 15000))));
  auto box = std::make_shared<Outbox>();
  const std::size_t limit = options.event_stream_buffer_bytes;
  EventStreamer::Subscriber sub;
  sub.write = [weak, box, limit, transport](std::string_view frames) {
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
    enqueue(box, weak, transport, chunk(frames));
    return true;
  };
  sub.end = [weak, box, transport] {
    // After every frame queued before it.
    if (!weak.expired()) enqueue(box, weak, transport, "0\r\n\r\n");
  };
  server.streamer->add(std::move(sub), after);
}

}  // namespace sbx::api::handlers
