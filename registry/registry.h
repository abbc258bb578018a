// The registry: who may do what, which repos exist, and what every revision of a repo holds.
// SQLite in WAL mode with versioned migrations; one writer connection behind a mutex and a
// small pool of reader connections, so reads never wait behind a push.
//
// The registry stores names, digests and sizes, never file content. Commit ids are real git
// commit ids (see git_objects.h): small files are git blobs, large files are Git LFS pointers.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "common/status.h"
#include "registry/lineage.h"

namespace grove::registry {

enum class Scope { kRead, kWrite };
const char* scope_name(Scope scope);  // "read" / "write"

struct User {
  std::int64_t id = 0;
  std::string name;
};

struct TokenInfo {
  User user;
  Scope scope = Scope::kRead;
  std::string display_name;
  std::int64_t created_at = 0;  // unix seconds
};

struct Repo {
  std::int64_t id = 0;
  std::string ns;    // namespace: a user or org name
  std::string name;
  bool is_private = false;
  std::string default_branch = "main";
  std::int64_t created_at = 0;  // unix milliseconds
  std::int64_t updated_at = 0;  // unix milliseconds, last commit
  // Model-card metadata of the default branch head (empty until a README with front matter).
  nlohmann::json card_data = nlohmann::json::object();
  std::vector<std::string> tags;  // card tags plus derived ones (license:x, base_model:...)
  std::optional<std::string> library_name;
  std::optional<std::string> pipeline_tag;
  std::uint64_t downloads = 0;  // counted model downloads (see add_downloads)

  std::string id_string() const { return ns + "/" + name; }
};

// One file of a revision.
struct FileEntry {
  std::string path;          // validated repo path, '/'-separated
  std::uint64_t size = 0;    // content size in bytes
  Sha256Digest sha256;       // content address in storage
  bool lfs = false;          // stored as a Git LFS pointer in the git tree
  Sha1Digest blob_oid;       // git blob id: of the content, or of the LFS pointer when lfs
};

struct Commit {
  std::string id;  // 40 lowercase hex
  std::vector<std::string> parents;
  std::string tree_id;
  std::string author;
  std::string title;
  std::string message;  // the description after the title, may be empty
  std::int64_t time = 0;  // unix seconds
};

struct Ref {
  std::string name;  // "main", "v1.0"
  std::string commit_id;
};

struct Refs {
  std::vector<Ref> branches;
  std::vector<Ref> tags;
};

// What a model card says, as the hub read it from README.md (see formats/model_card.h).
struct CardMetadata {
  std::vector<std::string> base_models;
  std::optional<std::string> base_model_relation;
  std::optional<std::string> license;
  std::optional<std::string> library_name;
  std::optional<std::string> pipeline_tag;
  std::vector<std::string> tags;
  nlohmann::json card_data = nlohmann::json::object();
};

struct CommitRequest {
  std::int64_t repo_id = 0;
  std::string branch = "main";
  // When set, the commit is refused with kConflict unless it equals the branch head.
  // A unique prefix of at least 7 hex digits is accepted too.
  std::optional<std::string> parent_commit;
  std::string author;  // user name (validate_repo_name)
  std::string title;   // required
  std::string description;
  // Added or replaced files; for the same path a later entry wins. An LFS entry may leave
  // blob_oid zero: it is computed from the pointer. Any other mismatch is kInvalidArgument.
  std::vector<FileEntry> upserts;
  std::vector<std::string> deleted_files;     // kEntryNotFound if a path is not in the parent
  // Every file under the folder ("a/b" or "a/b/"); kEntryNotFound when it holds no file.
  std::vector<std::string> deleted_folders;
  // Set when README.md is part of this commit on the default branch: replaces the repo's card
  // metadata and its declared lineage edges. Ignored on other branches.
  std::optional<CardMetadata> card;
  // Lineage (registry/lineage.h), on the default branch only. `grove push --base`: a "flag"
  // edge to "ns/name" or "ns/name@rev", replacing an earlier flag. What only file bytes tell
  // (the hub reads them from small files of this commit; nullopt: not in this commit, keep what
  // was known): config.json has a quantization_config; adapter_config.json's
  // base_model_name_or_path (an "inferred" adapter edge; "" when it names none).
  std::optional<std::string> base_flag;
  std::optional<bool> config_quantized;
  std::optional<std::string> adapter_base;
};

struct LineageEdge {
  std::string child;        // "ns/name"
  std::string parent;       // "ns/name", possibly a repo this hub does not have
  std::string relation;     // finetune | adapter | merge | quantized
  std::string source;       // declared | flag | inferred | detected
};

// A GGUF export of a commit cached in storage (registry/exports.cpp, table `exports`).
struct ExportRecord {
  std::int64_t repo_id = 0;
  std::string commit_id;     // 40 hex
  std::string quant;         // "Q4_K_M", "Q8_0", "F16", ...
  int exporter_version = 0;  // formats::kGgufExporterVersion that produced it
  Sha256Digest sha256;       // the GGUF file's content address in storage
  std::uint64_t size = 0;
  std::int64_t created_at = 0;  // unix seconds; 0 in record_export means now
};

enum class RepoSort {
  kLastModified,  // updated_at
  kCreatedAt,
  kId,            // "ns/name", case-insensitive
  kDownloads,
};

struct RepoQuery {
  std::optional<std::string> search;  // substring of "ns/name", case-insensitive
  std::optional<std::string> author;  // exact namespace
  std::vector<std::string> tags;      // every tag must match
  std::optional<std::string> pipeline_tag;  // exact task
  std::optional<std::string> viewer;  // user name: also list this user's private repos
  RepoSort sort = RepoSort::kLastModified;
  bool descending = true;  // ties are broken by repo id in the same direction, so pages are stable
  std::size_t limit = 100;
  std::size_t offset = 0;
};

class Registry {
 public:
  virtual ~Registry() = default;

