// gc, fsck, repack and stats over the framed store's index and packs (see maintenance.h).
#include "storage/maintenance.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "storage/framed_core.h"
#include "storage/framed_store.h"
#include "storage/pack.h"

namespace grove::storage {
namespace {

std::int64_t clock_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status sql_error(sqlite3* db, const std::string& what) {
  return io_error("storage maintenance: " + what + ": " + sqlite3_errmsg(db));
}

Status exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return io_error("storage maintenance: " + msg);
  }
  return Status::ok();
}

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Status prepared() const { return rc_ == SQLITE_OK ? Status::ok() : sql_error(db_, "prepare"); }
  Stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  template <std::size_t N>
  Stmt& bind(int i, const Digest<N>& d) {
    sqlite3_bind_blob(stmt_, i, d.bytes.data(), N, SQLITE_TRANSIENT);
    return *this;
  }
  int step() { return sqlite3_step(stmt_); }
  Status run(const std::string& what) {
    int rc = step();
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? Status::ok() : sql_error(db_, what);
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }
  template <std::size_t N>
  bool digest(int col, Digest<N>& out) const {
    if (sqlite3_column_bytes(stmt_, col) != static_cast<int>(N)) return false;
    std::memcpy(out.bytes.data(), sqlite3_column_blob(stmt_, col), N);
    return true;
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

// Runs a query with one int64 result.
Result<std::int64_t> scalar(sqlite3* db, const char* sql, std::int64_t p1 = 0) {
  Stmt s(db, sql);
  GROVE_RETURN_IF_ERROR(s.prepared());
  if (std::strchr(sql, '?')) s.bind(1, p1);
  int rc = s.step();
  if (rc == SQLITE_ROW) return s.i64(0);
  if (rc == SQLITE_DONE) return std::int64_t{0};
  return sql_error(db, "query");
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
  INSERT OR IGNORE INTO frames SELECT id, pack_id, pack_offset, stored_length, raw_length, codec, elem_type, base, checksum
    FROM gc_frames WHERE id = NEW.frame;
  DELETE FROM gc_frames WHERE id = NEW.frame;
  DELETE FROM gc_retired WHERE pack_id IN (SELECT pack_id FROM frames WHERE id = NEW.frame);
END;
CREATE TRIGGER IF NOT EXISTS gc_resurrect_base AFTER INSERT ON frames
WHEN NEW.base IS NOT NULL AND EXISTS (SELECT 1 FROM gc_frames WHERE id = NEW.base)
BEGIN
  INSERT OR IGNORE INTO frames SELECT id, pack_id, pack_offset, stored_length, raw_length, codec, elem_type, base, checksum
    FROM gc_frames WHERE id = NEW.base;
  DELETE FROM gc_frames WHERE id = NEW.base;
  DELETE FROM gc_retired WHERE pack_id IN (SELECT pack_id FROM frames WHERE id = NEW.base);
END;
)sql";

// RAII transaction on a raw connection: rolls back unless committed.
class Tx {
 public:
  explicit Tx(sqlite3* db) : db_(db) { status_ = exec(db, "BEGIN IMMEDIATE"); }
  ~Tx() {
    if (status_.is_ok() && !done_) (void)exec(db_, "ROLLBACK");
  }
  const Status& begun() const { return status_; }
  Status commit() {
    done_ = true;
    return exec(db_, "COMMIT");
  }
  Status rollback() {
    done_ = true;
    return exec(db_, "ROLLBACK");
  }

 private:
  sqlite3* db_;
  Status status_;
  bool done_ = false;
};

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

  FrameLocation location() const {
    return FrameLocation{id, pack, offset, stored_length, raw_length, codec, type, base};
  }
};

constexpr const char* kFrameColumns =
    "f.id, f.pack_id, p.name, f.pack_offset, f.stored_length, f.raw_length, f.codec, f.elem_type, f.base, f.checksum";

FrameRow read_frame_row(const Stmt& s) {
  FrameRow r;
  s.digest(0, r.id);
  r.pack_id = s.i64(1);
  r.pack = s.text(2);
  r.offset = static_cast<std::uint64_t>(s.i64(3));
  r.stored_length = static_cast<std::uint32_t>(s.i64(4));
  r.raw_length = static_cast<std::uint32_t>(s.i64(5));
  r.codec = static_cast<Codec>(s.i64(6));
  r.type = static_cast<ElementType>(s.i64(7));
  if (!s.is_null(8)) {
    Blake3Digest b;
    if (s.digest(8, b)) r.base = b;
  }
  r.checksum = static_cast<std::uint64_t>(s.i64(9));
  return r;
}

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

}  // namespace

