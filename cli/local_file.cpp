#include "cli/local_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "registry/git_objects.h"
#include "registry/repo_path.h"

namespace grove::cli {

Result<std::vector<LocalFile>> list_local_files(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return invalid_argument("'" + dir + "' is not a folder");
  std::vector<LocalFile> files;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) return io_error("cannot read " + dir + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return io_error("cannot read " + dir + ": " + ec.message());
    std::string rel = fs::relative(it->path(), dir, ec).generic_string();
    if (it->is_directory() && (rel == ".git" || rel == ".grove" || rel == ".cache")) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    if (Status s = registry::validate_repo_path(rel); !s.is_ok())
      return invalid_argument("cannot push '" + rel + "': " + s.message());
    files.push_back({rel, it->path().string(), static_cast<std::uint64_t>(it->file_size())});
  }
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  return files;
}

Result<FileDigests> digest_file(const std::string& path, std::uint64_t size,
                                const std::function<void(std::uint64_t)>& on_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("open", path);
  FileDigests out;
  Sha256 sha256;
  registry::GitBlobHasher git(size);
  std::vector<std::uint8_t> buf(1 << 20);
  std::uint64_t done = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = errno_status("read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    ByteSpan chunk(buf.data(), static_cast<std::size_t>(n));
    if (out.sample.size() < 512)
      out.sample.append(reinterpret_cast<const char*>(chunk.data()), std::min<std::size_t>(chunk.size(), 512 - out.sample.size()));
    sha256.update(chunk);
    git.update(chunk);
    done += static_cast<std::uint64_t>(n);
    if (on_bytes) on_bytes(done);
  }
  ::close(fd);
  if (done != size) return io_error(path + " changed while being read (" + std::to_string(done) + " bytes, expected " + std::to_string(size) + ")");
  out.sha256 = sha256.finish();
  out.git_blob = git.finish();
  return out;
}

}  // namespace grove::cli
