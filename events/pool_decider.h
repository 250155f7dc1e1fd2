// The pool decider (events/pool.h describes the stream and its rules).
//
//   decide_pool(state, command, now) -> the events, or a typed Error
//   evolve_pool(state, event)        -> the state after the event
//
// Pure functions: no I/O, no clock reads, deterministic. Thread-safe.
#pragma once

#include <optional>
#include <vector>

#include "events/event.h"
#include "events/pool.h"
#include "events/result.h"

namespace sbx {

// `state` is the pool's projection (nullopt: the name was never used, or its pool was
// deleted; a state with `deleted` set counts as absent too). Errors (events/pool.h):
//   CreatePool          kInvalidArgument (field "name": not a valid pool name;
//                       "capacitySpec.<field>": validate_pool_capacity), kAlreadyExists
//                       (field "name") while the pool exists
//   UpdatePoolCapacity  kNotFound (field "pool"), kInvalidArgument ("capacitySpec.<field>");
//                       the current capacity again appends nothing
//   DeletePool          kNotFound (field "pool")
[[nodiscard]] Result<std::vector<EventData>> decide_pool(const std::optional<Pool>& state,
                                                         const PoolCommand& command, Micros now);

// Folds `event` (a pool-stream event) into `state` (nullopt before the first PoolCreated,
// or after a PoolDeleted left the projection). Always sets version; updated_at on every
// event that applies. PoolCreated on nullopt or on a deleted pool starts a fresh Pool whose
// generation (and created_at) are this event's version (and time); PoolCreated on a live
// pool changes nothing else. PoolCapacityChanged replaces the capacity; PoolDeleted sets
// `deleted`. An event other than PoolCreated on nullopt yields a Pool with an empty name,
// which the store does not project.
[[nodiscard]] Pool evolve_pool(const std::optional<Pool>& state, const Event& event);

// Whether `data` may open a pool stream, or reopen one whose pool was deleted (PoolCreated).
bool opens_pool_stream(const EventData& data);

}  // namespace sbx
