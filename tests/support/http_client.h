// HttpClient: a small HTTP/1.1 client over a raw TCP socket for tests and load drivers.
//
// One keep-alive connection per client (reconnected when the server closed it), requests
// sent exactly as given (so tests control every byte: repeated query keys, raw bodies,
// oversized headers), responses read by Content-Length, chunked encoding or connection
// close. SseStream reads a text/event-stream response frame by frame.
//
// Only for 127.0.0.1 (tests never leave the machine). Not thread-safe: one client per
// thread. Network errors surface as std::runtime_error (a test failure).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sbx::testing {

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names as sent
  std::string body;

  // First header with this name (case-insensitive), or "".
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port, std::string host = "127.0.0.1");
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse request(std::string_view method, std::string_view target, std::string_view body = {},
                       const Headers& headers = {});
  HttpResponse get(std::string_view target, const Headers& headers = {}) {
    return request("GET", target, {}, headers);
  }
  HttpResponse post(std::string_view target, std::string_view body, const Headers& headers = {}) {
    return request("POST", target, body, headers);
  }
  HttpResponse del(std::string_view target, const Headers& headers = {}) {
    return request("DELETE", target, {}, headers);
  }
  HttpResponse patch(std::string_view target, std::string_view body, const Headers& headers = {}) {
    return request("PATCH", target, body, headers);
  }

  // Sends `raw` bytes as they are and reads one response.
  HttpResponse raw(std::string_view raw);

  // Receive timeout of every read (default 30 s).
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

 private:
  void connect();
  void close();
  void send_all(std::string_view data);
  HttpResponse read_response();
  bool fill();  // reads more into buf_; false on EOF

  std::string host_;
  std::uint16_t port_;
  int fd_ = -1;
  std::string buf_;
  std::chrono::milliseconds timeout_{30000};
  friend class SseStream;
};

struct SseFrame {
  std::string id;
  std::string data;
  std::vector<std::string> comments;
  std::string retry;
};

class SseStream {
 public:
  // Opens GET `target` and reads the response head; status() tells what came back.
  SseStream(std::uint16_t port, std::string_view target, const Headers& headers = {});
  ~SseStream();
  SseStream(const SseStream&) = delete;
  SseStream& operator=(const SseStream&) = delete;

  int status() const { return head_.status; }
  const HttpResponse& head() const { return head_; }
  // Next frame (a block ended by a blank line), or nullopt at the deadline / end of stream.
  std::optional<SseFrame> next(std::chrono::milliseconds timeout);
  bool ended() const { return ended_; }

 private:
  bool read_chunk(std::chrono::steady_clock::time_point deadline);

  HttpClient client_;
  HttpResponse head_;
  std::string text_;  // de-chunked body not yet parsed into frames
  bool ended_ = false;
};

}  // namespace sbx::testing
