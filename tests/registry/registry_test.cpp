#include "registry/registry.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include <catch2/catch.hpp>

#include "registry/git_objects.h"
#include "registry/schema.h"
#include "tests/registry/test_support.h"

using namespace grove;
using namespace grove::registry;
using grove::registry::testing::GitRepo;
using grove::registry::testing::lfs_file;
using grove::registry::testing::small_file;
using grove::registry::testing::TempDir;
using grove::registry::testing::write_file;

namespace {

const std::string kEmptyTree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

std::unique_ptr<Registry> open_registry(const std::string& path) {
  auto opened = Registry::open(path);
  INFO(opened.status().to_string());
  REQUIRE(opened.is_ok());
  return std::move(opened).value();
}

template <typename T>
T ok(Result<T> result) {
  INFO(result.status().to_string());
  REQUIRE(result.is_ok());
  return std::move(result).value();
}

void require_ok(const Status& status) {
  INFO(status.to_string());
  REQUIRE(status.is_ok());
}


CommitRequest request_for(const Repo& repo, const std::string& title, std::vector<FileEntry> upserts = {}) {
  CommitRequest r;
  r.repo_id = repo.id;
  r.author = repo.ns;
  r.title = title;
  r.upserts = std::move(upserts);
  return r;
}

// "f" + std::to_string(i) trips GCC 12's -Wrestrict false positive; appending does not.
std::string numbered(const char* prefix, int i) {
  std::string s = prefix;
  s += std::to_string(i);
  return s;
}

std::vector<std::string> paths_of(const std::vector<FileEntry>& files) {
  std::vector<std::string> paths;
  for (const auto& f : files) paths.push_back(f.path);
  return paths;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs one query on the database file directly, bypassing the registry; returns column 0.
std::string query_db(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  std::string out;
  if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr)
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

}  // namespace

TEST_CASE("a new registry is in WAL mode at the current schema version", "[registry]") {
  TempDir dir;
  std::string path = dir / "grove.db";
  { auto registry = open_registry(path); }
  CHECK(query_db(path, "PRAGMA journal_mode") == "wal");
  CHECK(query_db(path, "PRAGMA user_version") == std::to_string(schema_version()));
}

TEST_CASE("reopening a migrated database is a no-op, a newer one is refused", "[registry]") {
  TempDir dir;
  std::string path = dir / "grove.db";
  {
    auto registry = open_registry(path);
    ok(registry->create_repo("alice", "model", "alice", false));
  }
  for (int i = 0; i < 3; ++i) {
    auto registry = open_registry(path);
    CHECK(ok(registry->find_repo("alice", "model")).name == "model");
  }
  CHECK(query_db(path, "PRAGMA user_version") == std::to_string(schema_version()));

  query_db(path, "PRAGMA user_version = 99");
  auto newer = Registry::open(path);
  REQUIRE_FALSE(newer.is_ok());
  CHECK(newer.status().code() == Code::kInvalidArgument);
  CHECK_THAT(newer.status().message(), Catch::Contains("newer"));
  CHECK(query_db(path, "PRAGMA user_version") == "99");
}

TEST_CASE("users are created once and found case-insensitively", "[registry]") {
  TempDir dir;
  auto registry = open_registry(dir / "grove.db");
  User alice = ok(registry->ensure_user("alice"));
  CHECK(ok(registry->ensure_user("alice")).id == alice.id);
  CHECK(ok(registry->find_user("Alice")).name == "alice");
  CHECK(registry->find_user("bob").status().code() == Code::kNotFound);
  CHECK(registry->ensure_user("bad name").status().code() == Code::kInvalidArgument);
}

TEST_CASE("tokens authenticate with their scope and are stored only hashed", "[registry]") {
  TempDir dir;
  std::string path = dir / "grove.db";
  auto registry = open_registry(path);
  std::string write_token = ok(registry->create_token("alice", Scope::kWrite, "laptop"));
  std::string read_token = ok(registry->create_token("alice", Scope::kRead, "ci"));

  for (const std::string& token : std::vector<std::string>{write_token, read_token}) {
    CHECK(token.size() == 37);
    CHECK(token.rfind("hf_", 0) == 0);
    CHECK(std::all_of(token.begin() + 3, token.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }));
  }
  CHECK(write_token != read_token);

