// grove push DIR REPO: publish a folder as one commit, the way Hugging Face clients do it:
// preupload (which files are LFS, which are unchanged) → LFS batch → streamed uploads to signed
// URLs → one NDJSON commit naming its parent, so a concurrent push is refused, not merged.
// LFS files upload two at a time. One the hub has nothing at yet (no file at its path) is not
// hashed here at all: it goes to grove's own upload route, and the hub, which hashes every byte
// it stores anyway, names it (SHA-256) in its answer. Files that may be unchanged are hashed on
// a thread of their own, in order, and go through the LFS batch (which skips what the hub has).
#include <sys/stat.h>

#include <condition_variable>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "cli/cli.h"
#include "cli/local_file.h"
#include "cli/progress.h"
#include "hub/http_util.h"

namespace grove::cli {
namespace {

using nlohmann::json;

struct PlannedFile {
  LocalFile local;
  FileDigests digests;
  bool lfs = false;
  bool named_by_hub = false;  // new LFS file: sent unhashed, its SHA-256 comes from the hub
};

Result<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno_status("open", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The first 512 bytes of a file: what the hub's LFS decision looks at.
Result<std::string> read_sample(const LocalFile& f) {
  std::ifstream in(f.absolute, std::ios::binary);
  if (!in) return errno_status("open", f.absolute);
  std::string sample(static_cast<std::size_t>(std::min<std::uint64_t>(f.size, 512)), '\0');
  in.read(sample.data(), static_cast<std::streamsize>(sample.size()));
  if (static_cast<std::size_t>(in.gcount()) != sample.size()) return io_error(f.absolute + " changed while pushing");
  return sample;
}

// Hashes the files in order on a thread of its own: an LFS file's SHA-256 (its oid), a regular
// file's git blob id (and SHA-256). Stops at the first error, or when destroyed.
class Hasher {
 public:
  explicit Hasher(std::vector<PlannedFile>& files) : files_(files), thread_([this] { run(); }) {}
  ~Hasher() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    thread_.join();
  }
  // One file's digests, read in one pass.
  static Status hash(PlannedFile& f) {
    if (!f.lfs) {
      GROVE_ASSIGN_OR_RETURN(f.digests, digest_file(f.local.absolute, f.local.size));
      return Status::ok();
    }
    // One SHA-256 pass; big reads so the hash, not the syscalls, sets the pace.
    std::ifstream in(f.local.absolute, std::ios::binary);
    if (!in) return errno_status("open", f.local.absolute);
    Sha256 sha256;
    std::vector<char> buf(4 << 20);
    std::uint64_t done = 0;
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      const std::size_t n = static_cast<std::size_t>(in.gcount());
      if (n == 0) break;
      sha256.update(ByteSpan(reinterpret_cast<const std::uint8_t*>(buf.data()), n));
      done += n;
    }
    if (done != f.local.size)
      return io_error(f.local.path + " changed while being read (" + std::to_string(done) + " bytes, expected " +
                      std::to_string(f.local.size) + ")");
    f.digests.sha256 = sha256.finish();
    return Status::ok();
  }

  // Waits until file `i` is hashed; its error if it failed.
  Status wait(std::size_t i) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return done_ > i || !status_.is_ok(); });
    return done_ > i ? Status::ok() : status_;
  }

 private:
  void run() {
    for (std::size_t i = 0; i < files_.size(); ++i) {
      {
        std::lock_guard lock(mu_);
        if (stop_) return;
      }
      Status s = files_[i].named_by_hub ? Status::ok() : hash(files_[i]);
      std::lock_guard lock(mu_);
      if (!s.is_ok()) {
        status_ = s;
        cv_.notify_all();
        return;
      }
      done_ = i + 1;
      cv_.notify_all();
    }
  }

  std::vector<PlannedFile>& files_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t done_ = 0;
  Status status_;
  bool stop_ = false;
  std::thread thread_;  // last: started once the rest is ready
};

// Size and modification time: enough to tell that a file was rewritten while it uploaded.
struct FileStamp {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
  static Result<FileStamp> of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return errno_status("stat", path);
    return FileStamp{static_cast<std::uint64_t>(st.st_size),
                     static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  }
};