  // Opens or creates the database at `path` and brings its schema up to date. A database
  // written by a newer grove is refused with kInvalidArgument.
  static Result<std::unique_ptr<Registry>> open(const std::string& path);

  // --- users and tokens
  // Creates the user when missing.
  virtual Result<User> ensure_user(const std::string& name) = 0;
  virtual Result<User> find_user(const std::string& name) = 0;  // kNotFound
  // A new token "hf_" + 34 random base62 characters, creating the user when missing. Only its
  // SHA-256 is stored, so the returned string is the only copy.
  virtual Result<std::string> create_token(const std::string& user_name, Scope scope,
                                           const std::string& display_name) = 0;
  // kUnauthenticated for an unknown or malformed token.
  virtual Result<TokenInfo> authenticate(const std::string& token) = 0;

  // --- repos
  // Creates the repo with an initial empty commit on `main` authored by `owner` (created when
  // missing). kInvalidArgument for a bad name; kAlreadyExists when taken, in any letter case.
  // Lookups by name are case-insensitive too and return the stored spelling.
  virtual Result<Repo> create_repo(const std::string& ns, const std::string& name, const std::string& owner,
                                   bool is_private) = 0;
  virtual Result<Repo> find_repo(const std::string& ns, const std::string& name) = 0;  // kRepoNotFound
  virtual Status delete_repo(std::int64_t repo_id) = 0;
  virtual Status set_private(std::int64_t repo_id, bool is_private) = 0;
  // Renames the repo (POST /api/repos/move). kInvalidArgument for a bad name, kAlreadyExists
  // when another repo holds the name (in any letter case). The old name is remembered:
  // find_renamed_repo answers it until the repo is deleted or a new repo is created under it.
  // Lineage edges naming the repo follow it (registry_impl.h: add_repo_renamed_hook).
  virtual Result<Repo> rename_repo(std::int64_t repo_id, const std::string& new_ns, const std::string& new_name) = 0;
  // The repo, under its current name, that was once called ns/name; kRepoNotFound otherwise.
  virtual Result<Repo> find_renamed_repo(const std::string& ns, const std::string& name) = 0;
  // Ordered as query.sort and query.descending say (default: newest updated_at first). Private
  // repos are listed only when viewer equals their namespace.
  virtual Result<std::vector<Repo>> list_repos(const RepoQuery& query) = 0;
  // Adds each count to its repo's downloads, all in one transaction. Ids of repos that no
  // longer exist are skipped.
  virtual Status add_downloads(const std::map<std::int64_t, std::uint64_t>& counts) = 0;

  // --- revisions
  // Accepts a branch, a tag, a full 40-hex commit of this repo, "HEAD" (the default branch), or
  // an abbreviated commit: 7 to 39 lowercase hex digits that start exactly one commit of this
  // repo (a branch or tag of that name wins). kRevisionNotFound otherwise (also when ambiguous).
  virtual Result<std::string> resolve_revision(std::int64_t repo_id, const std::string& revision) = 0;
  virtual Result<Commit> get_commit(std::int64_t repo_id, const std::string& commit_id) = 0;
  // Every file of a commit, sorted by path.
  virtual Result<std::vector<FileEntry>> list_files(std::int64_t repo_id, const std::string& commit_id) = 0;
  // kEntryNotFound when the path is not a file of that commit.
  virtual Result<FileEntry> find_file(std::int64_t repo_id, const std::string& commit_id,
                                      const std::string& path) = 0;
  // Newest first, following first parents from `commit_id`.
  virtual Result<std::vector<Commit>> list_commits(std::int64_t repo_id, const std::string& commit_id,
                                                   std::size_t limit, std::size_t offset) = 0;
  // The newest commit on the first-parent chain from `commit_id` that last changed `path` (a
  // file): where the file got the content it has in `commit_id`. Looks back at most
  // `max_depth` commits and answers the oldest one seen when the file is older than that.
  // kEntryNotFound when `path` is not a file of `commit_id`.
  virtual Result<Commit> last_commit_of_file(std::int64_t repo_id, const std::string& commit_id,
                                             const std::string& path, std::size_t max_depth) = 0;
  // How many commits list_commits would walk from `commit_id` in all (X-Total-Count).
  virtual Result<std::size_t> count_commits(std::int64_t repo_id, const std::string& commit_id) = 0;

