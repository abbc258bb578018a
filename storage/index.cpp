// The frame index over SQLite (see index.h).
#include "storage/index.h"

#include <sqlite3.h>

#include <chrono>
#include <cstring>

namespace grove::storage {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS packs(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  size INTEGER NOT NULL,
  frame_count INTEGER NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS frames(
  id BLOB PRIMARY KEY,
  pack_id INTEGER NOT NULL,
  pack_offset INTEGER NOT NULL,
  stored_length INTEGER NOT NULL,
  raw_length INTEGER NOT NULL,
  codec INTEGER NOT NULL,
  elem_type INTEGER NOT NULL,
  base BLOB,
  checksum INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS frames_by_pack ON frames(pack_id);
CREATE INDEX IF NOT EXISTS frames_by_base ON frames(base) WHERE base IS NOT NULL;
CREATE TABLE IF NOT EXISTS files(
  sha256 BLOB PRIMARY KEY,
  size INTEGER NOT NULL,
  frame_count INTEGER NOT NULL,
  created_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recipes(
  file BLOB NOT NULL,
  raw_offset INTEGER NOT NULL,
  frame BLOB NOT NULL,
  PRIMARY KEY(file, raw_offset)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS recipes_by_frame ON recipes(frame);
CREATE TABLE IF NOT EXISTS tensors(
  file BLOB NOT NULL,
  name TEXT NOT NULL,
  dtype TEXT NOT NULL,
  shape TEXT NOT NULL,
  offset INTEGER NOT NULL,
  length INTEGER NOT NULL,
  PRIMARY KEY(file, name)) WITHOUT ROWID;
)sql";

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status sql_error(sqlite3* db, const std::string& what) {
  return io_error("storage index: " + what + ": " + sqlite3_errmsg(db));
}

// A prepared statement, finalized on scope exit.
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
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  template <std::size_t N>
  Stmt& bind(int i, const Digest<N>& d) {
    sqlite3_bind_blob(stmt_, i, d.bytes.data(), N, SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind_null(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE, or an error code.
  int step() { return sqlite3_step(stmt_); }
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

Status exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return io_error("storage index: " + msg);
  }
  return Status::ok();
}

// Columns starting at `col`: pack name, pack_offset, stored_length, raw_length, codec, elem_type,
// base; the frame id is given.
bool read_location(const Stmt& s, int col, const Blake3Digest& id, FrameLocation& out) {
  if (s.is_null(col)) return false;
  out.id = id;
  out.pack = s.text(col);
  out.offset = static_cast<std::uint64_t>(s.i64(col + 1));
  out.stored_length = static_cast<std::uint32_t>(s.i64(col + 2));
  out.raw_length = static_cast<std::uint32_t>(s.i64(col + 3));
  out.codec = static_cast<Codec>(s.i64(col + 4));
  out.type = static_cast<ElementType>(s.i64(col + 5));
  out.base.reset();
  if (!s.is_null(col + 6)) {
    Blake3Digest b;
    if (s.digest(col + 6, b)) out.base = b;
  }
  return true;
}

// RAII transaction: rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) { status_ = exec(db, "BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (status_.is_ok() && !done_) (void)exec(db_, "ROLLBACK");
  }
  const Status& begun() const { return status_; }
  Status commit() {
    done_ = true;
    return exec(db_, "COMMIT");
  }

 private:
  sqlite3* db_;
  Status status_;
  bool done_ = false;
};

}  // namespace

Result<std::unique_ptr<FrameIndex>> FrameIndex::open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    Status s = io_error("cannot open storage index " + path + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return s;
  }
  std::unique_ptr<FrameIndex> index(new FrameIndex(db));
  sqlite3_busy_timeout(db, 10000);
  // WAL with synchronous=FULL: a committed transaction survives a power cut, which is what lets
  // the registry commit rely on it.
  GROVE_RETURN_IF_ERROR(exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"));
  GROVE_RETURN_IF_ERROR(exec(db, kSchema));
  return index;
}

FrameIndex::~FrameIndex() { sqlite3_close(db_); }

Result<std::optional<FrameLocation>> FrameIndex::find_frame(const Blake3Digest& id) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "SELECT p.name, f.pack_offset, f.stored_length, f.raw_length, f.codec, f.elem_type, f.base "
         "FROM frames f JOIN packs p ON p.id = f.pack_id WHERE f.id = ?1");
  GROVE_RETURN_IF_ERROR(s.prepared());
  s.bind(1, id);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<FrameLocation>();
  if (rc != SQLITE_ROW) return sql_error(db_, "find frame");
  FrameLocation loc;
  read_location(s, 0, id, loc);
  return std::optional<FrameLocation>(std::move(loc));
}

