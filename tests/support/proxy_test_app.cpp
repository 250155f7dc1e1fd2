// proxy-test-app: a small HTTP + WebSocket server that the server proxy's tests put behind
// the proxy (as a local process, or `docker import`ed into a sandbox image: it is linked
// statically). One thread per connection, keep-alive, Boost.Beast.
//
//   proxy-test-app --port N [--host 127.0.0.1]   (N = 0: any port; prints "listening on <port>")
//   (in a container: --host 0.0.0.0; PROXY_TEST_APP_DIE_WITH_PARENT=1: exit with the parent)
//
// Routes (any method unless said):
//   /echo[...]                 JSON: method, target, path, query, headers (name lowercased ->
//                              values joined with ", "), body_length, body_checksum
//                              (FNV-1a 64, hex) of the request
//   /sse?n=K&interval_ms=M     K server-sent events ("data: <i>"), each written and flushed
//                              on its own, M ms apart (chunked)
//   /download?bytes=N[&chunked=1]  N bytes of the pattern (i % 251); Content-Length unless
//                              chunked=1; streamed in 64 KiB pieces
//   /upload                    reads the body as it streams; answers {"length","checksum"}
//   /ws                        WebSocket echo (text and binary, message for message)
//   /slow?ms=M                 waits M ms before its head, then 200 "slow"
//   /status?code=N             answers status N (no body for 1xx/204/304)
//   /redirect?to=L             302 with Location: L
//   /hop                       answers with hop-by-hop headers (Keep-Alive, Connection:
//                              X-Hop-Named, X-Hop-Named, Proxy-Authenticate) plus X-Kept
// Anything else: 404.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <cctype>
#include <map>
#include <string>
#include <string_view>
#include <thread>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

struct Checksum {
  std::uint64_t h = 1469598103934665603ULL;
  std::uint64_t n = 0;
  void add(const char* p, std::size_t len) {
    for (std::size_t i = 0; i < len; ++i) {
      h ^= static_cast<unsigned char>(p[i]);
      h *= 1099511628211ULL;
    }
    n += len;
  }
  std::string hex() const {
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
    return out;
  }
};

