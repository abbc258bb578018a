// gc, fsck, repack and stats over the framed store's index and packs (see maintenance.h).
#include "storage/maintenance.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "common/sqlite_util.h"
#include "storage/framed_core.h"
#include "storage/framed_store.h"
#include "storage/index.h"
#include "storage/pack.h"

namespace grove::storage {
namespace {

using sql::Db;
using sql::Stmt;

std::int64_t clock_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<sql::Transaction> begin_write(Db& db) { return sql::Transaction::begin(db, sql::Transaction::Kind::kWrite); }

// Runs one statement without result rows, `args` bound to ?1..?n.
template <typename... Args>
Status run_sql(Db& db, const std::string& sql, const Args&... args) {
  GROVE_ASSIGN_OR_RETURN(Stmt s, db.prepare(sql));
  return s.bind_all(args...).run();
}

// A query's one integer result (0 when it returns no row).
template <typename... Args>
Result<std::int64_t> scalar(Db& db, const std::string& sql, const Args&... args) {
  GROVE_ASSIGN_OR_RETURN(Stmt s, db.prepare(sql));
  GROVE_ASSIGN_OR_RETURN(bool row, s.bind_all(args...).step());
  return row ? s.int64(0) : std::int64_t{0};
}

// The graveyard and the resurrection triggers (maintenance.h, steps 1 and 2). Columns mirror
// index.cpp's tables; an unlinked_at column says when gc moved the row.
constexpr const char* kGcSchema = R"sql(
CREATE TABLE IF NOT EXISTS gc_frames(
  id BLOB PRIMARY KEY, pack_id INTEGER NOT NULL, pack_offset INTEGER NOT NULL,
  stored_length INTEGER NOT NULL, raw_length INTEGER NOT NULL, codec INTEGER NOT NULL,
  elem_type INTEGER NOT NULL, base BLOB, checksum INTEGER NOT NULL, unlinked_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS gc_frames_by_pack ON gc_frames(pack_id);
CREATE TABLE IF NOT EXISTS gc_files(
  sha256 BLOB PRIMARY KEY, size INTEGER NOT NULL, frame_count INTEGER NOT NULL,
  created_at INTEGER NOT NULL, unlinked_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gc_recipes(
  file BLOB NOT NULL, raw_offset INTEGER NOT NULL, frame BLOB NOT NULL,
  PRIMARY KEY(file, raw_offset)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gc_tensors(
  file BLOB NOT NULL, name TEXT NOT NULL, dtype TEXT NOT NULL, shape TEXT NOT NULL,
  offset INTEGER NOT NULL, length INTEGER NOT NULL, PRIMARY KEY(file, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gc_retired(pack_id INTEGER PRIMARY KEY, retired_at INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS gc_resurrect_by_recipe AFTER INSERT ON recipes
WHEN EXISTS (SELECT 1 FROM gc_frames WHERE id = NEW.frame)
BEGIN
  INSERT OR IGNORE INTO frames(id, pack_id, pack_offset, stored_length, raw_length, codec, elem_type, base, checksum)
    SELECT id, pack_id, pack_offset, stored_length, raw_length, codec, elem_type, base, checksum
    FROM gc_frames WHERE id = NEW.frame;
  DELETE FROM gc_frames WHERE id = NEW.frame;
  DELETE FROM gc_retired WHERE pack_id IN (SELECT pack_id FROM frames WHERE id = NEW.frame);
END;
CREATE TRIGGER IF NOT EXISTS gc_resurrect_base AFTER INSERT ON frames
WHEN NEW.base IS NOT NULL AND EXISTS (SELECT 1 FROM gc_frames WHERE id = NEW.base)
BEGIN
  INSERT OR IGNORE INTO frames(id, pack_id, pack_offset, stored_length, raw_length, codec, elem_type, base, checksum)
    SELECT id, pack_id, pack_offset, stored_length, raw_length, codec, elem_type, base, checksum
    FROM gc_frames WHERE id = NEW.base;
  DELETE FROM gc_frames WHERE id = NEW.base;
  DELETE FROM gc_retired WHERE pack_id IN (SELECT pack_id FROM frames WHERE id = NEW.base);
END;
)sql";

// flock on a file next to the index: one gc or repair at a time.
class GcLock {
 public:
  static Result<std::unique_ptr<GcLock>> take(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return errno_status("open", path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return Status(Code::kConflict, "another gc or fsck --repair is running on this store (" + path + ")");
    }
    return std::unique_ptr<GcLock>(new GcLock(fd));
  }
  ~GcLock() { ::close(fd_); }

 private:
  explicit GcLock(int fd) : fd_(fd) {}
  int fd_;
};

struct FrameRow {
  Blake3Digest id;
  std::int64_t pack_id = 0;
  std::string pack;
  std::uint64_t offset = 0;
  std::uint32_t stored_length = 0;
  std::uint32_t raw_length = 0;
  Codec codec = Codec::kRaw;
  ElementType type = ElementType::kBytes;
  std::optional<Blake3Digest> base;
  std::uint64_t checksum = 0;
  std::uint64_t raw_check = 0;

  // Without the raw check: loading it then checks the decoded bytes against the frame id.
  FrameLocation location() const {
    return FrameLocation{id, pack, offset, stored_length, raw_length, codec, type, base, 0};
  }
  // How fsck's problems and gc's errors name a frame.
  std::string label() const { return "frame " + id.hex().substr(0, 16) + " in pack " + pack.substr(0, 16); }
};

constexpr const char* kFrameColumns =
    "f.id, f.pack_id, p.name, f.pack_offset, f.stored_length, f.raw_length, f.codec, f.elem_type, f.base, f.checksum, "
    "f.raw_check";

FrameRow read_frame_row(const Stmt& s) {
  FrameRow r;
  s.digest(0, r.id);
  r.pack_id = s.int64(1);
  r.pack = s.text(2);
  r.offset = static_cast<std::uint64_t>(s.int64(3));
  r.stored_length = static_cast<std::uint32_t>(s.int64(4));
  r.raw_length = static_cast<std::uint32_t>(s.int64(5));
  r.codec = static_cast<Codec>(s.int64(6));
  r.type = static_cast<ElementType>(s.int64(7));
  Blake3Digest b;
  if (s.digest(8, b)) r.base = b;
  r.checksum = static_cast<std::uint64_t>(s.int64(9));
  r.raw_check = static_cast<std::uint64_t>(s.int64(10));
  return r;
}

// One frame as Impl::read_frames hands it on.
struct StoredFrame {
  const FrameRow& row;
  Status read;                            // the backend get of its header and payload
  bool intact = false;                    // read, and the payload matches the index's checksum
  std::span<const std::uint8_t> payload;  // when intact; valid until the next frame
};

struct DigestHash {
  template <std::size_t N>
  std::size_t operator()(const Digest<N>& d) const {
    std::size_t h;
    std::memcpy(&h, d.bytes.data(), sizeof h);
    return h;
  }
};

constexpr std::int64_t kOrphanMinAge = 3600;

struct PackRow {
  std::int64_t id = 0;
  std::string name;
  std::uint64_t size = 0;
  std::uint64_t frame_count = 0;
};

// A pack is rewritten when its live frames (with headers) fill under `below` of the bytes its
// frames take (size less the fixed parts and the footer entries), i.e. at 1.0 whenever it
// holds any garbage.
bool worth_rewriting(std::uint64_t live_bytes, std::uint64_t size, std::uint64_t frame_count, double below) {
  const std::uint64_t fixed = kPackMagicSize + kPackTrailerSize + kPackEntrySize * frame_count;
  const std::uint64_t payload = size > fixed ? size - fixed : 0;
  return live_bytes < payload && static_cast<double>(live_bytes) < below * static_cast<double>(payload);
}

// What fsck has found so far.
struct FsckFindings {
  std::unordered_map<Blake3Digest, const FrameRow*, DigestHash> indexed;  // every frame row
  std::set<std::string> damaged_packs;
  std::unordered_set<Blake3Digest, DigestHash> bad_frames;
  std::set<Sha256Digest> damaged_files;
};

// The statistics of maintenance.h, in one read transaction so that a concurrent commit is
// counted whole or not at all.
Result<StoreStats> compute_stats(Db& db) {
  StoreStats out;
  GROVE_ASSIGN_OR_RETURN(sql::Transaction tx, sql::Transaction::begin(db, sql::Transaction::Kind::kRead));
  {
    struct FrameInfo {
      std::uint32_t raw = 0, stored = 0;
      bool delta = false;
    };
    std::unordered_map<Blake3Digest, FrameInfo, DigestHash> frames;
    GROVE_ASSIGN_OR_RETURN(Stmt f, db.prepare("SELECT id, raw_length, stored_length, base IS NOT NULL FROM frames"));
    GROVE_RETURN_IF_ERROR(f.for_each_row([&] {
      Blake3Digest id;
      f.digest(0, id);
      FrameInfo info{static_cast<std::uint32_t>(f.int64(1)), static_cast<std::uint32_t>(f.int64(2)), f.int64(3) != 0};
      frames[id] = info;
      ++out.frame_count;
      if (info.delta) ++out.delta_frames;
    }));
    GROVE_ASSIGN_OR_RETURN(Stmt files, db.prepare("SELECT sha256, size FROM files"));
    GROVE_RETURN_IF_ERROR(files.for_each_row([&] {
      Sha256Digest d;
      files.digest(0, d);
      out.files[d].raw_bytes = static_cast<std::uint64_t>(files.int64(1));
    }));
    // Each frame belongs to the oldest file naming it.
    GROVE_ASSIGN_OR_RETURN(Stmt r, db.prepare("SELECT r.file, r.frame FROM recipes r JOIN files f ON f.sha256 = r.file "
                                              "ORDER BY f.created_at, r.file, r.raw_offset"));
    std::unordered_set<Blake3Digest, DigestHash> owned;
    GROVE_RETURN_IF_ERROR(r.for_each_row([&] {
      Sha256Digest file;
      Blake3Digest frame;
      r.digest(0, file);
      r.digest(1, frame);
      auto it = frames.find(frame);
      if (it == frames.end() || !owned.insert(frame).second) return;
      FileStorageStats& s = out.files[file];
      const FrameInfo& fi = it->second;
      s.unique_raw_bytes += fi.raw;
      s.stored_bytes += fi.stored + kFrameHeaderSize;
      const std::uint64_t saved = fi.raw > fi.stored ? fi.raw - fi.stored : 0;
      (fi.delta ? s.delta_saved : s.codec_saved) += saved;
    }));
    GROVE_ASSIGN_OR_RETURN(std::int64_t n, scalar(db, "SELECT count(*) FROM packs"));
    GROVE_ASSIGN_OR_RETURN(std::int64_t bytes, scalar(db, "SELECT coalesce(sum(size), 0) FROM packs"));
    out.pack_count = static_cast<std::uint64_t>(n);
    out.pack_bytes = static_cast<std::uint64_t>(bytes);
  }
  GROVE_RETURN_IF_ERROR(tx.commit());
  return out;
}

}  // namespace

struct StorageMaintenance::Impl {
  std::string root;
  detail::Core core;                 // backend and index for frame loads
  std::unique_ptr<BlobStore> store;  // for whole-file reads (fsck) and reencode
  bool schema_ready = false;

  FrameIndex& index() { return *core.index; }

  Status ensure_schema() {
    if (schema_ready) return Status::ok();
    GROVE_RETURN_IF_ERROR(index().with_connection([](Db& db) { return db.exec(kGcSchema); }));
    schema_ready = true;
    return Status::ok();
  }

  // Frame rows (with their pack's name) chosen by `where`, with `param` as ?1 when given.
  Result<std::vector<FrameRow>> frames_where(const std::string& where, std::optional<std::int64_t> param = {}) {
    std::vector<FrameRow> out;
    GROVE_RETURN_IF_ERROR(index().with_connection([&](Db& db) -> Status {
      GROVE_ASSIGN_OR_RETURN(
          Stmt s, db.prepare(std::string("SELECT ") + kFrameColumns + " FROM frames f JOIN packs p ON p.id = f.pack_id " + where));
      if (param) s.bind(1, *param);
      return s.for_each_row([&] { out.push_back(read_frame_row(s)); });
    }));
    return out;
  }

  // Pack rows chosen by `where` (on packs p), with `param` as ?1 when given.
  Result<std::vector<PackRow>> packs(const std::string& where, std::optional<std::int64_t> param = {}) {
    std::vector<PackRow> out;
    GROVE_RETURN_IF_ERROR(index().with_connection([&](Db& db) -> Status {
      GROVE_ASSIGN_OR_RETURN(Stmt s, db.prepare("SELECT p.id, p.name, p.size, p.frame_count FROM packs p " + where));
      if (param) s.bind(1, *param);
      return s.for_each_row([&] {
        out.push_back(PackRow{s.int64(0), s.text(1), static_cast<std::uint64_t>(s.int64(2)),
                              static_cast<std::uint64_t>(s.int64(3))});
      });
    }));
    return out;
  }

  // The walk gc's rewrite, fsck's check and fsck --repair's salvage share: each frame's stored
  // bytes (header and payload, one backend get) read from its pack and checked against the
  // checksum the index holds, then handed to `visit`; an error `visit` returns ends the walk.
  Status read_frames(const std::vector<FrameRow>& frames, const std::function<Status(const StoredFrame&)>& visit) {
    std::vector<std::uint8_t> buf;
    for (const FrameRow& f : frames) {
      buf.resize(kFrameHeaderSize + f.stored_length);
      StoredFrame frame{f, get_exact(*core.backend, pack_key(f.pack), f.offset, buf)};
      if (frame.read.is_ok()) {
        frame.payload = std::span<const std::uint8_t>(buf).subspan(kFrameHeaderSize);
        frame.intact = stored_checksum(frame.payload) == f.checksum;
      }
      GROVE_RETURN_IF_ERROR(visit(frame));
    }
    return Status::ok();
  }

  // Copies `frames` (rows of one pack) into new packs: stored bytes read back and checked
  // against their checksums, then put (durable) and switched over in one transaction each.
  Result<std::uint64_t> copy_frames(const std::vector<FrameRow>& frames, std::uint64_t& frames_copied) {
    detail::PackRelocator packs(core);
    GROVE_RETURN_IF_ERROR(read_frames(frames, [&](const StoredFrame& f) -> Status {
      GROVE_RETURN_IF_ERROR(f.read);
      if (!f.intact) return corrupt(f.row.label() + " fails its checksum; run grove fsck");
      EncodedFrame encoded{f.row.codec, std::vector<std::uint8_t>(f.payload.begin(), f.payload.end()), f.row.raw_check};
      GROVE_RETURN_IF_ERROR(packs.add(f.row.id, f.row.type, f.row.raw_length, encoded, f.row.base));
      ++frames_copied;
      return Status::ok();
    }));
    GROVE_RETURN_IF_ERROR(packs.flush());
    return packs.bytes_written();
  }

  // Step 1 (and the dry run): moves dead files and frames to the graveyard and retires empty
  // packs, in one transaction; rolls back when `dry_run`.
  Status unlink(const std::vector<Sha256Digest>& live, std::int64_t now, std::int64_t cutoff, double rewrite_below,
                bool dry_run, GcReport& report) {
    return index().with_connection([&](Db& db) -> Status {
      GROVE_ASSIGN_OR_RETURN(sql::Transaction tx, begin_write(db));
      GROVE_RETURN_IF_ERROR(db.exec("CREATE TEMP TABLE IF NOT EXISTS gc_live(sha BLOB PRIMARY KEY) WITHOUT ROWID;"
                                    "CREATE TEMP TABLE IF NOT EXISTS gc_dead(sha BLOB PRIMARY KEY) WITHOUT ROWID;"
                                    "CREATE TEMP TABLE IF NOT EXISTS gc_live_frames(id BLOB PRIMARY KEY) WITHOUT ROWID;"
                                    "DELETE FROM gc_live; DELETE FROM gc_dead; DELETE FROM gc_live_frames;"));
      for (const Sha256Digest& d : live)
        GROVE_RETURN_IF_ERROR(run_sql(db, "INSERT OR IGNORE INTO gc_live(sha) VALUES(?1)", d));
      GROVE_RETURN_IF_ERROR(run_sql(db,
                                    "INSERT INTO gc_dead SELECT sha256 FROM files WHERE max(created_at, touched_at) <= ?1 "
                                    "AND sha256 NOT IN (SELECT sha FROM gc_live)",
                                    cutoff));
      report.files_unlinked = static_cast<std::uint64_t>(db.changes());
      GROVE_RETURN_IF_ERROR(run_sql(db,
                                    "INSERT OR REPLACE INTO gc_files SELECT sha256, size, frame_count, created_at, ?1 "
                                    "FROM files WHERE sha256 IN (SELECT sha FROM gc_dead)",
                                    now));
      GROVE_RETURN_IF_ERROR(db.exec("INSERT OR REPLACE INTO gc_recipes SELECT * FROM recipes WHERE file IN (SELECT sha FROM gc_dead);"
                                    "INSERT OR REPLACE INTO gc_tensors SELECT * FROM tensors WHERE file IN (SELECT sha FROM gc_dead);"
                                    "DELETE FROM recipes WHERE file IN (SELECT sha FROM gc_dead);"
                                    "DELETE FROM tensors WHERE file IN (SELECT sha FROM gc_dead);"
                                    "DELETE FROM files WHERE sha256 IN (SELECT sha FROM gc_dead);"
                                    "INSERT OR IGNORE INTO gc_live_frames SELECT frame FROM recipes;"));
      // Frames of young packs stay whatever names them: an upload may be about to.
      GROVE_RETURN_IF_ERROR(run_sql(db,
                                    "INSERT OR IGNORE INTO gc_live_frames SELECT f.id FROM frames f "
                                    "JOIN packs p ON p.id = f.pack_id WHERE p.created_at > ?1",
                                    cutoff));
      // Delta bases of live frames (deltas are one level deep: one pass suffices).
      GROVE_RETURN_IF_ERROR(db.exec("INSERT OR IGNORE INTO gc_live_frames SELECT f.base FROM frames f "
                                    "JOIN gc_live_frames l ON l.id = f.id WHERE f.base IS NOT NULL;"));
      GROVE_RETURN_IF_ERROR(run_sql(db,
                                    "INSERT OR REPLACE INTO gc_frames SELECT id, pack_id, pack_offset, stored_length, "
                                    "raw_length, codec, elem_type, base, checksum, ?1 FROM frames "
                                    "WHERE id NOT IN (SELECT id FROM gc_live_frames)",
                                    now));
      report.frames_unlinked = static_cast<std::uint64_t>(db.changes());
      GROVE_RETURN_IF_ERROR(db.exec("DELETE FROM frames WHERE id NOT IN (SELECT id FROM gc_live_frames);"));
      GROVE_RETURN_IF_ERROR(run_sql(db,
                                    "INSERT OR IGNORE INTO gc_retired(pack_id, retired_at) SELECT p.id, ?1 FROM packs p "
                                    "WHERE p.created_at <= ?2 AND NOT EXISTS (SELECT 1 FROM frames f WHERE f.pack_id = p.id)",
                                    now, cutoff));
      report.packs_retired = static_cast<std::uint64_t>(db.changes());
      GROVE_ASSIGN_OR_RETURN(std::int64_t live_files, scalar(db, "SELECT count(*) FROM files"));
      report.live_files = static_cast<std::uint64_t>(live_files);
      if (!dry_run) return tx.commit();
      // What the run would free: every retired pack, and the garbage of packs to rewrite. The
      // transaction rolls back as it goes out of scope.
      GROVE_ASSIGN_OR_RETURN(
          Stmt s, db.prepare("SELECT p.size, p.created_at, p.id IN (SELECT pack_id FROM gc_retired), "
                             "(SELECT coalesce(sum(f.stored_length + 48), 0) FROM frames f WHERE f.pack_id = p.id), "
                             "(SELECT count(*) FROM frames f WHERE f.pack_id = p.id), p.frame_count FROM packs p"));
      return s.for_each_row([&] {
        const std::uint64_t size = static_cast<std::uint64_t>(s.int64(0));
        const bool old = s.int64(1) <= cutoff;
        const std::uint64_t live_bytes = static_cast<std::uint64_t>(s.int64(3));
        if (s.int64(2)) {
          report.bytes_reclaimable += size;
        } else if (old && s.int64(4) > 0 &&
                   worth_rewriting(live_bytes, size, static_cast<std::uint64_t>(s.int64(5)), rewrite_below)) {
          const std::uint64_t overhead =
              kPackMagicSize + kPackTrailerSize + kPackEntrySize * static_cast<std::uint64_t>(s.int64(4));
          report.bytes_reclaimable += size > live_bytes + overhead ? size - live_bytes - overhead : 0;
        }
      });
    });
  }

  // Step 3: files of the graveyard that are live now come back (with frames still there).
  Result<std::uint64_t> restore(const std::vector<Sha256Digest>& live) {
    std::uint64_t restored = 0;
    GROVE_RETURN_IF_ERROR(index().with_connection([&](Db& db) -> Status {
      GROVE_ASSIGN_OR_RETURN(sql::Transaction tx, begin_write(db));
      for (const Sha256Digest& d : live) {
        GROVE_ASSIGN_OR_RETURN(std::int64_t buried, scalar(db, "SELECT count(*) FROM gc_files WHERE sha256 = ?1", d));
        if (buried == 0) continue;
        // Only when every frame of its recipe is still indexed or in the graveyard (the
        // trigger brings graveyard frames back as the recipe rows go in).
        GROVE_ASSIGN_OR_RETURN(std::int64_t missing,
                               scalar(db,
                                      "SELECT count(*) FROM gc_recipes r WHERE r.file = ?1 AND r.frame NOT IN "
                                      "(SELECT id FROM frames) AND r.frame NOT IN (SELECT id FROM gc_frames)",
                                      d));
        if (missing != 0) continue;
        for (const char* sql : {
                 "INSERT OR IGNORE INTO files(sha256, size, frame_count, created_at) SELECT sha256, size, frame_count, created_at "
                 "FROM gc_files WHERE sha256 = ?1",
                 "INSERT OR IGNORE INTO recipes SELECT * FROM gc_recipes WHERE file = ?1",
                 "INSERT OR IGNORE INTO tensors SELECT * FROM gc_tensors WHERE file = ?1",
                 "DELETE FROM gc_files WHERE sha256 = ?1",
                 "DELETE FROM gc_recipes WHERE file = ?1",
                 "DELETE FROM gc_tensors WHERE file = ?1",
             })
          GROVE_RETURN_IF_ERROR(run_sql(db, sql, d));
        ++restored;
      }
      return tx.commit();
    }));
    return restored;
  }

  // Step 5: deletes packs retired before `cutoff` that still have no frame rows.
  Status delete_retired(std::int64_t cutoff, GcReport& report) {
    std::vector<PackRow> doomed;
    GROVE_RETURN_IF_ERROR(index().with_connection([&](Db& db) -> Status {
      GROVE_ASSIGN_OR_RETURN(sql::Transaction tx, begin_write(db));
      // Resurrected frames un-retire their pack.
      GROVE_RETURN_IF_ERROR(db.exec("DELETE FROM gc_retired WHERE pack_id IN (SELECT pack_id FROM frames);"));
      {
        GROVE_ASSIGN_OR_RETURN(
            Stmt s, db.prepare("SELECT p.id, p.name, p.size, r.retired_at FROM gc_retired r JOIN packs p ON p.id = r.pack_id"));
        GROVE_RETURN_IF_ERROR(s.for_each_row([&] {
          PackRow p{s.int64(0), s.text(1), static_cast<std::uint64_t>(s.int64(2))};
          if (s.int64(3) <= cutoff) {
            doomed.push_back(std::move(p));
          } else {
            report.bytes_pending += p.size;
          }
        }));
      }
      for (const PackRow& p : doomed)
        for (const char* sql : {"DELETE FROM gc_frames WHERE pack_id = ?1", "DELETE FROM gc_retired WHERE pack_id = ?1",
                                "DELETE FROM packs WHERE id = ?1"})
          GROVE_RETURN_IF_ERROR(run_sql(db, sql, p.id));
      // Graveyard files whose frames are gone cannot come back; older ones are forgotten.
      for (const char* sql : {"DELETE FROM gc_recipes WHERE file IN (SELECT sha256 FROM gc_files WHERE unlinked_at <= ?1)",
                              "DELETE FROM gc_tensors WHERE file IN (SELECT sha256 FROM gc_files WHERE unlinked_at <= ?1)",
                              "DELETE FROM gc_files WHERE unlinked_at <= ?1"})
        GROVE_RETURN_IF_ERROR(run_sql(db, sql, cutoff));
      return tx.commit();
    }));
    // The rows are gone first: a crash here leaves an orphan object, which a later gc removes.
    for (const PackRow& p : doomed) {
      Status s = core.backend->remove(pack_key(p.name));
      if (!s.is_ok() && s.code() != Code::kNotFound) return s;
      ++report.packs_deleted;
      report.bytes_deleted += p.size;
    }
    return Status::ok();
  }

  // Pack objects that no index row names and that are older than the grace period: what
  // crashed uploads left (a live upload's packs are younger).
  Result<std::vector<std::pair<std::string, std::uint64_t>>> orphans(std::int64_t cutoff) {
    GROVE_ASSIGN_OR_RETURN(std::vector<std::string> keys, core.backend->list("packs/"));
    GROVE_ASSIGN_OR_RETURN(std::vector<std::string> names, index().pack_names());
    const std::set<std::string> indexed(names.begin(), names.end());
    std::vector<std::pair<std::string, std::uint64_t>> out;
    for (const std::string& key : keys) {
      std::string name = key.substr(key.rfind('/') + 1);
      if (!name.ends_with(".pack")) continue;
      name.resize(name.size() - 5);
      if (indexed.contains(name)) continue;
      Result<ObjectInfo> info = core.backend->stat(key);
      if (!info.is_ok() || info->mtime > cutoff) continue;
      out.emplace_back(key, info->size);
    }
    return out;
  }

  // fsck, first: every indexed pack is there, at its size, with a sound footer.
  Status check_packs(FsckReport& report, FsckFindings& found) {
    GROVE_ASSIGN_OR_RETURN(std::vector<PackRow> rows, packs("ORDER BY p.id"));
    for (const PackRow& p : rows) {
      ++report.packs_checked;
      Result<ObjectInfo> info = core.backend->stat(pack_key(p.name));
      if (!info.is_ok()) {
        found.damaged_packs.insert(p.name);
        report.problems.push_back("pack " + p.name + " is missing: " + info.status().message());
        continue;
      }
      if (info->size != p.size) {
        found.damaged_packs.insert(p.name);
        report.problems.push_back("pack " + p.name + " has " + std::to_string(info->size) + " bytes, the index says " +
                                  std::to_string(p.size));
      }
      Result<std::vector<PackEntry>> footer = read_pack_footer(*core.backend, p.name);
      if (!footer.is_ok()) {
        found.damaged_packs.insert(p.name);
        report.problems.push_back("pack " + p.name + ": " + footer.status().message());
      }
    }
    return Status::ok();
  }

  // fsck, second: every indexed frame: stored checksum, header, decode, BLAKE3 (Core::load_frame
  // given no raw check) and raw check. A delta whose base is bad or missing is bad too.
  Status check_frames(const std::vector<FrameRow>& frames, FsckReport& report, FsckFindings& found) {
    for (const FrameRow& f : frames) found.indexed[f.id] = &f;
    detail::FrameScratch scratch;
    std::vector<std::uint8_t> raw;
    GROVE_RETURN_IF_ERROR(read_frames(frames, [&](const StoredFrame& frame) -> Status {
      const FrameRow& f = frame.row;
      ++report.frames_checked;
      std::string problem;
      if (!frame.read.is_ok()) {
        problem = frame.read.message();
      } else if (!frame.intact) {
        problem = "stored bytes fail their checksum";
      } else {
        std::optional<FrameLocation> base;
        if (f.base) {
          auto it = found.indexed.find(*f.base);
          if (it != found.indexed.end()) base = it->second->location();
        }
        scratch.base_id.reset();
        Status s = core.load_frame(f.location(), base ? &*base : nullptr, scratch, raw);
        if (!s.is_ok()) problem = s.message();
        else if (f.raw_check != 0 && raw_check(raw) != f.raw_check) problem = "its raw check in the index is wrong";
      }
      if (!problem.empty()) {
        found.bad_frames.insert(f.id);
        found.damaged_packs.insert(f.pack);
        report.problems.push_back(f.label() + " at " + std::to_string(f.offset) + ": " + problem);
      }
      return Status::ok();
    }));
    for (const FrameRow& f : frames)
      if (f.base && (found.bad_frames.contains(*f.base) || !found.indexed.contains(*f.base))) found.bad_frames.insert(f.id);
    return Status::ok();
  }

  // fsck, third: every file: its recipe's frames, then its SHA-256 streamed through a reader.
  Status check_files(FsckReport& report, FsckFindings& found) {
    std::vector<std::pair<Sha256Digest, std::uint64_t>> files;
    std::vector<std::pair<Sha256Digest, Blake3Digest>> recipe_rows;
    GROVE_RETURN_IF_ERROR(index().with_connection([&](Db& db) -> Status {
      GROVE_ASSIGN_OR_RETURN(Stmt s, db.prepare("SELECT sha256, size FROM files ORDER BY sha256"));
      GROVE_RETURN_IF_ERROR(s.for_each_row([&] {
        Sha256Digest d;
        s.digest(0, d);
        files.emplace_back(d, static_cast<std::uint64_t>(s.int64(1)));
      }));
      GROVE_ASSIGN_OR_RETURN(Stmt r, db.prepare("SELECT file, frame FROM recipes"));
      return r.for_each_row([&] {
        Sha256Digest d;
        Blake3Digest f;
        r.digest(0, d);
        r.digest(1, f);
        recipe_rows.emplace_back(d, f);
      });
    }));
    for (const auto& [file, frame] : recipe_rows)
      if (found.bad_frames.contains(frame) || !found.indexed.contains(frame)) found.damaged_files.insert(file);
    std::vector<std::uint8_t> buf(1 << 20);
    for (const auto& [file, size] : files) {
      ++report.files_checked;
      if (found.damaged_files.contains(file)) {
        report.problems.push_back("file " + file.hex() + " names damaged or missing frames");
        continue;
      }
      std::string problem = read_back(file, size, buf);
      if (!problem.empty()) {
        found.damaged_files.insert(file);
        report.problems.push_back("file " + file.hex() + ": " + problem);
      }
    }
    return Status::ok();
  }

  // What is wrong with reading `file` back through the store (empty when nothing is).
  std::string read_back(const Sha256Digest& file, std::uint64_t size, std::vector<std::uint8_t>& buf) {
    Result<std::unique_ptr<BlobReader>> reader = store->open(file);
    if (!reader.is_ok()) return reader.status().message();
    Sha256 hasher;
    std::uint64_t total = 0;
    while (true) {
      Result<std::size_t> n = (*reader)->read(buf);
      if (!n.is_ok()) return n.status().message();
      if (*n == 0) break;
      hasher.update(std::span<const std::uint8_t>(buf.data(), *n));
      total += *n;
    }
    if (total != size || hasher.finish() != file)
      return "reads back as other bytes than its SHA-256 (" + std::to_string(total) + " bytes)";
    return {};
  }

  // fsck --repair: salvages the good frames of damaged packs, then drops the damaged packs'
  // rows, the bad frames (and deltas on them) and every file naming one, in one transaction.
  Status repair(const std::vector<FrameRow>& frames, const FsckFindings& found, FsckReport& report) {
    for (const std::string& name : found.damaged_packs) {
      std::vector<FrameRow> good;
      for (const FrameRow& f : frames)
        if (f.pack == name && !found.bad_frames.contains(f.id)) good.push_back(f);
      if (good.empty()) continue;
      std::uint64_t copied = 0;
      Result<std::uint64_t> written = copy_frames(good, copied);
      if (!written.is_ok()) return written.status().with_context("salvaging pack " + name);
      report.frames_salvaged += copied;
    }
    GROVE_RETURN_IF_ERROR(index().with_connection([&](Db& db) -> Status {
      GROVE_ASSIGN_OR_RETURN(sql::Transaction tx, begin_write(db));
      GROVE_RETURN_IF_ERROR(db.exec("CREATE TEMP TABLE IF NOT EXISTS fsck_bad(id BLOB PRIMARY KEY) WITHOUT ROWID;"
                                    "CREATE TEMP TABLE IF NOT EXISTS fsck_files(sha BLOB PRIMARY KEY) WITHOUT ROWID;"
                                    "DELETE FROM fsck_bad; DELETE FROM fsck_files;"));
      for (const Blake3Digest& id : found.bad_frames)
        GROVE_RETURN_IF_ERROR(run_sql(db, "INSERT OR IGNORE INTO fsck_bad VALUES(?1)", id));
      for (const Sha256Digest& d : found.damaged_files)
        GROVE_RETURN_IF_ERROR(run_sql(db, "INSERT OR IGNORE INTO fsck_files VALUES(?1)", d));
      for (const std::string& name : found.damaged_packs)
        for (const char* sql : {"DELETE FROM frames WHERE pack_id = (SELECT id FROM packs WHERE name = ?1)",
                                "DELETE FROM gc_frames WHERE pack_id = (SELECT id FROM packs WHERE name = ?1)",
                                "DELETE FROM gc_retired WHERE pack_id = (SELECT id FROM packs WHERE name = ?1)",
                                "DELETE FROM packs WHERE name = ?1"})
          GROVE_RETURN_IF_ERROR(run_sql(db, sql, name));
      GROVE_RETURN_IF_ERROR(db.exec("DELETE FROM frames WHERE id IN (SELECT id FROM fsck_bad);"
                                    "DELETE FROM frames WHERE base IS NOT NULL AND base NOT IN (SELECT id FROM frames);"
                                    "INSERT OR IGNORE INTO fsck_files SELECT DISTINCT file FROM recipes "
                                    "  WHERE frame NOT IN (SELECT id FROM frames);"));
      {
        GROVE_ASSIGN_OR_RETURN(Stmt list, db.prepare("SELECT sha FROM fsck_files ORDER BY sha"));
        GROVE_RETURN_IF_ERROR(list.for_each_row([&] {
          Sha256Digest d;
          list.digest(0, d);
          report.removed_files.push_back(d);
        }));
      }
      GROVE_RETURN_IF_ERROR(db.exec("DELETE FROM recipes WHERE file IN (SELECT sha FROM fsck_files);"
                                    "DELETE FROM tensors WHERE file IN (SELECT sha FROM fsck_files);"
                                    "DELETE FROM files WHERE sha256 IN (SELECT sha FROM fsck_files);"));
      return tx.commit();
    }));
    for (const std::string& name : found.damaged_packs) (void)core.backend->remove(pack_key(name));
    return Status::ok();
  }
};

StorageMaintenance::StorageMaintenance(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StorageMaintenance::~StorageMaintenance() = default;

Result<std::unique_ptr<StorageMaintenance>> StorageMaintenance::open_local(const std::string& root, FileSystem& fs) {
  if (root.empty()) return invalid_argument("storage folder is empty");
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  if (!fs.exists(r + "/index.db")) return not_found("no grove store at " + r + " (no index.db)");
  auto impl = std::make_unique<Impl>();
  impl->root = r;
  GROVE_ASSIGN_OR_RETURN(impl->core.backend, BlobBackend::local(r, fs));
  GROVE_ASSIGN_OR_RETURN(impl->core.index, FrameIndex::open(r + "/index.db"));
  GROVE_ASSIGN_OR_RETURN(auto backend2, BlobBackend::local(r, fs));
  GROVE_ASSIGN_OR_RETURN(impl->store, open_framed_store(r + "/index.db", std::move(backend2), impl->core.options));
  return std::unique_ptr<StorageMaintenance>(new StorageMaintenance(std::move(impl)));
}

Result<GcReport> StorageMaintenance::gc(const LiveFilesFn& live, const GcOptions& options) {
  if (options.grace_seconds < 0) return invalid_argument("grace period must not be negative");
  Impl& m = *impl_;
  GROVE_ASSIGN_OR_RETURN(auto lock, GcLock::take(m.root + "/gc.lock"));
  GROVE_RETURN_IF_ERROR(m.ensure_schema());
  const std::int64_t now = options.now.value_or(clock_seconds());
  const std::int64_t cutoff = now - options.grace_seconds;
  GcReport report;
  report.dry_run = options.dry_run;

  GROVE_ASSIGN_OR_RETURN(std::vector<Sha256Digest> live_files, live());
  if (!options.dry_run) {
    // Files an earlier run unlinked that became live since (step 3 of that run missed them).
    GROVE_ASSIGN_OR_RETURN(std::uint64_t restored, m.restore(live_files));
    report.files_restored += restored;
  }
  GROVE_RETURN_IF_ERROR(m.unlink(live_files, now, cutoff, options.rewrite_below, options.dry_run, report));
  // An upload's packs are put before its index rows go in, so an unindexed pack may be a live
  // upload's: those wait out at least an hour whatever the grace period.
  GROVE_ASSIGN_OR_RETURN(auto orphans, m.orphans(now - std::max<std::int64_t>(options.grace_seconds, kOrphanMinAge)));
  if (options.dry_run) {
    for (const auto& o : orphans) report.bytes_reclaimable += o.second;
    return report;
  }
  GROVE_ASSIGN_OR_RETURN(std::vector<Sha256Digest> live_again, live());
  GROVE_ASSIGN_OR_RETURN(std::uint64_t restored, m.restore(live_again));
  report.files_restored += restored;

  // Rewrites: old packs, not retired, whose live frames fill under rewrite_below of them.
  GROVE_ASSIGN_OR_RETURN(std::vector<PackRow> candidates,
                         m.packs("WHERE p.created_at <= ?1 AND p.id NOT IN (SELECT pack_id FROM gc_retired)", cutoff));
  for (const PackRow& p : candidates) {
    GROVE_ASSIGN_OR_RETURN(std::vector<FrameRow> frames, m.frames_where("WHERE f.pack_id = ?1 ORDER BY f.pack_offset", p.id));
    std::uint64_t live_bytes = 0;
    for (const FrameRow& f : frames) live_bytes += kFrameHeaderSize + f.stored_length;
    if (frames.empty() || !worth_rewriting(live_bytes, p.size, p.frame_count, options.rewrite_below)) continue;
    std::uint64_t copied = 0;
    Result<std::uint64_t> written = m.copy_frames(frames, copied);
    if (!written.is_ok()) {
      if (written.status().code() == Code::kCorrupt) continue;  // fsck's business; leave the pack as it is
      return written.status();
    }
    report.bytes_written += *written;
    ++report.packs_rewritten;
    GROVE_RETURN_IF_ERROR(m.index().with_connection([&](Db& db) {
      return run_sql(db,
                     "INSERT OR IGNORE INTO gc_retired(pack_id, retired_at) SELECT ?1, ?2 "
                     "WHERE NOT EXISTS (SELECT 1 FROM frames WHERE pack_id = ?1)",
                     p.id, now);
    }));
  }

  GROVE_RETURN_IF_ERROR(m.delete_retired(cutoff, report));
  // Orphans: checked again right before removal (an upload may have indexed it meanwhile).
  GROVE_ASSIGN_OR_RETURN(std::vector<std::string> names, m.index().pack_names());
  const std::set<std::string> indexed(names.begin(), names.end());
  for (const auto& [key, size] : orphans) {
    std::string name = key.substr(key.rfind('/') + 1);
    name.resize(name.size() - 5);
    if (indexed.contains(name)) continue;
    Status s = m.core.backend->remove(key);
    if (!s.is_ok() && s.code() != Code::kNotFound) return s;
    if (s.is_ok()) {
      ++report.orphans_deleted;
      report.bytes_deleted += size;
    }
  }
  return report;
}

Result<FsckReport> StorageMaintenance::fsck(const FsckOptions& options) {
  Impl& m = *impl_;
  std::unique_ptr<GcLock> lock;
  if (options.repair) {
    GROVE_ASSIGN_OR_RETURN(lock, GcLock::take(m.root + "/gc.lock"));
    GROVE_RETURN_IF_ERROR(m.ensure_schema());
  }
  FsckReport report;
  FsckFindings found;
  GROVE_RETURN_IF_ERROR(m.check_packs(report, found));
  GROVE_ASSIGN_OR_RETURN(std::vector<FrameRow> frames, m.frames_where("ORDER BY f.pack_id, f.pack_offset"));
  GROVE_RETURN_IF_ERROR(m.check_frames(frames, report, found));
  GROVE_RETURN_IF_ERROR(m.check_files(report, found));
  report.damaged_packs.assign(found.damaged_packs.begin(), found.damaged_packs.end());
  report.damaged_files.assign(found.damaged_files.begin(), found.damaged_files.end());
  GROVE_ASSIGN_OR_RETURN(auto orphans, m.orphans(INT64_MAX));
  report.orphan_packs = orphans.size();
  if (!options.repair || report.clean()) return report;
  GROVE_RETURN_IF_ERROR(m.repair(frames, found, report));
  return report;
}

Result<StoreStats> StorageMaintenance::stats() {
  StoreStats out;
  GROVE_RETURN_IF_ERROR(impl_->index().with_connection([&](Db& db) -> Status {
    GROVE_ASSIGN_OR_RETURN(out, compute_stats(db));
    return Status::ok();
  }));
  return out;
}

Result<ReencodeStats> StorageMaintenance::repack(const Sha256Digest& file, const std::vector<Sha256Digest>& base_files) {
  return impl_->store->reencode(file, base_files);
}

// --- StoreStatsCache

struct StoreStatsCache::State {
  std::mutex mu;
  std::string index_path;
  std::unique_ptr<FrameIndex> index;  // a connection of its own: see maintenance.h
  dev_t device = 0;                   // of index.db when `index` was opened
  ino_t inode = 0;
  std::int64_t data_version = 0;      // when `stats` was computed
  std::shared_ptr<const StoreStats> stats;
};

StoreStatsCache::StoreStatsCache(std::unique_ptr<State> state) : state_(std::move(state)) {}
StoreStatsCache::~StoreStatsCache() = default;

Result<std::unique_ptr<StoreStatsCache>> StoreStatsCache::open(const std::string& root) {
  if (root.empty()) return invalid_argument("storage folder is empty");
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  auto state = std::make_unique<State>();
  state->index_path = r + "/index.db";
  return std::unique_ptr<StoreStatsCache>(new StoreStatsCache(std::move(state)));
}

Result<std::shared_ptr<const StoreStats>> StoreStatsCache::get() {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  // A store replaced under the same path (a data folder restored or recreated) gets a new
  // connection: the old one would go on reading the replaced file.
  struct stat st {};
  if (::stat(s.index_path.c_str(), &st) != 0) {
    s.index.reset();
    s.stats.reset();
    return not_found("no grove store at " + s.index_path.substr(0, s.index_path.size() - 9) + " (no index.db)");
  }
  if (!s.index || st.st_dev != s.device || st.st_ino != s.inode) {
    s.stats.reset();
    GROVE_ASSIGN_OR_RETURN(s.index, FrameIndex::open(s.index_path));
    s.device = st.st_dev;
    s.inode = st.st_ino;
  }
  GROVE_RETURN_IF_ERROR(s.index->with_connection([&](Db& db) -> Status {
    // Read before the scan: a commit during it changes the version, so the next get() rescans.
    GROVE_ASSIGN_OR_RETURN(std::int64_t version, db.pragma_int("data_version"));
    if (s.stats && version == s.data_version) return Status::ok();
    GROVE_ASSIGN_OR_RETURN(StoreStats fresh, compute_stats(db));
    s.stats = std::make_shared<const StoreStats>(std::move(fresh));
    s.data_version = version;
    return Status::ok();
  }));
  return s.stats;
}

}  // namespace grove::storage
