// Registry::commit: one push becomes one git commit, applied atomically to a branch.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "registry/git_objects.h"
#include "registry/lineage_impl.h"
#include "registry/registry_impl.h"
#include "registry/repo_path.h"

namespace grove::registry {
namespace {

std::vector<std::string> unique_non_empty(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& v : values) {
    if (!v.empty() && seen.insert(v).second) out.push_back(v);
  }
  return out;
}

// Replaces the repo's card metadata and its tags (the card's plus the derived license: one).
// The base_model: tags and the lineage edges follow in lineage_apply_commit_in.
Status apply_card_in(sql::Db& db, const Repo& repo, const CardMetadata& card) {
  std::vector<std::string> tags = card.tags;
  if (card.license && !card.license->empty()) tags.push_back("license:" + *card.license);
  tags = unique_non_empty(tags);

  std::string card_json, tags_json;
  try {
    card_json = card.card_data.is_object() ? card.card_data.dump() : "{}";
    tags_json = nlohmann::json(tags).dump();
  } catch (const nlohmann::json::exception& e) {  // dump() throws on invalid UTF-8
    return invalid_argument(std::string("model card metadata is not valid UTF-8: ") + e.what());
  }
  {
    GROVE_ASSIGN_OR_RETURN(auto update, db.prepare("UPDATE repos SET card_data = ?, tags = ?, library_name = ?, "
                                                   "pipeline_tag = ? WHERE id = ?"));
    GROVE_RETURN_IF_ERROR(update.bind_all(card_json, tags_json, card.library_name, card.pipeline_tag, repo.id).run());
  }
  {
    GROVE_ASSIGN_OR_RETURN(auto clear, db.prepare("DELETE FROM repo_tags WHERE repo_id = ?"));
    GROVE_RETURN_IF_ERROR(clear.bind_all(repo.id).run());
    GROVE_ASSIGN_OR_RETURN(auto insert, db.prepare("INSERT INTO repo_tags(tag, repo_id) VALUES (?, ?)"));
    for (const auto& tag : tags) {
      insert.reset();
      GROVE_RETURN_IF_ERROR(insert.bind_all(tag, repo.id).run());
    }
  }
  return Status::ok();
}

// Checks everything that needs no database, so bad requests never take the write lock.
// Returns the upserts with LFS blob ids filled in, and folder deletions without trailing '/'.
Status validate_request(const CommitRequest& request, std::vector<FileEntry>& upserts,
                        std::vector<std::string>& folders) {
  GROVE_RETURN_IF_ERROR(validate_ref_name(request.branch));
  GROVE_RETURN_IF_ERROR(validate_repo_name(request.author).with_context("commit author"));
  if (request.title.empty()) return invalid_argument("a commit needs a title");
  for (const auto& path : request.deleted_files) GROVE_RETURN_IF_ERROR(validate_repo_path(path));
  for (std::string folder : request.deleted_folders) {
    while (!folder.empty() && folder.back() == '/') folder.pop_back();
    GROVE_RETURN_IF_ERROR(validate_repo_path(folder));
    folders.push_back(std::move(folder));
  }
  upserts = request.upserts;
  for (auto& file : upserts) {
    GROVE_RETURN_IF_ERROR(validate_repo_path(file.path));
    if (!file.lfs) continue;
    // The tree holds the pointer, so its blob id follows from sha256 and size; a caller may
    // leave it zero, but a different value would make the tree lie about the content.
    Sha1Digest pointer_oid = git_blob_oid(lfs_pointer(file.sha256, file.size));
    if (file.blob_oid == Sha1Digest{}) {
      file.blob_oid = pointer_oid;
    } else if (file.blob_oid != pointer_oid) {
      return invalid_argument("blob id of LFS file " + file.path + " is not that of its pointer");
    }
  }
  return Status::ok();
}

// A path may not be both a file and the folder of another file.
Status check_file_folder_clashes(const std::map<std::string, FileEntry>& files) {
  for (const auto& [path, file] : files) {
    for (std::size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
      std::string folder = path.substr(0, slash);
      if (files.count(folder)) return invalid_argument(folder + " cannot be both a file and a folder (" + path + ")");
    }
  }
  return Status::ok();
}

bool matches_parent(const std::string& expected, const std::string& head) {
  // Python accepts abbreviated parent commits; an unambiguous prefix of the head is the head.
  std::string lower = expected;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower.size() >= 7 && lower.size() <= head.size() && head.compare(0, lower.size(), lower) == 0;
}

}  // namespace

