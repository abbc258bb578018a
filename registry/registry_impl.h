// Internal to registry/: the SQLite implementation of Registry, split over registry.cpp (open,
// connections, users, tokens), repos.cpp (repos, lineage), revisions.cpp (refs, commits, files)
// and commit.cpp (writing a commit).
//
// Every public method runs as one transaction: reads on a pooled reader connection (a snapshot
// under WAL, so they never wait for the writer), writes on the single writer connection under
// write_mu_ with BEGIN IMMEDIATE. The *_in(Db&, ...) helpers run inside either and never begin
// transactions themselves.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "registry/registry.h"
#include "common/sqlite_util.h"

namespace grove::registry {

inline const Status& status_of(const Status& status) { return status; }
template <typename T>
const Status& status_of(const Result<T>& result) {
  return result.status();
}

std::int64_t now_seconds();
std::int64_t now_millis();

// Row helpers shared by the implementation files.
Result<Repo> load_repo_in(sql::Db& db, std::int64_t repo_id);  // kRepoNotFound
Result<std::optional<std::string>> ref_target_in(sql::Db& db, std::int64_t repo_id, const char* kind,
                                                 const std::string& name);
Result<bool> commit_exists_in(sql::Db& db, std::int64_t repo_id, const std::string& commit_id);
Result<std::string> resolve_in(sql::Db& db, const Repo& repo, const std::string& revision);
Result<std::vector<FileEntry>> files_in(sql::Db& db, std::int64_t repo_id, const std::string& commit_id);
Result<User> ensure_user_in(sql::Db& db, const std::string& name);
// Inserts the commit and its full file listing (already sorted, validated) and returns it.
// Inserting a commit id that exists is a no-op: equal ids mean equal content.
Result<Commit> write_commit_in(sql::Db& db, std::int64_t repo_id, const std::vector<std::string>& parents,
                               const std::string& author, const std::string& title, const std::string& description,
                               const std::vector<FileEntry>& files);
Status set_ref_in(sql::Db& db, std::int64_t repo_id, const char* kind, const std::string& name,
                  const std::string& commit_id);

// "Repo renamed": tables outside repos.cpp that name repos by "ns/name" (lineage edges) keep up
// with renames through a hook. Every hook runs inside the rename's write transaction, after the
// repos row has its new name, in registration order; a failing hook undoes the whole rename.
// Register before the first rename (e.g. from a static initialiser in the file that owns the
// table). The migration-1 `lineage` table is already renamed by repos.cpp itself.
using RepoRenamedHook = Status (*)(sql::Db& db, const std::string& old_id, const std::string& new_id);
void add_repo_renamed_hook(RepoRenamedHook hook);

class SqliteRegistry final : public Registry {
 public:
  static Result<std::unique_ptr<Registry>> open_at(const std::string& path);

  Result<User> ensure_user(const std::string& name) override;
  Result<User> find_user(const std::string& name) override;
  Result<std::string> create_token(const std::string& user_name, Scope scope, const std::string& display_name) override;
  Result<TokenInfo> authenticate(const std::string& token) override;

  Result<Repo> create_repo(const std::string& ns, const std::string& name, const std::string& owner,
                           bool is_private) override;
  Result<Repo> find_repo(const std::string& ns, const std::string& name) override;
  Status delete_repo(std::int64_t repo_id) override;
  Status set_private(std::int64_t repo_id, bool is_private) override;
  Result<Repo> rename_repo(std::int64_t repo_id, const std::string& new_ns, const std::string& new_name) override;
  Result<Repo> find_renamed_repo(const std::string& ns, const std::string& name) override;
  Result<std::vector<Repo>> list_repos(const RepoQuery& query) override;
  Status add_downloads(const std::map<std::int64_t, std::uint64_t>& counts) override;

  Result<std::string> resolve_revision(std::int64_t repo_id, const std::string& revision) override;
  Result<Commit> get_commit(std::int64_t repo_id, const std::string& commit_id) override;
  Result<std::vector<FileEntry>> list_files(std::int64_t repo_id, const std::string& commit_id) override;
  Result<FileEntry> find_file(std::int64_t repo_id, const std::string& commit_id, const std::string& path) override;
  Result<std::vector<Commit>> list_commits(std::int64_t repo_id, const std::string& commit_id, std::size_t limit,
                                           std::size_t offset) override;
  Result<std::size_t> count_commits(std::int64_t repo_id, const std::string& commit_id) override;
  Result<Commit> last_commit_of_file(std::int64_t repo_id, const std::string& commit_id, const std::string& path,
                                     std::size_t max_depth) override;
  Result<Commit> commit(const CommitRequest& request) override;

