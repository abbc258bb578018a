// The framed store end to end: safetensors framing, dedup across files, deltas against a base
// (declared at upload or re-encoded later), verified reads, a generated model family read back
// whole and through random ranges.
#include "storage/framed_store.h"

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "common/fs.h"
#include "storage/backend.h"
#include "storage/pack.h"
#include "storage_test_util.h"

using namespace grove;
using namespace grove::storage;
using namespace grove::storage::test;

namespace {

// Exact for BF16 values whose magnitude is 0 or within FP16's normal range.
std::uint16_t bf16_to_f16(std::uint16_t b) {
  const std::uint16_t sign = static_cast<std::uint16_t>((b & 0x8000));
  const int exp = (b >> 7) & 0xff;
  if (exp == 0) return sign;
  const int e16 = exp - 127 + 15;
  return static_cast<std::uint16_t>(sign | (e16 << 10) | ((b & 0x7f) << 3));
}

std::vector<std::uint8_t> to_f16(const std::vector<std::uint8_t>& bf16) {
  std::vector<std::uint8_t> out(bf16.size());
  for (std::size_t i = 0; i < bf16.size(); i += 2) {
    const std::uint16_t h = bf16_to_f16(static_cast<std::uint16_t>(bf16[i] | (bf16[i + 1] << 8)));
    out[i] = static_cast<std::uint8_t>(h);
    out[i + 1] = static_cast<std::uint8_t>(h >> 8);
  }
  return out;
}

// A small "model": an embedding, two BF16 matrices (several frames each) and an F32 norm.
struct Model {
  std::vector<TensorSpec> tensors;
  std::vector<std::uint8_t> file() const { return make_safetensors(tensors); }
};

Model base_model(std::uint64_t seed) {
  Model m;
  m.tensors.push_back({"model.embed_tokens.weight", "BF16", {512, 1024}, bf16_weights(512 * 1024, seed)});
  m.tensors.push_back({"model.layers.0.mlp.weight", "BF16", {1024, 1536}, bf16_weights(1024 * 1536, seed + 1)});
  m.tensors.push_back({"model.layers.0.attn.weight", "BF16", {1000, 777}, bf16_weights(1000 * 777, seed + 2)});
  std::vector<std::uint8_t> norm(1024 * 4);
  for (std::size_t i = 0; i < 1024; ++i) {
    float v = 1.0f + static_cast<float>(i % 7) * 0.01f;
    std::memcpy(&norm[i * 4], &v, 4);
  }
  m.tensors.push_back({"model.norm.weight", "F32", {1024}, norm});
  return m;
}

// What the index says about frames: count of all, of deltas, and stored bytes.
struct IndexFacts {
  std::int64_t frames = 0, deltas = 0, cast_deltas = 0, stored = 0;
};

IndexFacts index_facts(const std::string& root) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2((root + "/index.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db,
                             "SELECT count(*), count(base), coalesce(sum(codec = 6), 0), coalesce(sum(stored_length), 0) "
                             "FROM frames",
                             -1, &s, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(s) == SQLITE_ROW);
  IndexFacts f{sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2),
               sqlite3_column_int64(s, 3)};
  sqlite3_finalize(s);
  sqlite3_close(db);
  return f;
}

