// Publishing: preupload, the LFS batch API with signed basic-transfer and multipart URLs, the
// streamed uploads themselves, and the NDJSON commit that makes a new tree visible in one step.
//
// Multipart (spec §4.5): each part is stored as a blob of its own (not referenced by any
// tree) and answered with ETag = its quoted SHA-256; the completion POST streams the parts in
// order into one new blob checked against the object's oid and size, so the object becomes
// visible only then, and memory stays bounded by one copy buffer.
#include <algorithm>
#include <charconv>
#include <chrono>

#include "formats/model_card.h"
#include "formats/safetensors.h"
#include "hub/access.h"
#include "hub/errors.h"
#include "hub/handlers.h"
#include "hub/protocol.h"
#include "hub/storage_bases.h"
#include "registry/git_objects.h"
#include "registry/repo_path.h"

namespace grove::hub {

using nlohmann::json;

namespace {

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Parts are at most this big, whatever the threshold: bounded part PUTs, and parallel ones.
constexpr std::uint64_t kMaxPartBytes = 64ull << 20;

// `chunk` is 0 for a single-PUT upload; otherwise the part size, fixed in the signed URLs so a
// restart with another threshold never breaks an upload in flight.
std::string upload_signature(const Hub& hub, const std::string& oid, std::uint64_t size, std::uint64_t chunk,
                             std::int64_t expires) {
  if (chunk == 0)
    return hub.sign("lfs-upload\n" + oid + "\n" + std::to_string(size) + "\n" + std::to_string(expires));
  return hub.sign("lfs-multipart\n" + oid + "\n" + std::to_string(size) + "\n" + std::to_string(chunk) + "\n" +
                  std::to_string(expires));
}

std::uint64_t part_count(std::uint64_t size, std::uint64_t chunk) { return (size + chunk - 1) / chunk; }

// Bytes in part `n` (1-based) of an object of `size` bytes cut into `chunk`-byte parts.
std::uint64_t part_length(std::uint64_t size, std::uint64_t chunk, std::uint64_t n) {
  return std::min(chunk, size - (n - 1) * chunk);
}

// "00001": part keys are zero-padded to five digits, so that they sort as numbers.
std::string part_key(std::uint64_t n) {
  std::string digits = std::to_string(n);
  return std::string(digits.size() < 5 ? 5 - digits.size() : 0, '0') + digits;
}

Result<Sha256Digest> parse_oid(const json& value) {
  if (!value.is_string() || !is_lower_hex(value.get<std::string>(), 64))
    return invalid_argument("oid must be 64 lowercase hex digits (a SHA-256)");
  return *Sha256Digest::from_hex(value.get<std::string>());
}

registry::CardMetadata card_metadata(const formats::ModelCard& card) {
  registry::CardMetadata m;
  m.base_models = card.base_models;
  m.base_model_relation = card.base_model_relation;
  m.license = card.license;
  m.library_name = card.library_name;
  m.pipeline_tag = card.pipeline_tag;
  m.tags = card.tags;
  m.card_data = card.card_data;
  return m;
}

// Reads and validates the header of a stored safetensors file without reading its data.
Status validate_stored_safetensors(storage::BlobStore& store, const registry::FileEntry& file) {
  auto context = [&](const Status& s) { return Status(Code::kInvalidArgument, "'" + file.path + "' is not valid safetensors: " + s.message()); };
  std::uint8_t prefix[8];
  if (file.size < 8) return context(invalid_argument("file is " + std::to_string(file.size) + " bytes, shorter than the 8-byte header length"));
  GROVE_ASSIGN_OR_RETURN(auto reader, store.open(file.sha256, 0, 8));
  GROVE_ASSIGN_OR_RETURN(std::size_t n, reader->read(prefix));
  if (n != 8) return io_error("short read of " + file.path);
  auto length = formats::safetensors_header_length(prefix, file.size);
  if (!length.is_ok()) return context(length.status());
  std::string header(*length, '\0');
  GROVE_ASSIGN_OR_RETURN(auto header_reader, store.open(file.sha256, 8, *length));
  std::size_t got = 0;
  while (got < header.size()) {
    GROVE_ASSIGN_OR_RETURN(std::size_t k, header_reader->read(std::span(reinterpret_cast<std::uint8_t*>(header.data()) + got, header.size() - got)));
    if (k == 0) return io_error("short read of " + file.path);
    got += k;
  }
  auto parsed = formats::parse_safetensors_header(header, file.size);
  if (!parsed.is_ok()) return context(parsed.status());
  return Status::ok();
}

}  // namespace

Result<Response> handle_validate_yaml(Hub&, Request& request, const RouteParams&) {
  GROVE_ASSIGN_OR_RETURN(json body, parse_json_body(request));
  if (!body.contains("content") || !body["content"].is_string())
    return Response::json({{"errors", {{{"message", "body needs a string \"content\""}}}}}, http::status::bad_request);
  auto card = formats::parse_model_card(body["content"].get<std::string>());
  if (!card.is_ok())
    return Response::json({{"errors", {{{"message", card.status().message()}}}}, {"warnings", json::array()}},
                          http::status::bad_request);
  return Response::json({{"errors", json::array()}, {"warnings", json::array()}});
}

Result<Response> handle_preupload(Hub& hub, Request& request, const RouteParams& params) {
  GROVE_ASSIGN_OR_RETURN(auto repo, find_readable_repo(hub, request, params["ns"], params["name"]));
  GROVE_RETURN_IF_ERROR(require_writer(request, repo.ns));
  GROVE_RETURN_IF_ERROR(refuse_pull_request(request, params.rest));
  GROVE_ASSIGN_OR_RETURN(json body, parse_json_body(request));
  if (!body.contains("files") || !body["files"].is_array()) return invalid_argument("body needs a \"files\" array");
  // The branch may not exist yet: then nothing is "already there".
  std::string commit;
  if (auto rp = resolve_revision_path(hub, repo, params.rest); rp.is_ok()) commit = rp->commit;
  json files = json::array();
  for (const auto& f : body["files"]) {
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string() || !f.contains("size") ||
        !f["size"].is_number_unsigned())
      return invalid_argument("each file needs a string \"path\" and a non-negative integer \"size\"");
    std::string path = f["path"];
    GROVE_RETURN_IF_ERROR(registry::validate_repo_path(path));
    std::string sample;
    if (f.contains("sample") && f["sample"].is_string()) {
      if (auto s = base64_decode(f["sample"].get<std::string>()); s.is_ok()) sample = *s;
    }
    json entry = {{"path", path},
                  {"uploadMode", should_use_lfs(path, f["size"], sample) ? "lfs" : "regular"},
                  {"shouldIgnore", false}};
    if (!commit.empty()) {
      if (auto existing = hub.registry().find_file(repo.id, commit, path); existing.is_ok())
        entry["oid"] = existing->lfs ? existing->sha256.hex() : existing->blob_oid.hex();
    }
    files.push_back(std::move(entry));
  }
  json out = {{"files", files}};
  if (!commit.empty()) out["commitOid"] = commit;
  return Response::json(out);
}

