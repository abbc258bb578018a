// A FileSystem wrapper for tests that injects failures and fakes crashes.
//
// Faults: fail_write_after(n) makes the n-th append from now on, and every later one, fail with
// kIoError; fail_rename / fail_sync / fail_sync_dir make every such call fail while set.
//
// Crashes: after simulate_crash(), every file created or opened for append through the wrapper
// is tracked: how many bytes it holds, how many of them a sync() made durable, and whether its
// folder entry is durable (a sync_dir of its folder since it was created or renamed there).
// drop_unsynced() then plays the crash: each tracked file whose entry is not durable is
// removed, and every other tracked file is cut back to its last synced length.
// What this models, approximately, is a power cut on a journaling file system: data reaches
// the disk only through fsync, and a new or renamed name only through an fsync of its folder.
// It does not model: the old name of a renamed file reappearing, a rename over an existing
// file reverting to the old file, folders made by create_dirs vanishing, or torn writes
// inside a synced region. Files written before simulate_crash() are not touched.
//
// Thread-safe, like every FileSystem. The wrapped file system must outlive the wrapper.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/fs.h"
#include "common/status.h"

namespace grove::testing {

class FaultInjectionFileSystem final : public FileSystem {
 public:
  explicit FaultInjectionFileSystem(FileSystem& base) : base_(base) {}

  // REQUIRES: n >= 1. fail_write_after(1) fails the very next append.
  void fail_write_after(std::uint64_t n) {
    std::lock_guard lock(mu_);
    appends_until_failure_ = n;
  }
  void fail_rename(bool on) {
    std::lock_guard lock(mu_);
    fail_rename_ = on;
  }
  // WritableFile::sync only; see fail_sync_dir for folders.
  void fail_sync(bool on) {
    std::lock_guard lock(mu_);
    fail_sync_ = on;
  }
  void fail_sync_dir(bool on) {
    std::lock_guard lock(mu_);
    fail_sync_dir_ = on;
  }
  // Turns every injected failure off (crash tracking stays as it is).
  void clear_faults() {
    std::lock_guard lock(mu_);
    appends_until_failure_ = 0;
    fail_rename_ = fail_sync_ = fail_sync_dir_ = false;
  }
  // Appends that were failed on purpose so far.
  std::uint64_t injected_write_failures() const {
    std::lock_guard lock(mu_);
    return injected_write_failures_;
  }

  // Starts tracking writes for drop_unsynced().
  void simulate_crash() {
    std::lock_guard lock(mu_);
    tracking_ = true;
  }

  // Fakes the crash: see the top of this file. Tracking restarts from a clean slate, so the
  // survivors count as durable. REQUIRES: no tracked file is still open for writing.
  Status drop_unsynced() {
    std::map<std::string, std::shared_ptr<Tracked>> files;
    {
      std::lock_guard lock(mu_);
      files.swap(tracked_);
    }
    for (const auto& [path, t] : files) {
      if (!t->entry_durable) {
        Status s = base_.remove(path);
        if (!s.is_ok() && s.code() != Code::kNotFound) return s;
      } else if (t->synced < t->size) {
        GROVE_RETURN_IF_ERROR(truncate(path, t->synced));
      }
    }
    return Status::ok();
  }

