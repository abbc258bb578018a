// The frame index over SQLite (see index.h).
#include "storage/index.h"

#include <chrono>

#include "common/sqlite_util.h"

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
  checksum INTEGER NOT NULL,
  raw_check INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS frames_by_pack ON frames(pack_id);
CREATE INDEX IF NOT EXISTS frames_by_base ON frames(base) WHERE base IS NOT NULL;
CREATE TABLE IF NOT EXISTS files(
  sha256 BLOB PRIMARY KEY,
  size INTEGER NOT NULL,
  frame_count INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  touched_at INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
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

// Long: gc's unlink holds the write lock for one transaction over the whole index, and a push's
// commit waits it out rather than fail.
constexpr int kBusyTimeoutMs = 10000;

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Columns starting at `col`: pack name, pack_offset, stored_length, raw_length, codec, elem_type,
// base, raw_check; the frame id is given. False when the frame row is missing (NULL pack name).
bool read_location(const sql::Stmt& s, int col, const Blake3Digest& id, FrameLocation& out) {
  if (s.is_null(col)) return false;
  out.id = id;
  out.pack = s.text(col);
  out.offset = static_cast<std::uint64_t>(s.int64(col + 1));
  out.stored_length = static_cast<std::uint32_t>(s.int64(col + 2));
  out.raw_length = static_cast<std::uint32_t>(s.int64(col + 3));
  out.codec = static_cast<Codec>(s.int64(col + 4));
  out.type = static_cast<ElementType>(s.int64(col + 5));
  out.base.reset();
  Blake3Digest b;
  if (s.digest(col + 6, b)) out.base = b;
  out.raw_check = static_cast<std::uint64_t>(s.int64(col + 7));
  return true;
}

Result<bool> has_column(sql::Db& db, const char* table, const char* column) {
  GROVE_ASSIGN_OR_RETURN(sql::Stmt s, db.prepare("SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2"));
  s.bind_all(std::string(table), std::string(column));
  GROVE_ASSIGN_OR_RETURN(bool row, s.step());
  return row && s.int64(0) > 0;
}

Result<sql::Transaction> begin_write(sql::Db& db) { return sql::Transaction::begin(db, sql::Transaction::Kind::kWrite); }

}  // namespace

FrameIndex::FrameIndex(std::unique_ptr<sql::Db> db) : db_(std::move(db)) {}
FrameIndex::~FrameIndex() = default;

