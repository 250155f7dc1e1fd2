// Images on the Docker engine: pulling (with registry credentials) and the container create
// that pulls when the engine lacks the image.
//
// Credentials travel in the X-Registry-Auth header as base64url JSON {username, password,
// serveraddress (the registry part of the reference, when it has one)}; they are never
// logged.
//
// Errors: an image that is not present and cannot be pulled is kNotFound, field
// "image.uri", with a message starting "DOCKER::IMAGE_NOT_FOUND: " (kImageNotFoundCode);
// transport errors as DockerEngine.
//
// Thread-safe (stateless; the engine is thread-safe).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "events/result.h"
#include "src/runtime/docker/docker_engine.h"
#include "src/runtime/image_reference.h"  // split_image_reference, registry_of
#include "src/runtime/runtime.h"

namespace sbx {

// The X-Registry-Auth header value for `auth` when pulling from `repo`.
std::string registry_auth_header(const RegistryAuth& auth, const std::string& repo);

// POST /images/create for `image` (and `platform`, when set), with `auth` when set; waits
// for the pull to finish. A failed pull (an error answer or an error line in the progress
// stream) is kNotFound with kImageNotFoundCode.
Result<void> pull_image(DockerEngine& engine, const std::string& image,
                        const std::optional<RegistryAuth>& auth,
                        const std::optional<Platform>& platform);

// POST /containers/create<query> with `body`; when the engine answers 404 (no such image)
// pulls `image` and tries once more. The engine's answer otherwise, whatever its status.
Result<HttpResponse> create_container_pulling(DockerEngine& engine, const std::string& query,
                                              const nlohmann::json& body, const std::string& image,
                                              const std::optional<RegistryAuth>& auth,
                                              const std::optional<Platform>& platform);

}  // namespace sbx
