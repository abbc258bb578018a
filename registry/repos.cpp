// Repos, their listing and search, and lineage reads.
#include <algorithm>
#include <limits>

#include "registry/registry_impl.h"
#include "registry/repo_path.h"

namespace grove::registry {
namespace {

constexpr const char* kRepoColumns =
    "r.id, r.ns, r.name, r.private, r.default_branch, r.created_at, r.updated_at, r.card_data, r.tags, "
    "r.library_name, r.pipeline_tag, r.downloads";
// list_repos builds one statement per number of tags; the cap bounds the statement cache.
constexpr std::size_t kMaxTagFilters = 16;

// Fixed strings only: the sort column is spliced into the statement.
const char* sort_column(RepoSort sort) {
  switch (sort) {
    case RepoSort::kLastModified: return "r.updated_at";
    case RepoSort::kCreatedAt: return "r.created_at";
    case RepoSort::kId: return "lower(r.ns || '/' || r.name)";
    case RepoSort::kDownloads: return "r.downloads";
  }
  return "r.updated_at";
}

Result<Repo> repo_from_row(const sql::Stmt& row) {
  Repo repo;
  repo.id = row.int64(0);
  repo.ns = row.text(1);
  repo.name = row.text(2);
  repo.is_private = row.int64(3) != 0;
  repo.default_branch = row.text(4);
  repo.created_at = row.int64(5);
  repo.updated_at = row.int64(6);
  try {
    repo.card_data = nlohmann::json::parse(row.text(7));
    repo.tags = nlohmann::json::parse(row.text(8)).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    return corrupt("repo " + repo.id_string() + " has unreadable card data or tags: " + e.what());
  }
  repo.library_name = row.optional_text(9);
  repo.pipeline_tag = row.optional_text(10);
  repo.downloads = static_cast<std::uint64_t>(row.int64(11));
  return repo;
}

Result<std::vector<LineageEdge>> lineage_where(sql::Db& db, const std::string& sql, const std::string& key) {
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare(sql));
  select.bind_all(key);
  std::vector<LineageEdge> edges;
  for (;;) {
    GROVE_ASSIGN_OR_RETURN(bool row, select.step());
    if (!row) return edges;
    edges.push_back({select.text(0), select.text(1), select.text(2), select.text(3)});
  }
}

}  // namespace

Result<Repo> load_repo_in(sql::Db& db, std::int64_t repo_id) {
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare(std::string("SELECT ") + kRepoColumns + " FROM repos r WHERE r.id = ?"));
  GROVE_ASSIGN_OR_RETURN(bool row, select.bind_all(repo_id).step());
  if (!row) return Status(Code::kRepoNotFound, "no repo with id " + std::to_string(repo_id));
  return repo_from_row(select);
}

Result<Repo> SqliteRegistry::create_repo(const std::string& ns, const std::string& name, const std::string& owner,
                                         bool is_private) {
  GROVE_RETURN_IF_ERROR(validate_repo_name(ns));
  GROVE_RETURN_IF_ERROR(validate_repo_name(name));
  return write([&](sql::Db& db) -> Result<Repo> {
    {
      GROVE_ASSIGN_OR_RETURN(auto exists, db.prepare("SELECT ns, name FROM repos WHERE ns = ? AND name = ?"));
      GROVE_ASSIGN_OR_RETURN(bool row, exists.bind_all(ns, name).step());
      if (row) return Status(Code::kAlreadyExists, "repo " + exists.text(0) + "/" + exists.text(1) + " already exists");
    }
    GROVE_ASSIGN_OR_RETURN(User user, ensure_user_in(db, owner));
    std::int64_t now = now_millis();
    std::int64_t repo_id = 0;
    {
      GROVE_ASSIGN_OR_RETURN(auto insert, db.prepare("INSERT INTO repos(ns, name, private, created_at, updated_at) "
                                                     "VALUES (?, ?, ?, ?, ?) RETURNING id"));
      GROVE_ASSIGN_OR_RETURN(bool row, insert.bind_all(ns, name, is_private, now, now).step());
      if (!row) return internal_error("INSERT ... RETURNING gave no row");
      repo_id = insert.int64(0);
    }
    GROVE_ASSIGN_OR_RETURN(Commit initial, write_commit_in(db, repo_id, {}, user.name, "initial commit", "", {}));
    GROVE_RETURN_IF_ERROR(set_ref_in(db, repo_id, "branch", "main", initial.id));
    return load_repo_in(db, repo_id);
  });
}

Result<Repo> SqliteRegistry::find_repo(const std::string& ns, const std::string& name) {
  return read([&](sql::Db& db) -> Result<Repo> {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare(std::string("SELECT ") + kRepoColumns +
                                                   " FROM repos r WHERE r.ns = ? AND r.name = ?"));
    GROVE_ASSIGN_OR_RETURN(bool row, select.bind_all(ns, name).step());
    if (!row) return Status(Code::kRepoNotFound, "Repository " + ns + "/" + name + " not found");
    return repo_from_row(select);
  });
}

