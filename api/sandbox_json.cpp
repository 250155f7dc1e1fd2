#include "api/sandbox_json.h"

#include <nlohmann/json.hpp>

#include "events/codec.h"
#include "events/json_writer.h"
#include "src/service/event_envelope.h"

namespace sbx::api {
namespace {

using json = nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Hand-written rendering: GET answers are on the hot path, and building an nlohmann
// document per answer cost ~8 µs per sandbox where appending costs well under one.

// Quoted and escaped like the event codec (invalid UTF-8 becomes U+FFFD: the answer is
// always valid JSON, whatever a container's error message held).
void append_escaped(std::string& out, std::string_view s) { append_json_string(out, s); }

void append_key(std::string& out, std::string_view key) {
  out.push_back('"');
  out.append(key);
  out += "\":";
}

void append_digits(std::string& out, long long v, int width) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0 || n < width);
  while (n > 0) out.push_back(buf[--n]);
}

// "2026-11-27T10:11:22.123456Z", as format_rfc3339 writes it (civil-from-days, Howard
// Hinnant's algorithm), without snprintf.
void append_time(std::string& out, Micros t) {
  if (t < 0 || t >= 253402300800LL * kMicrosPerSecond) {  // outside 1970..9999: rare path
    append_escaped(out, format_rfc3339(t));
    return;
  }
  const long long secs = t / kMicrosPerSecond;
  const long long micros = t % kMicrosPerSecond;
  const long long days = secs / 86400;
  long long rem = secs % 86400;
  const long long z = days + 719468;
  const long long era = z / 146097;
  const long long doe = z - era * 146097;
  const long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const long long mp = (5 * doy + 2) / 153;
  const long long d = doy - (153 * mp + 2) / 5 + 1;
  const long long m = mp < 10 ? mp + 3 : mp - 9;
  const long long y = yoe + era * 400 + (m <= 2);
  out.push_back('"');
  append_digits(out, y, 4);
  out.push_back('-');
  append_digits(out, m, 2);
  out.push_back('-');
  append_digits(out, d, 2);
  out.push_back('T');
  append_digits(out, rem / 3600, 2);
  rem %= 3600;
  out.push_back(':');
  append_digits(out, rem / 60, 2);
  out.push_back(':');
  append_digits(out, rem % 60, 2);
  out.push_back('.');
  append_digits(out, micros, 6);
  out += "Z\"";
}

void append_string_map(std::string& out, const std::map<std::string, std::string>& m) {
  out.push_back('{');
  bool first = true;
  for (const auto& [k, v] : m) {
    if (!first) out.push_back(',');
    first = false;
    append_escaped(out, k);
    out.push_back(':');
    append_escaped(out, v);
  }
  out.push_back('}');
}

// The members Sandbox and CreateSandboxResponse share (no braces).
void append_common(std::string& out, const Sandbox& s) {
  append_key(out, "id");
  append_escaped(out, s.id);
  out.push_back(',');
  append_key(out, "status");
  out += "{\"state\":\"";
  out.append(to_string(s.state));
  out.push_back('"');
  if (!s.status_reason.empty()) {
    out += ",\"reason\":";
    append_escaped(out, s.status_reason);
  }
  if (!s.status_message.empty()) {
    out += ",\"message\":";
    append_escaped(out, s.status_message);
  }
  if (s.last_transition_at != 0) {
    out += ",\"lastTransitionAt\":";
    append_time(out, s.last_transition_at);
  }
  out += "},";
  append_key(out, "metadata");
  append_string_map(out, s.metadata);
  out.push_back(',');
  append_key(out, "entrypoint");
  out.push_back('[');
  for (std::size_t i = 0; i < s.spec.entrypoint.size(); ++i) {
    if (i) out.push_back(',');
    append_escaped(out, s.spec.entrypoint[i]);
  }
  out += "],";
  if (s.expires_at) {
    append_key(out, "expiresAt");
    append_time(out, *s.expires_at);
    out.push_back(',');
  }
  append_key(out, "createdAt");
  append_time(out, s.client_created_at());
  if (s.spec.platform) {
    out += ",\"platform\":{\"os\":";
    append_escaped(out, s.spec.platform->os);
    out += ",\"arch\":";
    append_escaped(out, s.spec.platform->arch);
    out.push_back('}');
  }
}

void append_sandbox(std::string& out, const Sandbox& s) {
  out.push_back('{');
  append_common(out, s);
  if (!s.spec.image_uri.empty()) {
    out += ",\"image\":{\"uri\":";
    append_escaped(out, s.spec.image_uri);
    out.push_back('}');
  }
  if (!s.spec.snapshot_id.empty()) {
    out += ",\"snapshotId\":";
    append_escaped(out, s.spec.snapshot_id);
  }
  out.push_back('}');
}

}  // namespace

std::string render_sandbox(const Sandbox& sandbox) {
  std::string out;
  out.reserve(512);
  append_sandbox(out, sandbox);
  return out;
}

std::string render_create_response(const Sandbox& sandbox) {
  std::string out;
  out.reserve(512);
  out.push_back('{');
  append_common(out, sandbox);
  out.push_back('}');
  return out;
}

std::string render_list(const ListPage& page) {
  std::string out;
  out.reserve(128 + 512 * page.items.size());
  out += "{\"items\":[";
  for (std::size_t i = 0; i < page.items.size(); ++i) {
    if (i) out.push_back(',');
    append_sandbox(out, *page.items[i]);
  }
  out += "],\"pagination\":{\"page\":";
  append_digits(out, page.page, 1);
  out += ",\"pageSize\":";
  append_digits(out, page.page_size, 1);
  out += ",\"totalItems\":";
  append_digits(out, static_cast<long long>(page.total_items), 1);
  out += ",\"totalPages\":";
  append_digits(out, static_cast<long long>(page.total_pages), 1);
  out += ",\"hasNextPage\":";
  out += page.has_next_page ? "true" : "false";
  out += "}}";
  return out;
}

std::string render_endpoint(const Endpoint& endpoint) {
  std::string out = "{\"endpoint\":";
  append_escaped(out, endpoint.endpoint);
  if (!endpoint.headers.empty()) {
    out += ",\"headers\":";
    append_string_map(out, endpoint.headers);
  }
  out.push_back('}');
  return out;
}

std::string render_renew(Micros expires_at) {
  std::string out = "{\"expiresAt\":";
  append_time(out, expires_at);
  out.push_back('}');
  return out;
}

std::string render_history(std::string_view sandbox_id, const std::vector<Event>& events) {
  std::string out = "{\"sandboxId\":";
  out += dump(json(std::string(sandbox_id)));
  out += ",\"events\":[";
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i) out += ',';
    out += event_envelope_json(events[i]);
  }
  out += "]}";
  return out;
}

}  // namespace sbx::api
