// What the store did for each repo and for the whole hub (GET /api/grove/storage and
// `grove storage stats`): raw bytes, stored bytes, and the saving per technique.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace grove::hub {

// Reads data_dir/grove.db and data_dir/storage. Private repos are listed only for `viewer`
// (their namespace); totals always cover the whole store.
Result<nlohmann::json> storage_stats_json(const std::string& data_dir, const std::optional<std::string>& viewer,
                                          bool include_private);

// The same answer for a running hub, from figures kept between requests: the store's statistics
// are rescanned only after its index changed, and the registry's file references re-read only
// after a registry write (its write generation) or a few seconds (another process may write).
// Thread-safe.
class StorageFigures {
 public:
  explicit StorageFigures(std::string data_dir);
  ~StorageFigures();
  Result<nlohmann::json> answer(std::uint64_t registry_generation, const std::optional<std::string>& viewer);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace grove::hub
