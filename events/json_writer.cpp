#include "events/json_writer.h"

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>

namespace sbx {
namespace {

// Length of the well-formed UTF-8 sequence starting at p[0] (a byte >= 0x80), 0 if it is
// ill-formed: the table of well-formed byte sequences of the Unicode standard (no
// overlong forms, no surrogates, nothing above U+10FFFF), which is the language
// nlohmann's UTF-8 decoder accepts.
std::size_t utf8_sequence_length(const unsigned char* p, std::size_t available) {
  const unsigned c = p[0];
  auto cont = [&](std::size_t i, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return p[i] >= lo && p[i] <= hi;
  };
  if (c < 0xC2) return 0;  // a continuation byte, or an overlong lead C0/C1
  if (c < 0xE0) return available >= 2 && cont(1) ? 2 : 0;
  if (c < 0xF0) {
    if (available < 3) return 0;
    const unsigned lo = c == 0xE0 ? 0xA0 : 0x80;  // E0: no overlong forms
    const unsigned hi = c == 0xED ? 0x9F : 0xBF;  // ED: no surrogates
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c < 0xF5) {
    if (available < 4) return 0;
    const unsigned lo = c == 0xF0 ? 0x90 : 0x80;  // F0: no overlong forms
    const unsigned hi = c == 0xF4 ? 0x8F : 0xBF;  // F4: nothing above U+10FFFF
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

// The ASCII bytes written as they are: 0x20..0x7f except '"' and '\\'.
constexpr auto kPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) t[c] = c != '"' && c != '\\';
  return t;
}();

// Appends `s` escaped (without quotes); false, with `out` partly written, if `s` is not
// well-formed UTF-8.
bool append_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t run = 0;  // start of the pending run of bytes copied as they are
  std::size_t i = 0;
  while (i < n) {
    while (i < n && kPlain[p[i]]) ++i;
    if (i == n) break;
    const unsigned c = p[i];
    if (c >= 0x80) {
      const std::size_t len = utf8_sequence_length(p + i, n - i);
      if (len == 0) return false;
      i += len;
      continue;
    }
    out.append(s.data() + run, i - run);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(u, sizeof u);
      }
    }
    run = ++i;
  }
  out.append(s.data() + run, n - run);
  return true;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  const std::size_t start = out.size();
  out.push_back('"');
  if (append_escaped(out, s)) {
    out.push_back('"');
    return;
  }
  out.resize(start);
  out +=
      nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void JsonWriter::append_string(std::string_view s) { append_json_string(out_, s); }

}  // namespace sbx
