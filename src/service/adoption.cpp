#include "src/service/adoption.h"

#include <iterator>
#include <map>
#include <utility>

#include "events/decider.h"
#include "events/uuid.h"

namespace sbx {

std::string_view to_string(AdoptionResult r) {
  switch (r) {
    case AdoptionResult::kAdopted:
      return "adopted";
    case AdoptionResult::kAlreadyKnown:
      return "already known";
    case AdoptionResult::kRefused:
      return "refused";
    case AdoptionResult::kFailed:
      return "failed";
  }
  return "failed";
}

namespace {

// Leaves out the entries the API would refuse; returns what was left out ("" if nothing).
std::string cut_metadata(std::map<std::string, std::string>& metadata,
                         const AdoptionOptions& options) {
  std::string dropped;
  auto note = [&](const std::string& key, const std::string& why) {
    if (!dropped.empty()) dropped += "; ";
    dropped += std::string("metadata \"") + key.substr(0, 80) + "\" left out: " + why;
  };
  for (auto it = metadata.begin(); it != metadata.end();) {
    std::string why;
    if (options.metadata_key_problem) why = options.metadata_key_problem(it->first);
    if (why.empty() && options.metadata_value_problem)
      why = options.metadata_value_problem(it->second);
    if (!why.empty()) {
      note(it->first, why);
      it = metadata.erase(it);
    } else {
      ++it;
    }
  }
  while (metadata.size() > kMaxMetadataEntries) {
    auto last = std::prev(metadata.end());
    note(last->first, std::string("more than ") + std::to_string(kMaxMetadataEntries) + " entries");
    metadata.erase(last);
  }
  return dropped;
}

}  // namespace

std::vector<AdoptionOutcome> adopt_sandboxes(EventStore& store,
                                             std::vector<SandboxAdopted> candidates, Micros now,
                                             const AdoptionOptions& options) {
  std::vector<AdoptionOutcome> out;
  out.reserve(candidates.size());
  for (SandboxAdopted& a : candidates) {
    AdoptionOutcome o;
    o.sandbox_id = a.sandbox_id;
    if (a.sandbox_id.empty()) {
      o.result = AdoptionResult::kRefused;
      o.detail = "no sandbox id";
      out.push_back(std::move(o));
      continue;
    }
    if (a.state != SandboxState::kRunning && a.state != SandboxState::kPaused) {
      o.result = AdoptionResult::kRefused;
      o.detail = std::string("only Running or Paused sandboxes are adopted, not ") +
                 std::string(to_string(a.state));
      out.push_back(std::move(o));
      continue;
    }
    const std::string stream = stream_of(a.sandbox_id);
    if (store.stream_version(stream) > 0) {
      o.result = AdoptionResult::kAlreadyKnown;
      out.push_back(std::move(o));
      continue;
    }
    o.detail = cut_metadata(a.metadata, options);
    o.expired = a.expires_at && *a.expires_at <= now;

    Event e;
    e.event_id = new_uuid();
    e.time = now;
    e.actor = options.actor;
    e.reason = Reason::kRuntime;
    e.data = std::move(a);
    AppendRequest request;
    request.stream = stream;
    request.expected = ExpectedVersion::no_stream();
    request.events.push_back(std::move(e));
    auto r = store.append(std::move(request));
    if (r) {
      o.result = AdoptionResult::kAdopted;
    } else if (r.error().code == ErrorCode::kConflict && store.stream_version(stream) > 0) {
      o.result = AdoptionResult::kAlreadyKnown;  // appeared meanwhile
      o.detail.clear();
    } else {
      o.result = AdoptionResult::kFailed;
      o.detail = r.error().message;
    }
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace sbx
