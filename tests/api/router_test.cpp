// The router alone (no server): the route table is valid, templates match at both
// prefixes, parameters are decoded, and the 404 / 405 split is the one the server has
// always answered (tests/api/api_server_test.cpp checks the same over HTTP).
#include "api/router.h"

#include <gtest/gtest.h>

#include <string>

#include "api/routes.h"

namespace sbx::api {
namespace {

using Pistache::Http::Method;
using Result = RouteMatch::Result;

void noop(const Call&) {}

const Router& server_router() { return api_router(); }

TEST(Router, TheServersRouteTableIsValid) {
  auto r = Router::make(api_routes());
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r->routes().size(), api_routes().size());
}

TEST(Router, EveryRouteIsServedAtTheRootAndUnderV1ExceptHealth) {
  for (const Route& route : api_routes()) {
    // A concrete path for the template: parameters replaced by a value.
    std::string path;
    std::string_view rest = route.path.substr(1);
    while (!rest.empty()) {
      const auto slash = rest.find('/');
      const std::string_view seg = rest.substr(0, slash);
      path += "/" + std::string(seg.starts_with('{') ? "x" : seg);
      rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    }
    SCOPED_TRACE(path);
    RouteMatch root;
    server_router().match(route.method, path, root);
    ASSERT_EQ(root.result(), Result::kFound);
    EXPECT_EQ(root.route(), &route);
    EXPECT_FALSE(root.versioned());
    EXPECT_EQ(root.label(), route.path);

    RouteMatch v1;
    server_router().match(route.method, "/v1" + path, v1);
    if (route.prefixes == Prefixes::kRootOnly) {
      EXPECT_EQ(v1.result(), Result::kNotFound);
    } else {
      ASSERT_EQ(v1.result(), Result::kFound);
      EXPECT_EQ(v1.route(), &route);
      EXPECT_TRUE(v1.versioned());
      EXPECT_EQ(v1.label(), "/v1" + std::string(route.path));
    }
  }
}

TEST(Router, ParametersAreTheDecodedSegments) {
  RouteMatch m;
  server_router().match(Method::Get, "/v1/sandboxes/abc/endpoints/8080", m);
  ASSERT_EQ(m.result(), Result::kFound);
  EXPECT_EQ(m.route()->path, "/sandboxes/{id}/endpoints/{port}");
  EXPECT_EQ(m.param("id"), "abc");
  EXPECT_EQ(m.param("port"), "8080");
  EXPECT_EQ(m.param("nope"), "");
  EXPECT_EQ(m.label(), "/v1/sandboxes/{id}/endpoints/{port}");

  RouteMatch escaped;
  server_router().match(Method::Get, "/sandboxes/..%2F..%2Fetc", escaped);
  ASSERT_EQ(escaped.result(), Result::kFound);
  EXPECT_EQ(escaped.param("id"), "../../etc");

  RouteMatch malformed;  // a segment whose escape is malformed is matched as sent
  server_router().match(Method::Get, "/sandboxes/a%zzb", malformed);
  ASSERT_EQ(malformed.result(), Result::kFound);
  EXPECT_EQ(malformed.param("id"), "a%zzb");
}

TEST(Router, LiteralsMatchAfterDecodingAndEmptySegmentsAreSkipped) {
  for (const char* path : {"/sandboxe%73", "//sandboxes//", "/%76%31/sandboxes", "/v1//sandboxes/"}) {
    RouteMatch m;
    server_router().match(Method::Get, path, m);
    ASSERT_EQ(m.result(), Result::kFound) << path;
    EXPECT_EQ(m.route()->path, "/sandboxes") << path;
  }
  RouteMatch v;
  server_router().match(Method::Get, "/%76%31/sandboxes", v);
  EXPECT_TRUE(v.versioned());
  EXPECT_EQ(v.label(), "/v1/sandboxes");
}

TEST(Router, AKnownPathWithAnotherMethodIs405WithTheAllowedMethodsInTableOrder) {
  struct Case {
    Method method;
    const char* path;
    const char* allow;
    const char* label;
  };
  const Case cases[] = {
      {Method::Put, "/sandboxes", "GET, POST", "/sandboxes"},
      {Method::Delete, "/v1/sandboxes", "GET, POST", "/v1/sandboxes"},
      {Method::Post, "/v1/sandboxes/x", "GET, DELETE", "/v1/sandboxes/{id}"},
      {Method::Get, "/sandboxes/x/pause", "POST", "/sandboxes/{id}/pause"},
      {Method::Post, "/v1/sandboxes/x/metadata", "PATCH", "/v1/sandboxes/{id}/metadata"},
      {Method::Post, "/health", "GET", "/health"},
      {Method::Delete, "/v1/events", "GET", "/v1/events"},
  };
  for (const auto& c : cases) {
    RouteMatch m;
    server_router().match(c.method, c.path, m);
    EXPECT_EQ(m.result(), Result::kMethodNotAllowed) << c.path;
    EXPECT_EQ(m.route(), nullptr) << c.path;
    EXPECT_EQ(m.allow(), c.allow) << c.path;
    EXPECT_EQ(m.label(), c.label) << c.path;
  }
}

TEST(Router, UnknownPathsAre404WhateverTheMethod) {
  for (const char* path :
       {"/", "", "/v1", "/v1/", "/nope", "/sandboxes/x/y/z/w", "/sandboxes/x/y",
        "/v1/sandboxes/x/endpoints/1/2", "/v1/health", "/v1/v1/sandboxes", "/V1/sandboxes",
        "/Sandboxes", "/a/b/c/d/e/f/g/h", "/sandboxes/x/pause/now"}) {
    for (Method m : {Method::Get, Method::Post}) {
      RouteMatch r;
      server_router().match(m, path, r);
      EXPECT_EQ(r.result(), Result::kNotFound) << path;
      EXPECT_EQ(r.label(), "") << path;
    }
  }
}

TEST(Router, TheFirstFittingTemplateInTableOrderWins) {
  static constexpr Route kTable[] = {
      {Method::Get, "/a/{x}", Auth::kPublic, noop},
      {Method::Post, "/a/b", Auth::kPublic, noop},
  };
  auto router = Router::make(kTable);
  ASSERT_TRUE(router.has_value()) << router.error();
  RouteMatch get;
  router->match(Method::Get, "/a/b", get);
  ASSERT_EQ(get.result(), Result::kFound);
  EXPECT_EQ(get.route(), &kTable[0]);
  EXPECT_EQ(get.param("x"), "b");
  RouteMatch post;  // /a/{x} fits first and has no POST
  router->match(Method::Post, "/a/b", post);
  EXPECT_EQ(post.result(), Result::kMethodNotAllowed);
  EXPECT_EQ(post.allow(), "GET");
}

TEST(Router, MalformedTablesAreRefused) {
  const std::vector<std::vector<Route>> bad = {
      {{Method::Get, "sandboxes", Auth::kPublic, noop}},
      {{Method::Get, "/a/{", Auth::kPublic, noop}},
      {{Method::Get, "/a/{}", Auth::kPublic, noop}},
      {{Method::Get, "/a/x{y}", Auth::kPublic, noop}},
      {{Method::Get, "/a//b", Auth::kPublic, noop}},
      {{Method::Get, "/", Auth::kPublic, noop}},
      {{Method::Get, "/a/b/c/d/e", Auth::kPublic, noop}},
      {{Method::Get, "/{a}/{b}/{c}", Auth::kPublic, noop}},
      {{Method::Get, "/a", Auth::kPublic, noop}, {Method::Get, "/a", Auth::kApiKey, noop}},
      {{Method::Get, "/a", Auth::kPublic, noop},
       {Method::Post, "/a", Auth::kPublic, noop, Body::kAny, Prefixes::kRootOnly}},
  };
  for (const auto& table : bad) {
    auto r = Router::make(table);
    ASSERT_FALSE(r.has_value()) << table.front().path;
    EXPECT_NE(r.error().find(std::string(table.back().path)), std::string::npos) << r.error();
  }
}

}  // namespace
}  // namespace sbx::api
