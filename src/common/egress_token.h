// The token of a sandbox's egress sidecar (OPENSANDBOX_EGRESS_TOKEN in its environment, the
// OPENSANDBOX-EGRESS-AUTH header of its endpoint 18080 and of every policy call sandboxd
// forwards to it).
//
// It is derived, not stored: HMAC-SHA256(store key, sandbox id) as 64 lowercase hex digits
// (256 bits), where the store key is EventStore::egress_token_key() (32 random bytes kept
// in the store's `secrets` family, never in the log). So the provisioner, the endpoint
// resolver and the policy routes all compute the same token, across restarts, without a
// per-sandbox record that could leak into the log or outlive its sandbox; knowing one
// sandbox's token says nothing about another's or about the key.
//
// Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace sbx {

inline constexpr std::string_view kEgressAuthHeader = "OPENSANDBOX-EGRESS-AUTH";
inline constexpr int kEgressPort = 18080;

// "" when `key` is empty (a store without a key: no token can be made).
std::string egress_token(std::string_view key, std::string_view sandbox_id);

}  // namespace sbx
