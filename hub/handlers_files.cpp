// File downloads: /resolve/ serves content, /raw/ serves the git object (an LFS pointer for
// large files). HEAD costs one registry lookup and no blob read. Headers follow
// specs/hf-protocol.md §3.5–3.8: X-Repo-Commit on every answer, 404s included.
#include "hub/access.h"
#include "hub/errors.h"
#include "hub/handlers.h"
#include "registry/git_objects.h"

namespace grove::hub {
namespace {

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// Answers a GET/HEAD for `size` bytes, taking Range into account. `open` gives the bytes.
template <typename Open>
Result<Response> ranged_answer(Request& request, Response r, std::uint64_t size, Open open) {
  r.headers.set(http::field::accept_ranges, "bytes");
  r.headers.set(http::field::content_type, "application/octet-stream");
  ByteRange range;
  RangeResult kind = RangeResult::kNone;
  std::string range_header = request.header_value(http::field::range);
  if (!range_header.empty()) kind = parse_range(range_header, size, range);
  if (kind == RangeResult::kUnsatisfiable) {
    if (size == 0) {  // bytes=0-0 of an empty file: say its size rather than fail (JS probes)
      r.headers.set(http::field::content_range, "bytes */0");
      r.content_length = 0;
      r.head_only = true;
      return r;
    }
    Status s(Code::kOutOfRange, "Range '" + range_header + "' is not satisfiable for " + std::to_string(size) + " bytes");
    Response e = error_response(s);
    for (const auto& field : r.headers)
      if (field.name_string() != "Content-Type") e.headers.set(field.name_string(), field.value());
    e.headers.set(http::field::content_range, "bytes */" + std::to_string(size));
    return e;
  }
  std::uint64_t first = 0, length = size;
  if (kind == RangeResult::kSatisfiable) {
    first = range.first;
    length = range.length();
    r.status = http::status::partial_content;
    r.headers.set(http::field::content_range, "bytes " + std::to_string(range.first) + "-" +
                                                  std::to_string(range.last) + "/" + std::to_string(size));
  }
  r.content_length = length;
  if (request.method == http::verb::head) {
    r.head_only = true;
    return r;
  }
  GROVE_ASSIGN_OR_RETURN(r.stream, open(first, length));
  return r;
}

struct Located {
  registry::FileEntry file;
  std::string commit;
  std::int64_t repo_id = 0;
};

// Finds the file a /resolve or /raw URL names. On failure fills `answer` with the error to
// send: with X-Repo-Commit whenever the revision resolved, as clients cache 404s by commit.
std::optional<Located> locate(Hub& hub, Request& request, const RouteParams& params, Response& answer) {
  auto repo = find_readable_repo(hub, request, params["ns"], params["name"]);
  if (!repo.is_ok()) {
    answer = error_response(repo.status());
    return std::nullopt;
  }
  auto rp = resolve_revision_path(hub, *repo, params.rest);
  if (!rp.is_ok()) {
    answer = error_response(rp.status());
    return std::nullopt;
  }
  auto file = rp->path.empty() ? Result<registry::FileEntry>(Status(Code::kEntryNotFound, ""))
                               : hub.registry().find_file(repo->id, rp->commit, rp->path);
  if (!file.is_ok()) {
    answer = error_response(file.status().code() == Code::kEntryNotFound
                                ? Status(Code::kEntryNotFound, "Entry not found: " + rp->path)
                                : file.status());
    answer.headers.set("X-Repo-Commit", rp->commit);
    return std::nullopt;
  }
  return Located{*file, rp->commit, repo->id};
}

}  // namespace

Result<Response> handle_resolve(Hub& hub, Request& request, const RouteParams& params) {
  Response error;
  auto located = locate(hub, request, params, error);
  if (!located) return error;
  const registry::FileEntry& file = located->file;
  Response r;
  r.headers.set("X-Repo-Commit", located->commit);
  if (file.lfs) {
    r.headers.set(http::field::etag, quoted(file.sha256.hex()));
    r.headers.set("X-Linked-Etag", quoted(file.sha256.hex()));
    r.headers.set("X-Linked-Size", std::to_string(file.size));
  } else {
    r.headers.set(http::field::etag, quoted(file.blob_oid.hex()));
  }
  if (request.method == http::verb::get)
    hub.downloads().note_get(located->repo_id, located->commit, file.path, request.header_value(http::field::range));
  storage::BlobStore& store = hub.store();
  return ranged_answer(request, std::move(r), file.size, [&](std::uint64_t first, std::uint64_t length) {
    return store.open(file.sha256, first, length);
  });
}

// An in-memory BlobReader for the few bytes of an LFS pointer.
class StringReader final : public storage::BlobReader {
 public:
  explicit StringReader(std::string data) : data_(std::move(data)) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    std::size_t n = std::min(out.size(), data_.size() - pos_);
    std::copy_n(data_.data() + pos_, n, out.data());
    pos_ += n;
    return n;
  }
  std::uint64_t length() const override { return data_.size(); }

 private:
  std::string data_;
  std::size_t pos_ = 0;
};

Result<Response> handle_raw(Hub& hub, Request& request, const RouteParams& params) {
  Response error;
  auto located = locate(hub, request, params, error);
  if (!located) return error;
  const registry::FileEntry& file = located->file;
  if (!file.lfs) return handle_resolve(hub, request, params);
  std::string pointer = registry::lfs_pointer(file.sha256, file.size);
  Response r;
  r.headers.set("X-Repo-Commit", located->commit);
  r.headers.set(http::field::etag, quoted(file.blob_oid.hex()));
  return ranged_answer(request, std::move(r), pointer.size(), [&](std::uint64_t first, std::uint64_t length) {
    return Result<std::unique_ptr<storage::BlobReader>>(
        std::make_unique<StringReader>(pointer.substr(first, length)));
  });
}

}  // namespace grove::hub
