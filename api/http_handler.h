// The Pistache adapter: HttpHandler, the Http::Handler that the endpoint feeds with the
// bytes of every connection, and the helpers that run work on a connection's own
// transport thread.
//
// HttpHandler reads each request's head itself before Pistache parses it (onInput), so
// that it can:
//   - count connections and refuse those beyond server.max_connections (503);
//   - arm a header timeout and, once the head is in, a body timeout (408 and close:
//     a client trickling bytes holds a connection for at most these);
//   - refuse a Content-Length above server.max_body_bytes (413) and, with an API key
//     configured, a body from a client whose key is missing or wrong (401), on the head,
//     before buffering the body;
//   - answer `Expect: 100-continue` at once;
//   - keep the raw request target (Pistache keeps only the first of repeated query keys);
// and then hands the parsed request to ApiServer::Impl::dispatch (routes.cpp). A malformed
// request is answered 400, an oversized head 431; an answer given before routing closes
// the connection once it is written (a lingering close: the rest of the request is read
// and dropped for up to a second, so the client reads the answer instead of a reset).
//
// Threads: everything here runs on the connection's transport thread (input, timers,
// disconnection); on_transport_thread() is how other threads get there.
#pragma once

#include "api/pistache.h"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

#include "api/api_server.h"
#include "api/http_util.h"

namespace sbx::api {

std::shared_ptr<Pistache::Http::Handler> make_http_handler(ApiServer::Impl* server);

// Runs `fn` on `transport`'s own thread after `delay` (a one-shot timerfd in its poller);
// `fn` gets the timer's descriptor and closes it (or passes it on as `prev_fd`). `prev_fd`
// is the timer that fired the caller, closed here once the poller is done with it.
// `delay` must be at least 1 ms: a timerfd armed with 0 is disarmed and never fires.
void on_transport_thread(Pistache::Tcp::Transport* transport, std::chrono::milliseconds delay,
                         std::function<void(int fired_fd)> fn, int prev_fd = -1);

// Keeps a streaming connection alive: Pistache 0.0.5 times a connection out by the age of
// its parser state even while a response is being streamed, so the stream's own transport
// thread refreshes it every `every` until the client is gone.
void keep_stream_fresh(Pistache::Tcp::Transport* transport, std::weak_ptr<Pistache::Tcp::Peer> peer,
                       std::chrono::milliseconds every, int prev_fd = -1);

}  // namespace sbx::api
