// Test support: damage a CLOSED store's data directory the way a bad disk or a bug would,
// with raw RocksDB writes (store/layout.h), so that the next EventStore::open meets it.
// Header-only: only test binaries that link sbx_store (directly or through a module)
// include it.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "store/keys.h"
#include "store/layout.h"

namespace sbx::testing {

inline constexpr std::string_view kGarbage = "{\"position\":\x01 not json at all";

// Overwrites the log record at `position` (the store must be closed).
inline void corrupt_event(const std::string& path, std::uint64_t position,
                          std::string_view bytes = kGarbage) {
  auto db = layout::RawDb::open(path, /*create_if_missing=*/false);
  ASSERT_TRUE(db) << db.error().message;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  auto s = (*db)->db()->Put(wo, (*db)->cf(layout::kEvents), keys::event_key(position),
                            rocksdb::Slice(bytes.data(), bytes.size()));
  ASSERT_TRUE(s.ok()) << s.ToString();
}

// Overwrites the sandboxes projection record of `sandbox_id` (the store must be closed).
inline void corrupt_sandbox_record(const std::string& path, std::string_view sandbox_id,
                                   std::string_view bytes = kGarbage) {
  auto db = layout::RawDb::open(path, /*create_if_missing=*/false);
  ASSERT_TRUE(db) << db.error().message;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  auto s = (*db)->db()->Put(wo, (*db)->cf(layout::kSandboxes),
                            rocksdb::Slice(sandbox_id.data(), sandbox_id.size()),
                            rocksdb::Slice(bytes.data(), bytes.size()));
  ASSERT_TRUE(s.ok()) << s.ToString();
}

}  // namespace sbx::testing
