// Names that arrive from the network: repo ids, file paths inside a repo, and ref names.
#pragma once

#include <string_view>

#include "common/status.h"

namespace grove::registry {

// A namespace or repo name: [A-Za-z0-9_.-]{1,96}, no "--" or "..", not starting or ending with
// '-' or '.', not ending in ".git".
Status validate_repo_name(std::string_view name);

// A file path inside a repo: relative, '/'-separated, no empty, "." or ".." segments, no NUL,
// no backslash, no control characters, at most 1024 bytes, not inside ".git/" (no segment is
// ".git", in any case), and valid UTF-8 (paths are echoed in JSON).
Status validate_repo_path(std::string_view path);

// A branch or tag name, by git's check-ref-format rules: 1..255 bytes, '/'-separated segments
// that are non-empty, do not start with '.' or end with ".lock"; no "..", "@{", control
// characters, space or any of ~^:?*[\; not ending in '.'. Also refused, because revisions
// would become ambiguous: "HEAD" and 40 hex digits.
Status validate_ref_name(std::string_view name);

}  // namespace grove::registry