struct StorageMaintenance::Impl {
  std::string root;
  detail::Core core;                 // backend and index for frame loads
  std::unique_ptr<BlobStore> store;  // for whole-file reads (fsck) and reencode
  bool schema_ready = false;

  FrameIndex& index() { return *core.index; }

  Status ensure_schema() {
    if (schema_ready) return Status::ok();
    GROVE_RETURN_IF_ERROR(index().with_connection([](sqlite3* db) { return exec(db, kGcSchema); }));
    schema_ready = true;
    return Status::ok();
  }

  Result<std::vector<FrameRow>> frames_where(const std::string& where, std::int64_t param, bool has_param) {
    std::vector<FrameRow> out;
    GROVE_RETURN_IF_ERROR(index().with_connection([&](sqlite3* db) -> Status {
      std::string sql = std::string("SELECT ") + kFrameColumns +
                        " FROM frames f JOIN packs p ON p.id = f.pack_id " + where;
      Stmt s(db, sql.c_str());
      GROVE_RETURN_IF_ERROR(s.prepared());
      if (has_param) s.bind(1, param);
      int rc;
      while ((rc = s.step()) == SQLITE_ROW) out.push_back(read_frame_row(s));
      return rc == SQLITE_DONE ? Status::ok() : sql_error(db, "list frames");
    }));
    return out;
  }

  Result<std::vector<PackRow>> packs(const char* sql, std::int64_t param) {
    std::vector<PackRow> out;
    GROVE_RETURN_IF_ERROR(index().with_connection([&](sqlite3* db) -> Status {
      Stmt s(db, sql);
      GROVE_RETURN_IF_ERROR(s.prepared());
      if (std::strchr(sql, '?')) s.bind(1, param);
      int rc;
      while ((rc = s.step()) == SQLITE_ROW)
        out.push_back(PackRow{s.i64(0), s.text(1), static_cast<std::uint64_t>(s.i64(2)),
                              static_cast<std::uint64_t>(s.i64(3))});
      return rc == SQLITE_DONE ? Status::ok() : sql_error(db, "list packs");
    }));
    return out;
  }

  // Copies `frames` (rows of one pack) into new packs: stored bytes read back and checked
  // against their checksums, then put (durable) and switched over in one transaction each.
  Result<std::uint64_t> copy_frames(const std::vector<FrameRow>& frames, std::uint64_t& frames_copied) {
    std::uint64_t written = 0;
    PackBuilder builder(core.options.pack_target_bytes);
    auto flush = [&]() -> Status {
      PackBuilder::Sealed sealed = builder.seal();
      if (sealed.bytes.empty()) return Status::ok();
      NewPack pack{sealed.name, sealed.bytes.size(), std::move(sealed.entries)};
      GROVE_RETURN_IF_ERROR(core.backend->put(pack_key(pack.name), sealed.bytes));
      Status s = index().relocate(pack);
      if (!s.is_ok()) {
        (void)core.backend->remove(pack_key(pack.name));
        return s;
      }
      written += pack.size;
      return Status::ok();
    };
    std::vector<std::uint8_t> buf;
    for (const FrameRow& f : frames) {
      buf.resize(kFrameHeaderSize + f.stored_length);
      GROVE_RETURN_IF_ERROR(get_exact(*core.backend, pack_key(f.pack), f.offset, buf));
      std::span<const std::uint8_t> payload = std::span<const std::uint8_t>(buf).subspan(kFrameHeaderSize);
      if (stored_checksum(payload) != f.checksum)
        return corrupt("frame " + f.id.hex().substr(0, 16) + " in pack " + f.pack.substr(0, 16) +
                       " fails its checksum; run grove fsck");
      EncodedFrame encoded{f.codec, std::vector<std::uint8_t>(payload.begin(), payload.end())};
      if (!builder.fits(encoded.bytes.size())) GROVE_RETURN_IF_ERROR(flush());
      builder.add(f.id, f.type, f.raw_length, std::move(encoded), f.base);
      ++frames_copied;
    }
    GROVE_RETURN_IF_ERROR(flush());
    return written;
  }

