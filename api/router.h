// Router: matches a request's method and path against a declarative route table (the
// server's table is api/routes.cpp: one `Route` per method and path template).
//
// Templates are absolute paths of literal segments and `{name}` parameters that each take
// one whole segment: "/sandboxes/{id}/endpoints/{port}". Every route is served at the root
// and under the version prefix "/v1" unless it is root-only (GET /health). Matching works
// on the percent-decoded segments of the path (a segment with a malformed escape is kept
// as sent); empty segments are skipped, so "//sandboxes/" is "/sandboxes". Templates are
// tried in table order, the first whose segments fit wins; then:
//   the method has a route on that template        kFound (route, parameters, label)
//   it has not                                     kMethodNotAllowed (label, Allow value:
//                                                  the template's methods in table order)
//   no template fits                               kNotFound
// A root-only template under "/v1" does not fit (404, not 405).
//
// The `label` of a match is the template under the prefix that was used
// ("/v1/sandboxes/{id}"): the `route` label of the HTTP metrics, bounded by the table.
// Labels, Allow values and templates are owned by the Router; a RouteMatch points into the
// Router and into the matched path (parameters), so both must outlive it.
//
// Cost: match() allocates nothing unless a segment holds a %-escape (then it decodes that
// segment into the RouteMatch's own storage). Build the Router once; match() is const and
// thread-safe.
//
// Errors: make() refuses a table with a template that does not start with '/', an empty or
// malformed parameter, more than kMaxSegments segments or kMaxParams parameters, the same
// method twice on one template, or one template both root-only and not.
#pragma once

#include "api/pistache.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sbx::api {

struct Call;  // api/call.h: what a handler is given
using Handler = void (*)(const Call& call);

// Who may call a route when server.api_key is set (without a key nothing is checked).
enum class Auth : std::uint8_t {
  kApiKey,   // header OPEN-SANDBOX-API-KEY must hold the key: 401 otherwise
  kPublic,   // never checked (/openapi.json, /docs, /redoc)
  kMetrics,  // kApiKey with server.metrics_auth, else kPublic
  kHealth,   // never refused; whether the caller holds the key decides what it is shown
};

// What a route accepts as a body.
enum class Body : std::uint8_t {
  kAny,   // not read, or read whatever its type
  kJson,  // a non-empty body must be Content-Type: application/json (415 otherwise)
};

// Which path prefixes serve a route.
enum class Prefixes : std::uint8_t {
  kBoth,      // "/" and "/v1"
  kRootOnly,  // "/" only
};

struct Route {
  Pistache::Http::Method method;
  std::string_view path;  // template, e.g. "/sandboxes/{id}"
  Auth auth;
  Handler handler;
  Body body = Body::kAny;
  Prefixes prefixes = Prefixes::kBoth;
};

inline constexpr std::string_view kVersionPrefix = "v1";
inline constexpr std::size_t kMaxSegments = 4;  // of a template, without the prefix
inline constexpr std::size_t kMaxParams = 2;

class RouteMatch {
 public:
  enum class Result : std::uint8_t { kNotFound, kFound, kMethodNotAllowed };

  RouteMatch() = default;
  // Parameters may point into this object's own storage: never copied or moved.
  RouteMatch(const RouteMatch&) = delete;
  RouteMatch& operator=(const RouteMatch&) = delete;

  Result result() const { return result_; }
  const Route* route() const { return route_; }    // kFound only
  bool versioned() const { return versioned_; }    // the path began with /v1
  std::string_view label() const { return label_; }  // kFound, kMethodNotAllowed
  std::string_view allow() const { return allow_; }  // kMethodNotAllowed: "GET, POST"
  // The decoded segment of parameter `name`; empty when the template has none (a matched
  // parameter is never empty).
  std::string_view param(std::string_view name) const;

 private:
  friend class Router;
  Result result_ = Result::kNotFound;
  const Route* route_ = nullptr;
  bool versioned_ = false;
  std::string_view label_;
  std::string_view allow_;
  std::array<std::string_view, kMaxParams> names_{};
  std::array<std::string_view, kMaxParams> values_{};
  std::size_t params_ = 0;
  std::array<std::string, kMaxSegments + 1> decoded_;  // segments that held a %-escape
};

class Router {
 public:
  // `routes` must outlive the Router (the server's table is static).
  [[nodiscard]] static std::expected<Router, std::string> make(std::span<const Route> routes);

  // `path` without the query string.
  void match(Pistache::Http::Method method, std::string_view path, RouteMatch& out) const;

  std::span<const Route> routes() const { return routes_; }

 private:
  struct Segment {
    std::string_view text;  // the literal, or the parameter's name
    bool param = false;
  };
  // One template with every route (method) on it.
  struct Path {
    std::string_view tmpl;
    std::vector<Segment> segments;
    bool root_only = false;
    std::vector<const Route*> routes;  // table order
    std::string label;                 // "/sandboxes/{id}"
    std::string versioned_label;       // "/v1/sandboxes/{id}"
    std::string allow;                 // "GET, DELETE"
  };

  std::span<const Route> routes_;
  std::vector<Path> paths_;  // order of first appearance in the table
};

}  // namespace sbx::api