// Runs `sql` on the store's index (from another connection, as another process would).
std::int64_t index_sql(const std::string& root, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((root + "/index.db").c_str(), &db) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* s = nullptr;
  INFO(sql);
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
  const int rc = sqlite3_step(s);
  REQUIRE((rc == SQLITE_ROW || rc == SQLITE_DONE));
  const std::int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : sqlite3_changes(db);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

std::unique_ptr<BlobStore> open_store(const std::string& root) {
  auto store = BlobStore::open_local(root);
  REQUIRE(store.is_ok());
  return std::move(store).value();
}

BlobInfo store_file(BlobStore& store, const std::vector<std::uint8_t>& data, const WriteHints& hints = {},
                    std::uint64_t seed = 1) {
  auto info = write_in_chunks(store, data, seed, 300 << 10, hints);
  REQUIRE(info.is_ok());
  return *info;
}

void check_reads_back(BlobStore& store, const BlobInfo& info, const std::vector<std::uint8_t>& data) {
  auto back = read_range(store, info.digest, 0, std::nullopt);
  INFO(back.status().to_string());
  REQUIRE(back.is_ok());
  CHECK(back->size() == data.size());
  CHECK(*back == data);
}

// Random ranges, a third of them straddling a 1 MiB boundary (where tensor frames end).
void check_random_ranges(BlobStore& store, const BlobInfo& info, const std::vector<std::uint8_t>& data, int count,
                         std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int i = 0; i < count; ++i) {
    std::uint64_t offset = rng() % (data.size() + 1);
    if (i % 3 == 0 && data.size() > (1u << 20)) {
      const std::uint64_t boundary = (1 + rng() % (data.size() >> 20)) << 20;
      offset = boundary - std::min<std::uint64_t>(boundary, rng() % 5000);
    }
    const std::uint64_t max_len = data.size() - offset;
    const std::uint64_t len = max_len == 0 ? 0 : rng() % std::min<std::uint64_t>(max_len + 1, 3u << 20);
    auto got = read_range(store, info.digest, offset, len);
    REQUIRE(got.is_ok());
    if (!std::equal(got->begin(), got->end(), data.begin() + static_cast<std::ptrdiff_t>(offset)) ||
        got->size() != len) {
      FAIL("range " << offset << "+" << len << " of a " << data.size() << "-byte file differs");
    }
    // The same range as views of the reader's decoded frames (what the server sends from),
    // every other range, each view within one frame.
    if (i % 2 == 0) {
      auto reader = store.open(info.digest, offset, len);
      REQUIRE(reader.is_ok());
      std::vector<std::uint8_t> viewed, scratch(4096);
      for (;;) {
        auto view = (*reader)->read_view(scratch);
        REQUIRE(view.is_ok());
        if (view->empty()) break;
        REQUIRE(view->size() <= (1u << 20));
        viewed.insert(viewed.end(), view->begin(), view->end());
      }
      if (viewed.size() != len || !std::equal(viewed.begin(), viewed.end(), data.begin() + static_cast<std::ptrdiff_t>(offset)))
        FAIL("read_view of " << offset << "+" << len << " of a " << data.size() << "-byte file differs");
    }
    // The same range decoded straight into a caller's buffer (what the exporter reads with).
    std::vector<std::uint8_t> exact(static_cast<std::size_t>(len), 0xEE);
    const Status s = store.read_exact(info.digest, offset, exact);
    if (!s.is_ok() || !std::equal(exact.begin(), exact.end(), data.begin() + static_cast<std::ptrdiff_t>(offset)))
      FAIL("read_exact of " << offset << "+" << len << " of a " << data.size() << "-byte file: " << s.to_string());
  }
  // Past the end: out of range, nothing read.
  std::vector<std::uint8_t> past(16);
  CHECK(store.read_exact(info.digest, data.size() - std::min<std::size_t>(data.size(), 8), past).code() == Code::kOutOfRange);
}

}  // namespace

TEST_CASE("safetensors files round trip and identical tensors are stored once across files", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  const Model m = base_model(100);
  const auto whole = m.file();
  const BlobInfo a = store_file(*store, whole, {"model.safetensors"});
  check_reads_back(*store, a, whole);
  check_random_ranges(*store, a, whole, 300, 1);
  const std::uint64_t after_one = pack_bytes(dir.path());
  CHECK(after_one < whole.size());  // BF16 planes compress

  // The same tensors resharded into two files with new headers: only the headers are new.
  Model first, second;
  first.tensors = {m.tensors[0], m.tensors[3]};
  second.tensors = {m.tensors[1], m.tensors[2]};
  const auto f1 = first.file(), f2 = second.file();
  const BlobInfo b1 = store_file(*store, f1, {"model-00001-of-00002.safetensors"});
  const BlobInfo b2 = store_file(*store, f2, {});  // detected without the name too
  check_reads_back(*store, b1, f1);
  check_reads_back(*store, b2, f2);
  CHECK(pack_bytes(dir.path()) - after_one < 20000);

  // Storing a file again stores nothing.
  const std::uint64_t before = pack_bytes(dir.path());
  CHECK(store_file(*store, whole, {"model.safetensors"}, 9).digest == a.digest);
  CHECK(pack_bytes(dir.path()) == before);
}

