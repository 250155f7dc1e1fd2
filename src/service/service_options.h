// ServiceOptions: everything SandboxService needs from the configuration, as plain values.
//
// The composition root fills it from sbx::Config (service_options_from in
// src/server/service_options_from.h, the one mapping); keeping the service on its own
// small struct keeps it decoupled from the TOML schema and easy to build in tests. What
// only the HTTP API reads (request waits, allowed host paths) is in api::ApiOptions.
//
// Pure value type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "events/time.h"
#include "src/service/endpoint_resolver.h"

namespace sbx {

struct ServiceOptions {
  // "docker" or "kubernetes" (runtime.type). Decides the runtime prefix of error codes
  // and which create options are supported (secureAccess is Kubernetes-only).
  std::string runtime_type = "docker";

  // Whether the runtime can pause and resume sandboxes. False (Kubernetes: no workload
  // provider can freeze a pod's processes): pause and resume fail at once, before any
  // append, with kUnimplemented (field "runtime.pause", the api's 501
  // <RUNTIME>::PAUSE_NOT_SUPPORTED).
  bool pause_supported = true;
  // Whether the runtime can take snapshots and start sandboxes from them (Docker: yes;
  // Kubernetes: no, and both snapshot routes and a create with snapshotId fail before any
  // append with kUnimplemented, field "runtime.snapshots": 501 SNAPSHOT::NOT_SUPPORTED).
  bool snapshots_supported = true;

  // docker.network_mode: "host" holds one live sandbox at a time; anything else ("bridge"
  // or a user network) publishes the container ports below on host ports allocated from
  // [port_range_low, port_range_high].
  std::string network_mode = "host";
  int port_range_low = 40000;
  int port_range_high = 60000;
  // Container ports published in bridge mode: execd (44772) and the conventional HTTP port.
  std::vector<int> published_ports = {44772, 8080};
  // Skip host ports that another process already listens on (a bind() probe on
  // `port_bind_ip`). Allocation never hands out a port held by a live sandbox either way.
  bool probe_host_ports = true;
  std::string port_bind_ip = "0.0.0.0";

  // How endpoints are computed (endpoint_resolver.h): the runtime, the Docker host part
  // (server.eip, else docker.host_ip, else the bind address when not a wildcard, else the
  // primary host address: resolve_endpoint_host()) and the Kubernetes ingress mode.
  EndpointRules endpoint_rules;

  // server.max_sandbox_timeout_seconds: nullopt = no cap.
  std::optional<std::int64_t> max_sandbox_timeout_seconds;
  // egress.image: unset = a networkPolicy is rejected.
  std::optional<std::string> egress_image;

  // --- volumes (issue 12) ---
  // storage.allowed_host_paths: where `host` volumes may point (after resolving symlinks);
  // empty = host volumes refused (VOLUME::HOST_PATH_NOT_ALLOWED).
  std::vector<std::string> allowed_host_paths;

  // --- server proxy (issue 13) ---
  // renew_intent.enabled (and proxy.enabled): a request proxied to a sandbox created with
  // extensions["access.renew.extend.seconds"] renews its expiry, at most once per
  // renew_min_interval per sandbox (SandboxService::note_proxy_access).
  bool renew_on_access = false;
  Micros renew_min_interval = 60 * kMicrosPerSecond;

  // --- warm pools (issue 14) ---
  // pools.enabled: false refuses a create with extensions.poolRef (kUnimplemented, field
  // "runtime.pools") as it refuses the pool routes.
  bool pools_enabled = true;

  // Idempotency-Key lifetime.
  Micros idempotency_ttl = 24LL * 3600 * kMicrosPerSecond;
  // Optimistic-concurrency retries of one command before it fails with kConflict.
  int max_conflict_retries = 8;
  // Threads that run mutations for the async API (each blocks on one durable append, so
  // this bounds how many appends can share one group commit).
  int mutation_threads = 32;
  // server.max_queued_mutations: mutations waiting for a mutation thread; beyond it a
  // request is refused with kResourceExhausted (503) instead of queueing without bound.
  std::size_t max_queued_mutations = 4096;
};

}  // namespace sbx
