#include "hub/protocol.h"

#include <map>
#include <set>

#include "common/digest.h"
#include "registry/git_objects.h"

namespace grove::hub {

using nlohmann::json;

Result<json> parse_json_body(const Request& request) {
  json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded()) return invalid_argument("request body is not valid JSON");
  return body;
}

Result<std::size_t> parse_limit(const Request& request, std::size_t fallback, std::size_t max) {
  auto v = request.path.param("limit");
  if (!v) return fallback;
  std::size_t n = 0;
  try {
    n = std::stoul(*v);
  } catch (...) {
    return invalid_argument("limit must be a positive integer, got '" + *v + "'");
  }
  if (n == 0) return invalid_argument("limit must be a positive integer");
  return std::min(n, max);
}

Result<std::size_t> parse_cursor(const Request& request) {
  auto v = request.path.param("cursor");
  if (!v) return std::size_t{0};
  auto decoded = base64_decode(*v);
  if (!decoded.is_ok() || decoded->empty() || decoded->find_first_not_of("0123456789") != std::string::npos)
    return invalid_argument("malformed cursor");
  return static_cast<std::size_t>(std::stoull(*decoded));
}

std::string next_link(const Hub& hub, const Request& request, std::size_t next_offset) {
  std::string path = std::string(request.target.substr(0, request.target.find('?')));
  std::string query;
  for (const auto& [k, v] : request.path.query) {
    if (k == "cursor") continue;
    query += (query.empty() ? "" : "&") + url_encode(k) + "=" + url_encode(v);
  }
  query += (query.empty() ? "" : "&") + std::string("cursor=") + url_encode(base64_encode(std::to_string(next_offset)));
  // Collapse the duplicate slashes some clients send so the link is canonical.
  std::string clean;
  for (char c : path)
    if (!(c == '/' && !clean.empty() && clean.back() == '/')) clean.push_back(c);
  return "<" + hub.options().public_url + clean + "?" + query + ">; rel=\"next\"";
}

std::string repo_object_id(const registry::Repo& repo) {
  return Sha1::of(std::string_view("repo:" + std::to_string(repo.id) + ":" + std::to_string(repo.created_at)))
      .hex()
      .substr(0, 24);
}

json model_summary_json(const registry::Repo& repo, bool full) {
  json out = {{"_id", repo_object_id(repo)},
              {"id", repo.id_string()},
              {"modelId", repo.id_string()},
              {"likes", 0},
              {"trendingScore", 0},
              {"private", repo.is_private},
              {"downloads", 0},
              {"tags", repo.tags},
              {"createdAt", iso8601_ms(repo.created_at)}};
  if (repo.pipeline_tag) out["pipeline_tag"] = *repo.pipeline_tag;
  if (repo.library_name) out["library_name"] = *repo.library_name;
  if (full) {
    out["author"] = repo.ns;
    out["lastModified"] = iso8601_ms(repo.updated_at);
    out["gated"] = false;
    out["disabled"] = false;
  }
  return out;
}

json file_entry_json(const registry::FileEntry& file) {
  json out = {{"type", "file"}, {"oid", file.blob_oid.hex()}, {"size", file.size}, {"path", file.path}};
  if (file.lfs) {
    out["lfs"] = {{"oid", file.sha256.hex()},
                  {"size", file.size},
                  {"pointerSize", registry::lfs_pointer(file.sha256, file.size).size()}};
  }
  return out;
}

json model_info_json(const Hub& hub, const registry::Repo& repo, const std::string& commit_id,
                     const std::vector<registry::FileEntry>& files, bool blobs) {
  json info = model_summary_json(repo, true);
  info["sha"] = commit_id;
  info["cardData"] = repo.card_data;
  info["xetEnabled"] = false;
  info["url"] = hub.options().public_url + "/" + repo.id_string();
  json siblings = json::array();
  for (const auto& f : files) {
    json s = {{"rfilename", f.path}};
    if (blobs) {
      s["size"] = f.size;
      s["blobId"] = f.blob_oid.hex();
      if (f.lfs)
        s["lfs"] = {{"sha256", f.sha256.hex()},
                    {"size", f.size},
                    {"pointerSize", registry::lfs_pointer(f.sha256, f.size).size()}};
    }
    siblings.push_back(std::move(s));
  }
  info["siblings"] = std::move(siblings);
  return info;
}

json select_expanded(const json& info, const std::vector<std::string>& expand) {
  if (expand.empty()) return info;
  json out = {{"_id", info["_id"]}, {"id", info["id"]}};
  for (const auto& key : expand)
    if (info.contains(key)) out[key] = info[key];
  return out;
}

Result<json> tree_entries_json(const std::vector<registry::FileEntry>& files, const std::string& dir,
                               bool recursive) {
  std::string prefix = dir.empty() ? "" : dir + "/";
  auto tree_oids = registry::git_tree_oids(files);
  std::map<std::string, json> entries;  // sorted by path
  bool found = dir.empty();
  for (const auto& f : files) {
    if (!f.path.starts_with(prefix)) continue;
    found = true;
    std::string rel = f.path.substr(prefix.size());
    // Every folder between `dir` and the file, or only the first one when not recursive.
    std::size_t slash = rel.find('/');
    while (slash != std::string::npos) {
      std::string folder = prefix + rel.substr(0, slash);
      entries.emplace(folder, json{{"type", "directory"}, {"oid", tree_oids[folder].hex()}, {"size", 0}, {"path", folder}});
      if (!recursive) break;
      slash = rel.find('/', slash + 1);
    }
    if (recursive || rel.find('/') == std::string::npos) entries.emplace(f.path, file_entry_json(f));
  }
  if (!found) return Status(Code::kEntryNotFound, "Entry '" + dir + "' not found");
  json out = json::array();
  for (auto& [path, entry] : entries) out.push_back(std::move(entry));
  return out;
}

bool should_use_lfs(const std::string& path, std::uint64_t size, std::string_view sample) {
  static constexpr const char* kWeightSuffixes[] = {
      ".safetensors", ".gguf", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".h5", ".msgpack", ".npy", ".npz",
      ".pkl", ".tflite", ".ot", ".model", ".arrow", ".parquet", ".zip", ".gz", ".tar", ".zst", ".xz", ".7z"};
  if (size >= (10ull << 20)) return true;
  for (const char* suffix : kWeightSuffixes)
    if (path.ends_with(suffix)) return true;
  return sample.find('\0') != std::string_view::npos;
}

}  // namespace grove::hub
