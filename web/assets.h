// Web assets compiled into the binary (see CMakeLists.txt); served by hub/.
#pragma once

#include <string_view>

namespace grove::web {

// The single-page UI: model list at "/", a model at "/{ns}/{name}".
std::string_view index_html();

}  // namespace grove::web
