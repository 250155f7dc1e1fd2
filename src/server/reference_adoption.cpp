#include "src/server/reference_adoption.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "api/field_grammar.h"
#include "src/common/log.h"
#include "src/service/adoption.h"

namespace sbx {
namespace {

// A reference override file as JSON; nullopt when absent; a JSON null with a warning when
// it cannot be used (not a regular file, too large, unreadable, not JSON).
std::optional<nlohmann::json> read_override(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  auto log = logger("adopt");
  constexpr std::uintmax_t kMaxBytes = 1 << 20;
  if (!std::filesystem::is_regular_file(path, ec) ||
      std::filesystem::file_size(path, ec) > kMaxBytes || ec) {
    log->warn("ignoring {}: not a regular file of at most 1 MiB", path.string());
    return nlohmann::json();
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    log->warn("ignoring {}: not JSON", path.string());
    return nlohmann::json();
  }
  return j;
}

// What the reference server changed after the create: its override files win.
void apply_overrides(const std::filesystem::path& dir, SandboxAdopted& a) {
  if (dir.empty()) return;
  auto log = logger("adopt");
  if (auto m = read_override(dir / (a.sandbox_id + ".json")); m && !m->is_null()) {
    if (m->is_object()) {
      std::map<std::string, std::string> metadata;
      for (const auto& [k, v] : m->items())
        if (v.is_string()) metadata.emplace(k, v.get<std::string>());
      a.metadata = std::move(metadata);
      log->info("sandbox {}: metadata from the reference server's {}", a.sandbox_id,
                (dir / (a.sandbox_id + ".json")).string());
    } else {
      log->warn("sandbox {}: ignoring its reference metadata file: not a JSON object",
                a.sandbox_id);
    }
  }
  const auto expiration = dir / "_expiration" / (a.sandbox_id + ".json");
  if (auto e = read_override(expiration); e && !e->is_null()) {
    const nlohmann::json& v =
        e->is_object() && e->contains("expires_at") ? (*e)["expires_at"] : nlohmann::json();
    auto t = v.is_string() ? parse_rfc3339(v.get<std::string>()) : std::nullopt;
    if (t) {
      a.expires_at = *t;
      log->info("sandbox {}: expiry {} from the reference server's {} (a renewal)", a.sandbox_id,
                format_rfc3339(*t), expiration.string());
    } else {
      log->warn("sandbox {}: ignoring {}: no expires_at time with an offset", a.sandbox_id,
                expiration.string());
    }
  }
}

}  // namespace

std::filesystem::path default_reference_metadata_dir() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return {};
  return std::filesystem::path(home) / ".opensandbox" / "metadata";
}

Result<AdoptionSummary> adopt_reference_sandboxes(DockerRuntime& runtime, EventStore& store,
                                                  const Clock& clock,
                                                  const ReferenceAdoptionOptions& ref) {
  auto log = logger("adopt");
  auto found = runtime.reference_sandboxes();
  if (!found) return std::unexpected(found.error());
  AdoptionSummary summary;
  std::vector<SandboxAdopted> candidates;
  std::vector<std::string> names;
  for (auto& c : *found) {
    ++summary.found;
    if (!c.adopted) {
      // Already ours? Then it is no news that it cannot be adopted again.
      if (store.stream_version(stream_of(c.sandbox_id)) > 0) {
        ++summary.already_known;
        continue;
      }
      ++summary.skipped;
      log->warn("reference sandbox {} (container {}) left alone: {}", c.sandbox_id,
                c.container_name, c.skipped);
      continue;
    }
    names.push_back(c.container_name);
    if (store.stream_version(stream_of(c.sandbox_id)) == 0) {
      apply_overrides(ref.metadata_dir, *c.adopted);
    }
    candidates.push_back(std::move(*c.adopted));
  }
  AdoptionOptions options;
  options.actor = ref.actor;
  options.metadata_key_problem = [](std::string_view k) { return api::metadata_key_problem(k); };
  options.metadata_value_problem = [](std::string_view v) {
    return api::metadata_value_problem(v);
  };
  // Kept for the log lines (adopt_sandboxes consumes the candidates).
  std::vector<SandboxAdopted> shown = candidates;
  const auto outcomes = adopt_sandboxes(store, std::move(candidates), clock.now(), options);
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const AdoptionOutcome& o = outcomes[i];
    const SandboxAdopted& a = shown[i];
    switch (o.result) {
      case AdoptionResult::kAdopted: {
        ++summary.adopted;
        std::string ports;
        for (const auto& [container, host] : a.spec.ports) {
          ports += std::string(ports.empty() ? "" : ", ") + std::to_string(container) + "->" +
                   std::to_string(host);
        }
        log->info("adopted reference sandbox {} (container {}): {}, image {}, ports [{}], {}",
                  o.sandbox_id, names[i], to_string(a.state), a.spec.image_uri, ports,
                  a.expires_at ? std::string("expires ") + format_rfc3339(*a.expires_at)
                               : std::string("manual cleanup"));
        if (o.expired) {
          ++summary.expired;
          log->info("sandbox {}: its deadline has passed; it expires now", o.sandbox_id);
        }
        if (!o.detail.empty()) log->warn("sandbox {}: {}", o.sandbox_id, o.detail);
        break;
      }
      case AdoptionResult::kAlreadyKnown:
        ++summary.already_known;
        break;
      case AdoptionResult::kRefused:
        ++summary.skipped;
        log->warn("reference sandbox {} left alone: {}", o.sandbox_id, o.detail);
        break;
      case AdoptionResult::kFailed:
        ++summary.failed;
        log->error("adopting reference sandbox {} failed: {}", o.sandbox_id, o.detail);
        break;
    }
  }
  log->info("reference server sandboxes: {} found, {} adopted ({} already expired), {} already "
            "known, {} left alone, {} failed",
            summary.found, summary.adopted, summary.expired, summary.already_known,
            summary.skipped, summary.failed);
  return summary;
}

}  // namespace sbx