Result<Response> handle_lfs_batch(Hub& hub, Request& request, const RouteParams& params) {
  GROVE_ASSIGN_OR_RETURN(auto repo, find_readable_repo(hub, request, params["ns"], params["name"]));
  GROVE_ASSIGN_OR_RETURN(json body, parse_json_body(request));
  if (!body.is_object() || body.value("operation", "") != "upload")
    return invalid_argument("only the \"upload\" operation is supported; download files from /resolve/");
  GROVE_RETURN_IF_ERROR(require_writer(request, repo.ns));
  if (!body.contains("objects") || !body["objects"].is_array()) return invalid_argument("body needs an \"objects\" array");
  std::int64_t expires = now_seconds() + hub.options().upload_url_ttl_seconds;
  // Multipart only for clients that list it (both HF clients do; `grove push` asks for basic).
  bool multipart_ok = false;
  if (body.contains("transfers") && body["transfers"].is_array())
    for (const auto& t : body["transfers"]) multipart_ok = multipart_ok || t == "multipart";
  json objects = json::array();
  for (const auto& o : body["objects"]) {
    if (!o.is_object() || !o.contains("size") || !o["size"].is_number_unsigned())
      return invalid_argument("each object needs an \"oid\" and a non-negative integer \"size\"");
    std::uint64_t size = o["size"];
    auto oid = parse_oid(o.value("oid", json()));
    json item = {{"oid", o.value("oid", json())}, {"size", size}};
    if (!oid.is_ok()) {
      item["error"] = {{"code", 422}, {"message", oid.status().message()}};
      objects.push_back(std::move(item));
      continue;
    }
    // Already here: no actions at all, and gc leaves it alone until the commit naming it.
    auto stored = hub.store().stat_for_commit(*oid);
    if (stored.is_ok() && stored->size == size) {
      objects.push_back(std::move(item));
      continue;
    }
    std::string hex = oid->hex();
    const std::string& base = hub.options().public_url;
    item["authenticated"] = true;
    if (multipart_ok && size > hub.options().multipart_threshold_bytes) {
      std::uint64_t chunk = std::min(kMaxPartBytes, hub.options().multipart_threshold_bytes);
      std::string query = "?size=" + std::to_string(size) + "&chunk=" + std::to_string(chunk) +
                          "&exp=" + std::to_string(expires) + "&sig=" + upload_signature(hub, hex, size, chunk, expires);
      // An ordered json keeps the part keys ascending, as both clients require.
      json header = {{"chunk_size", std::to_string(chunk)}};
      for (std::uint64_t n = 1; n <= part_count(size, chunk); ++n)
        header[part_key(n)] = base + "/api/grove/lfs/part/" + hex + "/" + std::to_string(n) + query;
      item["actions"] = {{"upload", {{"href", base + "/api/grove/lfs/complete/" + hex + query},
                                     {"header", std::move(header)},
                                     {"expires_in", hub.options().upload_url_ttl_seconds}}}};
    } else {
      std::string query = "?size=" + std::to_string(size) + "&exp=" + std::to_string(expires) +
                          "&sig=" + upload_signature(hub, hex, size, 0, expires);
      item["actions"] = {
          {"upload", {{"href", base + "/api/grove/lfs/upload/" + hex + query}, {"expires_in", hub.options().upload_url_ttl_seconds}}},
          {"verify", {{"href", base + "/api/grove/lfs/verify/" + hex + query}}}};
    }
    objects.push_back(std::move(item));
  }
  Response r = Response::json({{"transfer", "basic"}, {"objects", objects}});
  r.headers.set(http::field::content_type, "application/vnd.git-lfs+json");
  return r;
}

