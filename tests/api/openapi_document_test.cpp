#include "api/openapi_document.h"
#include "api/proxy/proxy_path.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "api/routes.h"

namespace sbx::api {
namespace {

using json = nlohmann::json;

// "/sandboxes/{sandboxId}/endpoints/{port}" -> "/sandboxes/{}/endpoints/{}": the document
// names parameters as the upstream API does, the route table as the metrics label does.
std::string shape_of(std::string_view path) {
  std::string out;
  bool in_param = false;
  for (char c : path) {
    if (c == '{') in_param = true, out += "{}";
    if (!in_param) out += c;
    if (c == '}') in_param = false;
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

TEST(OpenApiDocument, IsTheJsonFileOfTheSourceTree) {
  std::ifstream in(std::string(SANDBOXD_SOURCE_DIR) + "/api/openapi.json", std::ios::binary);
  ASSERT_TRUE(in) << "api/openapi.json not found";
  std::stringstream file;
  file << in.rdbuf();
  EXPECT_EQ(openapi_document(), file.str());
}

TEST(OpenApiDocument, ParsesAndDescribesEveryRoute) {
  auto doc = json::parse(openapi_document());
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
      {"/sandboxes/{sandboxId}/networkpolicy", "get"},
      {"/sandboxes/{sandboxId}/networkpolicy", "put"},
      {"/sandboxes/{sandboxId}/networkpolicy", "patch"},
      {"/sandboxes/{sandboxId}/networkpolicy", "delete"},
      {"/sandboxes/{sandboxId}/events", "get"},
      {"/sandboxes/{sandboxId}/diagnostics/logs", "get"},
      {"/sandboxes/{sandboxId}/diagnostics/inspect", "get"},
      {"/sandboxes/{sandboxId}/diagnostics/events", "get"},
      {"/sandboxes/{sandboxId}/diagnostics/summary", "get"},
      {"/events", "get"},
      {"/health", "get"},
      {"/metrics", "get"},
      {"/openapi.json", "get"},
      {"/docs", "get"},
      {"/redoc", "get"},
      {"/sandboxes/{sandboxId}/snapshots", "post"},
      {"/snapshots", "get"},
      {"/snapshots/{snapshotId}", "get"},
      {"/snapshots/{snapshotId}", "delete"},
      {"/pools", "get"},
      {"/pools", "post"},
      {"/pools/{poolName}", "get"},
      {"/pools/{poolName}", "put"},
      {"/pools/{poolName}", "delete"},
  };
  for (const auto& [path, method] : routes) {
    ASSERT_TRUE(paths.contains(path)) << path;
    EXPECT_TRUE(paths[path].contains(method)) << method << " " << path;
  }
}

// The document and the route table describe the same operations: every route the server
// serves is documented, and nothing is documented that the server does not serve.
TEST(OpenApiDocument, DescribesExactlyTheRoutesOfTheRouteTable) {
  auto doc = json::parse(openapi_document());
  std::set<std::string> documented;
  static const std::set<std::string> kMethods = {"get", "put", "post", "delete",
                                                 "patch", "head", "options", "trace"};
  for (const auto& [path, item] : doc["paths"].items()) {
    // The proxy routes are served by the proxy engine, not the route table.
    if (api::proxy::is_proxy_target(path)) continue;
    for (const auto& [key, op] : item.items()) {
      if (kMethods.contains(key)) documented.insert(key + " " + shape_of(path));
    }
  }
  std::set<std::string> served;
  for (const Route& r : api_routes()) {
    served.insert(lower(Pistache::Http::methodString(r.method)) + " " + shape_of(r.path));
  }
  EXPECT_EQ(documented, served);
}

// Operations with a path parameter declare it (directly or on their path item).
TEST(OpenApiDocument, EveryPathParameterIsDeclared) {
  auto doc = json::parse(openapi_document());
  auto resolve = [&](const json& j) -> const json& {
    if (j.contains("$ref")) return doc.at(json::json_pointer(j["$ref"].get<std::string>().substr(1)));
    return j;
  };
  for (const auto& [path, item] : doc["paths"].items()) {
    std::set<std::string> needed;
    for (std::size_t at = path.find('{'); at != std::string::npos; at = path.find('{', at + 1))
      needed.insert(path.substr(at + 1, path.find('}', at) - at - 1));
    for (const auto& [method, op] : item.items()) {
      if (method == "parameters") continue;
      std::set<std::string> declared;
      for (const json* list : {&item, &op}) {
        if (!list->contains("parameters")) continue;
        for (const auto& p : (*list)["parameters"]) {
          const json& param = resolve(p);
          if (param.value("in", "") == "path") declared.insert(param["name"].get<std::string>());
        }
      }
      EXPECT_EQ(declared, needed) << method << " " << path;
    }
  }
}

TEST(OpenApiDocument, EveryReferenceResolves) {
  auto doc = json::parse(openapi_document());
  std::vector<std::string> missing;
  std::size_t refs = 0;
  std::function<void(const json&)> walk = [&](const json& j) {
    if (j.is_object()) {
      if (auto it = j.find("$ref"); it != j.end()) {
        ++refs;
        const std::string ref = *it;
        if (!ref.starts_with("#/") || !doc.contains(json::json_pointer(ref.substr(1))))
          missing.push_back(ref);
      }
      for (const auto& [k, v] : j.items()) walk(v);
    } else if (j.is_array()) {
      for (const auto& v : j) walk(v);
    }
  };
  walk(doc);
  EXPECT_GT(refs, 50u);
  EXPECT_TRUE(missing.empty()) << missing.front();
}

// Shared parts live in components once: every component is referenced somewhere.
TEST(OpenApiDocument, EveryComponentIsUsed) {
  auto doc = json::parse(openapi_document());
  const std::string text = doc.dump();
  for (const auto& [kind, entries] : doc["components"].items()) {
    if (kind == "securitySchemes") continue;  // referenced by name from `security`
    for (const auto& [name, value] : entries.items()) {
      const std::string ref = "\"#/components/" + kind + "/" + name + "\"";
      EXPECT_NE(text.find(ref), std::string::npos) << ref << " is never referenced";
    }
  }
}

TEST(OpenApiDocument, DocumentsTheProxyRoutesForEveryMethod) {
  auto doc = json::parse(openapi_document());
  for (const char* path : {"/sandboxes/{sandboxId}/proxy/{port}",
                           "/sandboxes/{sandboxId}/proxy/{port}/{path}", "/proxy/{route}",
                           "/proxy/{route}/{path}"}) {
    ASSERT_TRUE(doc["paths"].contains(path)) << path;
    EXPECT_TRUE(api::proxy::is_proxy_target(path)) << path;
    for (const char* m : {"get", "post", "put", "patch", "delete", "head", "options"}) {
      EXPECT_TRUE(doc["paths"][path].contains(m)) << m << " " << path;
    }
  }
  // Signed routes need no API key; the others do (the document's default security).
  EXPECT_TRUE(doc["paths"]["/proxy/{route}"]["get"]["security"].empty());
  EXPECT_FALSE(doc["paths"]["/sandboxes/{sandboxId}/proxy/{port}"]["get"].contains("security"));
  const std::string text = doc.dump();
  for (const char* code :
       {"SANDBOX::PROXY_UPSTREAM_UNREACHABLE", "SANDBOX::PROXY_UPSTREAM_TIMEOUT",
        "SANDBOX::PROXY_BUSY", "SANDBOX::ROUTE_SIGNATURE_INVALID", "SANDBOX::ROUTE_EXPIRED"}) {
    EXPECT_NE(text.find(code), std::string::npos) << code;
  }
}

TEST(OpenApiDocument, DocumentsOurAdditionsAndErrorCodes) {
  const std::string_view text = openapi_document();
  for (const char* needle :
       {"Idempotency-Key", "respond-async", "text/event-stream", "Last-Event-ID",
        "SANDBOX::HOST_NETWORK_BUSY", "DOCKER::SANDBOX_NOT_FOUND", "MISSING_API_KEY",
        "INVALID_API_KEY", "SANDBOX::INVALID_METADATA_FORMAT", "X-Request-ID",
        "KUBERNETES::PAUSE_NOT_SUPPORTED", "KUBERNETES::LEASE_NOT_HELD",
        "KUBERNETES::ENDPOINT_NOT_READY", "DOCKER::IMAGE_PULL_UNAUTHORIZED",
        "DOCKER::RUNTIME_NOT_AVAILABLE", "SANDBOX::NETWORK_POLICY_NOT_ENABLED",
        "SANDBOX::NOT_RUNNING", "SANDBOX::EGRESS_UNAVAILABLE", "SANDBOX::EGRESS_ERROR",
        "DOCKER::EGRESS_NOT_READY", "OPENSANDBOX-EGRESS-AUTH", "NetworkPolicyChanged",
        "DIAGNOSTICS_SCOPE_UNSUPPORTED", "DOCKER::SANDBOX_QUERY_FAILED", "Deprecation",
        "SNAPSHOT::INVALID_SOURCE_STATE", "SNAPSHOT::INVALID_STATE", "SNAPSHOT::NOT_FOUND",
        "SNAPSHOT::NOT_READY", "SNAPSHOT::NOT_SUPPORTED", "DOCKER::POOL_NOT_FOUND",
        "DOCKER::POOL_ALREADY_EXISTS", "DOCKER::POOL_NOT_SUPPORTED",
        "DOCKER::POOL_CAPACITY_EXHAUSTED", "Retry-After", "X-Sandboxd-Pool", "poolRef",
        "poolWarmOnly", "PodTemplateSpec"}) {
    EXPECT_NE(text.find(needle), std::string_view::npos) << needle;
  }
}

TEST(OpenApiDocument, PauseAndResumeDocument501) {
  const auto doc = nlohmann::json::parse(openapi_document());
  for (const char* path : {"/sandboxes/{sandboxId}/pause", "/sandboxes/{sandboxId}/resume"}) {
    const auto& responses = doc["paths"][path]["post"]["responses"];
    ASSERT_TRUE(responses.contains("501")) << path;
    EXPECT_EQ(responses["501"]["$ref"], "#/components/responses/NotImplemented") << path;
  }
}

}  // namespace
}  // namespace sbx::api
