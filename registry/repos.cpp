// Repos, their listing and search, and lineage reads.
#include <algorithm>
#include <limits>
#include <string_view>
#include <vector>

#include "registry/lineage_impl.h"
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

// ASCII case-insensitive equality, as SQLite's NOCASE compares.
bool sql_nocase_equal(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    return lower(x) == lower(y);
  });
}

std::vector<RepoRenamedHook>& renamed_hooks() {
  static std::vector<RepoRenamedHook> hooks;
  return hooks;
}

// Edges of the migration-1 lineage table follow a renamed repo at both ends, so the graph
// stays connected under the new name (children's cards may still say the old one).
Status rename_lineage_edges_in(sql::Db& db, const std::string& old_id, const std::string& new_id) {
  GROVE_ASSIGN_OR_RETURN(auto child, db.prepare("UPDATE OR REPLACE lineage SET child = ? WHERE child = ?"));
  GROVE_RETURN_IF_ERROR(child.bind_all(new_id, old_id).run());
  GROVE_ASSIGN_OR_RETURN(auto parent, db.prepare("UPDATE OR REPLACE lineage SET parent = ? WHERE parent = ?"));
  return parent.bind_all(new_id, old_id).run();
}

// Another repo (not `self`) named ns/name in any letter case, as "ns/name"; empty when none.
Result<std::string> name_taken_in(sql::Db& db, const std::string& ns, const std::string& name, std::int64_t self) {
  GROVE_ASSIGN_OR_RETURN(auto exists, db.prepare("SELECT ns, name FROM repos WHERE ns = ? AND name = ? AND id != ?"));
  GROVE_ASSIGN_OR_RETURN(bool row, exists.bind_all(ns, name, self).step());
  return row ? exists.text(0) + "/" + exists.text(1) : std::string();
}

Status forget_old_name_in(sql::Db& db, const std::string& ns, const std::string& name) {
  GROVE_ASSIGN_OR_RETURN(auto remove, db.prepare("DELETE FROM repo_redirects WHERE ns = ? AND name = ?"));
  return remove.bind_all(ns, name).run();
}

}  // namespace

void add_repo_renamed_hook(RepoRenamedHook hook) { renamed_hooks().push_back(hook); }

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
    GROVE_ASSIGN_OR_RETURN(std::string taken, name_taken_in(db, ns, name, 0));
    if (!taken.empty()) return Status(Code::kAlreadyExists, "repo " + taken + " already exists");
    // A new repo under a renamed repo's old name takes the name over: no more redirect.
    GROVE_RETURN_IF_ERROR(forget_old_name_in(db, ns, name));
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
    GROVE_RETURN_IF_ERROR(lineage_repo_created_in(db, repo_id, ns + "/" + name));  // a parent named before it came
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
    GROVE_RETURN_IF_ERROR(lineage_repo_deleting_in(db, repo_id));  // registry/lineage_impl.h
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

Result<Repo> SqliteRegistry::rename_repo(std::int64_t repo_id, const std::string& new_ns, const std::string& new_name) {
  GROVE_RETURN_IF_ERROR(validate_repo_name(new_ns));
  GROVE_RETURN_IF_ERROR(validate_repo_name(new_name));
  return write([&](sql::Db& db) -> Result<Repo> {
    GROVE_ASSIGN_OR_RETURN(Repo repo, load_repo_in(db, repo_id));
    GROVE_ASSIGN_OR_RETURN(std::string taken, name_taken_in(db, new_ns, new_name, repo_id));
    if (!taken.empty()) return Status(Code::kAlreadyExists, "repo " + taken + " already exists");
    std::string old_id = repo.id_string();
    std::string new_id = new_ns + "/" + new_name;
    if (old_id == new_id) return invalid_argument("repo " + old_id + " already has that name");
    GROVE_ASSIGN_OR_RETURN(auto update, db.prepare("UPDATE repos SET ns = ?, name = ? WHERE id = ?"));
    GROVE_RETURN_IF_ERROR(update.bind_all(new_ns, new_name, repo_id).run());
    // The new name may have been someone's old name: it now names this repo, not a redirect.
    GROVE_RETURN_IF_ERROR(forget_old_name_in(db, new_ns, new_name));
    // A change of letter case only keeps answering under both spellings without a redirect.
    bool case_only = sql_nocase_equal(old_id, new_id);
    if (!case_only) {
      // Keyed by repo id, so a chain of renames (a -> b -> c) sends every old name to the latest.
      GROVE_ASSIGN_OR_RETURN(auto remember, db.prepare("INSERT OR REPLACE INTO repo_redirects(ns, name, repo_id) "
                                                       "VALUES (?, ?, ?)"));
      GROVE_RETURN_IF_ERROR(remember.bind_all(repo.ns, repo.name, repo_id).run());
      GROVE_RETURN_IF_ERROR(rename_lineage_edges_in(db, old_id, new_id));
      for (RepoRenamedHook hook : renamed_hooks())
        GROVE_RETURN_IF_ERROR(hook(db, old_id, new_id).with_context("renaming " + old_id + " to " + new_id));
    }
    return load_repo_in(db, repo_id);
  });
}

