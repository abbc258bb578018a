// What the store did for each repo and for the whole hub (GET /api/grove/storage and
// `grove storage stats`): raw bytes, stored bytes, and the saving per technique.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace grove::hub {

// Reads data_dir/grove.db and data_dir/storage. Private repos are listed only for `viewer`
// (their namespace); totals always cover the whole store.
Result<nlohmann::json> storage_stats_json(const std::string& data_dir, const std::optional<std::string>& viewer,
                                          bool include_private);

}  // namespace grove::hub