TEST_CASE("packs are written and read past the page cache, byte for byte", "[storage]") {
  TempDir dir;
  // The file seam itself: page-aligned pieces are written with O_DIRECT where the filesystem
  // allows it, the rest (an unaligned piece, the tail) as usual, all in order.
  {
    const std::string path = dir.path() + "/direct.bin";
    auto file = FileSystem::local().create(path);
    REQUIRE(file.is_ok());
    (*file)->bypass_page_cache();
    std::vector<std::uint8_t> aligned_buffer(3 * 4096 + 4096);
    std::uint8_t* page = aligned_buffer.data() + (4096 - reinterpret_cast<std::uintptr_t>(aligned_buffer.data()) % 4096) % 4096;
    const auto bytes = random_bytes(3 * 4096 + 100 + 2 * 4096 + 7, 42);
    std::vector<std::uint8_t> expect;
    auto put = [&](std::size_t from, std::size_t n, bool in_page) {
      std::span<const std::uint8_t> piece(bytes.data() + from, n);
      if (in_page) {
        std::memcpy(page, piece.data(), n);
        piece = {page, n};
      }
      REQUIRE((*file)->append(piece).is_ok());
      expect.insert(expect.end(), bytes.begin() + static_cast<std::ptrdiff_t>(from),
                    bytes.begin() + static_cast<std::ptrdiff_t>(from + n));
    };
    put(0, 3 * 4096 + 10, true);            // whole pages direct, 10 bytes held back
    put(3 * 4096 + 10, 90, false);          // unaligned memory (the held bytes go first)
    put(3 * 4096 + 100, 2 * 4096, true);    // aligned memory, unaligned offset
    put(5 * 4096 + 100, 7, false);
    REQUIRE((*file)->sync().is_ok());
    REQUIRE((*file)->close().is_ok());
    auto back = FileSystem::local().open_read(path);
    REQUIRE(back.is_ok());
    std::vector<std::uint8_t> got((*back)->size());
    REQUIRE((*back)->read_at(0, got).is_ok());
    CHECK(got == expect);
  }
  // Reads of 64 KiB or more go past the page cache too (whole pages into an aligned buffer, or
  // in place into a buffer that lies on pages as the file does): any offset and length, the end
  // of the file included, give the file's bytes, and nothing around the buffer is written.
  {
    const std::string path = dir.path() + "/read.bin";
    const auto bytes = random_bytes((9u << 20) + 123, 43);  // reads over 4 MiB come back in parts
    {
      auto file = FileSystem::local().create(path);
      REQUIRE(file.is_ok());
      REQUIRE((*file)->append(bytes).is_ok());
      REQUIRE((*file)->close().is_ok());
    }
    auto file = FileSystem::local().open_read(path);
    REQUIRE(file.is_ok());
    const std::size_t size = bytes.size();
    struct Case { std::size_t offset, length; };
    for (const Case c : {Case{0, size}, Case{1, 70000}, Case{4095, 5u << 20}, Case{4095, 4097 + (64u << 10)}, Case{4096, 64u << 10},
                         Case{size - 70000, 70000}, Case{size - 70000, 200000}, Case{size - 10, 100000},
                         Case{size, 100000}, Case{size + 5000, 100000}, Case{12345, 1000}}) {
     for (const bool in_place : {false, true}) {
      INFO("offset " << c.offset << ", length " << c.length << (in_place ? ", in place" : ""));
      // In place: a page of guard bytes on either side, and the buffer congruent to the offset
      // modulo 4096; else a buffer that is not (one byte off).
      const std::size_t lead = 4096 + c.offset % 4096 + (in_place ? 0 : 1);
      std::unique_ptr<std::uint8_t, void (*)(void*)> memory(
          static_cast<std::uint8_t*>(std::aligned_alloc(4096, (lead + c.length + 8192) / 4096 * 4096)), std::free);
      const std::size_t total = (lead + c.length + 8192) / 4096 * 4096;
      std::memset(memory.get(), 0xEE, total);
      std::span<std::uint8_t> out(memory.get() + lead, c.length);
      std::size_t n = 0;  // read_at may return less than asked: read on, as callers do
      for (;;) {
        auto part = (*file)->read_at(c.offset + n, std::span(out).subspan(n));
        REQUIRE(part.is_ok());
        if (*part == 0) break;
        n += *part;
      }
      const std::size_t expect_n = c.offset >= size ? 0 : std::min(c.length, size - c.offset);
      REQUIRE(n == expect_n);
      CHECK(std::equal(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(expect_n),
                       bytes.begin() + static_cast<std::ptrdiff_t>(std::min(c.offset, size))));
      CHECK(std::all_of(memory.get(), memory.get() + lead, [](std::uint8_t b) { return b == 0xEE; }));
      CHECK(std::all_of(memory.get() + lead + expect_n, memory.get() + total, [](std::uint8_t b) { return b == 0xEE; }));
     }
    }
  }
  // Through the store: several packs' worth of a dense file (whole staging buffers direct).
  auto store = open_store(dir.path() + "/store");
  const auto dense = random_bytes(11u << 20, 7);
  WriteHints hints;
  hints.incompressible = true;
  const BlobInfo info = store_file(*store, dense, hints);
  check_reads_back(*store, info, dense);
  check_random_ranges(*store, info, dense, 200, 3);
}