namespace {

// Streams one LFS object, or one part of it, into the store. The signed URL fixes the size
// (and for whole objects the oid); the bytes are checked before the blob becomes visible.
// A part (no oid) is answered with ETag = its quoted SHA-256, which the completion names.
class LfsUploadSink final : public BodySink {
 public:
  LfsUploadSink(std::unique_ptr<storage::BlobWriter> writer, std::optional<Sha256Digest> oid, std::uint64_t size)
      : writer_(std::move(writer)), oid_(oid), size_(size) {}

  Status write(std::span<const std::uint8_t> data) override {
    if (writer_->bytes_written() + data.size() > size_)
      return {Code::kTooLarge, "upload is larger than the " + std::to_string(size_) + " bytes announced"};
    return writer_->append(data);
  }

  Result<Response> finish() override {
    auto committed = writer_->commit(oid_, size_);
    if (!committed.is_ok()) {
      if (committed.status().code() == Code::kCorrupt)
        return invalid_argument("uploaded content does not match its oid and size: " + committed.status().message());
      return committed.status();
    }
    if (oid_) return Response::json(json::object());
    // Named by the hub: the content's SHA-256 in the body, and as the ETag a part's completion names.
    Response r = Response::json({{"oid", committed->digest.hex()}, {"size", committed->size}});
    r.headers.set(http::field::etag, "\"" + committed->digest.hex() + "\"");
    return r;
  }

