// UUIDs in the canonical lowercase 8-4-4-4-12 form: time-ordered (version 7) ones for ids
// made in bulk (event ids, sandbox ids), random (version 4) ones for identities (a store's
// instance id). Part of the ground module: the store and the migrations make event ids
// with it; src/common/uuid.h forwards here for everyone else. Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace sbx {

std::string new_uuid();
// A random (version 4) UUID from the OS entropy source, for identities that must not be
// guessable or ordered (a store's instance id). Slower than new_uuid(): not for hot paths.
std::string new_random_uuid();
bool is_uuid(std::string_view s);  // canonical form, any version, case-insensitive

}  // namespace sbx