Result<Repo> SqliteRegistry::find_renamed_repo(const std::string& ns, const std::string& name) {
  return read([&](sql::Db& db) -> Result<Repo> {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT repo_id FROM repo_redirects WHERE ns = ? AND name = ?"));
    GROVE_ASSIGN_OR_RETURN(bool row, select.bind_all(ns, name).step());
    if (!row) return Status(Code::kRepoNotFound, "Repository " + ns + "/" + name + " not found");
    return load_repo_in(db, select.int64(0));
  });
}

// A tag filter matching fewer repos than this drives the query from repo_tags (fetch the matches,
// then sort them); a broader one walks the sort order's index and checks each repo's tags. Either
// way a page costs about this many index lookups at most, where the wrong plan on a 1,000,000-repo
// hub would visit most of the table for a rare tag (scripts/bench/lineage's filter listing).
constexpr std::int64_t kTagDrivenMax = 50'000;

Result<std::vector<Repo>> SqliteRegistry::list_repos(const RepoQuery& query) {
  if (query.tags.size() > kMaxTagFilters) return invalid_argument("at most 16 tag filters");
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  auto limit = static_cast<std::int64_t>(std::min(query.limit, kMax));
  auto offset = static_cast<std::int64_t>(std::min(query.offset, kMax));
  return read([&](sql::Db& db) -> Result<std::vector<Repo>> {
    // The rarest tag, counted up to the threshold (a bounded index range scan).
    std::optional<std::size_t> driver;
    std::int64_t fewest = kTagDrivenMax;
    for (std::size_t i = 0; i < query.tags.size(); ++i) {
      GROVE_ASSIGN_OR_RETURN(auto count, db.prepare("SELECT count(*) FROM (SELECT 1 FROM repo_tags WHERE tag = ? LIMIT ?)"));
      GROVE_ASSIGN_OR_RETURN(bool row, count.bind_all(query.tags[i], kTagDrivenMax).step());
      std::int64_t n = row ? count.int64(0) : 0;
      if (n < fewest) fewest = n, driver = i;
    }
    // Private repos are visible only to their namespace; a NULL viewer matches no namespace.
    std::string sql = std::string("SELECT ") + kRepoColumns;
    // CROSS JOIN fixes the join order: SQLite would otherwise prefer the sort index.
    sql += driver ? " FROM repo_tags d CROSS JOIN repos r ON r.id = d.repo_id WHERE d.tag = ? AND (r.private = 0 OR r.ns = ?)"
                  : " FROM repos r WHERE (r.private = 0 OR r.ns = ?)";
    if (query.search) sql += " AND instr(lower(r.ns || '/' || r.name), lower(?)) > 0";
    if (query.author) sql += " AND r.ns = ?";
    if (query.pipeline_tag) sql += " AND r.pipeline_tag = ?";
    for (std::size_t i = 0; i < query.tags.size(); ++i)
      if (i != driver) sql += " AND EXISTS (SELECT 1 FROM repo_tags t WHERE t.tag = ? AND t.repo_id = r.id)";
    const char* dir = query.descending ? " DESC" : " ASC";
    sql += std::string(" ORDER BY ") + sort_column(query.sort) + dir + ", r.id" + dir + " LIMIT ? OFFSET ?";
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare(sql));
    int index = 0;
    if (driver) select.bind(++index, query.tags[*driver]);
    select.bind(++index, query.viewer);
    if (query.search) select.bind(++index, *query.search);
    if (query.author) select.bind(++index, *query.author);
    if (query.pipeline_tag) select.bind(++index, *query.pipeline_tag);
    for (std::size_t i = 0; i < query.tags.size(); ++i)
      if (i != driver) select.bind(++index, query.tags[i]);
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

Result<bool> SqliteRegistry::references_blob(const Sha256Digest& sha256) {
  return read([&](sql::Db& db) -> Result<bool> {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT 1 FROM files WHERE sha256 = ? LIMIT 1"));
    return select.bind_all(sha256.hex()).step();
  });
}

}  // namespace grove::registry
