// Refs, commits and the files of a commit.
#include <limits>

#include "registry/git_objects.h"
#include "registry/registry_impl.h"
#include "registry/repo_path.h"

namespace grove::registry {
namespace {

// The shortest abbreviated commit id accepted as a revision (git's default abbreviation).
constexpr std::size_t kMinShortCommit = 7;

constexpr const char* kCommitColumns = "c.id, c.parents, c.tree_id, c.author, c.title, c.message, c.time";

// "WITH RECURSIVE chain(id, depth) AS (...) ": the first-parent chain of repo ?1 from commit ?2,
// depth 0 first. With `max_depth_param` (say "?3"), only depths below that parameter.
std::string first_parent_chain(const char* max_depth_param = nullptr) {
  std::string sql =
      "WITH RECURSIVE chain(id, depth) AS ("
      "  SELECT ?2, 0"
      "  UNION ALL"
      "  SELECT json_extract(c.parents, '$[0]'), chain.depth + 1"
      "  FROM chain JOIN commits c ON c.repo_id = ?1 AND c.id = chain.id";
  if (max_depth_param) sql += std::string("  WHERE chain.depth + 1 < ") + max_depth_param;
  return sql + ") ";
}

Result<Commit> commit_from_row(const sql::Stmt& row) {
  Commit commit;
  commit.id = row.text(0);
  try {
    commit.parents = nlohmann::json::parse(row.text(1)).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    return corrupt("commit " + commit.id + " has unreadable parents: " + e.what());
  }
  commit.tree_id = row.text(2);
  commit.author = row.text(3);
  commit.title = row.text(4);
  commit.message = row.text(5);
  commit.time = row.int64(6);
  return commit;
}

Result<FileEntry> file_from_row(const sql::Stmt& row) {
  FileEntry file;
  file.path = row.text(0);
  file.size = static_cast<std::uint64_t>(row.int64(1));
  auto sha256 = Sha256Digest::from_hex(row.text(2));
  auto blob_oid = Sha1Digest::from_hex(row.text(4));
  if (!sha256 || !blob_oid) return corrupt("file " + file.path + " has a malformed digest");
  file.sha256 = *sha256;
  file.lfs = row.int64(3) != 0;
  file.blob_oid = *blob_oid;
  return file;
}

Status revision_not_found(const Repo& repo, const std::string& revision) {
  std::string message = "Revision '" + revision + "' not found in repo " + repo.id_string();
  // The Hub's pull requests and conversions: valid names that no repo here has (yet).
  if (revision.starts_with("refs/pr/")) message += ": this hub has no pull requests";
  if (revision.starts_with("refs/convert/")) message += ": this hub has no conversion refs";
  return {Code::kRevisionNotFound, message};
}

Result<Commit> load_commit_in(sql::Db& db, const Repo& repo, const std::string& commit_id) {
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare(std::string("SELECT ") + kCommitColumns +
                                                 " FROM commits c WHERE c.repo_id = ? AND c.id = ?"));
  GROVE_ASSIGN_OR_RETURN(bool row, select.bind_all(repo.id, commit_id).step());
  if (!row) return revision_not_found(repo, commit_id);
  return commit_from_row(select);
}

Status require_commit_in(sql::Db& db, const Repo& repo, const std::string& commit_id) {
  GROVE_ASSIGN_OR_RETURN(bool exists, commit_exists_in(db, repo.id, commit_id));
  return exists ? Status::ok() : revision_not_found(repo, commit_id);
}

}  // namespace

