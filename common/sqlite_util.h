// A thin RAII layer over the SQLite C API that turns every error into a Status, shared by the
// registry and storage. A Db is used by one thread at a time (connections are opened
// SQLITE_OPEN_NOMUTEX): its owner guarantees that (the registry's writer mutex and reader pool).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/digest.h"
#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace grove::sql {

// A prepared statement borrowed from its connection's cache (or owned when the cached one is
// already in use). Destruction resets it so the next borrower starts clean.
class Stmt {
 public:
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&&) = delete;
  Stmt(const Stmt&) = delete;
  ~Stmt();

  // Binds parameters 1..n in order. A bind failure is reported by the next step()/run().
  template <typename... Args>
  Stmt& bind_all(const Args&... args) {
    int index = 0;
    (bind(++index, args), ...);
    return *this;
  }
  void bind(int index, std::int64_t value);
  void bind(int index, int value) { bind(index, static_cast<std::int64_t>(value)); }
  void bind(int index, bool value) { bind(index, static_cast<std::int64_t>(value ? 1 : 0)); }
  void bind(int index, std::uint64_t value) { bind(index, static_cast<std::int64_t>(value)); }
  void bind(int index, std::string_view value);
  void bind(int index, const std::string& value) { bind(index, std::string_view(value)); }
  void bind(int index, const char* value) { bind(index, std::string_view(value)); }
  void bind(int index, const std::optional<std::string>& value);
  void bind(int index, std::nullptr_t);
  // A BLOB (digests: the storage index keys frames and files by their raw bytes).
  void bind(int index, std::span<const std::uint8_t> blob);
  template <std::size_t N>
  void bind(int index, const Digest<N>& digest) {
    bind(index, std::span<const std::uint8_t>(digest.bytes));
  }
  template <std::size_t N>
  void bind(int index, const std::optional<Digest<N>>& digest) {
    if (digest) {
      bind(index, *digest);
    } else {
      bind(index, nullptr);
    }
  }

  // Rewinds the statement and clears its bindings, to run it again.
  void reset();

  // True while a row is available; false when done.
  Result<bool> step();
  // Steps to completion, for statements without result rows.
  Status run();
  // Steps through every row, calling f() at each (it reads the columns from this Stmt).
  template <typename F>
  Status for_each_row(F&& f) {
    for (;;) {
      GROVE_ASSIGN_OR_RETURN(bool row, step());
      if (!row) return Status::ok();
      f();
    }
  }

  std::int64_t int64(int column) const;
  std::string text(int column) const;
  std::optional<std::string> optional_text(int column) const;
  bool is_null(int column) const;
  // Valid until the next step() or reset().
  std::span<const std::uint8_t> blob(int column) const;
  // False (out untouched) unless the column is a BLOB of exactly N bytes.
  template <std::size_t N>
  bool digest(int column, Digest<N>& out) const {
    std::span<const std::uint8_t> b = blob(column);
    if (b.size() != N) return false;
    std::copy(b.begin(), b.end(), out.bytes.begin());
    return true;
  }

 private:
  friend class Db;
  Stmt(sqlite3* db, sqlite3_stmt* stmt, bool* in_use);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  bool* in_use_ = nullptr;  // the cache slot's flag; null when this Stmt owns stmt_
  int bind_rc_ = 0;         // first failing bind, reported by step()
};

class Db {
 public:
  // Opens (creating when `create`) a connection with foreign keys on and a busy timeout.
  static Result<std::unique_ptr<Db>> open(const std::string& path, bool create);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs one or more statements without results (pragmas, DDL, BEGIN/COMMIT).
  Status exec(const std::string& sql);
  // REQUIRES: `sql` outlives this Db when it is a literal (it keys the statement cache).
  Result<Stmt> prepare(const std::string& sql);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  std::int64_t changes() const;
  // PRAGMA <name> as an integer.
  Result<std::int64_t> pragma_int(const std::string& name);
  // Replaces open()'s busy timeout (how long a statement waits for another connection's lock).
  void set_busy_timeout(int milliseconds);

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  sqlite3* db_;
  std::unordered_map<std::string, std::unique_ptr<Cached>> cache_;
};

// A transaction that rolls back unless commit() succeeded. BEGIN IMMEDIATE takes the write
// lock up front, so a writer never fails half-way with SQLITE_BUSY after reading.
class Transaction {
 public:
  enum class Kind { kRead, kWrite };
  static Result<Transaction> begin(Db& db, Kind kind);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Status commit();

 private:
  explicit Transaction(Db* db) : db_(db) {}
  Db* db_;  // null once committed or rolled back
};

// The Status for an SQLite result code; `what` says what was being done.
Status sqlite_status(int rc, sqlite3* db, std::string_view what);

}  // namespace grove::sql
