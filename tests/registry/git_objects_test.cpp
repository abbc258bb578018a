#include "registry/git_objects.h"

#include <algorithm>

#include <catch2/catch.hpp>

#include "tests/registry/test_support.h"

using namespace grove;
using namespace grove::registry;
using grove::registry::testing::GitRepo;
using grove::registry::testing::lfs_file;
using grove::registry::testing::small_file;
using grove::registry::testing::write_file;

namespace {


}  // namespace

TEST_CASE("git_blob_oid equals git hash-object, also for binary content", "[registry]") {
  GitRepo repo;
  std::string binary("a\0b\xff\n\0", 6);
  for (const std::string& content : std::vector<std::string>{std::string(), std::string("hello\n"), binary, std::string(70000, 'x')}) {
    write_file(repo.dir() / "blob", content);
    CHECK(git_blob_oid(content).hex() == repo.git("hash-object blob"));
  }
  CHECK(git_blob_oid("").hex() == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
}

TEST_CASE("GitBlobHasher streams the same id as git_blob_oid", "[registry]") {
  std::string content(100000, '\0');
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7);
  GitBlobHasher hasher(content.size());
  for (std::size_t i = 0; i < content.size(); i += 4096) hasher.update(as_bytes(std::string_view(content).substr(i, 4096)));
  CHECK(hasher.finish() == git_blob_oid(content));
}

TEST_CASE("lfs_pointer is the exact Git LFS pointer text and hashes like git", "[registry]") {
  auto sha = Sha256::of(std::string_view("weights"));
  std::string pointer = lfs_pointer(sha, 1234567890123);
  CHECK(pointer == "version https://git-lfs.github.com/spec/v1\noid sha256:" + sha.hex() + "\nsize 1234567890123\n");
  GitRepo repo;
  write_file(repo.dir() / "pointer", pointer);
  CHECK(git_blob_oid(pointer).hex() == repo.git("hash-object pointer"));
}

TEST_CASE("an empty tree is git's empty tree", "[registry]") {
  auto trees = git_tree_oids({});
  REQUIRE(trees.size() == 1);
  CHECK(trees.at("").hex() == "4b825dc642cb6eb9a060e54bf8d69288fbee4904");
}

TEST_CASE("git_tree_oids equals git write-tree for nested trees in git order", "[registry]") {
  // git sorts folder "a" as "a/": "a-b" (0x2d) and "a.b" (0x2e) come before it, "a0" and "ab"
  // after; sorting the bare names would put "a" first.
  std::vector<std::pair<std::string, std::string>> contents = {
      {"a.b", "dot"},          {"a/x", "in a"},        {"a-b", "dash"},     {"ab", "ab"},
      {"a/b/c.txt", "deep"},   {"a/b.txt", "b.txt"},   {"a/b-c", "b-c"},    {"z/y/x", "zyx"},
      {"README.md", "# hi\n"}, {"A", "upper"},         {"empty", ""},       {"\xc3\xa9t\xc3\xa9", "utf-8"},
      {"a0", "zero"},          {"a/b.", "trailing"},
  };
  std::vector<FileEntry> files;
  GitRepo repo;
  for (const auto& [path, content] : contents) {
    files.push_back(small_file(path, content));
    write_file(repo.dir() / path, content);
  }
  std::string weights(5000, 'w');
  files.push_back(lfs_file("models/model.safetensors", weights));
  write_file(repo.dir() / "models/model.safetensors", lfs_pointer(Sha256::of(std::string_view(weights)), weights.size()));

  repo.git("add -A");
  std::string root = repo.git("write-tree");
  auto trees = git_tree_oids(files);
  CHECK(trees.at("").hex() == root);
  for (const std::string& folder : std::vector<std::string>{"a", "a/b", "z", "z/y", "models"}) {
    INFO(folder);
    REQUIRE(trees.count(folder) == 1);
    CHECK(trees.at(folder).hex() == repo.git("rev-parse " + root + ":" + folder));
  }
  CHECK(trees.size() == 6);
  // Input order does not matter.
  std::reverse(files.begin(), files.end());
  CHECK(git_tree_oids(files).at("").hex() == root);
}

TEST_CASE("git_commit_oid equals git commit-tree", "[registry]") {
  GitRepo repo;
  const std::string empty_tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
  const std::int64_t time = 1700000000;

  std::string first = repo.commit_tree(empty_tree, "", "alice", time, "initial commit\n");
  CHECK(git_commit_oid(empty_tree, {}, "alice", time, "initial commit").hex() == first);

  write_file(repo.dir() / "f", "content");
  repo.git("add -A");
  std::string tree = repo.git("write-tree");
  std::string second = repo.commit_tree(tree, "-p " + first, "bob-2", time + 61, "Upload f\n\nwith a description\nof two lines\n");
  CHECK(git_commit_oid(tree, {first}, "bob-2", time + 61, "Upload f\n\nwith a description\nof two lines").hex() ==
        second);

  std::string merge = repo.commit_tree(tree, "-p " + second + " -p " + first, "carol", time + 3600, "merge\n");
  CHECK(git_commit_oid(tree, {second, first}, "carol", time + 3600, "merge").hex() == merge);
}

TEST_CASE("git_commit_oid keeps exactly one trailing newline", "[registry]") {
  const std::string tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
  auto once = git_commit_oid(tree, {}, "alice", 1, "title");
  CHECK(git_commit_oid(tree, {}, "alice", 1, "title\n") == once);
  CHECK(git_commit_oid(tree, {}, "alice", 1, "title\n\n\n") == once);
  CHECK(git_commit_oid(tree, {}, "alice", 2, "title") != once);
  CHECK(git_commit_oid(tree, {}, "bob", 1, "title") != once);
}
