// Refs and history: list refs and commits, create and delete branches and tags.
#include <algorithm>

#include "hub/access.h"
#include "hub/errors.h"
#include "hub/handlers.h"
#include "hub/protocol.h"

namespace grove::hub {

using nlohmann::json;

namespace {

// A ref name from the "{rest*}" segments: raw multi-segment names ("feature/x") and encoded
// ones ("feature%2Fx", already decoded into one segment) give the same name.
Result<std::string> ref_name_from(const RouteParams& params) {
  if (params.rest.empty()) return invalid_argument("missing ref name in URL");
  std::string name;
  for (const auto& seg : params.rest) name += (name.empty() ? "" : "/") + seg;
  return name;
}

// Branch and tag bodies are optional JSON objects; an empty body is {}.
Result<json> optional_json_object(const Request& request) {
  if (request.body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  GROVE_ASSIGN_OR_RETURN(json body, parse_json_body(request));
  if (!body.is_object()) return invalid_argument("request body must be a JSON object");
  return body;
}

Result<registry::Repo> writable_repo(Hub& hub, const Request& request, const RouteParams& params) {
  GROVE_ASSIGN_OR_RETURN(auto repo, find_readable_repo(hub, request, params["ns"], params["name"]));
  GROVE_RETURN_IF_ERROR(require_writer(request, repo.ns));
  return repo;
}

}  // namespace

Result<Response> handle_refs(Hub& hub, Request& request, const RouteParams& params) {
  GROVE_ASSIGN_OR_RETURN(auto repo, find_readable_repo(hub, request, params["ns"], params["name"]));
  GROVE_ASSIGN_OR_RETURN(auto refs, hub.registry().list_refs(repo.id));
  auto list = [](const std::vector<registry::Ref>& refs, const char* prefix) {
    json out = json::array();
    for (const auto& ref : refs)
      out.push_back({{"name", ref.name}, {"ref", std::string(prefix) + ref.name}, {"targetCommit", ref.commit_id}});
    return out;
  };
  json out = {{"branches", list(refs.branches, "refs/heads/")},
              {"tags", list(refs.tags, "refs/tags/")},
              {"converts", json::array()}};
  if (request.path.flag("include_prs", false)) out["pullRequests"] = json::array();
  return Response::json(out);
}

Result<Response> handle_commits(Hub& hub, Request& request, const RouteParams& params) {
  GROVE_ASSIGN_OR_RETURN(auto repo, find_readable_repo(hub, request, params["ns"], params["name"]));
  GROVE_ASSIGN_OR_RETURN(auto rp, resolve_revision_path(hub, repo, params.rest));
  GROVE_ASSIGN_OR_RETURN(std::size_t limit, parse_limit(request, 50, 1000));
  GROVE_ASSIGN_OR_RETURN(std::size_t offset, parse_cursor(request));
  GROVE_ASSIGN_OR_RETURN(auto commits, hub.registry().list_commits(repo.id, rp.commit, limit + 1, offset));
  bool more = commits.size() > limit;
  if (more) commits.resize(limit);
  // Python's list_repo_commits(formatted=True) sends expand[]=formatted; the Hub's formatted
  // copies are HTML, ours are the same text escaped.
  auto expand = request.path.params("expand");
  bool formatted = std::find(expand.begin(), expand.end(), "formatted") != expand.end();
  json out = json::array();
  for (const auto& c : commits) {
    json entry = {{"id", c.id},
                  {"title", c.title},
                  {"message", c.message},
                  {"authors", json::array({{{"user", c.author}}})},
                  {"date", iso8601_ms(c.time * 1000)}};
    if (formatted) entry["formatted"] = {{"title", html_escape(c.title)}, {"message", html_escape(c.message)}};
    out.push_back(std::move(entry));
  }
  GROVE_ASSIGN_OR_RETURN(std::size_t total, hub.registry().count_commits(repo.id, rp.commit));
  Response r = Response::json(out);
  r.headers.set("X-Total-Count", std::to_string(total));
  if (more) r.headers.set(http::field::link, next_link(hub, request, offset + limit));
  return r;
}

// POST .../branch/{branch} {startingPoint?, overwrite?}: 409 when the branch exists, unless
// `overwrite` moves it to the starting point.
Result<Response> handle_create_branch(Hub& hub, Request& request, const RouteParams& params) {
  GROVE_ASSIGN_OR_RETURN(auto repo, writable_repo(hub, request, params));
  GROVE_ASSIGN_OR_RETURN(std::string branch, ref_name_from(params));
  GROVE_ASSIGN_OR_RETURN(json body, optional_json_object(request));
  if (body.contains("emptyBranch") && body["emptyBranch"] == true)
    return invalid_argument("emptyBranch is not supported: branches start from an existing commit");
  std::string start = repo.default_branch;
  if (body.contains("startingPoint") && !body["startingPoint"].is_null()) {
    if (!body["startingPoint"].is_string()) return invalid_argument("\"startingPoint\" must be a string");
    start = body["startingPoint"].get<std::string>();
  }
  bool overwrite = body.contains("overwrite") && body["overwrite"] == true;
  Status created = hub.registry().create_branch(repo.id, branch, start);
  if (created.code() == Code::kAlreadyExists && overwrite) {
    // Resolve first so a bad starting point leaves the existing branch alone.
    GROVE_ASSIGN_OR_RETURN(std::string commit, hub.registry().resolve_revision(repo.id, start));
    GROVE_RETURN_IF_ERROR(hub.registry().delete_branch(repo.id, branch));
    created = hub.registry().create_branch(repo.id, branch, commit);
  }
  GROVE_RETURN_IF_ERROR(created);
  return Response::json(json::object());
}

Result<Response> handle_delete_branch(Hub& hub, Request& request, const RouteParams& params) {
  GROVE_ASSIGN_OR_RETURN(auto repo, writable_repo(hub, request, params));
  GROVE_ASSIGN_OR_RETURN(std::string branch, ref_name_from(params));
  GROVE_RETURN_IF_ERROR(hub.registry().delete_branch(repo.id, branch));
  return Response::json(json::object());
}

// POST .../tag/{revision} {"tag", "message"?}: tags are lightweight, so `message` is accepted
// and not kept. 409 when the tag exists.
Result<Response> handle_create_tag(Hub& hub, Request& request, const RouteParams& params) {
  GROVE_ASSIGN_OR_RETURN(auto repo, writable_repo(hub, request, params));
  GROVE_ASSIGN_OR_RETURN(std::string revision, ref_name_from(params));
  GROVE_ASSIGN_OR_RETURN(json body, optional_json_object(request));
  if (!body.contains("tag") || !body["tag"].is_string()) return invalid_argument("body must name the \"tag\" to create");
  GROVE_RETURN_IF_ERROR(hub.registry().create_tag(repo.id, body["tag"].get<std::string>(), revision));
  return Response::json(json::object());
}

Result<Response> handle_delete_tag(Hub& hub, Request& request, const RouteParams& params) {
  GROVE_ASSIGN_OR_RETURN(auto repo, writable_repo(hub, request, params));
  GROVE_ASSIGN_OR_RETURN(std::string tag, ref_name_from(params));
  GROVE_RETURN_IF_ERROR(hub.registry().delete_tag(repo.id, tag));
  return Response::json(json::object());
}

}  // namespace grove::hub
