#include "api/exchange.h"

#include "api/server_impl.h"
#include "src/common/log.h"

namespace sbx::api {

using namespace Pistache;

namespace {

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

}  // namespace

const Http::Mime::MediaType& json_mime() {
  static const auto m = Http::Mime::MediaType::fromString("application/json");
  return m;
}

// --- Exchange ------------------------------------------------------------------------------

Exchange::Exchange(std::shared_ptr<ApiServer::Impl> server, Http::ResponseWriter writer,
                   std::string request_id, std::string method)
    : owner_(std::move(server)),
      writer_(std::move(writer)),
      request_id_(std::move(request_id)),
      method_(std::move(method)),
      start_(std::chrono::steady_clock::now()) {
  owner_->begin_request();
  if (auto* hm = owner_->deps.http_metrics) hm->requests_in_flight.inc();
}

Exchange::~Exchange() {
  // Never answered (a handler bug): still release the in-flight slot.
  if (!sent_.exchange(true)) {
    finish_metrics(500);
    owner_->end_request();
    if (on_sent_) on_sent_();
  }
}

void Exchange::finish_metrics(int status) {
  auto* hm = owner_->deps.http_metrics;
  if (!hm) return;
  hm->requests_in_flight.dec();
  const std::string s = std::to_string(status);
  hm->requests_total.with({method_, route_, s}).inc();
  hm->request_duration_seconds.with({method_, route_})
      .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
}

bool Exchange::claim(int status) {
  if (sent_.exchange(true)) return false;
  finish_metrics(status);
  return true;
}

bool Exchange::send(int status, std::string_view body, const Http::Mime::MediaType* mime,
                    const Headers& headers) {
  if (sent_.exchange(true)) return false;
  finish_metrics(status);
  static const auto access = logger("http");
  if (access->should_log(spdlog::level::debug)) {
    access->debug(
        "{} {} -> {} in {:.3f} ms (request {})", method_, route_, status,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
            .count(),
        request_id_);
  }
  ApiServer::Impl* server = owner_.get();
  try {
    writer_.headers().add(std::make_shared<NamedHeader>("X-Request-ID", request_id_));
    for (const auto& [k, v] : headers) writer_.headers().add(std::make_shared<NamedHeader>(k, v));
    auto promise = writer_.send(static_cast<Http::Code>(status), body.data(), body.size(),
                                mime ? *mime : Http::Mime::MediaType());
    if (auto after = std::move(after_write_)) {
      promise.then([after](ssize_t) { after(); }, [after](std::exception_ptr) { after(); });
    }
  } catch (const std::exception& e) {
    logger("api")->debug("response {} not sent: {}", request_id_, e.what());
  }
  // Handed to the connection's transport thread (which writes it, or drops it if the
  // client is gone): no longer ours to wait for.
  if (auto sent = std::move(on_sent_)) sent();
  server->end_request();
  return true;
}

bool Exchange::send_json(int status, std::string_view body, const Headers& headers) {
  return send(status, body, &json_mime(), headers);
}

bool Exchange::send_error(const ApiError& error) {
  if (error.status >= 500) {
    logger("api")->warn("{} {} -> {} {}: {} (request {})", method_, route_, error.status,
                        error.code, error.message, request_id_);
  }
  // 429 (a warm pool had no member for a warm-only create): the reference's Retry-After.
  if (error.status == 429) return send_json(error.status, render_error(error), {{"Retry-After", "1"}});
  return send_json(error.status, render_error(error));
}

bool Exchange::send_empty(int status) { return send(status, {}, nullptr); }

// --- ParkedExchanges -----------------------------------------------------------------------

ParkedExchanges::ParkedExchanges(SandboxService& service, std::size_t max_parked)
    : service_(service), max_parked_(max_parked) {}

void ParkedExchanges::park(const std::shared_ptr<Exchange>& ex, std::string sandbox_id,
                           SandboxService::Predicate predicate, std::chrono::milliseconds timeout,
                           Answer answer) {
  bool parked_now = false;
  bool full = false;
  {
    std::lock_guard lock(mu_);
    if (!closed_) {
      if (parked_.size() >= max_parked_) {
        full = true;
      } else {
        parked_.emplace(ex.get(), [this, answer, sandbox_id] {
          answer(WaitOutcome::kCancelled, service_.get(sandbox_id));
        });
        parked_now = true;
      }
    }
  }
  if (!parked_now) {
    // Waiting is a courtesy: with server.max_parked_requests waiting already, answer with
    // the state reached so far (the client polls, as it would after a timed-out wait).
    if (full) logger("api")->debug("parked requests at the cap ({}); answering at once", max_parked_);
    answer(full ? WaitOutcome::kTimedOut : WaitOutcome::kCancelled, service_.get(sandbox_id));
    return;
  }
  service_.wait_async(
      std::move(sandbox_id), std::move(predicate), timeout,
      [this, ex, answer](WaitOutcome outcome, std::shared_ptr<const Sandbox> sb) {
        std::function<void()> dropped;  // destroyed outside the lock
        {
          std::lock_guard lock(mu_);
          if (auto it = parked_.find(ex.get()); it != parked_.end()) {
            dropped = std::move(it->second);
            parked_.erase(it);
          }
        }
        answer(outcome, std::move(sb));
      });
}

void ParkedExchanges::answer_all_now() {
  std::unordered_map<Exchange*, std::function<void()>> waiting;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    waiting.swap(parked_);
  }
  for (auto& [ex, answer_now] : waiting) answer_now();
}

}  // namespace sbx::api