Result<std::optional<std::uint64_t>> FrameIndex::file_size(const Sha256Digest& file) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT size FROM files WHERE sha256 = ?1");
  GROVE_RETURN_IF_ERROR(s.prepared());
  s.bind(1, file);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<std::uint64_t>();
  if (rc != SQLITE_ROW) return sql_error(db_, "file size");
  return std::optional<std::uint64_t>(static_cast<std::uint64_t>(s.i64(0)));
}

Result<std::vector<RecipeEntry>> FrameIndex::recipe_from(const Sha256Digest& file, std::uint64_t from,
                                                         std::size_t limit) {
  std::lock_guard lock(mu_);
  // LEFT JOINs: a recipe row whose frame is missing still comes back (with NULLs), so the
  // reader can report the damage instead of silently skipping bytes.
  Stmt s(db_,
         "SELECT r.raw_offset, r.frame, "
         "p.name, f.pack_offset, f.stored_length, f.raw_length, f.codec, f.elem_type, f.base, "
         "bp.name, b.pack_offset, b.stored_length, b.raw_length, b.codec, b.elem_type, b.base "
         "FROM recipes r LEFT JOIN frames f ON f.id = r.frame LEFT JOIN packs p ON p.id = f.pack_id "
         "LEFT JOIN frames b ON b.id = f.base LEFT JOIN packs bp ON bp.id = b.pack_id "
         "WHERE r.file = ?1 AND r.raw_offset >= "
         "  (SELECT raw_offset FROM recipes WHERE file = ?1 AND raw_offset <= ?2 ORDER BY raw_offset DESC LIMIT 1) "
         "ORDER BY r.raw_offset LIMIT ?3");
  GROVE_RETURN_IF_ERROR(s.prepared());
  s.bind(1, file).bind(2, static_cast<std::int64_t>(from)).bind(3, static_cast<std::int64_t>(limit));
  std::vector<RecipeEntry> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    RecipeEntry e;
    e.raw_offset = static_cast<std::uint64_t>(s.i64(0));
    s.digest(1, e.frame.id);
    if (!read_location(s, 2, e.frame.id, e.frame)) e.frame.pack.clear();  // missing frame row
    if (e.frame.base) {
      FrameLocation b;
      if (read_location(s, 9, *e.frame.base, b)) e.base = std::move(b);
    }
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return sql_error(db_, "read recipe");
  return out;
}

Result<std::vector<TensorRecord>> FrameIndex::tensors(const Sha256Digest& file) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT name, dtype, shape, offset, length FROM tensors WHERE file = ?1 ORDER BY offset");
  GROVE_RETURN_IF_ERROR(s.prepared());
  s.bind(1, file);
  std::vector<TensorRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back({s.text(0), s.text(1), s.text(2), static_cast<std::uint64_t>(s.i64(3)),
                   static_cast<std::uint64_t>(s.i64(4))});
  if (rc != SQLITE_DONE) return sql_error(db_, "read tensors");
  return out;
}

Result<bool> FrameIndex::is_base(const Blake3Digest& id) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT 1 FROM frames WHERE base = ?1 LIMIT 1");
  GROVE_RETURN_IF_ERROR(s.prepared());
  s.bind(1, id);
  int rc = s.step();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sql_error(db_, "find delta frames");
  return rc == SQLITE_ROW;
}

Result<std::vector<std::string>> FrameIndex::pack_names() {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT name FROM packs");
  GROVE_RETURN_IF_ERROR(s.prepared());
  std::vector<std::string> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(s.text(0));
  if (rc != SQLITE_DONE) return sql_error(db_, "list packs");
  return out;
}

Status FrameIndex::insert_pack(const NewPack& pack, std::int64_t now, std::int64_t& pack_id) {
  Stmt ins(db_, "INSERT OR IGNORE INTO packs(name, size, frame_count, created_at) VALUES(?1, ?2, ?3, ?4)");
  GROVE_RETURN_IF_ERROR(ins.prepared());
  ins.bind(1, pack.name).bind(2, static_cast<std::int64_t>(pack.size));
  ins.bind(3, static_cast<std::int64_t>(pack.entries.size())).bind(4, now);
  if (ins.step() != SQLITE_DONE) return sql_error(db_, "insert pack");
  Stmt sel(db_, "SELECT id FROM packs WHERE name = ?1");
  GROVE_RETURN_IF_ERROR(sel.prepared());
  sel.bind(1, pack.name);
  if (sel.step() != SQLITE_ROW) return sql_error(db_, "find pack");
  pack_id = sel.i64(0);
  return Status::ok();
}