std::string json_escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return std::string(eq == pair.npos ? "" : pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

long long to_ll(const std::string& s, long long dflt) {
  if (s.empty()) return dflt;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  return end && *end == 0 ? v : dflt;
}

// Reads the rest of a request body in pieces (never the whole of it at once).
bool drain_body(tcp::socket& sock, beast::flat_buffer& buf,
                http::request_parser<http::buffer_body>& p, Checksum& sum) {
  char piece[65536];
  beast::error_code ec;
  while (!p.is_done()) {
    p.get().body().data = piece;
    p.get().body().size = sizeof piece;
    http::read(sock, buf, p, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return false;
    sum.add(piece, sizeof piece - p.get().body().size);
  }
  return true;
}

template <typename Message>
void write_simple(tcp::socket& sock, Message& res, beast::error_code& ec) {
  res.prepare_payload();
  http::write(sock, res, ec);
}

void serve_ws(tcp::socket sock, http::request<http::empty_body> req) {
  websocket::stream<tcp::socket> ws(std::move(sock));
  beast::error_code ec;
  ws.accept(req, ec);
  if (ec) return;
  for (;;) {
    beast::flat_buffer msg;
    ws.read(msg, ec);
    if (ec) return;
    ws.text(ws.got_text());
    ws.write(msg.data(), ec);
    if (ec) return;
  }
}

void serve(tcp::socket sock) {
  beast::error_code ec;
  beast::flat_buffer buf;
  for (;;) {
    http::request_parser<http::buffer_body> p;
    p.header_limit(64 * 1024);
    p.body_limit(std::numeric_limits<std::uint64_t>::max());
    http::read_header(sock, buf, p, ec);
    if (ec) return;
    auto& req = p.get();
    const std::string target(req.target());
    const auto qmark = target.find('?');
    const std::string path = target.substr(0, qmark);
    const std::string query = qmark == std::string::npos ? "" : target.substr(qmark + 1);
    const bool keep = req.keep_alive();

    if (path == "/ws") {
      http::request<http::empty_body> head;
      head.method(req.method());
      head.target(req.target());
      head.version(req.version());
      for (const auto& f : req) head.insert(f.name_string(), f.value());
      if (websocket::is_upgrade(head)) {
        // The handshake is answered from the parsed head (a client sends no frame before
        // it has read the 101).
        serve_ws(std::move(sock), std::move(head));
        return;
      }
    }

    Checksum sum;
    if (!drain_body(sock, buf, p, sum)) return;

    if (path == "/echo" || path.rfind("/echo/", 0) == 0) {
      std::map<std::string, std::string> headers;
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto& v = headers[name];
        if (!v.empty()) v += ", ";
        v += std::string(f.value());
      }
      std::string body = "{\"method\":\"" + json_escape(std::string(req.method_string())) +
                         "\",\"target\":\"" + json_escape(target) + "\",\"path\":\"" +
                         json_escape(path) + "\",\"query\":\"" + json_escape(query) +
                         "\",\"headers\":{";
      bool first = true;
      for (const auto& [k, v] : headers) {
        if (!first) body += ",";
        first = false;
        body += "\"" + json_escape(k) + "\":\"" + json_escape(v) + "\"";
      }
      body += "},\"body_length\":" + std::to_string(sum.n) + ",\"body_checksum\":\"" +
              sum.hex() + "\"}";
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.set(http::field::content_type, "application/json");
      res.keep_alive(keep);
      if (req.method() != http::verb::head) res.body() = std::move(body);
      write_simple(sock, res, ec);
    } else if (path == "/upload") {
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.set(http::field::content_type, "application/json");
      res.keep_alive(keep);
      res.body() = "{\"length\":" + std::to_string(sum.n) + ",\"checksum\":\"" + sum.hex() + "\"}";
      write_simple(sock, res, ec);
    } else if (path == "/sse") {
      const long long n = to_ll(query_param(query, "n"), 5);
      const long long interval = to_ll(query_param(query, "interval_ms"), 100);
      http::response<http::empty_body> res{http::status::ok, req.version()};
      res.set(http::field::content_type, "text/event-stream");
      res.set(http::field::cache_control, "no-cache");
      res.chunked(true);
      res.keep_alive(keep);
      http::response_serializer<http::empty_body> sr{res};
      http::write_header(sock, sr, ec);
      for (long long i = 0; i < n && !ec; ++i) {
        if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(interval));
        const std::string event = "data: " + std::to_string(i) + "\n\n";
        asio::write(sock, http::make_chunk(asio::buffer(event)), ec);
      }
      if (!ec) asio::write(sock, http::make_chunk_last(), ec);
    } else if (path == "/download") {
      const long long total = to_ll(query_param(query, "bytes"), 0);
      const bool chunked = query_param(query, "chunked") == "1";
      http::response<http::empty_body> res{http::status::ok, req.version()};
      res.set(http::field::content_type, "application/octet-stream");
      res.keep_alive(keep);
      if (chunked) {
        res.chunked(true);
      } else {
        res.content_length(static_cast<std::uint64_t>(total));
      }
      http::response_serializer<http::empty_body> sr{res};
      http::write_header(sock, sr, ec);
      std::string piece(65536, '\0');
      long long sent = 0;
      while (!ec && sent < total && req.method() != http::verb::head) {
        const std::size_t n = static_cast<std::size_t>(
            std::min<long long>(static_cast<long long>(piece.size()), total - sent));
        for (std::size_t i = 0; i < n; ++i) {
          piece[i] = static_cast<char>((sent + static_cast<long long>(i)) % 251);
        }
        if (chunked) {
          asio::write(sock, http::make_chunk(asio::buffer(piece.data(), n)), ec);
        } else {
          asio::write(sock, asio::buffer(piece.data(), n), ec);
        }
        sent += static_cast<long long>(n);
      }
      if (!ec && chunked) asio::write(sock, http::make_chunk_last(), ec);
    } else if (path == "/slow") {
      std::this_thread::sleep_for(std::chrono::milliseconds(to_ll(query_param(query, "ms"), 1000)));
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.keep_alive(keep);
      res.body() = "slow";
      write_simple(sock, res, ec);
    } else if (path == "/status") {
      const int code = static_cast<int>(to_ll(query_param(query, "code"), 200));
      http::response<http::string_body> res{static_cast<http::status>(code), req.version()};
      res.keep_alive(keep);
      if (code >= 200 && code != 204 && code != 304) res.body() = "status " + std::to_string(code);
      if (code == 204 || code == 304) {
        http::write(sock, res, ec);
      } else {
        write_simple(sock, res, ec);
      }
    } else if (path == "/redirect") {
      http::response<http::string_body> res{http::status::found, req.version()};
      res.keep_alive(keep);
      res.set(http::field::location, query_param(query, "to"));
      write_simple(sock, res, ec);
    } else if (path == "/hop") {
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.set(http::field::keep_alive, "timeout=5");
      res.set(http::field::proxy_authenticate, "Basic realm=x");
      res.set("X-Hop-Named", "secret");
      res.set("X-Kept", "yes");
      res.set(http::field::connection, "X-Hop-Named");
      res.body() = "hop";
      write_simple(sock, res, ec);
    } else {
      http::response<http::string_body> res{http::status::not_found, req.version()};
      res.keep_alive(keep);
      res.body() = "not found";
      write_simple(sock, res, ec);
    }
    if (ec || !keep) break;
  }
  sock.shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace

int main(int argc, char** argv) {
  // Run by a test: end with it, even when it crashes before reaping us.
  if (const char* v = std::getenv("PROXY_TEST_APP_DIE_WITH_PARENT"); v && std::string_view(v) == "1") {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() == 1) return 1;
  }
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view a = argv[i];
    if (a == "--port") port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
    if (a == "--host") host = argv[i + 1];
  }
  try {
    asio::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address(host), port));
    std::cout << "listening on " << acceptor.local_endpoint().port() << std::endl;
    for (;;) {
      tcp::socket sock(ioc);
      acceptor.accept(sock);
      beast::error_code ec;
      sock.set_option(tcp::no_delay(true), ec);
      std::thread(serve, std::move(sock)).detach();
    }
  } catch (const std::exception& e) {
    std::cerr << "proxy-test-app: " << e.what() << std::endl;
    return 1;
  }
}
