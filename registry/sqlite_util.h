// Moved to common/sqlite_util.h (shared with storage). This alias keeps registry::sql:: names
// working for code not yet updated.
#pragma once

#include "common/sqlite_util.h"

namespace grove::registry {
namespace sql = ::grove::sql;
}  // namespace grove::registry