Status SqliteRegistry::delete_repo(std::int64_t repo_id) {
  return write([&](sql::Db& db) -> Status {
    GROVE_ASSIGN_OR_RETURN(Repo repo, load_repo_in(db, repo_id));
    // Edges where this repo is the parent stay: the children still name it in their cards.
    GROVE_ASSIGN_OR_RETURN(auto lineage, db.prepare("DELETE FROM lineage WHERE child = ?"));
    GROVE_RETURN_IF_ERROR(lineage.bind_all(repo.id_string()).run());
    // Commits, refs, files and tags go by ON DELETE CASCADE.
    GROVE_ASSIGN_OR_RETURN(auto remove, db.prepare("DELETE FROM repos WHERE id = ?"));
    return remove.bind_all(repo_id).run();
  });
}

Status SqliteRegistry::set_private(std::int64_t repo_id, bool is_private) {
  return write([&](sql::Db& db) -> Status {
    GROVE_ASSIGN_OR_RETURN(auto update, db.prepare("UPDATE repos SET private = ? WHERE id = ?"));
    GROVE_RETURN_IF_ERROR(update.bind_all(is_private, repo_id).run());
    if (db.changes() == 0) return Status(Code::kRepoNotFound, "no repo with id " + std::to_string(repo_id));
    return Status::ok();
  });
}

Result<std::vector<Repo>> SqliteRegistry::list_repos(const RepoQuery& query) {
  if (query.tags.size() > kMaxTagFilters) return invalid_argument("at most 16 tag filters");
  // Private repos are visible only to their namespace; a NULL viewer matches no namespace.
  std::string sql = std::string("SELECT ") + kRepoColumns + " FROM repos r WHERE (r.private = 0 OR r.ns = ?)";
  if (query.search) sql += " AND instr(lower(r.ns || '/' || r.name), lower(?)) > 0";
  if (query.author) sql += " AND r.ns = ?";
  if (query.pipeline_tag) sql += " AND r.pipeline_tag = ?";
  for (std::size_t i = 0; i < query.tags.size(); ++i)
    sql += " AND EXISTS (SELECT 1 FROM repo_tags t WHERE t.tag = ? AND t.repo_id = r.id)";
  const char* dir = query.descending ? " DESC" : " ASC";
  sql += std::string(" ORDER BY ") + sort_column(query.sort) + dir + ", r.id" + dir + " LIMIT ? OFFSET ?";
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  auto limit = static_cast<std::int64_t>(std::min(query.limit, kMax));
  auto offset = static_cast<std::int64_t>(std::min(query.offset, kMax));
  return read([&](sql::Db& db) -> Result<std::vector<Repo>> {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare(sql));
    int index = 0;
    select.bind(++index, query.viewer);
    if (query.search) select.bind(++index, *query.search);
    if (query.author) select.bind(++index, *query.author);
    if (query.pipeline_tag) select.bind(++index, *query.pipeline_tag);
    for (const auto& tag : query.tags) select.bind(++index, tag);
    select.bind(++index, limit);
    select.bind(++index, offset);
    std::vector<Repo> repos;
    for (;;) {
      GROVE_ASSIGN_OR_RETURN(bool row, select.step());
      if (!row) return repos;
      GROVE_ASSIGN_OR_RETURN(Repo repo, repo_from_row(select));
      repos.push_back(std::move(repo));
    }
  });
}

Status SqliteRegistry::add_downloads(const std::map<std::int64_t, std::uint64_t>& counts) {
  if (counts.empty()) return Status::ok();
  return write([&](sql::Db& db) -> Status {
    GROVE_ASSIGN_OR_RETURN(auto update, db.prepare("UPDATE repos SET downloads = downloads + ? WHERE id = ?"));
    for (const auto& [repo_id, n] : counts) {
      // A repo deleted since it was counted matches no row; its count goes with it.
      auto delta = static_cast<std::int64_t>(std::min<std::uint64_t>(n, std::numeric_limits<std::int64_t>::max()));
      GROVE_RETURN_IF_ERROR(update.bind_all(delta, repo_id).run());
      update.reset();
    }
    return Status::ok();
  });
}

Result<std::vector<LineageEdge>> SqliteRegistry::parents_of(const std::string& repo_id_string) {
  return read([&](sql::Db& db) {
    return lineage_where(db, "SELECT child, parent, relation, source FROM lineage WHERE child = ? "
                             "ORDER BY parent, source", repo_id_string);
  });
}

Result<std::vector<LineageEdge>> SqliteRegistry::children_of(const std::string& repo_id_string) {
  return read([&](sql::Db& db) {
    return lineage_where(db, "SELECT child, parent, relation, source FROM lineage WHERE parent = ? "
                             "ORDER BY child, source", repo_id_string);
  });
}

Result<bool> SqliteRegistry::references_blob(const Sha256Digest& sha256) {
  return read([&](sql::Db& db) -> Result<bool> {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT 1 FROM files WHERE sha256 = ? LIMIT 1"));
    return select.bind_all(sha256.hex()).step();
  });
}

}  // namespace grove::registry
