// The local directory and in-memory BlobBackends (see backend.h for the contract).
#include "storage/backend.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <random>

#include "common/digest.h"

namespace grove::storage {
namespace {

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

constexpr std::string_view kTmpSuffix = ".tmp";

Status check_key(const std::string& key) {
  if (key.empty() || key.front() == '/' || key.back() == '/' || key.find("..") != std::string::npos ||
      key.find("//") != std::string::npos || ends_with(key, kTmpSuffix))
    return invalid_argument("bad object key \"" + key + "\"");
  return Status::ok();
}

std::string random_suffix() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::uint8_t bytes[8];
  const std::uint64_t v = rng();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(v >> (8 * i));
  return to_hex(bytes);
}

class LocalBackend final : public BlobBackend {
 public:
  LocalBackend(std::string root, FileSystem& fs) : root_(std::move(root)), fs_(fs) {}

  Status put(const std::string& key, std::span<const std::uint8_t> data) override {
    GROVE_RETURN_IF_ERROR(check_key(key));
    const std::string path = path_of(key);
    const std::string dir = path.substr(0, path.rfind('/'));
    GROVE_RETURN_IF_ERROR(make_dir_durable(dir));
    const std::string tmp = path + "." + random_suffix() + std::string(kTmpSuffix);
    Status s = write_file(tmp, data);
    if (s.is_ok()) s = fs_.rename(tmp, path);
    if (!s.is_ok()) {
      (void)fs_.remove(tmp);
      return s.with_context("put " + key);
    }
    forget(key);
    return fs_.sync_dir(dir).with_context("put " + key);
  }

  Result<std::unique_ptr<ObjectWriter>> begin_put() override;

  Result<std::size_t> get(const std::string& key, std::uint64_t offset, std::span<std::uint8_t> out) override {
    GROVE_RETURN_IF_ERROR(check_key(key));
    GROVE_ASSIGN_OR_RETURN(std::shared_ptr<ReadableFile> file, open_cached(key));
    const std::uint64_t size = file->size();
    if (offset > size)
      return Status(Code::kOutOfRange, "offset " + std::to_string(offset) + " is past the end of " + key +
                                           " (" + std::to_string(size) + " bytes)");
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size - offset));
    std::size_t got = 0;
    while (got < want) {
      GROVE_ASSIGN_OR_RETURN(std::size_t n, file->read_at(offset + got, out.subspan(got, want - got)));
      if (n == 0) break;  // the file shrank under us: report what is there
      got += n;
    }
    return got;
  }

  Result<ObjectInfo> stat(const std::string& key) override {
    GROVE_RETURN_IF_ERROR(check_key(key));
    const std::string path = path_of(key);
    Result<std::uint64_t> size = fs_.file_size(path);
    if (!size.is_ok()) return missing_or(size.status(), key);
    Result<std::int64_t> mtime = fs_.mtime(path);
    if (!mtime.is_ok()) return missing_or(mtime.status(), key);
    return ObjectInfo{*size, *mtime};
  }

  Result<std::vector<std::string>> list(const std::string& prefix) override {
    // Walk only the folder the prefix names, not the whole root.
    const std::size_t slash = prefix.rfind('/');
    const std::string start = slash == std::string::npos ? std::string() : prefix.substr(0, slash);
    std::vector<std::string> keys;
    GROVE_RETURN_IF_ERROR(walk(start, prefix, keys));
    std::sort(keys.begin(), keys.end());
    return keys;
  }

  Status remove(const std::string& key) override {
    GROVE_RETURN_IF_ERROR(check_key(key));
    forget(key);
    Status s = fs_.remove(path_of(key));
    if (!s.is_ok()) return missing_or(s, key);
    return Status::ok();
  }

  // Called by LocalObjectWriter::finish: renames the synced temporary file over the key.
  Status install(const std::string& tmp, const std::string& key) {
    GROVE_RETURN_IF_ERROR(check_key(key));
    const std::string path = path_of(key);
    const std::string dir = path.substr(0, path.rfind('/'));
    GROVE_RETURN_IF_ERROR(make_dir_durable(dir).with_context("put " + key));
    GROVE_RETURN_IF_ERROR(fs_.rename(tmp, path).with_context("put " + key));
    forget(key);
    return fs_.sync_dir(dir).with_context("put " + key);
  }

  FileSystem& fs() { return fs_; }
  std::string path_of(const std::string& key) const { return root_ + "/" + key; }

 private:
  // Open read handles, so a frame read is one pread and no open(). Bounded; a put or remove of
  // a key drops its handle.
  static constexpr std::size_t kMaxOpenFiles = 256;

  static Status missing_or(const Status& s, const std::string& key) {
    if (s.code() == Code::kNotFound) return not_found("object " + key + " not found");
    return s;
  }

  Status write_file(const std::string& path, std::span<const std::uint8_t> data) {
    GROVE_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, fs_.create(path));
    // Several appends rather than one: big writes are split anyway, and fault tests get more
    // places to fail.
    constexpr std::size_t kPiece = 4u << 20;
    for (std::size_t pos = 0; pos < data.size(); pos += kPiece) {
      Status s = file->append(data.subspan(pos, std::min(kPiece, data.size() - pos)));
      if (!s.is_ok()) {
        (void)file->close();
        return s;
      }
    }
    Status s = file->sync();
    Status c = file->close();
    return s.is_ok() ? c : s;
  }

  // create_dirs, then a sync of every parent of a folder it created, up to the root.
  Status make_dir_durable(const std::string& dir) {
    if (fs_.exists(dir)) return Status::ok();
    std::vector<std::string> created;
    for (std::string d = dir; d.size() > root_.size() && !fs_.exists(d); d = d.substr(0, d.rfind('/')))
      created.push_back(d);
    GROVE_RETURN_IF_ERROR(fs_.create_dirs(dir));
    for (const std::string& d : created) GROVE_RETURN_IF_ERROR(fs_.sync_dir(d.substr(0, d.rfind('/'))));
    return Status::ok();
  }

  Status walk(const std::string& rel, const std::string& prefix, std::vector<std::string>& keys) {
    Result<std::vector<std::string>> names = fs_.list(rel.empty() ? root_ : path_of(rel));
    if (!names.is_ok()) return names.status().code() == Code::kNotFound ? Status::ok() : names.status();
    for (const std::string& name : *names) {
      const std::string key = rel.empty() ? name : rel + "/" + name;
      // Only descend into folders that can still hold keys with this prefix.
      if (!(key.starts_with(prefix) || prefix.starts_with(key + "/"))) continue;
      Result<std::vector<std::string>> sub = fs_.list(path_of(key));
      if (sub.is_ok()) {
        GROVE_RETURN_IF_ERROR(walk(key, prefix, keys));
      } else if (key.starts_with(prefix) && !ends_with(key, kTmpSuffix)) {
        keys.push_back(key);
      }
    }
    return Status::ok();
  }

  Result<std::shared_ptr<ReadableFile>> open_cached(const std::string& key) {
    {
      std::lock_guard lock(mu_);
      auto it = open_.find(key);
      if (it != open_.end()) return it->second;
    }
    Result<std::unique_ptr<ReadableFile>> file = fs_.open_read(path_of(key));
    if (!file.is_ok()) return missing_or(file.status(), key);
    std::shared_ptr<ReadableFile> shared(std::move(*file));
    std::lock_guard lock(mu_);
    if (open_.size() >= kMaxOpenFiles) open_.erase(open_.begin());
    open_[key] = shared;
    return shared;
  }

  void forget(const std::string& key) {
    std::lock_guard lock(mu_);
    open_.erase(key);
  }

  const std::string root_;
  FileSystem& fs_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<ReadableFile>> open_;
};

