// Repos and what is in them: identity, create/delete, settings, listing, model info, tree, paths-info.
#include <algorithm>
#include <map>
#include <set>
#include <string_view>

#include "common/digest.h"
#include "common/log.h"
#include "hub/access.h"
#include "hub/errors.h"
#include "hub/handlers.h"
#include "hub/protocol.h"
#include "registry/git_objects.h"
#include "registry/repo_path.h"

namespace grove::hub {

using nlohmann::json;

Result<Response> handle_whoami(Hub&, Request& request, const RouteParams&) {
  if (!request.caller) return Status(Code::kUnauthenticated, kInvalidCredentials);
  const auto& token = *request.caller;
  return Response::json({{"type", "user"},
                         {"id", token.user.id},
                         {"name", token.user.name},
                         {"fullname", token.user.name},
                         {"orgs", json::array()},
                         {"auth",
                          {{"type", "access_token"},
                           {"accessToken",
                            {{"displayName", token.display_name},
                             {"role", registry::scope_name(token.scope)},
                             {"createdAt", iso8601_ms(token.created_at * 1000)}}}}}});
}

Result<Response> handle_health(Hub&, Request&, const RouteParams&) {
  return Response::json({{"status", "ok"}});
}

// Python sends {"name": "demo", "organization": "me"|null}; a bare name means the caller's
// namespace; "ns/name" in `name` is accepted too.
static Result<std::pair<std::string, std::string>> repo_id_from_body(const Request& request, const json& body) {
  if (!body.is_object() || !body.contains("name") || !body["name"].is_string())
    return invalid_argument("request body must be a JSON object with a string \"name\"");
  if (body.contains("type") && !body["type"].is_null() && body["type"] != "model")
    return invalid_argument("only model repos are supported (type \"" + body["type"].dump() + "\")");
  std::string name = body["name"];
  std::string ns;
  if (auto slash = name.find('/'); slash != std::string::npos) {
    ns = name.substr(0, slash);
    name = name.substr(slash + 1);
  } else if (body.contains("organization") && body["organization"].is_string()) {
    ns = body["organization"];
  } else if (request.caller) {
    ns = request.caller->user.name;
  } else {
    return Status(Code::kUnauthenticated, "Authentication required to create a repo");
  }
  GROVE_RETURN_IF_ERROR(registry::validate_repo_name(ns).with_context("invalid namespace"));
  GROVE_RETURN_IF_ERROR(registry::validate_repo_name(name).with_context("invalid repo name"));
  return std::pair{ns, name};
}

Result<Response> handle_create_repo(Hub& hub, Request& request, const RouteParams&) {
  GROVE_ASSIGN_OR_RETURN(json body, parse_json_body(request));
  GROVE_ASSIGN_OR_RETURN(auto id, repo_id_from_body(request, body));
  GROVE_RETURN_IF_ERROR(require_writer(request, id.first));
  bool is_private = (body.contains("private") && body["private"] == true) ||
                    (body.contains("visibility") && body["visibility"] == "private");
  auto repo = hub.registry().create_repo(id.first, id.second, request.caller->user.name, is_private);
  std::string url = hub.options().public_url + "/" + id.first + "/" + id.second;
  if (!repo.is_ok() && repo.status().code() == Code::kAlreadyExists) {
    // create_repo(exist_ok=True) reads "url" from this 409.
    Response r = error_response(Status(Code::kAlreadyExists, "You already created this model repo"));
    r.body = json{{"error", "You already created this model repo"}, {"url", url}}.dump();
    return r;
  }
  if (!repo.is_ok()) return repo.status();
  return Response::json({{"url", url}, {"name", repo->id_string()}, {"id", repo_object_id(*repo)}});
}

Result<Response> handle_delete_repo(Hub& hub, Request& request, const RouteParams&) {
  GROVE_ASSIGN_OR_RETURN(json body, parse_json_body(request));
  GROVE_ASSIGN_OR_RETURN(auto id, repo_id_from_body(request, body));
  GROVE_ASSIGN_OR_RETURN(auto repo, find_readable_repo(hub, request, id.first, id.second));
  GROVE_RETURN_IF_ERROR(require_writer(request, repo.ns));
  GROVE_RETURN_IF_ERROR(hub.registry().delete_repo(repo.id));
  return Response::text("OK");
}

// "ns/name" from a move request's field.
static Result<std::pair<std::string, std::string>> repo_id_field(const json& body, const char* field) {
  if (!body.contains(field) || !body[field].is_string())
    return invalid_argument(std::string("request body must name \"") + field + "\" as \"namespace/name\"");
  std::string id = body[field];
  auto slash = id.find('/');
  if (slash == std::string::npos || id.find('/', slash + 1) != std::string::npos)
    return invalid_argument(std::string("\"") + field + "\" must be \"namespace/name\", got '" + id + "'");
  std::string ns = id.substr(0, slash), name = id.substr(slash + 1);
  GROVE_RETURN_IF_ERROR(registry::validate_repo_name(ns).with_context(std::string("invalid namespace in ") + field));
  GROVE_RETURN_IF_ERROR(registry::validate_repo_name(name).with_context(std::string("invalid repo name in ") + field));
  return std::pair{ns, name};
}

// POST /api/repos/move {"fromRepo":"a/b","toRepo":"c/d","type":"model"}: the caller must be
// able to write to both namespaces. The old name then answers with a 307 to the new one.
Result<Response> handle_move_repo(Hub& hub, Request& request, const RouteParams&) {
  GROVE_ASSIGN_OR_RETURN(json body, parse_json_body(request));
  if (!body.is_object()) return invalid_argument("request body must be a JSON object");
  if (body.contains("type") && !body["type"].is_null() && body["type"] != "model")
    return invalid_argument("only model repos are supported (type " + body["type"].dump() + ")");
  GROVE_ASSIGN_OR_RETURN(auto from, repo_id_field(body, "fromRepo"));
  GROVE_ASSIGN_OR_RETURN(auto to, repo_id_field(body, "toRepo"));
  GROVE_ASSIGN_OR_RETURN(auto repo, find_readable_repo(hub, request, from.first, from.second));
  GROVE_RETURN_IF_ERROR(require_writer(request, repo.ns));
  GROVE_RETURN_IF_ERROR(require_writer(request, to.first));
  GROVE_ASSIGN_OR_RETURN(auto moved, hub.registry().rename_repo(repo.id, to.first, to.second));
  return Response::json({{"url", repo_url(hub, moved)}, {"name", moved.id_string()}, {"id", repo_object_id(moved)}});
}

// Datasets and spaces share the Hub's URL space but not this hub: a clean RepoNotFound, so
// clients report "not found" rather than a routing error (specs/hf-protocol.md §5).
Result<Response> handle_not_a_model(Hub&, Request& request, const RouteParams&) {
  const std::string& kind = request.path.segments.size() > 1 ? request.path.segments[1] : "";
  return Status(Code::kRepoNotFound, "this hub serves models only, not " + kind);
}

Result<Response> handle_repo_settings(Hub& hub, Request& request, const RouteParams& params) {
  if (params["kind"] != "models") return Status(Code::kRepoNotFound, "only model repos exist on this hub");
  GROVE_ASSIGN_OR_RETURN(auto repo, find_readable_repo(hub, request, params["ns"], params["name"]));
  GROVE_RETURN_IF_ERROR(require_writer(request, repo.ns));
  GROVE_ASSIGN_OR_RETURN(json body, parse_json_body(request));
  if (body.contains("private")) {
    if (!body["private"].is_boolean()) return invalid_argument("\"private\" must be true or false");
    GROVE_RETURN_IF_ERROR(hub.registry().set_private(repo.id, body["private"]));
  }
  return Response::json(json::object());
}

// `sort` and `direction` of GET /api/models. Likes and trending scores are all 0 on this hub,
// so sorting by them keeps the default order (newest first).
static Status parse_repo_sort(const Request& request, registry::RepoQuery& query) {
  if (auto sort = request.path.param("sort")) {
    if (*sort == "lastModified" || *sort == "likes" || *sort == "trendingScore" || *sort == "likes30d")
      query.sort = registry::RepoSort::kLastModified;
    else if (*sort == "createdAt")
      query.sort = registry::RepoSort::kCreatedAt;
    else if (*sort == "id" || *sort == "modelId")
      query.sort = registry::RepoSort::kId;
    else if (*sort == "downloads" || *sort == "downloadsAllTime")
      query.sort = registry::RepoSort::kDownloads;
    else
      return invalid_argument("unknown sort '" + *sort + "': use downloads, likes, createdAt, lastModified or id");
  }
  if (auto direction = request.path.param("direction")) {
    if (*direction != "-1" && *direction != "1") return invalid_argument("direction must be -1 or 1");
    query.descending = *direction == "-1";
  }
  return Status::ok();
}

Result<Response> handle_list_models(Hub& hub, Request& request, const RouteParams&) {
  registry::RepoQuery query;
  query.search = request.path.param("search");
  query.author = request.path.param("author");
  query.tags = request.path.params("filter");
  query.pipeline_tag = request.path.param("pipeline_tag");
  if (request.caller) query.viewer = request.caller->user.name;
  GROVE_RETURN_IF_ERROR(parse_repo_sort(request, query));
  GROVE_ASSIGN_OR_RETURN(query.limit, parse_limit(request, 100, 1000));
  GROVE_ASSIGN_OR_RETURN(query.offset, parse_cursor(request));
  ++query.limit;  // one more tells whether a next page exists
  GROVE_ASSIGN_OR_RETURN(auto repos, hub.registry().list_repos(query));
  --query.limit;
  bool more = repos.size() > query.limit;
  if (more) repos.resize(query.limit);
  auto expand = request.path.params("expand");
  bool full = request.path.flag("full", false) || !expand.empty();
  bool card = full || request.path.flag("cardData", false);
  json out = json::array();
  // sha and siblings cost two registry reads per item: only for full=true or when expanded.
  auto expanded = [&](const char* key) { return std::find(expand.begin(), expand.end(), key) != expand.end(); };
  bool with_files = (full && expand.empty()) || expanded("sha") || expanded("siblings");
  for (const auto& repo : repos) {
    json item = model_summary_json(repo, full);
    if (card) item["cardData"] = repo.card_data;
    if (with_files) {
      GROVE_ASSIGN_OR_RETURN(std::string head, hub.registry().resolve_revision(repo.id, "HEAD"));
      GROVE_ASSIGN_OR_RETURN(auto files, hub.registry().list_files(repo.id, head));
      item["sha"] = head;
      json siblings = json::array();
      for (const auto& f : files) siblings.push_back({{"rfilename", f.path}});  // rfilename only in lists (§8)
      item["siblings"] = std::move(siblings);
    }
    out.push_back(select_expanded(item, expand));
  }
  Response r = Response::json(out);
  if (more) r.headers.set(http::field::link, next_link(hub, request, query.offset + repos.size()));
  return r;
}

// The uncached model info answer (handle_model_info in handlers_models.cpp caches it).
Result<Response> build_model_info(Hub& hub, Request& request, const RouteParams& params, bool& complete) {
  GROVE_ASSIGN_OR_RETURN(auto repo, find_readable_repo(hub, request, params["ns"], params["name"]));
  std::string commit_id;
  if (params.rest.empty()) {
    GROVE_ASSIGN_OR_RETURN(commit_id, hub.registry().resolve_revision(repo.id, "HEAD"));
  } else {
    GROVE_ASSIGN_OR_RETURN(auto rp, resolve_revision_path(hub, repo, params.rest));
    if (!rp.path.empty()) return Status(Code::kRevisionNotFound, "Revision '" + rp.revision + "/" + rp.path + "' not found");
    commit_id = rp.commit;
  }
  GROVE_ASSIGN_OR_RETURN(auto files, hub.registry().list_files(repo.id, commit_id));
  json info = model_info_json(hub, repo, commit_id, files, request.path.flag("blobs", false));
  auto expand = request.path.params("expand");
  // config and safetensors read blobs (once per commit): only when asked for or by default.
  // Unreadable storage costs those two fields, not the whole answer.
  auto wants = [&](const char* key) {
    return expand.empty() || std::find(expand.begin(), expand.end(), key) != expand.end();
  };
  if (wants("config") || wants("safetensors")) {
    auto facts = hub.model_facts().get(hub.store(), commit_id, files);
    if (facts.is_ok())
      info.update(*facts);
    else
      complete = false;
    if (!facts.is_ok()) GROVE_LOG(kWarn, "model info of " << repo.id_string() << ": " << facts.status().to_string());
  }
  add_lineage_info(hub, request, repo, expand, info);  // handlers_lineage.cpp
  if (expand.empty() || std::find(expand.begin(), expand.end(), "groveExports") != expand.end())
    add_export_info(hub, repo, commit_id, info);  // handlers_export.cpp
  return Response::json(select_expanded(info, expand));
}

// `lastCommit` of tree and paths-info entries (expand, §3.3/§3.4): for each file or folder, the
// newest commit on the first-parent chain from `commit` since which it has had its current oid
// (blob id, or tree id for a folder). One walk serves every entry; it looks back at most
// kLastCommitDepth commits and names the oldest one seen for anything older.
static Status add_last_commits(Hub& hub, const registry::Repo& repo, const std::string& commit, json& entries) {
  constexpr std::size_t kLastCommitDepth = 200;
  if (entries.empty()) return Status::ok();
  GROVE_ASSIGN_OR_RETURN(auto chain, hub.registry().list_commits(repo.id, commit, kLastCommitDepth, 0));
  if (chain.empty()) return internal_error("commit " + commit + " has no history");
  std::map<std::string, std::string> pending;  // path -> oid at `commit`
  for (const auto& e : entries) pending.emplace(e["path"].get<std::string>(), e["oid"].get<std::string>());
  std::map<std::string, const registry::Commit*> last;
  for (std::size_t i = 1; i < chain.size() && !pending.empty(); ++i) {
    GROVE_ASSIGN_OR_RETURN(auto files, hub.registry().list_files(repo.id, chain[i].id));
    std::map<std::string_view, std::string> blobs;
    for (const auto& f : files) blobs.emplace(f.path, f.blob_oid.hex());
    auto trees = registry::git_tree_oids(files);
    for (auto it = pending.begin(); it != pending.end();) {
      std::string before;
      if (auto b = blobs.find(it->first); b != blobs.end()) before = b->second;
      else if (auto t = trees.find(it->first); t != trees.end()) before = t->second.hex();
      if (before != it->second) {
        last[it->first] = &chain[i - 1];
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& [path, oid] : pending) last[path] = &chain.back();
  for (auto& e : entries) {
    const registry::Commit& c = *last[e["path"].get<std::string>()];
    e["lastCommit"] = {{"id", c.id}, {"title", c.title}, {"date", iso8601_ms(c.time * 1000)}};
  }
  return Status::ok();
}

Result<Response> handle_tree(Hub& hub, Request& request, const RouteParams& params) {
  GROVE_ASSIGN_OR_RETURN(auto repo, find_readable_repo(hub, request, params["ns"], params["name"]));
  GROVE_ASSIGN_OR_RETURN(auto rp, resolve_revision_path(hub, repo, params.rest));
  GROVE_ASSIGN_OR_RETURN(auto files, hub.registry().list_files(repo.id, rp.commit));
  GROVE_ASSIGN_OR_RETURN(json entries, tree_entries_json(files, rp.path, request.path.flag("recursive", false)));
  GROVE_ASSIGN_OR_RETURN(std::size_t limit, parse_limit(request, 1000, 1000));
  GROVE_ASSIGN_OR_RETURN(std::size_t offset, parse_cursor(request));
  json page = json::array();
  for (std::size_t i = offset; i < entries.size() && i < offset + limit; ++i) page.push_back(std::move(entries[i]));
  if (request.path.flag("expand", false)) GROVE_RETURN_IF_ERROR(add_last_commits(hub, repo, rp.commit, page));
  Response r = Response::json(page);
  if (offset + limit < entries.size()) r.headers.set(http::field::link, next_link(hub, request, offset + limit));
  r.headers.set("X-Repo-Commit", rp.commit);
  return r;
}

Result<Response> handle_paths_info(Hub& hub, Request& request, const RouteParams& params) {
  GROVE_ASSIGN_OR_RETURN(auto repo, find_readable_repo(hub, request, params["ns"], params["name"]));
  GROVE_ASSIGN_OR_RETURN(auto rp, resolve_revision_path(hub, repo, params.rest));
  if (!rp.path.empty()) return Status(Code::kRevisionNotFound, "Revision '" + rp.revision + "/" + rp.path + "' not found");
  GROVE_ASSIGN_OR_RETURN(auto query, parse_paths_info_body(request.header_value(http::field::content_type), request.body));
  GROVE_ASSIGN_OR_RETURN(auto files, hub.registry().list_files(repo.id, rp.commit));
  json entries = paths_info_json(files, query.paths);
  // With `expand`, files and folders get lastCommit (§3.4): JS uses it as the snapshot id.
  if (query.expand) GROVE_RETURN_IF_ERROR(add_last_commits(hub, repo, rp.commit, entries));
  Response r = Response::json(entries);
  r.headers.set("X-Repo-Commit", rp.commit);
  return r;
}

}  // namespace grove::hub
