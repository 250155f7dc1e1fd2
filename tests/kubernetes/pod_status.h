// Pod status bodies for playing the kubelet (merge patches of a pod's /status): Running and
// Ready with an IP, ended with an exit code, or waiting with a reason. Pure, gtest-free: used
// by the tests (kube_test_util.h) and by bench/kubernetes_bench.cpp.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "events/time.h"

namespace sbx::testing {

// Now in RFC 3339 without fractions, as the kubelet writes times.
inline std::string kubelet_now() {
  std::string t = format_rfc3339(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  auto dot = t.find('.');
  return dot == std::string::npos ? t : t.substr(0, dot) + "Z";
}

inline nlohmann::json main_container_status(bool ready, nlohmann::json state) {
  return {{"name", "sandbox"},
          {"ready", ready},
          {"restartCount", 0},
          {"image", "sandboxd-test/busybox:1"},
          {"imageID", ""},
          {"state", std::move(state)}};
}

inline nlohmann::json pod_status_ready(const std::string& ip) {
  const std::string at = kubelet_now();
  return {{"status",
           {{"phase", "Running"},
            {"hostIP", "127.0.0.1"},
            {"podIP", ip},
            {"podIPs", nlohmann::json::array({{{"ip", ip}}})},
            {"startTime", at},
            {"conditions",
             nlohmann::json::array({{{"type", "PodScheduled"}, {"status", "True"}},
                                    {{"type", "Initialized"}, {"status", "True"}},
                                    {{"type", "ContainersReady"}, {"status", "True"}},
                                    {{"type", "Ready"}, {"status", "True"}}})},
            {"containerStatuses",
             nlohmann::json::array(
                 {main_container_status(true, {{"running", {{"startedAt", at}}}})})}}}};
}

inline nlohmann::json pod_status_ended(int exit_code, const std::string& reason = "",
                                       const std::string& pod_reason = "") {
  const std::string at = kubelet_now();
  const std::string why = !reason.empty() ? reason : (exit_code == 0 ? "Completed" : "Error");
  nlohmann::json status = {
      {"status",
       {{"phase", exit_code == 0 && pod_reason.empty() ? "Succeeded" : "Failed"},
        {"conditions", nlohmann::json::array({{{"type", "PodScheduled"}, {"status", "True"}},
                                              {{"type", "Ready"}, {"status", "False"}}})},
        {"containerStatuses",
         nlohmann::json::array({main_container_status(
             false, {{"terminated",
                      {{"exitCode", exit_code},
                       {"reason", why},
                       {"startedAt", at},
                       {"finishedAt", at}}}})})}}}};
  if (!pod_reason.empty()) status["status"]["reason"] = pod_reason;
  return status;
}

inline nlohmann::json pod_status_waiting(const std::string& reason, const std::string& message) {
  return {{"status",
           {{"phase", "Pending"},
            {"containerStatuses",
             nlohmann::json::array({main_container_status(
                 false, {{"waiting", {{"reason", reason}, {"message", message}}}})})}}}};
}

}  // namespace sbx::testing