// Dense bytes are framed where the appends put them: a frame ends at 1 MiB, or where an
// append of at least 256 KiB begins or ends; smaller appends are gathered.
TEST_CASE("dense bytes are cut into frames at the larger appends' edges", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  const std::vector<std::size_t> appends = {(2u << 20) + (128u << 10), 100u << 10, 50u << 10, 600u << 10, 1u << 20};
  std::size_t total = 0;
  for (std::size_t n : appends) total += n;
  const auto bytes = random_bytes(total, 5);
  WriteHints hints;
  hints.incompressible = true;
  auto writer = store->begin_write(hints);
  REQUIRE(writer.is_ok());
  std::size_t at = 0;
  for (std::size_t n : appends) {
    REQUIRE((*writer)->append(std::span(bytes).subspan(at, n)).is_ok());
    at += n;
  }
  auto info = (*writer)->commit();
  REQUIRE(info.is_ok());
  // 1 MiB + 1 MiB in place, then 128 + 100 + 50 KiB gathered, then 600 KiB and 1 MiB in place.
  CHECK(index_facts(dir.path()).frames == 5);
  check_reads_back(*store, *info, bytes);
  check_random_ranges(*store, *info, bytes, 100, 9);
}

// A writer whose caller hashes takes the digest commit() is given as the blob's name, and
// refuses a commit without one, leaving nothing stored.
TEST_CASE("a writer whose caller hashes is named by the digest it is given", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  const auto bytes = random_bytes(3u << 20, 11);
  const Sha256Digest digest = Sha256::of(ByteSpan(bytes.data(), bytes.size()));
  WriteHints hints;
  hints.caller_hashes = true;
  {
    auto writer = store->begin_write(hints);
    REQUIRE(writer.is_ok());
    REQUIRE((*writer)->append(bytes).is_ok());
    auto unnamed = (*writer)->commit(std::nullopt, bytes.size());
    CHECK(unnamed.status().code() == Code::kInvalidArgument);
  }
  CHECK_FALSE(store->stat(digest).is_ok());
  auto writer = store->begin_write(hints);
  REQUIRE(writer.is_ok());
  REQUIRE((*writer)->append(bytes).is_ok());
  auto named = (*writer)->commit(digest, bytes.size());
  REQUIRE(named.is_ok());
  CHECK(named->digest == digest);
  check_reads_back(*store, *named, bytes);
}

