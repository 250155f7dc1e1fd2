// Images on the Docker engine: pulling (with registry credentials), checking credentials and
// digests with the registry, and the container create that gets the image as the pull policy
// (docker.image_pull_policy) says.
//
// Credentials travel in the X-Registry-Auth header as base64url JSON {username, password,
// serveraddress (the registry part of the reference, when it has one)}; they are never
// logged and never put into an error message.
//
// The pull policies of create_container_pulling() (PullPolicy, docker_options.h):
//   kIfNotPresent  create; when the engine lacks the image (404), pull it and create again.
//                  A present image is never checked with the registry: once one create has
//                  pulled it, a create with wrong or no credentials runs it too.
//   kAlways        first check_with_registry(): the engine asks the registry for the image's
//                  manifest (GET /distribution/{image}/json) with the request's credentials;
//                  refused credentials fail the create even when the image is present. When
//                  the local image already carries that digest (RepoDigests) nothing is
//                  pulled, else it is pulled with the credentials. Then create.
//   kNever         create; never pull. An absent image is kImageNotFoundCode, saying that
//                  the policy forbids pulling.
//
// Errors (the message starts with the OpenSandbox code and ": "; runtime_error_code()):
//   kNotFound, field "image.uri", kImageNotFoundCode: the image is absent and cannot be
//     pulled (any pull failure but refused credentials), is absent under kNever, or the
//     registry does not know it (kAlways: its manifest is unknown, even if present locally);
//   kUnauthenticated, field "image.auth", kImagePullUnauthorizedCode: the registry refused the
//     credentials, or asked for some and none were given (a pull, or kAlways's check);
//   kFailedPrecondition, field "image.uri", kImagePullFailedCode: kAlways could not check the
//     image with its registry for another reason (registry unreachable, ...);
//   transport errors as DockerEngine (kUnavailable, kDeadlineExceeded).
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
#include "src/runtime/docker/docker_options.h"  // PullPolicy
#include "src/runtime/image_reference.h"        // split_image_reference, registry_of
#include "src/runtime/runtime.h"

namespace sbx {

inline constexpr std::string_view kImagePullUnauthorizedCode = "DOCKER::IMAGE_PULL_UNAUTHORIZED";
// The reference server's code for an image that could not be pulled or checked.
inline constexpr std::string_view kImagePullFailedCode = "DOCKER::SANDBOX_IMAGE_PULL_FAILED";

// "IfNotPresent", "Always", "Never" (the TOML spelling of docker.image_pull_policy).
std::string_view to_string(PullPolicy policy);

// The X-Registry-Auth header value for `auth` when pulling from `repo`.
std::string registry_auth_header(const RegistryAuth& auth, const std::string& repo);

// Whether an engine's pull or distribution error says that the registry wants (other)
// credentials: "unauthorized", "authentication required", "no basic auth credentials",
// "denied".
bool is_registry_auth_error(std::string_view engine_message);

// POST /images/create for `image` (and `platform`, when set), with `auth` when set; waits
// for the pull to finish. A failed pull (an error answer or an error line in the progress
// stream) is kImagePullUnauthorizedCode when the registry refused the credentials, else
// kNotFound with kImageNotFoundCode.
Result<void> pull_image(DockerEngine& engine, const std::string& image,
                        const std::optional<RegistryAuth>& auth,
                        const std::optional<Platform>& platform);

// The digest of `image`'s manifest in its registry ("sha256:..."), asked with `auth` (GET
// /distribution/{image}/json). Errors: see the header comment (refused credentials, unknown
// manifest, registry unreachable).
Result<std::string> registry_digest(DockerEngine& engine, const std::string& image,
                                    const std::optional<RegistryAuth>& auth);

// kAlways's step before a create: registry_digest(), then a pull with `auth` unless the
// engine's image `image` already has that digest among its RepoDigests. Returns whether it
// pulled.
Result<bool> check_with_registry(DockerEngine& engine, const std::string& image,
                                 const std::optional<RegistryAuth>& auth,
                                 const std::optional<Platform>& platform);

// POST /containers/create<query> with `body`, getting `image` as `policy` says (see above).
// The engine's answer otherwise, whatever its status.
Result<HttpResponse> create_container_pulling(
    DockerEngine& engine, const std::string& query, const nlohmann::json& body,
    const std::string& image, const std::optional<RegistryAuth>& auth,
    const std::optional<Platform>& platform, PullPolicy policy = PullPolicy::kIfNotPresent);

}  // namespace sbx
