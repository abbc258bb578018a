// grove pull REPO[@REV] [--local-dir DIR]: resolve the revision to a commit once, list its
// tree, and download each file that is missing or different, verifying every byte against the
// hub's identity for it (SHA-256 for LFS files, the git blob id otherwise).
//
// Without --local-dir the files go into the Hugging Face cache (spec §7), so HF clients find
// them offline: models--{ns}--{name}/blobs/<etag>, snapshots/<commit>/<path> as relative
// symlinks to the blobs, refs/<rev> holding the commit. A blob is renamed to its final name
// only after verification, so a blob of the right size is trusted without rehashing.
// Interrupted downloads resume (DIR/.grove/downloads/ or blobs/<etag>.incomplete) by Range.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "cli/cli.h"
#include "cli/local_file.h"
#include "cli/progress.h"
#include "common/fs.h"
#include "hub/http_util.h"
#include "registry/git_objects.h"
#include "registry/repo_path.h"

namespace grove::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct RemoteFile {
  std::string path;
  std::uint64_t size = 0;
  bool lfs = false;
  std::string expected;  // sha256 hex for LFS, git blob sha1 hex otherwise
};

bool matches(const RemoteFile& f, const FileDigests& d) {
  return f.lfs ? d.sha256.hex() == f.expected : d.git_blob.hex() == f.expected;
}

Result<std::vector<RemoteFile>> list_tree(hub::HubClient& client, const RepoRef& ref, const std::string& commit) {
  std::vector<RemoteFile> files;
  std::string next = "/api/models/" + ref.id() + "/tree/" + commit + "?recursive=true&expand=false";
  while (!next.empty()) {
    GROVE_ASSIGN_OR_RETURN(hub::Reply reply, client.request("GET", next));
    if (!reply.ok()) return hub::status_from_reply(reply, "listing files of " + ref.id());
    json page = json::parse(reply.body, nullptr, false);
    if (!page.is_array()) return internal_error("tree listing: malformed answer");
    for (const auto& e : page) {
      if (e.value("type", "") != "file") continue;
      RemoteFile f;
      f.path = e.value("path", "");
      // Never trust a server with our file system: the same rules as for pushes.
      GROVE_RETURN_IF_ERROR(registry::validate_repo_path(f.path).with_context("hub sent a bad path"));
      f.size = e.value("size", std::uint64_t{0});
      f.lfs = e.contains("lfs") && e["lfs"].is_object();
      f.expected = f.lfs ? e["lfs"].value("oid", "") : e.value("oid", "");
      files.push_back(std::move(f));
    }
    // Link: <url>; rel="next"
    next.clear();
    std::string link = reply.header("link");
    if (auto lt = link.find('<'), gt = link.find('>'); lt != std::string::npos && gt != std::string::npos &&
                                                       link.find("rel=\"next\"") != std::string::npos)
      next = link.substr(lt + 1, gt - lt - 1);
  }
  return files;
}

class FileWriter {
 public:
  ~FileWriter() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status open(const std::string& path, bool truncate) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND), 0644);
    return fd_ < 0 ? errno_status("open", path) : Status::ok();
  }
  Status write(std::span<const std::uint8_t> data) {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_status("write", "download");
      data = data.subspan(static_cast<std::size_t>(n));
    }
    return Status::ok();
  }
  // No fsync: a download can always be fetched again, and a torn one fails verification.
  Status close() {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0 ? Status::ok() : errno_status("close", "download");
  }

 private:
  int fd_ = -1;
};

