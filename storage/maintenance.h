// Maintenance of the framed store: gc, fsck (with repair), repack and stats. Runs on a data
// folder's storage/ (index.db and packs/) from the CLI, offline or while `grove serve` uses the
// same folder: every step that changes the index is one SQLite transaction (WAL), so the
// server's writers and gc coordinate through the index.
//
// GC, and why a push running during it stays intact:
//  1. Unlink (one transaction, BEGIN IMMEDIATE, so no writer commits in between): files that
//     are neither live (the caller's set: every file some commit, open upload or export cache
//     names) nor younger than the grace period are moved, with their recipes and tensors, to
//     graveyard tables (gc_files, ...). Then every frame that no remaining recipe names, that
//     is not the delta base of such a frame and whose pack is older than the grace period is
//     moved to gc_frames. Packs left without frame rows are retired (gc_retired). Nothing is
//     deleted from disk here.
//  2. Triggers installed on the index (resurrection) put a graveyard frame back the moment a
//     writer commits a recipe naming it, or a frame delta-encoded against it: a push that looked
//     the frame up before step 1 and commits after it still finds its bytes. A push that looks
//     it up after step 1 does not find it and stores a fresh copy.
//  3. After unlinking, the live set is asked again: a file that became live meanwhile (a
//     commit naming a file that was only deduplicated) is restored from the graveyard.
//  4. Packs under `rewrite_below` live are rewritten: live frames copied (stored bytes,
//     checksums verified) into a new pack, which is put and fsynced, then their index rows
//     switched in one transaction (FrameIndex::relocate); the old pack is retired.
//  5. Retired packs are deleted only once they have been retired for longer than the grace
//     period (readers that cached a location and pushes that looked a frame up before the
//     unlink are done by then) and still have no frame rows (else they are un-retired).
// So the grace period must exceed the longest push (and read of one recipe batch); the
// default is a day. --grace 0 reclaims everything in one run but is only safe when no push
// runs.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/fs.h"
#include "common/status.h"
#include "storage/blob_store.h"

namespace grove::storage {

// The content addresses that must survive gc, asked for when gc starts and again after it
// unlinked (step 3).
using LiveFilesFn = std::function<Result<std::vector<Sha256Digest>>()>;

struct GcOptions {
  std::int64_t grace_seconds = 24 * 3600;
  bool dry_run = false;
  // Packs whose live bytes are under this fraction of their size are rewritten.
  double rewrite_below = 0.5;
  // Unix seconds to treat as now (tests); nullopt: the clock.
  std::optional<std::int64_t> now;
};

struct GcReport {
  bool dry_run = false;
  std::uint64_t live_files = 0;          // files kept in the index
  std::uint64_t files_unlinked = 0;      // moved to the graveyard this run
  std::uint64_t files_restored = 0;      // brought back because they became live meanwhile
  std::uint64_t frames_unlinked = 0;
  std::uint64_t packs_retired = 0;       // left without live frames this run
  std::uint64_t packs_rewritten = 0;
  std::uint64_t packs_deleted = 0;
  std::uint64_t orphans_deleted = 0;     // pack objects no index row names (crashed uploads)
  std::uint64_t bytes_deleted = 0;       // pack bytes removed from the backend
  std::uint64_t bytes_written = 0;       // by rewritten packs
  std::uint64_t bytes_pending = 0;       // in retired packs still within the grace period
  // Dry run: what this run would unlink, retire and rewrite, in pack bytes.
  std::uint64_t bytes_reclaimable = 0;
  std::int64_t reclaimed() const {
    return static_cast<std::int64_t>(bytes_deleted) - static_cast<std::int64_t>(bytes_written);
  }
};

struct FsckOptions {
  bool repair = false;
};

struct FsckReport {
  std::uint64_t packs_checked = 0;
  std::uint64_t frames_checked = 0;
  std::uint64_t files_checked = 0;
  std::vector<std::string> damaged_packs;    // pack names: missing, bad footer or a bad frame
  std::vector<std::string> problems;         // one line each, what is wrong where
  std::vector<Sha256Digest> damaged_files;   // read back wrong or not at all
  std::uint64_t orphan_packs = 0;            // pack objects no index row names
  // Repair: files whose index entries were removed (they now report missing: re-push them)
  // and frames salvaged from damaged packs into new ones.
  std::vector<Sha256Digest> removed_files;
  std::uint64_t frames_salvaged = 0;
  bool clean() const { return damaged_packs.empty() && damaged_files.empty() && problems.empty(); }
};

// What the store did for one file: its frames are counted for the file that stored them first
// (oldest file naming them), so sums over files are the store's totals.
struct FileStorageStats {
  std::uint64_t raw_bytes = 0;           // the file's size
  std::uint64_t unique_raw_bytes = 0;    // raw bytes of the frames it owns
  std::uint64_t stored_bytes = 0;        // stored bytes (with frame headers) of those frames
  std::uint64_t codec_saved = 0;         // raw - stored of its standalone frames
  std::uint64_t delta_saved = 0;         // raw - stored of its delta frames
  std::uint64_t dedup_saved() const { return raw_bytes - unique_raw_bytes; }
};

struct StoreStats {
  std::map<Sha256Digest, FileStorageStats> files;
  std::uint64_t pack_count = 0;
  std::uint64_t pack_bytes = 0;          // indexed packs on disk, garbage included
  std::uint64_t frame_count = 0;
  std::uint64_t delta_frames = 0;
};

class StorageMaintenance {
 public:
  // `root` is the store's folder (the hub's data/storage): root/index.db and root/packs/.
  static Result<std::unique_ptr<StorageMaintenance>> open_local(const std::string& root,
                                                               FileSystem& fs = FileSystem::local());
  ~StorageMaintenance();

  // Only one gc (or repair) runs at a time per store: a lock file root/gc.lock (flock) is held.
  Result<GcReport> gc(const LiveFilesFn& live, const GcOptions& options);
  Result<FsckReport> fsck(const FsckOptions& options);
  Result<StoreStats> stats();
  // Re-encodes a stored file against the files of a base (BlobStore::reencode); the old copies
  // of the re-encoded frames become garbage for gc.
  Result<ReencodeStats> repack(const Sha256Digest& file, const std::vector<Sha256Digest>& base_files);

  struct Impl;

 private:
  explicit StorageMaintenance(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// StoreStats kept between calls, for a server answering GET /api/grove/storage: computed on the
// first get() and again only once the index has changed. Every commit by another connection
// (the hub's writers and re-encoder, a gc or fsck --repair in another process) changes the
// index's PRAGMA data_version, which get() reads on a connection of its own without touching a
// table; so get() on an unchanged store costs that pragma and a stat() of index.db, not a scan.
// Thread-safe.
class StoreStatsCache {
 public:
  // `root` as for StorageMaintenance::open_local; nothing is opened until get().
  static Result<std::unique_ptr<StoreStatsCache>> open(const std::string& root);
  ~StoreStatsCache();
  // The same object for as long as the index is unchanged. kNotFound when there is no store.
  Result<std::shared_ptr<const StoreStats>> get();

 private:
  struct State;
  explicit StoreStatsCache(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace grove::storage
