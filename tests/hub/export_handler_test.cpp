// The export route on a real Hub in a temporary folder (real SQLite, real blob store): status
// codes before streaming, Content-Length, Range, single flight and the cache.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "formats/gguf_export.h"
#include "hub/export_cache.h"
#include "hub/handlers.h"
#include "tests/hub/hub_test_util.h"
#include "registry/git_objects.h"
#include "tests/formats/gguf_export_test_util.h"

using namespace grove;
using namespace grove::hub;

namespace {

Result<Response> call(Hub& hub, http::verb method, const std::string& target, const std::string& range = "") {
  Request r;
  r.method = method;
  r.target = target;
  r.path = *parse_target(target);
  if (!range.empty()) r.header.set(http::field::range, range);
  bool mismatch = false;
  auto match = match_route(r, mismatch);
  REQUIRE(match);
  return match->route->handler(hub, r, match->params);
}

std::string body_of(Response& r) {
  REQUIRE(r.stream);
  std::string out;
  std::vector<std::uint8_t> buf(4096);
  for (;;) {
    auto n = r.stream->read(buf);
    REQUIRE(n.is_ok());
    if (*n == 0) break;
    out.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  return out;
}

// Stores the files and commits them to alice/tiny; returns the commit id.
std::string push_model(Hub& hub, const std::map<std::string, std::string>& files) {
  auto repo = hub.registry().find_repo("alice", "tiny");
  std::int64_t repo_id = repo.is_ok() ? repo->id : hub.registry().create_repo("alice", "tiny", "alice", false)->id;
  registry::CommitRequest c;
  c.repo_id = repo_id;
  c.author = "alice";
  c.title = "model";
  for (const auto& [path, content] : files) {
    auto info = hub.store().put(as_bytes(content));
    REQUIRE(info.is_ok());
    registry::FileEntry f;
    f.path = path;
    f.size = content.size();
    f.sha256 = info->digest;
    f.lfs = path.ends_with(".safetensors");
    if (!f.lfs) f.blob_oid = registry::git_blob_oid(content);
    c.upserts.push_back(f);
  }
  auto commit = hub.registry().commit(c);
  REQUIRE(commit.is_ok());
  return commit->id;
}

std::map<std::string, std::string> tiny_files() {
  testing::MemorySource s;
  testing::TinyModel m;
  m.fill(s, m.tensors());
  return s.files;
}

}  // namespace

TEST_CASE("export route: refusals come before any byte", "[hub]") {
  TempHub hub;
  auto files = tiny_files();
  std::string commit = push_model(*hub, files);

  auto missing_repo = call(*hub, http::verb::get, "/api/grove/export/alice/nope/main/Q8_0.gguf");
  REQUIRE_FALSE(missing_repo.is_ok());
  CHECK(missing_repo.status().code() == Code::kRepoNotFound);

  auto missing_rev = call(*hub, http::verb::get, "/api/grove/export/alice/tiny/nobranch/Q8_0.gguf");
  REQUIRE_FALSE(missing_rev.is_ok());
  CHECK(missing_rev.status().code() == Code::kRevisionNotFound);

  auto bad_quant = call(*hub, http::verb::get, "/api/grove/export/alice/tiny/main/Q3_X.gguf");
  REQUIRE(bad_quant.is_ok());
  CHECK(bad_quant->status == http::status::bad_request);
  CHECK(bad_quant->body.find("unknown quantization 'Q3_X'") != std::string::npos);
  CHECK_FALSE(bad_quant->stream);

  files.erase("tokenizer.json");
  registry::CommitRequest del;
  del.repo_id = hub->registry().find_repo("alice", "tiny")->id;
  del.author = "alice";
  del.title = "drop tokenizer";
  del.deleted_files = {"tokenizer.json"};
  std::string without = hub->registry().commit(del)->id;
  auto unexportable = call(*hub, http::verb::get, "/api/grove/export/alice/tiny/" + without + "/Q8_0.gguf");
  REQUIRE(unexportable.is_ok());
  CHECK(unexportable->status == http::status::unprocessable_entity);
  CHECK(unexportable->body.find("missing tokenizer") != std::string::npos);
  CHECK(unexportable->headers["X-Repo-Commit"] == without);
  CHECK_FALSE(unexportable->stream);
  // The earlier commit still exports.
  auto head = call(*hub, http::verb::head, "/api/grove/export/alice/tiny/" + commit + "/Q8_0.gguf");
  REQUIRE(head.is_ok());
  CHECK(head->status == http::status::ok);
  CHECK(head->content_length.value_or(0) > 0);
}

TEST_CASE("export route: streams once, then serves the stored blob, ranges included", "[hub]") {
  TempHub hub;
  auto files = tiny_files();
  std::string commit = push_model(*hub, files);
  testing::MemorySource source;
  source.files = files;
  formats::ExportOptions options;
  options.quant = "Q4_K_M";
  options.model_name = "tiny";
  auto reference = formats::GgufExport::plan(source, options);
  REQUIRE(reference.is_ok());
  std::string want;
  for (formats::ChunkBuffer piece;;) {
    REQUIRE((*reference)->next(piece).is_ok());
    if (piece.empty()) break;
    want.append(reinterpret_cast<const char*>(piece.data()), piece.size());
  }
  const std::string url = "/api/grove/export/alice/tiny/main/Q4_K_M.gguf";

  auto head = call(*hub, http::verb::head, url);
  REQUIRE(head.is_ok());
  CHECK(*head->content_length == want.size());

  // Two requests while the first runs: both follow the same computation.
  auto first = call(*hub, http::verb::get, url);
  auto second = call(*hub, http::verb::get, url, "bytes=100-199");
  REQUIRE(first.is_ok());
  REQUIRE(second.is_ok());
  CHECK(first->status == http::status::ok);
  CHECK(*first->content_length == want.size());
  CHECK(first->headers[http::field::content_disposition] == "attachment; filename=\"tiny-Q4_K_M.gguf\"");
  CHECK(second->status == http::status::partial_content);
  CHECK(second->headers[http::field::content_range] == "bytes 100-199/" + std::to_string(want.size()));
  CHECK(body_of(*second) == want.substr(100, 100));
  CHECK(body_of(*first) == want);

  // Once recorded, answers come from the blob store, with the content address as ETag.
  std::optional<registry::ExportRecord> stored;
  for (int i = 0; i < 200 && !stored; ++i) {
    stored = *hub->registry().find_export(commit, "Q4_K_M", formats::kGgufExporterVersion);
    if (!stored) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(stored);
  CHECK(stored->size == want.size());
  CHECK(stored->sha256 == Sha256::of(std::string_view(want)));
  auto third = call(*hub, http::verb::get, url, "bytes=-64");
  REQUIRE(third.is_ok());
  CHECK(third->headers["X-Grove-Export-State"] == "stored");
  CHECK(third->headers[http::field::etag] == "\"" + stored->sha256.hex() + "\"");
  CHECK(body_of(*third) == want.substr(want.size() - 64));

  auto listed = hub->registry().list_exports(hub->registry().find_repo("alice", "tiny")->id);
  REQUIRE(listed.is_ok());
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].quant == "Q4_K_M");
  CHECK((*listed)[0].commit_id == commit);

