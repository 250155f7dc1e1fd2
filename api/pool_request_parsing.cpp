// parse_create_pool_request / parse_update_pool_request: the bodies of POST /pools and
// PUT /pools/{name} (request_parsing.h). A template in the create shape goes through the
// create body's own rules (create_request_parsing.h); a Kubernetes PodTemplateSpec is
// first mapped onto that shape, refusing what it holds beyond one container's image,
// command, args, env and resources.
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "api/create_request_parsing.h"
#include "api/parse_support.h"
#include "api/request_parsing.h"
#include "events/pool.h"

namespace sbx::api {

using namespace parsing;

namespace {

ApiError invalid(std::string message) {
  return api_error(ApiErrorKind::kInvalidValue, std::move(message));
}

// A JSON integer (or a float with no fraction, as the reference's validation takes it)
// that fits in int64; nullopt for anything else.
std::optional<std::int64_t> whole_number(const json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 1e15) {
      return static_cast<std::int64_t>(d);
    }
  }
  return std::nullopt;
}

// body.capacitySpec: {bufferMax, bufferMin, poolMax, poolMin}, each a required integer >= 0
// (unknown members ignored).
std::expected<PoolCapacity, ApiError> parse_capacity(const json& body) {
  if (!present(body, "capacitySpec")) {
    return std::unexpected(invalid(
        "capacitySpec: Field required (an object {bufferMax, bufferMin, poolMax, poolMin})"));
  }
  const json& spec = body["capacitySpec"];
  if (!spec.is_object()) {
    return std::unexpected(invalid("capacitySpec must be an object {bufferMax, bufferMin, "
                                   "poolMax, poolMin}, got " +
                                   type_name(spec)));
  }
  PoolCapacity capacity;
  const std::pair<const char*, std::int64_t*> fields[] = {
      {"bufferMax", &capacity.buffer_max},
      {"bufferMin", &capacity.buffer_min},
      {"poolMax", &capacity.pool_max},
      {"poolMin", &capacity.pool_min},
  };
  for (const auto& [key, out] : fields) {
    const std::string field = std::string("capacitySpec.") + key;
    if (!present(spec, key)) {
      return std::unexpected(invalid(field + ": Field required (an integer >= 0)"));
    }
    const auto v = whole_number(spec[key]);
    if (!v) {
      return std::unexpected(invalid(field + " must be an integer >= 0, got " +
                                     (spec[key].is_number() ? printable(spec[key].dump())
                                                            : type_name(spec[key]))));
    }
    if (*v < 0) {
      return std::unexpected(
          invalid(field + " must be an integer >= 0, got " + std::to_string(*v)));
    }
    *out = *v;
  }
  return capacity;
}

// A resource quantity of a pod template: a string, or a JSON number (Kubernetes accepts
// both), as the string the create shape takes.
std::optional<std::string> quantity_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  return std::nullopt;
}

