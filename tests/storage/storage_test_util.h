// Helpers shared by the storage tests: temporary roots, generated content, whole reads and a
// look at what a local store left on disk.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/status.h"
#include "storage/blob_store.h"

namespace grove::storage::test {

// A fresh folder under /tmp, removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/grove-storage-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> out(n);
  for (auto& b : out) b = static_cast<std::uint8_t>(rng());
  return out;
}

// Reads a reader to its end in pieces of `chunk` bytes; the first error is returned.
inline Result<std::vector<std::uint8_t>> read_all(BlobReader& reader, std::size_t chunk = 64 << 10) {
  std::vector<std::uint8_t> out;
  std::vector<std::uint8_t> buf(chunk);
  for (;;) {
    Result<std::size_t> n = reader.read(buf);
    if (!n.is_ok()) return n.status();
    if (*n == 0) return out;
    out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
  }
}

inline Result<std::vector<std::uint8_t>> read_range(BlobStore& store, const Sha256Digest& digest,
                                                    std::uint64_t offset,
                                                    std::optional<std::uint64_t> length) {
  Result<std::unique_ptr<BlobReader>> reader = store.open(digest, offset, length);
  if (!reader.is_ok()) return reader.status();
  return read_all(**reader);
}

// The documented plain-file layout (README.md); tests use it to damage blobs on purpose.
inline std::string blob_path(const std::string& root, const Sha256Digest& digest) {
  const std::string hex = digest.hex();
  return root + "/blobs/sha256/" + hex.substr(0, 2) + "/" + hex.substr(2, 2) + "/" + hex;
}

inline std::vector<std::string> upload_files(const std::string& root) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(root + "/uploads"))
    names.push_back(e.path().filename().string());
  return names;
}

inline std::size_t blob_file_count(const std::string& root) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root + "/blobs"))
    if (e.is_regular_file()) ++n;
  return n;
}

}  // namespace grove::storage::test