TEST_CASE("files that only look like safetensors, or are cut short, still round trip", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  const auto whole = base_model(7).file();
  std::vector<std::vector<std::uint8_t>> cases = {
      std::vector<std::uint8_t>(whole.begin(), whole.begin() + 1000000),  // cut inside a tensor
      std::vector<std::uint8_t>(whole.begin(), whole.begin() + 100),      // cut inside the header
      {0x10, 0, 0, 0, 0, 0, 0, 0, '{', 'x'},                               // a header that is not JSON
      std::vector<std::uint8_t>(whole.begin(), whole.begin() + 7),
  };
  auto broken = whole;
  broken[9] = '!';  // the JSON no longer parses: everything goes through CDC
  cases.push_back(broken);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    INFO("case " << i);
    const BlobInfo info = store_file(*store, cases[i], {"x.safetensors"}, i);
    check_reads_back(*store, info, cases[i]);
  }
}

TEST_CASE("a fine-tune declared against its base is stored as deltas and reads back", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  // Frames encoded on the stream's thread, or on the writer's worker (two ingest threads).
  const unsigned threads = GENERATE(1u, 2u);
  INFO("ingest threads " << threads);
  store->set_ingest_threads(threads);
  const Model base = base_model(200);
  const auto base_file = base.file();
  const BlobInfo b = store_file(*store, base_file, {"model.safetensors"});
  const IndexFacts after_base = index_facts(dir.path());
  CHECK(after_base.deltas == 0);

  Model tuned = base;
  for (std::size_t i = 1; i < 3; ++i) tuned.tensors[i].bytes = fine_tune(base.tensors[i].bytes, 300 + i);
  const auto tuned_file = tuned.file();

  WriteHints hints{"model.safetensors", {b.digest}};
  const BlobInfo t = store_file(*store, tuned_file, hints);
  check_reads_back(*store, t, tuned_file);
  check_random_ranges(*store, t, tuned_file, 300, 2);
  const IndexFacts after_tuned = index_facts(dir.path());
  CHECK(after_tuned.deltas > 0);
  const std::int64_t tuned_stored = after_tuned.stored - after_base.stored;
  // The unchanged embedding dedups; the moved matrices cost well under their standalone size.
  CHECK(tuned_stored < after_base.stored * 6 / 10);
  check_reads_back(*store, b, base_file);

  SECTION("an FP16 conversion is stored as cast deltas") {
    Model fp16 = base;
    for (TensorSpec& ts : fp16.tensors) {
      if (ts.dtype != "BF16") continue;
      ts.dtype = "F16";
      ts.bytes = to_f16(ts.bytes);
    }
    const auto fp16_file = fp16.file();
    const BlobInfo h = store_file(*store, fp16_file, hints);
    check_reads_back(*store, h, fp16_file);
    check_random_ranges(*store, h, fp16_file, 100, 3);
    const IndexFacts after = index_facts(dir.path());
    CHECK(after.cast_deltas > 0);
    CHECK(after.stored - after_tuned.stored < static_cast<std::int64_t>(fp16_file.size() / 10));
  }
  SECTION("a wrong declared base stores nothing as deltas") {
    const Model other = base_model(999);
    const auto other_file = other.file();
    const BlobInfo o = store_file(*store, other_file, hints);
    check_reads_back(*store, o, other_file);
    CHECK(index_facts(dir.path()).deltas == after_tuned.deltas);
    // What the hub records as detected lineage: the wrong base explains nothing.
    auto wrong = store->reencode(o.digest, {b.digest});
    REQUIRE(wrong.is_ok());
    CHECK(wrong->tensor_bytes > 0);
    CHECK(wrong->similarity() < 0.05);
  }
  SECTION("the similarity counts deltas made at upload and frames shared with the base") {
    auto measured = store->reencode(t.digest, {b.digest});
    REQUIRE(measured.is_ok());
    CHECK(measured->frames_reencoded == 0);  // already deltas
    CHECK(measured->similarity() > 0.9);     // embedding shared, matrices deltas
    CHECK(measured->similarity() <= 1.0);
  }
  SECTION("a damaged base frame fails reads of the fine-tune cleanly") {
    for (const auto& pack : pack_files(dir.path())) flip_bit(pack, 4000);  // early frames of each pack
    auto reopened = open_store(dir.path());
    auto got = read_range(*reopened, t.digest, 0, std::nullopt);
    REQUIRE_FALSE(got.is_ok());
    CHECK(got.status().code() == Code::kCorrupt);
    CHECK(got.status().message().find("blob " + t.digest.hex() + " is corrupt: frame ") == 0);
  }
}

