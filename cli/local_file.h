// Local files as a push or pull sees them: walking a model folder, and hashing a file once
// for every identity a hub uses (SHA-256 content address, git blob id).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/status.h"

namespace grove::cli {

struct LocalFile {
  std::string path;      // relative, '/'-separated
  std::string absolute;  // on disk
  std::uint64_t size = 0;
};

// Every regular file under `dir`, sorted, skipping ".git/" and grove's own ".grove/" folder.
// A name the hub would refuse ("..", backslashes, ...) is an error naming it.
Result<std::vector<LocalFile>> list_local_files(const std::string& dir);

struct FileDigests {
  Sha256Digest sha256;
  Sha1Digest git_blob;
  std::string sample;  // first 512 bytes, for the hub's LFS decision
};
// Streams the file once through both hashers. `on_bytes` sees progress.
Result<FileDigests> digest_file(const std::string& path, std::uint64_t size,
                                const std::function<void(std::uint64_t)>& on_bytes = {});

}  // namespace grove::cli
