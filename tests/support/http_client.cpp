#include "tests/support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace sbx::testing {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return {};
}

bool HttpResponse::has_header(std::string_view name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return iequals(h.first, name); });
}

HttpClient::HttpClient(std::uint16_t port, std::string host)
    : host_(std::move(host)), port_(port) {}

HttpClient::~HttpClient() { close(); }

void HttpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buf_.clear();
}

void HttpClient::connect() {
  close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port_);
  if (::inet_pton(AF_INET, host_.c_str(), &a.sin_addr) != 1)
    throw std::runtime_error("bad host " + host_);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const std::string err = std::strerror(errno);
    close();
    throw std::runtime_error("connect to " + host_ + ":" + std::to_string(port_) + ": " + err);
  }
}

void HttpClient::send_all(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("send: " + std::string(std::strerror(errno)));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

bool HttpClient::fill() {
  pollfd p{fd_, POLLIN, 0};
  const int r = ::poll(&p, 1, static_cast<int>(timeout_.count()));
  if (r == 0) throw std::runtime_error("timed out waiting for the server");
  if (r < 0) throw std::runtime_error("poll: " + std::string(std::strerror(errno)));
  char tmp[16384];
  const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
  if (n < 0) {
    if (errno == ECONNRESET) return false;
    throw std::runtime_error("recv: " + std::string(std::strerror(errno)));
  }
  if (n == 0) return false;
  buf_.append(tmp, static_cast<std::size_t>(n));
  return true;
}

HttpResponse HttpClient::read_response() {
  HttpResponse r;
  std::size_t end;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) throw std::runtime_error("connection closed before the response head");
  }
  std::string_view head(buf_.data(), end);
  const auto first = head.find("\r\n");
  const std::string_view status_line = head.substr(0, first);
  const auto sp = status_line.find(' ');
  if (sp == std::string_view::npos) throw std::runtime_error("bad status line");
  r.status = std::stoi(std::string(status_line.substr(sp + 1, 3)));
  std::size_t pos = first == std::string_view::npos ? head.size() : first + 2;
  while (pos < head.size()) {
    auto eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = head.size();
    const std::string_view line = head.substr(pos, eol - pos);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      r.headers.emplace_back(std::string(trim(line.substr(0, colon))),
                             std::string(trim(line.substr(colon + 1))));
    }
    pos = eol + 2;
  }
  buf_.erase(0, end + 4);
  return r;
}

HttpResponse HttpClient::raw(std::string_view raw) {
  if (fd_ < 0) connect();
  send_all(raw);
  HttpResponse r = read_response();
  if (iequals(r.header("Transfer-Encoding"), "chunked")) {
    for (;;) {
      std::size_t eol;
      while ((eol = buf_.find("\r\n")) == std::string::npos) {
        if (!fill()) throw std::runtime_error("connection closed inside a chunk");
      }
      const std::size_t size = std::stoul(buf_.substr(0, eol), nullptr, 16);
      while (buf_.size() < eol + 2 + size + 2) {
        if (!fill()) throw std::runtime_error("connection closed inside a chunk");
      }
      r.body.append(buf_, eol + 2, size);
      buf_.erase(0, eol + 2 + size + 2);
      if (size == 0) break;
    }
  } else if (r.has_header("Content-Length")) {
    const std::size_t len = std::stoul(r.header("Content-Length"));
    while (buf_.size() < len) {
      if (!fill()) throw std::runtime_error("connection closed inside the body");
    }
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
  } else if (r.status != 204 && r.status != 304 && r.status / 100 != 1) {
    while (fill()) {
    }
    r.body = std::move(buf_);
    buf_.clear();
    close();
  }
  if (iequals(r.header("Connection"), "close")) close();
  return r;
}

HttpResponse HttpClient::request(std::string_view method, std::string_view target,
                                 std::string_view body, const Headers& headers) {
  std::string req;
  req.reserve(256 + body.size());
  req.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ").append(host_);
  req.append(":").append(std::to_string(port_)).append("\r\n");
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    req.append(k).append(": ").append(v).append("\r\n");
    has_type |= iequals(k, "Content-Type");
  }
  if (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT") {
    if (!has_type && !body.empty()) req.append("Content-Type: application/json\r\n");
    req.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  req.append("\r\n").append(body);
  // A kept-alive connection the server closed meanwhile fails on first use: retry once.
  for (int attempt = 0;; ++attempt) {
    const bool reused = fd_ >= 0;
    try {
      if (fd_ < 0) connect();
      return raw(req);
    } catch (const std::runtime_error& e) {
      close();
      const std::string_view what = e.what();
      const bool stale = what.starts_with("connection closed before") || what.starts_with("send:");
      if (!reused || !stale || attempt > 0) throw;
    }
  }
}

// --- SSE ---------------------------------------------------------------------------------

SseStream::SseStream(std::uint16_t port, std::string_view target, const Headers& headers)
    : client_(port) {
  client_.connect();
  std::string req = "GET " + std::string(target) +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  req += "\r\n";
  client_.send_all(req);
  head_ = client_.read_response();
  if (!iequals(head_.header("Transfer-Encoding"), "chunked")) {
    // An error answer: read its body.
    if (head_.has_header("Content-Length")) {
      const std::size_t len = std::stoul(head_.header("Content-Length"));
      while (client_.buf_.size() < len && client_.fill()) {
      }
      head_.body = client_.buf_.substr(0, len);
    }
    ended_ = true;
  }
}

SseStream::~SseStream() = default;

bool SseStream::read_chunk(std::chrono::steady_clock::time_point deadline) {
  auto& buf = client_.buf_;
  for (;;) {
    const auto eol = buf.find("\r\n");
    if (eol != std::string::npos) {
      const std::size_t size = std::stoul(buf.substr(0, eol), nullptr, 16);
      if (buf.size() >= eol + 2 + size + 2) {
        text_.append(buf, eol + 2, size);
        buf.erase(0, eol + 2 + size + 2);
        if (size == 0) ended_ = true;
        return true;
      }
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    client_.set_timeout(left);
    try {
      if (!client_.fill()) {
        ended_ = true;
        return false;
      }
    } catch (const std::runtime_error&) {
      return false;  // deadline
    }
  }
}

std::optional<SseFrame> SseStream::next(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto blank = text_.find("\n\n");
    if (blank != std::string::npos) {
      std::string block = text_.substr(0, blank);
      text_.erase(0, blank + 2);
      SseFrame f;
      std::size_t pos = 0;
      while (pos <= block.size()) {
        auto eol = block.find('\n', pos);
        if (eol == std::string::npos) eol = block.size();
        const std::string line = block.substr(pos, eol - pos);
        if (!line.empty() && line[0] == ':') {
          f.comments.push_back(std::string(trim(std::string_view(line).substr(1))));
        } else if (line.rfind("id: ", 0) == 0) {
          f.id = line.substr(4);
        } else if (line.rfind("data: ", 0) == 0) {
          if (!f.data.empty()) f.data += '\n';
          f.data += line.substr(6);
        } else if (line.rfind("retry: ", 0) == 0) {
          f.retry = line.substr(7);
        }
        pos = eol + 1;
      }
      return f;
    }
    if (ended_ || !read_chunk(deadline)) return std::nullopt;
  }
}

}  // namespace sbx::testing
