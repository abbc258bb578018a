#include "common/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <filesystem>

namespace grove {
namespace {

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path)
      : fd_(fd), path_(std::move(path)), offset_(std::max<off_t>(::lseek(fd, 0, SEEK_END), 0)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status append(std::span<const std::uint8_t> data) override {
    GROVE_RETURN_IF_ERROR(write_tail());
    if (direct_wanted_ && offset_ % kDirectAlign == 0 && reinterpret_cast<std::uintptr_t>(data.data()) % kDirectAlign == 0) {
      // The whole pages directly; the last partial page waits (in memory) for the next append,
      // sync() or close(), which write it through the page cache: a few KiB, not the piece.
      const std::size_t whole = data.size() / kDirectAlign * kDirectAlign;
      if (whole > 0) {
        if (!direct_on_) set_direct(true);
        GROVE_RETURN_IF_ERROR(write_all(data.first(whole)));
        data = data.subspan(whole);
      }
      if (direct_wanted_) {
        tail_.assign(data.begin(), data.end());
        return Status::ok();
      }
    }
    return write_all(data);
  }  void bypass_page_cache() override { direct_wanted_ = true; }
  Status sync() override {
    GROVE_RETURN_IF_ERROR(write_tail());
    if (::fdatasync(fd_) != 0) return errno_status("fdatasync", path_);
    return Status::ok();
  }
  void start_writeback() override {
    // Linux only; elsewhere the final sync() does all the writing, as before.
#ifdef SYNC_FILE_RANGE_WRITE
    const off_t end = ::lseek(fd_, 0, SEEK_CUR);
    if (end > kicked_) {
      (void)::sync_file_range(fd_, kicked_, end - kicked_, SYNC_FILE_RANGE_WRITE);
      kicked_ = end;
    }
#endif
  }
  Status close() override {
    if (fd_ < 0) return Status::ok();
    Status tail = write_tail();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return errno_status("close", path_);
    return tail;
  }

 private:
  static constexpr off_t kDirectAlign = 4096;

  Status write_all(std::span<const std::uint8_t> data) {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EINVAL && direct_on_) {  // the filesystem refuses this direct write: stop trying
          direct_wanted_ = false;
          set_direct(false);
          continue;
        }
        return errno_status("write", path_);
      }
      data = data.subspan(static_cast<std::size_t>(n));
      offset_ += n;
      if (direct_on_ && !data.empty()) set_direct(false);  // a short write leaves the rest unaligned
    }
    return Status::ok();
  }

  // The partial page held back by a direct append, through the page cache.
  Status write_tail() {
    if (tail_.empty()) return Status::ok();
    if (direct_on_) set_direct(false);
    std::vector<std::uint8_t> tail;
    tail.swap(tail_);
    return write_all(tail);
  }

  // Turns O_DIRECT on or off for the next writes; a filesystem without it (tmpfs) ends the attempt.
  void set_direct(bool on) {
    const int flags = ::fcntl(fd_, F_GETFL);
    if (flags >= 0 && ::fcntl(fd_, F_SETFL, on ? flags | O_DIRECT : flags & ~O_DIRECT) == 0) {
      direct_on_ = on;
    } else if (on) {
      direct_wanted_ = false;
    }
  }

  int fd_;
  std::string path_;
  off_t offset_;  // the file's size: where the next append lands
  off_t kicked_ = 0;  // start_writeback() has covered the bytes before this
  bool direct_wanted_ = false;  // bypass_page_cache()
  bool direct_on_ = false;      // O_DIRECT is set on fd_
  std::vector<std::uint8_t> tail_;  // under a page, held back by a direct append
};