Result<Commit> SqliteRegistry::commit(const CommitRequest& request) {
  std::vector<FileEntry> upserts;
  std::vector<std::string> folders;
  GROVE_RETURN_IF_ERROR(validate_request(request, upserts, folders));

  return write([&](sql::Db& db) -> Result<Commit> {
    GROVE_ASSIGN_OR_RETURN(Repo repo, load_repo_in(db, request.repo_id));
    GROVE_ASSIGN_OR_RETURN(auto head, ref_target_in(db, repo.id, "branch", request.branch));
    if (!head) {
      GROVE_ASSIGN_OR_RETURN(head, ref_target_in(db, repo.id, "branch", repo.default_branch));
      if (!head) return internal_error("repo " + repo.id_string() + " has no default branch head");
    }
    if (request.parent_commit && !matches_parent(*request.parent_commit, *head)) {
      return Status(Code::kConflict, "parent commit " + *request.parent_commit + " is not the head of branch " +
                                         request.branch + " (" + *head + ")");
    }

    GROVE_ASSIGN_OR_RETURN(auto parent_files, files_in(db, repo.id, *head));
    std::map<std::string, FileEntry> files;  // std::string order is byte order: list_files' order
    std::set<std::string> parent_paths;
    for (const auto& file : parent_files) {
      parent_paths.insert(file.path);
      files.emplace(file.path, file);
    }
    for (const auto& folder : folders) {
      auto first = files.lower_bound(folder + "/");
      auto last = first;
      while (last != files.end() && last->first.compare(0, folder.size() + 1, folder + "/") == 0) ++last;
      if (first == last)
        return Status(Code::kEntryNotFound, "folder " + folder + " not found in " + repo.id_string() + "@" + *head);
      files.erase(first, last);
    }
    for (const auto& path : request.deleted_files) {
      if (!parent_paths.count(path))
        return Status(Code::kEntryNotFound, "file " + path + " not found in " + repo.id_string() + "@" + *head);
      files.erase(path);
    }
    for (const auto& file : upserts) files.insert_or_assign(file.path, file);  // a later upsert wins
    GROVE_RETURN_IF_ERROR(check_file_folder_clashes(files));

    std::vector<FileEntry> listing;
    listing.reserve(files.size());
    for (auto& [path, file] : files) listing.push_back(std::move(file));
    GROVE_ASSIGN_OR_RETURN(Commit commit, write_commit_in(db, repo.id, {*head}, request.author, request.title,
                                                          request.description, listing));
    GROVE_RETURN_IF_ERROR(set_ref_in(db, repo.id, "branch", request.branch, commit.id));
    {
      GROVE_ASSIGN_OR_RETURN(auto touch, db.prepare("UPDATE repos SET updated_at = ? WHERE id = ?"));
      GROVE_RETURN_IF_ERROR(touch.bind_all(now_millis(), repo.id).run());
    }
    // The repo's card describes its default branch; a card pushed elsewhere waits for a merge.
    if (request.card && request.branch == repo.default_branch) GROVE_RETURN_IF_ERROR(apply_card_in(db, repo, *request.card));
    // Lineage follows the default branch: the card's bases, --base, and what the files say.
    if (request.branch == repo.default_branch) GROVE_RETURN_IF_ERROR(lineage_apply_commit_in(db, repo, request, listing));
    return commit;
  });
}

}  // namespace grove::registry
