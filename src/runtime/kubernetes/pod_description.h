// The Kubernetes side of Runtime::describe (runtime.h): a Pod object as the readable text
// of GET /sandboxes/{id}/diagnostics/inspect, in the layout the reference server uses (pod
// name, namespace, node, phase, IPs, start time; sections Containers, Init Containers,
// Conditions, Labels, Resources). Env and env sources are never shown (neither are they by
// the reference); a pull secret appears only by name.
//
// Pure; thread-safe. Missing or mistyped members are shown as "N/A" / skipped.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace sbx {

std::string describe_pod(const nlohmann::json& pod);

}  // namespace sbx
