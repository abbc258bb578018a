// grove push DIR REPO: publish a folder as one commit, the way Hugging Face clients do it:
// preupload (which files are LFS, which are unchanged) → LFS batch → streamed uploads to signed
// URLs → one NDJSON commit naming its parent, so a concurrent push is refused, not merged.
// Files are hashed on a second thread while earlier ones upload, one LFS batch per file.
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
      Status s = hash(files_[i]);
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

  std::vector<PlannedFile>& files_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t done_ = 0;
  Status status_;
  bool stop_ = false;
  std::thread thread_;  // last: started once the rest is ready
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

Status run(hub::HubClient& client, const PushOptions& options) {
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

  // A second thread hashes the files in order while this one uploads the LFS objects already
  // hashed that the hub does not have: the hub ingests file k while file k+1 is hashed.
  std::uint64_t lfs_total = 0;
  for (const auto& f : files)
    if (f.lfs) lfs_total += f.local.size;
  Hasher hasher(files);
  // On LFS uploads: the store encodes the new weights as deltas against the base at once.
  std::map<std::string, std::string> upload_headers;
  if (!options.base.empty()) upload_headers["X-Grove-Base"] = options.base;
  std::vector<PlannedFile*> changed;
  Progress progress("uploading", lfs_total);
  std::uint64_t before = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    PlannedFile& f = files[i];
    GROVE_RETURN_IF_ERROR(hasher.wait(i));
    std::string local_oid = f.lfs ? f.digests.sha256.hex() : f.digests.git_blob.hex();
    if (remote_oids[i] && *remote_oids[i] == local_oid) {
      if (f.lfs) progress.update(before += f.local.size);
      continue;
    }
    changed.push_back(&f);
    if (!f.lfs) continue;
    json request = {{"operation", "upload"}, {"transfers", {"basic"}}, {"hash_algo", "sha256"},
                    {"ref", {{"name", options.branch}}},
                    {"objects", json::array({{{"oid", f.digests.sha256.hex()}, {"size", f.local.size}}})}};
    GROVE_ASSIGN_OR_RETURN(hub::Reply reply, client.request("POST", "/" + ref.id() + ".git/info/lfs/objects/batch",
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
                                                               [&](std::uint64_t n) { progress.update(before + n); },
                                                               upload_headers));
      if (!up.ok()) return hub::status_from_reply(up, "upload of " + f.local.path);
    }
    before += f.local.size;
    progress.update(before);
  }
  if (lfs_total > 0) progress.finish();
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
  Status s = run(**client, push);
  return s.is_ok() ? 0 : fail(s);
}

}  // namespace grove::cli
