#include "hub/routes.h"

#include "hub/handlers.h"

namespace grove::hub {
namespace {

using enum BodyMode;
using V = http::verb;

// Order matters: the first match wins, so the fixed /api/... routes come before the
// "/{ns}/{name}/..." file routes.
const Route kRoutes[] = {
    {V::get, "/api/whoami-v2", kNone, handle_whoami, nullptr},
    {V::get, "/api/grove/health", kNone, handle_health, nullptr},
    {V::get, "/api/grove/storage", kNone, handle_storage_stats, nullptr},
    {V::get, "/api/grove/lineage/{ns}/{name}", kNone, handle_lineage, nullptr},
    {V::get, "/api/grove/lineage/{ns}/{name}/children", kNone, handle_lineage_children, nullptr},
    {V::get, "/api/grove/export/{ns}/{name}/{rev}/{quant}.gguf", kNone, handle_export, nullptr},
    {V::post, "/api/repos/create", kBuffered, handle_create_repo, nullptr},
    {V::delete_, "/api/repos/delete", kBuffered, handle_delete_repo, nullptr},
    {V::post, "/api/repos/move", kBuffered, handle_move_repo, nullptr},
    {V::put, "/api/repos/{kind}/{ns}/{name}/settings", kBuffered, handle_repo_settings, nullptr},
    {V::post, "/api/validate-yaml", kBuffered, handle_validate_yaml, nullptr},
    {V::get, "/api/models", kNone, handle_list_models, nullptr},
    {V::get, "/api/models/{ns}/{name}", kNone, handle_model_info, nullptr},
    {V::get, "/api/models/{ns}/{name}/revision/{rest*}", kNone, handle_model_info, nullptr},
    {V::get, "/api/models/{ns}/{name}/tree/{rest*}", kNone, handle_tree, nullptr},
    {V::get, "/api/models/{ns}/{name}/refs", kNone, handle_refs, nullptr},
    {V::get, "/api/models/{ns}/{name}/commits/{rest*}", kNone, handle_commits, nullptr},
    {V::post, "/api/models/{ns}/{name}/paths-info/{rest*}", kBuffered, handle_paths_info, nullptr},
    {V::post, "/api/models/{ns}/{name}/branch/{rest*}", kBuffered, handle_create_branch, nullptr},
    {V::delete_, "/api/models/{ns}/{name}/branch/{rest*}", kNone, handle_delete_branch, nullptr},
    {V::post, "/api/models/{ns}/{name}/tag/{rest*}", kBuffered, handle_create_tag, nullptr},
    {V::delete_, "/api/models/{ns}/{name}/tag/{rest*}", kNone, handle_delete_tag, nullptr},
    {V::post, "/api/models/{ns}/{name}/preupload/{rest*}", kBuffered, handle_preupload, nullptr},
    {V::post, "/api/models/{ns}/{name}/commit/{rest*}", kBuffered, handle_commit, nullptr},
    {V::get, "/api/datasets/{rest*}", kNone, handle_not_a_model, nullptr},
    {V::get, "/api/spaces/{rest*}", kNone, handle_not_a_model, nullptr},
    {V::post, "/{ns}/{name}.git/info/lfs/objects/batch", kBuffered, handle_lfs_batch, nullptr},
    {V::put, "/api/grove/lfs/upload/{oid}", kStreamed, nullptr, open_lfs_upload},
    {V::post, "/api/grove/lfs/verify/{oid}", kBuffered, handle_lfs_verify, nullptr},
    {V::put, "/api/grove/lfs/part/{oid}/{part}", kStreamed, nullptr, open_lfs_part},
    {V::post, "/api/grove/lfs/complete/{oid}", kBuffered, handle_lfs_complete, nullptr},
    {V::put, "/api/grove/upload/{ns}/{name}", kStreamed, nullptr, open_grove_upload},
    {V::get, "/{ns}/{name}/resolve/{rest*}", kNone, handle_resolve, nullptr},
    {V::get, "/{ns}/{name}/raw/{rest*}", kNone, handle_raw, nullptr},
    {V::get, "/-/{file}", kNone, handle_web_asset, nullptr},
    {V::get, "/", kNone, handle_web_index, nullptr},
    {V::get, "/{ns}/{name}", kNone, handle_web_index, nullptr},
};

// Matches one pattern; fills params. Segments of the request are already decoded.
bool match_pattern(std::string_view pattern, const std::vector<std::string>& segments, RouteParams& params) {
  std::size_t i = 0;
  while (!pattern.empty()) {
    if (pattern.front() == '/') pattern.remove_prefix(1);
    if (pattern.empty()) break;
    std::size_t slash = pattern.find('/');
    std::string_view part = pattern.substr(0, slash);
    pattern = slash == std::string_view::npos ? std::string_view() : pattern.substr(slash);
    if (part.starts_with('{') && part.ends_with("*}")) {
      params.rest.assign(segments.begin() + static_cast<std::ptrdiff_t>(i), segments.end());
      return true;
    }
    if (i >= segments.size()) return false;
    const std::string& seg = segments[i++];
    if (part.starts_with('{')) {
      std::size_t close = part.find('}');
      std::string_view name = part.substr(1, close - 1);
      std::string_view suffix = part.substr(close + 1);
      if (!seg.ends_with(suffix) || seg.size() == suffix.size()) return false;
      params.vars.emplace(std::string(name), seg.substr(0, seg.size() - suffix.size()));
    } else if (seg != part) {
      return false;
    }
  }
  return i == segments.size();
}

}  // namespace

const std::string& RouteParams::operator[](std::string_view key) const {
  static const std::string kEmpty;
  auto it = vars.find(key);
  return it == vars.end() ? kEmpty : it->second;
}

std::optional<RouteMatch> match_route(const Request& request, bool& method_mismatch) {
  method_mismatch = false;
  http::verb method = request.method == V::head ? V::get : request.method;
  for (const Route& route : kRoutes) {
    RouteParams params;
    if (!match_pattern(route.pattern, request.path.segments, params)) continue;
    if (route.method != method) {
      method_mismatch = true;
      continue;
    }
    return RouteMatch{&route, std::move(params)};
  }
  return std::nullopt;
}

}  // namespace grove::hub
