// The HTML pages of /docs (Swagger UI) and /redoc (ReDoc). Both load /openapi.json; the
// viewer scripts are the swagger-ui-dist and redoc packages, loaded from `assets_base`
// (ApiOptions::docs_assets_base: a CDN by default, or wherever an operator mirrors them),
// as any such page does. The pages themselves are served by sandboxd. Exact versions
// (swagger-ui-dist 5.32.0, redoc 2.5.2) with Subresource Integrity hashes (sha384 of the
// files in the npm packages, which the CDN serves byte for byte): a changed or hijacked
// asset is refused by the browser instead of running with the page's origin. A mirror must
// serve the same bytes. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace sbx::api {

inline constexpr std::string_view kDefaultDocsAssetsBase = "https://cdn.jsdelivr.net/npm";

std::string swagger_ui_page(std::string_view assets_base);
std::string redoc_page(std::string_view assets_base);

}  // namespace sbx::api
