// Secrets: the registry credentials of a create, kept out of the log and the projections
// in the `secrets` column family (store/FORMAT.md "secrets"). store/ only.
//
// They come beside the events (AppendRequest::secrets), only with the SandboxRequested
// that creates their sandbox and records them (spec.image_auth_provided, expected
// no_stream), are written in the same batch, and are deleted in the batch of the event
// that takes the sandbox out of Pending (started, failed, stopping, terminated) or out of
// the projection. Only the provisioner reads them (EventStore::sandbox_secrets).
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

}  // namespace sbx::store_detail
