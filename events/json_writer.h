// JsonWriter: compact JSON appended into one std::string (the codec's encoders).
//
// The bytes are exactly those of nlohmann's `dump(-1, ' ', false, error_handler_t::replace)`
// for the same document, which is what the codec wrote before this writer and what the
// stored events are: no whitespace; integers in decimal; `true`/`false`; strings and keys
// escaped as nlohmann does with ensure_ascii = false (`\"`, `\\`, `\b \f \n \r \t`, other
// bytes below 0x20 as `\u00xx` in lowercase hex, 0x7f and well-formed UTF-8 as they are).
// A string that is not well-formed UTF-8 is handed to nlohmann itself, whose replacement
// of bad sequences by U+FFFD this writer does not reimplement.
// tests/events/encoding_identity_test.cpp compares both byte for byte.
//
// The caller keeps the document well-formed: key() only directly inside an object, one
// value after each key, begin/end balanced. Nothing checks it.
// Not thread-safe (one writer per document); it owns its buffer until take(). No errors
// besides std::bad_alloc.
#pragma once

#include <charconv>
#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "events/time.h"

namespace sbx {

// Appends `s` as a quoted JSON string, escaped as described above (bad UTF-8 sequences
// become U+FFFD, so the result is always valid JSON). For other hand-written renderers.
void append_json_string(std::string& out, std::string_view s);

class JsonWriter {
 public:
  explicit JsonWriter(std::size_t reserve) { out_.reserve(reserve); }

  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }

  // `"name":`, after a comma when a member precedes it.
  void key(std::string_view name) {
    if (need_comma_) out_.push_back(',');
    append_string(name);
    out_.push_back(':');
    need_comma_ = false;
  }

  void value(std::string_view s) {
    separate();
    append_string(s);
  }
  void value(const char* s) { value(std::string_view(s)); }
  void value(bool b) {
    separate();
    out_ += b ? std::string_view("true") : std::string_view("false");
  }
  template <std::integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, char>) void value(T v) {
    separate();
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, r.ptr);
  }
  // format_rfc3339(t) as a string value.
  void time(Micros t) {
    separate();
    out_.push_back('"');
    append_rfc3339(out_, t);
    out_.push_back('"');
  }

  // key(name) then value(v) / time(t).
  template <class T>
  void member(std::string_view name, const T& v) {
    key(name);
    value(v);
  }
  void time_member(std::string_view name, Micros t) {
    key(name);
    time(t);
  }

  std::string take() && { return std::move(out_); }

 private:
  void separate() {
    if (need_comma_) out_.push_back(',');
    need_comma_ = true;
  }
  void open(char c) {
    separate();
    out_.push_back(c);
    need_comma_ = false;
  }
  void close(char c) {
    out_.push_back(c);
    need_comma_ = true;
  }
  // The quoted, escaped string.
  void append_string(std::string_view s);

  std::string out_;
  bool need_comma_ = false;  // a value precedes at this level: the next member or element
                             // needs a comma
};

}  // namespace sbx
