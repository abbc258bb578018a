// Repo renames (POST /api/repos/move): the repo keeps its history under the new name, the old
// name is remembered for redirects until a new repo takes it, and lineage edges follow.
#include <catch2/catch.hpp>

#include "registry/registry.h"
#include "tests/registry/test_support.h"

using namespace grove;
using namespace grove::registry;
using grove::registry::testing::small_file;
using grove::registry::testing::TempDir;

namespace {

std::unique_ptr<Registry> open_registry(const TempDir& dir) {
  auto opened = Registry::open(dir / "grove.db");
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

Commit commit_readme(Registry& registry, std::int64_t repo_id, const std::string& card) {
  CommitRequest request;
  request.repo_id = repo_id;
  request.author = "alice";
  request.title = "card";
  request.upserts.push_back(small_file("README.md", card));
  CardMetadata meta;
  meta.base_models = {"alice/base"};
  meta.base_model_relation = "finetune";
  request.card = meta;
  return ok(registry.commit(request));
}

}  // namespace

TEST_CASE("rename_repo keeps history under the new name and remembers the old one", "[registry]") {
  TempDir dir;
  auto registry = open_registry(dir);
  Repo repo = ok(registry->create_repo("alice", "old", "alice", false));
  std::string head = ok(registry->resolve_revision(repo.id, "main"));

  Repo moved = ok(registry->rename_repo(repo.id, "bob", "new"));
  CHECK(moved.id == repo.id);
  CHECK(moved.id_string() == "bob/new");
  CHECK(ok(registry->find_repo("bob", "new")).id == repo.id);
  CHECK(ok(registry->resolve_revision(repo.id, "main")) == head);
  CHECK(registry->find_repo("alice", "old").status().code() == Code::kRepoNotFound);
  CHECK(ok(registry->find_renamed_repo("alice", "old")).id_string() == "bob/new");
  CHECK(ok(registry->find_renamed_repo("ALICE", "Old")).id == repo.id);  // names are case-insensitive
  CHECK(registry->find_renamed_repo("alice", "never").status().code() == Code::kRepoNotFound);

  SECTION("a chain of renames sends every old name to the latest") {
    ok(registry->rename_repo(repo.id, "carol", "newest"));
    CHECK(ok(registry->find_renamed_repo("alice", "old")).id_string() == "carol/newest");
    CHECK(ok(registry->find_renamed_repo("bob", "new")).id_string() == "carol/newest");
    // Back to an old name: that name is the repo again, not a redirect.
    ok(registry->rename_repo(repo.id, "alice", "old"));
    CHECK(registry->find_renamed_repo("alice", "old").status().code() == Code::kRepoNotFound);
    CHECK(ok(registry->find_renamed_repo("carol", "newest")).id_string() == "alice/old");
  }
  SECTION("a new repo under the old name takes it over") {
    Repo fresh = ok(registry->create_repo("alice", "old", "alice", false));
    CHECK(fresh.id != repo.id);
    CHECK(registry->find_renamed_repo("alice", "old").status().code() == Code::kRepoNotFound);
    CHECK(ok(registry->find_repo("alice", "old")).id == fresh.id);
  }
  SECTION("deleting the repo forgets its old names") {
    REQUIRE(registry->delete_repo(repo.id).is_ok());
    CHECK(registry->find_renamed_repo("alice", "old").status().code() == Code::kRepoNotFound);
  }
  SECTION("the old name survives a reopen") {
    registry.reset();
    auto reopened = open_registry(dir);
    CHECK(ok(reopened->find_renamed_repo("alice", "old")).id_string() == "bob/new");
  }
}

TEST_CASE("rename_repo refuses taken and malformed names and changes nothing", "[registry]") {
  TempDir dir;
  auto registry = open_registry(dir);
  Repo a = ok(registry->create_repo("alice", "a", "alice", false));
  ok(registry->create_repo("alice", "b", "alice", false));
  CHECK(registry->rename_repo(a.id, "alice", "B").status().code() == Code::kAlreadyExists);
  CHECK(registry->rename_repo(a.id, "alice", "bad--name").status().code() == Code::kInvalidArgument);
  CHECK(registry->rename_repo(a.id, "alice", "a").status().code() == Code::kInvalidArgument);
  CHECK(registry->rename_repo(a.id + 100, "alice", "c").status().code() == Code::kRepoNotFound);
  CHECK(ok(registry->find_repo("alice", "a")).id == a.id);
  CHECK(registry->find_renamed_repo("alice", "a").status().code() == Code::kRepoNotFound);
  // A change of letter case only is a rename without a redirect: both spellings find the repo.
  Repo recased = ok(registry->rename_repo(a.id, "alice", "A"));
  CHECK(recased.name == "A");
  CHECK(ok(registry->find_repo("alice", "a")).name == "A");
  CHECK(registry->find_renamed_repo("alice", "a").status().code() == Code::kRepoNotFound);
}

TEST_CASE("lineage edges follow a renamed repo at both ends", "[registry]") {
  TempDir dir;
  auto registry = open_registry(dir);
  Repo base = ok(registry->create_repo("alice", "base", "alice", false));
  Repo child = ok(registry->create_repo("alice", "child", "alice", false));
  commit_readme(*registry, child.id, "---\nbase_model: alice/base\n---\n");
  REQUIRE(ok(registry->parents_of("alice/child")).size() == 1);

  ok(registry->rename_repo(child.id, "alice", "child2"));
  auto parents = ok(registry->parents_of("alice/child2"));
  REQUIRE(parents.size() == 1);
  CHECK(parents[0].parent == "alice/base");
  CHECK(ok(registry->parents_of("alice/child")).empty());

  ok(registry->rename_repo(base.id, "alice", "base2"));
  auto children = ok(registry->children_of("alice/base2"));
  REQUIRE(children.size() == 1);
  CHECK(children[0].child == "alice/child2");
}
