// The content-addressed blob store. A blob is a byte string named by the SHA-256 of its
// content. Writes stream in through a BlobWriter into uploads/ and become visible only when
// complete, verified and durable; reads stream out through a BlobReader, optionally over a byte
// range, and never return bytes that fail verification.
//
// Behind it (framed_store.h): files cut into frames (tensor-aligned for safetensors, Xet CDC
// otherwise), deduplicated by BLAKE3, compressed or delta-encoded against a base model, kept in
// immutable packs with an SQLite index of frames and per-file recipes. Callers only ever see
// whole-file SHA-256 names, sizes and byte ranges.
//
// Thread-safety: a BlobStore may be used from many threads at once. A writer or reader is used
// by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/fs.h"
#include "common/status.h"

namespace grove::storage {

struct BlobInfo {
  Sha256Digest digest;
  std::uint64_t size = 0;
};

// Hints that let a smarter store cut and compress better. Never needed for correctness.
struct WriteHints {
  std::string file_name;  // e.g. "model-00001-of-00002.safetensors"
  // SHA-256s of the files of the model this one derives from (its base_model). Tensors with
  // the same name, dtype size and shape may then be stored as deltas against the base's.
  std::vector<Sha256Digest> base_files;
  // The content is already dense (quantized GGUF exports): cut into fixed frames and stored as
  // they are, without chunking or trying codecs that would not pay for their time.
  bool incompressible = false;
  // The caller hashes the content itself and names it in commit(expected_digest), which the
  // writer then takes as the blob's SHA-256 without hashing (an export hashes the bytes it
  // keeps in its ring on a thread of its own, so storing them never waits for the hash).
  bool caller_hashes = false;
};

// What BlobStore::reencode did, and what it measured about the base.
struct ReencodeStats {
  std::uint64_t frames_examined = 0;
  std::uint64_t frames_reencoded = 0;
  std::uint64_t stored_bytes_before = 0;  // of the re-encoded frames
  std::uint64_t stored_bytes_after = 0;
  // Raw bytes of the file's tensors, and of those the store keeps as the base's own frames
  // (identical) or as deltas against them (made now or at upload).
  std::uint64_t tensor_bytes = 0;
  std::uint64_t base_bytes = 0;

  // How much of the file the base explains: base_bytes / tensor_bytes, in [0, 1]. A wrong base
  // fails the sampling check and shares no frame, so it scores (near) 0.
  double similarity() const {
    return tensor_bytes ? static_cast<double>(base_bytes) / static_cast<double>(tensor_bytes) : 0.0;
  }
  ReencodeStats& operator+=(const ReencodeStats& o) {
    frames_examined += o.frames_examined;
    frames_reencoded += o.frames_reencoded;
    stored_bytes_before += o.stored_bytes_before;
    stored_bytes_after += o.stored_bytes_after;
    tensor_bytes += o.tensor_bytes;
    base_bytes += o.base_bytes;
    return *this;
  }
};

class BlobWriter {
 public:
  // Dropping a writer that was not committed discards its bytes.
  virtual ~BlobWriter() = default;
  virtual Status append(std::span<const std::uint8_t> data) = 0;
  virtual std::uint64_t bytes_written() const = 0;
  // Finishes the upload: checks the content against `expected_digest` and `expected_size` when
  // given (kCorrupt on mismatch, and the bytes are discarded), makes the blob durable and then
  // visible. Committing content that is already stored succeeds and stores nothing new.
  // The writer may not be used afterwards.
  virtual Result<BlobInfo> commit(std::optional<Sha256Digest> expected_digest = std::nullopt,
                                  std::optional<std::uint64_t> expected_size = std::nullopt) = 0;
};

class BlobReader {
 public:
  virtual ~BlobReader() = default;
  // Reads the next bytes of the requested range into `out`; 0 means the range is done.
  // A blob whose content fails verification gives kCorrupt instead of wrong bytes: every frame
  // a read touches is checked (pack.h), so ranges are verified too.
  virtual Result<std::size_t> read(std::span<std::uint8_t> out) = 0;
  // The same without a copy where the reader can: the next bytes as a view of its own memory,
  // valid until the next call, or else read into `scratch`. Empty when the range is done.
  virtual Result<std::span<const std::uint8_t>> read_view(std::span<std::uint8_t> scratch) {
    GROVE_ASSIGN_OR_RETURN(std::size_t n, read(scratch));
    return std::span<const std::uint8_t>(scratch.first(n));
  }
  // Length of the requested range.
  virtual std::uint64_t length() const = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // Opens (creating if needed) the framed store rooted at `root`: root/index.db and packs under
  // root/packs/ (framed_store.h has the options). `fs` must outlive the store.
  static Result<std::unique_ptr<BlobStore>> open_local(const std::string& root,
                                                       FileSystem& fs = FileSystem::local());

  virtual Result<std::unique_ptr<BlobWriter>> begin_write(const WriteHints& hints = {}) = 0;

  // kNotFound when the blob is not stored.
  virtual Result<BlobInfo> stat(const Sha256Digest& digest) = 0;

  // stat() for content a client is about to commit without uploading it again (it deduplicates
  // against what is stored): also restarts gc's grace period for the blob, so a gc running
  // before that commit lands cannot reclaim it (maintenance.h). Writers whose content turns
  // out to be stored already do the same at commit.
  virtual Result<BlobInfo> stat_for_commit(const Sha256Digest& digest) { return stat(digest); }

  // Opens [offset, offset + length) of a blob; length nullopt means to the end.
  // kNotFound for a missing blob, kOutOfRange when the range does not fit inside it.
  virtual Result<std::unique_ptr<BlobReader>> open(const Sha256Digest& digest, std::uint64_t offset = 0,
                                                   std::optional<std::uint64_t> length = std::nullopt) = 0;

  // Reads exactly out.size() bytes of a blob at `offset` into `out`, for callers that read a
  // known range into a buffer of their own (the exporter): a store may decode straight into it.
  // kOutOfRange when the range does not fit inside the blob; kCorrupt as for open().
  virtual Status read_exact(const Sha256Digest& digest, std::uint64_t offset, std::span<std::uint8_t> out);

  // Re-encodes the frames of a stored file as deltas against the tensors of `base_files` where
  // that makes them smaller (a base that arrived after the file, or declared after upload).
  // Frame ids do not change, so the file's recipe and every reader stay valid; the old copies
  // become garbage for gc. Also measures how much of the file the base explains (frames
  // identical to the base's, or deltas against them, whenever they were made): see
  // ReencodeStats::similarity. kNotFound when the file is not stored.
  virtual Result<ReencodeStats> reencode(const Sha256Digest& file, const std::vector<Sha256Digest>& base_files);

  // How many threads the process means to give one upload: with 2 or more a store may encode
  // on a second thread while the first hashes and frames. Call before writing; default 1.
  virtual void set_ingest_threads(unsigned threads) { (void)threads; }

  // Removes what uploads that were never committed (a crashed or abandoned push) left behind
  // and that is older than `older_than_seconds`. Returns how many objects were removed.
  virtual Result<std::size_t> sweep_uploads(std::int64_t older_than_seconds) = 0;

  // Convenience for small blobs: one append and a commit.
  Result<BlobInfo> put(std::span<const std::uint8_t> data, const WriteHints& hints = {});
  // Convenience for small blobs: reads a whole blob (at most `max_size` bytes) into a string.
  Result<std::string> get_small(const Sha256Digest& digest, std::uint64_t max_size = 16u << 20);
};

}  // namespace grove::storage