// Downloads one file into `final_path` through a resumable partial file.
Status fetch_file(hub::HubClient& client, const RepoRef& ref, const std::string& commit, const RemoteFile& file,
                  const std::string& partial, const std::string& final_path, Progress& progress, std::uint64_t& done) {
  std::error_code ec;
  std::uint64_t have = fs::exists(partial, ec) ? fs::file_size(partial, ec) : 0;
  if (have > file.size) have = 0;
  // Re-hash what an earlier run left, so the final check covers every byte. Only the identity
  // the hub announced is computed: SHA-256 for LFS files, the git blob id otherwise.
  Sha256 sha256;
  registry::GitBlobHasher git(file.size);
  auto hash = [&](ByteSpan data) {
    if (file.lfs) sha256.update(data);
    else git.update(data);
  };
  if (have > 0) {
    auto prefix = FileSystem::local().open_read(partial);
    if (!prefix.is_ok()) return prefix.status();
    std::vector<std::uint8_t> buf(1 << 20);
    for (std::uint64_t off = 0; off < have;) {
      GROVE_ASSIGN_OR_RETURN(std::size_t n, (*prefix)->read_at(off, std::span(buf.data(), std::min<std::uint64_t>(buf.size(), have - off))));
      if (n == 0) break;
      hash(ByteSpan(buf.data(), n));
      off += n;
    }
    std::cout << "resuming " << file.path << " at " << human_bytes(static_cast<double>(have)) << "\n";
  }
  FileWriter out;
  GROVE_RETURN_IF_ERROR(out.open(partial, have == 0));
  std::string url = "/" + ref.id() + "/resolve/" + commit + "/" + hub::url_encode(file.path, true);
  std::uint64_t base = done;
  std::uint64_t received = have;
  auto sink = [&](std::span<const std::uint8_t> chunk) {
    hash(chunk);
    received += chunk.size();
    return out.write(chunk);
  };
  GROVE_ASSIGN_OR_RETURN(hub::Reply reply, client.download(url, have, sink, [&](std::uint64_t n) { progress.update(base + have + n); }));
  if (reply.status == 200 && have > 0) {
    // The hub ignored our Range: start over rather than append a second copy.
    std::cout << "the hub did not resume " << file.path << "; downloading it again\n";
    GROVE_RETURN_IF_ERROR(out.close());
    fs::remove(partial, ec);
    return fetch_file(client, ref, commit, file, partial, final_path, progress, done);
  }
  if (!reply.ok() && !(reply.status == 416 && have == file.size))
    return hub::status_from_reply(reply, "download of " + file.path);
  GROVE_RETURN_IF_ERROR(out.close());
  if (received != file.size)
    return io_error("download of " + file.path + " ended at " + std::to_string(received) + " of " + std::to_string(file.size) + " bytes; run the pull again to resume");
  bool ok = file.lfs ? sha256.finish().hex() == file.expected : git.finish().hex() == file.expected;
  if (!ok) {
    fs::remove(partial, ec);
    return corrupt("checksum mismatch for " + file.path + ": the downloaded bytes are not what the hub announced; removed them");
  }
  fs::create_directories(fs::path(final_path).parent_path(), ec);
  if (ec) return io_error("cannot create folder for " + final_path + ": " + ec.message());
  GROVE_RETURN_IF_ERROR(FileSystem::local().rename(partial, final_path));
  done = base + file.size;
  progress.update(done);
  return Status::ok();
}

// Writes `content` to `path` through a temporary file and a rename.
Status write_small_file(const std::string& path, const std::string& content) {
  GROVE_RETURN_IF_ERROR(FileSystem::local().create_dirs(fs::path(path).parent_path().string()));
  std::string tmp = path + ".tmp";
  FileWriter out;
  GROVE_RETURN_IF_ERROR(out.open(tmp, true));
  GROVE_RETURN_IF_ERROR(out.write(as_bytes(content)));
  GROVE_RETURN_IF_ERROR(out.close());
  return FileSystem::local().rename(tmp, path);
}

// snapshots/<commit>/<path> → ../../blobs/<etag>, one more "../" per folder in `path`.
Status link_snapshot(const std::string& snapshot, const RemoteFile& f) {
  std::string target = "../../";
  for (char c : f.path)
    if (c == '/') target += "../";
  target += "blobs/" + f.expected;
  fs::path link = fs::path(snapshot) / f.path;
  std::error_code ec;
  if (fs::is_symlink(link, ec) && fs::read_symlink(link, ec) == target) return Status::ok();
  fs::create_directories(link.parent_path(), ec);
  if (ec) return io_error("cannot create folder for " + link.string() + ": " + ec.message());
  fs::remove(link, ec);
  fs::create_symlink(target, link, ec);
  if (ec) return io_error("cannot link " + link.string() + ": " + ec.message());
  return Status::ok();
}

bool is_commit_id(const std::string& revision) {
  return revision.size() == 40 && revision.find_first_not_of("0123456789abcdef") == std::string::npos;
}

