#include "src/common/uuid.h"

#include <uuid/uuid.h>

#include <cctype>

namespace sbx {

std::string new_uuid() {
  uuid_t u;
  uuid_generate_random(u);
  char out[37];
  uuid_unparse_lower(u, out);
  return std::string(out, 36);
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace sbx
