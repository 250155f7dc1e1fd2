#include "src/runtime/docker/image_pull.h"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <vector>

#include "src/common/log.h"
#include "src/runtime/base64.h"

namespace sbx {
namespace {

using json = nlohmann::json;

// An image reference as a path segment of the Engine API: '/', ':' and '@' stay (the
// engine's routes take the whole reference), anything else outside the reference grammar
// is percent-encoded.
std::string image_path(std::string_view image) { return url_encode(image, "/:@"); }

std::string registry_name(const std::string& image) {
  std::string reg = registry_of(split_image_reference(image).first);
  return reg.empty() ? std::string("of the image") : reg;
}

Error not_found(const std::string& image, const std::string& why) {
  return Error(ErrorCode::kNotFound,
               std::string(kImageNotFoundCode) + ": image \"" + image +
                   "\" is not present on the Docker engine and could not be pulled: " + why,
               "image.uri");
}

Error unauthorized(const std::string& image, const std::optional<RegistryAuth>& auth,
                   const std::string& why) {
  std::string m = std::string(kImagePullUnauthorizedCode) + ": the registry " +
                  registry_name(image) +
                  (auth ? " refused the credentials given for image \""
                        : " requires credentials for image \"") +
                  image + "\"" + (auth ? "" : " and none were given (image.auth)") + ": " + why;
  return Error(ErrorCode::kUnauthenticated, std::move(m), "image.auth");
}

// The error of a failed pull, by what the engine said.
Error pull_error(const std::string& image, const std::optional<RegistryAuth>& auth,
                 const std::string& why) {
  return is_registry_auth_error(why) ? unauthorized(image, auth, why) : not_found(image, why);
}

}  // namespace

std::string_view to_string(PullPolicy policy) {
  switch (policy) {
    case PullPolicy::kIfNotPresent:
      return "IfNotPresent";
    case PullPolicy::kAlways:
      return "Always";
    case PullPolicy::kNever:
      return "Never";
  }
  return "IfNotPresent";
}

std::string registry_auth_header(const RegistryAuth& auth, const std::string& repo) {
  json a = {{"username", auth.username}, {"password", auth.password}};
  if (auto reg = registry_of(repo); !reg.empty()) a["serveraddress"] = reg;
  return encode_base64(a.dump(), Base64Alphabet::kUrl);
}

bool is_registry_auth_error(std::string_view engine_message) {
  std::string m(engine_message);
  std::transform(m.begin(), m.end(), m.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (std::string_view needle :
       {"unauthorized", "authentication required", "no basic auth credentials", "denied"}) {
    if (m.find(needle) != std::string::npos) return true;
  }
  return false;
}

Result<void> pull_image(DockerEngine& engine, const std::string& image,
                        const std::optional<RegistryAuth>& auth,
                        const std::optional<Platform>& platform) {
  auto [repo, tag] = split_image_reference(image);
  std::string path = "/images/create?fromImage=" + url_encode(repo) + "&tag=" + url_encode(tag);
  if (platform) path += "&platform=" + url_encode(platform->os + "/" + platform->arch);
  std::vector<HttpHeader> headers;
  if (auth) headers.push_back({"X-Registry-Auth", registry_auth_header(*auth, repo)});
  headers.push_back({"Content-Type", "text/plain"});
  logger("docker")->info("pulling image {}", image);
  auto r = engine.call("POST", path, {}, std::move(headers));
  if (!r) return std::unexpected(r.error());
  if (r->status != 200) return std::unexpected(pull_error(image, auth, engine_message(*r)));
  // A 200 answer is a stream of JSON progress lines; a failure is a line with "error".
  std::istringstream lines(r->body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    try {
      auto j = json::parse(line);
      if (!j.is_object()) continue;
      if (j.contains("error") && j["error"].is_string()) {
        return std::unexpected(pull_error(image, auth, j["error"].get<std::string>()));
      }
      if (j.contains("errorDetail") && j["errorDetail"].is_object()) {
        return std::unexpected(
            pull_error(image, auth, j["errorDetail"].value("message", "pull failed")));
      }
    } catch (const json::exception&) {
    }
  }
  return {};
}

Result<std::string> registry_digest(DockerEngine& engine, const std::string& image,
                                    const std::optional<RegistryAuth>& auth) {
  std::vector<HttpHeader> headers;
  if (auth) {
    headers.push_back(
        {"X-Registry-Auth", registry_auth_header(*auth, split_image_reference(image).first)});
  }
  auto r = engine.call("GET", "/distribution/" + image_path(image) + "/json", {},
                       std::move(headers));
  if (!r) return std::unexpected(r.error());
  const std::string why = r->status == 200 ? std::string() : engine_message(*r);
  if (r->status == 401 || (r->status != 200 && is_registry_auth_error(why))) {
    return std::unexpected(unauthorized(image, auth, why));
  }
  if (r->status == 404) {
    return fail(ErrorCode::kNotFound,
                std::string(kImageNotFoundCode) + ": the registry " + registry_name(image) +
                    " has no image \"" + image + "\": " + why,
                "image.uri");
  }
  if (r->status != 200) {
    return fail(ErrorCode::kFailedPrecondition,
                std::string(kImagePullFailedCode) + ": image \"" + image +
                    "\" could not be checked with its registry (docker.image_pull_policy = "
                    "\"Always\"): " +
                    why,
                "image.uri");
  }
  std::string digest;
  try {
    digest = json::parse(r->body).at("Descriptor").at("digest").get<std::string>();
  } catch (const json::exception& e) {
    return fail(ErrorCode::kInternal, "distribution inspect of " + image +
                                          ": malformed answer: " + e.what());
  }
  if (digest.empty()) {
    return fail(ErrorCode::kInternal, "distribution inspect of " + image + ": no digest");
  }
  return digest;
}

Result<bool> check_with_registry(DockerEngine& engine, const std::string& image,
                                 const std::optional<RegistryAuth>& auth,
                                 const std::optional<Platform>& platform) {
  auto digest = registry_digest(engine, image, auth);
  if (!digest) return std::unexpected(digest.error());
  auto local = engine.call("GET", "/images/" + image_path(image) + "/json");
  if (!local) return std::unexpected(local.error());
  if (local->status == 200) {
    try {
      const json j = json::parse(local->body);
      if (j.contains("RepoDigests") && j["RepoDigests"].is_array()) {
        for (const json& d : j["RepoDigests"]) {
          if (d.is_string() && d.get_ref<const std::string&>().ends_with("@" + *digest)) {
            return false;  // the engine has this very manifest: nothing to pull
          }
        }
      }
    } catch (const json::exception&) {
      // An unreadable inspect is treated as "not present": the pull settles it.
    }
  } else if (local->status != 404) {
    return std::unexpected(engine_error(*local, "inspect image " + image));
  }
  if (auto p = pull_image(engine, image, auth, platform); !p) return std::unexpected(p.error());
  return true;
}

Result<HttpResponse> create_container_pulling(DockerEngine& engine, const std::string& query,
                                              const json& body, const std::string& image,
                                              const std::optional<RegistryAuth>& auth,
                                              const std::optional<Platform>& platform,
                                              PullPolicy policy) {
  if (policy == PullPolicy::kAlways) {
    if (auto c = check_with_registry(engine, image, auth, platform); !c) {
      return std::unexpected(c.error());
    }
  }
  const std::string payload = body.dump();
  auto r = engine.call("POST", "/containers/create" + query, payload);
  if (!r) return r;
  if (r->status != 404) return r;
  if (policy == PullPolicy::kNever) {
    return fail(ErrorCode::kNotFound,
                std::string(kImageNotFoundCode) + ": image \"" + image +
                    "\" is not present on the Docker engine and docker.image_pull_policy = "
                    "\"Never\" forbids pulling it",
                "image.uri");
  }
  if (policy == PullPolicy::kIfNotPresent) {
    if (auto p = pull_image(engine, image, auth, platform); !p) return std::unexpected(p.error());
    r = engine.call("POST", "/containers/create" + query, payload);
    if (!r) return r;
  }
  if (r->status == 404) {
    return fail(ErrorCode::kNotFound,
                std::string(kImageNotFoundCode) + ": image \"" + image +
                    "\" is still missing after a pull: " + engine_message(*r),
                "image.uri");
  }
  return r;
}

}  // namespace sbx