Result<std::optional<std::string>> ref_target_in(sql::Db& db, std::int64_t repo_id, const char* kind,
                                                 const std::string& name) {
  GROVE_ASSIGN_OR_RETURN(auto select,
                         db.prepare("SELECT commit_id FROM refs WHERE repo_id = ? AND kind = ? AND name = ?"));
  GROVE_ASSIGN_OR_RETURN(bool row, select.bind_all(repo_id, kind, name).step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(select.text(0));
}

Result<bool> commit_exists_in(sql::Db& db, std::int64_t repo_id, const std::string& commit_id) {
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT 1 FROM commits WHERE repo_id = ? AND id = ?"));
  return select.bind_all(repo_id, commit_id).step();
}

Result<std::string> resolve_in(sql::Db& db, const Repo& repo, const std::string& revision) {
  const std::string& branch = revision == "HEAD" ? repo.default_branch : revision;
  GROVE_ASSIGN_OR_RETURN(auto head, ref_target_in(db, repo.id, "branch", branch));
  if (head) return *head;
  if (revision == "HEAD") return revision_not_found(repo, revision);
  GROVE_ASSIGN_OR_RETURN(auto tag, ref_target_in(db, repo.id, "tag", revision));
  if (tag) return *tag;
  if (is_lower_hex(revision, 40)) {
    GROVE_ASSIGN_OR_RETURN(bool exists, commit_exists_in(db, repo.id, revision));
    if (exists) return revision;
  } else if (revision.size() >= kMinShortCommit && revision.size() < 40 && is_lower_hex(revision, revision.size())) {
    // An abbreviated commit id, as git takes one: a prefix naming exactly one commit of this
    // repo (branch and tag names win, as above). Every id with the prefix sorts in
    // [prefix, prefix + "g"), since 'g' follows every hex digit.
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT id FROM commits WHERE repo_id = ? AND id >= ? AND id < ? "
                                                   "ORDER BY id LIMIT 2"));
    select.bind_all(repo.id, revision, revision + "g");
    GROVE_ASSIGN_OR_RETURN(bool row, select.step());
    if (row) {
      std::string id = select.text(0);
      GROVE_ASSIGN_OR_RETURN(bool second, select.step());
      if (!second) return id;
      return Status(Code::kRevisionNotFound, "Revision '" + revision + "' is ambiguous in repo " + repo.id_string() +
                                                 ": more than one commit starts with it");
    }
  }
  return revision_not_found(repo, revision);
}

Result<std::vector<FileEntry>> files_in(sql::Db& db, std::int64_t repo_id, const std::string& commit_id) {
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT path, size, sha256, lfs, blob_oid FROM files "
                                                 "WHERE repo_id = ? AND commit_id = ? ORDER BY path"));
  select.bind_all(repo_id, commit_id);
  std::vector<FileEntry> files;
  for (;;) {
    GROVE_ASSIGN_OR_RETURN(bool row, select.step());
    if (!row) return files;
    GROVE_ASSIGN_OR_RETURN(FileEntry file, file_from_row(select));
    files.push_back(std::move(file));
  }
}

Result<Commit> write_commit_in(sql::Db& db, std::int64_t repo_id, const std::vector<std::string>& parents,
                               const std::string& author, const std::string& title, const std::string& description,
                               const std::vector<FileEntry>& files) {
  Commit commit;
  commit.parents = parents;
  commit.tree_id = git_tree_oids(files).at("").hex();
  commit.author = author;
  commit.title = title;
  commit.message = description;
  commit.time = now_seconds();
  std::string git_message = description.empty() ? title : title + "\n\n" + description;
  commit.id = git_commit_oid(commit.tree_id, parents, author, commit.time, git_message).hex();

  GROVE_ASSIGN_OR_RETURN(auto insert, db.prepare("INSERT OR IGNORE INTO commits(repo_id, id, parents, tree_id, "
                                                 "author, title, message, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
  GROVE_RETURN_IF_ERROR(insert.bind_all(repo_id, commit.id, nlohmann::json(parents).dump(), commit.tree_id, author,
                                        title, description, commit.time)
                            .run());
  // The same id twice (same tree, parents, author, second and message) is the same commit,
  // files included: nothing more to write.
  if (db.changes() == 0) return commit;
  GROVE_ASSIGN_OR_RETURN(auto insert_file, db.prepare("INSERT INTO files(repo_id, commit_id, path, size, sha256, "
                                                      "lfs, blob_oid) VALUES (?, ?, ?, ?, ?, ?, ?)"));
  for (const auto& file : files) {
    insert_file.reset();
    GROVE_RETURN_IF_ERROR(insert_file
                              .bind_all(repo_id, commit.id, file.path, file.size, file.sha256.hex(), file.lfs,
                                        file.blob_oid.hex())
                              .run());
  }
  return commit;
}

Status set_ref_in(sql::Db& db, std::int64_t repo_id, const char* kind, const std::string& name,
                  const std::string& commit_id) {
  GROVE_ASSIGN_OR_RETURN(auto upsert, db.prepare("INSERT INTO refs(repo_id, kind, name, commit_id) VALUES (?, ?, ?, ?) "
                                                 "ON CONFLICT(repo_id, kind, name) DO UPDATE "
                                                 "SET commit_id = excluded.commit_id"));
  return upsert.bind_all(repo_id, kind, name, commit_id).run();
}

Result<std::string> SqliteRegistry::resolve_revision(std::int64_t repo_id, const std::string& revision) {
  return read([&](sql::Db& db) -> Result<std::string> {
    GROVE_ASSIGN_OR_RETURN(Repo repo, load_repo_in(db, repo_id));
    return resolve_in(db, repo, revision);
  });
}

Result<Commit> SqliteRegistry::get_commit(std::int64_t repo_id, const std::string& commit_id) {
  return read([&](sql::Db& db) -> Result<Commit> {
    GROVE_ASSIGN_OR_RETURN(Repo repo, load_repo_in(db, repo_id));
    return load_commit_in(db, repo, commit_id);
  });
}

Result<std::vector<FileEntry>> SqliteRegistry::list_files(std::int64_t repo_id, const std::string& commit_id) {
  return read([&](sql::Db& db) -> Result<std::vector<FileEntry>> {
    GROVE_ASSIGN_OR_RETURN(Repo repo, load_repo_in(db, repo_id));
    GROVE_RETURN_IF_ERROR(require_commit_in(db, repo, commit_id));
    return files_in(db, repo_id, commit_id);
  });
}

Result<FileEntry> SqliteRegistry::find_file(std::int64_t repo_id, const std::string& commit_id,
                                            const std::string& path) {
  return read([&](sql::Db& db) -> Result<FileEntry> {
    GROVE_ASSIGN_OR_RETURN(Repo repo, load_repo_in(db, repo_id));
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT path, size, sha256, lfs, blob_oid FROM files "
                                                   "WHERE repo_id = ? AND commit_id = ? AND path = ?"));
    GROVE_ASSIGN_OR_RETURN(bool row, select.bind_all(repo_id, commit_id, path).step());
    if (row) return file_from_row(select);
    GROVE_RETURN_IF_ERROR(require_commit_in(db, repo, commit_id));
    return Status(Code::kEntryNotFound, "Entry not found: " + path + " in " + repo.id_string() + "@" + commit_id);
  });
}