TEST_CASE("a file stored standalone is re-encoded against a base that arrives later", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  const Model base = base_model(400);
  Model tuned = base;
  for (std::size_t i = 0; i < 3; ++i) tuned.tensors[i].bytes = fine_tune(base.tensors[i].bytes, 500 + i);
  const auto tuned_file = tuned.file();
  const BlobInfo t = store_file(*store, tuned_file, {"model.safetensors"});
  const auto base_file = base.file();
  const BlobInfo b = store_file(*store, base_file, {"model.safetensors"});
  const IndexFacts before = index_facts(dir.path());
  CHECK(before.deltas == 0);

  auto stats = store->reencode(t.digest, {b.digest});
  REQUIRE(stats.is_ok());
  CHECK(stats->frames_reencoded > 0);
  CHECK(stats->similarity() > 0.9);
  CHECK(stats->stored_bytes_after < stats->stored_bytes_before * 8 / 10);
  const IndexFacts after = index_facts(dir.path());
  CHECK(after.deltas == static_cast<std::int64_t>(stats->frames_reencoded));
  CHECK(after.stored < before.stored);
  check_reads_back(*store, t, tuned_file);
  check_random_ranges(*store, t, tuned_file, 200, 4);
  check_reads_back(*store, b, base_file);
  // Doing it again finds nothing left to do; re-encoding the base against the fine-tune would
  // make chains, so it is refused frame by frame.
  CHECK(store->reencode(t.digest, {b.digest})->frames_reencoded == 0);
  CHECK(store->reencode(b.digest, {t.digest})->frames_reencoded == 0);
  CHECK(store->reencode(Sha256::of(std::string_view("x")), {b.digest}).status().code() == Code::kNotFound);
}

TEST_CASE("a bit flip in a pack fails reads of the affected frames only", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  const auto damaged_data = base_model(600).file();
  const BlobInfo damaged = store_file(*store, damaged_data, {"a.safetensors"});
  const auto packs_before = pack_files(dir.path());
  REQUIRE(packs_before.size() == 1);
  const auto other_data = random_bytes(700000, 601);
  const BlobInfo other = store_file(*store, other_data, {"b.bin"});

  // Somewhere in the middle of the first pack: inside some tensor frame of `damaged`.
  const std::string pack = packs_before.front();
  flip_bit(pack, std::filesystem::file_size(pack) / 2);
  auto whole = read_range(*store, damaged.digest, 0, std::nullopt);
  REQUIRE_FALSE(whole.is_ok());
  CHECK(whole.status().code() == Code::kCorrupt);
  CHECK(whole.status().message().find("blob " + damaged.digest.hex() + " is corrupt: frame ") == 0);
  CHECK(store->get_small(damaged.digest).status().code() == Code::kCorrupt);
  {
    auto reader = store->open(damaged.digest, 0, std::nullopt);
    REQUIRE(reader.is_ok());
    std::vector<std::uint8_t> scratch(4096);
    Status viewed;
    for (;;) {
      auto view = (*reader)->read_view(scratch);
      if (!view.is_ok()) viewed = view.status();
      if (!view.is_ok() || view->empty()) break;
    }
    CHECK(viewed.code() == Code::kCorrupt);
  }
  std::vector<std::uint8_t> exact(damaged_data.size());
  const Status exact_status = store->read_exact(damaged.digest, 0, exact);
  CHECK(exact_status.code() == Code::kCorrupt);
  CHECK(exact_status.message().find("blob " + damaged.digest.hex() + " is corrupt: frame ") == 0);
  // The header frame is still good, and so is every byte of the other file.
  auto head = read_range(*store, damaged.digest, 0, 100);
  REQUIRE(head.is_ok());
  CHECK(std::equal(head->begin(), head->end(), damaged_data.begin()));
  check_reads_back(*store, other, other_data);
}

