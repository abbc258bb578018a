// BlobStore over plain files, one per blob (see README.md for the layout).
//
// Invariant: a file under blobs/ is complete, its content hashes to its name, and it was
// synced before it was renamed there. Everything in flight lives in uploads/ and is either
// committed (renamed away), discarded by its writer, or swept after a crash.
#include <algorithm>
#include <chrono>
#include <random>

#include "storage/blob_store.h"

namespace grove::storage {
namespace {

constexpr const char* kPartSuffix = ".part";

// Where things live under the root. Copied into every writer so a writer does not depend on
// the store object staying alive.
struct Layout {
  std::string root;

  std::string uploads_dir() const { return root + "/uploads"; }
  std::string blobs_dir() const { return root + "/blobs/sha256"; }
  // Two levels of fan-out keep folders small: 65,536 leaves before any holds many blobs.
  std::string blob_dir(const std::string& hex) const {
    return blobs_dir() + "/" + hex.substr(0, 2) + "/" + hex.substr(2, 2);
  }
  std::string blob_path(const std::string& hex) const { return blob_dir(hex) + "/" + hex; }
};

std::string parent_of(const std::string& path) { return path.substr(0, path.rfind('/')); }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// 128 random bits: upload names never collide, even across processes sharing a root.
std::string random_upload_name() {
  thread_local std::random_device rd;
  std::uint8_t bytes[16];
  for (std::size_t i = 0; i < sizeof bytes; i += 4) {
    std::uint32_t v = rd();
    for (std::size_t j = 0; j < 4; ++j) bytes[i + j] = static_cast<std::uint8_t>(v >> (8 * j));
  }
  return to_hex(bytes);
}

class LocalBlobWriter final : public BlobWriter {
 public:
  LocalBlobWriter(FileSystem& fs, Layout layout, std::string part_path,
                  std::unique_ptr<WritableFile> file)
      : fs_(fs), layout_(std::move(layout)), part_path_(std::move(part_path)), file_(std::move(file)) {}

  ~LocalBlobWriter() override { discard(); }

  Status append(std::span<const std::uint8_t> data) override {
    if (state_ != State::kOpen) return unusable();
    Status s = file_->append(data);
    if (!s.is_ok()) return fail(s.with_context("upload " + part_path_));
    hasher_.update(data);
    size_ += data.size();
    return Status::ok();
  }

  std::uint64_t bytes_written() const override { return size_; }

  // The order is what makes a crash safe: verify, sync the data, rename into place, sync the
  // folder. A crash before the rename leaves only a part file for sweep_uploads; after it, a
  // complete blob.
  Result<BlobInfo> commit(std::optional<Sha256Digest> expected_digest,
                          std::optional<std::uint64_t> expected_size) override {
    if (state_ != State::kOpen) return unusable();
    Sha256Digest digest = hasher_.finish();
    const std::string hex = digest.hex();
    if (expected_size && *expected_size != size_) {
      return fail(corrupt("received " + std::to_string(size_) + " bytes, expected " +
                          std::to_string(*expected_size)));
    }
    if (expected_digest && *expected_digest != digest) {
      return fail(corrupt("content has sha256 " + hex + ", expected " + expected_digest->hex()));
    }
    Status s = file_->sync();
    if (s.is_ok()) s = file_->close();
    if (!s.is_ok()) return fail(s.with_context("upload " + part_path_));
    file_.reset();

    const std::string dir = layout_.blob_dir(hex);
    const std::string path = layout_.blob_path(hex);
    GROVE_RETURN_IF_ERROR(fail(make_dir_durable(dir)));
    if (fs_.exists(path)) {
      // Already stored (or a concurrent writer just won the race): same name, same bytes.
      // A part file left behind by a failed remove is harmless; sweep_uploads gets it.
      (void)fs_.remove(part_path_);
    } else {
      // rename replaces atomically, so two writers racing here both succeed with one file.
      s = fs_.rename(part_path_, path);
      if (!s.is_ok()) return fail(s);
    }
    part_gone_ = true;
    // Sync the folder even on dedup: the winner of a race may not have synced it yet. If this
    // fails the blob stays visible (it is complete and verified, and may be another writer's),
    // and the caller's retry dedups and syncs again.
    s = fs_.sync_dir(dir);
    if (!s.is_ok()) return fail(s);
    state_ = State::kCommitted;
    return BlobInfo{digest, size_};
  }