Result<std::vector<Commit>> SqliteRegistry::list_commits(std::int64_t repo_id, const std::string& commit_id,
                                                         std::size_t limit, std::size_t offset) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max() / 2);
  auto limit64 = static_cast<std::int64_t>(std::min(limit, kMax));
  auto offset64 = static_cast<std::int64_t>(std::min(offset, kMax));
  return read([&](sql::Db& db) -> Result<std::vector<Commit>> {
    GROVE_ASSIGN_OR_RETURN(Repo repo, load_repo_in(db, repo_id));
    GROVE_RETURN_IF_ERROR(require_commit_in(db, repo, commit_id));
    // Walk first parents only as far as the page needs.
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare(first_parent_chain("?3") + "SELECT " + kCommitColumns +
        " FROM chain JOIN commits c ON c.repo_id = ?1 AND c.id = chain.id"
        " ORDER BY chain.depth LIMIT ?4 OFFSET ?5"));
    select.bind_all(repo_id, commit_id, limit64 + offset64, limit64, offset64);
    std::vector<Commit> commits;
    for (;;) {
      GROVE_ASSIGN_OR_RETURN(bool row, select.step());
      if (!row) return commits;
      GROVE_ASSIGN_OR_RETURN(Commit commit, commit_from_row(select));
      commits.push_back(std::move(commit));
    }
  });
}

Result<std::size_t> SqliteRegistry::count_commits(std::int64_t repo_id, const std::string& commit_id) {
  return read([&](sql::Db& db) -> Result<std::size_t> {
    GROVE_ASSIGN_OR_RETURN(Repo repo, load_repo_in(db, repo_id));
    GROVE_RETURN_IF_ERROR(require_commit_in(db, repo, commit_id));
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare(
        first_parent_chain() + "SELECT count(*) FROM chain JOIN commits c ON c.repo_id = ?1 AND c.id = chain.id"));
    GROVE_ASSIGN_OR_RETURN(bool row, select.bind_all(repo_id, commit_id).step());
    if (!row) return internal_error("count(*) gave no row");
    return static_cast<std::size_t>(select.int64(0));
  });
}