// Streams into "incoming/<random>.tmp" under the root (list() never reports .tmp names), asking
// the OS to start writing back every few MiB, so that the fsync in finish() finds most bytes
// already on disk instead of writing the whole object while the caller waits.
class LocalObjectWriter final : public ObjectWriter {
 public:
  LocalObjectWriter(LocalBackend& backend, std::string tmp, std::unique_ptr<WritableFile> file)
      : backend_(backend), tmp_(std::move(tmp)), file_(std::move(file)) {}
  ~LocalObjectWriter() override {
    if (file_) (void)file_->close();
    if (!finished_) (void)backend_.fs().remove(tmp_);
  }

  Status append(std::span<const std::uint8_t> data) override {
    if (!file_) return internal_error("object writer used after finish");
    GROVE_RETURN_IF_ERROR(file_->append(data));
    size_ += data.size();
    if (size_ - kicked_ >= kWritebackStep) {
      file_->start_writeback();
      kicked_ = size_;
    }
    return Status::ok();
  }

  Status finish(const std::string& key) override {
    if (!file_) return internal_error("object writer used after finish");
    Status s = file_->sync();
    Status c = file_->close();
    file_.reset();
    if (!s.is_ok() || !c.is_ok()) return (s.is_ok() ? c : s).with_context("put " + key);
    GROVE_RETURN_IF_ERROR(backend_.install(tmp_, key));
    finished_ = true;
    return Status::ok();
  }

  std::uint64_t size() const override { return size_; }
  void bypass_page_cache() override {
    if (file_) file_->bypass_page_cache();
  }

 private:
  static constexpr std::uint64_t kWritebackStep = 8u << 20;

  LocalBackend& backend_;
  const std::string tmp_;
  std::unique_ptr<WritableFile> file_;
  std::uint64_t size_ = 0;
  std::uint64_t kicked_ = 0;
  bool finished_ = false;
};

Result<std::unique_ptr<ObjectWriter>> LocalBackend::begin_put() {
  // Temporary files need no durable folder: a crash loses them, which is what should happen.
  const std::string dir = path_of("incoming");
  if (!fs_.exists(dir)) GROVE_RETURN_IF_ERROR(fs_.create_dirs(dir));
  const std::string tmp = dir + "/" + random_suffix() + std::string(kTmpSuffix);
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, fs_.create(tmp));
  return std::unique_ptr<ObjectWriter>(std::make_unique<LocalObjectWriter>(*this, tmp, std::move(file)));
}

