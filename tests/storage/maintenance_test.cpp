// Storage maintenance: gc reclaims exactly what no live file needs (delta bases included),
// respects its grace period and dry run, and keeps pushes that run during it intact; fsck finds
// bit flips and missing packs, and its repair turns corrupt files into missing ones.
#include "storage/maintenance.h"

#include <sqlite3.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "storage/framed_store.h"
#include "storage_test_util.h"
#include "tests/common/fault_injection_fs.h"

using namespace grove;
using namespace grove::storage;
using namespace grove::storage::test;

namespace {

using Tensor = TensorSpec;

std::vector<std::uint8_t> safetensors(const std::vector<Tensor>& tensors) { return make_safetensors(tensors); }

// A small model: an embedding (kept as is by tunes) and two matrices of several 1 MiB frames.
std::vector<Tensor> model(std::uint64_t seed) {
  return {{"embed", "BF16", {256, 1024}, bf16_weights(256 * 1024, seed)},
          {"layers.0.mlp", "BF16", {1024, 1024}, bf16_weights(1024 * 1024, seed + 1)},
          {"layers.0.attn", "BF16", {512, 1024}, bf16_weights(512 * 1024, seed + 2)}};
}

std::vector<Tensor> tuned(const std::vector<Tensor>& base, std::uint64_t seed) {
  std::vector<Tensor> out = base;
  for (std::size_t i = 1; i < out.size(); ++i) out[i].bytes = fine_tune(base[i].bytes, seed + i);
  return out;
}

struct Stored {
  Sha256Digest digest;
  std::vector<std::uint8_t> data;
};

Stored put(BlobStore& store, std::vector<std::uint8_t> data, const std::vector<Sha256Digest>& bases = {}) {
  auto info = write_in_chunks(store, data, data.size(), 300 << 10, WriteHints{"model.safetensors", bases});
  INFO(info.status().to_string());
  REQUIRE(info.is_ok());
  return {info->digest, std::move(data)};
}

bool reads_back(BlobStore& store, const Stored& s) {
  auto back = read_range(store, s.digest, 0, std::nullopt);
  return back.is_ok() && *back == s.data;
}

// Rows of the index, read on a connection of the test's own.
struct IndexView {
  std::set<std::string> frames;                          // hex ids
  std::map<std::string, std::string> frame_base;         // id -> base id
  std::map<std::string, std::set<std::string>> recipe;   // file hex -> frame ids
  std::map<std::string, std::uint64_t> pack_size;        // name -> size
  std::map<std::string, std::uint64_t> pack_expected;    // name -> size its frame rows account for
};

std::string hex_of(sqlite3_stmt* s, int col) {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, col));
  std::string out;
  static const char* digits = "0123456789abcdef";
  for (int i = 0; i < sqlite3_column_bytes(s, col); ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

IndexView view(const std::string& root) {
  IndexView v;
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2((root + "/index.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  auto each = [&](const char* sql, auto&& f) {
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) f(s);
    sqlite3_finalize(s);
  };
  each("SELECT id, base FROM frames", [&](sqlite3_stmt* s) {
    v.frames.insert(hex_of(s, 0));
    if (sqlite3_column_type(s, 1) != SQLITE_NULL) v.frame_base[hex_of(s, 0)] = hex_of(s, 1);
  });
  each("SELECT file, frame FROM recipes", [&](sqlite3_stmt* s) { v.recipe[hex_of(s, 0)].insert(hex_of(s, 1)); });
  each("SELECT p.name, p.size, (SELECT coalesce(sum(48 + 112 + stored_length), 0) FROM frames f WHERE f.pack_id = p.id) "
       "FROM packs p",
       [&](sqlite3_stmt* s) {
         const std::string name(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
         v.pack_size[name] = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
         v.pack_expected[name] = 8 + 40 + static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
       });
  sqlite3_close(db);
  return v;
}

// The frames `files` need: their recipes' frames and those frames' delta bases.
std::set<std::string> needed_frames(const IndexView& v, const std::vector<Sha256Digest>& files) {
  std::set<std::string> out;
  for (const Sha256Digest& f : files) {
    auto it = v.recipe.find(f.hex());
    REQUIRE(it != v.recipe.end());
    for (const std::string& id : it->second) {
      out.insert(id);
      if (auto b = v.frame_base.find(id); b != v.frame_base.end()) out.insert(b->second);
    }
  }
  return out;
}

LiveFilesFn live_of(std::vector<Sha256Digest> files) {
  return [files] { return Result<std::vector<Sha256Digest>>(files); };
}

std::unique_ptr<StorageMaintenance> open_maintenance(const std::string& root) {
  auto m = StorageMaintenance::open_local(root);
  INFO(m.status().to_string());
  REQUIRE(m.is_ok());
  return std::move(m).value();
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::map<std::string, std::uintmax_t> disk(const std::string& root) {
  std::map<std::string, std::uintmax_t> out;
  for (const auto& p : pack_files(root)) out[p] = std::filesystem::file_size(p);
  return out;
}

}  // namespace

TEST_CASE("gc reclaims exactly what no live file needs, keeping delta bases", "[storage][gc]") {
  TempDir dir;
  auto store = BlobStore::open_local(dir.path());
  REQUIRE(store.is_ok());
  BlobStore& s = **store;
  const auto base_tensors = model(10);
  const Stored base = put(s, safetensors(base_tensors));
  const Stored tune_a = put(s, safetensors(tuned(base_tensors, 20)), {base.digest});   // deltas on base
  const Stored tune_b = put(s, safetensors(tuned(base_tensors, 30)), {base.digest});   // the derivative to delete
  const Stored other = put(s, safetensors(model(40)));
  const std::string text_str(5000, 'x');
  const Stored text = put(s, std::vector<std::uint8_t>(text_str.begin(), text_str.end()));
  const IndexView before = view(dir.path());
  // tune_a really deltas against base frames, which must survive the base's deletion.
  std::set<std::string> bases_of_a;
  for (const std::string& id : before.recipe.at(tune_a.digest.hex()))
    if (auto b = before.frame_base.find(id); b != before.frame_base.end()) bases_of_a.insert(b->second);
  REQUIRE(!bases_of_a.empty());

  auto m = open_maintenance(dir.path());
  const std::vector<Sha256Digest> all = {base.digest, tune_a.digest, tune_b.digest, other.digest, text.digest};
  GcOptions opts;
  opts.grace_seconds = 0;
  opts.rewrite_below = 1.0;  // rewrite any pack holding garbage, so "exactly" is checkable

  SECTION("with everything live, nothing is reclaimed") {
    auto r = m->gc(live_of(all), opts);
    REQUIRE(r.is_ok());
    CHECK(r->bytes_deleted == 0);
    CHECK(r->files_unlinked == 0);
    CHECK(disk(dir.path()).size() == before.pack_size.size());
  }

  SECTION("deleting a derivative and the base others delta against") {
    const std::vector<Sha256Digest> live = {tune_a.digest, other.digest, text.digest};
    const std::set<std::string> needed = needed_frames(before, live);
    for (const std::string& b : bases_of_a) CHECK(needed.contains(b));
    const auto disk_before = disk(dir.path());

    GcOptions dry = opts;
    dry.dry_run = true;
    auto d = m->gc(live_of(live), dry);
    REQUIRE(d.is_ok());
    CHECK(d->bytes_reclaimable > 0);
    CHECK(d->files_unlinked == 2);
    CHECK(d->bytes_deleted == 0);
    // The dry run changed nothing.
    CHECK(disk(dir.path()) == disk_before);
    const IndexView after_dry = view(dir.path());
    CHECK(after_dry.frames == before.frames);
    CHECK(after_dry.recipe.size() == before.recipe.size());
    CHECK(reads_back(s, base));

    auto r = m->gc(live_of(live), opts);
    REQUIRE(r.is_ok());
    const IndexView after = view(dir.path());
    // Exactly the needed frames are left, in packs that hold nothing else.
    CHECK(after.frames == needed);
    for (const auto& [name, size] : after.pack_size) CHECK(size == after.pack_expected.at(name));
    std::uint64_t on_disk = 0;
    for (const auto& [path, size] : disk(dir.path())) on_disk += size;
    std::uint64_t accounted = 0;
    for (const auto& [name, size] : after.pack_expected) accounted += size;
    CHECK(on_disk == accounted);
    CHECK(disk(dir.path()).size() == after.pack_size.size());
    std::uint64_t before_bytes = 0;
    for (const auto& [p, size] : disk_before) before_bytes += size;
    CHECK(r->reclaimed() == static_cast<std::int64_t>(before_bytes - on_disk));
    CHECK(static_cast<std::int64_t>(d->bytes_reclaimable) == r->reclaimed());

    // Every remaining file reads back byte-identical; the deleted ones are gone.
    auto reopened = BlobStore::open_local(dir.path());
    REQUIRE(reopened.is_ok());
    for (const Stored* f : {&tune_a, &other, &text}) CHECK(reads_back(**reopened, *f));
    CHECK((*reopened)->stat(base.digest).status().code() == Code::kNotFound);
    CHECK((*reopened)->stat(tune_b.digest).status().code() == Code::kNotFound);
    // A second run finds nothing more, and fsck is clean.
    auto again = m->gc(live_of(live), opts);
    REQUIRE(again.is_ok());
    CHECK(again->bytes_deleted == 0);
    auto f = m->fsck({});
    REQUIRE(f.is_ok());
    CHECK(f->clean());
    CHECK(f->files_checked == 3);
    // The base pushed again is stored again and reads back.
    const Stored base2 = put(**reopened, base.data);
    CHECK(reads_back(**reopened, base2));
    CHECK(reads_back(**reopened, tune_a));
  }

  SECTION("the grace period protects young packs and files") {
    const std::vector<Sha256Digest> live = {tune_a.digest, other.digest, text.digest};
    GcOptions graced = opts;
    graced.grace_seconds = 3600;
    auto r = m->gc(live_of(live), graced);
    REQUIRE(r.is_ok());
    CHECK(r->files_unlinked == 0);
    CHECK(r->frames_unlinked == 0);
    CHECK(r->bytes_deleted == 0);
    CHECK(reads_back(s, base));
    CHECK(reads_back(s, tune_b));
    // Two hours later the same files are garbage; the unlinked packs wait out another grace
    // period before their bytes go (pushes that looked a frame up may still be running).
    graced.now = unix_now() + 7200;
    r = m->gc(live_of(live), graced);
    REQUIRE(r.is_ok());
    CHECK(r->files_unlinked == 2);
    CHECK(r->bytes_deleted == 0);
    CHECK(r->bytes_pending > 0);
    CHECK(s.stat(base.digest).status().code() == Code::kNotFound);
    graced.now = unix_now() + 7200 + 3601;
    r = m->gc(live_of(live), graced);
    REQUIRE(r.is_ok());
    CHECK(r->bytes_deleted > 0);
    CHECK(view(dir.path()).frames == needed_frames(before, live));
    for (const Stored* f : {&tune_a, &other, &text}) CHECK(reads_back(s, *f));
  }

  SECTION("a file made live again between unlink and deletion is restored") {
    const std::vector<Sha256Digest> live = {tune_a.digest, other.digest, text.digest};
    GcOptions graced = opts;
    graced.grace_seconds = 3600;
    graced.now = unix_now() + 7200;
    auto r = m->gc(live_of(live), graced);
    REQUIRE(r.is_ok());
    CHECK(r->files_unlinked == 2);
    CHECK(s.stat(tune_b.digest).status().code() == Code::kNotFound);
    // A commit names tune_b again (say a registry commit of a deduplicated upload).
    std::vector<Sha256Digest> live2 = live;
    live2.push_back(tune_b.digest);
    r = m->gc(live_of(live2), graced);
    REQUIRE(r.is_ok());
    CHECK(r->files_restored == 1);
    CHECK(reads_back(s, tune_b));
  }
}

TEST_CASE("pushes that run during gc stay intact", "[storage][gc]") {
  TempDir dir;
  auto store = BlobStore::open_local(dir.path());
  REQUIRE(store.is_ok());
  BlobStore& s = **store;
  // Old content nobody names any more; new pushes share its tensors and whole files.
  std::vector<std::vector<Tensor>> models;
  std::vector<Stored> old;
  for (int i = 0; i < 3; ++i) {
    models.push_back(model(100 + 10 * static_cast<std::uint64_t>(i)));
    old.push_back(put(s, safetensors(models.back())));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));

  std::mutex mu;
  std::vector<Sha256Digest> registered;  // what the "registry" names: committed pushes
  std::vector<Stored> pushed;
  std::atomic<bool> done{false};
  std::string push_error;
  std::thread pusher([&] {
    for (int i = 0; i < 18 && push_error.empty(); ++i) {
      std::vector<std::uint8_t> data;
      const auto& m = models[static_cast<std::size_t>(i) % models.size()];
      if (i % 3 == 0) {
        data = safetensors(m);  // exactly an old file
      } else {
        auto t = m;  // shares the embedding frames with an old file
        t[1].bytes = bf16_weights(1024 * 1024, 1000 + static_cast<std::uint64_t>(i));
        data = safetensors(t);
      }
      auto info = write_in_chunks(s, data, static_cast<std::uint64_t>(i), 200 << 10, WriteHints{"m.safetensors", {}});
      if (!info.is_ok()) {
        std::lock_guard lock(mu);
        push_error = info.status().to_string();
        break;
      }
      std::lock_guard lock(mu);
      registered.push_back(info->digest);
      pushed.push_back({info->digest, std::move(data)});
    }
    done = true;
  });
  auto m = open_maintenance(dir.path());
  GcOptions opts;
  opts.grace_seconds = 3;  // far longer than one of these pushes, even on a busy machine
  opts.rewrite_below = 1.0;
  LiveFilesFn live = [&]() -> Result<std::vector<Sha256Digest>> {
    std::lock_guard lock(mu);
    return registered;
  };
  int runs = 0;
  std::uint64_t deleted = 0;
  while (!done) {
    auto r = m->gc(live, opts);
    REQUIRE(r.is_ok());
    deleted += r->bytes_deleted;
    ++runs;
  }
  pusher.join();
  INFO(push_error);
  REQUIRE(push_error.empty());
  // Let the last unlinked packs age out, then collect them too.
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  for (int i = 0; i < 2; ++i) {
    auto r = m->gc(live, opts);
    REQUIRE(r.is_ok());
    deleted += r->bytes_deleted;
  }
  CHECK(runs > 1);
  CHECK(deleted > 0);
  auto reopened = BlobStore::open_local(dir.path());
  REQUIRE(reopened.is_ok());
  for (const Stored& p : pushed) CHECK(reads_back(**reopened, p));
  auto f = m->fsck({});
  REQUIRE(f.is_ok());
  INFO((f->problems.empty() ? std::string() : f->problems.front()));
  CHECK(f->clean());
}

TEST_CASE("fsck finds bit flips; repair leaves files missing, not corrupt", "[storage][fsck]") {
  TempDir dir;
  auto store = BlobStore::open_local(dir.path());
  REQUIRE(store.is_ok());
  BlobStore& s = **store;
  const Stored a = put(s, safetensors(model(1)));
  const auto packs_a = pack_files(dir.path());
  REQUIRE(packs_a.size() == 1);
  const Stored b = put(s, safetensors(model(2)));
  const Stored c = put(s, safetensors(model(3)));
  auto m = open_maintenance(dir.path());
  auto clean = m->fsck({});
  REQUIRE(clean.is_ok());
  CHECK(clean->clean());
  CHECK(clean->files_checked == 3);
  CHECK(clean->frames_checked > 6);

  // A bit flip in the middle of a's pack (inside some frame's payload).
  flip_bit(packs_a.front(), std::filesystem::file_size(packs_a.front()) / 2);
  auto found = m->fsck({});
  REQUIRE(found.is_ok());
  CHECK_FALSE(found->clean());
  REQUIRE(found->damaged_packs.size() == 1);
  CHECK(packs_a.front().find(found->damaged_packs.front()) != std::string::npos);
  REQUIRE(found->damaged_files.size() == 1);
  CHECK(found->damaged_files.front() == a.digest);
  auto bad = read_range(s, a.digest, 0, std::nullopt);
  CHECK(bad.status().code() == Code::kCorrupt);
  CHECK(reads_back(s, b));
  CHECK(reads_back(s, c));

  SECTION("repair") {
    FsckOptions repair;
    repair.repair = true;
    auto r = m->fsck(repair);
    REQUIRE(r.is_ok());
    REQUIRE(r->removed_files.size() == 1);
    CHECK(r->removed_files.front() == a.digest);
    CHECK(r->frames_salvaged > 0);  // a's good frames moved to a new pack
    CHECK(s.stat(a.digest).status().code() == Code::kNotFound);
    CHECK(reads_back(s, b));
    CHECK(reads_back(s, c));
    auto after = m->fsck({});
    REQUIRE(after.is_ok());
    INFO((after->problems.empty() ? std::string() : after->problems.front()));
    CHECK(after->clean());
    // Re-pushing the file stores it again.
    const Stored a2 = put(s, a.data);
    CHECK(reads_back(s, a2));
    CHECK(m->fsck({})->clean());
  }
}

TEST_CASE("raw frames (dense bytes) carry their id as checksum, and fsck still finds a flip in one", "[storage][fsck]") {
  TempDir dir;
  auto store = BlobStore::open_local(dir.path());
  REQUIRE(store.is_ok());
  BlobStore& s = **store;
  // Random bytes are stored raw: as an export's cache (fixed frames, no codec trials) and as a
  // plain file (CDC, zstd tried and refused).
  const auto dense = random_bytes(3u << 20, 11);
  WriteHints hints{"Q8_0.gguf"};
  hints.incompressible = true;
  auto info = write_in_chunks(s, dense, dense.size(), 300 << 10, hints);
  REQUIRE(info.is_ok());
  const Stored plain = put(s, random_bytes(1u << 20, 12));
  auto m = open_maintenance(dir.path());
  auto clean = m->fsck({});
  REQUIRE(clean.is_ok());
  INFO((clean->problems.empty() ? std::string() : clean->problems.front()));
  CHECK(clean->clean());
  CHECK(clean->frames_checked >= 4);

  const auto packs = pack_files(dir.path());
  REQUIRE(packs.size() == 2);
  for (const std::string& pack : packs) flip_bit(pack, std::filesystem::file_size(pack) / 3);
  auto found = m->fsck({});
  REQUIRE(found.is_ok());
  CHECK(found->damaged_packs.size() == 2);
  CHECK(found->damaged_files.size() == 2);
  CHECK(read_range(s, info->digest, 0, std::nullopt).status().code() == Code::kCorrupt);
  CHECK(read_range(s, plain.digest, 0, std::nullopt).status().code() == Code::kCorrupt);
}

TEST_CASE("a push failing at its Nth write leaves fsck clean and nothing for gc but orphans", "[storage][fsck]") {
  const auto data = safetensors(model(77));
  for (std::uint64_t n : {1u, 2u, 5u, 20u, 60u}) {
    TempDir dir;
    grove::testing::FaultInjectionFileSystem fs(FileSystem::local());
    FramedStoreOptions options;
    options.pack_target_bytes = 1 << 20;
    auto store = open_local_framed_store(dir.path(), fs, options);
    REQUIRE(store.is_ok());
    const Stored keep = put(**store, safetensors(model(5)));
    fs.fail_write_after(n);
    auto info = write_in_chunks(**store, data, n, 256 << 10, WriteHints{"m.safetensors", {}});
    fs.clear_faults();
    auto m = open_maintenance(dir.path());
    auto f = m->fsck({});
    REQUIRE(f.is_ok());
    CHECK(f->clean());
    if (info.is_ok()) {
      CHECK(reads_back(**store, {info->digest, data}));
    } else {
      CHECK((*store)->stat(Sha256::of(data)).status().code() == Code::kNotFound);
    }
    CHECK(reads_back(**store, keep));
  }
}

// A client that uploads (or only announces) content the store already has gets no new copy: its
// commit will name the old one. Until that commit lands the file is live for nobody, so the
// dedup must restart its grace period, or a gc in that window reclaims what the commit names.
TEST_CASE("a file deduplicated by a new upload survives a gc run before its commit", "[storage][gc]") {
  TempDir dir;
  auto store = BlobStore::open_local(dir.path());
  REQUIRE(store.is_ok());
  BlobStore& s = **store;
  const Stored old = put(s, safetensors(model(61)));
  auto m = open_maintenance(dir.path());
  // Ages the file past the grace period, as if it were stored two days ago.
  auto age = [&] {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((dir.path() + "/index.db").c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "UPDATE files SET created_at = created_at - 172800", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  };
  GcOptions opts;  // the default grace period (a day); nothing is live yet
  opts.rewrite_below = 1.0;

  SECTION("re-uploaded: the writer's commit finds it stored and refreshes it") {
    age();
    const Stored again = put(s, old.data);
    CHECK(again.digest == old.digest);
    auto r = m->gc(live_of({}), opts);
    REQUIRE(r.is_ok());
    CHECK(r->files_unlinked == 0);
    CHECK(reads_back(s, old));
  }
  SECTION("announced only (LFS batch, completion or commit): stat_for_commit refreshes it") {
    age();
    auto info = s.stat_for_commit(old.digest);
    REQUIRE(info.is_ok());
    CHECK(info->size == old.data.size());
    auto r = m->gc(live_of({}), opts);
    REQUIRE(r.is_ok());
    CHECK(r->files_unlinked == 0);
    CHECK(reads_back(s, old));
  }
  SECTION("control: without a new reference the aged file is reclaimed") {
    age();
    auto info = s.stat(old.digest);  // a plain stat protects nothing
    REQUIRE(info.is_ok());
    auto r = m->gc(live_of({}), opts);
    REQUIRE(r.is_ok());
    CHECK(r->files_unlinked == 1);
    CHECK(s.stat(old.digest).status().code() == Code::kNotFound);
  }
  CHECK(s.stat_for_commit(Sha256::of(std::span<const std::uint8_t>())).status().code() == Code::kNotFound);
}

TEST_CASE("the stats cache scans again only after the index changed", "[storage][stats]") {
  TempDir dir;
  SECTION("no store") {
    auto cache = StoreStatsCache::open(dir.path());
    REQUIRE(cache.is_ok());
    auto got = (*cache)->get();
    REQUIRE(!got.is_ok());
    CHECK(got.status().code() == Code::kNotFound);
  }
  SECTION("a store") {
    auto store = BlobStore::open_local(dir.path());
    REQUIRE(store.is_ok());
    const Stored first = put(**store, safetensors(model(50)));
    auto cache = StoreStatsCache::open(dir.path());
    REQUIRE(cache.is_ok());
    auto m = open_maintenance(dir.path());
    auto cached = (*cache)->get();
    REQUIRE(cached.is_ok());
    auto direct = m->stats();
    REQUIRE(direct.is_ok());
    CHECK((*cached)->frame_count == direct->frame_count);
    CHECK((*cached)->pack_count == direct->pack_count);
    CHECK((*cached)->pack_bytes == direct->pack_bytes);
    REQUIRE((*cached)->files.size() == 1);
    CHECK((*cached)->files.at(first.digest).stored_bytes == direct->files.at(first.digest).stored_bytes);

    // Unchanged index: the very same figures, not a new scan.
    auto again = (*cache)->get();
    REQUIRE(again.is_ok());
    CHECK(again->get() == cached->get());

    // A push commits on the store's connection, another than the cache's.
    const Stored second = put(**store, safetensors(model(60)));
    auto pushed = (*cache)->get();
    REQUIRE(pushed.is_ok());
    CHECK(pushed->get() != cached->get());
    CHECK((*pushed)->files.size() == 2);
    CHECK((*pushed)->files.count(second.digest) == 1);

    // So does gc, on a connection of its own (as from another process).
    GcOptions opts;
    opts.grace_seconds = 0;
    REQUIRE(m->gc(live_of({first.digest}), opts).is_ok());
    auto collected = (*cache)->get();
    REQUIRE(collected.is_ok());
    CHECK((*collected)->files.size() == 1);
    CHECK((*collected)->files.count(first.digest) == 1);
  }
}