  TokenInfo info = ok(registry->authenticate(write_token));
  CHECK(info.user.name == "alice");
  CHECK(info.scope == Scope::kWrite);
  CHECK(info.display_name == "laptop");
  CHECK(info.created_at > 1600000000);
  CHECK(ok(registry->authenticate(read_token)).scope == Scope::kRead);
  CHECK(std::string(scope_name(Scope::kRead)) == "read");

  std::string unknown = "hf_" + std::string(34, 'A');
  for (const std::string& bad : std::vector<std::string>{unknown, std::string(), std::string("hf_"), write_token + "x",
                                 "Bearer " + write_token, "hf_" + std::string(33, 'A') + "-", write_token.substr(3)}) {
    auto result = registry->authenticate(bad);
    CHECK(result.status().code() == Code::kUnauthenticated);
    CHECK(result.status().message() == "Invalid credentials in Authorization header");
  }

  // Neither the database nor its WAL holds the token; the hash is what is stored.
  std::string bytes = read_all(path) + read_all(path + "-wal");
  CHECK(bytes.find(write_token) == std::string::npos);
  CHECK(bytes.find(write_token.substr(3)) == std::string::npos);
  CHECK(query_db(path, "SELECT count(*) FROM tokens WHERE sha256 = '" + Sha256::of(write_token).hex() + "'") == "1");
}

TEST_CASE("create_repo makes an initial empty git commit on main", "[registry]") {
  TempDir dir;
  auto registry = open_registry(dir / "grove.db");
  Repo repo = ok(registry->create_repo("org", "model", "alice", true));
  CHECK(repo.id_string() == "org/model");
  CHECK(repo.is_private);
  CHECK(repo.default_branch == "main");
  CHECK(repo.created_at == repo.updated_at);
  CHECK(repo.tags.empty());
  CHECK(ok(registry->find_user("alice")).name == "alice");

  std::string head = ok(registry->resolve_revision(repo.id, "HEAD"));
  Commit initial = ok(registry->get_commit(repo.id, head));
  CHECK(initial.title == "initial commit");
  CHECK(initial.author == "alice");
  CHECK(initial.parents.empty());
  CHECK(initial.tree_id == kEmptyTree);
  CHECK(initial.id == git_commit_oid(kEmptyTree, {}, "alice", initial.time, "initial commit").hex());
  CHECK(ok(registry->list_files(repo.id, head)).empty());

  CHECK(registry->create_repo("org", "model", "bob", false).status().code() == Code::kAlreadyExists);
  CHECK(registry->create_repo("ORG", "Model", "bob", false).status().code() == Code::kAlreadyExists);
  CHECK(registry->create_repo("org", "bad--name", "bob", false).status().code() == Code::kInvalidArgument);
  CHECK(registry->create_repo("org", "x", "bad owner", false).status().code() == Code::kInvalidArgument);
  CHECK(ok(registry->find_repo("Org", "MODEL")).id == repo.id);
  CHECK(registry->find_repo("org", "other").status().code() == Code::kRepoNotFound);
}

