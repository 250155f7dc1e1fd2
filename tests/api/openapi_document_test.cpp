#include "api/openapi_document.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace sbx::api {
namespace {

TEST(OpenApiDocument, ParsesAndDescribesEveryRoute) {
  auto doc = nlohmann::json::parse(openapi_document());
  EXPECT_EQ(doc["openapi"], "3.1.0");
  const auto& paths = doc["paths"];
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"/sandboxes", "get"},
      {"/sandboxes", "post"},
      {"/sandboxes/{sandboxId}", "get"},
      {"/sandboxes/{sandboxId}", "delete"},
      {"/sandboxes/{sandboxId}/metadata", "patch"},
      {"/sandboxes/{sandboxId}/pause", "post"},
      {"/sandboxes/{sandboxId}/resume", "post"},
      {"/sandboxes/{sandboxId}/renew-expiration", "post"},
      {"/sandboxes/{sandboxId}/endpoints/{port}", "get"},
      {"/sandboxes/{sandboxId}/events", "get"},
      {"/events", "get"},
      {"/health", "get"},
      {"/metrics", "get"},
      {"/openapi.json", "get"},
      {"/docs", "get"},
      {"/redoc", "get"},
  };
  for (const auto& [path, method] : routes) {
    ASSERT_TRUE(paths.contains(path)) << path;
    EXPECT_TRUE(paths[path].contains(method)) << method << " " << path;
  }
}

TEST(OpenApiDocument, EveryReferenceResolves) {
  auto doc = nlohmann::json::parse(openapi_document());
  std::vector<std::string> missing;
  std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& j) {
    if (j.is_object()) {
      if (auto it = j.find("$ref"); it != j.end()) {
        const std::string ref = *it;
        nlohmann::json::json_pointer ptr(ref.substr(1));
        if (!doc.contains(ptr)) missing.push_back(ref);
      }
      for (const auto& [k, v] : j.items()) walk(v);
    } else if (j.is_array()) {
      for (const auto& v : j) walk(v);
    }
  };
  walk(doc);
  EXPECT_TRUE(missing.empty()) << missing.front();
}

TEST(OpenApiDocument, DocumentsOurAdditionsAndErrorCodes) {
  const std::string_view text = openapi_document();
  for (const char* needle :
       {"Idempotency-Key", "respond-async", "text/event-stream", "Last-Event-ID",
        "SANDBOX::HOST_NETWORK_BUSY", "DOCKER::SANDBOX_NOT_FOUND", "MISSING_API_KEY",
        "INVALID_API_KEY", "SANDBOX::INVALID_METADATA_FORMAT", "X-Request-ID"}) {
    EXPECT_NE(text.find(needle), std::string_view::npos) << needle;
  }
}

}  // namespace
}  // namespace sbx::api