// A Kubernetes PodTemplateSpec mapped onto the create shape, or the 400 naming the first
// member this server cannot honour. `container` is set to the index of the container used.
std::expected<json, ApiError> pod_template_to_create_shape(const json& t, std::size_t& container) {
  const auto bad = [](const std::string& path, const std::string& why) {
    return std::unexpected(invalid("template." + path + ": " + why));
  };
  for (auto it = t.begin(); it != t.end(); ++it) {
    if (it.key() == "spec") continue;
    if (it.key() == "metadata") {
      const json& m = *it;
      bool empty = m.is_null() || (m.is_object() && m.empty());
      if (m.is_object() && !empty) {
        empty = true;
        for (auto mi = m.begin(); mi != m.end(); ++mi) {
          if (!mi->is_null() && !(mi->is_object() && mi->empty())) empty = false;
        }
      }
      if (!empty) {
        return bad("metadata",
                   "pod metadata (labels, annotations, ...) cannot be honoured by this runtime: "
                   "leave it out (give metadata to each create instead)");
      }
      continue;
    }
    return bad(printable(it.key()), "not a member of a PodTemplateSpec this server can honour "
                                    "(metadata and spec only)");
  }
  const json& spec = t["spec"];
  if (!spec.is_object()) return bad("spec", "must be an object, got " + type_name(spec));
  for (auto it = spec.begin(); it != spec.end(); ++it) {
    if (it.key() != "containers") {
      return bad("spec." + printable(it.key()),
                 "cannot be honoured by this runtime (a pool template's pod spec may hold "
                 "spec.containers only)");
    }
  }
  if (!present(spec, "containers")) return bad("spec.containers", "Field required (one container)");
  const json& containers = spec["containers"];
  if (!containers.is_array() || containers.empty()) {
    return bad("spec.containers", "must be a non-empty array of containers");
  }
  container = 0;
  for (std::size_t i = 0; i < containers.size(); ++i) {
    if (!containers[i].is_object()) {
      return bad("spec.containers[" + std::to_string(i) + "]",
                 "must be an object, got " + type_name(containers[i]));
    }
    if (containers[i].value("name", json()) == "sandbox") {
      container = i;
      break;
    }
  }
  for (std::size_t i = 0; i < containers.size(); ++i) {
    if (i == container) continue;
    return bad("spec.containers[" + std::to_string(i) + "]",
               "a second container cannot run in a sandbox of this runtime: give one container "
               "(the one named \"sandbox\" is used when there are several)");
  }
  const json& c = containers[container];
  const std::string base = "spec.containers[" + std::to_string(container) + "]";
  for (auto it = c.begin(); it != c.end(); ++it) {
    static constexpr std::string_view kKnown[] = {"name", "image", "command", "args", "env",
                                                  "resources"};
    bool known = false;
    for (auto k : kKnown) known = known || it.key() == k;
    if (!known && !it->is_null()) {
      return bad(base + "." + printable(it.key()),
                 "cannot be honoured by this runtime (a pool template's container may hold "
                 "name, image, command, args, env and resources)");
    }
  }
  if (present(c, "name") && !c["name"].is_string()) {
    return bad(base + ".name", "must be a string, got " + type_name(c["name"]));
  }
  json out = json::object();
  if (!present(c, "image") || !c["image"].is_string() || c["image"].get<std::string>().empty()) {
    return bad(base + ".image", "Field required (a non-empty string)");
  }
  out["image"] = {{"uri", c["image"]}};
  json entrypoint = json::array();
  for (const char* key : {"command", "args"}) {
    if (!present(c, key)) continue;
    const json& list = c[key];
    if (!list.is_array()) return bad(base + "." + key, "must be an array of strings, got " + type_name(list));
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_string()) {
        return bad(base + "." + key + "[" + std::to_string(i) + "]",
                   "must be a string, got " + type_name(list[i]));
      }
      entrypoint.push_back(list[i]);
    }
  }
  if (entrypoint.empty()) {
    return bad(base + ".command",
               "Field required: a pool template names the command its members run (this "
               "server does not know the image's own entrypoint)");
  }
  out["entrypoint"] = std::move(entrypoint);
  if (present(c, "env")) {
    const json& env = c["env"];
    if (!env.is_array()) return bad(base + ".env", "must be an array of {name, value}, got " + type_name(env));
    json map = json::object();
    for (std::size_t i = 0; i < env.size(); ++i) {
      const std::string at = base + ".env[" + std::to_string(i) + "]";
      const json& e = env[i];
      if (!e.is_object()) return bad(at, "must be an object {name, value}, got " + type_name(e));
      for (auto it = e.begin(); it != e.end(); ++it) {
        if (it.key() == "valueFrom" && !it->is_null()) {
          return bad(at + ".valueFrom",
                     "cannot be honoured by this runtime (no Secrets or ConfigMaps to read "
                     "from): give the value itself");
        }
        if (it.key() != "name" && it.key() != "value" && it.key() != "valueFrom") {
          return bad(at + "." + printable(it.key()), "not a member of an EnvVar (name, value)");
        }
      }
      if (!present(e, "name") || !e["name"].is_string() || e["name"].get<std::string>().empty()) {
        return bad(at + ".name", "Field required (a non-empty string)");
      }
      if (present(e, "value") && !e["value"].is_string()) {
        return bad(at + ".value", "must be a string, got " + type_name(e["value"]));
      }
      map[e["name"].get<std::string>()] = present(e, "value") ? e["value"] : json("");
    }
    out["env"] = std::move(map);
  }
  if (present(c, "resources")) {
    const json& res = c["resources"];
    if (!res.is_object()) return bad(base + ".resources", "must be an object, got " + type_name(res));
    for (auto it = res.begin(); it != res.end(); ++it) {
      if (it.key() != "limits" && it.key() != "requests") {
        return bad(base + ".resources." + printable(it.key()),
                   "cannot be honoured by this runtime (limits and requests only)");
      }
      if (it->is_null()) continue;
      const std::string at = base + ".resources." + it.key();
      if (!it->is_object()) return bad(at, "must be an object, got " + type_name(*it));
      json quantities = json::object();
      for (auto q = it->begin(); q != it->end(); ++q) {
        if (q.key() != "cpu" && q.key() != "memory") {
          return bad(at + "." + printable(q.key()),
                     "cannot be honoured by this runtime (cpu and memory only)");
        }
        auto text = quantity_text(*q);
        if (!text) return bad(at + "." + q.key(), "must be a quantity (a string), got " + type_name(*q));
        quantities[q.key()] = *text;
      }
      // Requests are accepted and not enforced, as a create's resourceRequests.
      if (it.key() == "limits") out["resourceLimits"] = std::move(quantities);
    }
  }
  return out;
}

}  // namespace

