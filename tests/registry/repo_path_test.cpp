#include "registry/repo_path.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace grove;
using namespace grove::registry;

TEST_CASE("validate_repo_name accepts Hub names", "[registry]") {
  for (const char* name : {"gpt2", "Llama-3.1-8B", "a", "my_model.v2", "A-b_c.d", "org123"}) {
    INFO(name);
    CHECK(validate_repo_name(name).is_ok());
  }
  CHECK(validate_repo_name(std::string(96, 'x')).is_ok());
}

TEST_CASE("validate_repo_name refuses what the Hub refuses", "[registry]") {
  for (const std::string& name : std::vector<std::string>{"", "-a", "a-", ".a", "a.", "a--b", "a..b", "model.git", "a/b", "a b", "caf\xc3\xa9", "a\\b", "..",
        std::string(97, 'x'), std::string("a\0b", 3)}) {
    INFO(name);
    auto status = validate_repo_name(name);
    CHECK(status.code() == Code::kInvalidArgument);
  }
}

TEST_CASE("validate_repo_path accepts ordinary repo paths", "[registry]") {
  for (const char* path : {"README.md", "a/b/c.safetensors", ".gitattributes", "a.git/x", "a/.gitkeep",
                           "dir with space/f", "\xc3\xa9t\xc3\xa9.txt", "...", "a..b", "x/.hidden"}) {
    INFO(path);
    CHECK(validate_repo_path(path).is_ok());
  }
  CHECK(validate_repo_path(std::string(1024, 'p')).is_ok());
}

TEST_CASE("validate_repo_path refuses traversal and malformed paths", "[registry]") {
  for (const std::string& path : std::vector<std::string>{
           std::string(""), std::string(".."), std::string("."), std::string("a/../b"), std::string("a/./b"),
           std::string("../a"), std::string("a/.."), std::string("/abs"), std::string("a//b"), std::string("a\\b"),
           std::string("a\0b", 3), std::string(".git/config"), std::string("x/.git/HEAD"), std::string(".GIT/config"),
           std::string(".git"), std::string("dir/"), std::string("a\nb"), std::string("tab\there"),
           std::string("del\x7f"), std::string(1025, 'p'), std::string("bad\xff utf8"), std::string("\xc0\xaf"),
           std::string("\xed\xa0\x80"), std::string("cut\xe2\x82")}) {
    INFO(path);
    CHECK(validate_repo_path(path).code() == Code::kInvalidArgument);
  }
}

TEST_CASE("validate_ref_name follows git's ref rules and keeps revisions unambiguous", "[registry]") {
  for (const char* ok : {"main", "v1.0", "feature/x", "refs/pr/1", "release-2024_01"}) {
    INFO(ok);
    CHECK(validate_ref_name(ok).is_ok());
  }
  for (const std::string& bad : std::vector<std::string>{std::string(""), std::string("HEAD"), std::string("a..b"), std::string("a b"),
                                std::string("a~1"), std::string("a^"), std::string("a:b"), std::string("a?"),
                                std::string("a*"), std::string("a[b"), std::string("a\\b"), std::string("/a"),
                                std::string("a/"), std::string("a//b"), std::string(".hidden"),
                                std::string("a/.b"), std::string("x.lock"), std::string("a."), std::string("a@{1}"),
                                std::string("@"), std::string(40, 'a'), std::string(256, 'r')}) {
    INFO(bad);
    CHECK(validate_ref_name(bad).code() == Code::kInvalidArgument);
  }
}
