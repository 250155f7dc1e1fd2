#include "api/openapi_document.h"

#include <cstddef>

// Generated at build time from api/openapi.json (scripts/embed_file.cmake, see the
// CMakeLists.txt next to sbx_api).
namespace sbx::api::embedded {
extern const unsigned char kOpenApiJson[];
extern const std::size_t kOpenApiJsonSize;
}  // namespace sbx::api::embedded

namespace sbx::api {

std::string_view openapi_document() {
  return {reinterpret_cast<const char*>(embedded::kOpenApiJson), embedded::kOpenApiJsonSize};
}

}  // namespace sbx::api
