// Where an exporter reads a model from: a folder of files (config.json, tokenizer.json,
// *.safetensors) reached through two calls, so the same code reads a local directory and the
// blobs of a stored commit. Implementations bound nothing themselves; callers read small JSON
// files whole (under a limit) and weights in byte ranges.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/fs.h"
#include "common/status.h"

namespace grove::formats {

struct SourceFile {
  std::string path;  // relative to the model root, '/'-separated
  std::uint64_t size = 0;
};

class ModelSource {
 public:
  virtual ~ModelSource() = default;
  // Every file of the model (subfolders included), in any order.
  virtual Result<std::vector<SourceFile>> list_files() = 0;
  // Fills `out` with the bytes of `path` at [offset, offset + out.size()); a short file is
  // kCorrupt. Called from one thread at a time.
  virtual Status read(const std::string& path, std::uint64_t offset, std::span<std::uint8_t> out) = 0;
};

// Reads a whole small file; kTooLarge beyond `max_bytes`, kNotFound when absent.
Result<std::string> read_small_file(ModelSource& source, const std::vector<SourceFile>& files,
                                    const std::string& path, std::uint64_t max_bytes);

// A model folder on disk (top level only: the files a Hugging Face model repo has at its root).
class DirectorySource final : public ModelSource {
 public:
  explicit DirectorySource(std::string dir, FileSystem& fs = FileSystem::local()) : dir_(std::move(dir)), fs_(fs) {}
  Result<std::vector<SourceFile>> list_files() override;
  Status read(const std::string& path, std::uint64_t offset, std::span<std::uint8_t> out) override;

 private:
  std::string dir_;
  FileSystem& fs_;
  // The last file opened stays open: weights are read in many ranges of the same shard.
  std::string open_path_;
  std::unique_ptr<ReadableFile> open_file_;
};

}  // namespace grove::formats