TEST_CASE("resolve_revision: HEAD, branches with '/', tags, commit ids, else RevisionNotFound", "[registry]") {
  TempDir dir;
  auto registry = open_registry(dir / "grove.db");
  Repo repo = ok(registry->create_repo("alice", "model", "alice", false));
  Repo other = ok(registry->create_repo("alice", "other", "alice", false));
  std::string initial = ok(registry->resolve_revision(repo.id, "main"));
  CommitRequest on_feature = request_for(repo, "feature work", {small_file("f.txt", "f")});
  on_feature.branch = "feature/x";
  Commit feature = ok(registry->commit(on_feature));
  require_ok(registry->create_tag(repo.id, "v1", "main"));

  CHECK(ok(registry->resolve_revision(repo.id, "HEAD")) == initial);
  CHECK(ok(registry->resolve_revision(repo.id, "main")) == initial);
  CHECK(ok(registry->resolve_revision(repo.id, "feature/x")) == feature.id);
  CHECK(feature.parents == std::vector<std::string>{initial});
  CHECK(ok(registry->resolve_revision(repo.id, "v1")) == initial);
  CHECK(ok(registry->resolve_revision(repo.id, feature.id)) == feature.id);

  std::string upper = feature.id;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  std::string other_head = ok(registry->resolve_revision(other.id, "main"));
  for (const std::string& missing : std::vector<std::string>{std::string("nope"), std::string("feature"), upper, feature.id.substr(0, 6),
                                     std::string(40, '0'), std::string("v1/x")}) {
    auto result = registry->resolve_revision(repo.id, missing);
    CHECK(result.status().code() == Code::kRevisionNotFound);
    CHECK(result.status().message() == "Revision '" + missing + "' not found in repo alice/model");
  }
  if (other_head != initial) CHECK(registry->resolve_revision(repo.id, other_head).status().code() == Code::kRevisionNotFound);
  CHECK(registry->resolve_revision(12345, "main").status().code() == Code::kRepoNotFound);

  // Abbreviated commit ids: 7 to 39 lowercase hex digits naming one commit of this repo.
  for (std::size_t n : {7u, 12u, 39u}) {
    CHECK(ok(registry->resolve_revision(repo.id, feature.id.substr(0, n))) == feature.id);
    CHECK(ok(registry->resolve_revision(repo.id, initial.substr(0, n))) == initial);
  }
  // Upper case is not an abbreviation (39 digits, so that some are letters: a 7-digit prefix of
  // digits only would be the same in both cases).
  CHECK(registry->resolve_revision(repo.id, upper.substr(0, 39)).status().code() == Code::kRevisionNotFound);
  if (other_head != initial)
    CHECK(registry->resolve_revision(repo.id, other_head.substr(0, 8)).status().code() == Code::kRevisionNotFound);
  // A tag named like a prefix wins over the commit it abbreviates.
  require_ok(registry->create_tag(repo.id, feature.id.substr(0, 8), initial));
  CHECK(ok(registry->resolve_revision(repo.id, feature.id.substr(0, 8))) == initial);
  CHECK(ok(registry->resolve_revision(repo.id, feature.id.substr(0, 9))) == feature.id);
}

TEST_CASE("resolve_revision: an abbreviated commit id shared by two commits is ambiguous", "[registry]") {
  TempDir dir;
  std::string path = dir / "grove.db";
  std::int64_t repo_id = 0;
  { repo_id = ok(open_registry(path)->create_repo("alice", "model", "alice", false)).id; }
  // Two commits whose ids share 8 digits cannot be made by hashing in a test: write the rows.
  for (const char* id : {"abcdef0100000000000000000000000000000000", "abcdef0122222222222222222222222222222222"})
    query_db(path, "INSERT INTO commits(repo_id, id, parents, tree_id, author, title, message, time) VALUES (" +
                       std::to_string(repo_id) + ", '" + id + "', '[]', '" + std::string(40, '0') + "', 'alice', 't', '', 0)");
  auto registry = open_registry(path);
  for (const char* prefix : {"abcdef0", "abcdef01"}) {
    auto r = registry->resolve_revision(repo_id, prefix);
    CHECK(r.status().code() == Code::kRevisionNotFound);
    CHECK_THAT(r.status().message(), Catch::Contains("ambiguous"));
  }
  CHECK(ok(registry->resolve_revision(repo_id, "abcdef010")) == "abcdef0100000000000000000000000000000000");
  CHECK(ok(registry->resolve_revision(repo_id, "abcdef012")) == "abcdef0122222222222222222222222222222222");
}