TEST_CASE("reads check decoded bytes against the frame's raw check, or its id without one", "[storage]") {
  // The raw check is XXH3-64 with seed 0 (whichever SIMD code computes it): its reference value
  // for no bytes, so packs written before stay readable.
  CHECK(raw_check({}) == 0x2d06800538d394c2ull);
  TempDir dir;
  const auto data = base_model(650).file();
  BlobInfo info;
  {
    auto store = open_store(dir.path());
    info = store_file(*store, data, {"m.safetensors"});
  }
  // Every frame written now has a raw check.
  CHECK(index_sql(dir.path(), "SELECT count(*) FROM frames") > 3);
  CHECK(index_sql(dir.path(), "SELECT count(*) FROM frames WHERE raw_check = 0") == 0);
  {
    // A wrong raw check fails the read of that frame, as a wrong byte would.
    CHECK(index_sql(dir.path(), "UPDATE frames SET raw_check = raw_check + 1 WHERE id = "
                                "(SELECT frame FROM recipes ORDER BY raw_offset DESC LIMIT 1)") == 1);
    auto store = open_store(dir.path());
    auto whole = read_range(*store, info.digest, 0, std::nullopt);
    REQUIRE_FALSE(whole.is_ok());
    CHECK(whole.status().code() == Code::kCorrupt);
    CHECK(whole.status().message().find("do not match their check") != std::string::npos);
    std::vector<std::uint8_t> exact(data.size());
    CHECK(store->read_exact(info.digest, 0, exact).code() == Code::kCorrupt);
  }
  // An index made before raw checks: the column is added back (as 0) when the store opens, the
  // old gc triggers that copied frame rows by position are dropped, and every frame is checked
  // against its id instead.
  index_sql(dir.path(), "ALTER TABLE frames DROP COLUMN raw_check");
  index_sql(dir.path(), "CREATE TABLE gc_frames(id BLOB PRIMARY KEY, pack_id, pack_offset, stored_length, raw_length, "
                        "codec, elem_type, base, checksum, unlinked_at)");
  index_sql(dir.path(), "CREATE TRIGGER gc_resurrect_by_recipe AFTER INSERT ON recipes "
                        "WHEN EXISTS (SELECT 1 FROM gc_frames WHERE id = NEW.frame) BEGIN "
                        "INSERT OR IGNORE INTO frames SELECT id, pack_id, pack_offset, stored_length, raw_length, codec, "
                        "elem_type, base, checksum FROM gc_frames WHERE id = NEW.frame; END");
  {
    auto store = open_store(dir.path());
    CHECK(index_sql(dir.path(), "SELECT count(*) FROM frames WHERE raw_check = 0") ==
          index_sql(dir.path(), "SELECT count(*) FROM frames"));
    CHECK(index_sql(dir.path(), "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'") == 0);
    check_reads_back(*store, info, data);
    check_random_ranges(*store, info, data, 50, 11);
    // New frames get raw checks again; a frame without one still fails on a bad byte.
    const auto other = base_model(651).file();
    const BlobInfo o = store_file(*store, other, {"o.safetensors"});
    CHECK(index_sql(dir.path(), "SELECT count(*) FROM frames WHERE raw_check != 0") > 3);
    check_reads_back(*store, o, other);
  }
  const auto packs = pack_files(dir.path());
  REQUIRE(!packs.empty());
  for (const std::string& pack : packs) flip_bit(pack, std::filesystem::file_size(pack) / 2);
  auto store = open_store(dir.path());
  CHECK(read_range(*store, info.digest, 0, std::nullopt).status().code() == Code::kCorrupt);
}