  Result<Refs> list_refs(std::int64_t repo_id) override;
  Status create_branch(std::int64_t repo_id, const std::string& branch, const std::string& commit_id) override;
  Status delete_branch(std::int64_t repo_id, const std::string& branch) override;
  Status create_tag(std::int64_t repo_id, const std::string& tag, const std::string& commit_id) override;
  Status delete_tag(std::int64_t repo_id, const std::string& tag) override;

  Result<std::vector<LineageEdge>> parents_of(const std::string& repo_id_string) override;
  Result<std::vector<LineageEdge>> children_of(const std::string& repo_id_string) override;
  // lineage_query.cpp
  Result<LineageView> lineage(const std::string& repo_id_string, const LineageQuery& query) override;
  Result<LineageChildrenPage> lineage_children(const std::string& repo_id_string,
                                               const std::optional<std::string>& relation, std::size_t limit,
                                               const std::string& cursor,
                                               const std::optional<std::string>& viewer) override;
  Result<LineageCounts> lineage_counts(const std::string& repo_id_string,
                                       const std::optional<std::string>& viewer) override;
  Status record_detected_edge(const std::string& child, const std::string& parent, double similarity,
                              const std::string& relation) override;
  Result<bool> references_blob(const Sha256Digest& sha256) override;
  // exports.cpp
  Status record_export(const ExportRecord& record) override;
  Result<std::optional<ExportRecord>> find_export(const std::string& commit_id, const std::string& quant,
                                                  int exporter_version) override;
  Result<std::vector<ExportRecord>> list_exports(std::int64_t repo_id) override;
  std::uint64_t write_generation() const override { return generation_.load(); }

 private:
  // A reader connection borrowed from the pool, returned on destruction.
  class Lease {
   public:
    Lease(SqliteRegistry* owner, std::unique_ptr<sql::Db> db) : owner_(owner), db_(std::move(db)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    sql::Db& db() { return *db_; }

   private:
    SqliteRegistry* owner_;
    std::unique_ptr<sql::Db> db_;
  };

  Result<Lease> acquire_reader();
  Status create_ref(std::int64_t repo_id, const char* kind, const std::string& name, const std::string& revision);
  Status delete_ref(std::int64_t repo_id, const char* kind, const std::string& name);

  // Runs f(Db&) -> Status or Result<T> in a read transaction on a pooled connection.
  template <typename F>
  auto read(F&& f) -> decltype(f(std::declval<sql::Db&>())) {
    auto lease = acquire_reader();
    if (!lease.is_ok()) return lease.status();
    sql::Db& db = lease->db();
    auto txn = sql::Transaction::begin(db, sql::Transaction::Kind::kRead);
    if (!txn.is_ok()) return txn.status();
    auto result = f(db);
    if (!status_of(result).is_ok()) return result;
    Status ended = txn->commit();
    if (!ended.is_ok()) return ended;
    return result;
  }

  // Runs f(Db&) -> Status or Result<T> in one write transaction, committed only when f
  // succeeds; on any failure nothing f did is kept.
  template <typename F>
  auto write(F&& f) -> decltype(f(std::declval<sql::Db&>())) {
    std::lock_guard<std::mutex> lock(write_mu_);
    auto txn = sql::Transaction::begin(*writer_, sql::Transaction::Kind::kWrite);
    if (!txn.is_ok()) return txn.status();
    auto result = f(*writer_);
    if (!status_of(result).is_ok()) return result;
    Status committed = txn->commit();
    if (!committed.is_ok()) return committed;
    ++generation_;  // after the commit: see write_generation()
    return result;
  }

  std::atomic<std::uint64_t> generation_{0};
  std::mutex write_mu_;
  std::unique_ptr<sql::Db> writer_;  // guarded by write_mu_

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<sql::Db>> idle_readers_;  // guarded by pool_mu_
};

}  // namespace grove::registry