TEST_CASE("a commit's id, tree and files match what real git computes", "[registry]") {
  TempDir dir;
  auto registry = open_registry(dir / "grove.db");
  Repo repo = ok(registry->create_repo("alice", "model", "alice", false));
  std::string weights(3000, 'w');
  std::vector<std::pair<std::string, std::string>> small = {
      {"README.md", "# model\n"}, {"config.json", "{}"}, {"a/x", "x"}, {"a-b", "dash"}, {"a.b", "dot"}, {"ab", "ab"}};
  CommitRequest request = request_for(repo, "Upload model", {lfs_file("model.safetensors", weights)});
  request.description = "first weights";
  for (const auto& [path, content] : small) request.upserts.push_back(small_file(path, content));
  Commit commit = ok(registry->commit(request));
  CHECK(commit.title == "Upload model");
  CHECK(commit.message == "first weights");
  CHECK(commit.author == "alice");

  GitRepo git;
  Commit initial = ok(registry->get_commit(repo.id, commit.parents.at(0)));
  CHECK(git.commit_tree(kEmptyTree, "", "alice", initial.time, "initial commit\n") == initial.id);
  for (const auto& [path, content] : small) write_file(git.dir() / path, content);
  write_file(git.dir() / "model.safetensors", lfs_pointer(Sha256::of(std::string_view(weights)), weights.size()));
  git.git("add -A");
  std::string tree = git.git("write-tree");
  CHECK(commit.tree_id == tree);
  CHECK(git.commit_tree(tree, "-p " + initial.id, "alice", commit.time, "Upload model\n\nfirst weights\n") == commit.id);

  auto files = ok(registry->list_files(repo.id, commit.id));
  CHECK(paths_of(files) ==
        std::vector<std::string>{"README.md", "a-b", "a.b", "a/x", "ab", "config.json", "model.safetensors"});
  FileEntry model = ok(registry->find_file(repo.id, commit.id, "model.safetensors"));
  CHECK(model.lfs);
  CHECK(model.size == weights.size());
  CHECK(model.sha256 == Sha256::of(std::string_view(weights)));
  CHECK(model.blob_oid.hex() == git.git("rev-parse " + tree + ":model.safetensors"));
  CHECK(registry->find_file(repo.id, commit.id, "missing.txt").status().code() == Code::kEntryNotFound);
  CHECK(registry->find_file(repo.id, std::string(40, 'a'), "README.md").status().code() == Code::kRevisionNotFound);
  CHECK(registry->list_files(repo.id, std::string(40, 'a')).status().code() == Code::kRevisionNotFound);
  CHECK(ok(registry->references_blob(Sha256::of(std::string_view(weights)))));
  CHECK_FALSE(ok(registry->references_blob(Sha256::of(std::string_view("never stored")))));
  CHECK(ok(registry->find_repo("alice", "model")).updated_at >= repo.updated_at);
}

TEST_CASE("a stale parent commit is a conflict and changes nothing", "[registry]") {
  TempDir dir;
  auto registry = open_registry(dir / "grove.db");
  Repo repo = ok(registry->create_repo("alice", "model", "alice", false));
  std::string initial = ok(registry->resolve_revision(repo.id, "main"));

  CommitRequest first = request_for(repo, "one", {small_file("a.txt", "1")});
  first.parent_commit = initial;
  Commit one = ok(registry->commit(first));

  CommitRequest stale = request_for(repo, "two", {small_file("b.txt", "2")});
  stale.parent_commit = initial;
  auto result = registry->commit(stale);
  CHECK(result.status().code() == Code::kConflict);
  CHECK(result.status().message() == "parent commit " + initial + " is not the head of branch main (" + one.id + ")");
  CHECK(ok(registry->resolve_revision(repo.id, "main")) == one.id);
  CHECK(paths_of(ok(registry->list_files(repo.id, one.id))) == std::vector<std::string>{"a.txt"});
  CHECK(ok(registry->list_commits(repo.id, one.id, 10, 0)).size() == 2);

  stale.parent_commit = one.id.substr(0, 7);  // clients may abbreviate
  CHECK(ok(registry->commit(stale)).parents == std::vector<std::string>{one.id});
}

