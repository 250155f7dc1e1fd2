#include "api/docs_pages.h"

namespace sbx::api {
namespace {

std::string fill(std::string_view page, std::string_view base) {
  constexpr std::string_view kMark = "{{ASSETS}}";
  std::string out;
  out.reserve(page.size() + 4 * base.size());
  std::size_t pos = 0;
  while (true) {
    const auto at = page.find(kMark, pos);
    out.append(page.substr(pos, at == std::string_view::npos ? page.npos : at - pos));
    if (at == std::string_view::npos) break;
    out.append(base);
    pos = at + kMark.size();
  }
  return out;
}

}  // namespace

std::string swagger_ui_page(std::string_view assets_base) {
  static constexpr std::string_view kPage = R"html(<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>sandboxd - Swagger UI</title>
  <link rel="stylesheet" href="{{ASSETS}}/swagger-ui-dist@5.32.0/swagger-ui.css"
        integrity="sha384-3nuX7df3EaAoiqLBeyS1Ola0Gpg9ryJKVtarubwfnA1cOH8AWHUdbPSIvEqPZ9VH"
        crossorigin="anonymous">
</head>
<body>
  <div id="swagger-ui"></div>
  <noscript>The interactive documentation needs JavaScript. The OpenAPI document itself is at
    <a href="/openapi.json">/openapi.json</a>.</noscript>
  <script src="{{ASSETS}}/swagger-ui-dist@5.32.0/swagger-ui-bundle.js"
          integrity="sha384-7xcoc6ZKDFF7Ek627QTC3Bg/K+5Y36NJ8MWAE43D2m6+3Sh9XO3tdsfHhrS8gNIQ"
          crossorigin="anonymous"></script>
  <script>
    window.onload = function () {
      window.ui = SwaggerUIBundle({
        url: "/openapi.json",
        dom_id: "#swagger-ui",
        deepLinking: true,
        persistAuthorization: true
      });
    };
  </script>
</body>
</html>
)html";
  return fill(kPage, assets_base);
}

std::string redoc_page(std::string_view assets_base) {
  static constexpr std::string_view kPage = R"html(<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>sandboxd - ReDoc</title>
  <style>body { margin: 0; padding: 0; }</style>
</head>
<body>
  <redoc spec-url="/openapi.json"></redoc>
  <noscript>The documentation viewer needs JavaScript. The OpenAPI document itself is at
    <a href="/openapi.json">/openapi.json</a>.</noscript>
  <script src="{{ASSETS}}/redoc@2.5.2/bundles/redoc.standalone.js"
          integrity="sha384-70P5pmIdaQdVbxvjhrcTDv1uKcKqalZ3OHi7S2J+uzDl0PW8dO6L+pHOpm9EEjGJ"
          crossorigin="anonymous"></script>
</body>
</html>
)html";
  return fill(kPage, assets_base);
}

}  // namespace sbx::api
