// GET /sandboxes/{id}/diagnostics/logs|inspect|events|summary: the reference server's DevOps
// diagnostics, as plain text (text/plain; charset=utf-8).
//
//   logs     the sandbox container's stdout and stderr, time-stamped (?tail=1..10000, default
//            100; ?since=<n>s|m|h|d; ?container= accepted and ignored, as the reference's
//            Docker runtime does). At most ApiOptions::diagnostics_log_bytes bytes: beyond,
//            the text ends with a "[truncated: ...]" line.
//   inspect  the runtime's view (Runtime::describe): Docker inspect / the pod, env values
//            never shown.
//   events   the sandbox's history from OUR log (also after delete): one line per event
//            with time, version, type, reason, actor, request id and the payload summary
//            of sandbox-events (env values never shown); the newest ?limit=1..500 (default
//            50), oldest first.
//   summary  state, reason, timestamps, image, endpoints; the runtime's view; the last
//            ?event_limit=1..500 (default 20) events; the last ?tail= (default 50) log lines.
//
// As the reference: logs and events without `scope` carry `Deprecation: true`; with
// `?scope=` they answer the stable Diagnostics descriptor as JSON ({sandboxId, kind, scope,
// delivery:"inline", contentType, content, contentLength, truncated, warnings?}; logs
// scopes "container" and "all" (the last 100 lines), events scopes "runtime" and "all" (50
// events)); any other scope is 400 DIAGNOSTICS_SCOPE_UNSUPPORTED. inspect and summary take
// no scope (it is ignored) and carry no Deprecation header.
//
// Errors: a sandbox that is not live (never created, deleted, Terminated) is 404
// <RUNTIME>::SANDBOX_NOT_FOUND for logs and inspect, and so is a live sandbox whose
// container is gone (the reference's answer); events and summary need only its history.
// A bad query value is 422 naming it. The runtime's failures are 503
// <RUNTIME>::SANDBOX_QUERY_FAILED (409 <RUNTIME>::LOGS_NOT_AVAILABLE when it cannot give
// logs yet), logged by the DiagnosticsRunner; in the summary they are shown inline
// ("[error] ...") instead. Runtime calls run on the DiagnosticsRunner's threads, never here.
#include <algorithm>
#include <cctype>
#include <expected>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/handlers.h"
#include "api/server_impl.h"
#include "events/time.h"
#include "src/common/event_summary.h"

namespace sbx::api {
namespace {

using json = nlohmann::json;
using namespace Pistache;

constexpr int kStableLogLines = 100;
constexpr int kStableEventLines = 50;

const Http::Mime::MediaType& text_mime() {
  static const auto m = Http::Mime::MediaType::fromString("text/plain; charset=utf-8");
  return m;
}

// `s` with every byte that is not part of well-formed UTF-8 replaced by U+FFFD (as the
// reference decodes logs with errors="replace"), so a text/plain; charset=utf-8 answer is
// what it says.
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not well-formed.
    if (ok && ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
               (cp >= 0xD800 && cp <= 0xDFFF))) {
      ok = false;
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// Control characters (but tab) become spaces: one value stays on one line.
std::string one_line(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) c = ' ';
  }
  return valid_utf8(out);
}

// --- query parameters ----------------------------------------------------------------------

ApiError query_error(std::vector<Issue> issues) {
  std::string message = "invalid query: ";
  for (std::size_t i = 0; i < issues.size(); ++i) {
    if (i) message += "; ";
    message += issues[i].loc.back() + ": " + issues[i].msg;
  }
  return api_error(ApiErrorKind::kValidation, std::move(message), std::move(issues));
}

// An integer query parameter in [low, high], `fallback` when absent.
int int_param(const QueryParams& query, const char* name, int low, int high, int fallback,
              std::vector<Issue>& issues) {
  auto v = query_value(query, name);
  if (!v) return fallback;
  auto n = parse_int(trim(*v), SignPolicy::kAllowPlus);
  if (!n) {
    issues.push_back(Issue{{"query", name},
                           "Input should be a valid integer, unable to parse string as an integer",
                           "int_parsing"});
  } else if (*n < low) {
    issues.push_back(Issue{{"query", name},
                           std::string("Input should be greater than or equal to ") +
                               std::to_string(low),
                           "greater_than_equal"});
  } else if (*n > high) {
    issues.push_back(Issue{{"query", name},
                           std::string("Input should be less than or equal to ") +
                               std::to_string(high),
                           "less_than_equal"});
  } else {
    return static_cast<int>(*n);
  }
  return fallback;
}