TEST_CASE("deletions of files and folders, and refused commits leave the branch alone", "[registry]") {
  TempDir dir;
  auto registry = open_registry(dir / "grove.db");
  Repo repo = ok(registry->create_repo("alice", "model", "alice", false));
  Commit base = ok(registry->commit(request_for(
      repo, "files", {small_file("keep.txt", "k"), small_file("dir/a", "a"), small_file("dir/sub/b", "b"),
                      small_file("dir-other/c", "c"), small_file("dirx", "x"), small_file("other/d", "d")})));

  CommitRequest remove = request_for(repo, "remove");
  remove.deleted_folders = {"dir/"};
  remove.deleted_files = {"other/d"};
  Commit removed = ok(registry->commit(remove));
  CHECK(paths_of(ok(registry->list_files(repo.id, removed.id))) ==
        std::vector<std::string>{"dir-other/c", "dirx", "keep.txt"});
  CHECK(paths_of(ok(registry->list_files(repo.id, base.id))).size() == 6);  // old revisions keep their files

  auto refused = [&](CommitRequest r, Code code) {
    auto result = registry->commit(r);
    INFO(r.title << ": " << result.status().to_string());
    CHECK(result.status().code() == code);
    CHECK(ok(registry->resolve_revision(repo.id, "main")) == removed.id);
  };
  CommitRequest missing_file = request_for(repo, "missing file", {small_file("new.txt", "n")});
  missing_file.deleted_files = {"other/d"};
  refused(missing_file, Code::kEntryNotFound);
  CommitRequest missing_folder = request_for(repo, "missing folder");
  missing_folder.deleted_folders = {"dir"};
  refused(missing_folder, Code::kEntryNotFound);
  refused(request_for(repo, "file under a file", {small_file("keep.txt/inner", "i")}), Code::kInvalidArgument);
  refused(request_for(repo, "folder over a file", {small_file("dirx/inner", "i")}), Code::kInvalidArgument);
  refused(request_for(repo, "traversal", {small_file("../escape", "e")}), Code::kInvalidArgument);
  refused(request_for(repo, "git dir", {small_file(".git/config", "e")}), Code::kInvalidArgument);
  refused(request_for(repo, "", {small_file("t", "t")}), Code::kInvalidArgument);
  FileEntry lying = lfs_file("big.bin", "content");
  lying.blob_oid = git_blob_oid("content");
  refused(request_for(repo, "lfs oid of the content", {lying}), Code::kInvalidArgument);
  CommitRequest no_repo = request_for(repo, "no repo");
  no_repo.repo_id = 999;
  refused(no_repo, Code::kRepoNotFound);

  // An LFS entry without a blob id gets its pointer's; a later upsert of a path wins.
  FileEntry big = lfs_file("big.bin", "content");
  Sha1Digest expected = big.blob_oid;
  big.blob_oid = {};
  Commit last = ok(registry->commit(request_for(repo, "upserts", {small_file("keep.txt", "old"), big,
                                                                  small_file("keep.txt", "new")})));
  CHECK(ok(registry->find_file(repo.id, last.id, "big.bin")).blob_oid == expected);
  CHECK(ok(registry->find_file(repo.id, last.id, "keep.txt")).blob_oid == git_blob_oid("new"));
}

TEST_CASE("list_commits follows first parents, newest first, with paging", "[registry]") {
  TempDir dir;
  auto registry = open_registry(dir / "grove.db");
  Repo repo = ok(registry->create_repo("alice", "model", "alice", false));
  std::vector<std::string> ids = {ok(registry->resolve_revision(repo.id, "main"))};
  for (int i = 1; i <= 5; ++i) {
    ids.push_back(ok(registry->commit(request_for(repo, numbered("c", i),
                                                  {small_file(numbered("f", i), "x")})))
                      .id);
  }
  auto all = ok(registry->list_commits(repo.id, ids.back(), 100, 0));
  REQUIRE(all.size() == 6);
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(all[i].id == ids[ids.size() - 1 - i]);
  CHECK(all.front().title == "c5");
  CHECK(all.back().title == "initial commit");

  auto page = ok(registry->list_commits(repo.id, ids.back(), 2, 2));
  REQUIRE(page.size() == 2);
  CHECK(page[0].id == ids[3]);
  CHECK(page[1].id == ids[2]);
  CHECK(ok(registry->list_commits(repo.id, ids[2], 10, 0)).size() == 3);
  CHECK(ok(registry->list_commits(repo.id, ids.back(), 10, 6)).empty());
  CHECK(registry->list_commits(repo.id, std::string(40, 'f'), 10, 0).status().code() == Code::kRevisionNotFound);

  // last_commit_of_file: f3 was added by c3 and never changed; "x" was rewritten by every commit.
  CHECK(ok(registry->last_commit_of_file(repo.id, ids.back(), "f3", 100)).id == ids[3]);
  CHECK(ok(registry->last_commit_of_file(repo.id, ids.back(), "f5", 100)).id == ids[5]);
  CHECK(ok(registry->last_commit_of_file(repo.id, ids.back(), "f1", 2)).id == ids[4]);  // depth cap
  CHECK(registry->last_commit_of_file(repo.id, ids.back(), "nope", 100).status().code() == Code::kEntryNotFound);

  // count_commits counts the same first-parent chain (X-Total-Count).
  CHECK(ok(registry->count_commits(repo.id, ids.back())) == 6);
  CHECK(ok(registry->count_commits(repo.id, ids[2])) == 3);
  CHECK(ok(registry->count_commits(repo.id, ids[0])) == 1);
  CHECK(registry->count_commits(repo.id, std::string(40, 'f')).status().code() == Code::kRevisionNotFound);
}

