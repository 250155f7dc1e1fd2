// Warm pools: a named set of sandboxes created ahead of time from one template, so that a
// create naming the pool (extensions.poolRef) claims a Running member instead of
// provisioning a container. Each pool has its own event stream `pool-<name>`:
//
//   PoolCreated            -> the pool exists (template, capacity); its `generation` is the
//                             stream version of this event
//   PoolCapacityChanged    the capacity was replaced (PUT /pools/{name})
//   PoolDeleted            the pool is gone (DELETE); its unclaimed members are drained
//
// A name may be used again after PoolDeleted: the stream goes on, a new PoolCreated starts
// a new generation, and members of an older generation are drained like those of a deleted
// pool (they were made from another template).
//
// The members themselves are ordinary sandboxes whose SandboxRequested carries
// spec.pool_name / spec.pool_generation (events/sandbox.h); a claim is a SandboxClaimed
// event in the member's own stream. Pool counts (total, allocated, available) are derived
// from the sandbox projection, never stored here.
//
// The projection of one stream (`Pool`) is kept from PoolCreated until PoolDeleted. The
// pure decider is `decide_pool`, the fold `evolve_pool` (events/pool_decider.h).
//
// decide_pool errors:
//   kAlreadyExists       CreatePool while the pool exists
//   kNotFound            any other command while it does not exist (or was deleted)
//   kInvalidArgument     a capacity that breaks the rules of validate_pool_capacity (field
//                        "capacitySpec.<name>"), or CreatePool with a name that is not
//                        is_valid_pool_name (field "name")
// UpdatePoolCapacity with the current capacity appends nothing.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "events/result.h"
#include "events/sandbox.h"
#include "events/time.h"

namespace sbx {

// The reference's PoolCapacitySpec. Members are counted as: available (Running, not
// claimed), warming (Pending, not claimed), allocated (claimed and still live); total is
// their sum.
//   buffer_min/buffer_max: bounds of the warm buffer (available + warming): below
//     buffer_min the pool is refilled up to buffer_max; above buffer_max the surplus
//     available members are recycled.
//   pool_min/pool_max: bounds of total: never more than pool_max members exist, and
//     members are created while total < pool_min (even beyond buffer_max).
struct PoolCapacity {
  std::int64_t buffer_min = 0;
  std::int64_t buffer_max = 0;
  std::int64_t pool_min = 0;
  std::int64_t pool_max = 0;
  bool operator==(const PoolCapacity&) const = default;
};

// Rules (kInvalidArgument, field "capacitySpec.<name>"): every value in [0, max_members]
// (the field of the value out of range); buffer_min <= buffer_max (field bufferMin);
// pool_min <= pool_max (poolMin); buffer_max <= pool_max (bufferMax). Checked in this order.
[[nodiscard]] Result<void> validate_pool_capacity(const PoolCapacity& capacity,
                                                  std::int64_t max_members);

// The projection of one `pool-<name>` stream.
struct Pool {
  std::string name;
  std::uint64_t version = 0;     // stream version of the last event folded in (the
                                 // reference's status.revision, as a decimal string)
  std::uint64_t generation = 0;  // stream version of the PoolCreated this pool started with
  // What every member is created from: image_uri, entrypoint, env, resource_limits,
  // platform, network_policy_json, volumes_json (the rest stays empty; ports, network mode,
  // pool_name/generation are filled per member by the service).
  SandboxSpec template_spec;
  // The template as the client sent it (compact JSON text), served back by GET.
  std::string template_json;
  PoolCapacity capacity;
  Micros created_at = 0;
  Micros updated_at = 0;  // time of the last event folded in
  bool deleted = false;   // PoolDeleted was folded in: it leaves the projection
  bool operator==(const Pool&) const = default;
};

inline constexpr std::string_view kPoolStreamPrefix = "pool-";
inline std::string pool_stream_of(std::string_view name) {
  return std::string(kPoolStreamPrefix) + std::string(name);
}
// The pool name of a "pool-<name>" stream; "" for any other stream.
inline std::string_view pool_name_of(std::string_view stream) {
  if (stream.size() <= kPoolStreamPrefix.size() || !stream.starts_with(kPoolStreamPrefix)) {
    return {};
  }
  return stream.substr(kPoolStreamPrefix.size());
}

// A pool name: 1..kMaxPoolNameLength bytes of [a-z0-9-], starting and ending with
// [a-z0-9] (a Kubernetes resource name, as the reference requires).
inline constexpr std::size_t kMaxPoolNameLength = 63;
bool is_valid_pool_name(std::string_view name);

// --- commands ---------------------------------------------------------------------------
struct CreatePool {
  std::string name;
  SandboxSpec template_spec;
  std::string template_json;
  PoolCapacity capacity;
  std::int64_t max_members = 0;  // the server's cap for capacity values (validation)
};
struct UpdatePoolCapacity {
  PoolCapacity capacity;
  std::int64_t max_members = 0;
};
struct DeletePool {};

using PoolCommand = std::variant<CreatePool, UpdatePoolCapacity, DeletePool>;

}  // namespace sbx
