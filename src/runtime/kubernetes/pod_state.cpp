#include "src/runtime/kubernetes/pod_state.h"

#include <simdjson.h>

#include <utility>

#include "src/runtime/runtime.h"

namespace sbx {
namespace {

namespace dom = simdjson::dom;

// simdjson_result<element> carries an error through [] lookups, so a missing key anywhere
// in a chain is just an error at the end (never a default element, which is unusable).
using Elem = simdjson::simdjson_result<dom::element>;

std::string str(Elem e, std::string_view key) {
  std::string_view v;
  if (e[key].get_string().get(v) != simdjson::SUCCESS) return {};
  return std::string(v);
}

std::optional<Micros> time_of(Elem e, std::string_view key) {
  std::string_view v;
  if (e[key].get_string().get(v) != simdjson::SUCCESS) return std::nullopt;
  return parse_rfc3339(v);
}

Elem field(Elem e, std::string_view key) { return e[key]; }

bool has_type(Elem e, dom::element_type want) {
  dom::element_type t;
  return e.type().get(t) == simdjson::SUCCESS && t == want;
}
bool is_object(Elem e) { return has_type(e, dom::element_type::OBJECT); }

// The main container's status: named "sandbox", else the first in the list.
Elem main_container_status(Elem status) {
  dom::array list;
  if (status["containerStatuses"].get_array().get(list) != simdjson::SUCCESS) {
    return Elem(simdjson::NO_SUCH_FIELD);
  }
  Elem first(simdjson::NO_SUCH_FIELD);
  bool have_first = false;
  for (dom::element raw : list) {
    Elem c(std::move(raw));
    if (!is_object(c)) continue;
    if (str(c, "name") == kMainContainerName) return c;
    if (!have_first) {
      first = c;
      have_first = true;
    }
  }
  return first;
}

Result<PodState> pod_from(Elem pod) {
  if (!is_object(pod)) return fail(ErrorCode::kInvalidArgument, "pod: not a JSON object");
  Elem meta = field(pod, "metadata");
  if (!is_object(meta)) return fail(ErrorCode::kInvalidArgument, "pod: no metadata");
  PodState p;
  p.name = str(meta, "name");
  if (p.name.empty()) return fail(ErrorCode::kInvalidArgument, "pod: no metadata.name");
  p.uid = str(meta, "uid");
  p.resource_version = str(meta, "resourceVersion");
  p.created_at = time_of(meta, "creationTimestamp");
  std::string_view dummy;
  p.deleting = meta["deletionTimestamp"].get_string().get(dummy) == simdjson::SUCCESS;
  Elem labels = field(meta, "labels");
  if (is_object(labels)) {
    p.sandbox_id = str(labels, kSandboxIdLabel);
    p.instance_id = str(labels, kInstanceLabel);
  }

  Elem status = field(pod, "status");
  if (!is_object(status)) return p;
  p.phase = str(status, "phase");
  p.pod_ip = str(status, "podIP");
  p.started_at = time_of(status, "startTime");

  std::string unschedulable_reason, unschedulable_message;
  dom::array conditions;
  if (status["conditions"].get_array().get(conditions) == simdjson::SUCCESS) {
    for (dom::element raw : conditions) {
      Elem c(std::move(raw));
      if (!is_object(c)) continue;
      const std::string type = str(c, "type");
      const std::string value = str(c, "status");
      if (type == "Ready") p.ready = value == "True";
      if (type == "PodScheduled" && value == "False") {
        unschedulable_reason = str(c, "reason");
        unschedulable_message = str(c, "message");
      }
    }
  }

  std::string container_reason, container_message;
  Elem main = main_container_status(status);
  if (is_object(main)) {
    Elem waiting = main["state"]["waiting"];
    Elem terminated = main["state"]["terminated"];
    if (is_object(terminated)) {
      int64_t code = 0;
      if (terminated["exitCode"].get_int64().get(code) == simdjson::SUCCESS) {
        p.exit_code = static_cast<int>(code);
      }
      p.finished_at = time_of(terminated, "finishedAt");
      container_reason = str(terminated, "reason");
      container_message = str(terminated, "message");
      if (container_reason == "OOMKilled") p.oom_killed = true;
    } else if (is_object(waiting)) {
      container_reason = str(waiting, "reason");
      container_message = str(waiting, "message");
      // A restarting container (CrashLoopBackOff) keeps its last death in lastState.
      Elem last = main["lastState"]["terminated"];
      if (is_object(last) && str(last, "reason") == "OOMKilled") p.oom_killed = true;
    }
  }

  if (std::string r = str(status, "reason"); !r.empty()) {
    p.reason = std::move(r);
    p.message = str(status, "message");
  } else if (!container_reason.empty()) {
    p.reason = std::move(container_reason);
    p.message = std::move(container_message);
  } else if (!unschedulable_reason.empty()) {
    p.reason = std::move(unschedulable_reason);
    p.message = std::move(unschedulable_message);
  }
  return p;
}

// Parses `text` with a parser of this thread (simdjson reuses its buffers); errors and
// exceptions stop here.
template <typename F>
auto with_document(std::string_view text, std::string_view what, F&& f)
    -> decltype(f(Elem(simdjson::EMPTY))) {
  thread_local dom::parser parser;
  try {
    dom::element doc;
    if (auto err = parser.parse(text.data(), text.size()).get(doc); err != simdjson::SUCCESS) {
      return fail(ErrorCode::kInvalidArgument,
                  std::string(what) + ": not JSON (" + simdjson::error_message(err) + ")");
    }
    return f(Elem(std::move(doc)));
  } catch (const simdjson::simdjson_error& e) {
    return fail(ErrorCode::kInvalidArgument, std::string(what) + ": " + e.what());
  }
}

}  // namespace

Result<PodState> parse_pod(std::string_view json_object) {
  return with_document(json_object, "pod", [](Elem doc) { return pod_from(doc); });
}

Result<PodListPage> parse_pod_list(std::string_view json_object) {
  return with_document(json_object, "pod list", [](Elem doc) -> Result<PodListPage> {
    if (!is_object(doc)) return fail(ErrorCode::kInvalidArgument, "pod list: not an object");
    PodListPage page;
    Elem meta = field(doc, "metadata");
    if (is_object(meta)) {
      page.resource_version = str(meta, "resourceVersion");
      page.continue_token = str(meta, "continue");
    }
    Elem items = field(doc, "items");
    dom::array list;
    if (items.get_array().get(list) == simdjson::SUCCESS) {
      page.items.reserve(list.size());
      for (dom::element item : list) {
        auto p = pod_from(Elem(std::move(item)));
        if (!p) return std::unexpected(p.error());
        page.items.push_back(std::move(*p));
      }
    } else if (items.error() == simdjson::SUCCESS && !has_type(items, dom::element_type::NULL_VALUE)) {
      return fail(ErrorCode::kInvalidArgument, "pod list: items is not a list");
    }
    return page;
  });
}

Result<PodWatchEvent> parse_pod_watch_event(std::string_view line) {
  return with_document(line, "watch event", [](Elem doc) -> Result<PodWatchEvent> {
    if (!is_object(doc)) return fail(ErrorCode::kInvalidArgument, "watch event: not an object");
    PodWatchEvent e;
    e.type = str(doc, "type");
    if (e.type.empty()) return fail(ErrorCode::kInvalidArgument, "watch event: no type");
    Elem object = field(doc, "object");
    if (!is_object(object)) return fail(ErrorCode::kInvalidArgument, "watch event: no object");
    if (e.type == "ERROR") {
      int64_t code = 0;
      if (object["code"].get_int64().get(code) == simdjson::SUCCESS) {
        e.error_code = static_cast<int>(code);
      }
      e.error_message = str(object, "message");
      return e;
    }
    if (e.type == "BOOKMARK") {
      e.pod.resource_version = str(object["metadata"], "resourceVersion");
      return e;
    }
    auto p = pod_from(object);
    if (!p) return std::unexpected(p.error());
    e.pod = std::move(*p);
    return e;
  });
}

}  // namespace sbx