  auto info = call(*hub, http::verb::get, "/api/models/alice/tiny");
  REQUIRE(info.is_ok());
  auto j = nlohmann::json::parse(info->body);
  REQUIRE(j.contains("groveExports"));
  CHECK(j["groveExports"]["exports"][0]["quant"] == "Q4_K_M");
  CHECK(j["groveExports"]["exports"][0]["url"] ==
        "http://hub.test/api/grove/export/alice/tiny/" + commit + "/Q4_K_M.gguf");
  CHECK(j["groveExports"]["urlTemplate"] == "http://hub.test/api/grove/export/alice/tiny/" + commit + "/{quant}.gguf");
}

namespace {

std::string reference_export(const std::map<std::string, std::string>& files, const std::string& quant) {
  testing::MemorySource source;
  source.files = files;
  formats::ExportOptions options;
  options.quant = quant;
  options.model_name = "tiny";
  auto plan = formats::GgufExport::plan(source, options);
  REQUIRE(plan.is_ok());
  std::string out;
  for (formats::ChunkBuffer piece;;) {
    REQUIRE((*plan)->next(piece).is_ok());
    if (piece.empty()) break;
    out.append(reinterpret_cast<const char*>(piece.data()), piece.size());
  }
  return out;
}

// Reads [offset, offset + length) of a handle in pieces of at most `piece` bytes, copied
// (read) or as views (read_view, as the server sends).
std::string read_handle(Hub& hub, const ExportHandle& handle, std::uint64_t offset, std::uint64_t length,
                        std::size_t piece, bool views = false) {
  auto reader = handle.open(hub.store(), offset, length);
  REQUIRE(reader.is_ok());
  std::string out;
  std::vector<std::uint8_t> buf(piece);
  for (;;) {
    if (views) {
      auto view = (*reader)->read_view(buf);
      REQUIRE(view.is_ok());
      if (view->empty()) break;
      out.append(reinterpret_cast<const char*>(view->data()), view->size());
      continue;
    }
    auto n = (*reader)->read(buf);
    REQUIRE(n.is_ok());
    if (*n == 0) break;
    out.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  return out;
}

std::size_t spool_files(const std::string& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator(); ++it) ++n;
  return n;
}

}  // namespace