// BlobBackend::begin_put's default: the whole object in memory, put() at the end.
class BufferedObjectWriter final : public ObjectWriter {
 public:
  explicit BufferedObjectWriter(BlobBackend& backend) : backend_(backend) {}
  Status append(std::span<const std::uint8_t> data) override {
    bytes_.insert(bytes_.end(), data.begin(), data.end());
    return Status::ok();
  }
  Status finish(const std::string& key) override { return backend_.put(key, bytes_); }
  std::uint64_t size() const override { return bytes_.size(); }

 private:
  BlobBackend& backend_;
  std::vector<std::uint8_t> bytes_;
};

class MemoryBackend final : public BlobBackend {
 public:
  Status put(const std::string& key, std::span<const std::uint8_t> data) override {
    GROVE_RETURN_IF_ERROR(check_key(key));
    auto object = std::make_shared<Object>();
    object->bytes.assign(data.begin(), data.end());
    object->mtime = now_seconds();
    std::lock_guard lock(mu_);
    objects_[key] = std::move(object);
    return Status::ok();
  }

  Result<std::size_t> get(const std::string& key, std::uint64_t offset, std::span<std::uint8_t> out) override {
    GROVE_ASSIGN_OR_RETURN(std::shared_ptr<const Object> object, find(key));
    const std::uint64_t size = object->bytes.size();
    if (offset > size)
      return Status(Code::kOutOfRange, "offset " + std::to_string(offset) + " is past the end of " + key +
                                           " (" + std::to_string(size) + " bytes)");
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size - offset));
    std::copy_n(object->bytes.begin() + static_cast<std::ptrdiff_t>(offset), n, out.begin());
    return n;
  }

  Result<ObjectInfo> stat(const std::string& key) override {
    GROVE_ASSIGN_OR_RETURN(std::shared_ptr<const Object> object, find(key));
    return ObjectInfo{object->bytes.size(), object->mtime};
  }

  Result<std::vector<std::string>> list(const std::string& prefix) override {
    std::lock_guard lock(mu_);
    std::vector<std::string> keys;
    for (auto it = objects_.lower_bound(prefix); it != objects_.end() && it->first.starts_with(prefix); ++it)
      keys.push_back(it->first);
    return keys;
  }

  Status remove(const std::string& key) override {
    std::lock_guard lock(mu_);
    if (objects_.erase(key) == 0) return not_found("object " + key + " not found");
    return Status::ok();
  }

 private:
  struct Object {
    std::vector<std::uint8_t> bytes;
    std::int64_t mtime = 0;
  };

  Result<std::shared_ptr<const Object>> find(const std::string& key) {
    GROVE_RETURN_IF_ERROR(check_key(key));
    std::lock_guard lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return not_found("object " + key + " not found");
    return std::shared_ptr<const Object>(it->second);
  }

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Object>> objects_;  // sorted, so list() is a range scan
};

}  // namespace

Result<std::unique_ptr<ObjectWriter>> BlobBackend::begin_put() {
  return std::unique_ptr<ObjectWriter>(std::make_unique<BufferedObjectWriter>(*this));
}

Result<std::unique_ptr<BlobBackend>> BlobBackend::local(const std::string& root, FileSystem& fs) {
  if (root.empty()) return invalid_argument("backend root is empty");
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  GROVE_RETURN_IF_ERROR(fs.create_dirs(r));
  // Objects a crashed writer was streaming in: nobody finishes them after a day.
  if (Result<std::vector<std::string>> names = fs.list(r + "/incoming"); names.is_ok()) {
    constexpr std::int64_t kAbandonedAfter = 24 * 3600;
    for (const std::string& name : *names) {
      const std::string path = r + "/incoming/" + name;
      Result<std::int64_t> mtime = fs.mtime(path);
      if (ends_with(name, kTmpSuffix) && mtime.is_ok() && now_seconds() - *mtime > kAbandonedAfter) (void)fs.remove(path);
    }
  }
  return std::unique_ptr<BlobBackend>(std::make_unique<LocalBackend>(std::move(r), fs));
}

std::unique_ptr<BlobBackend> BlobBackend::memory() { return std::make_unique<MemoryBackend>(); }

Status get_exact(BlobBackend& backend, const std::string& key, std::uint64_t offset, std::span<std::uint8_t> out) {
  Result<std::size_t> n = backend.get(key, offset, out);
  if (!n.is_ok()) {
    if (n.status().code() == Code::kOutOfRange) return corrupt(n.status().message());
    return n.status();
  }
  if (*n != out.size())
    return corrupt(key + " ends early: wanted " + std::to_string(out.size()) + " bytes at offset " +
                   std::to_string(offset) + ", got " + std::to_string(*n));
  return Status::ok();
}

}  // namespace grove::storage