  // Step 1 (and the dry run): moves dead files and frames to the graveyard and retires empty
  // packs, in one transaction; rolls back when `dry_run`.
  Status unlink(const std::vector<Sha256Digest>& live, std::int64_t now, std::int64_t cutoff, double rewrite_below,
                bool dry_run, GcReport& report) {
    return index().with_connection([&](sqlite3* db) -> Status {
      Tx tx(db);
      GROVE_RETURN_IF_ERROR(tx.begun());
      GROVE_RETURN_IF_ERROR(exec(db,
                                 "CREATE TEMP TABLE IF NOT EXISTS gc_live(sha BLOB PRIMARY KEY) WITHOUT ROWID;"
                                 "CREATE TEMP TABLE IF NOT EXISTS gc_dead(sha BLOB PRIMARY KEY) WITHOUT ROWID;"
                                 "CREATE TEMP TABLE IF NOT EXISTS gc_live_frames(id BLOB PRIMARY KEY) WITHOUT ROWID;"
                                 "DELETE FROM gc_live; DELETE FROM gc_dead; DELETE FROM gc_live_frames;"));
      {
        Stmt ins(db, "INSERT OR IGNORE INTO gc_live(sha) VALUES(?1)");
        GROVE_RETURN_IF_ERROR(ins.prepared());
        for (const Sha256Digest& d : live) {
          ins.reset();
          ins.bind(1, d);
          GROVE_RETURN_IF_ERROR(ins.run("insert live file"));
        }
      }
      {
        Stmt dead(db,
                  "INSERT INTO gc_dead SELECT sha256 FROM files WHERE created_at <= ?1 "
                  "AND sha256 NOT IN (SELECT sha FROM gc_live)");
        GROVE_RETURN_IF_ERROR(dead.prepared());
        dead.bind(1, cutoff);
        GROVE_RETURN_IF_ERROR(dead.run("find dead files"));
      }
      report.files_unlinked = static_cast<std::uint64_t>(sqlite3_changes(db));
      {
        Stmt mv(db,
                "INSERT OR REPLACE INTO gc_files SELECT sha256, size, frame_count, created_at, ?1 FROM files "
                "WHERE sha256 IN (SELECT sha FROM gc_dead)");
        GROVE_RETURN_IF_ERROR(mv.prepared());
        mv.bind(1, now);
        GROVE_RETURN_IF_ERROR(mv.run("unlink files"));
      }
      GROVE_RETURN_IF_ERROR(exec(db,
                                 "INSERT OR REPLACE INTO gc_recipes SELECT * FROM recipes WHERE file IN (SELECT sha FROM gc_dead);"
                                 "INSERT OR REPLACE INTO gc_tensors SELECT * FROM tensors WHERE file IN (SELECT sha FROM gc_dead);"
                                 "DELETE FROM recipes WHERE file IN (SELECT sha FROM gc_dead);"
                                 "DELETE FROM tensors WHERE file IN (SELECT sha FROM gc_dead);"
                                 "DELETE FROM files WHERE sha256 IN (SELECT sha FROM gc_dead);"
                                 "INSERT OR IGNORE INTO gc_live_frames SELECT frame FROM recipes;"));
      {
        // Frames of young packs stay whatever names them: an upload may be about to.
        Stmt young(db,
                   "INSERT OR IGNORE INTO gc_live_frames SELECT f.id FROM frames f JOIN packs p ON p.id = f.pack_id "
                   "WHERE p.created_at > ?1");
        GROVE_RETURN_IF_ERROR(young.prepared());
        young.bind(1, cutoff);
        GROVE_RETURN_IF_ERROR(young.run("keep young frames"));
      }
      // Delta bases of live frames (deltas are one level deep: one pass suffices).
      GROVE_RETURN_IF_ERROR(exec(db,
                                 "INSERT OR IGNORE INTO gc_live_frames SELECT f.base FROM frames f "
                                 "JOIN gc_live_frames l ON l.id = f.id WHERE f.base IS NOT NULL;"));
      {
        Stmt mv(db,
                "INSERT OR REPLACE INTO gc_frames SELECT id, pack_id, pack_offset, stored_length, raw_length, codec, "
                "elem_type, base, checksum, ?1 FROM frames WHERE id NOT IN (SELECT id FROM gc_live_frames)");
        GROVE_RETURN_IF_ERROR(mv.prepared());
        mv.bind(1, now);
        GROVE_RETURN_IF_ERROR(mv.run("unlink frames"));
      }
      report.frames_unlinked = static_cast<std::uint64_t>(sqlite3_changes(db));
      GROVE_RETURN_IF_ERROR(exec(db, "DELETE FROM frames WHERE id NOT IN (SELECT id FROM gc_live_frames);"));
      {
        Stmt retire(db,
                    "INSERT OR IGNORE INTO gc_retired(pack_id, retired_at) SELECT p.id, ?1 FROM packs p "
                    "WHERE p.created_at <= ?2 AND NOT EXISTS (SELECT 1 FROM frames f WHERE f.pack_id = p.id)");
        GROVE_RETURN_IF_ERROR(retire.prepared());
        retire.bind(1, now).bind(2, cutoff);
        GROVE_RETURN_IF_ERROR(retire.run("retire packs"));
      }
      report.packs_retired = static_cast<std::uint64_t>(sqlite3_changes(db));
      GROVE_ASSIGN_OR_RETURN(std::int64_t live_files, scalar(db, "SELECT count(*) FROM files"));
      report.live_files = static_cast<std::uint64_t>(live_files);
      if (!dry_run) return tx.commit();
      // What the run would free: every retired pack, and the garbage of packs to rewrite.
      {
        Stmt s(db,
               "SELECT p.size, p.created_at, p.id IN (SELECT pack_id FROM gc_retired), "
               "(SELECT coalesce(sum(f.stored_length + 48), 0) FROM frames f WHERE f.pack_id = p.id), "
               "(SELECT count(*) FROM frames f WHERE f.pack_id = p.id), p.frame_count FROM packs p");
        GROVE_RETURN_IF_ERROR(s.prepared());
        int rc;
        while ((rc = s.step()) == SQLITE_ROW) {
          const std::uint64_t size = static_cast<std::uint64_t>(s.i64(0));
          const bool old = s.i64(1) <= cutoff;
          const std::uint64_t live_bytes = static_cast<std::uint64_t>(s.i64(3));
          if (s.i64(2)) {
            report.bytes_reclaimable += size;
          } else if (old && s.i64(4) > 0 &&
                     worth_rewriting(live_bytes, size, static_cast<std::uint64_t>(s.i64(5)), rewrite_below)) {
            const std::uint64_t overhead = kPackMagicSize + kPackTrailerSize +
                                           kPackEntrySize * static_cast<std::uint64_t>(s.i64(4));
            report.bytes_reclaimable += size > live_bytes + overhead ? size - live_bytes - overhead : 0;
          }
        }
        if (rc != SQLITE_DONE) return sql_error(db, "measure packs");
      }
      return tx.rollback();
    });
  }

