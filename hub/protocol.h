// The JSON shapes of the Hugging Face Hub API as grove writes them (specs/hf-protocol.md §3),
// and the request-parsing helpers handlers share.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "hub/hub.h"
#include "hub/message.h"

namespace grove::hub {

// CORS (specs/hf-protocol.md §2.7), so browser code can call the API. Every answer gets
// Access-Control-Allow-Origin: * and exposes the headers clients read (X-Repo-Commit, ETag,
// Link, Content-Range, X-Linked-*...); the one list lives in protocol.cpp.
void add_cors_headers(http::fields& headers);
// The 204 answer to an OPTIONS preflight on any path: methods and request headers allowed.
Response cors_preflight_response();

// The body as a JSON value; kInvalidArgument with the parser's complaint otherwise.
Result<nlohmann::json> parse_json_body(const Request& request);
// `limit` query parameter, default and maximum given.
Result<std::size_t> parse_limit(const Request& request, std::size_t fallback, std::size_t max);
// Offset from the opaque `cursor` query parameter (0 when absent).
Result<std::size_t> parse_cursor(const Request& request);
// `<public_url + path?query with cursor=next>; rel="next"`, absolute as the JS client requires.
std::string next_link(const Hub& hub, const Request& request, std::size_t next_offset);

// A stable 24-hex "_id" for a repo, like the Hub's object ids.
std::string repo_object_id(const registry::Repo& repo);

// The default fields of an item of GET /api/models; `full` adds lastModified, author, gated...
nlohmann::json model_summary_json(const registry::Repo& repo, bool full);
// GET /api/models/{id}[/revision/{rev}] for one commit. `blobs` adds sizes and LFS details
// to siblings.
nlohmann::json model_info_json(const Hub& hub, const registry::Repo& repo, const std::string& commit_id,
                               const std::vector<registry::FileEntry>& files, bool blobs);
// With `expand` present, only the named fields plus _id and id are returned.
nlohmann::json select_expanded(const nlohmann::json& info, const std::vector<std::string>& expand);

// One tree entry for a file, as tree listings and paths-info send it.
nlohmann::json file_entry_json(const registry::FileEntry& file);
// Entries under `dir` ("" = root): its children, or with `recursive` everything below it,
// folders included, sorted by path. kEntryNotFound when `dir` is not a folder of the tree.
Result<nlohmann::json> tree_entries_json(const std::vector<registry::FileEntry>& files, const std::string& dir,
                                         bool recursive);

// POST paths-info: Python sends a form body (`paths` repeated, `expand`), JS sends JSON
// {"paths":[...],"expand":bool} (specs/hf-protocol.md §2.4, §3.4). The form is read unless the
// content type is JSON. At most kMaxPathsInfoPaths paths; kInvalidArgument otherwise.
struct PathsInfoQuery {
  std::vector<std::string> paths;
  bool expand = false;
};
inline constexpr std::size_t kMaxPathsInfoPaths = 10000;
Result<PathsInfoQuery> parse_paths_info_body(std::string_view content_type, std::string_view body);
// Tree-style entries for the paths that exist in `files` (files, or folders as directory
// entries), in request order, each once; missing paths are left out.
nlohmann::json paths_info_json(const std::vector<registry::FileEntry>& files, const std::vector<std::string>& paths);

// Pull requests do not exist on this hub yet. A write that asks for one (`create_pr=1` on
// preupload or commit, or a commit to "refs/pr/N") is refused up front with 400 and a message
// saying so, before any upload is wasted on it; Ok otherwise.
Status refuse_pull_request(const Request& request, const std::vector<std::string>& revision_segments);

// Text made safe inside HTML: & < > " ' escaped.
std::string html_escape(std::string_view text);

// The LFS decision for an uploaded file (specs/hf-protocol.md §4.4): weights by name, anything
// of 10 MiB or more, or content that looks binary.
bool should_use_lfs(const std::string& path, std::uint64_t size, std::string_view sample);

}  // namespace grove::hub