// Reads of kDirectMin or more go straight to the disk (O_DIRECT, whole pages into a page-aligned
// buffer of the thread's, then copied out; or into the caller's buffer itself when it lies on
// pages as the file does) without the page cache: packs are large and read
// frame by frame, the store keeps no second copy of them in memory, and on a VM every fresh
// page-cache page costs a host fault (a Q8_0 export of a model pushed just before spent 1.7 s
// of its 2.6 s copying its 0.73 GB of packs out of freshly filled cache pages; direct, 1.4 s).
// Probing the cache first (preadv2 with RWF_NOWAIT) is no use: a miss starts readahead, which
// fills the cache anyway. Smaller reads (footers, small files), and every read where the
// filesystem has no O_DIRECT (tmpfs), go through the cache as usual.
class PosixReadableFile final : public ReadableFile {
 public:
  PosixReadableFile(int fd, int direct_fd, std::string path, std::uint64_t size)
      : fd_(fd), direct_fd_(direct_fd), path_(std::move(path)), size_(size) {}
  ~PosixReadableFile() override {
    ::close(fd_);
    if (direct_fd_ >= 0) ::close(direct_fd_);
  }

  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::uint8_t> out) const override {
    if (direct_fd_ < 0 || out.size() < kDirectMin || offset >= size_) return read_cached(offset, out);
    return read_direct(offset, out.first(static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size_ - offset))));
  }
  std::uint64_t size() const override { return size_; }

 private:
  static constexpr std::size_t kDirectMin = 64u << 10;
  static constexpr std::size_t kDirectMax = 4u << 20;
  static constexpr std::uint64_t kAlign = 4096;

  Result<std::size_t> read_cached(std::uint64_t offset, std::span<std::uint8_t> out) const {
    for (;;) {
      ssize_t n = ::pread(fd_, out.data(), out.size(), static_cast<off_t>(offset));
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return errno_status("read", path_);
    }
  }

  // The thread's page-aligned buffer for direct reads, of at least `length` bytes (a multiple
  // of kAlign); null when it cannot be had.
  static std::uint8_t* bounce_buffer(std::size_t length) {
    thread_local std::unique_ptr<std::uint8_t, decltype(&std::free)> buffer(nullptr, &std::free);
    thread_local std::size_t capacity = 0;
    if (capacity < length) {
      buffer.reset(static_cast<std::uint8_t*>(std::aligned_alloc(kAlign, length)));
      capacity = buffer ? length : 0;
    }
    return buffer.get();
  }

  // The whole pages around [offset, offset + out.size()) into the thread's aligned buffer, at
  // most kDirectMax bytes a call (a short count, as read_at allows), so the buffer stays small.
  // Where `out` lies on pages as the file does (out.data() ≡ offset modulo the page size), its
  // whole pages are read into it in place instead, with no copy.
  Result<std::size_t> read_direct(std::uint64_t offset, std::span<std::uint8_t> out) const {
    if ((reinterpret_cast<std::uintptr_t>(out.data()) - offset) % kAlign == 0) return read_in_place(offset, out);
    out = out.first(std::min(out.size(), kDirectMax));
    const std::uint64_t first = offset / kAlign * kAlign;
    const std::size_t length = static_cast<std::size_t>((offset + out.size() + kAlign - 1) / kAlign * kAlign - first);
    std::uint8_t* buffer = bounce_buffer(length);
    if (!buffer) return read_cached(offset, out);
    std::size_t got = 0;
    while (got < length) {
      const ssize_t n = ::pread(direct_fd_, buffer + got, length - got, static_cast<off_t>(first + got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EINVAL) return read_cached(offset, out);  // this file refuses direct reads
      if (n < 0) return errno_status("read", path_);
      if (n == 0) break;  // end of file
      got += static_cast<std::size_t>(n);
      if (got % kAlign != 0) break;  // a short read ends at the end of the file
    }
    const std::size_t skip = static_cast<std::size_t>(offset - first);
    const std::size_t n = got > skip ? std::min(out.size(), got - skip) : 0;
    std::memcpy(out.data(), buffer + skip, n);
    return n;
  }

  // One direct read of the pages around `out`, the whole ones into `out` itself and the partial
  // first and last into the thread's buffer, from which their share is copied.
  Result<std::size_t> read_in_place(std::uint64_t offset, std::span<std::uint8_t> out) const {
    const std::size_t skip = static_cast<std::size_t>(offset % kAlign);  // of the first page, not ours
    const std::size_t head = std::min(out.size(), skip ? static_cast<std::size_t>(kAlign) - skip : 0);
    const std::size_t middle = (out.size() - head) / kAlign * kAlign;
    const std::size_t tail = out.size() - head - middle;
    std::uint8_t* pages = bounce_buffer(2 * kAlign);  // [head page][tail page]
    if (!pages) return read_cached(offset, out);
    iovec iov[3];
    int count = 0;
    if (head) iov[count++] = {pages, kAlign};
    if (middle) iov[count++] = {out.data() + head, middle};
    if (tail) iov[count++] = {pages + kAlign, kAlign};
    ssize_t n;
    do {
      n = ::preadv(direct_fd_, iov, count, static_cast<off_t>(offset - skip));
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EINVAL) return read_cached(offset, out);  // this file refuses direct reads
    if (n < 0) return errno_status("read", path_);
    // A short count ends at the end of the file: what of `out` it covers is good.
    const std::size_t valid = std::min(out.size(), static_cast<std::size_t>(n) > skip ? static_cast<std::size_t>(n) - skip : 0);
    std::memcpy(out.data(), pages + skip, std::min(head, valid));
    if (valid > head + middle) std::memcpy(out.data() + head + middle, pages + kAlign, valid - head - middle);
    return valid;
  }

  int fd_;
  int direct_fd_;  // -1: no direct reads
  std::string path_;
  std::uint64_t size_;
};

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> create(const std::string& path) override {
    return open_writable(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
  }
  Result<std::unique_ptr<WritableFile>> open_append(const std::string& path) override {
    return open_writable(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC);
  }
  Result<std::unique_ptr<ReadableFile>> open_read(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return not_found("no such file: " + path);
      return errno_status("open", path);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      Status s = errno_status("stat", path);
      ::close(fd);
      return s;
    }
    const int direct_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);  // -1 where unsupported
    return std::unique_ptr<ReadableFile>(
        std::make_unique<PosixReadableFile>(fd, direct_fd, path, static_cast<std::uint64_t>(st.st_size)));
  }
  Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return errno_status("rename", from + " -> " + to);
    return Status::ok();
  }
  Status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) {
      if (errno == ENOENT) return not_found("no such file: " + path);
      return errno_status("unlink", path);
    }
    return Status::ok();
  }
  Status sync_dir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_status("open dir", path);
    int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) return errno_status("fsync dir", path);
    return Status::ok();
  }
  Status create_dirs(const std::string& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return io_error("mkdir " + path + ": " + ec.message());
    return Status::ok();
  }
  bool exists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }
  Result<std::uint64_t> file_size(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return not_found("no such file: " + path);
      return errno_status("stat", path);
    }
    return static_cast<std::uint64_t>(st.st_size);
  }
  Result<std::int64_t> mtime(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return not_found("no such file: " + path);
      return errno_status("stat", path);
    }
    return static_cast<std::int64_t>(st.st_mtime);
  }
  Result<std::vector<std::string>> list(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
      if (errno == ENOENT) return not_found("no such folder: " + dir);
      return errno_status("opendir", dir);
    }
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(d);
    return names;
  }

 private:
  Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path, int flags) {
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return errno_status("open", path);
    return std::unique_ptr<WritableFile>(std::make_unique<PosixWritableFile>(fd, path));
  }
};

}  // namespace

FileSystem& FileSystem::local() {
  static PosixFileSystem fs;
  return fs;
}

}  // namespace grove
