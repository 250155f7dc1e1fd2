// A TCP socket that lives in another network namespace: the server proxy reaches a Docker
// sandbox's port from inside the sandbox's own namespace (127.0.0.1:<container port>)
// instead of through the published host port and the engine's userland proxy, which is
// one TCP connection and one relaying process less per request (bench/proxy_bench).
//
// socket_in_netns(path) opens `path` (a network namespace file: Docker's
// NetworkSettings.SandboxKey, or /proc/<pid>/ns/net), enters it with setns(2) on a
// short-lived thread of its own, creates a non-blocking, close-on-exec TCP socket there and
// returns it; the thread, and with it the foreign namespace, ends at once, so no thread of
// the server ever runs in a sandbox's namespace. A socket keeps the namespace it was made
// in for its life: connect() on it, from any thread, reaches the sandbox's loopback.
//
// Needs CAP_SYS_ADMIN (setns) and the file visible in the caller's mount namespace (the
// server on the Docker host). Errors (the message names the step): the path is empty or
// relative, it cannot be opened (the sandbox's namespace is gone, or not visible here),
// it is not a network namespace, setns or socket failed. Thread-safe.
#pragma once

#include <expected>
#include <string>

namespace sbx::api::proxy {

// `ipv6`: AF_INET6 instead of AF_INET.
std::expected<int, std::string> socket_in_netns(const std::string& path, bool ipv6 = false);

}  // namespace sbx::api::proxy