TEST_CASE("branches and tags are created, listed and deleted", "[registry]") {
  TempDir dir;
  auto registry = open_registry(dir / "grove.db");
  Repo repo = ok(registry->create_repo("alice", "model", "alice", false));
  std::string head = ok(registry->resolve_revision(repo.id, "main"));
  require_ok(registry->create_branch(repo.id, "dev", head));
  require_ok(registry->create_branch(repo.id, "release/1", "dev"));
  require_ok(registry->create_tag(repo.id, "v1.0", head));
  CHECK(registry->create_branch(repo.id, "dev", head).code() == Code::kAlreadyExists);
  CHECK(registry->create_tag(repo.id, "v1.0", head).code() == Code::kAlreadyExists);
  CHECK(registry->create_branch(repo.id, "bad..name", head).code() == Code::kInvalidArgument);
  CHECK(registry->create_branch(repo.id, "x", "nowhere").code() == Code::kRevisionNotFound);

  Refs refs = ok(registry->list_refs(repo.id));
  REQUIRE(refs.branches.size() == 3);
  CHECK(refs.branches[0].name == "dev");
  CHECK(refs.branches[1].name == "main");
  CHECK(refs.branches[2].name == "release/1");
  REQUIRE(refs.tags.size() == 1);
  CHECK(refs.tags[0].name == "v1.0");
  CHECK(refs.tags[0].commit_id == head);

  require_ok(registry->delete_branch(repo.id, "dev"));
  require_ok(registry->delete_tag(repo.id, "v1.0"));
  CHECK(registry->delete_branch(repo.id, "dev").code() == Code::kRevisionNotFound);
  CHECK(registry->delete_tag(repo.id, "v1.0").code() == Code::kRevisionNotFound);
  CHECK(registry->delete_branch(repo.id, "main").code() == Code::kInvalidArgument);
  CHECK(ok(registry->list_refs(repo.id)).branches.size() == 2);
}

TEST_CASE("a model card sets tags and replaces declared lineage", "[registry]") {
  TempDir dir;
  auto registry = open_registry(dir / "grove.db");
  Repo repo = ok(registry->create_repo("alice", "tuned", "alice", false));

  CardMetadata card;
  card.base_models = {"meta-llama/Llama-3.1-8B"};
  card.license = "apache-2.0";
  card.library_name = "transformers";
  card.pipeline_tag = "text-generation";
  card.tags = {"chat", "chat"};
  card.card_data = {{"base_model", "meta-llama/Llama-3.1-8B"}, {"license", "apache-2.0"}};
  CommitRequest request = request_for(repo, "card", {small_file("README.md", "---\n---\n")});
  request.card = card;
  ok(registry->commit(request));

  Repo tuned = ok(registry->find_repo("alice", "tuned"));
  CHECK(tuned.tags == std::vector<std::string>{"chat", "license:apache-2.0", "base_model:meta-llama/Llama-3.1-8B",
                                                "base_model:finetune:meta-llama/Llama-3.1-8B"});
  CHECK(tuned.library_name == "transformers");
  CHECK(tuned.pipeline_tag == "text-generation");
  CHECK(tuned.card_data == card.card_data);
  auto parents = ok(registry->parents_of("alice/tuned"));
  REQUIRE(parents.size() == 1);
  CHECK(parents[0].parent == "meta-llama/Llama-3.1-8B");
  CHECK(parents[0].relation == "finetune");
  CHECK(parents[0].source == "declared");
  auto children = ok(registry->children_of("meta-llama/llama-3.1-8b"));
  REQUIRE(children.size() == 1);
  CHECK(children[0].child == "alice/tuned");

  RepoQuery by_base;
  by_base.tags = {"base_model:finetune:meta-llama/Llama-3.1-8B"};
  CHECK(ok(registry->list_repos(by_base)).size() == 1);

  // Two bases and no declared relation make a merge; the old edge is replaced.
  card.base_models = {"a/one", "b/two", "alice/tuned"};
  card.license.reset();
  card.tags.clear();
  request.card = card;
  request.title = "merge card";
  ok(registry->commit(request));
  tuned = ok(registry->find_repo("alice", "tuned"));
  CHECK(tuned.tags == std::vector<std::string>{"base_model:a/one", "base_model:merge:a/one", "base_model:b/two",
                                                "base_model:merge:b/two"});
  parents = ok(registry->parents_of("alice/tuned"));
  REQUIRE(parents.size() == 2);
  CHECK(parents[0].parent == "a/one");
  CHECK(parents[0].relation == "merge");
  CHECK(parents[1].parent == "b/two");
  CHECK(ok(registry->children_of("meta-llama/Llama-3.1-8B")).empty());
  CHECK(ok(registry->list_repos(by_base)).empty());

  // An explicit relation wins; a card on another branch does not touch the repo.
  card.base_models = {"a/one"};
  card.base_model_relation = "quantized";
  request.card = card;
  ok(registry->commit(request));
  CHECK(ok(registry->parents_of("alice/tuned")).at(0).relation == "quantized");
  card.base_models = {"c/three"};
  request.card = card;
  request.branch = "experiment";
  ok(registry->commit(request));
  CHECK(ok(registry->parents_of("alice/tuned")).at(0).parent == "a/one");

  // Deleting the repo drops its own edges.
  require_ok(registry->delete_repo(tuned.id));
  CHECK(ok(registry->parents_of("alice/tuned")).empty());
  CHECK(registry->find_repo("alice", "tuned").status().code() == Code::kRepoNotFound);
  CHECK(registry->delete_repo(tuned.id).code() == Code::kRepoNotFound);
  CHECK_FALSE(ok(registry->references_blob(Sha256::of(std::string_view("---\n---\n")))));
}