// A ring of 8 KiB, far smaller than the export: readers of a running export get
// recent bytes from the ring and older ones from the stored blob once committed (no spool
// file is written), and see exactly the bytes.
TEST_CASE("export cache: readers of a running export span the ring and the stored blob", "[hub]") {
  TempHub hub;
  auto files = tiny_files();
  std::string commit = push_model(*hub, files);
  const std::string want = reference_export(files, "Q8_0");
  REQUIRE(want.size() > 8 * 4096);
  auto repo = hub->registry().find_repo("alice", "tiny");
  REQUIRE(repo.is_ok());
  auto listed = hub->registry().list_files(repo->id, commit);
  REQUIRE(listed.is_ok());
  const std::string spool_dir = hub.dir() + "/test-exports";
  {
    ExportCache cache(hub->registry(), hub->store(), spool_dir, 2, 8192);
    auto handle = cache.get({*repo, commit, "Q8_0", *listed}, true);
    REQUIRE(handle.is_ok());
    REQUIRE(handle->running);
    CHECK(handle->size == want.size());
    // Single flight: a second request joins the running job.
    auto again = cache.get({*repo, commit, "Q8_0", *listed}, true);
    REQUIRE(again.is_ok());
    if (again->running) CHECK(again->running == handle->running);

    // A view into the ring stays valid while the export runs on past it: the producer does
    // not recycle a piece a reader holds (a recycled one would show other bytes, or ASan a
    // use after free).
    auto holder = handle->open(hub->store(), 0, want.size());
    REQUIRE(holder.is_ok());
    std::vector<std::uint8_t> scratch(1000);
    auto held = (*holder)->read_view(scratch);
    REQUIRE(held.is_ok());
    REQUIRE(!held->empty());

    // One reader follows the producer in odd-sized pieces, another the same as views, another
    // waits for the end and then reads everything (mostly from the blob), a last one reads a
    // range across chunks.
    std::string followed, viewed, late, ranged;
    std::thread follower([&] { followed = read_handle(*hub, *handle, 0, want.size(), 1000); });
    std::thread viewer([&] { viewed = read_handle(*hub, *handle, 0, want.size(), 1500, true); });
    std::optional<registry::ExportRecord> stored;
    for (int i = 0; i < 500 && !stored; ++i) {
      stored = *hub->registry().find_export(commit, "Q8_0", formats::kGgufExporterVersion);
      if (!stored) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(stored);
    late = read_handle(*hub, *handle, 0, want.size(), 1 << 16);
    ranged = read_handle(*hub, *handle, 4000, 9000, 3000);
    follower.join();
    viewer.join();
    CHECK(std::string(reinterpret_cast<const char*>(held->data()), held->size()) == want.substr(0, held->size()));
    CHECK(followed == want);
    CHECK(viewed == want);
    CHECK(late == want);
    CHECK(ranged == want.substr(4000, 9000));
    CHECK(stored->size == want.size());
    CHECK(stored->sha256 == Sha256::of(std::string_view(want)));
  }
  CHECK(spool_files(spool_dir) == 0);  // no spool file is written
}

// Shutdown while an export runs: the cache's destructor cancels and joins the job's threads,
// readers get the bytes produced or an error (never wrong bytes, never a hang), nothing stays.
TEST_CASE("export cache: shutdown cancels a running export", "[hub]") {
  TempHub hub;
  auto files = tiny_files();
  std::string commit = push_model(*hub, files);
  const std::string want = reference_export(files, "Q8_0");
  auto repo = hub->registry().find_repo("alice", "tiny");
  auto listed = hub->registry().list_files(repo->id, commit);
  REQUIRE(listed.is_ok());
  const std::string spool_dir = hub.dir() + "/test-exports";
  std::optional<ExportHandle> handle;
  {
    ExportCache cache(hub->registry(), hub->store(), spool_dir, 1, 1024);
    auto h = cache.get({*repo, commit, "Q8_0", *listed}, true);
    REQUIRE(h.is_ok());
    handle = *h;
  }
  // Cancelled before every byte was produced: nothing recorded; after: stored whole.
  if (auto rec = *hub->registry().find_export(commit, "Q8_0", formats::kGgufExporterVersion)) {
    CHECK(rec->sha256 == Sha256::of(std::string_view(want)));
    CHECK(hub->store().stat(rec->sha256).is_ok());
  }
  if (handle->running) {
    auto reader = handle->open(hub->store(), 0, want.size());
    REQUIRE(reader.is_ok());
    std::string got;
    std::vector<std::uint8_t> buf(4096);
    for (;;) {
      auto n = (*reader)->read(buf);
      if (!n.is_ok() || *n == 0) break;
      got.append(reinterpret_cast<const char*>(buf.data()), *n);
    }
    CHECK(got == want.substr(0, got.size()));
  }
  handle.reset();
  CHECK(spool_files(spool_dir) == 0);
}