 private:
  std::unique_ptr<storage::BlobWriter> writer_;
  std::optional<Sha256Digest> oid_;
  std::uint64_t size_;
};

struct SignedUpload {
  std::uint64_t size = 0;
  std::uint64_t chunk = 0;  // 0 for a single-PUT upload
};

// Checks the signed query of an upload, verify, part or completion URL.
Result<SignedUpload> check_signed_url(const Hub& hub, const Request& request, const std::string& oid, bool multipart) {
  auto size = request.path.param("size"), exp = request.path.param("exp"), sig = request.path.param("sig");
  auto chunk = request.path.param("chunk");
  Status denied(Code::kPermissionDenied, "upload URL is invalid or has expired; ask the LFS batch API for a new one");
  if (!size || !exp || !sig || !is_lower_hex(oid, 64) || multipart != chunk.has_value()) return denied;
  SignedUpload up;
  std::int64_t expires = 0;
  try {
    up.size = std::stoull(*size);
    if (chunk) up.chunk = std::stoull(*chunk);
    expires = std::stoll(*exp);
  } catch (...) {
    return denied;
  }
  if (multipart && up.chunk == 0) return denied;
  if (expires < now_seconds() || !secure_equal(*sig, upload_signature(hub, oid, up.size, up.chunk, expires)))
    return denied;
  return up;
}

Status check_content_length(const Request& request, std::uint64_t size) {
  if (auto it = request.header.find(http::field::content_length); it != request.header.end()) {
    std::string declared(it->value());
    if (declared != std::to_string(size))
      return invalid_argument("Content-Length " + declared + " differs from the expected " + std::to_string(size) + " bytes");
  }
  return Status::ok();
}

// The part digests a completion names, checked against what was uploaded.
Result<std::vector<Sha256Digest>> completed_parts(Hub& hub, const json& body, const std::string& oid,
                                                  const SignedUpload& up) {
  if (!body.is_object() || body.value("oid", json()) != oid)
    return invalid_argument("completion body must name the object's \"oid\"");
  if (!body.contains("parts") || !body["parts"].is_array() || body["parts"].size() != part_count(up.size, up.chunk))
    return invalid_argument("completion needs all " + std::to_string(part_count(up.size, up.chunk)) + " parts");
  std::vector<Sha256Digest> parts;
  for (const auto& p : body["parts"]) {
    std::uint64_t n = parts.size() + 1;
    if (!p.is_object() || p.value("partNumber", json()) != n || !p.contains("etag") || !p["etag"].is_string())
      return invalid_argument("part " + std::to_string(n) + ": expected {\"partNumber\": " + std::to_string(n) + ", \"etag\": ...}");
    std::string etag = p["etag"];
    if (etag.starts_with("W/")) etag.erase(0, 2);
    std::erase(etag, '"');
    if (!is_lower_hex(etag, 64)) return invalid_argument("part " + std::to_string(n) + ": not an ETag this hub gave");
    Sha256Digest digest = *Sha256Digest::from_hex(etag);
    auto stored = hub.store().stat(digest);
    if (!stored.is_ok() || stored->size != part_length(up.size, up.chunk, n))
      return invalid_argument("part " + std::to_string(n) + " of " + oid + " was not uploaded");
    parts.push_back(digest);
  }
  return parts;
}

}  // namespace

Result<std::unique_ptr<BodySink>> open_lfs_upload(Hub& hub, Request& request, const RouteParams& params) {
  const std::string& oid = params["oid"];
  GROVE_ASSIGN_OR_RETURN(SignedUpload up, check_signed_url(hub, request, oid, false));
  GROVE_RETURN_IF_ERROR(check_content_length(request, up.size));
  GROVE_ASSIGN_OR_RETURN(auto writer, hub.store().begin_write(upload_write_hints(hub, request)));
  return std::unique_ptr<BodySink>(std::make_unique<LfsUploadSink>(std::move(writer), *Sha256Digest::from_hex(oid), up.size));
}

Result<std::unique_ptr<BodySink>> open_lfs_part(Hub& hub, Request& request, const RouteParams& params) {
  const std::string& oid = params["oid"];
  GROVE_ASSIGN_OR_RETURN(SignedUpload up, check_signed_url(hub, request, oid, true));
  const std::string& part = params["part"];
  std::uint64_t n = 0;
  if (part.empty() || part.size() > 6 || part.find_first_not_of("0123456789") != std::string::npos ||
      (n = std::stoull(part)) == 0 || n > part_count(up.size, up.chunk))
    return invalid_argument("part number must be 1 to " + std::to_string(part_count(up.size, up.chunk)));
  std::uint64_t length = part_length(up.size, up.chunk, n);
  GROVE_RETURN_IF_ERROR(check_content_length(request, length));
  GROVE_ASSIGN_OR_RETURN(auto writer, hub.store().begin_write());
  return std::unique_ptr<BodySink>(std::make_unique<LfsUploadSink>(std::move(writer), std::nullopt, length));
}

