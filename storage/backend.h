// BlobBackend: where packs live. A narrow object-store shape (whole objects put atomically,
// read at any offset), so the local directory, an in-memory map and later S3 all fit behind it.
// Keys are '/'-separated relative names ("packs/ab/<hex>.pack"); the store decides them.
//
// Contract (checked by tests/storage/backend_conformance_test.cpp for every backend):
// - put(key, bytes) makes the whole object visible at once and durable before it returns;
//   putting an existing key replaces it atomically (readers see the old or the new object).
// - get(key, offset, out) reads min(out.size(), size - offset) bytes; kNotFound for a missing
//   key, kOutOfRange for an offset past the end.
// - stat(key) gives the size; list(prefix) the keys starting with prefix, sorted; remove(key)
//   is kNotFound for a missing key.
// - begin_put() streams an object in: nothing is visible until ObjectWriter::finish(key), which
//   then behaves like put(key, everything appended); a writer dropped unfinished leaves nothing.
// Thread-safety: every method may be called from any thread at once (an ObjectWriter by one
// thread at a time).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/fs.h"
#include "common/status.h"

namespace grove::storage {

struct ObjectInfo {
  std::uint64_t size = 0;
  std::int64_t mtime = 0;  // unix seconds of the put
};

// An object being streamed in (BlobBackend::begin_put), named only when it is finished: a pack's
// name is the hash of its footer, known once its last frame is in.
class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;  // unfinished: discarded
  virtual Status append(std::span<const std::uint8_t> data) = 0;
  // Makes the object visible under `key`, durable before it returns, as put() would.
  virtual Status finish(const std::string& key) = 0;
  virtual std::uint64_t size() const = 0;
  // WritableFile::bypass_page_cache for the object's bytes (a hint; backends may ignore it).
  virtual void bypass_page_cache() {}
};

class BlobBackend {
 public:
  virtual ~BlobBackend() = default;

  virtual Status put(const std::string& key, std::span<const std::uint8_t> data) = 0;
  virtual Result<std::size_t> get(const std::string& key, std::uint64_t offset,
                                  std::span<std::uint8_t> out) = 0;
  virtual Result<ObjectInfo> stat(const std::string& key) = 0;
  virtual Result<std::vector<std::string>> list(const std::string& prefix) = 0;
  virtual Status remove(const std::string& key) = 0;
  // Default: buffers the object in memory and put()s it at finish. The local backend writes a
  // temporary file as the bytes come and starts their writeback early, so finish() mostly waits
  // for the tail only.
  virtual Result<std::unique_ptr<ObjectWriter>> begin_put();

  // Objects as files under `root` (created if needed), all I/O through `fs`, which must outlive
  // the backend. put writes "<key>.<random>.tmp", fsyncs it, renames it over the key and
  // fsyncs the folder (and any folder it had to create).
  static Result<std::unique_ptr<BlobBackend>> local(const std::string& root,
                                                    FileSystem& fs = FileSystem::local());
  // Objects in memory, for tests and for trying a store out.
  static std::unique_ptr<BlobBackend> memory();
};

// Reads exactly out.size() bytes at `offset`; kCorrupt naming `what` when the object is shorter.
Status get_exact(BlobBackend& backend, const std::string& key, std::uint64_t offset,
                 std::span<std::uint8_t> out);

}  // namespace grove::storage
