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
Result<Response> handle_repo_settings(Hub&, Request&, const RouteParams&);
Result<Response> handle_list_models(Hub&, Request&, const RouteParams&);
Result<Response> handle_model_info(Hub&, Request&, const RouteParams&);
Result<Response> handle_tree(Hub&, Request&, const RouteParams&);
Result<Response> handle_paths_info(Hub&, Request&, const RouteParams&);

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
Result<Response> handle_commit(Hub&, Request&, const RouteParams&);

// handlers_files.cpp
Result<Response> handle_resolve(Hub&, Request&, const RouteParams&);
Result<Response> handle_raw(Hub&, Request&, const RouteParams&);

// web.cpp
Result<Response> handle_web_index(Hub&, Request&, const RouteParams&);

}  // namespace grove::hub