 private:
  enum class State { kOpen, kCommitted, kFailed };

  // create_dirs then, for folders it created, a sync of their parents so the new entries
  // survive a crash too.
  Status make_dir_durable(const std::string& dir) {
    if (fs_.exists(dir)) return Status::ok();
    GROVE_RETURN_IF_ERROR(fs_.create_dirs(dir));
    GROVE_RETURN_IF_ERROR(fs_.sync_dir(parent_of(dir)));
    return fs_.sync_dir(parent_of(parent_of(dir)));
  }

  // Drops the part file and leaves the writer failed; returns `s` so callers can
  // `return fail(...)`. Ok statuses pass through untouched.
  Status fail(Status s) {
    if (s.is_ok()) return s;
    discard();
    state_ = State::kFailed;
    failure_ = s;
    return s;
  }

  Status unusable() const {
    if (state_ == State::kFailed) return failure_.with_context("writer failed earlier");
    return internal_error("blob writer used after commit");
  }

  void discard() {
    if (file_) {
      (void)file_->close();
      file_.reset();
    }
    if (!part_gone_ && state_ != State::kCommitted) {
      (void)fs_.remove(part_path_);
      part_gone_ = true;
    }
  }

  FileSystem& fs_;
  const Layout layout_;
  const std::string part_path_;
  std::unique_ptr<WritableFile> file_;
  Sha256 hasher_;
  std::uint64_t size_ = 0;
  State state_ = State::kOpen;
  Status failure_;
  bool part_gone_ = false;  // the part file was renamed into place or removed
};

class LocalBlobReader final : public BlobReader {
 public:
  LocalBlobReader(std::unique_ptr<ReadableFile> file, Sha256Digest digest, std::uint64_t offset,
                  std::uint64_t length, bool verify)
      : file_(std::move(file)), digest_(digest), pos_(offset), end_(offset + length),
        length_(length), verify_(verify) {}

  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    if (!failure_.is_ok()) return failure_;
    if (pos_ == end_) {
      // Only an empty whole blob gets here unverified; every other full read was checked
      // when its last byte arrived.
      Status s = verify_if_whole();
      if (!s.is_ok()) return failure_ = s;
      return std::size_t{0};
    }
    if (out.empty()) return invalid_argument("blob read into an empty buffer");
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), end_ - pos_));
    Result<std::size_t> n = file_->read_at(pos_, out.first(want));
    if (!n.is_ok()) return failure_ = n.status();
    if (*n == 0) {
      return failure_ = corrupt("blob " + digest_.hex() + " is corrupt: it ends at byte " +
                                std::to_string(pos_) + ", expected " + std::to_string(end_));
    }
    if (verify_) hasher_.update(out.first(*n));
    pos_ += *n;
    if (pos_ == end_) {
      // Fail the read that delivers the last byte, so a caller never sees a whole blob
      // followed by success when the bytes are wrong.
      Status s = verify_if_whole();
      if (!s.is_ok()) return failure_ = s;
    }
    return *n;
  }

  std::uint64_t length() const override { return length_; }

 private:
  // Plain files can only be checked against their name when read whole; a range read is
  // served unverified. Frame checksums (the storage issue) will cover ranges too.
  Status verify_if_whole() {
    if (!verify_ || verified_) return Status::ok();
    verified_ = true;
    Sha256Digest actual = hasher_.finish();
    if (actual == digest_) return Status::ok();
    return corrupt("blob " + digest_.hex() + " is corrupt: content hashes to " + actual.hex());
  }

  std::unique_ptr<ReadableFile> file_;
  const Sha256Digest digest_;
  std::uint64_t pos_;
  const std::uint64_t end_;
  const std::uint64_t length_;
  const bool verify_;
  bool verified_ = false;
  Sha256 hasher_;
  Status failure_;  // sticky: once a read fails, every later read fails the same way
};

