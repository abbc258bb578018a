// Helpers for the registry tests: a temporary folder and running shell commands (real git).
#pragma once

#include <sys/wait.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "common/digest.h"
#include "registry/git_objects.h"
#include "registry/registry.h"

namespace grove::registry::testing {

// A file entry for `content` stored as a plain git blob.
inline FileEntry small_file(const std::string& path, const std::string& content) {
  FileEntry f;
  f.path = path;
  f.size = content.size();
  f.sha256 = Sha256::of(std::string_view(content));
  f.blob_oid = git_blob_oid(content);
  return f;
}

// A file entry for `content` stored as a Git LFS pointer.
inline FileEntry lfs_file(const std::string& path, const std::string& content) {
  FileEntry f = small_file(path, content);
  f.lfs = true;
  f.blob_oid = git_blob_oid(lfs_pointer(f.sha256, f.size));
  return f;
}

// A fresh folder under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "grove-registry-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout, without the trailing newline
};

// Runs `command` with /bin/sh, capturing stdout (stderr goes to the test log).
inline CommandResult run(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  std::size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  while (!result.out.empty() && result.out.back() == '\n') result.out.pop_back();
  return result;
}

inline void write_file(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

// A git repository with a fixed identity, so `git commit-tree` ids are reproducible.
class GitRepo {
 public:
  GitRepo() { git("init -q ."); }
  // Runs `git <args>` inside the repository; REQUIRES: success.
  std::string git(const std::string& args) const {
    auto r = run("cd '" + dir_.path() + "' && git -c core.autocrlf=false -c init.defaultBranch=main " + args);
    if (r.exit_code != 0) throw std::runtime_error("git " + args + " failed");
    return r.out;
  }
  // `git commit-tree` with author and committer `name` at `time`, message from a file.
  std::string commit_tree(const std::string& tree, const std::string& parent_args, const std::string& name,
                          std::int64_t time, const std::string& message) const {
    write_file(dir_ / ".git/grove-message", message);  // inside .git: never added
    std::string date = "'@" + std::to_string(time) + " +0000'";
    std::string email = name + "@users.noreply.grove";
    return git_env("GIT_AUTHOR_NAME='" + name + "' GIT_AUTHOR_EMAIL='" + email + "' GIT_AUTHOR_DATE=" + date +
                       " GIT_COMMITTER_NAME='" + name + "' GIT_COMMITTER_EMAIL='" + email +
                       "' GIT_COMMITTER_DATE=" + date,
                   "commit-tree " + tree + " " + parent_args + " -F .git/grove-message");
  }
  const TempDir& dir() const { return dir_; }

 private:
  std::string git_env(const std::string& env, const std::string& args) const {
    auto r = run("cd '" + dir_.path() + "' && " + env + " git " + args);
    if (r.exit_code != 0) throw std::runtime_error("git " + args + " failed");
    return r.out;
  }
  TempDir dir_;
};

}  // namespace grove::registry::testing