  Result<std::unique_ptr<WritableFile>> create(const std::string& path) override {
    GROVE_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, base_.create(path));
    return wrap(path, std::move(file), /*existing_size=*/0);
  }
  Result<std::unique_ptr<WritableFile>> open_append(const std::string& path) override {
    const bool existed = base_.exists(path);
    std::uint64_t size = 0;
    if (existed) {
      GROVE_ASSIGN_OR_RETURN(size, base_.file_size(path));
    }
    GROVE_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, base_.open_append(path));
    return wrap(path, std::move(file), size, existed);
  }
  Result<std::unique_ptr<ReadableFile>> open_read(const std::string& path) override {
    return base_.open_read(path);
  }
  Status rename(const std::string& from, const std::string& to) override {
    {
      std::lock_guard lock(mu_);
      if (fail_rename_) return io_error("injected rename failure: " + from + " -> " + to);
    }
    GROVE_RETURN_IF_ERROR(base_.rename(from, to));
    std::lock_guard lock(mu_);
    tracked_.erase(to);
    auto it = tracked_.find(from);
    if (it != tracked_.end()) {
      std::shared_ptr<Tracked> t = it->second;
      tracked_.erase(it);
      t->entry_durable = false;  // the new name needs a sync_dir of its folder
      tracked_[to] = std::move(t);
    } else if (tracking_) {
      // An untracked file moved under tracking: its bytes are as durable as they were, but
      // the new name is not yet.
      auto t = std::make_shared<Tracked>();
      Result<std::uint64_t> size = base_.file_size(to);
      t->size = t->synced = size.is_ok() ? *size : 0;
      tracked_[to] = std::move(t);
    }
    return Status::ok();
  }
  Status remove(const std::string& path) override {
    GROVE_RETURN_IF_ERROR(base_.remove(path));
    std::lock_guard lock(mu_);
    tracked_.erase(path);
    return Status::ok();
  }
  Status sync_dir(const std::string& path) override {
    {
      std::lock_guard lock(mu_);
      if (fail_sync_dir_) return io_error("injected sync_dir failure: " + path);
    }
    GROVE_RETURN_IF_ERROR(base_.sync_dir(path));
    const std::string dir = strip_slashes(path);
    std::lock_guard lock(mu_);
    for (auto& [file, t] : tracked_) {
      if (parent_of(file) == dir) t->entry_durable = true;
    }
    return Status::ok();
  }
  Status create_dirs(const std::string& path) override { return base_.create_dirs(path); }
  bool exists(const std::string& path) override { return base_.exists(path); }
  Result<std::uint64_t> file_size(const std::string& path) override { return base_.file_size(path); }
  Result<std::int64_t> mtime(const std::string& path) override { return base_.mtime(path); }
  Result<std::vector<std::string>> list(const std::string& dir) override { return base_.list(dir); }

 private:
  struct Tracked {
    std::uint64_t size = 0;    // bytes appended through the wrapper, plus any it started with
    std::uint64_t synced = 0;  // of those, how many the last successful sync() covered
    bool entry_durable = false;
  };

  class File final : public WritableFile {
   public:
    File(FaultInjectionFileSystem& fs, std::string path, std::unique_ptr<WritableFile> base,
         std::shared_ptr<Tracked> tracked)
        : fs_(fs), path_(std::move(path)), base_(std::move(base)), tracked_(std::move(tracked)) {}

    Status append(std::span<const std::uint8_t> data) override {
      if (fs_.take_append_fault()) return io_error("injected write failure: " + path_);
      GROVE_RETURN_IF_ERROR(base_->append(data));
      if (tracked_) {
        std::lock_guard lock(fs_.mu_);
        tracked_->size += data.size();
      }
      return Status::ok();
    }
    Status sync() override {
      {
        std::lock_guard lock(fs_.mu_);
        if (fs_.fail_sync_) return io_error("injected sync failure: " + path_);
      }
      GROVE_RETURN_IF_ERROR(base_->sync());
      if (tracked_) {
        std::lock_guard lock(fs_.mu_);
        tracked_->synced = tracked_->size;
      }
      return Status::ok();
    }
    Status close() override { return base_->close(); }

   private:
    FaultInjectionFileSystem& fs_;
    const std::string path_;
    std::unique_ptr<WritableFile> base_;
    std::shared_ptr<Tracked> tracked_;  // null when the file was opened before tracking began
  };

  Result<std::unique_ptr<WritableFile>> wrap(const std::string& path, std::unique_ptr<WritableFile> file,
                                             std::uint64_t existing_size, bool existed = false) {
    std::shared_ptr<Tracked> t;
    {
      std::lock_guard lock(mu_);
      if (tracking_) {
        t = std::make_shared<Tracked>();
        // Bytes already there before open_append count as durable, and so does an old name.
        t->size = t->synced = existing_size;
        t->entry_durable = existed;
        tracked_[path] = t;
      }
    }
    return std::unique_ptr<WritableFile>(std::make_unique<File>(*this, path, std::move(file), std::move(t)));
  }

  // Counts down to the configured failing append; once reached, every append fails.
  bool take_append_fault() {
    std::lock_guard lock(mu_);
    if (appends_until_failure_ == 0) return false;
    if (appends_until_failure_ > 1) {
      --appends_until_failure_;
      return false;
    }
    ++injected_write_failures_;
    return true;
  }

  // Cuts `path` to `length` bytes using only the wrapped FileSystem (it has no truncate): copy
  // the prefix to a side file, sync it, rename it over the original.
  Status truncate(const std::string& path, std::uint64_t length) {
    const std::string tmp = path + ".crash-truncate";
    GROVE_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> in, base_.open_read(path));
    GROVE_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> out, base_.create(tmp));
    std::vector<std::uint8_t> buf(1 << 20);
    for (std::uint64_t pos = 0; pos < length;) {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), length - pos));
      GROVE_ASSIGN_OR_RETURN(std::size_t n, in->read_at(pos, std::span(buf).first(want)));
      if (n == 0) break;
      GROVE_RETURN_IF_ERROR(out->append(std::span(buf).first(n)));
      pos += n;
    }
    GROVE_RETURN_IF_ERROR(out->sync());
    GROVE_RETURN_IF_ERROR(out->close());
    return base_.rename(tmp, path);
  }

  static std::string strip_slashes(std::string path) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    return path;
  }
  static std::string parent_of(const std::string& path) {
    std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::string(".") : strip_slashes(path.substr(0, slash));
  }

  FileSystem& base_;
  mutable std::mutex mu_;
  std::uint64_t appends_until_failure_ = 0;  // 0: no write fault armed
  std::uint64_t injected_write_failures_ = 0;
  bool fail_rename_ = false;
  bool fail_sync_ = false;
  bool fail_sync_dir_ = false;
  bool tracking_ = false;
  std::map<std::string, std::shared_ptr<Tracked>> tracked_;
};

}  // namespace grove::testing
