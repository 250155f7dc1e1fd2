// StringMap: an unordered_map keyed by std::string that finds by std::string_view without
// building a string (transparent hashing). store/ only. Not thread-safe (as unordered_map).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sbx::store_detail {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

}  // namespace sbx::store_detail
