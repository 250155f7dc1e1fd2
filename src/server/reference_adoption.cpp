#include "src/server/reference_adoption.h"

#include <utility>
#include <vector>

#include "api/field_grammar.h"
#include "src/common/log.h"
#include "src/service/adoption.h"

namespace sbx {

Result<AdoptionSummary> adopt_reference_sandboxes(DockerRuntime& runtime, EventStore& store,
                                                  const Clock& clock, const std::string& actor) {
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
    candidates.push_back(std::move(*c.adopted));
  }
  AdoptionOptions options;
  options.actor = actor;
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
