// Names that arrive from the network: repo ids and file paths inside a repo.
#pragma once

#include <string_view>

#include "common/status.h"

namespace grove::registry {

// A namespace or repo name: [A-Za-z0-9_.-]{1,96}, no "--" or "..", not starting or ending with
// '-' or '.', not ending in ".git".
Status validate_repo_name(std::string_view name);

// A file path inside a repo: relative, '/'-separated, no empty, "." or ".." segments, no NUL,
// no backslash, no control characters, at most 1024 bytes, not inside ".git/".
Status validate_repo_path(std::string_view path);

}  // namespace grove::registry