// ?since=<n><s|m|h|d> ("10m", "1h", "30 s"; case-insensitive) as seconds. The reference
// reads anything else as 10 minutes; we refuse it (422) rather than guess.
std::optional<std::int64_t> since_param(const QueryParams& query, std::vector<Issue>& issues) {
  auto v = query_value(query, "since");
  if (!v || trim(*v).empty()) return std::nullopt;
  std::string_view s = trim(*v);
  std::size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  std::string_view rest = trim(s.substr(digits));
  auto n = digits > 0 && digits <= 9 ? parse_int(s.substr(0, digits)) : std::nullopt;
  std::int64_t unit = 0;
  if (rest.size() == 1) {
    switch (rest[0] | 0x20) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      default: break;
    }
  }
  if (!n || unit == 0) {
    issues.push_back(Issue{{"query", "since"},
                           "Input should be a duration such as 30s, 10m, 1h or 2d",
                           "value_error"});
    return std::nullopt;
  }
  return *n * unit;
}

// --- text ------------------------------------------------------------------------------------

std::string event_line(const Event& e) {
  auto or_dash = [](const std::string& s) { return s.empty() ? std::string("-") : one_line(s); };
  std::string type(e.type());
  if (type.size() < 22) type.append(22 - type.size(), ' ');
  std::string reason(to_string(e.reason));
  if (reason.size() < 9) reason.append(9 - reason.size(), ' ');
  std::string line = std::string("[") + format_rfc3339(e.time) + "] v" +
                     std::to_string(e.version) + " " + type + " reason=" + reason +
                     " actor=" + or_dash(e.actor) + " request=" + or_dash(e.request_id);
  if (std::string summary = data_summary(e.data); !summary.empty()) {
    line += std::string("  ") + valid_utf8(summary);
  }
  return line;
}

// The newest `limit` events, oldest first, one line each; `truncated` set when older ones
// were left out (then the first line says how many).
std::string events_text(const std::vector<Event>& events, int limit, bool* truncated) {
  const std::size_t n = events.size();
  const std::size_t shown = std::min<std::size_t>(n, static_cast<std::size_t>(limit));
  std::string out;
  if (shown < n) {
    out += std::string("(") + std::to_string(n - shown) + " earlier events not shown; " +
           std::to_string(n) + " in all)\n";
  }
  if (truncated) *truncated = shown < n;
  for (std::size_t i = n - shown; i < n; ++i) {
    out += event_line(events[i]);
    out += '\n';
  }
  if (out.empty()) out = "(no events)\n";
  return out;
}

// The last `limit` lines of `text` (a final line without '\n' counts); whether some were
// left out.
std::string last_lines(std::string_view text, int limit, bool* truncated) {
  std::size_t start = text.size();
  if (start > 0 && text.back() == '\n') --start;
  int lines = 0;
  while (start > 0) {
    if (text[start - 1] == '\n' && ++lines == limit) break;
    --start;
  }
  if (truncated) *truncated = start > 0;
  return std::string(text.substr(start));
}

std::string logs_text(const LogOutput& logs, std::size_t cap) {
  std::string out = valid_utf8(logs.text);
  if (out.empty() && !logs.truncated) return "(no logs)\n";
  if (!out.empty() && out.back() != '\n') out += '\n';
  if (logs.truncated) {
    out += std::string("[truncated: the output exceeds ") + std::to_string(cap) +
           " bytes; the rest was not read (ask for fewer lines with ?tail=)]\n";
  }
  return out;
}

std::string no_container_message(const std::string& id, const Sandbox* sb) {
  return std::string("sandbox ") + id + " has no container" +
         (sb ? std::string(" (state ") + std::string(to_string(sb->state)) + ")" : std::string());
}

