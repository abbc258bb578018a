// GET/HEAD /api/grove/export/{ns}/{name}/{rev}/{quant}.gguf: a GGUF rendering of a revision
// (hub/export_cache.h computes it once and stores it). Every refusal comes before the first
// byte: 404 for the repo or revision, 400 for an unknown quantization, 422 with the exporter's
// message for a model it cannot render. Content-Length is known up front; Range is honoured.
// Model info lists the stored exports as `groveExports` (add_export_info).
#include "formats/gguf_export.h"
#include "hub/access.h"
#include "hub/errors.h"
#include "hub/export_cache.h"
#include "hub/handlers.h"

namespace grove::hub {
namespace {

std::string export_url(const Hub& hub, const registry::Repo& repo, const std::string& revision, const std::string& quant) {
  return hub.options().public_url + "/api/grove/export/" + url_encode(repo.ns) + "/" + url_encode(repo.name) + "/" +
         url_encode(revision) + "/" + quant + ".gguf";
}

Response unprocessable(const Status& s) {
  Response r = error_response(s);
  r.status = http::status::unprocessable_entity;
  r.headers.set("X-Error-Code", "NotExportable");
  return r;
}

}  // namespace

Result<Response> handle_export(Hub& hub, Request& request, const RouteParams& params) {
  GROVE_ASSIGN_OR_RETURN(auto repo, find_readable_repo(hub, request, params["ns"], params["name"]));
  GROVE_ASSIGN_OR_RETURN(std::string commit, hub.registry().resolve_revision(repo.id, params["rev"]));
  const std::string& quant = params["quant"];
  if (!formats::parse_export_type(quant)) {
    std::string names;
    for (const auto& t : formats::export_types()) names += (names.empty() ? "" : ", ") + std::string(t.name);
    Response r = error_response(invalid_argument("unknown quantization '" + quant + "': use one of " + names));
    r.headers.set("X-Repo-Commit", commit);
    return r;
  }
  GROVE_ASSIGN_OR_RETURN(auto files, hub.registry().list_files(repo.id, commit));

  // Any Range, like a GET, needs the bytes: start the export unless this is a HEAD.
  const bool head = request.method == http::verb::head;
  auto handle = hub.exports().get({repo, commit, quant, std::move(files)}, !head);
  if (!handle.is_ok()) {
    Response r = handle.status().code() == Code::kInvalidArgument ? unprocessable(handle.status()) : error_response(handle.status());
    r.headers.set("X-Repo-Commit", commit);
    return r;
  }
  const std::uint64_t size = handle->size;

  Response r;
  r.headers.set("X-Repo-Commit", commit);
  r.headers.set(http::field::content_type, "application/octet-stream");
  r.headers.set(http::field::accept_ranges, "bytes");
  r.headers.set(http::field::content_disposition,
                "attachment; filename=\"" + repo.name + "-" + quant + ".gguf\"");
  r.headers.set("X-Grove-Export-State", handle->stored ? "stored" : "running");
  if (handle->stored) r.headers.set(http::field::etag, "\"" + handle->stored->sha256.hex() + "\"");

  std::uint64_t first = 0, length = size;
  const std::string range_header = request.header_value(http::field::range);
  ByteRange range;
  RangeResult kind = range_header.empty() ? RangeResult::kNone : parse_range(range_header, size, range);
  if (kind == RangeResult::kUnsatisfiable) {
    Response e = error_response(Status(Code::kOutOfRange, "Range '" + range_header + "' is not satisfiable for " +
                                                              std::to_string(size) + " bytes"));
    e.headers.set("X-Repo-Commit", commit);
    e.headers.set(http::field::content_range, "bytes */" + std::to_string(size));
    return e;
  }
  if (kind == RangeResult::kSatisfiable) {
    first = range.first;
    length = range.length();
    r.status = http::status::partial_content;
    r.headers.set(http::field::content_range, "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) +
                                                  "/" + std::to_string(size));
  }
  r.content_length = length;
  if (head) {
    r.head_only = true;
    return r;
  }
  GROVE_ASSIGN_OR_RETURN(r.stream, handle->open(hub.store(), first, length));
  return r;
}

void add_export_info(Hub& hub, const registry::Repo& repo, const std::string& commit, nlohmann::json& info) {
  nlohmann::json cached = nlohmann::json::array();
  if (auto exports = hub.registry().list_exports(repo.id); exports.is_ok()) {
    for (const registry::ExportRecord& e : *exports) {
      if (e.exporter_version != formats::kGgufExporterVersion) continue;
      cached.push_back({{"quant", e.quant},
                        {"commit", e.commit_id},
                        {"size", e.size},
                        {"sha256", e.sha256.hex()},
                        {"createdAt", e.created_at},
                        {"url", export_url(hub, repo, e.commit_id, e.quant)}});
    }
  }
  nlohmann::json quants = nlohmann::json::array();
  for (const auto& t : formats::export_types()) quants.push_back(t.name);
  info["groveExports"] = {{"quants", quants},
                          {"urlTemplate", export_url(hub, repo, commit, "{quant}")},
                          {"exports", cached}};
}

}  // namespace grove::hub