std::expected<CreatePoolRequest, ApiError> parse_create_pool_request(
    std::string_view body, const CreateParseOptions& options) {
  auto parsed = parse_json_object(body);
  if (!parsed) return std::unexpected(parsed.error());
  const json& j = *parsed;
  CreatePoolRequest out;

  if (!present(j, "name") || !j["name"].is_string()) {
    return std::unexpected(invalid(
        present(j, "name") ? "name must be a string, got " + type_name(j["name"])
                           : std::string("name: Field required (the pool's name)")));
  }
  out.name = j["name"].get<std::string>();
  if (!is_valid_pool_name(out.name)) {
    return std::unexpected(invalid(
        "name \"" + printable(out.name) + "\" is not a pool name: 1.." +
        std::to_string(kMaxPoolNameLength) +
        " lowercase letters, digits and '-', starting and ending with a letter or digit "
        "(^[a-z0-9]([-a-z0-9]*[a-z0-9])?$)"));
  }

  auto capacity = parse_capacity(j);
  if (!capacity) return std::unexpected(capacity.error());
  out.capacity = *capacity;

  if (!present(j, "template")) {
    return std::unexpected(invalid(
        "template: Field required (a create request's shape {image, entrypoint, ...} or a "
        "Kubernetes PodTemplateSpec {spec: {containers: [...]}})"));
  }
  const json& t = j["template"];
  if (!t.is_object()) {
    return std::unexpected(invalid("template must be an object, got " + type_name(t)));
  }
  Checker c;
  c.prefix = {"template"};
  if (t.contains("spec")) {
    std::size_t container = 0;
    auto shaped = pod_template_to_create_shape(t, container);
    if (!shaped) return std::unexpected(shaped.error());
    // The create shape's rules (image reference, quantities, NUL bytes), named from the
    // container they came from.
    c.prefix = {"template", "spec", "containers", std::to_string(container)};
    c.message_prefix = "template.spec.containers[" + std::to_string(container) + "]: ";
    check_create_object(c, *shaped, out.template_request, options, CreateShape::kPoolTemplate);
  } else {
    c.message_prefix = "template.";
    check_create_object(c, t, out.template_request, options, CreateShape::kPoolTemplate);
  }
  if (auto err = c.result()) return std::unexpected(std::move(*err));
  out.template_json = t.dump(-1, ' ', false, json::error_handler_t::replace);
  return out;
}

std::expected<PoolCapacity, ApiError> parse_update_pool_request(std::string_view body) {
  auto parsed = parse_json_object(body);
  if (!parsed) return std::unexpected(parsed.error());
  const json& j = *parsed;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "capacitySpec") {
      return std::unexpected(invalid(
          printable(it.key()) +
          " cannot be changed: PUT /pools/{name} replaces capacitySpec only (to change the "
          "template, delete the pool and create it again)"));
    }
  }
  return parse_capacity(j);
}

}  // namespace sbx::api