// Sends the LFS files the hub lacks, kStreams at a time (each on a connection of its own), so
// the hub ingests one file while the next arrives and a commit's fsync overlaps the next upload.
class Uploads {
 public:
  Uploads(const PushOptions& options, const RepoRef& ref, std::vector<PlannedFile>& files,
          const std::vector<std::optional<std::string>>& remote_oids, Hasher& hasher, std::uint64_t total)
      : options_(options), ref_(ref), files_(files), remote_oids_(remote_oids), hasher_(hasher),
        changed_(files.size(), false), sent_(files.size(), 0), progress_("uploading", total), total_(total) {
    if (!options.base.empty()) headers_["X-Grove-Base"] = options.base;
  }

  // Uploads every LFS file that changed; the first error, if any.
  Status run(const ClientOptions& client_options) {
    std::vector<std::unique_ptr<hub::HubClient>> clients;
    for (int i = 0; i < kStreams; ++i) {
      GROVE_ASSIGN_OR_RETURN(auto c, make_client(client_options));
      clients.push_back(std::move(c));
    }
    std::vector<std::thread> threads;
    for (auto& c : clients) threads.emplace_back([this, &c] { work(*c); });
    for (auto& t : threads) t.join();
    if (!status_.is_ok()) return status_;
    if (total_ > 0) progress_.finish();
    return Status::ok();
  }

  bool changed(std::size_t i) const { return changed_[i]; }

 private:
  static constexpr int kStreams = 4;

  void work(hub::HubClient& client) {
    for (;;) {
      std::size_t i;
      {
        std::lock_guard lock(mu_);
        while (next_ < files_.size() && !files_[next_].lfs) ++next_;
        if (next_ == files_.size() || !status_.is_ok()) return;
        i = next_++;
      }
      Status s = upload(client, i);
      if (!s.is_ok()) {
        std::lock_guard lock(mu_);
        if (status_.is_ok()) status_ = s;
        return;
      }
    }
  }

  Status upload(hub::HubClient& client, std::size_t i) {
    PlannedFile& f = files_[i];
    if (f.named_by_hub) {
      GROVE_ASSIGN_OR_RETURN(bool sent, upload_unnamed(client, i));
      if (sent) return Status::ok();
      GROVE_RETURN_IF_ERROR(Hasher::hash(f));  // a hub without grove's route: the LFS way
    }
    GROVE_RETURN_IF_ERROR(hasher_.wait(i));
    if (remote_oids_[i] && *remote_oids_[i] == f.digests.sha256.hex()) return done(i, false);
    json request = {{"operation", "upload"}, {"transfers", {"basic"}}, {"hash_algo", "sha256"},
                    {"ref", {{"name", options_.branch}}},
                    {"objects", json::array({{{"oid", f.digests.sha256.hex()}, {"size", f.local.size}}})}};
    GROVE_ASSIGN_OR_RETURN(hub::Reply reply, client.request("POST", "/" + ref_.id() + ".git/info/lfs/objects/batch",
                                                             request.dump(), "application/vnd.git-lfs+json",
                                                             {{"Accept", "application/vnd.git-lfs+json"}}));
    if (!reply.ok()) return hub::status_from_reply(reply, "LFS batch");
    json answer = json::parse(reply.body, nullptr, false);
    if (!answer.is_object() || !answer["objects"].is_array() || answer["objects"].size() != 1)
      return internal_error("LFS batch: malformed answer");
    const json& object = answer["objects"][0];
    if (object.contains("error"))
      return invalid_argument("LFS object for " + f.local.path + " refused: " + object["error"].value("message", ""));
    if (object.contains("actions") && object["actions"].contains("upload")) {
      const std::string href = object["actions"]["upload"]["href"].get<std::string>();
      GROVE_ASSIGN_OR_RETURN(hub::Reply up, client.upload_file(href, f.local.absolute, f.local.size,
                                                               [&](std::uint64_t n) { report(i, n); }, headers_));
      if (!up.ok()) return hub::status_from_reply(up, "upload of " + f.local.path);
    }
    return done(i, true);
  }

