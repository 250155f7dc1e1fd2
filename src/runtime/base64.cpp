#include "src/runtime/base64.h"

#include <array>
#include <cctype>
#include <cstddef>
#include <cstdint>

namespace sbx {

std::string encode_base64(std::string_view in, Base64Alphabet alphabet) {
  static constexpr char kStandard[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static constexpr char kUrl[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char* letters = alphabet == Base64Alphabet::kUrl ? kUrl : kStandard;
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  while (i + 2 < in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += letters[(v >> 18) & 63];
    out += letters[(v >> 12) & 63];
    out += letters[(v >> 6) & 63];
    out += letters[v & 63];
    i += 3;
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += letters[(v >> 18) & 63];
    out += letters[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += letters[(v >> 18) & 63];
    out += letters[(v >> 12) & 63];
    out += letters[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> decode_base64(std::string_view in) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::array<int, 256> value{};
  value.fill(-1);
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    value[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
  }
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (char ch : in) {
    const auto u = static_cast<unsigned char>(ch);
    if (std::isspace(u)) continue;
    if (ch == '=') {
      padding = true;
      continue;
    }
    if (padding || value[u] < 0) return std::nullopt;  // data after '=' or a foreign byte
    acc = (acc << 6) | static_cast<std::uint32_t>(value[u]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (bits >= 6) return std::nullopt;  // a lone trailing character cannot be a byte
  return out;
}

}  // namespace sbx
