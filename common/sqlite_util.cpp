#include "common/sqlite_util.h"

#include <sqlite3.h>

namespace grove::sql {
namespace {

// Long enough to ride out another process's checkpoint or a CLI command; short enough that a
// stuck lock surfaces as kUnavailable instead of a hung request.
constexpr int kBusyTimeoutMs = 5000;

}  // namespace

Status sqlite_status(int rc, sqlite3* db, std::string_view what) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::ok();
  std::string message = std::string(what) + ": " + sqlite3_errstr(rc);
  if (db != nullptr) {
    const char* detail = sqlite3_errmsg(db);
    if (detail != nullptr && message.find(detail) == std::string::npos) message += " (" + std::string(detail) + ")";
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return {Code::kUnavailable, message};
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return {Code::kCorrupt, message};
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return {Code::kIoError, message};
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) return {Code::kAlreadyExists, message};
      return {Code::kInternal, message};
    default:
      return {Code::kInternal, message};
  }
}

// --- Stmt

Stmt::Stmt(sqlite3* db, sqlite3_stmt* stmt, bool* in_use) : db_(db), stmt_(stmt), in_use_(in_use) {}

Stmt::Stmt(Stmt&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_), in_use_(other.in_use_), bind_rc_(other.bind_rc_) {
  other.stmt_ = nullptr;
  other.in_use_ = nullptr;
}

Stmt::~Stmt() {
  if (stmt_ == nullptr) return;
  if (in_use_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    *in_use_ = false;
  } else {
    sqlite3_finalize(stmt_);
  }
}

void Stmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_rc_ = SQLITE_OK;
}

void Stmt::bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Stmt::bind(int index, std::string_view value) {
  int rc = sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Stmt::bind(int index, const std::optional<std::string>& value) {
  if (value) {
    bind(index, std::string_view(*value));
  } else {
    bind(index, nullptr);
  }
}

void Stmt::bind(int index, std::nullptr_t) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Stmt::bind(int index, std::span<const std::uint8_t> blob) {
  int rc = sqlite3_bind_blob64(stmt_, index, blob.data(), blob.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

Result<bool> Stmt::step() {
  if (bind_rc_ != SQLITE_OK) return sqlite_status(bind_rc_, db_, "binding a statement parameter");
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return sqlite_status(rc, db_, "running a statement");
}

Status Stmt::run() {
  for (;;) {
    GROVE_ASSIGN_OR_RETURN(bool row, step());
    if (!row) return Status::ok();
  }
}

std::int64_t Stmt::int64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Stmt::text(int column) const {
  const auto* p = sqlite3_column_text(stmt_, column);
  if (p == nullptr) return {};
  return {reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
}

std::optional<std::string> Stmt::optional_text(int column) const {
  if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
  return text(column);
}

bool Stmt::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

std::span<const std::uint8_t> Stmt::blob(int column) const {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, column));
  if (p == nullptr) return {};
  return {p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
}

// --- Db

Result<std::unique_ptr<Db>> Db::open(const std::string& path, bool create) {
  sqlite3* handle = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
  std::unique_ptr<Db> db(new Db(handle));  // owns the handle even when opening failed
  if (rc != SQLITE_OK) return sqlite_status(rc, handle, "opening " + path);
  sqlite3_extended_result_codes(handle, 1);
  sqlite3_busy_timeout(handle, kBusyTimeoutMs);
  GROVE_RETURN_IF_ERROR(db->exec("PRAGMA foreign_keys = ON"));
  return db;
}

Db::~Db() {
  for (auto& [sql, cached] : cache_) sqlite3_finalize(cached->stmt);
  sqlite3_close_v2(db_);
}

Status Db::exec(const std::string& sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return Status::ok();
  std::string what = error != nullptr ? error : sql;
  sqlite3_free(error);
  return sqlite_status(rc, nullptr, what);
}

Result<Stmt> Db::prepare(const std::string& sql) {
  auto& slot = cache_[sql];
  if (!slot) slot = std::make_unique<Cached>();
  bool cached = !slot->in_use;
  sqlite3_stmt* stmt = cached ? slot->stmt : nullptr;
  if (stmt == nullptr) {
    // Nested use of the same SQL on one connection gets a private statement.
    unsigned flags = cached ? SQLITE_PREPARE_PERSISTENT : 0;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size() + 1), flags, &stmt, nullptr);
    if (rc != SQLITE_OK) return sqlite_status(rc, db_, "preparing " + sql);
    if (cached) slot->stmt = stmt;
  }
  if (!cached) return Stmt(db_, stmt, nullptr);
  slot->in_use = true;
  return Stmt(db_, stmt, &slot->in_use);
}

std::int64_t Db::changes() const { return sqlite3_changes64(db_); }

Result<std::int64_t> Db::pragma_int(const std::string& name) {
  GROVE_ASSIGN_OR_RETURN(Stmt stmt, prepare("PRAGMA " + name));
  GROVE_ASSIGN_OR_RETURN(bool row, stmt.step());
  if (!row) return internal_error("PRAGMA " + name + " returned no row");
  return stmt.int64(0);
}

void Db::set_busy_timeout(int milliseconds) { sqlite3_busy_timeout(db_, milliseconds); }

// --- Transaction

Result<Transaction> Transaction::begin(Db& db, Kind kind) {
  GROVE_RETURN_IF_ERROR(db.exec(kind == Kind::kWrite ? "BEGIN IMMEDIATE" : "BEGIN"));
  return Transaction(&db);
}

Transaction::~Transaction() {
  if (db_ != nullptr) (void)db_->exec("ROLLBACK");
}

Status Transaction::commit() {
  Db* db = db_;
  db_ = nullptr;
  Status status = db->exec("COMMIT");
  if (!status.is_ok()) (void)db->exec("ROLLBACK");
  return status;
}

}  // namespace grove::sql