std::string descriptor(std::string_view id, std::string_view kind, std::string_view scope,
                       const std::string& content, bool truncated,
                       const std::vector<std::string>& warnings) {
  json j{{"sandboxId", std::string(id)},
         {"kind", std::string(kind)},
         {"scope", std::string(scope)},
         {"delivery", "inline"},
         {"contentType", "text/plain; charset=utf-8"},
         {"content", content},
         {"contentLength", content.size()},
         {"truncated", truncated}};
  if (!warnings.empty()) j["warnings"] = warnings;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The scope of a stable descriptor request, lower-cased and trimmed; a 400 when it is not
// one of `supported`.
std::expected<std::string, ApiError> check_scope(
    std::string_view kind, const std::string& raw,
    std::initializer_list<std::string_view> supported) {
  std::string scope(trim(raw));
  for (char& c : scope) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (auto s : supported) {
    if (scope == s) return scope;
  }
  std::string list;
  for (auto s : supported) {
    if (!list.empty()) list += ", ";
    list += s;
  }
  return std::unexpected(api_error(
      ApiErrorKind::kDiagnosticsScopeUnsupported,
      std::string("Unsupported ") + std::string(kind) + " diagnostics scope '" +
          one_line(raw).substr(0, 100) + "'. Supported scopes: " + list + "."));
}

const Headers kDeprecated = {{"Deprecation", "true"}};

std::string rule(char c, std::size_t n) { return std::string(n, c) + "\n"; }

std::string section(const std::string& title) {
  return std::string("\n") + rule('-', 40) + title + "\n" + rule('-', 40);
}

void field(std::string& out, std::string_view key, const std::string& value) {
  std::string k(key);
  k += ':';
  out += k;
  out.append(k.size() < 16 ? 16 - k.size() : 1, ' ');
  out += value;
  out += '\n';
}

// The SANDBOX section of the summary: what our projection says.
std::string sandbox_section(ApiServer::Impl& server, const std::string& id, const Sandbox* sb,
                            const std::vector<Event>& history) {
  std::string out = section("SANDBOX");
  if (!sb) {
    field(out, "State", "not live (deleted or terminated; its history is below)");
    if (!history.empty()) field(out, "Last Event", format_rfc3339(history.back().time));
    return out;
  }
  field(out, "State", std::string(to_string(sb->state)));
  if (!sb->status_reason.empty()) field(out, "Reason", one_line(sb->status_reason));
  if (!sb->status_message.empty()) field(out, "Message", one_line(sb->status_message));
  field(out, "Created At", format_rfc3339(sb->client_created_at()));
  if (sb->last_transition_at) field(out, "Last Change", format_rfc3339(sb->last_transition_at));
  field(out, "Expires At",
        sb->expires_at ? format_rfc3339(*sb->expires_at) : std::string("never (manual cleanup)"));
  field(out, "Image", sb->spec.image_uri.empty()
                          ? std::string("snapshot ") + one_line(sb->spec.snapshot_id)
                          : one_line(sb->spec.image_uri));
  std::string entry;
  for (const auto& a : sb->spec.entrypoint) {
    if (!entry.empty()) entry += ' ';
    entry += one_line(a);
  }
  field(out, "Entrypoint", entry.empty() ? "N/A" : entry);
  if (!sb->runtime_id.empty()) field(out, "Runtime ID", one_line(sb->runtime_id));
  if (sb->exit_code) field(out, "Exit Code", std::to_string(*sb->exit_code));
  if (!sb->spec.ports.empty()) {
    out += "Endpoints:\n";
    for (const auto& [port, host_port] : sb->spec.ports) {
      auto ep = server.deps.service.endpoint(id, port);
      // The endpoint only: its headers may carry a secret (the egress token of 18080).
      out += std::string("  ") + std::to_string(port) + " -> " +
             (ep ? one_line(ep->endpoint)
                 : std::string("(") + one_line(ep.error().message) + ")") +
             "\n";
    }
  }
  return out;
}

// Loads the history; answers (404 or the read error) and returns nullopt when there is none.
std::optional<std::vector<Event>> history_or_answer(const Call& call) {
  ApiServer::Impl& server = call.server;
  auto events = server.deps.reads.history(call.id());
  if (!events) {
    call.exchange->send_error(
        map_error(events.error(), Operation::kDiagnostics, server.runtime_prefix));
    return std::nullopt;
  }
  if (events->empty()) {
    call.exchange->send_error(map_error(
        Error(ErrorCode::kNotFound,
              std::string("Sandbox ") + std::string(call.id()) + " not found."),
        Operation::kDiagnostics, server.runtime_prefix));
    return std::nullopt;
  }
  return std::move(*events);
}

// The live sandbox, or answers 404 and returns null.
std::shared_ptr<const Sandbox> live_or_answer(const Call& call) {
  auto sb = call.server.deps.service.get(call.id());
  if (!sb) {
    call.exchange->send_error(map_error(
        Error(ErrorCode::kNotFound,
              std::string("Sandbox ") + std::string(call.id()) + " not found."),
        Operation::kDiagnostics, call.server.runtime_prefix));
  }
  return sb;
}

// The runner, or answers 503 and returns null.
DiagnosticsRunner* runner_or_answer(const Call& call) {
  DiagnosticsRunner* runner = call.server.deps.diagnostics;
  if (!runner) {
    call.exchange->send_error(map_error(
        Error(ErrorCode::kUnavailable, "this server has no runtime diagnostics", "runtime"),
        Operation::kDiagnostics, call.server.runtime_prefix));
  }
  return runner;
}

}  // namespace

