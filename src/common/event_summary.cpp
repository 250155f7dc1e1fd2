#include "src/common/event_summary.h"

#include <map>
#include <optional>
#include <string>
#include <variant>

#include "events/time.h"

namespace sbx {
namespace {

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};


std::string join_map(const std::map<std::string, std::string>& m) {
  std::string out;
  for (const auto& [k, v] : m) {
    if (!out.empty()) out += ',';
    out += k + "=" + v;
  }
  return out;
}

std::string exit_code(const std::optional<int>& code) {
  return code ? " exitCode=" + std::to_string(*code) : std::string();
}

// "buffer=1..4 pool=0..8": the bounds of a pool's capacity.
std::string capacity(const PoolCapacity& c) {
  return std::string("buffer=") + std::to_string(c.buffer_min) + ".." + std::to_string(c.buffer_max) +
         " pool=" + std::to_string(c.pool_min) + ".." + std::to_string(c.pool_max);
}

// "member=web/3": the pool and generation a member was made for.
std::string pool_member(const SandboxSpec& spec) {
  return std::string("member=") + spec.pool_name + "/" + std::to_string(spec.pool_generation);
}

// Cuts to `width` characters (bytes of a UTF-8 sequence are kept together).
std::string shorten(std::string s, std::size_t width) {
  if (s.size() <= width) return s;
  std::size_t cut = width - 3;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  return s + "...";
}

}  // namespace

std::string data_summary(const EventData& data) {
  std::string s = std::visit(
      Overloaded{
          [](const SandboxRequested& e) {
            std::string out = e.spec.image_uri.empty() ? "snapshot=" + e.spec.snapshot_id
                                                       : "image=" + e.spec.image_uri;
            if (e.spec.image_auth_provided) out += " auth=yes";
            out += e.expires_at ? " expires=" + format_rfc3339(*e.expires_at) : " expires=never";
            if (!e.metadata.empty()) out += " metadata=" + join_map(e.metadata);
            if (!e.spec.pool_name.empty()) {
              out += ' ';
              out += pool_member(e.spec);
            }
            return out;
          },
          [](const ProvisioningStarted& e) { return "worker=" + e.worker; },
          [](const SandboxStarted& e) { return "runtimeId=" + e.runtime_id; },
          [](const ProvisioningFailed& e) { return e.error_code + ": " + e.message; },
          [](const PauseFailed& e) { return e.message; },
          [](const ResumeFailed& e) { return e.message; },
          [](const ExpirationRenewed& e) { return "expires=" + format_rfc3339(e.expires_at); },
          [](const NetworkPolicyChanged& e) { return e.method + " " + e.policy; },
          [](const MetadataPatched& e) {
            std::string out;
            if (!e.set.empty()) out = "set " + join_map(e.set);
            if (!e.removed.empty()) {
              if (!out.empty()) out += ' ';
              out += "removed ";
              for (std::size_t i = 0; i < e.removed.size(); ++i) {
                out += (i ? "," : "") + e.removed[i];
              }
            }
            return out;
          },
          [](const SandboxTerminated& e) {
            std::string out = e.message + exit_code(e.exit_code);
            return out;
          },
          [](const SandboxFailed& e) {
            return e.error_code + ": " + e.message + exit_code(e.exit_code);
          },
          [](const ServerStarted& e) {
            return "version=" + e.version + " live=" + std::to_string(e.live_sandboxes);
          },
          [](const OrphanRemoved& e) {
            return "runtimeId=" + e.runtime_id + " sandbox=" + e.sandbox_id;
          },
          [](const ReconcileFinding& e) {
            return e.kind + " sandbox=" + e.sandbox_id + (e.detail.empty() ? "" : " " + e.detail);
          },
          [](const MigrationApplied& e) {
            return "schema=" + std::to_string(e.schema_version) + " " + e.name;
          },
          [](const SnapshotRequested& e) {
            return "sandbox=" + e.sandbox_id + " image=" + e.image_ref +
                   (e.name.empty() ? "" : " name=" + e.name);
          },
          [](const SnapshotReady& e) { return "imageId=" + e.image_id; },
          [](const SandboxClaimed& e) {
            std::string out = e.expires_at
                                  ? std::string("expires=") + format_rfc3339(*e.expires_at)
                                  : std::string("expires=never");
            if (!e.metadata.empty()) out += " metadata=" + join_map(e.metadata);
            return out;
          },
          [](const PoolCreated& e) {
            return e.name + " image=" + e.template_spec.image_uri + " " + capacity(e.capacity);
          },
          [](const PoolCapacityChanged& e) { return capacity(e.capacity); },
          [](const SnapshotFailed& e) { return e.error_code + ": " + e.message; },
          [](const SandboxAdopted& e) {
            // The summary column is short: the source and runtime id are in the JSON lines.
            std::string out = std::string(to_string(e.state)) + " image=" + e.spec.image_uri;
            out += e.expires_at ? " expires=" + format_rfc3339(*e.expires_at) : " expires=never";
            if (!e.metadata.empty()) out += " metadata=" + join_map(e.metadata);
            return out;
          },
          [](const auto&) { return std::string(); },
      },
      data);
  std::string out = one_line(s);
  // Trim leading spaces (e.g. a SandboxTerminated without message).
  out.erase(
      0, out.find_first_not_of(' ') == std::string::npos ? out.size() : out.find_first_not_of(' '));
  return shorten(std::move(out), kSummaryWidth);
}

std::string one_line(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  return out;
}

}  // namespace sbx
