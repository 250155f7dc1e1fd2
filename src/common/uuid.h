// Time-ordered (version 7) UUIDs in the canonical lowercase 8-4-4-4-12 form. Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace sbx {

std::string new_uuid();
bool is_uuid(std::string_view s);  // canonical form, any version, case-insensitive

}  // namespace sbx
