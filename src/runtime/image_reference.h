// Image references ("[registry/]repo[:tag|@digest]") as the Docker and Kubernetes runtimes
// read them: which repository, tag and registry an image_uri names. Pure string functions,
// thread-safe; they never fail (a reference they cannot split is taken as a Docker Hub
// repository with tag "latest").
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace sbx {

// "repo/name:tag" -> {"repo/name", "tag"}; "name@sha256:..." -> {"name", "sha256:..."};
// no tag -> "latest".
std::pair<std::string, std::string> split_image_reference(const std::string& ref);

// The registry part of a repository ("127.0.0.1:5000/x" -> "127.0.0.1:5000"): the part
// before the first '/' when it contains '.' or ':' or is "localhost"; "" for Docker Hub
// names ("library/busybox", "busybox").
std::string registry_of(const std::string& repo);

// The registry that credentials for pulling `image` (a full reference) are filed under:
// registry_of() its repository; "" for an image without a registry host (sandboxd writes no
// default registry's name anywhere: such credentials cannot be filed on Kubernetes).
std::string credentials_registry(const std::string& image);

}  // namespace sbx
