// Where an exporter reads a model from: a folder of files (config.json, tokenizer.json,
// *.safetensors) reached through two calls, so the same code reads a local directory and the
// blobs of a stored commit. Implementations bound nothing themselves; callers read small JSON
// files whole (under a limit) and weights in byte ranges.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
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
  // kCorrupt. May be called from several threads at once (the exporter reads on its workers).
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
  // Files stay open: weights are read in many ranges of the same shard. A ReadableFile serves
  // one thread at a time, so a read takes one out of the pool and puts it back.
  std::mutex mu_;
  std::multimap<std::string, std::unique_ptr<ReadableFile>> idle_;  // guarded by mu_
};

}  // namespace grove::formats
