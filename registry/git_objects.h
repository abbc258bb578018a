// Git object ids, computed exactly as git computes them, so that commit ids and ETags are
// what the Hugging Face Hub and a later `git clone` would show.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "registry/registry.h"

namespace grove::registry {

// SHA-1 of "blob <size>\0" + content, streamed.
class GitBlobHasher {
 public:
  explicit GitBlobHasher(std::uint64_t size);
  void update(ByteSpan data) { sha1_.update(data); }
  Sha1Digest finish() { return sha1_.finish(); }

 private:
  Sha1 sha1_;
};

Sha1Digest git_blob_oid(std::string_view content);

// The Git LFS pointer text for a content of this SHA-256 and size:
//   "version https://git-lfs.github.com/spec/v1\noid sha256:<hex>\nsize <n>\n"
std::string lfs_pointer(const Sha256Digest& sha256, std::uint64_t size);

// Tree ids for a set of files: the root under "" and each folder under its path ("a", "a/b").
// Files are mode 100644 entries (LFS files as their pointer blob); folders are 40000 entries,
// ordered as git orders them.
std::map<std::string, Sha1Digest> git_tree_oids(const std::vector<FileEntry>& files);

// The commit object id for these fields; author and committer are the same.
Sha1Digest git_commit_oid(const std::string& tree_id, const std::vector<std::string>& parents,
                          const std::string& author_name, std::int64_t time, const std::string& message);

}  // namespace grove::registry