namespace handlers {

void diagnostics_logs(const Call& call) {
  ApiServer::Impl& server = call.server;
  const auto& ex = call.exchange;
  // The query's shape first (422), then the scope (400), as the reference validates.
  std::vector<Issue> issues;
  LogQuery q;
  q.tail = int_param(call.query, "tail", 1, 10'000, 100, issues);
  q.since_seconds = since_param(call.query, issues);
  q.max_bytes = server.options.diagnostics_log_bytes;
  if (!issues.empty()) {
    ex->send_error(query_error(std::move(issues)));
    return;
  }
  const auto scope_raw = query_value(call.query, "scope");
  std::optional<std::string> scope;
  if (scope_raw) {
    auto s = check_scope("logs", *scope_raw, {"container", "all"});
    if (!s) {
      ex->send_error(s.error());
      return;
    }
    scope = std::move(*s);
  }
  if (scope) {  // the stable descriptor: the last 100 lines, whatever ?tail= says
    q.tail = kStableLogLines + 1;
    q.since_seconds.reset();
  }
  auto sb = live_or_answer(call);
  if (!sb) return;
  DiagnosticsRunner* runner = runner_or_answer(call);
  if (!runner) return;
  const std::string id(call.id());
  runner->logs_async(id, q, [&server, ex, id, sb, scope, cap = q.max_bytes](
                                Result<std::optional<LogOutput>> r) {
    if (!r) {
      ex->send_error(map_error(r.error(), Operation::kDiagnostics, server.runtime_prefix));
      return;
    }
    if (!*r) {
      ex->send_error(map_error(Error(ErrorCode::kNotFound, no_container_message(id, sb.get())),
                               Operation::kDiagnostics, server.runtime_prefix));
      return;
    }
    if (!scope) {
      ex->send(200, logs_text(**r, cap), &text_mime(), kDeprecated);
      return;
    }
    bool cut = false;
    std::string content = last_lines(valid_utf8((*r)->text), kStableLogLines, &cut);
    if (content.empty()) content = "(no logs)\n";
    std::vector<std::string> warnings;
    if ((*r)->truncated) {
      warnings.push_back(std::string("The output exceeds ") + std::to_string(cap) +
                         " bytes; only its first bytes were read.");
    }
    if (*scope == "all") {
      warnings.push_back(
          "The current backend only contributes sandbox container logs to the all scope.");
    }
    ex->send_json(200,
                  descriptor(id, "logs", *scope, content, cut || (*r)->truncated, warnings));
  });
}

void diagnostics_inspect(const Call& call) {
  ApiServer::Impl& server = call.server;
  const auto& ex = call.exchange;
  auto sb = live_or_answer(call);
  if (!sb) return;
  DiagnosticsRunner* runner = runner_or_answer(call);
  if (!runner) return;
  const std::string id(call.id());
  runner->describe_async(id, [&server, ex, id, sb](Result<std::optional<std::string>> r) {
    if (!r) {
      ex->send_error(map_error(r.error(), Operation::kDiagnostics, server.runtime_prefix));
      return;
    }
    if (!*r) {
      ex->send_error(map_error(Error(ErrorCode::kNotFound, no_container_message(id, sb.get())),
                               Operation::kDiagnostics, server.runtime_prefix));
      return;
    }
    std::string text = valid_utf8(**r);
    if (text.empty() || text.back() != '\n') text += '\n';
    ex->send(200, text, &text_mime());
  });
}

void diagnostics_events(const Call& call) {
  const auto& ex = call.exchange;
  std::vector<Issue> issues;
  const int limit = int_param(call.query, "limit", 1, 500, 50, issues);
  if (!issues.empty()) {
    ex->send_error(query_error(std::move(issues)));
    return;
  }
  const auto scope_raw = query_value(call.query, "scope");
  std::optional<std::string> scope;
  if (scope_raw) {
    auto s = check_scope("events", *scope_raw, {"runtime", "all"});
    if (!s) {
      ex->send_error(s.error());
      return;
    }
    scope = std::move(*s);
  }
  auto history = history_or_answer(call);
  if (!history) return;
  if (!scope) {
    ex->send(200, events_text(*history, limit, nullptr), &text_mime(), kDeprecated);
    return;
  }
  bool truncated = false;
  std::string content = events_text(*history, kStableEventLines, &truncated);
  std::vector<std::string> warnings;
  if (*scope == "all") {
    warnings.push_back(
        "The current backend only contributes sandboxd's lifecycle events to the all scope.");
  }
  ex->send_json(200, descriptor(call.id(), "events", *scope, content, truncated, warnings));
}

void diagnostics_summary(const Call& call) {
  ApiServer::Impl& server = call.server;
  const auto& ex = call.exchange;
  std::vector<Issue> issues;
  LogQuery q;
  q.tail = int_param(call.query, "tail", 1, 10'000, 50, issues);
  const int event_limit = int_param(call.query, "event_limit", 1, 500, 20, issues);
  q.max_bytes = server.options.diagnostics_log_bytes;
  if (!issues.empty()) {
    ex->send_error(query_error(std::move(issues)));
    return;
  }
  auto history = history_or_answer(call);
  if (!history) return;
  const std::string id(call.id());
  auto sb = server.deps.service.get(id);

  std::string head = rule('=', 72) + "SANDBOX DIAGNOSTICS SUMMARY\nSandbox ID: " + id + "\n" +
                     rule('=', 72);
  head += sandbox_section(server, id, sb.get(), *history);
  std::string events = section(std::string("EVENTS (last ") + std::to_string(event_limit) + ")") +
                       events_text(*history, event_limit, nullptr);
  const std::string logs_title = std::string("LOGS (last ") + std::to_string(q.tail) + " lines)";

  DiagnosticsRunner* runner = server.deps.diagnostics;
  if (!sb || !runner) {
    const std::string why = !sb ? "(not asked: the sandbox is not live)\n"
                                : "[error] this server has no runtime diagnostics\n";
    ex->send(200, head + section("RUNTIME") + why + events + section(logs_title) + why,
             &text_mime());
    return;
  }
  runner->snapshot_async(
      id, q,
      [ex, id, sb, head = std::move(head), events = std::move(events), logs_title,
       cap = q.max_bytes](RuntimeSnapshot snap) {
        std::string out = head + section("RUNTIME");
        if (!snap.description) {
          out += std::string("[error] ") + one_line(snap.description.error().message) + "\n";
        } else if (!*snap.description) {
          out += std::string("(") + no_container_message(id, sb.get()) + ")\n";
        } else {
          out += valid_utf8(**snap.description);
          if (out.back() != '\n') out += '\n';
        }
        out += events;
        out += section(logs_title);
        if (!snap.logs) {
          out += std::string("[error] ") + one_line(snap.logs.error().message) + "\n";
        } else if (!*snap.logs) {
          out += std::string("(") + no_container_message(id, sb.get()) + ")\n";
        } else {
          out += logs_text(**snap.logs, cap);
        }
        ex->send(200, out, &text_mime());
      });
}

}  // namespace handlers
}  // namespace sbx::api