Result<std::unique_ptr<FrameIndex>> FrameIndex::open(const std::string& path) {
  Result<std::unique_ptr<sql::Db>> db = sql::Db::open(path, /*create=*/true);
  if (!db.is_ok()) return db.status().with_context("cannot open storage index " + path);
  (*db)->set_busy_timeout(kBusyTimeoutMs);
  // WAL with synchronous=FULL: a committed transaction survives a power cut, which is what lets
  // the registry commit rely on it.
  GROVE_RETURN_IF_ERROR((*db)->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"));
  GROVE_RETURN_IF_ERROR((*db)->exec(kSchema));
  // files.touched_at came after the first stores: add it to an index made before it.
  GROVE_ASSIGN_OR_RETURN(bool touched, has_column(**db, "files", "touched_at"));
  if (!touched) GROVE_RETURN_IF_ERROR((*db)->exec("ALTER TABLE files ADD COLUMN touched_at INTEGER NOT NULL DEFAULT 0"));
  // So did frames.raw_check (frames indexed before it keep 0 and are checked by their id). gc's
  // resurrection triggers of such an index copy rows into frames by position: drop them, and
  // the next gc creates them again, naming their columns.
  GROVE_ASSIGN_OR_RETURN(bool checked, has_column(**db, "frames", "raw_check"));
  if (!checked) {
    GROVE_ASSIGN_OR_RETURN(sql::Transaction tx, begin_write(**db));
    GROVE_ASSIGN_OR_RETURN(bool added, has_column(**db, "frames", "raw_check"));  // by another process meanwhile?
    if (!added)
      GROVE_RETURN_IF_ERROR((*db)->exec("ALTER TABLE frames ADD COLUMN raw_check INTEGER NOT NULL DEFAULT 0; "
                                        "DROP TRIGGER IF EXISTS gc_resurrect_by_recipe; "
                                        "DROP TRIGGER IF EXISTS gc_resurrect_base;"));
    GROVE_RETURN_IF_ERROR(tx.commit());
  }
  return std::unique_ptr<FrameIndex>(new FrameIndex(std::move(*db)));
}

Result<std::optional<FrameLocation>> FrameIndex::find_frame(const Blake3Digest& id) {
  std::lock_guard lock(mu_);
  GROVE_ASSIGN_OR_RETURN(sql::Stmt s,
                         db_->prepare("SELECT p.name, f.pack_offset, f.stored_length, f.raw_length, f.codec, "
                                      "f.elem_type, f.base, f.raw_check FROM frames f JOIN packs p ON p.id = f.pack_id WHERE f.id = ?1"));
  GROVE_ASSIGN_OR_RETURN(bool row, s.bind_all(id).step());
  if (!row) return std::optional<FrameLocation>();
  FrameLocation loc;
  read_location(s, 0, id, loc);
  return std::optional<FrameLocation>(std::move(loc));
}

Result<std::optional<std::uint64_t>> FrameIndex::file_size(const Sha256Digest& file) {
  std::lock_guard lock(mu_);
  GROVE_ASSIGN_OR_RETURN(sql::Stmt s, db_->prepare("SELECT size FROM files WHERE sha256 = ?1"));
  GROVE_ASSIGN_OR_RETURN(bool row, s.bind_all(file).step());
  if (!row) return std::optional<std::uint64_t>();
  return std::optional<std::uint64_t>(static_cast<std::uint64_t>(s.int64(0)));
}

Result<std::vector<RecipeEntry>> FrameIndex::recipe_from(const Sha256Digest& file, std::uint64_t from,
                                                         std::size_t limit) {
  std::lock_guard lock(mu_);
  // LEFT JOINs: a recipe row whose frame is missing still comes back (with NULLs), so the
  // reader can report the damage instead of silently skipping bytes.
  GROVE_ASSIGN_OR_RETURN(
      sql::Stmt s,
      db_->prepare("SELECT r.raw_offset, r.frame, "
                   "p.name, f.pack_offset, f.stored_length, f.raw_length, f.codec, f.elem_type, f.base, f.raw_check, "
                   "bp.name, b.pack_offset, b.stored_length, b.raw_length, b.codec, b.elem_type, b.base, b.raw_check "
                   "FROM recipes r LEFT JOIN frames f ON f.id = r.frame LEFT JOIN packs p ON p.id = f.pack_id "
                   "LEFT JOIN frames b ON b.id = f.base LEFT JOIN packs bp ON bp.id = b.pack_id "
                   "WHERE r.file = ?1 AND r.raw_offset >= "
                   "  (SELECT raw_offset FROM recipes WHERE file = ?1 AND raw_offset <= ?2 ORDER BY raw_offset DESC LIMIT 1) "
                   "ORDER BY r.raw_offset LIMIT ?3"));
  s.bind_all(file, from, static_cast<std::uint64_t>(limit));
  std::vector<RecipeEntry> out;
  for (;;) {
    GROVE_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    RecipeEntry e;
    e.raw_offset = static_cast<std::uint64_t>(s.int64(0));
    s.digest(1, e.frame.id);
    if (!read_location(s, 2, e.frame.id, e.frame)) e.frame.pack.clear();  // missing frame row
    if (e.frame.base) {
      FrameLocation b;
      if (read_location(s, 10, *e.frame.base, b)) e.base = std::move(b);
    }
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<TensorRecord>> FrameIndex::tensors(const Sha256Digest& file) {
  std::lock_guard lock(mu_);
  GROVE_ASSIGN_OR_RETURN(
      sql::Stmt s, db_->prepare("SELECT name, dtype, shape, offset, length FROM tensors WHERE file = ?1 ORDER BY offset"));
  s.bind_all(file);
  std::vector<TensorRecord> out;
  for (;;) {
    GROVE_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    out.push_back({s.text(0), s.text(1), s.text(2), static_cast<std::uint64_t>(s.int64(3)),
                   static_cast<std::uint64_t>(s.int64(4))});
  }
  return out;
}

Result<bool> FrameIndex::is_base(const Blake3Digest& id) {
  std::lock_guard lock(mu_);
  GROVE_ASSIGN_OR_RETURN(sql::Stmt s, db_->prepare("SELECT 1 FROM frames WHERE base = ?1 LIMIT 1"));
  return s.bind_all(id).step();
}

Result<std::vector<std::string>> FrameIndex::pack_names() {
  std::lock_guard lock(mu_);
  GROVE_ASSIGN_OR_RETURN(sql::Stmt s, db_->prepare("SELECT name FROM packs"));
  std::vector<std::string> out;
  for (;;) {
    GROVE_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    out.push_back(s.text(0));
  }
  return out;
}

Status FrameIndex::insert_pack(const NewPack& pack, std::int64_t now, std::int64_t& pack_id) {
  {
    GROVE_ASSIGN_OR_RETURN(
        sql::Stmt ins, db_->prepare("INSERT OR IGNORE INTO packs(name, size, frame_count, created_at) VALUES(?1, ?2, ?3, ?4)"));
    GROVE_RETURN_IF_ERROR(ins.bind_all(pack.name, pack.size, static_cast<std::uint64_t>(pack.entries.size()), now).run());
  }
  GROVE_ASSIGN_OR_RETURN(sql::Stmt sel, db_->prepare("SELECT id FROM packs WHERE name = ?1"));
  GROVE_ASSIGN_OR_RETURN(bool row, sel.bind_all(pack.name).step());
  if (!row) return internal_error("storage index: pack " + pack.name + " vanished while being inserted");
  pack_id = sel.int64(0);
  return Status::ok();
}

namespace {

Status put_frames(sql::Db& db, const NewPack& pack, std::int64_t pack_id, bool replace) {
  GROVE_ASSIGN_OR_RETURN(sql::Stmt s, db.prepare(replace ? "INSERT OR REPLACE INTO frames VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                                                         : "INSERT OR IGNORE INTO frames VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
  for (const PackEntry& e : pack.entries) {
    s.reset();
    s.bind_all(e.id, pack_id, e.offset, static_cast<std::int64_t>(e.stored_length),
               static_cast<std::int64_t>(e.raw_length), static_cast<std::int64_t>(e.codec),
               static_cast<std::int64_t>(e.type), e.base, static_cast<std::int64_t>(e.checksum),
               static_cast<std::int64_t>(e.raw_check));
    GROVE_RETURN_IF_ERROR(s.run());
  }
  return Status::ok();
}

}  // namespace

Status FrameIndex::commit(const std::vector<NewPack>& packs, const NewFile& file) {
  std::lock_guard lock(mu_);
  const std::int64_t now = now_seconds();
  GROVE_ASSIGN_OR_RETURN(sql::Transaction tx, begin_write(*db_));
  for (const NewPack& pack : packs) {
    std::int64_t pack_id = 0;
    GROVE_RETURN_IF_ERROR(insert_pack(pack, now, pack_id));
    GROVE_RETURN_IF_ERROR(put_frames(*db_, pack, pack_id, /*replace=*/false));
  }
  {
    GROVE_ASSIGN_OR_RETURN(
        sql::Stmt f, db_->prepare("INSERT OR IGNORE INTO files(sha256, size, frame_count, created_at) VALUES(?1, ?2, ?3, ?4)"));
    GROVE_RETURN_IF_ERROR(f.bind_all(file.sha256, file.size, static_cast<std::uint64_t>(file.recipe.size()), now).run());
  }
  if (db_->changes() == 1) {
    GROVE_ASSIGN_OR_RETURN(sql::Stmt r, db_->prepare("INSERT INTO recipes(file, raw_offset, frame) VALUES(?1, ?2, ?3)"));
    for (const auto& [offset, id] : file.recipe) {
      r.reset();
      GROVE_RETURN_IF_ERROR(r.bind_all(file.sha256, offset, id).run());
    }
    GROVE_ASSIGN_OR_RETURN(sql::Stmt t, db_->prepare("INSERT OR IGNORE INTO tensors VALUES(?1, ?2, ?3, ?4, ?5, ?6)"));
    for (const TensorRecord& rec : file.tensors) {
      t.reset();
      GROVE_RETURN_IF_ERROR(t.bind_all(file.sha256, rec.name, rec.dtype, rec.shape, rec.offset, rec.length).run());
    }
  }
  return tx.commit();
}

Result<bool> FrameIndex::touch_file(const Sha256Digest& file) {
  std::lock_guard lock(mu_);
  GROVE_ASSIGN_OR_RETURN(sql::Stmt s, db_->prepare("UPDATE files SET touched_at = max(touched_at, ?2) WHERE sha256 = ?1"));
  GROVE_RETURN_IF_ERROR(s.bind_all(file, now_seconds()).run());
  return db_->changes() == 1;
}

Status FrameIndex::relocate(const NewPack& pack) {
  std::lock_guard lock(mu_);
  GROVE_ASSIGN_OR_RETURN(sql::Transaction tx, begin_write(*db_));
  std::int64_t pack_id = 0;
  GROVE_RETURN_IF_ERROR(insert_pack(pack, now_seconds(), pack_id));
  GROVE_RETURN_IF_ERROR(put_frames(*db_, pack, pack_id, /*replace=*/true));
  return tx.commit();
}

// --- maintenance queries (storage/maintenance.cpp) ------------------------------------------------

Status FrameIndex::with_connection(const std::function<Status(sql::Db&)>& f) {
  std::lock_guard lock(mu_);
  return f(*db_);
}

}  // namespace grove::storage
