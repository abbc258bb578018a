// Request handlers, one per route of routes.cpp. Each is thin: parse, call the registry or
// the store, translate the answer. Failures come back as Status and become HTTP in errors.cpp.
#pragma once

#include "hub/routes.h"

namespace grove::hub {

// handlers_repo.cpp
Result<Response> handle_whoami(Hub&, Request&, const RouteParams&);
Result<Response> handle_health(Hub&, Request&, const RouteParams&);
Result<Response> handle_create_repo(Hub&, Request&, const RouteParams&);
Result<Response> handle_delete_repo(Hub&, Request&, const RouteParams&);
Result<Response> handle_move_repo(Hub&, Request&, const RouteParams&);
Result<Response> handle_not_a_model(Hub&, Request&, const RouteParams&);
Result<Response> handle_repo_settings(Hub&, Request&, const RouteParams&);
Result<Response> handle_list_models(Hub&, Request&, const RouteParams&);
Result<Response> handle_tree(Hub&, Request&, const RouteParams&);
Result<Response> handle_paths_info(Hub&, Request&, const RouteParams&);
// Model info without the answer cache; `complete` is set false when an optional part (config,
// safetensors) could not be read, so the answer is not worth caching.
Result<Response> build_model_info(Hub&, Request&, const RouteParams&, bool& complete);

// handlers_models.cpp
Result<Response> handle_model_info(Hub&, Request&, const RouteParams&);  // through hub.answers()

// handlers_refs.cpp
Result<Response> handle_refs(Hub&, Request&, const RouteParams&);
Result<Response> handle_commits(Hub&, Request&, const RouteParams&);
Result<Response> handle_create_branch(Hub&, Request&, const RouteParams&);
Result<Response> handle_delete_branch(Hub&, Request&, const RouteParams&);
Result<Response> handle_create_tag(Hub&, Request&, const RouteParams&);
Result<Response> handle_delete_tag(Hub&, Request&, const RouteParams&);

// handlers_upload.cpp
Result<Response> handle_validate_yaml(Hub&, Request&, const RouteParams&);
Result<Response> handle_preupload(Hub&, Request&, const RouteParams&);
Result<Response> handle_lfs_batch(Hub&, Request&, const RouteParams&);
Result<std::unique_ptr<BodySink>> open_lfs_upload(Hub&, Request&, const RouteParams&);
Result<Response> handle_lfs_verify(Hub&, Request&, const RouteParams&);
Result<std::unique_ptr<BodySink>> open_lfs_part(Hub&, Request&, const RouteParams&);
Result<Response> handle_lfs_complete(Hub&, Request&, const RouteParams&);
// grove's own upload: the body first, its name (SHA-256) in the answer. For `grove push`, which
// then need not hash a file before sending it.
Result<std::unique_ptr<BodySink>> open_grove_upload(Hub&, Request&, const RouteParams&);
Result<Response> handle_commit(Hub&, Request&, const RouteParams&);

// handlers_files.cpp
Result<Response> handle_resolve(Hub&, Request&, const RouteParams&);
Result<Response> handle_raw(Hub&, Request&, const RouteParams&);

// handlers_lineage.cpp
Result<Response> handle_lineage(Hub&, Request&, const RouteParams&);
Result<Response> handle_lineage_children(Hub&, Request&, const RouteParams&);
// Model info's childrenModelCount and baseModels (when `expand` is empty or names them), as
// the caller of `request` may see them (private children only for their namespace).
void add_lineage_info(Hub& hub, const Request& request, const registry::Repo& repo,
                      const std::vector<std::string>& expand, nlohmann::json& info);
// What a small file of a commit says about lineage (config.json quantization_config,
// adapter_config.json base_model_name_or_path), recorded in `commit`.
void add_lineage_commit_facts(const std::string& path, std::string_view content, registry::CommitRequest& commit);

// handlers_export.cpp
Result<Response> handle_export(Hub&, Request&, const RouteParams&);
// Model info's groveExports: the export types, a URL template, and the stored exports.
void add_export_info(Hub& hub, const registry::Repo& repo, const std::string& commit, nlohmann::json& info);

// web.cpp
Result<Response> handle_web_index(Hub&, Request&, const RouteParams&);
Result<Response> handle_web_asset(Hub&, Request&, const RouteParams&);

// handlers_storage.cpp: GET /api/grove/storage (hub/storage_stats.h).
Result<Response> handle_storage_stats(Hub&, Request&, const RouteParams&);

}  // namespace grove::hub
