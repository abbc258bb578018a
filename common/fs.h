// The filesystem seam. Every durable write in grove (blobs, uploads, later packs) goes through
// a FileSystem so that tests can wrap it to fail the Nth write or drop unsynced bytes and then
// check what survived. FileSystem::local() is the real one; it is thread-safe, and so must be
// every wrapper. A file object is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace grove {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status append(std::span<const std::uint8_t> data) = 0;
  // Data appended so far reaches the disk before this returns ok.
  virtual Status sync() = 0;
  // A hint: start writing what was appended so far to the disk without waiting for it, so a
  // later sync() of a large file only waits for its tail. Never required for durability (that
  // is sync()'s job), so wrappers may leave it as this no-op.
  virtual void start_writeback() {}
  // A hint: the data is written once and not read back soon (a pack), so appends that are
  // page-aligned in memory, length and file offset may go to the disk directly, bypassing the
  // page cache (filling it costs a fresh page per 4 KiB). Others are written as usual.
  virtual void bypass_page_cache() {}
  virtual Status close() = 0;
};

class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  // Reads up to out.size() bytes at `offset`; returns the count, 0 only at end of file. Large
  // reads may bypass the page cache (the local filesystem reads 64 KiB and more directly, with
  // no copy when out.data() is congruent to `offset` modulo 4096).
  virtual Result<std::size_t> read_at(std::uint64_t offset, std::span<std::uint8_t> out) const = 0;
  virtual std::uint64_t size() const = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Creates or truncates `path` for writing.
  virtual Result<std::unique_ptr<WritableFile>> create(const std::string& path) = 0;
  // Opens `path` for appending, creating it when missing.
  virtual Result<std::unique_ptr<WritableFile>> open_append(const std::string& path) = 0;
  virtual Result<std::unique_ptr<ReadableFile>> open_read(const std::string& path) = 0;
  // Atomically replaces `to` with `from`. Durable only after sync_dir() of the target folder.
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  virtual Status remove(const std::string& path) = 0;
  virtual Status sync_dir(const std::string& path) = 0;
  // mkdir -p.
  virtual Status create_dirs(const std::string& path) = 0;
  virtual bool exists(const std::string& path) = 0;
  virtual Result<std::uint64_t> file_size(const std::string& path) = 0;
  // Seconds since the epoch of the last modification.
  virtual Result<std::int64_t> mtime(const std::string& path) = 0;
  // Names (not paths) of the entries of a folder, unsorted.
  virtual Result<std::vector<std::string>> list(const std::string& dir) = 0;

  // The process-wide real filesystem.
  static FileSystem& local();
};

}  // namespace grove
