#include "registry/registry.h"

#include <openssl/rand.h>

#include "registry/lineage_impl.h"
#include "registry/registry_impl.h"
#include "registry/repo_path.h"
#include "registry/schema.h"

namespace grove::registry {
namespace {

// Enough for a busy server's handler threads to read in parallel; SQLite readers are cheap.
constexpr int kReaderConnections = 8;
// A request waits at most this long for a reader before reporting kUnavailable.
constexpr auto kReaderWait = std::chrono::seconds(30);

constexpr std::string_view kTokenPrefix = "hf_";
constexpr std::size_t kTokenRandomChars = 34;  // 34 * log2(62) ≈ 202 bits
constexpr std::string_view kBase62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
// What the Hub says for a bad token; Python clients key on it (hf-protocol.md §2.2).
constexpr const char* kInvalidCredentials = "Invalid credentials in Authorization header";

Result<std::string> random_base62(std::size_t n) {
  // Rejection sampling: bytes >= 248 (4 * 62) are dropped so every character is equally likely.
  constexpr unsigned kLimit = 4 * 62;
  std::string out;
  std::uint8_t buffer[64];
  while (out.size() < n) {
    if (RAND_bytes(buffer, sizeof buffer) != 1) return internal_error("RAND_bytes failed");
    for (std::uint8_t b : buffer) {
      if (b < kLimit && out.size() < n) out += kBase62[b % 62];
    }
  }
  return out;
}

bool is_well_formed_token(const std::string& token) {
  if (token.size() != kTokenPrefix.size() + kTokenRandomChars || token.compare(0, 3, kTokenPrefix) != 0) return false;
  return token.find_first_not_of(kBase62, kTokenPrefix.size()) == std::string::npos;
}

}  // namespace

const char* scope_name(Scope scope) { return scope == Scope::kWrite ? "write" : "read"; }

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t now_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::unique_ptr<Registry>> Registry::open(const std::string& path) { return SqliteRegistry::open_at(path); }

Result<std::unique_ptr<Registry>> SqliteRegistry::open_at(const std::string& path) {
  auto registry = std::make_unique<SqliteRegistry>();
  GROVE_ASSIGN_OR_RETURN(registry->writer_, sql::Db::open(path, /*create=*/true));
  sql::Db& writer = *registry->writer_;
  // WAL lets readers keep reading their snapshot while the writer commits. FULL syncs the WAL
  // on every commit: a commit the hub acknowledged survives a power cut.
  GROVE_RETURN_IF_ERROR(writer.exec("PRAGMA journal_mode = WAL"));
  {
    GROVE_ASSIGN_OR_RETURN(auto mode, writer.prepare("PRAGMA journal_mode"));
    GROVE_ASSIGN_OR_RETURN(bool row, mode.step());
    if (!row || mode.text(0) != "wal") return io_error("cannot put " + path + " in WAL mode");
  }  // a statement left mid-row would block the migrations' COMMIT
  GROVE_RETURN_IF_ERROR(writer.exec("PRAGMA synchronous = FULL"));
  GROVE_RETURN_IF_ERROR(migrate(writer).with_context(path));
  GROVE_RETURN_IF_ERROR(lineage_backfill(writer).with_context(path));  // registry/lineage_impl.h
  for (int i = 0; i < kReaderConnections; ++i) {
    GROVE_ASSIGN_OR_RETURN(auto reader, sql::Db::open(path, /*create=*/false));
    // A reader never writes; query_only turns a bug that tries into an error.
    GROVE_RETURN_IF_ERROR(reader->exec("PRAGMA query_only = ON"));
    registry->idle_readers_.push_back(std::move(reader));
  }
  return std::unique_ptr<Registry>(std::move(registry));
}

SqliteRegistry::Lease::~Lease() {
  if (!db_) return;  // moved from
  {
    std::lock_guard<std::mutex> lock(owner_->pool_mu_);
    owner_->idle_readers_.push_back(std::move(db_));
  }
  owner_->pool_cv_.notify_one();
}

Result<SqliteRegistry::Lease> SqliteRegistry::acquire_reader() {
  std::unique_lock<std::mutex> lock(pool_mu_);
  if (!pool_cv_.wait_for(lock, kReaderWait, [&] { return !idle_readers_.empty(); }))
    return Status(Code::kUnavailable, "registry: every reader connection is busy");
  auto db = std::move(idle_readers_.back());
  idle_readers_.pop_back();
  return Lease(this, std::move(db));
}

// --- users

Result<User> ensure_user_in(sql::Db& db, const std::string& name) {
  GROVE_RETURN_IF_ERROR(validate_repo_name(name).with_context("user name"));
  {
    GROVE_ASSIGN_OR_RETURN(auto insert, db.prepare("INSERT OR IGNORE INTO users(name, created_at) VALUES (?, ?)"));
    GROVE_RETURN_IF_ERROR(insert.bind_all(name, now_seconds()).run());
  }
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT id, name FROM users WHERE name = ?"));
  GROVE_ASSIGN_OR_RETURN(bool row, select.bind_all(name).step());
  if (!row) return internal_error("user " + name + " vanished after insert");
  return User{select.int64(0), select.text(1)};
}

Result<User> SqliteRegistry::ensure_user(const std::string& name) {
  return write([&](sql::Db& db) { return ensure_user_in(db, name); });
}

Result<User> SqliteRegistry::find_user(const std::string& name) {
  return read([&](sql::Db& db) -> Result<User> {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT id, name FROM users WHERE name = ?"));
    GROVE_ASSIGN_OR_RETURN(bool row, select.bind_all(name).step());
    if (!row) return not_found("no user named '" + name + "'");
    return User{select.int64(0), select.text(1)};
  });
}

// --- tokens

Result<std::string> SqliteRegistry::create_token(const std::string& user_name, Scope scope,
                                                 const std::string& display_name) {
  GROVE_ASSIGN_OR_RETURN(std::string random, random_base62(kTokenRandomChars));
  std::string token = std::string(kTokenPrefix) + random;
  return write([&](sql::Db& db) -> Result<std::string> {
    GROVE_ASSIGN_OR_RETURN(User user, ensure_user_in(db, user_name));
    GROVE_ASSIGN_OR_RETURN(auto insert, db.prepare("INSERT INTO tokens(user_id, sha256, scope, display_name, "
                                                   "created_at) VALUES (?, ?, ?, ?, ?)"));
    GROVE_RETURN_IF_ERROR(
        insert.bind_all(user.id, Sha256::of(token).hex(), scope_name(scope), display_name, now_seconds()).run());
    return token;
  });
}

Result<TokenInfo> SqliteRegistry::authenticate(const std::string& token) {
  if (!is_well_formed_token(token)) return Status(Code::kUnauthenticated, kInvalidCredentials);
  std::string hash = Sha256::of(token).hex();
  return read([&](sql::Db& db) -> Result<TokenInfo> {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT u.id, u.name, t.scope, t.display_name, t.created_at "
                                                   "FROM tokens t JOIN users u ON u.id = t.user_id "
                                                   "WHERE t.sha256 = ?"));
    GROVE_ASSIGN_OR_RETURN(bool row, select.bind_all(hash).step());
    if (!row) return Status(Code::kUnauthenticated, kInvalidCredentials);
    TokenInfo info;
    info.user = User{select.int64(0), select.text(1)};
    info.scope = select.text(2) == "write" ? Scope::kWrite : Scope::kRead;
    info.display_name = select.text(3);
    info.created_at = select.int64(4);
    return info;
  });
}

}  // namespace grove::registry