namespace {

Status put_frames(sqlite3* db, const NewPack& pack, std::int64_t pack_id, bool replace) {
  Stmt s(db, replace ? "INSERT OR REPLACE INTO frames VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                     : "INSERT OR IGNORE INTO frames VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  GROVE_RETURN_IF_ERROR(s.prepared());
  for (const PackEntry& e : pack.entries) {
    s.reset();
    s.bind(1, e.id).bind(2, pack_id).bind(3, static_cast<std::int64_t>(e.offset));
    s.bind(4, static_cast<std::int64_t>(e.stored_length)).bind(5, static_cast<std::int64_t>(e.raw_length));
    s.bind(6, static_cast<std::int64_t>(e.codec)).bind(7, static_cast<std::int64_t>(e.type));
    if (e.base) {
      s.bind(8, *e.base);
    } else {
      s.bind_null(8);
    }
    s.bind(9, static_cast<std::int64_t>(e.checksum));
    if (s.step() != SQLITE_DONE) return sql_error(db, "insert frame");
  }
  return Status::ok();
}

}  // namespace

Status FrameIndex::commit(const std::vector<NewPack>& packs, const NewFile& file) {
  std::lock_guard lock(mu_);
  const std::int64_t now = now_seconds();
  Transaction tx(db_);
  GROVE_RETURN_IF_ERROR(tx.begun());
  for (const NewPack& pack : packs) {
    std::int64_t pack_id = 0;
    GROVE_RETURN_IF_ERROR(insert_pack(pack, now, pack_id));
    GROVE_RETURN_IF_ERROR(put_frames(db_, pack, pack_id, /*replace=*/false));
  }
  Stmt f(db_, "INSERT OR IGNORE INTO files(sha256, size, frame_count, created_at) VALUES(?1, ?2, ?3, ?4)");
  GROVE_RETURN_IF_ERROR(f.prepared());
  f.bind(1, file.sha256).bind(2, static_cast<std::int64_t>(file.size));
  f.bind(3, static_cast<std::int64_t>(file.recipe.size())).bind(4, now);
  if (f.step() != SQLITE_DONE) return sql_error(db_, "insert file");
  if (sqlite3_changes(db_) == 1) {
    Stmt r(db_, "INSERT INTO recipes(file, raw_offset, frame) VALUES(?1, ?2, ?3)");
    GROVE_RETURN_IF_ERROR(r.prepared());
    for (const auto& [offset, id] : file.recipe) {
      r.reset();
      r.bind(1, file.sha256).bind(2, static_cast<std::int64_t>(offset)).bind(3, id);
      if (r.step() != SQLITE_DONE) return sql_error(db_, "insert recipe");
    }
    Stmt t(db_, "INSERT OR IGNORE INTO tensors VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    GROVE_RETURN_IF_ERROR(t.prepared());
    for (const TensorRecord& rec : file.tensors) {
      t.reset();
      t.bind(1, file.sha256).bind(2, rec.name).bind(3, rec.dtype).bind(4, rec.shape);
      t.bind(5, static_cast<std::int64_t>(rec.offset)).bind(6, static_cast<std::int64_t>(rec.length));
      if (t.step() != SQLITE_DONE) return sql_error(db_, "insert tensor");
    }
  }
  return tx.commit();
}

Result<bool> FrameIndex::touch_file(const Sha256Digest& file) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "UPDATE files SET created_at = max(created_at, ?2) WHERE sha256 = ?1");
  GROVE_RETURN_IF_ERROR(s.prepared());
  s.bind(1, file).bind(2, now_seconds());
  if (s.step() != SQLITE_DONE) return sql_error(db_, "touch file");
  return sqlite3_changes(db_) == 1;
}

Status FrameIndex::relocate(const NewPack& pack) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  GROVE_RETURN_IF_ERROR(tx.begun());
  std::int64_t pack_id = 0;
  GROVE_RETURN_IF_ERROR(insert_pack(pack, now_seconds(), pack_id));
  GROVE_RETURN_IF_ERROR(put_frames(db_, pack, pack_id, /*replace=*/true));
  return tx.commit();
}

// --- maintenance queries (storage/maintenance.cpp) ------------------------------------------------

Status FrameIndex::with_connection(const std::function<Status(sqlite3*)>& f) {
  std::lock_guard lock(mu_);
  return f(db_);
}

}  // namespace grove::storage
