#include "src/runtime/docker/image_pull.h"

#include "src/runtime/base64.h"

#include <sstream>
#include <vector>

#include "src/common/log.h"

namespace sbx {
namespace {

using json = nlohmann::json;


}  // namespace

std::string registry_auth_header(const RegistryAuth& auth, const std::string& repo) {
  json a = {{"username", auth.username}, {"password", auth.password}};
  if (auto reg = registry_of(repo); !reg.empty()) a["serveraddress"] = reg;
  return encode_base64(a.dump(), Base64Alphabet::kUrl);
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
  auto not_found = [&](const std::string& why) {
    return fail(ErrorCode::kNotFound,
                std::string(kImageNotFoundCode) + ": image \"" + image +
                    "\" is not present on the Docker engine and could not be pulled: " + why,
                "image.uri");
  };
  if (r->status != 200) return not_found(engine_message(*r));
  // A 200 answer is a stream of JSON progress lines; a failure is a line with "error".
  std::istringstream lines(r->body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    try {
      auto j = json::parse(line);
      if (!j.is_object()) continue;
      if (j.contains("error") && j["error"].is_string()) {
        return not_found(j["error"].get<std::string>());
      }
      if (j.contains("errorDetail") && j["errorDetail"].is_object()) {
        return not_found(j["errorDetail"].value("message", "pull failed"));
      }
    } catch (const json::exception&) {
    }
  }
  return {};
}

Result<HttpResponse> create_container_pulling(DockerEngine& engine, const std::string& query,
                                              const json& body, const std::string& image,
                                              const std::optional<RegistryAuth>& auth,
                                              const std::optional<Platform>& platform) {
  const std::string payload = body.dump();
  auto r = engine.call("POST", "/containers/create" + query, payload);
  if (!r) return r;
  if (r->status == 404) {
    if (auto p = pull_image(engine, image, auth, platform); !p) return std::unexpected(p.error());
    r = engine.call("POST", "/containers/create" + query, payload);
    if (!r) return r;
    if (r->status == 404) {
      return fail(ErrorCode::kNotFound,
                  std::string(kImageNotFoundCode) + ": image \"" + image +
                      "\" is still missing after a pull: " + engine_message(*r),
                  "image.uri");
    }
  }
  return r;
}

}  // namespace sbx
