#include "api/router.h"

#include <algorithm>

#include "api/http_util.h"

namespace sbx::api {

std::string_view RouteMatch::param(std::string_view name) const {
  for (std::size_t i = 0; i < params_; ++i) {
    if (names_[i] == name) return values_[i];
  }
  return {};
}

std::expected<Router, std::string> Router::make(std::span<const Route> routes) {
  Router r;
  r.routes_ = routes;
  for (const Route& route : routes) {
    const std::string_view tmpl = route.path;
    const auto bad = [&](std::string_view why) {
      return std::unexpected("route template \"" + std::string(tmpl) + "\": " + std::string(why));
    };
    if (!tmpl.starts_with('/')) return bad("must start with '/'");
    const bool root_only = route.prefixes == Prefixes::kRootOnly;
    auto it = std::find_if(r.paths_.begin(), r.paths_.end(),
                           [&](const Path& p) { return p.tmpl == tmpl; });
    if (it != r.paths_.end()) {
      if (it->root_only != root_only) return bad("both root-only and not");
      const bool twice = std::any_of(it->routes.begin(), it->routes.end(),
                                     [&](const Route* o) { return o->method == route.method; });
      if (twice) return bad(std::string(Pistache::Http::methodString(route.method)) + " twice");
      it->routes.push_back(&route);
      it->allow += ", ";
      it->allow += Pistache::Http::methodString(route.method);
      continue;
    }
    Path p;
    p.tmpl = tmpl;
    p.root_only = root_only;
    std::size_t params = 0;
    std::string_view rest = tmpl.substr(1);
    while (!rest.empty()) {
      const auto slash = rest.find('/');
      const std::string_view seg = rest.substr(0, slash);
      rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
      if (seg.empty()) return bad("empty segment");
      Segment s{seg, false};
      if (seg.front() == '{' || seg.back() == '}' ||
          seg.find_first_of("{}") != std::string_view::npos) {
        if (seg.size() < 3 || seg.front() != '{' || seg.back() != '}' ||
            seg.substr(1, seg.size() - 2).find_first_of("{}") != std::string_view::npos) {
          return bad("a parameter is a whole segment \"{name}\"");
        }
        s = Segment{seg.substr(1, seg.size() - 2), true};
        if (++params > kMaxParams) return bad("too many parameters");
      }
      p.segments.push_back(s);
      if (p.segments.size() > kMaxSegments) return bad("too many segments");
    }
    if (p.segments.empty()) return bad("no segments");
    p.routes.push_back(&route);
    p.label = std::string(tmpl);
    p.versioned_label = "/" + std::string(kVersionPrefix) + p.label;
    p.allow = Pistache::Http::methodString(route.method);
    r.paths_.push_back(std::move(p));
  }
  return r;
}

void Router::match(Pistache::Http::Method method, std::string_view path, RouteMatch& out) const {
  out.result_ = RouteMatch::Result::kNotFound;
  out.route_ = nullptr;
  out.versioned_ = false;
  out.label_ = {};
  out.allow_ = {};
  out.params_ = 0;

  // The non-empty segments, decoded; more than the prefix and the longest template can
  // hold matches nothing.
  std::array<std::string_view, kMaxSegments + 1> segs;
  std::size_t n = 0;
  while (!path.empty()) {
    const auto slash = path.find('/');
    std::string_view seg = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    if (seg.empty()) continue;
    if (n == segs.size()) return;
    if (seg.find('%') != std::string_view::npos) {
      if (auto decoded = percent_decode(seg, false)) {
        out.decoded_[n] = std::move(*decoded);
        seg = out.decoded_[n];
      }
    }
    segs[n++] = seg;
  }
  std::size_t first = 0;
  if (n > 0 && segs[0] == kVersionPrefix) {
    out.versioned_ = true;
    first = 1;
  }
  const std::size_t count = n - first;

  for (const Path& p : paths_) {
    if (p.segments.size() != count || (p.root_only && out.versioned_)) continue;
    bool fits = true;
    for (std::size_t i = 0; i < count && fits; ++i) {
      fits = p.segments[i].param || p.segments[i].text == segs[first + i];
    }
    if (!fits) continue;
    out.label_ = out.versioned_ ? std::string_view(p.versioned_label) : std::string_view(p.label);
    for (std::size_t i = 0; i < count; ++i) {
      if (!p.segments[i].param) continue;
      out.names_[out.params_] = p.segments[i].text;
      out.values_[out.params_] = segs[first + i];
      ++out.params_;
    }
    for (const Route* route : p.routes) {
      if (route->method == method) {
        out.result_ = RouteMatch::Result::kFound;
        out.route_ = route;
        return;
      }
    }
    out.result_ = RouteMatch::Result::kMethodNotAllowed;
    out.allow_ = p.allow;
    return;
  }
}

}  // namespace sbx::api