TEST_CASE("the framed store works over the in-memory backend", "[storage]") {
  TempDir dir;
  FramedStoreOptions options;
  options.pack_target_bytes = 256 << 10;  // many packs
  auto store = open_framed_store(dir.path() + "/index.db", BlobBackend::memory(), options);
  REQUIRE(store.is_ok());
  const auto data = base_model(700).file();
  const BlobInfo info = store_file(**store, data, {"m.safetensors"});
  check_reads_back(**store, info, data);
  check_random_ranges(**store, info, data, 200, 5);
}

TEST_CASE("every file of a generated tiny family round trips, whole and through random ranges", "[storage]") {
  const char* env = std::getenv("GROVE_SYNTH_BIN");
  const std::string synth = env && *env ? env : GROVE_SYNTH_DEFAULT;
  if (synth.empty() || !std::filesystem::exists(synth)) {
    WARN("grove-synth not built; set GROVE_SYNTH_BIN to run the family round trip");
    return;
  }
  TempDir dir;
  const std::string out = dir.path() + "/family";
  const std::string cmd = "'" + synth + "' family --out '" + out + "' --size tiny > /dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);

  auto store = open_store(dir.path() + "/store");
  // The base first, so the derivatives can name its files as their base.
  std::vector<std::string> members;
  for (const auto& e : std::filesystem::directory_iterator(out)) members.push_back(e.path().filename().string());
  std::sort(members.begin(), members.end(), [](const std::string& a, const std::string& b) {
    return (a != "base") < (b != "base") || ((a != "base") == (b != "base") && a < b);
  });
  REQUIRE(!members.empty());
  REQUIRE(members.front() == "base");

  std::vector<Sha256Digest> base_files;
  std::vector<std::pair<BlobInfo, std::vector<std::uint8_t>>> stored;
  std::uint64_t naive = 0;
  for (const std::string& member : members) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(out + "/" + member)) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      WriteHints hints{e.path().filename().string(), member == "base" ? std::vector<Sha256Digest>{} : base_files};
      const BlobInfo info = store_file(*store, data, hints, naive);
      if (member == "base" && e.path().extension() == ".safetensors") base_files.push_back(info.digest);
      naive += data.size();
      stored.emplace_back(info, std::move(data));
    }
  }
  REQUIRE(!base_files.empty());
  for (const auto& [info, data] : stored) {
    INFO("file of " << data.size() << " bytes");
    check_reads_back(*store, info, data);
  }
  // At least 1,000 random ranges over the family, most in the larger files.
  int ranges = 0;
  for (std::size_t i = 0; i < stored.size(); ++i) {
    const auto& [info, data] = stored[i];
    const int n = data.size() > (1u << 20) ? 150 : 10;
    check_random_ranges(*store, info, data, n, 1000 + i);
    ranges += n;
  }
  CHECK(ranges >= 1000);
  const IndexFacts facts = index_facts(dir.path() + "/store");
  CHECK(facts.deltas > 0);
  const std::uint64_t packed = pack_bytes(dir.path() + "/store");
  CHECK(packed < naive / 2);
  WARN("tiny family: " << naive << " bytes naive, " << packed << " in packs (" << facts.frames << " frames, "
                       << facts.deltas << " deltas)");
}
