#include "store/store_context.h"

namespace sbx::store_detail {

Result<std::optional<std::string>> StoreContext::get(rocksdb::ColumnFamilyHandle* cf,
                                                     std::string_view key) const {
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cf, key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return std::unexpected(layout::to_error(s, "read " + cf->GetName()));
  return std::optional<std::string>(std::move(value));
}

}  // namespace sbx::store_detail
