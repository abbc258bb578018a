#include "hub/protocol.h"

#include <map>
#include <set>
#include <string_view>

#include "common/digest.h"
#include "registry/git_objects.h"

namespace grove::hub {

using nlohmann::json;

namespace {
// Response headers browser code may read; X-Linked-* and Accept-Ranges matter for downloads.
constexpr const char* kCorsExposedHeaders =
    "X-Repo-Commit, X-Request-Id, X-Error-Code, X-Error-Message, X-Total-Count, ETag, Link, Accept-Ranges, "
    "Content-Range, X-Linked-Size, X-Linked-Etag";
constexpr const char* kCorsAllowedMethods = "GET, HEAD, POST, PUT, DELETE, OPTIONS";
constexpr const char* kCorsAllowedHeaders =
    "Authorization, Content-Type, Range, Accept, X-Request-Id, X-Amzn-Trace-Id, User-Agent";
constexpr const char* kCorsMaxAgeSeconds = "86400";
}  // namespace

void add_cors_headers(http::fields& headers) {
  headers.set(http::field::access_control_allow_origin, "*");
  headers.set(http::field::access_control_expose_headers, kCorsExposedHeaders);
}

Response cors_preflight_response() {
  Response r;
  r.status = http::status::no_content;
  r.headers.set(http::field::access_control_allow_methods, kCorsAllowedMethods);
  r.headers.set(http::field::access_control_allow_headers, kCorsAllowedHeaders);
  r.headers.set(http::field::access_control_max_age, kCorsMaxAgeSeconds);
  return r;
}

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
              {"downloads", repo.downloads},
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
  // The bytes this revision's files take (the Hub counts every revision; we count this one).
  std::uint64_t used = 0;
  for (const auto& f : files) used += f.size;
  info["usedStorage"] = used;
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

Result<PathsInfoQuery> parse_paths_info_body(std::string_view content_type, std::string_view body) {
  PathsInfoQuery query;
  if (content_type.starts_with("application/json")) {
    json value = json::parse(body, nullptr, false);
    if (value.is_discarded() || !value.is_object() || !value.contains("paths") || !value["paths"].is_array())
      return invalid_argument("paths-info body must be a JSON object with an array \"paths\"");
    for (const auto& p : value["paths"]) {
      if (!p.is_string()) return invalid_argument("\"paths\" must hold strings");
      query.paths.push_back(p.get<std::string>());
    }
    if (value.contains("expand")) {
      if (!value["expand"].is_boolean()) return invalid_argument("\"expand\" must be true or false");
      query.expand = value["expand"].get<bool>();
    }
  } else {
    GROVE_ASSIGN_OR_RETURN(auto form, parse_form(body));
    for (auto [it, end] = form.equal_range("paths"); it != end; ++it) query.paths.push_back(it->second);
    if (auto it = form.find("expand"); it != form.end()) query.expand = it->second == "true" || it->second == "True" || it->second == "1";
  }
  if (query.paths.size() > kMaxPathsInfoPaths)
    return invalid_argument("at most " + std::to_string(kMaxPathsInfoPaths) + " paths per paths-info request");
  return query;
}

json paths_info_json(const std::vector<registry::FileEntry>& files, const std::vector<std::string>& paths) {
  std::map<std::string_view, const registry::FileEntry*> by_path;
  for (const auto& f : files) by_path.emplace(f.path, &f);
  auto tree_oids = registry::git_tree_oids(files);  // every folder, keyed by path
  json out = json::array();
  std::set<std::string> seen;
  for (std::string path : paths) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();  // "a/" names the folder "a"
    if (path.empty() || path == "/" || !seen.insert(path).second) continue;
    if (auto f = by_path.find(path); f != by_path.end()) {
      out.push_back(file_entry_json(*f->second));
    } else if (auto t = tree_oids.find(path); t != tree_oids.end()) {
      out.push_back({{"type", "directory"}, {"oid", t->second.hex()}, {"size", 0}, {"path", path}});
    }
  }
  return out;
}

Status refuse_pull_request(const Request& request, const std::vector<std::string>& revision_segments) {
  constexpr const char* kNoPullRequests =
      "Pull requests are not supported on this hub yet: commit to a branch instead (without create_pr)";
  if (request.path.flag("create_pr", false)) return invalid_argument(kNoPullRequests);
  std::string revision;
  for (const auto& seg : revision_segments) revision += (revision.empty() ? "" : "/") + seg;
  if (revision.starts_with("refs/pr/")) return invalid_argument(std::string(kNoPullRequests) + " ('" + revision + "')");
  return Status::ok();
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
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