TEST_CASE("list_repos sorts by downloads, creation and id in either direction", "[registry]") {
  TempDir dir;
  auto registry = open_registry(dir / "grove.db");
  Repo a = ok(registry->create_repo("carol", "b-model", "carol", false));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Repo b = ok(registry->create_repo("alice", "z-model", "alice", false));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Repo c = ok(registry->create_repo("bob", "a-model", "bob", false));
  // Counts add up over batches; an id that no longer exists is skipped.
  require_ok(registry->add_downloads({{a.id, 5}, {b.id, 1}}));
  require_ok(registry->add_downloads({{b.id, 2}, {c.id + 100, 7}}));
  require_ok(registry->add_downloads({}));
  CHECK(ok(registry->find_repo("carol", "b-model")).downloads == 5);
  CHECK(ok(registry->find_repo("alice", "z-model")).downloads == 3);
  CHECK(ok(registry->find_repo("bob", "a-model")).downloads == 0);

  auto names = [&](RepoSort sort, bool descending) {
    RepoQuery q;
    q.sort = sort;
    q.descending = descending;
    std::vector<std::string> out;
    for (const auto& r : ok(registry->list_repos(q))) out.push_back(r.id_string());
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(names(RepoSort::kDownloads, true) == V{"carol/b-model", "alice/z-model", "bob/a-model"});
  CHECK(names(RepoSort::kDownloads, false) == V{"bob/a-model", "alice/z-model", "carol/b-model"});
  CHECK(names(RepoSort::kCreatedAt, true) == V{"bob/a-model", "alice/z-model", "carol/b-model"});
  CHECK(names(RepoSort::kCreatedAt, false) == V{"carol/b-model", "alice/z-model", "bob/a-model"});
  CHECK(names(RepoSort::kId, false) == V{"alice/z-model", "bob/a-model", "carol/b-model"});
  CHECK(names(RepoSort::kLastModified, true) == V{"bob/a-model", "alice/z-model", "carol/b-model"});
}

TEST_CASE("list_repos searches, filters and hides private repos from others", "[registry]") {
  TempDir dir;
  auto registry = open_registry(dir / "grove.db");
  Repo a = ok(registry->create_repo("alice", "llama-tune", "alice", false));
  Repo b = ok(registry->create_repo("alice", "secret", "alice", true));
  Repo c = ok(registry->create_repo("bob", "Llama-Quant", "bob", false));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CommitRequest tagged = request_for(a, "card", {small_file("README.md", "x")});
  tagged.card = CardMetadata{};
  tagged.card->tags = {"gguf", "chat"};
  ok(registry->commit(tagged));  // a is now the most recently updated

  auto names = [&](const RepoQuery& q) {
    std::vector<std::string> out;
    for (const auto& r : ok(registry->list_repos(q))) out.push_back(r.id_string());
    return out;
  };
  RepoQuery all;
  CHECK(names(all) == std::vector<std::string>{"alice/llama-tune", "bob/Llama-Quant"});
  all.viewer = "alice";
  CHECK(names(all) == std::vector<std::string>{"alice/llama-tune", "bob/Llama-Quant", "alice/secret"});
  all.viewer = "bob";
  CHECK(names(all).size() == 2);

  RepoQuery search;
  search.search = "LLAMA";
  CHECK(names(search) == std::vector<std::string>{"alice/llama-tune", "bob/Llama-Quant"});
  search.search = "e/lla";  // spans namespace and name
  CHECK(names(search) == std::vector<std::string>{"alice/llama-tune"});
  search.search = "%";  // no LIKE wildcards
  CHECK(names(search).empty());

  RepoQuery by_author;
  by_author.author = "bob";
  CHECK(names(by_author) == std::vector<std::string>{"bob/Llama-Quant"});
  by_author.author = "alice";
  by_author.viewer = "alice";
  CHECK(names(by_author) == std::vector<std::string>{"alice/llama-tune", "alice/secret"});

  RepoQuery tags;
  tags.tags = {"gguf", "chat"};
  CHECK(names(tags) == std::vector<std::string>{"alice/llama-tune"});
  tags.tags = {"gguf", "vision"};
  CHECK(names(tags).empty());

  RepoQuery paged;
  paged.viewer = "alice";
  paged.limit = 1;
  paged.offset = 1;
  CHECK(names(paged).size() == 1);
  paged.offset = 3;
  CHECK(names(paged).empty());

  require_ok(registry->set_private(b.id, false));
  CHECK(names(RepoQuery{}).size() == 3);
  CHECK(registry->set_private(999, true).code() == Code::kRepoNotFound);
  (void)c;
}

TEST_CASE("readers keep reading consistent revisions while a writer commits", "[registry]") {
  TempDir dir;
  auto registry = open_registry(dir / "grove.db");
  Repo repo = ok(registry->create_repo("alice", "busy", "alice", false));
  constexpr int kCommits = 40;
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!done) {
        auto head = registry->resolve_revision(repo.id, "main");
        if (!head.is_ok()) {
          ++failures;
          continue;
        }
        auto commit = registry->get_commit(repo.id, *head);
        auto files = registry->list_files(repo.id, *head);
        if (!commit.is_ok() || !files.is_ok()) {
          ++failures;
          continue;
        }
        // Commit "n" holds files f0..f(n-1); the initial commit none.
        std::size_t expected = commit->title == "initial commit" ? 0 : std::stoul(commit->title);
        if (files->size() != expected) ++failures;
        ++reads;
      }
    });
  }
  for (int i = 1; i <= kCommits; ++i) {
    auto commit = registry->commit(request_for(repo, std::to_string(i), {small_file(numbered("f", i), "x")}));
    if (!commit.is_ok()) ++failures;
  }
  done = true;
  for (auto& t : readers) t.join();
  CHECK(failures == 0);
  CHECK(reads > 0);
  CHECK(ok(registry->list_files(repo.id, ok(registry->resolve_revision(repo.id, "main")))).size() == kCommits);
}