  // Step 3: files of the graveyard that are live now come back (with frames still there).
  Result<std::uint64_t> restore(const std::vector<Sha256Digest>& live) {
    std::uint64_t restored = 0;
    GROVE_RETURN_IF_ERROR(index().with_connection([&](sqlite3* db) -> Status {
      Tx tx(db);
      GROVE_RETURN_IF_ERROR(tx.begun());
      Stmt find(db, "SELECT 1 FROM gc_files WHERE sha256 = ?1");
      GROVE_RETURN_IF_ERROR(find.prepared());
      for (const Sha256Digest& d : live) {
        find.reset();
        find.bind(1, d);
        if (find.step() != SQLITE_ROW) continue;
        // Only when every frame of its recipe is still indexed or in the graveyard (the
        // trigger brings graveyard frames back as the recipe rows go in).
        Stmt missing(db,
                     "SELECT count(*) FROM gc_recipes r WHERE r.file = ?1 AND r.frame NOT IN (SELECT id FROM frames) "
                     "AND r.frame NOT IN (SELECT id FROM gc_frames)");
        GROVE_RETURN_IF_ERROR(missing.prepared());
        missing.bind(1, d);
        if (missing.step() != SQLITE_ROW || missing.i64(0) != 0) continue;
        const char* moves[] = {
            "INSERT OR IGNORE INTO files SELECT sha256, size, frame_count, created_at FROM gc_files WHERE sha256 = ?1",
            "INSERT OR IGNORE INTO recipes SELECT * FROM gc_recipes WHERE file = ?1",
            "INSERT OR IGNORE INTO tensors SELECT * FROM gc_tensors WHERE file = ?1",
            "DELETE FROM gc_files WHERE sha256 = ?1",
            "DELETE FROM gc_recipes WHERE file = ?1",
            "DELETE FROM gc_tensors WHERE file = ?1",
        };
        for (const char* sql : moves) {
          Stmt s(db, sql);
          GROVE_RETURN_IF_ERROR(s.prepared());
          s.bind(1, d);
          GROVE_RETURN_IF_ERROR(s.run("restore file"));
        }
        ++restored;
      }
      return tx.commit();
    }));
    return restored;
  }

