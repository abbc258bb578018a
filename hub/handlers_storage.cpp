// GET /api/grove/storage: storage statistics (hub/storage_stats.h).
//
// Per file, storage counts each frame for the oldest file naming it (maintenance.h); a file in
// several repos counts for the first repo listing it, so the per-repo stored bytes add up to
// the store's. A repo's raw bytes are all of its distinct files (every revision); its dedup
// saving is what it did not have to store because the bytes were already there.
//
// The route answers from figures the Hub keeps (StorageFigures): the store's statistics
// are rescanned only after the index changed (storage::StoreStatsCache), and the registry's
// file references are re-read only after a registry write or every kRefsTtl (another process
// may write grove.db). So a request costs a pragma, a stat() and the per-viewer filter.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "hub/handlers.h"
#include "hub/hub.h"
#include "hub/storage_stats.h"
#include "registry/registry.h"
#include "storage/maintenance.h"

namespace grove::hub {
namespace {

using nlohmann::json;

constexpr std::chrono::seconds kRefsTtl{5};

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

// Every repo's figures and the store's, before a viewer's filter.
struct Figures {
  std::map<std::string, Totals> repos;
  std::map<std::string, bool> is_private;
  Totals all;
  std::uint64_t frames = 0, delta_frames = 0, packs = 0, pack_bytes = 0;
};

Figures tally(const storage::StoreStats& stats, const std::vector<registry::StorageRef>& refs) {
  Figures out;
  // Each stored file's own numbers go to the first repo naming it; every repo naming it counts
  // its raw bytes, the others as deduplicated.
  std::map<Sha256Digest, std::string> owner;
  std::map<std::string, std::set<Sha256Digest>> seen;
  for (const registry::StorageRef& r : refs) {
    out.is_private[r.repo] = r.is_private;
    if (!seen[r.repo].insert(r.sha256).second) continue;
    Totals& t = out.repos[r.repo];
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
  for (const auto& [digest, f] : stats.files) {
    ++out.all.files;
    out.all.raw += f.raw_bytes;
    out.all.stored += f.stored_bytes;
    out.all.dedup += f.dedup_saved();
    out.all.codec += f.codec_saved;
    out.all.delta += f.delta_saved;
  }
  out.frames = stats.frame_count;
  out.delta_frames = stats.delta_frames;
  out.packs = stats.pack_count;
  out.pack_bytes = stats.pack_bytes;
  return out;
}

json render(const Figures& figures, const std::optional<std::string>& viewer, bool include_private) {
  json per_repo = json::array();
  for (const auto& [repo, t] : figures.repos) {
    if (figures.is_private.at(repo) && !include_private) {
      const std::string ns = repo.substr(0, repo.find('/'));
      if (!viewer || *viewer != ns) continue;
    }
    json j = t.to_json();
    j["repo"] = repo;
    per_repo.push_back(std::move(j));
  }
  json total = figures.all.to_json();
  total["frames"] = figures.frames;
  total["delta_frames"] = figures.delta_frames;
  total["packs"] = figures.packs;
  total["pack_bytes"] = figures.pack_bytes;  // on disk, garbage not yet collected included
  return json{{"total", std::move(total)}, {"repos", std::move(per_repo)}};
}

}  // namespace

// Tallied again only when the store's statistics changed (a new object from StoreStatsCache),
// the registry's write generation moved, or kRefsTtl passed.
struct StorageFigures::Impl {
  std::mutex mu;
  std::string data_dir;
  std::unique_ptr<storage::StoreStatsCache> store;   // guarded by mu
  std::shared_ptr<const storage::StoreStats> stats;  // what figures was tallied from
  std::uint64_t generation = 0;                      // the registry's, read before the tally
  std::chrono::steady_clock::time_point expires;
  std::shared_ptr<const Figures> figures;

  Result<std::shared_ptr<const Figures>> get(std::uint64_t registry_generation) {
    std::lock_guard lock(mu);
    if (!store) {
      GROVE_ASSIGN_OR_RETURN(store, storage::StoreStatsCache::open(data_dir + "/storage"));
    }
    GROVE_ASSIGN_OR_RETURN(std::shared_ptr<const storage::StoreStats> now_stats, store->get());
    const auto now = std::chrono::steady_clock::now();
    if (figures && now_stats == stats && registry_generation == generation && now < expires) return figures;
    GROVE_ASSIGN_OR_RETURN(std::vector<registry::StorageRef> refs, registry::list_storage_refs(data_dir + "/grove.db"));
    figures = std::make_shared<const Figures>(tally(*now_stats, refs));
    stats = std::move(now_stats);
    generation = registry_generation;
    expires = now + kRefsTtl;
    return figures;
  }
};

StorageFigures::StorageFigures(std::string data_dir) : impl_(std::make_unique<Impl>()) {
  impl_->data_dir = std::move(data_dir);
}

StorageFigures::~StorageFigures() = default;

Result<json> StorageFigures::answer(std::uint64_t registry_generation, const std::optional<std::string>& viewer) {
  GROVE_ASSIGN_OR_RETURN(std::shared_ptr<const Figures> figures, impl_->get(registry_generation));
  return render(*figures, viewer, false);
}

Result<json> storage_stats_json(const std::string& data_dir, const std::optional<std::string>& viewer,
                                bool include_private) {
  GROVE_ASSIGN_OR_RETURN(auto maintenance, storage::StorageMaintenance::open_local(data_dir + "/storage"));
  GROVE_ASSIGN_OR_RETURN(storage::StoreStats stats, maintenance->stats());
  GROVE_ASSIGN_OR_RETURN(std::vector<registry::StorageRef> refs, registry::list_storage_refs(data_dir + "/grove.db"));
  return render(tally(stats, refs), viewer, include_private);
}

Result<Response> handle_storage_stats(Hub& hub, Request& request, const RouteParams&) {
  std::optional<std::string> viewer;
  if (request.caller) viewer = request.caller->user.name;
  const std::uint64_t generation = hub.registry().write_generation();
  GROVE_ASSIGN_OR_RETURN(json answer, hub.storage_figures().answer(generation, viewer));
  return Response::json(std::move(answer));
}

}  // namespace grove::hub
