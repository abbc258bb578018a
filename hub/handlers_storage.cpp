// GET /api/grove/storage: storage statistics (hub/storage_stats.h).
//
// Per file, storage counts each frame for the oldest file naming it (maintenance.h); a file in
// several repos counts for the first repo listing it, so the per-repo stored bytes add up to
// the store's. A repo's raw bytes are all of its distinct files (every revision); its dedup
// saving is what it did not have to store because the bytes were already there.
#include <map>
#include <set>

#include "hub/handlers.h"
#include "hub/hub.h"
#include "hub/storage_stats.h"
#include "registry/registry.h"
#include "storage/maintenance.h"

namespace grove::hub {
namespace {

using nlohmann::json;

struct Totals {
  std::uint64_t files = 0, raw = 0, stored = 0, dedup = 0, codec = 0, delta = 0;
  json to_json() const {
    const double fraction = raw ? static_cast<double>(stored) / static_cast<double>(raw) : 0.0;
    return {{"files", files},
            {"raw_bytes", raw},
            {"stored_bytes", stored},
            {"stored_fraction", fraction},
            {"saved_bytes", raw > stored ? raw - stored : 0},
            {"saved_by", {{"dedup", dedup}, {"codec", codec}, {"delta", delta}}}};
  }
};

}  // namespace

Result<json> storage_stats_json(const std::string& data_dir, const std::optional<std::string>& viewer,
                                bool include_private) {
  GROVE_ASSIGN_OR_RETURN(auto maintenance, storage::StorageMaintenance::open_local(data_dir + "/storage"));
  GROVE_ASSIGN_OR_RETURN(storage::StoreStats stats, maintenance->stats());
  GROVE_ASSIGN_OR_RETURN(std::vector<registry::StorageRef> refs, registry::list_storage_refs(data_dir + "/grove.db"));

  // Each stored file's own numbers go to the first repo naming it; every repo naming it counts
  // its raw bytes, the others as deduplicated.
  std::map<std::string, Totals> repos;
  std::map<std::string, bool> is_private;
  std::map<Sha256Digest, std::string> owner;
  std::map<std::string, std::set<Sha256Digest>> seen;
  for (const registry::StorageRef& r : refs) {
    is_private[r.repo] = r.is_private;
    if (!seen[r.repo].insert(r.sha256).second) continue;
    Totals& t = repos[r.repo];
    auto it = stats.files.find(r.sha256);
    if (it == stats.files.end()) continue;  // not stored (damaged, or gone)
    const storage::FileStorageStats& f = it->second;
    ++t.files;
    t.raw += f.raw_bytes;
    if (owner.emplace(r.sha256, r.repo).second) {
      t.stored += f.stored_bytes;
      t.dedup += f.dedup_saved();
      t.codec += f.codec_saved;
      t.delta += f.delta_saved;
    } else {
      t.dedup += f.raw_bytes;
    }
  }
  Totals all;
  for (const auto& [digest, f] : stats.files) {
    ++all.files;
    all.raw += f.raw_bytes;
    all.stored += f.stored_bytes;
    all.dedup += f.dedup_saved();
    all.codec += f.codec_saved;
    all.delta += f.delta_saved;
  }
  json per_repo = json::array();
  for (const auto& [repo, t] : repos) {
    if (is_private[repo] && !include_private) {
      const std::string ns = repo.substr(0, repo.find('/'));
      if (!viewer || *viewer != ns) continue;
    }
    json j = t.to_json();
    j["repo"] = repo;
    per_repo.push_back(std::move(j));
  }
  json total = all.to_json();
  total["frames"] = stats.frame_count;
  total["delta_frames"] = stats.delta_frames;
  total["packs"] = stats.pack_count;
  total["pack_bytes"] = stats.pack_bytes;  // on disk, garbage not yet collected included
  return json{{"total", std::move(total)}, {"repos", std::move(per_repo)}};
}

Result<Response> handle_storage_stats(Hub& hub, Request& request, const RouteParams&) {
  std::optional<std::string> viewer;
  if (request.caller) viewer = request.caller->user.name;
  GROVE_ASSIGN_OR_RETURN(json stats, storage_stats_json(hub.options().data_dir, viewer, false));
  return Response::json(stats);
}

}  // namespace grove::hub