  // Step 5: deletes packs retired before `cutoff` that still have no frame rows.
  Status delete_retired(std::int64_t cutoff, GcReport& report) {
    std::vector<PackRow> doomed;
    GROVE_RETURN_IF_ERROR(index().with_connection([&](sqlite3* db) -> Status {
      Tx tx(db);
      GROVE_RETURN_IF_ERROR(tx.begun());
      // Resurrected frames un-retire their pack.
      GROVE_RETURN_IF_ERROR(
          exec(db, "DELETE FROM gc_retired WHERE pack_id IN (SELECT pack_id FROM frames);"));
      Stmt s(db,
             "SELECT p.id, p.name, p.size, r.retired_at FROM gc_retired r JOIN packs p ON p.id = r.pack_id");
      GROVE_RETURN_IF_ERROR(s.prepared());
      int rc;
      while ((rc = s.step()) == SQLITE_ROW) {
        PackRow p{s.i64(0), s.text(1), static_cast<std::uint64_t>(s.i64(2))};
        if (s.i64(3) <= cutoff) {
          doomed.push_back(std::move(p));
        } else {
          report.bytes_pending += p.size;
        }
      }
      if (rc != SQLITE_DONE) return sql_error(db, "list retired packs");
      for (const PackRow& p : doomed) {
        for (const char* sql : {"DELETE FROM gc_frames WHERE pack_id = ?1", "DELETE FROM gc_retired WHERE pack_id = ?1",
                                "DELETE FROM packs WHERE id = ?1"}) {
          Stmt d(db, sql);
          GROVE_RETURN_IF_ERROR(d.prepared());
          d.bind(1, p.id);
          GROVE_RETURN_IF_ERROR(d.run("delete pack rows"));
        }
      }
      // Graveyard files whose frames are gone cannot come back; older ones are forgotten.
      Stmt old(db,
               "DELETE FROM gc_recipes WHERE file IN (SELECT sha256 FROM gc_files WHERE unlinked_at <= ?1);");
      GROVE_RETURN_IF_ERROR(old.prepared());
      old.bind(1, cutoff);
      GROVE_RETURN_IF_ERROR(old.run("forget files"));
      for (const char* sql : {"DELETE FROM gc_tensors WHERE file IN (SELECT sha256 FROM gc_files WHERE unlinked_at <= ?1)",
                              "DELETE FROM gc_files WHERE unlinked_at <= ?1"}) {
        Stmt d(db, sql);
        GROVE_RETURN_IF_ERROR(d.prepared());
        d.bind(1, cutoff);
        GROVE_RETURN_IF_ERROR(d.run("forget files"));
      }
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
                         m.packs("SELECT p.id, p.name, p.size, p.frame_count FROM packs p WHERE p.created_at <= ? "
                                 "AND p.id NOT IN (SELECT pack_id FROM gc_retired)",
                                 cutoff));
  for (const PackRow& p : candidates) {
    GROVE_ASSIGN_OR_RETURN(std::vector<FrameRow> frames,
                           m.frames_where("WHERE f.pack_id = ?1 ORDER BY f.pack_offset", p.id, true));
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
    GROVE_RETURN_IF_ERROR(m.index().with_connection([&](sqlite3* db) -> Status {
      Stmt s(db,
             "INSERT OR IGNORE INTO gc_retired(pack_id, retired_at) SELECT ?1, ?2 "
             "WHERE NOT EXISTS (SELECT 1 FROM frames WHERE pack_id = ?1)");
      GROVE_RETURN_IF_ERROR(s.prepared());
      s.bind(1, p.id).bind(2, now);
      return s.run("retire rewritten pack");
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
  std::set<std::string> damaged_packs;
  std::unordered_set<Blake3Digest, DigestHash> bad_frames;

  GROVE_ASSIGN_OR_RETURN(std::vector<PackRow> packs, m.packs("SELECT id, name, size, frame_count FROM packs ORDER BY id", 0));
  for (const PackRow& p : packs) {
    ++report.packs_checked;
    Result<ObjectInfo> info = m.core.backend->stat(pack_key(p.name));
    if (!info.is_ok()) {
      damaged_packs.insert(p.name);
      report.problems.push_back("pack " + p.name + " is missing: " + info.status().message());
      continue;
    }
    if (info->size != p.size) {
      damaged_packs.insert(p.name);
      report.problems.push_back("pack " + p.name + " has " + std::to_string(info->size) + " bytes, the index says " +
                                std::to_string(p.size));
    }
    Result<std::vector<PackEntry>> footer = read_pack_footer(*m.core.backend, p.name);
    if (!footer.is_ok()) {
      damaged_packs.insert(p.name);
      report.problems.push_back("pack " + p.name + ": " + footer.status().message());
    }
  }

  // Every indexed frame: stored checksum, header, decode and BLAKE3 (Core::load_frame).
  GROVE_ASSIGN_OR_RETURN(std::vector<FrameRow> frames, m.frames_where("ORDER BY f.pack_id, f.pack_offset", 0, false));
  std::unordered_map<Blake3Digest, const FrameRow*, DigestHash> by_id;
  for (const FrameRow& f : frames) by_id[f.id] = &f;
  detail::FrameScratch scratch;
  std::vector<std::uint8_t> stored, raw;
  for (const FrameRow& f : frames) {
    ++report.frames_checked;
    std::string problem;
    stored.resize(kFrameHeaderSize + f.stored_length);
    Status s = get_exact(*m.core.backend, pack_key(f.pack), f.offset, stored);
    if (!s.is_ok()) {
      problem = s.message();
    } else if (stored_checksum(std::span<const std::uint8_t>(stored).subspan(kFrameHeaderSize)) != f.checksum) {
      problem = "stored bytes fail their checksum";
    } else {
      std::optional<FrameLocation> base;
      if (f.base) {
        auto it = by_id.find(*f.base);
        if (it != by_id.end()) base = it->second->location();
      }
      scratch.base_id.reset();
      FrameLocation loc = f.location();
      s = m.core.load_frame(loc, base ? &*base : nullptr, scratch, raw);
      if (!s.is_ok()) problem = s.message();
    }
    if (!problem.empty()) {
      bad_frames.insert(f.id);
      damaged_packs.insert(f.pack);
      report.problems.push_back("frame " + f.id.hex().substr(0, 16) + " in pack " + f.pack.substr(0, 16) + " at " +
                                std::to_string(f.offset) + ": " + problem);
    }
  }
  // A delta whose base is bad cannot be read either.
  for (const FrameRow& f : frames)
    if (f.base && (bad_frames.contains(*f.base) || !by_id.contains(*f.base))) bad_frames.insert(f.id);

  // Every file: its recipe's frames, then its SHA-256 streamed through a reader.
  std::vector<std::pair<Sha256Digest, std::uint64_t>> files;
  std::vector<std::pair<Sha256Digest, Blake3Digest>> recipe_rows;
  GROVE_RETURN_IF_ERROR(m.index().with_connection([&](sqlite3* db) -> Status {
    Stmt s(db, "SELECT sha256, size FROM files ORDER BY sha256");
    GROVE_RETURN_IF_ERROR(s.prepared());
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      Sha256Digest d;
      s.digest(0, d);
      files.emplace_back(d, static_cast<std::uint64_t>(s.i64(1)));
    }
    if (rc != SQLITE_DONE) return sql_error(db, "list files");
    Stmt r(db, "SELECT file, frame FROM recipes");
    GROVE_RETURN_IF_ERROR(r.prepared());
    while ((rc = r.step()) == SQLITE_ROW) {
      Sha256Digest d;
      Blake3Digest f;
      r.digest(0, d);
      r.digest(1, f);
      recipe_rows.emplace_back(d, f);
    }
    return rc == SQLITE_DONE ? Status::ok() : sql_error(db, "list recipes");
  }));
  std::set<Sha256Digest> damaged_files;
  for (const auto& [file, frame] : recipe_rows)
    if (bad_frames.contains(frame) || !by_id.contains(frame)) damaged_files.insert(file);
  std::vector<std::uint8_t> buf(1 << 20);
  for (const auto& [file, size] : files) {
    ++report.files_checked;
    if (damaged_files.contains(file)) {
      report.problems.push_back("file " + file.hex() + " names damaged or missing frames");
      continue;
    }
    Result<std::unique_ptr<BlobReader>> reader = m.store->open(file);
    std::string problem;
    if (!reader.is_ok()) {
      problem = reader.status().message();
    } else {
      Sha256 hasher;
      std::uint64_t total = 0;
      while (true) {
        Result<std::size_t> n = (*reader)->read(buf);
        if (!n.is_ok()) {
          problem = n.status().message();
          break;
        }
        if (*n == 0) break;
        hasher.update(std::span<const std::uint8_t>(buf.data(), *n));
        total += *n;
      }
      if (problem.empty() && (total != size || hasher.finish() != file))
        problem = "reads back as other bytes than its SHA-256 (" + std::to_string(total) + " bytes)";
    }
    if (!problem.empty()) {
      damaged_files.insert(file);
      report.problems.push_back("file " + file.hex() + ": " + problem);
    }
  }
  report.damaged_packs.assign(damaged_packs.begin(), damaged_packs.end());
  report.damaged_files.assign(damaged_files.begin(), damaged_files.end());
  GROVE_ASSIGN_OR_RETURN(auto orphans, m.orphans(INT64_MAX));
  report.orphan_packs = orphans.size();
  if (!options.repair || report.clean()) return report;

  // Repair: salvage the good frames of damaged packs, then drop the damaged packs' rows, the
  // bad frames (and deltas on them) and every file naming one, in one transaction.
  for (const std::string& name : damaged_packs) {
    std::vector<FrameRow> good;
    for (const FrameRow& f : frames)
      if (f.pack == name && !bad_frames.contains(f.id)) good.push_back(f);
    if (good.empty()) continue;
    std::uint64_t copied = 0;
    Result<std::uint64_t> written = m.copy_frames(good, copied);
    if (!written.is_ok()) return written.status().with_context("salvaging pack " + name);
    report.frames_salvaged += copied;
  }
  GROVE_RETURN_IF_ERROR(m.index().with_connection([&](sqlite3* db) -> Status {
    Tx tx(db);
    GROVE_RETURN_IF_ERROR(tx.begun());
    GROVE_RETURN_IF_ERROR(exec(db, "CREATE TEMP TABLE IF NOT EXISTS fsck_bad(id BLOB PRIMARY KEY) WITHOUT ROWID;"
                                   "CREATE TEMP TABLE IF NOT EXISTS fsck_files(sha BLOB PRIMARY KEY) WITHOUT ROWID;"
                                   "DELETE FROM fsck_bad; DELETE FROM fsck_files;"));
    Stmt bad(db, "INSERT OR IGNORE INTO fsck_bad VALUES(?1)");
    GROVE_RETURN_IF_ERROR(bad.prepared());
    for (const Blake3Digest& id : bad_frames) {
      bad.reset();
      bad.bind(1, id);
      GROVE_RETURN_IF_ERROR(bad.run("mark bad frame"));
    }
    Stmt df(db, "INSERT OR IGNORE INTO fsck_files VALUES(?1)");
    GROVE_RETURN_IF_ERROR(df.prepared());
    for (const Sha256Digest& d : damaged_files) {
      df.reset();
      df.bind(1, d);
      GROVE_RETURN_IF_ERROR(df.run("mark damaged file"));
    }
    for (const std::string& name : damaged_packs) {
      for (const char* sql : {"DELETE FROM frames WHERE pack_id = (SELECT id FROM packs WHERE name = ?1)",
                              "DELETE FROM gc_frames WHERE pack_id = (SELECT id FROM packs WHERE name = ?1)",
                              "DELETE FROM gc_retired WHERE pack_id = (SELECT id FROM packs WHERE name = ?1)",
                              "DELETE FROM packs WHERE name = ?1"}) {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) return sql_error(db, "prepare repair");
        sqlite3_bind_text(st, 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) return sql_error(db, "drop damaged pack");
      }
    }
    GROVE_RETURN_IF_ERROR(exec(db,
                               "DELETE FROM frames WHERE id IN (SELECT id FROM fsck_bad);"
                               "DELETE FROM frames WHERE base IS NOT NULL AND base NOT IN (SELECT id FROM frames);"
                               "INSERT OR IGNORE INTO fsck_files SELECT DISTINCT file FROM recipes "
                               "  WHERE frame NOT IN (SELECT id FROM frames);"));
    Stmt list(db, "SELECT sha FROM fsck_files ORDER BY sha");
    GROVE_RETURN_IF_ERROR(list.prepared());
    int rc;
    while ((rc = list.step()) == SQLITE_ROW) {
      Sha256Digest d;
      list.digest(0, d);
      report.removed_files.push_back(d);
    }
    if (rc != SQLITE_DONE) return sql_error(db, "list removed files");
    GROVE_RETURN_IF_ERROR(exec(db,
                               "DELETE FROM recipes WHERE file IN (SELECT sha FROM fsck_files);"
                               "DELETE FROM tensors WHERE file IN (SELECT sha FROM fsck_files);"
                               "DELETE FROM files WHERE sha256 IN (SELECT sha FROM fsck_files);"));
    return tx.commit();
  }));
  for (const std::string& name : damaged_packs) (void)m.core.backend->remove(pack_key(name));
  return report;
}

Result<StoreStats> StorageMaintenance::stats() {
  Impl& m = *impl_;
  StoreStats out;
  GROVE_RETURN_IF_ERROR(m.index().with_connection([&](sqlite3* db) -> Status {
    struct FrameInfo {
      std::uint32_t raw = 0, stored = 0;
      bool delta = false;
    };
    std::unordered_map<Blake3Digest, FrameInfo, DigestHash> frames;
    Stmt f(db, "SELECT id, raw_length, stored_length, base IS NOT NULL FROM frames");
    GROVE_RETURN_IF_ERROR(f.prepared());
    int rc;
    while ((rc = f.step()) == SQLITE_ROW) {
      Blake3Digest id;
      f.digest(0, id);
      FrameInfo info{static_cast<std::uint32_t>(f.i64(1)), static_cast<std::uint32_t>(f.i64(2)), f.i64(3) != 0};
      frames[id] = info;
      ++out.frame_count;
      if (info.delta) ++out.delta_frames;
    }
    if (rc != SQLITE_DONE) return sql_error(db, "read frames");
    Stmt files(db, "SELECT sha256, size FROM files");
    GROVE_RETURN_IF_ERROR(files.prepared());
    while ((rc = files.step()) == SQLITE_ROW) {
      Sha256Digest d;
      files.digest(0, d);
      out.files[d].raw_bytes = static_cast<std::uint64_t>(files.i64(1));
    }
    if (rc != SQLITE_DONE) return sql_error(db, "read files");
    // Each frame belongs to the oldest file naming it.
    Stmt r(db,
           "SELECT r.file, r.frame FROM recipes r JOIN files f ON f.sha256 = r.file "
           "ORDER BY f.created_at, r.file, r.raw_offset");
    GROVE_RETURN_IF_ERROR(r.prepared());
    std::unordered_set<Blake3Digest, DigestHash> owned;
    while ((rc = r.step()) == SQLITE_ROW) {
      Sha256Digest file;
      Blake3Digest frame;
      r.digest(0, file);
      r.digest(1, frame);
      auto it = frames.find(frame);
      if (it == frames.end() || !owned.insert(frame).second) continue;
      FileStorageStats& s = out.files[file];
      const FrameInfo& fi = it->second;
      s.unique_raw_bytes += fi.raw;
      s.stored_bytes += fi.stored + kFrameHeaderSize;
      const std::uint64_t saved = fi.raw > fi.stored ? fi.raw - fi.stored : 0;
      (fi.delta ? s.delta_saved : s.codec_saved) += saved;
    }
    if (rc != SQLITE_DONE) return sql_error(db, "read recipes");
    GROVE_ASSIGN_OR_RETURN(std::int64_t n, scalar(db, "SELECT count(*) FROM packs"));
    GROVE_ASSIGN_OR_RETURN(std::int64_t bytes, scalar(db, "SELECT coalesce(sum(size), 0) FROM packs"));
    out.pack_count = static_cast<std::uint64_t>(n);
    out.pack_bytes = static_cast<std::uint64_t>(bytes);
    return Status::ok();
  }));
  return out;
}

Result<ReencodeStats> StorageMaintenance::repack(const Sha256Digest& file, const std::vector<Sha256Digest>& base_files) {
  return impl_->store->reencode(file, base_files);
}

}  // namespace grove::storage