Result<Commit> SqliteRegistry::last_commit_of_file(std::int64_t repo_id, const std::string& commit_id,
                                                   const std::string& path, std::size_t max_depth) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  auto depth64 = static_cast<std::int64_t>(std::min(std::max<std::size_t>(max_depth, 1), kMax));
  return read([&](sql::Db& db) -> Result<Commit> {
    GROVE_ASSIGN_OR_RETURN(Repo repo, load_repo_in(db, repo_id));
    GROVE_RETURN_IF_ERROR(require_commit_in(db, repo, commit_id));
    // The file's blob id along the first-parent chain, newest first (NULL where it is absent).
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare(
        first_parent_chain("?4") + "SELECT chain.id, f.blob_oid FROM chain"
        " JOIN commits c ON c.repo_id = ?1 AND c.id = chain.id"
        " LEFT JOIN files f ON f.repo_id = ?1 AND f.commit_id = chain.id AND f.path = ?3"
        " ORDER BY chain.depth"));
    select.bind_all(repo_id, commit_id, path, depth64);
    std::optional<std::string> head_oid;
    std::string last;
    for (;;) {
      GROVE_ASSIGN_OR_RETURN(bool row, select.step());
      if (!row) break;
      std::optional<std::string> oid = select.optional_text(1);
      if (last.empty()) {
        if (!oid) return Status(Code::kEntryNotFound, "Entry '" + path + "' not found in " + commit_id);
        head_oid = oid;
      } else if (oid != head_oid) {
        break;
      }
      last = select.text(0);
    }
    return load_commit_in(db, repo, last);
  });
}

Result<Refs> SqliteRegistry::list_refs(std::int64_t repo_id) {
  return read([&](sql::Db& db) -> Result<Refs> {
    GROVE_RETURN_IF_ERROR(status_of(load_repo_in(db, repo_id)));
    GROVE_ASSIGN_OR_RETURN(auto select,
                           db.prepare("SELECT kind, name, commit_id FROM refs WHERE repo_id = ? ORDER BY kind, name"));
    select.bind_all(repo_id);
    Refs refs;
    for (;;) {
      GROVE_ASSIGN_OR_RETURN(bool row, select.step());
      if (!row) return refs;
      (select.text(0) == "branch" ? refs.branches : refs.tags).push_back({select.text(1), select.text(2)});
    }
  });
}

Status SqliteRegistry::create_ref(std::int64_t repo_id, const char* kind, const std::string& name,
                                  const std::string& revision) {
  GROVE_RETURN_IF_ERROR(validate_ref_name(name));
  return write([&](sql::Db& db) -> Status {
    GROVE_ASSIGN_OR_RETURN(Repo repo, load_repo_in(db, repo_id));
    GROVE_ASSIGN_OR_RETURN(auto existing, ref_target_in(db, repo_id, kind, name));
    if (existing) return Status(Code::kAlreadyExists, std::string(kind) + " '" + name + "' already exists in " +
                                                          repo.id_string());
    GROVE_ASSIGN_OR_RETURN(std::string commit_id, resolve_in(db, repo, revision));
    return set_ref_in(db, repo_id, kind, name, commit_id);
  });
}

Status SqliteRegistry::delete_ref(std::int64_t repo_id, const char* kind, const std::string& name) {
  return write([&](sql::Db& db) -> Status {
    GROVE_ASSIGN_OR_RETURN(Repo repo, load_repo_in(db, repo_id));
    if (std::string_view(kind) == "branch" && name == repo.default_branch)
      return invalid_argument("cannot delete the default branch '" + name + "' of " + repo.id_string());
    GROVE_ASSIGN_OR_RETURN(auto remove, db.prepare("DELETE FROM refs WHERE repo_id = ? AND kind = ? AND name = ?"));
    GROVE_RETURN_IF_ERROR(remove.bind_all(repo_id, kind, name).run());
    if (db.changes() == 0) return revision_not_found(repo, name);
    return Status::ok();
  });
}

Status SqliteRegistry::create_branch(std::int64_t repo_id, const std::string& branch, const std::string& commit_id) {
  return create_ref(repo_id, "branch", branch, commit_id);
}

Status SqliteRegistry::delete_branch(std::int64_t repo_id, const std::string& branch) {
  return delete_ref(repo_id, "branch", branch);
}

Status SqliteRegistry::create_tag(std::int64_t repo_id, const std::string& tag, const std::string& commit_id) {
  return create_ref(repo_id, "tag", tag, commit_id);
}

Status SqliteRegistry::delete_tag(std::int64_t repo_id, const std::string& tag) {
  return delete_ref(repo_id, "tag", tag);
}

}  // namespace grove::registry
