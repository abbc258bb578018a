// GET /api/models/{ns}/{name}[/revision/{rev}]: model info, the hub's hottest read, through
// the answer cache (hub/answer_cache.h). A hit costs no registry query and no JSON building.
//
// What an answer depends on, and how the cache keeps up with it:
//  - the repo row, refs, commits, files, lineage, exports and download counts: all registry
//    rows, so any committed write makes the answer stale (write generation);
//  - which revision the URL names (branch, tag, HEAD, commit): refs moving is a write too, so
//    the URL itself stands for the resolved commit while the generation holds;
//  - the query (expand, expand[], blobs) and the caller: both part of the key. The caller's
//    user name is in the key because a private repo, and private children in the lineage
//    counts, are visible to their namespace only; anonymous callers share one entry;
//  - config and safetensors facts: read from storage by commit id, immutable.
// Downloads: model info shows the registry's count, which the download counter updates every
// HubOptions::download_flush_interval (5 s); each flush is a write, so a cached answer is never
// staler than the uncached one would be.
// Only complete 200 answers are stored; errors, redirects of renamed repos and answers that
// lost an optional part to a storage error are computed every time.
#include "hub/handlers.h"

namespace grove::hub {
namespace {

// Route, decoded path segments, query (sorted by key; repeated values in order) and caller,
// separated by bytes no decoded component can hold (parse_target refuses an encoded NUL).
std::string model_info_key(const Request& request) {
  std::string key = "model-info";
  for (const auto& segment : request.path.segments) {
    key += '\0';
    key += segment;
  }
  key += '\1';
  for (const auto& [name, value] : request.path.query) {
    key += name;
    key += '=';
    key += value;
    key += '\0';
  }
  key += '\1';
  if (request.caller) key += request.caller->user.name;
  return key;
}

Response from_cache(const CachedAnswer& answer) {
  Response r;
  r.body = answer.body;
  r.headers.set(http::field::content_type, answer.content_type);
  return r;
}

}  // namespace

Result<Response> handle_model_info(Hub& hub, Request& request, const RouteParams& params) {
  // Read before anything else, so the answer is at least as new as what the generation counts.
  const std::uint64_t generation = hub.registry().write_generation();
  std::string key = model_info_key(request);
  if (auto hit = hub.answers().find(key, generation)) return from_cache(*hit);
  bool complete = true;
  GROVE_ASSIGN_OR_RETURN(Response response, build_model_info(hub, request, params, complete));
  if (complete && response.status == http::status::ok && !response.stream) {
    auto answer = std::make_shared<CachedAnswer>();
    answer->body = response.body;
    answer->content_type = std::string(response.headers[http::field::content_type]);
    hub.answers().put(key, generation, std::move(answer));
  }
  return response;
}

}  // namespace grove::hub
