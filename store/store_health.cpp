#include "store/store_health.h"

#include <rocksdb/iterator.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "store/keys.h"

namespace sbx::store_detail {

CorruptEvent StoreHealth::note_corrupt(std::uint64_t position, std::string_view raw,
                                       std::string message) const {
  {
    std::lock_guard l(corrupt_mu_);
    if (auto it = corrupt_.find(position); it != corrupt_.end()) return it->second;
  }
  CorruptEvent c;
  c.position = position;
  c.message = std::move(message);
  const std::string pos = keys::u64_key(position);
  // The record's own stream and version, if it still says them and the index agrees.
  auto j = nlohmann::json::parse(raw, nullptr, false);
  if (j.is_object() && j.contains("stream") && j["stream"].is_string() && j.contains("version") &&
      j["version"].is_number_unsigned()) {
    const auto stream = j["stream"].get<std::string>();
    auto v = ctx_.get(ctx_.log.streams, keys::stream_key(stream, j["version"].get<std::uint64_t>()));
    if (v && *v && **v == pos) c.stream = stream;
  }
  if (c.stream.empty()) {
    // Otherwise the stream index entry that points here (a scan: corruption is rare).
    std::unique_ptr<rocksdb::Iterator> it(
        ctx_.db->NewIterator(rocksdb::ReadOptions(), ctx_.log.streams));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (sv(it->value()) != pos) continue;
      if (auto k = keys::parse_stream_key(sv(it->key()))) c.stream = k->stream;
      break;
    }
  }
  std::lock_guard l(corrupt_mu_);
  auto [it, inserted] = corrupt_.emplace(position, c);
  if (inserted) {
    ctx_.logger.error("corrupt event at position " + std::to_string(position) + " (stream " +
                      (c.stream.empty() ? std::string("unknown") : c.stream) +
                      "): " + c.message + "; readers skip it");
  }
  return it->second;
}

std::uint64_t StoreHealth::corrupt_events_found() const {
  std::lock_guard l(corrupt_mu_);
  return corrupt_.size();
}

Result<void> StoreHealth::refuse_write() const {
  if (!ctx_.unwritable_open) return {};
  return fail(ErrorCode::kUnavailable,
              "storage unavailable: the data directory refused writes at start (disk full?); "
              "reads keep working, writes fail until sandboxd restarts with a writable disk",
              "store");
}

}  // namespace sbx::store_detail
