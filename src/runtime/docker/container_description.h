// The Docker side of Runtime::describe (runtime.h): a container's inspect document as the
// readable text of GET /sandboxes/{id}/diagnostics/inspect, in the layout the reference
// server uses ("Key:   value" lines; sections Resources, Network, Ports, Labels,
// Environment). Environment lists keys only, every value shown as "***" (ARCHITECTURE.md
// "Secrets": the reference hides only keys that look secret; we hide all). Registry
// credentials never appear in an inspect document.
//
// Pure; thread-safe. Missing or mistyped members are shown as "N/A" / skipped.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace sbx {

std::string describe_container(const nlohmann::json& inspect);

}  // namespace sbx