TEST_CASE("everything is still there after reopening the database", "[registry]") {
  TempDir dir;
  std::string path = dir / "grove.db";
  std::string token;
  std::string head;
  {
    auto registry = open_registry(path);
    token = ok(registry->create_token("alice", Scope::kWrite, "t"));
    Repo repo = ok(registry->create_repo("alice", "model", "alice", true));
    CommitRequest request = request_for(repo, "files", {small_file("a/b.txt", "b"), lfs_file("w.gguf", "w")});
    request.card = CardMetadata{};
    request.card->base_models = {"base/model"};
    head = ok(registry->commit(request)).id;
    require_ok(registry->create_tag(repo.id, "v1", head));
  }
  auto registry = open_registry(path);
  CHECK(ok(registry->authenticate(token)).user.name == "alice");
  Repo repo = ok(registry->find_repo("alice", "model"));
  CHECK(repo.is_private);
  CHECK(ok(registry->resolve_revision(repo.id, "main")) == head);
  CHECK(ok(registry->resolve_revision(repo.id, "v1")) == head);
  CHECK(paths_of(ok(registry->list_files(repo.id, head))) == std::vector<std::string>{"a/b.txt", "w.gguf"});
  CHECK(ok(registry->list_commits(repo.id, head, 10, 0)).size() == 2);
  CHECK(ok(registry->children_of("base/model")).size() == 1);
  // w.gguf makes the undeclared relation "quantized" (registry/lineage.h infer_relation).
  CHECK(repo.tags == std::vector<std::string>{"base_model:base/model", "base_model:quantized:base/model"});
}