  // Applies the request in one transaction and moves the branch. The branch is created when
  // missing (from the default branch head). Deletions apply first (folders, then files), then
  // upserts. kRepoNotFound, kConflict (stale parent), kEntryNotFound (deleting what is not
  // there), kInvalidArgument (bad path, or a path both file and folder). Returns the new commit.
  virtual Result<Commit> commit(const CommitRequest& request) = 0;

  // Refs sorted by name.
  virtual Result<Refs> list_refs(std::int64_t repo_id) = 0;
  // Creating a ref: the name must pass validate_ref_name; `commit_id` may be any revision that
  // resolve_revision accepts. kAlreadyExists when the name is taken. Deleting: kRevisionNotFound
  // when missing; the default branch cannot be deleted (kInvalidArgument).
  virtual Status create_branch(std::int64_t repo_id, const std::string& branch, const std::string& commit_id) = 0;
  virtual Status delete_branch(std::int64_t repo_id, const std::string& branch) = 0;
  virtual Status create_tag(std::int64_t repo_id, const std::string& tag, const std::string& commit_id) = 0;
  virtual Status delete_tag(std::int64_t repo_id, const std::string& tag) = 0;

  // --- lineage (edges sorted by the other end; names compare case-insensitively)
  virtual Result<std::vector<LineageEdge>> parents_of(const std::string& repo_id_string) = 0;
  virtual Result<std::vector<LineageEdge>> children_of(const std::string& repo_id_string) = 0;
  // The lineage page of a repo (registry/lineage.h). kRepoNotFound when it does not exist.
  virtual Result<LineageView> lineage(const std::string& repo_id_string, const LineageQuery& query) = 0;
  // Direct children, oldest edge first; `relation` narrows them; `cursor` from a previous page.
  // Private children only for their namespace's viewer. kInvalidArgument for a bad cursor.
  virtual Result<LineageChildrenPage> lineage_children(const std::string& repo_id_string,
                                                       const std::optional<std::string>& relation,
                                                       std::size_t limit, const std::string& cursor,
                                                       const std::optional<std::string>& viewer) = 0;
  // Maintained counts and parents (model info's baseModels and childrenModelCount). Private
  // children and descendants count only for their namespace's viewer.
  virtual Result<LineageCounts> lineage_counts(const std::string& repo_id_string,
                                               const std::optional<std::string>& viewer) = 0;
  // Storage found that `child` (a repo here) derives from `parent` (shared frames or a good
  // delta): a "detected" edge with its similarity in [0, 1], replacing an earlier detection of
  // the same pair. Never overrides what the card declares; a contradiction is kept and shown.
  // kRepoNotFound (child), kInvalidArgument (relation, similarity, a cycle).
  virtual Status record_detected_edge(const std::string& child, const std::string& parent, double similarity,
                                      const std::string& relation) = 0;

  // --- storage liveness: every content address some commit still references.
  virtual Result<bool> references_blob(const Sha256Digest& sha256) = 0;

  // --- change detection for answer caches (hub/answer_cache.h)
  // Grows by at least one after every committed write of this Registry object (any table), and
  // only after the write is visible to new reads: data read after this returned G is at least as
  // new as every write counted in G. Writes by other processes to the same file are not counted.
  virtual std::uint64_t write_generation() const = 0;

  // --- GGUF exports (registry/exports.cpp). Rows go when their repo is deleted.
  // Inserts or replaces the row of (repo_id, commit_id, quant, exporter_version).
  virtual Status record_export(const ExportRecord& record) = 0;
  // The oldest export of that commit, quant and version made for any repo; nullopt if none.
  virtual Result<std::optional<ExportRecord>> find_export(const std::string& commit_id, const std::string& quant,
                                                          int exporter_version) = 0;
  // A repo's exports, newest first.
  virtual Result<std::vector<ExportRecord>> list_exports(std::int64_t repo_id) = 0;
};

// --- storage references (registry/storage_refs.cpp): what gc must keep and what stats and fsck
// map content addresses back to. Reads the database at `registry_path` (data/grove.db) on a
// connection of its own, so it works offline and next to a running server.
struct StorageRef {
  std::string repo;  // "ns/name"
  std::string path;  // repo path, or "(gguf export QUANT)" for a cached export
  Sha256Digest sha256;
  std::uint64_t size = 0;
  bool lfs = false;
  bool is_private = false;  // of the repo
};
// Every file of every commit of every repo (small files too: the hub stores them as blobs)
// and every cached GGUF export, one entry per distinct (repo, path, sha256).
Result<std::vector<StorageRef>> list_storage_refs(const std::string& registry_path);
// The distinct content addresses of list_storage_refs: gc's live set (with open uploads, which
// the store keeps by age).
Result<std::vector<Sha256Digest>> live_blobs(const std::string& registry_path);

}  // namespace grove::registry