class LocalBlobStore final : public BlobStore {
 public:
  LocalBlobStore(FileSystem& fs, Layout layout) : fs_(fs), layout_(std::move(layout)) {}

  // Hints are for the framed store; plain files store every blob the same way.
  Result<std::unique_ptr<BlobWriter>> begin_write(const WriteHints& /*hints*/) override {
    std::string part = layout_.uploads_dir() + "/" + random_upload_name() + kPartSuffix;
    GROVE_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, fs_.create(part));
    return std::unique_ptr<BlobWriter>(
        std::make_unique<LocalBlobWriter>(fs_, layout_, std::move(part), std::move(file)));
  }

  Result<BlobInfo> stat(const Sha256Digest& digest) override {
    Result<std::uint64_t> size = fs_.file_size(layout_.blob_path(digest.hex()));
    if (!size.is_ok()) return missing_or(size.status(), digest);
    return BlobInfo{digest, *size};
  }

  Result<std::unique_ptr<BlobReader>> open(const Sha256Digest& digest, std::uint64_t offset,
                                           std::optional<std::uint64_t> length) override {
    Result<std::unique_ptr<ReadableFile>> file = fs_.open_read(layout_.blob_path(digest.hex()));
    if (!file.is_ok()) return missing_or(file.status(), digest);
    // The open file's size, not a separate stat, bounds the range: it cannot change under us.
    const std::uint64_t size = (*file)->size();
    if (offset > size || (length && *length > size - offset)) {
      return Status(Code::kOutOfRange,
                    "range at " + std::to_string(offset) +
                        (length ? " of " + std::to_string(*length) + " bytes" : std::string()) +
                        " is outside blob " + digest.hex() + " of " + std::to_string(size) +
                        " bytes");
    }
    const std::uint64_t len = length ? *length : size - offset;
    const bool whole = offset == 0 && len == size;
    return std::unique_ptr<BlobReader>(
        std::make_unique<LocalBlobReader>(std::move(*file), digest, offset, len, whole));
  }

  // A writer's part file gets a fresh mtime with every append, so a live upload is only swept
  // when it stalls for longer than the grace period; its commit then fails cleanly (the
  // rename finds no file). mtimes have one-second resolution, so an age must exceed
  // `older_than_seconds` strictly.
  Result<std::size_t> sweep_uploads(std::int64_t older_than_seconds) override {
    GROVE_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_.list(layout_.uploads_dir()));
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    std::size_t removed = 0;
    for (const std::string& name : names) {
      if (!ends_with(name, kPartSuffix)) continue;
      const std::string path = layout_.uploads_dir() + "/" + name;
      Result<std::int64_t> mtime = fs_.mtime(path);
      if (!mtime.is_ok()) {
        if (mtime.status().code() == Code::kNotFound) continue;  // committed or discarded meanwhile
        return mtime.status();
      }
      if (now - *mtime <= older_than_seconds) continue;
      Status s = fs_.remove(path);
      if (s.is_ok()) {
        ++removed;
      } else if (s.code() != Code::kNotFound) {
        return s;
      }
    }
    return removed;
  }

 private:
  static Status missing_or(const Status& s, const Sha256Digest& digest) {
    if (s.code() == Code::kNotFound) return not_found("blob " + digest.hex() + " not found");
    return s;
  }

  FileSystem& fs_;
  const Layout layout_;
};

}  // namespace

Result<std::unique_ptr<BlobStore>> BlobStore::open_local(const std::string& root, FileSystem& fs) {
  if (root.empty()) return invalid_argument("blob store root is empty");
  Layout layout{root};
  while (layout.root.size() > 1 && layout.root.back() == '/') layout.root.pop_back();
  GROVE_RETURN_IF_ERROR(fs.create_dirs(layout.blobs_dir()));
  GROVE_RETURN_IF_ERROR(fs.create_dirs(layout.uploads_dir()));
  return std::unique_ptr<BlobStore>(std::make_unique<LocalBlobStore>(fs, std::move(layout)));
}

}  // namespace grove::storage