Result<std::unique_ptr<BodySink>> open_grove_upload(Hub& hub, Request& request, const RouteParams& params) {
  GROVE_ASSIGN_OR_RETURN(auto repo, find_readable_repo(hub, request, params["ns"], params["name"]));
  GROVE_RETURN_IF_ERROR(require_writer(request, repo.ns));
  auto it = request.header.find(http::field::content_length);
  if (it == request.header.end())
    return invalid_argument("an upload without an oid needs a Content-Length");
  std::uint64_t size = 0;
  std::string_view declared(it->value().data(), it->value().size());
  if (std::from_chars(declared.data(), declared.data() + declared.size(), size).ptr != declared.data() + declared.size())
    return invalid_argument("Content-Length is not a number");
  GROVE_ASSIGN_OR_RETURN(auto writer, hub.store().begin_write(upload_write_hints(hub, request)));
  return std::unique_ptr<BodySink>(std::make_unique<LfsUploadSink>(std::move(writer), std::nullopt, size));
}

Result<Response> handle_lfs_complete(Hub& hub, Request& request, const RouteParams& params) {
  const std::string& oid = params["oid"];
  GROVE_ASSIGN_OR_RETURN(SignedUpload up, check_signed_url(hub, request, oid, true));
  GROVE_ASSIGN_OR_RETURN(json body, parse_json_body(request));
  GROVE_ASSIGN_OR_RETURN(auto parts, completed_parts(hub, body, oid, up));
  Sha256Digest digest = *Sha256Digest::from_hex(oid);
  if (auto stored = hub.store().stat_for_commit(digest); stored.is_ok() && stored->size == up.size)
    return Response::json({{"oid", oid}, {"size", up.size}});
  GROVE_ASSIGN_OR_RETURN(auto writer, hub.store().begin_write(upload_write_hints(hub, request)));
  std::vector<std::uint8_t> buf(1 << 20);
  for (const Sha256Digest& part : parts) {
    GROVE_ASSIGN_OR_RETURN(auto reader, hub.store().open(part));
    while (true) {
      GROVE_ASSIGN_OR_RETURN(std::size_t n, reader->read(buf));
      if (n == 0) break;
      GROVE_RETURN_IF_ERROR(writer->append(std::span(buf.data(), n)));
    }
  }
  auto committed = writer->commit(digest, up.size);
  if (!committed.is_ok()) {
    if (committed.status().code() == Code::kCorrupt)
      return invalid_argument("the uploaded parts do not add up to object " + oid + ": " + committed.status().message());
    return committed.status();
  }
  return Response::json({{"oid", oid}, {"size", up.size}});
}

Result<Response> handle_lfs_verify(Hub& hub, Request& request, const RouteParams& params) {
  const std::string& oid = params["oid"];
  GROVE_ASSIGN_OR_RETURN(SignedUpload up, check_signed_url(hub, request, oid, false));
  std::uint64_t size = up.size;
  auto stored = hub.store().stat(*Sha256Digest::from_hex(oid));
  if (!stored.is_ok() || stored->size != size)
    return Status(Code::kNotFound, "object " + oid + " of " + std::to_string(size) + " bytes is not stored");
  return Response::json({{"oid", oid}, {"size", size}});
}