Status pull_to_cache(hub::HubClient& client, const RepoRef& ref, const std::string& revision, const std::string& commit,
                     const std::vector<RemoteFile>& files) {
  std::string repo_dir = hf_hub_cache() + "/models--" + ref.ns + "--" + ref.name;
  std::string blobs = repo_dir + "/blobs";
  std::string snapshot = repo_dir + "/snapshots/" + commit;
  GROVE_RETURN_IF_ERROR(FileSystem::local().create_dirs(blobs));
  if (!is_commit_id(revision)) GROVE_RETURN_IF_ERROR(write_small_file(repo_dir + "/refs/" + revision, commit));
  std::uint64_t total = 0;
  std::vector<const RemoteFile*> todo;
  for (const auto& f : files) {
    std::error_code ec;
    std::string blob = blobs + "/" + f.expected;
    if (!(fs::is_regular_file(blob, ec) && fs::file_size(blob, ec) == f.size)) {
      todo.push_back(&f);
      total += f.size;
    }
  }
  Progress progress("downloading", total);
  std::uint64_t done = 0;
  for (const RemoteFile* f : todo) {
    std::string blob = blobs + "/" + f->expected;
    GROVE_RETURN_IF_ERROR(fetch_file(client, ref, commit, *f, blob + ".incomplete", blob, progress, done));
  }
  if (!todo.empty()) progress.finish();
  for (const auto& f : files) GROVE_RETURN_IF_ERROR(link_snapshot(snapshot, f));
  if (todo.empty())
    std::cout << "Already up to date: " << ref.id() << "@" << revision << " (" << commit << ") in " << snapshot
              << "; nothing transferred\n";
  else
    std::cout << "Pulled " << todo.size() << " files of " << ref.id() << "@" << revision << " (" << commit << ") into "
              << snapshot << "\n";
  return Status::ok();
}

Status run(hub::HubClient& client, const PullOptions& options) {
  GROVE_ASSIGN_OR_RETURN(RepoRef ref, parse_repo_ref(options.repo, true));
  std::string revision = ref.revision.empty() ? "main" : ref.revision;
  GROVE_ASSIGN_OR_RETURN(json info, client.json_call("GET", "/api/models/" + ref.id() + "/revision/" + hub::url_encode(revision) + "?expand=sha"));
  if (!info.contains("sha") || !info["sha"].is_string()) return internal_error("model info without a commit sha");
  std::string commit = info["sha"];
  if (!is_commit_id(commit)) return internal_error("model info sha is not a 40-hex commit id");
  GROVE_ASSIGN_OR_RETURN(auto files, list_tree(client, ref, commit));
  // The expected identity names a cache blob: never let a server pick a path with it.
  for (const auto& f : files)
    if (!is_lower_hex(f.expected, f.lfs ? 64 : 40)) return internal_error("hub sent a bad oid for " + f.path);
  if (options.local_dir.empty()) return pull_to_cache(client, ref, revision, commit, files);

  std::string dir = options.local_dir;
  std::string downloads = dir + "/.grove/downloads";
  GROVE_RETURN_IF_ERROR(FileSystem::local().create_dirs(downloads));
  std::uint64_t total = 0;
  std::vector<const RemoteFile*> todo;
  for (const auto& f : files) {
    std::string local = dir + "/" + f.path;
    std::error_code ec;
    if (fs::is_regular_file(local, ec) && fs::file_size(local, ec) == f.size) {
      GROVE_ASSIGN_OR_RETURN(auto d, digest_file(local, f.size));
      if (matches(f, d)) continue;
    }
    todo.push_back(&f);
    total += f.size;
  }
  if (todo.empty()) {
    std::cout << "Already up to date: " << ref.id() << "@" << revision << " (" << commit << ") in " << dir << "\n";
    return Status::ok();
  }
  Progress progress("downloading", total);
  std::uint64_t done = 0;
  for (const RemoteFile* f : todo) {
    std::string partial = downloads + "/" + f->expected + ".part";
    GROVE_RETURN_IF_ERROR(fetch_file(client, ref, commit, *f, partial, dir + "/" + f->path, progress, done));
  }
  progress.finish();
  std::cout << "Pulled " << todo.size() << " files of " << ref.id() << "@" << revision << " (" << commit << ") into " << dir << "\n";
  std::error_code ec;
  fs::remove(downloads, ec);
  fs::remove(dir + "/.grove", ec);
  return Status::ok();
}

}  // namespace

int run_pull(const ClientOptions& options, const PullOptions& pull) {
  auto client = make_client(options);
  if (!client.is_ok()) return fail(client.status());
  Status s = run(**client, pull);
  return s.is_ok() ? 0 : fail(s);
}

}  // namespace grove::cli