  // grove's own route: the hub names the bytes. False when the hub does not offer it (another
  // Hub implementation), and the caller goes the LFS way.
  Result<bool> upload_unnamed(hub::HubClient& client, std::size_t i) {
    PlannedFile& f = files_[i];
    GROVE_ASSIGN_OR_RETURN(FileStamp before, FileStamp::of(f.local.absolute));
    GROVE_ASSIGN_OR_RETURN(hub::Reply up, client.upload_file("/api/grove/upload/" + ref_.id(), f.local.absolute, f.local.size,
                                                             [&](std::uint64_t n) { report(i, n); }, headers_));
    if (up.status == 404 && up.header("x-error-code").empty()) return false;
    if (!up.ok()) return hub::status_from_reply(up, "upload of " + f.local.path);
    json answer = json::parse(up.body, nullptr, false);
    std::optional<Sha256Digest> oid;
    if (answer.is_object() && answer["oid"].is_string()) oid = Sha256Digest::from_hex(answer["oid"].get<std::string>());
    if (!oid || answer.value("size", std::uint64_t{0}) != f.local.size)
      return internal_error("upload of " + f.local.path + ": malformed answer");
    // What the hub hashed is what it stored; a file rewritten meanwhile would not be what the
    // user pushed, so it is an error, as it is for a hashed file.
    GROVE_ASSIGN_OR_RETURN(FileStamp after, FileStamp::of(f.local.absolute));
    if (after != before) return io_error(f.local.path + " changed while uploading");
    f.digests.sha256 = *oid;
    GROVE_RETURN_IF_ERROR(done(i, true));
    return true;
  }

  void report(std::size_t i, std::uint64_t n) {
    std::lock_guard lock(mu_);
    sum_ += n - sent_[i];
    sent_[i] = n;
    progress_.update(sum_);
  }

  Status done(std::size_t i, bool changed) {
    report(i, files_[i].local.size);
    changed_[i] = changed;
    return Status::ok();
  }

  const PushOptions& options_;
  const RepoRef& ref_;
  std::vector<PlannedFile>& files_;
  const std::vector<std::optional<std::string>>& remote_oids_;
  Hasher& hasher_;
  std::map<std::string, std::string> headers_;  // on LFS uploads: X-Grove-Base, so the store deltas at once
  std::mutex mu_;
  std::size_t next_ = 0;
  Status status_;
  std::vector<char> changed_;  // written by one thread per index, read after the join
  std::vector<std::uint64_t> sent_;
  std::uint64_t sum_ = 0;
  Progress progress_;
  std::uint64_t total_;
};

Status ensure_repo(hub::HubClient& client, const RepoRef& ref) {
  json body = {{"name", ref.name}, {"organization", ref.ns}, {"type", "model"}};
  GROVE_ASSIGN_OR_RETURN(hub::Reply reply, client.request("POST", "/api/repos/create", body.dump(), "application/json"));
  if (reply.ok()) {
    std::cout << "Created " << ref.id() << "\n";
    return Status::ok();
  }
  if (reply.status == 409) return Status::ok();
  return hub::status_from_reply(reply, "cannot create " + ref.id());
}

