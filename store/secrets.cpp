#include "store/secrets.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <variant>

#include "store/keys.h"

namespace sbx::store_detail {

Result<void> check_secrets(const AppendRequest& req) {
  // Only with the create that records them: their deletion (stage_secrets_release) keys on
  // spec.image_auth_provided, so secrets of any other append would never be deleted.
  const auto* created = !sandbox_id_of(req.stream).empty() &&
                                req.expected.kind == ExpectedVersion::Kind::kNoStream
                            ? std::get_if<SandboxRequested>(&req.events.front().data)
                            : nullptr;
  if (created == nullptr || !created->spec.image_auth_provided) {
    return fail(ErrorCode::kInvalidArgument,
                "secrets are written only with the SandboxRequested that creates their sandbox "
                "and records them (spec.imageAuth.provided, expected version: no stream)",
                "secrets");
  }
  return {};
}

void stage_secrets(rocksdb::WriteBatch& batch, const StoreContext& ctx,
                   const AppendRequest& request) {
  (void)batch.Put(ctx.secrets, sandbox_id_of(request.stream),
                  keys::secrets_value(*request.secrets));
}

void stage_secrets_release(rocksdb::WriteBatch& batch, const StoreContext& ctx,
                           std::string_view id, const Sandbox* before, const Sandbox* after) {
  // Credentials serve the provisioning of a Pending sandbox only: they go in the batch of
  // the event that takes it out of Pending (started, failed, stopping) or out of the
  // projection. A sandbox never returns to Pending. (Without a projection on either side,
  // a create and its end in one group, the spec is unknown: delete anyway.)
  auto pending = [](const Sandbox* s) {
    return s != nullptr && s->state == SandboxState::kPending;
  };
  const Sandbox* known = after != nullptr ? after : before;
  if (!pending(after) && (before == nullptr || pending(before)) &&
      (known == nullptr || known->spec.image_auth_provided)) {
    (void)batch.Delete(ctx.secrets, id);
  }
}

Result<std::optional<SandboxSecrets>> read_secrets(const StoreContext& ctx,
                                                   std::string_view sandbox_id) {
  if (ctx.options.read_only) {
    return fail(ErrorCode::kFailedPrecondition,
                "secrets are read by the provisioner of the server that owns the store only");
  }
  ReadLock life(ctx);
  if (!life.ok()) return std::unexpected(closed_error());
  auto v = ctx.get(ctx.secrets, sandbox_id);
  if (!v) return std::unexpected(v.error());
  if (!*v) return std::optional<SandboxSecrets>();
  auto parsed = keys::parse_secrets_value(**v);
  if (!parsed) {
    return fail(ErrorCode::kDataLoss,
                "secrets record of sandbox " + std::string(sandbox_id) + " is malformed");
  }
  return std::optional<SandboxSecrets>(std::move(*parsed));
}

Result<void> load_egress_token_key(StoreContext& ctx) {
  if (ctx.secrets == nullptr) return {};
  auto v = ctx.get(ctx.secrets, kEgressTokenKeyName);
  if (!v) return std::unexpected(v.error());
  if (*v && (*v)->size() == 32) {
    ctx.egress_token_key = std::move(**v);
    return {};
  }
  if (!ctx.may_write()) return {};
  std::string key(32, '\0');
  std::size_t got = 0;
  while (got < key.size()) {
    const ssize_t n = ::getrandom(key.data() + got, key.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::kInternal,
                  std::string("no randomness for the egress token key: ") + std::strerror(errno));
    }
    got += static_cast<std::size_t>(n);
  }
  rocksdb::WriteBatch batch;
  (void)batch.Put(ctx.secrets, kEgressTokenKeyName, key);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (auto s = ctx.db->Write(wo, &batch); !s.ok()) {
    return fail(ErrorCode::kInternal, "write the egress token key: " + s.ToString());
  }
  ctx.egress_token_key = std::move(key);
  return {};
}

}  // namespace sbx::store_detail
