// Internal to registry/: the registry's SQL schema as an ordered list of migrations.
#pragma once

#include "common/status.h"
#include "common/sqlite_util.h"

namespace grove::registry {

// The schema version this code writes: the number of migrations (PRAGMA user_version).
int schema_version();

// Applies every migration past the database's user_version, each in its own transaction, so a
// crash leaves the database at some whole version. A no-op when up to date. A database whose
// version is newer than this code is refused (kInvalidArgument) and left untouched.
Status migrate(sql::Db& db);

}  // namespace grove::registry
