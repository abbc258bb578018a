// grove push DIR REPO: publish a folder as one commit, the way Hugging Face clients do it:
// preupload (which files are LFS, which are unchanged) → LFS batch → streamed uploads to signed
// URLs → one NDJSON commit naming its parent, so a concurrent push is refused, not merged.
#include <fstream>
#include <iostream>
#include <sstream>

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

  std::uint64_t total = 0;
  for (const auto& f : locals) total += f.size;
  std::vector<PlannedFile> files;
  {
    Progress progress("hashing", total);
    std::uint64_t before = 0;
    for (const auto& f : locals) {
      GROVE_ASSIGN_OR_RETURN(auto digests, digest_file(f.absolute, f.size, [&](std::uint64_t n) { progress.update(before + n); }));
      before += f.size;
      files.push_back({f, std::move(digests), false});
    }
    progress.finish();
  }

  // Ask the hub which files must travel as LFS and which it already has.
  std::string api = "/api/models/" + ref.id();
  std::string branch = hub::url_encode(options.branch);
  std::optional<std::string> head;
  std::vector<PlannedFile*> changed;
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
      PlannedFile& f = files[j];
      f.lfs = entry.value("uploadMode", "regular") == "lfs";
      std::string local_oid = f.lfs ? f.digests.sha256.hex() : f.digests.git_blob.hex();
      if (!(entry.contains("oid") && entry["oid"] == local_oid)) changed.push_back(&f);
    }
  }
  if (changed.empty()) {
    std::cout << "Everything up to date: " << ref.id() << "@" << options.branch << " is " << head.value_or("empty") << "\n";
    return Status::ok();
  }

  // Upload the LFS objects the hub does not have yet.
  std::vector<PlannedFile*> lfs;
  for (auto* f : changed)
    if (f->lfs) lfs.push_back(f);
  constexpr std::size_t kBatch = 100;
  std::vector<std::pair<PlannedFile*, std::string>> uploads;
  std::uint64_t upload_bytes = 0;
  for (std::size_t i = 0; i < lfs.size(); i += kBatch) {
    json request = {{"operation", "upload"}, {"transfers", {"basic"}}, {"hash_algo", "sha256"},
                    {"ref", {{"name", options.branch}}}, {"objects", json::array()}};
    for (std::size_t j = i; j < std::min(lfs.size(), i + kBatch); ++j)
      request["objects"].push_back({{"oid", lfs[j]->digests.sha256.hex()}, {"size", lfs[j]->local.size}});
    GROVE_ASSIGN_OR_RETURN(hub::Reply reply, client.request("POST", "/" + ref.id() + ".git/info/lfs/objects/batch",
                                                             request.dump(), "application/vnd.git-lfs+json",
                                                             {{"Accept", "application/vnd.git-lfs+json"}}));
    if (!reply.ok()) return hub::status_from_reply(reply, "LFS batch");
    json answer = json::parse(reply.body, nullptr, false);
    if (!answer.is_object() || !answer["objects"].is_array()) return internal_error("LFS batch: malformed answer");
    for (std::size_t j = i; j < std::min(lfs.size(), i + kBatch); ++j) {
      const json& object = answer["objects"][j - i];
      if (object.contains("error"))
        return invalid_argument("LFS object for " + lfs[j]->local.path + " refused: " + object["error"].value("message", ""));
      if (object.contains("actions") && object["actions"].contains("upload")) {
        uploads.emplace_back(lfs[j], object["actions"]["upload"]["href"].get<std::string>());
        upload_bytes += lfs[j]->local.size;
      }
    }
  }
  if (!uploads.empty()) {
    Progress progress("uploading", upload_bytes);
    std::uint64_t before = 0;
    for (auto& [file, href] : uploads) {
      GROVE_ASSIGN_OR_RETURN(hub::Reply reply, client.upload_file(href, file->local.absolute, file->local.size,
                                                                  [&](std::uint64_t n) { progress.update(before + n); }));
      if (!reply.ok()) return hub::status_from_reply(reply, "upload of " + file->local.path);
      before += file->local.size;
    }
    progress.finish();
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
