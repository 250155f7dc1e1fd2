// PodState: the compact view of a Pod that the Kubernetes runtime keeps (its informer
// cache holds one per sandbox pod; 5,000 of them must stay small, so never the whole JSON),
// and the parsers that make it from the API server's JSON (simdjson; a pod, a PodList page,
// one watch event line).
//
// Pure functions, reentrant. Errors (Result): kInvalidArgument for JSON that is not a pod
// (list, watch event), naming what is missing.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"
#include "events/time.h"

namespace sbx {

struct PodState {
  std::string name, uid, resource_version;
  std::string sandbox_id;   // label sandboxd.io/id ("" when absent)
  std::string instance_id;  // label sandboxd.io/instance
  std::string phase;        // Pending | Running | Succeeded | Failed | Unknown
  bool ready = false;       // condition Ready=True
  std::string pod_ip;
  bool deleting = false;    // metadata.deletionTimestamp set
  std::optional<Micros> created_at, started_at, finished_at;  // finished: main container
  std::optional<int> exit_code;  // main container's terminated exit code
  bool oom_killed = false;       // main container terminated (now or last time) with OOMKilled
  // The most telling reason: status.reason (Evicted, …), else the main container's waiting
  // reason (ErrImagePull, ImagePullBackOff, CrashLoopBackOff, …) or terminated reason
  // (OOMKilled, Error, Completed), else a PodScheduled=False reason (Unschedulable); with
  // its message.
  std::string reason, message;

  bool operator==(const PodState&) const = default;
};

// The main container: the one named "sandbox", else the first.
inline constexpr std::string_view kMainContainerName = "sandbox";

// One Pod object (JSON text).
Result<PodState> parse_pod(std::string_view json_object);

// One page of a LIST: the pods, the list's resourceVersion and its continue token ("" on
// the last page).
struct PodListPage {
  std::vector<PodState> items;
  std::string resource_version;
  std::string continue_token;
};
Result<PodListPage> parse_pod_list(std::string_view json_object);

// One line of a watch stream: {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": …}.
struct PodWatchEvent {
  std::string type;
  PodState pod;                  // ADDED/MODIFIED/DELETED; for BOOKMARK only resource_version
  int error_code = 0;            // ERROR: the Status code (410 = Gone)
  std::string error_message;     // ERROR: the Status message
};
Result<PodWatchEvent> parse_pod_watch_event(std::string_view line);

}  // namespace sbx
