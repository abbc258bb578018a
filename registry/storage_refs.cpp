// What the registry names in storage (registry.h, "storage references"): every file of every
// commit of every repo (LFS and small files alike: the hub stores both as blobs) and every
// cached GGUF export. Read on a connection of its own, in one read transaction (a snapshot
// under WAL), so gc can run from the CLI next to a running server.
#include <set>

#include "registry/registry.h"
#include "common/sqlite_util.h"

namespace grove::registry {

Result<std::vector<StorageRef>> list_storage_refs(const std::string& registry_path) {
  GROVE_ASSIGN_OR_RETURN(auto db, sql::Db::open(registry_path, /*create=*/false));
  GROVE_RETURN_IF_ERROR(db->exec("BEGIN"));
  std::vector<StorageRef> out;
  // Commits stay in the table while their repo exists (a deleted branch's commits can still be
  // named by id), so every one of them counts as reachable.
  {
    GROVE_ASSIGN_OR_RETURN(auto s, db->prepare("SELECT DISTINCT r.ns || '/' || r.name, f.path, f.sha256, f.size, f.lfs, r.private "
                                               "FROM files f JOIN repos r ON r.id = f.repo_id"));
    while (true) {
      GROVE_ASSIGN_OR_RETURN(bool row, s.step());
      if (!row) break;
      auto digest = Sha256Digest::from_hex(s.text(2));
      if (!digest) return corrupt("registry files row with a bad sha256: " + s.text(2));
      out.push_back({s.text(0), s.text(1), *digest, static_cast<std::uint64_t>(s.int64(3)), s.int64(4) != 0, s.int64(5) != 0});
    }
  }
  {
    GROVE_ASSIGN_OR_RETURN(auto s, db->prepare("SELECT r.ns || '/' || r.name, e.quant, e.sha256, e.size, r.private "
                                               "FROM exports e JOIN repos r ON r.id = e.repo_id"));
    while (true) {
      GROVE_ASSIGN_OR_RETURN(bool row, s.step());
      if (!row) break;
      auto digest = Sha256Digest::from_hex(s.text(2));
      if (!digest) return corrupt("registry exports row with a bad sha256: " + s.text(2));
      out.push_back({s.text(0), "(gguf export " + s.text(1) + ")", *digest, static_cast<std::uint64_t>(s.int64(3)), true,
                     s.int64(4) != 0});
    }
  }
  GROVE_RETURN_IF_ERROR(db->exec("COMMIT"));
  return out;
}

Result<std::vector<Sha256Digest>> live_blobs(const std::string& registry_path) {
  GROVE_ASSIGN_OR_RETURN(std::vector<StorageRef> refs, list_storage_refs(registry_path));
  std::set<Sha256Digest> unique;
  for (const StorageRef& r : refs) unique.insert(r.sha256);
  return std::vector<Sha256Digest>(unique.begin(), unique.end());
}

}  // namespace grove::registry
