// Facts about one revision of a model that only its stored files tell: parameter counts by
// dtype from the safetensors headers, and the parsed config.json. Model info reports them as
// `safetensors` {parameters: {DTYPE: count}, total} and `config` (specs/hf-protocol.md §3.1).
//
// Computing them reads blobs (8 bytes plus the JSON header of each *.safetensors file), so the
// result is cached in memory by commit id: a commit id names its whole tree, so the same id
// means the same facts in every repo.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "registry/registry.h"
#include "storage/blob_store.h"

namespace grove::hub {

// config.json files this large or larger are left out of model info.
inline constexpr std::uint64_t kMaxConfigBytes = 1u << 20;

// {"safetensors": {...}} when the revision has readable *.safetensors files, and
// {"config": {...}} when it has a config.json object under kMaxConfigBytes. A file that cannot
// be read or parsed is skipped; storage failures other than that are returned.
Result<nlohmann::json> read_model_facts(storage::BlobStore& store, const std::vector<registry::FileEntry>& files);

class ModelFactsCache {
 public:
  explicit ModelFactsCache(std::size_t max_entries = 4096) : max_entries_(max_entries) {}

  // The facts for `commit_id` (whose files are `files`), read on first use.
  Result<nlohmann::json> get(storage::BlobStore& store, const std::string& commit_id,
                             const std::vector<registry::FileEntry>& files);

 private:
  const std::size_t max_entries_;
  std::mutex mu_;
  std::map<std::string, nlohmann::json> facts_;  // guarded by mu_; cleared when full
};

}  // namespace grove::hub