Result<Response> handle_commit(Hub& hub, Request& request, const RouteParams& params) {
  GROVE_ASSIGN_OR_RETURN(auto repo, find_readable_repo(hub, request, params["ns"], params["name"]));
  GROVE_RETURN_IF_ERROR(require_writer(request, repo.ns));
  GROVE_RETURN_IF_ERROR(refuse_pull_request(request, params.rest));
  if (params.rest.empty()) return invalid_argument("missing branch in URL");
  registry::CommitRequest commit;
  commit.repo_id = repo.id;
  commit.author = request.caller->user.name;
  commit.branch.clear();
  for (std::size_t i = 0; i < params.rest.size(); ++i) commit.branch += (i ? "/" : "") + params.rest[i];
  if (commit.branch.starts_with("refs/")) return invalid_argument("commits go to a branch, not '" + commit.branch + "'");

  bool header_seen = false;
  bool readme_deleted = false;
  std::optional<std::string> readme;
  std::string_view body = request.body;
  std::size_t line_no = 0;
  while (!body.empty()) {
    std::size_t nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    json item = json::parse(line, nullptr, false);
    auto bad = [&](const std::string& why) { return invalid_argument("commit line " + std::to_string(line_no) + ": " + why); };
    if (item.is_discarded() || !item.is_object() || !item.contains("key") || !item.contains("value") ||
        !item["value"].is_object())
      return bad("expected a JSON object {\"key\": ..., \"value\": {...}}");
    std::string key = item["key"].is_string() ? item["key"].get<std::string>() : "";
    const json& value = item["value"];
    if (key == "header") {
      header_seen = true;
      commit.title = value.value("summary", "");
      commit.description = value.value("description", "");
      if (value.contains("parentCommit") && value["parentCommit"].is_string())
        commit.parent_commit = value["parentCommit"].get<std::string>();
      // `grove push --base ns/name[@rev]` (other clients: the X-Grove-Base header); lineage.h.
      if (value.contains("groveBase") && value["groveBase"].is_string()) commit.base_flag = value["groveBase"].get<std::string>();
      continue;
    }
    if (!header_seen) return bad("the header line must come first");
    if (!value.contains("path") || !value["path"].is_string()) return bad("missing \"path\"");
    std::string path = value["path"];
    if (key == "deletedFolder") {
      while (path.ends_with('/')) path.pop_back();
      GROVE_RETURN_IF_ERROR(registry::validate_repo_path(path));
      commit.deleted_folders.push_back(path);
      continue;
    }
    GROVE_RETURN_IF_ERROR(registry::validate_repo_path(path));
    if (key == "deletedFile") {
      commit.deleted_files.push_back(path);
      readme_deleted = readme_deleted || path == "README.md";
    } else if (key == "file") {
      if (!value.contains("content") || !value["content"].is_string()) return bad("file '" + path + "' has no content");
      std::string encoding = value.value("encoding", "base64");
      std::string content;
      if (encoding == "base64") {
        auto decoded = base64_decode(value["content"].get<std::string>());
        if (!decoded.is_ok()) return bad("file '" + path + "': " + decoded.status().message());
        content = std::move(*decoded);
      } else if (encoding == "utf-8") {
        content = value["content"];
      } else {
        return bad("unknown encoding '" + encoding + "'");
      }
      GROVE_ASSIGN_OR_RETURN(auto stored, hub.store().put(as_bytes(content), {path}));
      commit.upserts.push_back({path, stored.size, stored.digest, false, registry::git_blob_oid(content)});
      add_lineage_commit_facts(path, content, commit);  // handlers_lineage.cpp
      if (path == "README.md") readme = std::move(content);
    } else if (key == "lfsFile") {
      auto oid = parse_oid(value.value("oid", json()));
      if (!oid.is_ok()) return bad("lfsFile '" + path + "': " + oid.status().message());
      auto stored = hub.store().stat_for_commit(*oid);
      if (!stored.is_ok())
        return invalid_argument("LFS object " + oid->hex() + " for '" + path + "' was never uploaded");
      if (value.contains("size") && value["size"] != stored->size)
        return invalid_argument("LFS object " + oid->hex() + " for '" + path + "' has " + std::to_string(stored->size) +
                                " bytes, not " + value["size"].dump());
      commit.upserts.push_back({path, stored->size, *oid, true,
                                registry::git_blob_oid(registry::lfs_pointer(*oid, stored->size))});
    } else {
      return bad("unknown key '" + key + "'");
    }
  }
  if (!header_seen) return invalid_argument("commit body has no header line");
  if (auto base = request.header_value("X-Grove-Base"); !base.empty() && !commit.base_flag) commit.base_flag = base;
  if (commit.title.empty()) commit.title = "Upload files with grove";

  for (const auto& file : commit.upserts)
    if (file.path.ends_with(".safetensors")) GROVE_RETURN_IF_ERROR(validate_stored_safetensors(hub.store(), file));

  if (commit.branch == repo.default_branch) {
    if (readme) {
      auto card = formats::parse_model_card(*readme);
      if (!card.is_ok()) return invalid_argument("README.md front matter: " + card.status().message());
      commit.card = card_metadata(*card);
    } else if (readme_deleted) {
      commit.card = registry::CardMetadata{};
    }
  }

  GROVE_ASSIGN_OR_RETURN(auto made, hub.registry().commit(commit));
  // Deltas against a declared base and the detected lineage edge, in the background (storage_bases.h).
  schedule_reencode(hub, commit, repo.ns + "/" + repo.name);
  return Response::json({{"success", true},
                         {"commitOid", made.id},
                         {"commitUrl", repo_url(hub, repo) + "/commit/" + made.id},
                         {"hookOutput", ""}});
}

}  // namespace grove::hub
