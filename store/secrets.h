// Secrets: the registry credentials of a create, kept out of the log and the projections
// in the `secrets` column family (store/FORMAT.md "secrets"). store/ only.
//
// They come beside the events (AppendRequest::secrets), only with the SandboxRequested
// that creates their sandbox and records them (spec.image_auth_provided, expected
// no_stream), are written in the same batch, and are deleted in the batch of the event
// that takes the sandbox out of Pending (started, failed, stopping, terminated) or out of
// the projection. Only the provisioner reads them (EventStore::sandbox_secrets).
//
// The same family also holds one record that is not a sandbox's: the store's egress token
// key (kEgressTokenKeyName, 32 random bytes made at the first read-write open and kept
// across reopens). Sandbox ids never start with '\0', so it cannot collide with one.
//
// Thread-safety: pure functions over their arguments; read_secrets holds the context's
// lifetime lock itself.
#pragma once

#include <rocksdb/write_batch.h>

#include <optional>
#include <string_view>

#include "events/result.h"
#include "events/sandbox.h"
#include "store/event_store.h"
#include "store/store_context.h"

namespace sbx::store_detail {

// kInvalidArgument (field "secrets") unless `request` may carry its secrets (see above).
[[nodiscard]] Result<void> check_secrets(const AppendRequest& request);

// Stages the put of the request's secrets (the request carries some) under its sandbox.
void stage_secrets(rocksdb::WriteBatch& batch, const StoreContext& ctx,
                   const AppendRequest& request);

// Stages the deletion of sandbox `id`'s secrets when the change from `before` to `after`
// (null: no projection) takes it out of Pending or out of the projection.
void stage_secrets_release(rocksdb::WriteBatch& batch, const StoreContext& ctx,
                           std::string_view id, const Sandbox* before, const Sandbox* after);

// The secrets of a sandbox that is still Pending (nullopt: none). kFailedPrecondition on a
// read-only store, kUnavailable once closed, kDataLoss if the record does not decode.
[[nodiscard]] Result<std::optional<SandboxSecrets>> read_secrets(const StoreContext& ctx,
                                                                 std::string_view sandbox_id);

// The key under which the egress token key is kept in `secrets`.
inline constexpr std::string_view kEgressTokenKeyName{"\0egress-token-key", 17};

// Loads the egress token key into ctx.egress_token_key; a read-write open of a store that
// has none makes one (32 bytes from getrandom) in a synced write of its own. A read-only
// open (or one whose disk refused writes) takes what is there ("" when none). kInternal when no randomness can be had, RocksDB errors otherwise.
[[nodiscard]] Result<void> load_egress_token_key(StoreContext& ctx);

}  // namespace sbx::store_detail