Status run(const ClientOptions& client_options, hub::HubClient& client, const PushOptions& options) {
  GROVE_ASSIGN_OR_RETURN(RepoRef ref, parse_repo_ref(options.repo, false));
  if (!options.base.empty()) GROVE_RETURN_IF_ERROR(parse_repo_ref(options.base, true).status().with_context("--base"));
  GROVE_ASSIGN_OR_RETURN(auto locals, list_local_files(options.dir));
  if (locals.empty()) return invalid_argument("'" + options.dir + "' has no files to push");
  GROVE_RETURN_IF_ERROR(ensure_repo(client, ref));

  // Ask the hub which files must travel as LFS and what it already has (its oids), from the
  // sizes and first bytes alone: hashing then overlaps uploading (below).
  std::string api = "/api/models/" + ref.id();
  std::string branch = hub::url_encode(options.branch);
  std::optional<std::string> head;
  std::vector<PlannedFile> files;
  std::vector<std::optional<std::string>> remote_oids;
  for (const auto& f : locals) {
    GROVE_ASSIGN_OR_RETURN(std::string sample, read_sample(f));
    files.push_back({f, {}, false});
    files.back().digests.sample = std::move(sample);
  }
  constexpr std::size_t kPreuploadBatch = 256;
  for (std::size_t i = 0; i < files.size(); i += kPreuploadBatch) {
    json request = {{"files", json::array()}};
    for (std::size_t j = i; j < std::min(files.size(), i + kPreuploadBatch); ++j) {
      request["files"].push_back({{"path", files[j].local.path},
                                  {"size", files[j].local.size},
                                  {"sample", hub::base64_encode(files[j].digests.sample)}});
    }
    GROVE_ASSIGN_OR_RETURN(json answer, client.json_call("POST", api + "/preupload/" + branch, &request));
    if (answer.contains("commitOid") && answer["commitOid"].is_string()) head = answer["commitOid"];
    for (std::size_t j = i; j < std::min(files.size(), i + kPreuploadBatch); ++j) {
      const json& entry = answer["files"][j - i];
      files[j].lfs = entry.value("uploadMode", "regular") == "lfs";
      remote_oids.push_back(entry.contains("oid") && entry["oid"].is_string()
                                ? std::optional<std::string>(entry["oid"].get<std::string>())
                                : std::nullopt);
    }
  }

  std::uint64_t lfs_total = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (!files[i].lfs) continue;
    lfs_total += files[i].local.size;
    files[i].named_by_hub = !remote_oids[i];
  }
  Hasher hasher(files);
  Uploads uploads(options, ref, files, remote_oids, hasher, lfs_total);
  GROVE_RETURN_IF_ERROR(uploads.run(client_options));
  std::vector<PlannedFile*> changed;
  for (std::size_t i = 0; i < files.size(); ++i) {
    PlannedFile& f = files[i];
    if (f.lfs) {
      if (uploads.changed(i)) changed.push_back(&f);
      continue;
    }
    GROVE_RETURN_IF_ERROR(hasher.wait(i));
    if (!remote_oids[i] || *remote_oids[i] != f.digests.git_blob.hex()) changed.push_back(&f);
  }
  if (changed.empty()) {
    std::cout << "Everything up to date: " << ref.id() << "@" << options.branch << " is " << head.value_or("empty") << "\n";
    return Status::ok();
  }

  // One commit, against the head we planned from.
  std::string summary = options.message.empty() ? "Upload " + std::to_string(changed.size()) + " files with grove" : options.message;
  json header = {{"summary", summary}, {"description", ""}};
  if (head) header["parentCommit"] = *head;
  if (!options.base.empty()) header["groveBase"] = options.base;  // lineage: a "flag" edge
  std::string ndjson = json{{"key", "header"}, {"value", header}}.dump() + "\n";
  for (auto* f : changed) {
    if (f->lfs) {
      ndjson += json{{"key", "lfsFile"},
                     {"value", {{"path", f->local.path}, {"algo", "sha256"}, {"oid", f->digests.sha256.hex()}, {"size", f->local.size}}}}
                    .dump() + "\n";
    } else {
      GROVE_ASSIGN_OR_RETURN(std::string content, read_small_file(f->local.absolute));
      if (content.size() != f->local.size) return io_error(f->local.path + " changed while pushing");
      ndjson += json{{"key", "file"}, {"value", {{"path", f->local.path}, {"content", hub::base64_encode(content)}, {"encoding", "base64"}}}}
                    .dump() + "\n";
    }
  }
  GROVE_ASSIGN_OR_RETURN(hub::Reply reply, client.request("POST", api + "/commit/" + branch, ndjson, "application/x-ndjson"));
  if (!reply.ok()) return hub::status_from_reply(reply, "commit to " + ref.id());
  json answer = json::parse(reply.body, nullptr, false);
  if (!answer.is_object() || !answer.contains("commitOid")) return internal_error("commit: malformed answer");
  std::cout << "Pushed " << changed.size() << " files to " << ref.id() << "@" << options.branch << ": commit "
            << answer["commitOid"].get<std::string>() << "\n";
  return Status::ok();
}

}  // namespace

int run_push(const ClientOptions& options, const PushOptions& push) {
  auto client = make_client(options);
  if (!client.is_ok()) return fail(client.status());
  Status s = run(options, **client, push);
  return s.is_ok() ? 0 : fail(s);
}

}  // namespace grove::cli
