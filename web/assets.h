// Web assets compiled into the binary (see CMakeLists.txt: bundled by esbuild at build time,
// embedded by embed.cmake); served by hub/web.cpp.
#pragma once

#include <string_view>

namespace grove::web {

struct Asset {
  std::string_view name;          // "app.js"
  std::string_view body;
  std::string_view content_type;  // "text/javascript; charset=utf-8"
};

// The single-page UI's shell: model list at "/", a model at "/{ns}/{name}".
std::string_view index_html();

// The asset named `name` ("index.html", "app.js", "app.css"), or nullptr.
const Asset* find_asset(std::string_view name);

}  // namespace grove::web
