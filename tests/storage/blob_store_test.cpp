#include "storage/blob_store.h"

#include <sys/time.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "storage/framed_store.h"
#include "storage_test_util.h"

using namespace grove;
using namespace grove::storage;
using namespace grove::storage::test;

namespace {

std::unique_ptr<BlobStore> open_store(const std::string& root) {
  auto store = BlobStore::open_local(root);
  REQUIRE(store.is_ok());
  return std::move(store).value();
}

std::vector<std::uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

}  // namespace

TEST_CASE("a small blob round trips under the SHA-256 of its content", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  auto info = store->put(as_bytes("hello world"));
  REQUIRE(info.is_ok());
  CHECK(info->digest.hex() == "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
  CHECK(info->size == 11);

  auto stat = store->stat(info->digest);
  REQUIRE(stat.is_ok());
  CHECK(stat->size == 11);
  auto text = store->get_small(info->digest);
  REQUIRE(text.is_ok());
  CHECK(*text == "hello world");
  CHECK(pack_files(dir.path()).size() == 1);
}

TEST_CASE("the empty blob is stored and reads back as nothing", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  auto info = store->put({});
  REQUIRE(info.is_ok());
  CHECK(info->digest.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  auto bytes = read_range(*store, info->digest, 0, std::nullopt);
  REQUIRE(bytes.is_ok());
  CHECK(bytes->empty());
}

TEST_CASE("a multi-MB blob written in random chunks reads back identically", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  const auto data = random_bytes((5u << 20) + 123, 42);
  auto writer = store->begin_write({"model.safetensors"});
  REQUIRE(writer.is_ok());
  std::mt19937_64 rng(7);
  for (std::size_t pos = 0; pos < data.size();) {
    std::size_t n = std::min<std::size_t>(data.size() - pos, 1 + rng() % (300 << 10));
    REQUIRE((*writer)->append(std::span(data).subspan(pos, n)).is_ok());
    pos += n;
  }
  CHECK((*writer)->bytes_written() == data.size());
  auto info = (*writer)->commit(Sha256::of(data), data.size());
  REQUIRE(info.is_ok());
  CHECK(info->size == data.size());

  // Odd read sizes exercise reads that do not line up with the writes.
  for (std::size_t chunk : {std::size_t{1} << 20, std::size_t{4093}}) {
    auto reader = store->open(info->digest);
    REQUIRE(reader.is_ok());
    CHECK((*reader)->length() == data.size());
    auto back = read_all(**reader, chunk);
    REQUIRE(back.is_ok());
    CHECK(*back == data);
  }
}

TEST_CASE("byte ranges return exactly the requested bytes", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  const auto data = random_bytes(1 << 20, 3);
  auto info = store->put(data);
  REQUIRE(info.is_ok());
  const std::uint64_t size = data.size();

  struct Case {
    const char* name;
    std::uint64_t offset;
    std::optional<std::uint64_t> length;
    std::uint64_t expected_length;
  };
  const Case cases[] = {
      {"start", 0, 1000, 1000},
      {"middle", 400000, 12345, 12345},
      {"end, open length", size - 777, std::nullopt, 777},
      {"end, explicit length", size - 777, 777, 777},
      {"empty at end, open length", size, std::nullopt, 0},
      {"empty at end, zero length", size, 0, 0},
      {"single byte", 12345, 1, 1},
      {"last byte", size - 1, 1, 1},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    auto reader = store->open(info->digest, c.offset, c.length);
    REQUIRE(reader.is_ok());
    CHECK((*reader)->length() == c.expected_length);
    auto got = read_all(**reader, 1000);
    REQUIRE(got.is_ok());
    std::vector<std::uint8_t> want(data.begin() + static_cast<std::ptrdiff_t>(c.offset),
                                   data.begin() + static_cast<std::ptrdiff_t>(c.offset + c.expected_length));
    CHECK(*got == want);
  }
}

TEST_CASE("ranges past the end are kOutOfRange", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  auto info = store->put(as_bytes("0123456789"));
  REQUIRE(info.is_ok());
  CHECK(store->open(info->digest, 11).status().code() == Code::kOutOfRange);
  CHECK(store->open(info->digest, 11, 0).status().code() == Code::kOutOfRange);
  CHECK(store->open(info->digest, 5, 6).status().code() == Code::kOutOfRange);
  CHECK(store->open(info->digest, 0, 11).status().code() == Code::kOutOfRange);
  // A length that would wrap around 2^64 must not slip through.
  CHECK(store->open(info->digest, 5, ~std::uint64_t{0}).status().code() == Code::kOutOfRange);
  CHECK(store->open(info->digest, 5, 5).is_ok());
}

TEST_CASE("a blob that was never stored is kNotFound", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  const Sha256Digest missing = Sha256::of(std::string_view("never stored"));
  auto stat = store->stat(missing);
  REQUIRE_FALSE(stat.is_ok());
  CHECK(stat.status().code() == Code::kNotFound);
  CHECK(stat.status().message() == "blob " + missing.hex() + " not found");
  CHECK(store->open(missing).status().code() == Code::kNotFound);
  CHECK(store->get_small(missing).status().code() == Code::kNotFound);
}

TEST_CASE("a commit that does not match the expected digest or size stores nothing", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  const auto data = bytes_of("the real content");
  const Sha256Digest actual = Sha256::of(data);

  SECTION("wrong digest") {
    const Sha256Digest claimed = Sha256::of(std::string_view("something else"));
    auto writer = store->begin_write();
    REQUIRE(writer.is_ok());
    REQUIRE((*writer)->append(data).is_ok());
    auto info = (*writer)->commit(claimed, data.size());
    REQUIRE_FALSE(info.is_ok());
    CHECK(info.status().code() == Code::kCorrupt);
    CHECK(info.status().message() == "content has sha256 " + actual.hex() + ", expected " + claimed.hex());
    CHECK(store->stat(claimed).status().code() == Code::kNotFound);
  }
  SECTION("wrong size") {
    auto writer = store->begin_write();
    REQUIRE(writer.is_ok());
    REQUIRE((*writer)->append(data).is_ok());
    auto info = (*writer)->commit(actual, data.size() + 1);
    REQUIRE_FALSE(info.is_ok());
    CHECK(info.status().code() == Code::kCorrupt);
    CHECK(info.status().message() == "received 16 bytes, expected 17");
  }
  CHECK(store->stat(actual).status().code() == Code::kNotFound);
  CHECK(pack_files(dir.path()).empty());
}

TEST_CASE("a writer dropped without commit leaves nothing behind", "[storage]") {
  TempDir dir;
  // Small packs, so the writer seals and puts some while it is still open.
  FramedStoreOptions options;
  options.pack_target_bytes = 64 << 10;
  options.deferred_pack_bytes = 0;  // each sealed pack installed at once
  auto opened = open_local_framed_store(dir.path(), FileSystem::local(), options);
  REQUIRE(opened.is_ok());
  auto store = std::move(*opened);
  const auto data = random_bytes(400000, 5);
  {
    auto writer = store->begin_write();
    REQUIRE(writer.is_ok());
    REQUIRE((*writer)->append(data).is_ok());
    CHECK(!pack_files(dir.path()).empty());  // the bytes were really staged
    CHECK(store->stat(Sha256::of(data)).status().code() == Code::kNotFound);
  }
  CHECK(pack_files(dir.path()).empty());
  CHECK(store->stat(Sha256::of(data)).status().code() == Code::kNotFound);
}

TEST_CASE("a writer is finished by its commit", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  auto writer = store->begin_write();
  REQUIRE(writer.is_ok());
  REQUIRE((*writer)->append(as_bytes("abc")).is_ok());
  REQUIRE((*writer)->commit().is_ok());
  CHECK_FALSE((*writer)->append(as_bytes("more")).is_ok());
  CHECK_FALSE((*writer)->commit().is_ok());
  auto text = store->get_small(Sha256::of(std::string_view("abc")));
  REQUIRE(text.is_ok());
  CHECK(*text == "abc");
}

TEST_CASE("identical content is stored once", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  const auto data = random_bytes(200000, 11);
  // Two uploads of the same bytes in flight at once, then a third after both.
  auto a = store->begin_write();
  auto b = store->begin_write();
  REQUIRE(a.is_ok());
  REQUIRE(b.is_ok());
  REQUIRE((*a)->append(data).is_ok());
  REQUIRE((*b)->append(data).is_ok());
  auto info_a = (*a)->commit();
  auto info_b = (*b)->commit();
  auto info_c = store->put(data);
  REQUIRE(info_a.is_ok());
  REQUIRE(info_b.is_ok());
  REQUIRE(info_c.is_ok());
  CHECK(info_a->digest == info_b->digest);
  CHECK(info_b->digest == info_c->digest);
  CHECK(pack_files(dir.path()).size() == 1);
  auto back = read_range(*store, info_a->digest, 0, std::nullopt);
  REQUIRE(back.is_ok());
  CHECK(*back == data);
}

TEST_CASE("8 threads writing and reading overlapping contents agree", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  std::vector<std::vector<std::uint8_t>> contents;
  for (std::uint64_t i = 0; i < 5; ++i) contents.push_back(random_bytes(50000 + i * 70001, 100 + i));

  constexpr int kThreads = 8;
  constexpr int kRounds = 3;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t));
      for (int round = 0; round < kRounds; ++round) {
        std::vector<std::size_t> order{0, 1, 2, 3, 4};
        std::shuffle(order.begin(), order.end(), rng);
        for (std::size_t i : order) {
          auto info = write_in_chunks(*store, contents[i], rng(), 64 << 10);
          if (!info.is_ok() || info->digest != Sha256::of(contents[i])) {
            ++failures;
            continue;
          }
          auto back = read_range(*store, info->digest, 0, std::nullopt);
          if (!back.is_ok() || *back != contents[i]) ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  // Racing uploads of one content may each seal a pack, but every frame is indexed once: the
  // store holds far less than the 24 uploads wrote.
  std::uint64_t total = 0;
  for (const auto& c : contents) total += c.size();
  CHECK(pack_bytes(dir.path()) < 3 * total);
}

TEST_CASE("a blob damaged on disk fails its full read with kCorrupt", "[storage]") {
  TempDir dir;
  auto store = open_store(dir.path());
  const auto data = random_bytes(300000, 17);
  auto info = store->put(data);
  REQUIRE(info.is_ok());
  REQUIRE(pack_files(dir.path()).size() == 1);
  const std::string path = pack_files(dir.path()).front();

  SECTION("a flipped byte") {
    flip_bit(path, 150000);  // inside some frame: random bytes are stored raw
    auto reader = store->open(info->digest);
    REQUIRE(reader.is_ok());
    auto back = read_all(**reader);
    REQUIRE_FALSE(back.is_ok());
    CHECK(back.status().code() == Code::kCorrupt);
    CHECK(back.status().message().find("blob " + info->digest.hex() + " is corrupt: frame ") == 0);
    // The error sticks: reading on never turns into a clean end.
    std::uint8_t byte;
    CHECK((*reader)->read({&byte, 1}).status().code() == Code::kCorrupt);
    CHECK(store->get_small(info->digest).status().code() == Code::kCorrupt);
  }
  SECTION("a file that shrinks while it is read") {
    auto reader = store->open(info->digest);
    REQUIRE(reader.is_ok());
    std::filesystem::resize_file(path, 1000);
    auto back = read_all(**reader);
    REQUIRE_FALSE(back.is_ok());
    CHECK(back.status().code() == Code::kCorrupt);
  }
}

// Sealed packs wait for their fsync and install in arrears, up to deferred_pack_bytes behind:
// all are installed once the commit returns, and a dropped writer leaves neither packs nor
// temporary files.
TEST_CASE("sealed packs are installed in arrears, all before the commit indexes them", "[storage]") {
  TempDir dir;
  FramedStoreOptions options;
  options.pack_target_bytes = 64 << 10;
  options.deferred_pack_bytes = 256 << 10;
  auto opened = open_local_framed_store(dir.path(), FileSystem::local(), options);
  REQUIRE(opened.is_ok());
  auto store = std::move(*opened);
  auto temporaries = [&] {
    std::size_t n = 0;
    if (std::filesystem::exists(dir.path() + "/incoming"))
      for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/incoming")) n += e.is_regular_file();
    return n;
  };
  const auto data = random_bytes(2000000, 7);
  SECTION("committed: every pack installed, no temporary left") {
    auto writer = store->begin_write();
    REQUIRE(writer.is_ok());
    REQUIRE((*writer)->append(data).is_ok());
    auto info = (*writer)->commit(std::nullopt, std::nullopt);
    REQUIRE(info.is_ok());
    CHECK(pack_bytes(dir.path()) >= data.size());  // random bytes: stored raw
    CHECK(temporaries() == 0);
    auto back = read_range(*store, info->digest, 0, std::nullopt);
    REQUIRE(back.is_ok());
    CHECK(*back == data);
  }
  SECTION("dropped: nothing installed stays, no temporary left") {
    {
      auto writer = store->begin_write();
      REQUIRE(writer.is_ok());
      REQUIRE((*writer)->append(data).is_ok());
    }
    CHECK(pack_files(dir.path()).empty());
    CHECK(temporaries() == 0);
  }
}

TEST_CASE("sweep_uploads removes only unindexed packs older than the grace period", "[storage]") {
  TempDir dir;
  FramedStoreOptions options;
  options.pack_target_bytes = 64 << 10;
  options.deferred_pack_bytes = 0;  // an upload past its deferral window installs as it goes
  auto opened = open_local_framed_store(dir.path(), FileSystem::local(), options);
  REQUIRE(opened.is_ok());
  auto store = std::move(*opened);
  const auto committed = random_bytes(200000, 61);
  auto info = store->put(committed);
  REQUIRE(info.is_ok());
  const auto live_packs = pack_files(dir.path());
  REQUIRE(!live_packs.empty());

  auto abandoned = store->begin_write();
  auto live = store->begin_write();
  REQUIRE(abandoned.is_ok());
  REQUIRE(live.is_ok());
  REQUIRE((*abandoned)->append(random_bytes(200000, 62)).is_ok());
  // The writer's worker puts sealed packs in the background: wait for them.
  std::vector<std::string> abandoned_packs;
  for (int tries = 0, stable = 0; tries < 500 && stable < 5; ++tries) {
    if (tries) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::vector<std::string> now;
    for (const auto& p : pack_files(dir.path()))
      if (std::find(live_packs.begin(), live_packs.end(), p) == live_packs.end()) now.push_back(p);
    stable = !now.empty() && now == abandoned_packs ? stable + 1 : 0;
    abandoned_packs = std::move(now);
  }
  REQUIRE(!abandoned_packs.empty());
  REQUIRE((*live)->append(random_bytes(200000, 63)).is_ok());

  // Age the abandoned upload's packs and the committed ones by two hours.
  struct timeval times[2];
  ::gettimeofday(&times[0], nullptr);
  times[0].tv_sec -= 7200;
  times[1] = times[0];
  for (const auto& p : abandoned_packs) REQUIRE(::utimes(p.c_str(), times) == 0);
  for (const auto& p : live_packs) REQUIRE(::utimes(p.c_str(), times) == 0);

  auto removed = store->sweep_uploads(3600);
  REQUIRE(removed.is_ok());
  CHECK(*removed == abandoned_packs.size());
  for (const auto& p : abandoned_packs) CHECK_FALSE(std::filesystem::exists(p));
  for (const auto& p : live_packs) CHECK(std::filesystem::exists(p));

  // The committed blob still reads, the live upload commits, the swept one cannot.
  auto back = read_range(*store, info->digest, 0, std::nullopt);
  REQUIRE(back.is_ok());
  CHECK(*back == committed);
  auto live_info = (*live)->commit();
  REQUIRE(live_info.is_ok());
  CHECK(read_range(*store, live_info->digest, 0, std::nullopt)->size() == 200000);
  auto swept = (*abandoned)->commit();
  CHECK_FALSE(swept.is_ok());
  CHECK(store->stat(Sha256::of(random_bytes(200000, 62))).status().code() == Code::kNotFound);
}

namespace {

// Deterministic content for the >4 GiB stream, regenerable for any range without keeping the
// stream: sparse-ish, so the store dedups it to little (one 64 KiB run of splitmix64(word index)
// in every 4 MiB, and 1 MiB around the 4 GiB mark; zeros elsewhere).
std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::vector<std::uint8_t> generated(std::uint64_t offset, std::size_t length) {
  const std::uint64_t first_word = offset / 8;
  const std::uint64_t skip = offset % 8;
  std::vector<std::uint8_t> words((length + skip + 7) / 8 * 8);
  for (std::size_t i = 0; i < words.size() / 8; ++i) {
    // Host byte order is fine: the same function writes and checks, within one run.
    const std::uint64_t w = first_word + i;
    constexpr std::uint64_t kFourGiBWord = (std::uint64_t{4} << 30) / 8;
    const bool near_4gib = w + 65536 >= kFourGiBWord && w < kFourGiBWord + 65536;
    const std::uint64_t v = (w % (std::uint64_t{1} << 19)) < 8192 || near_4gib ? splitmix64(w) : 0;
    std::memcpy(&words[i * 8], &v, 8);
  }
  return {words.begin() + static_cast<std::ptrdiff_t>(skip),
          words.begin() + static_cast<std::ptrdiff_t>(skip + length)};
}

}  // namespace

TEST_CASE("a stream over 4 GiB is stored and read across the 4 GiB boundary", "[storage][.slow]") {
  TempDir dir;
  auto store = open_store(dir.path());
  constexpr std::uint64_t kMiB = 1 << 20;
  constexpr std::uint64_t kFourGiB = std::uint64_t{4} << 30;
  constexpr std::uint64_t kTotal = kFourGiB + kMiB;

  auto writer = store->begin_write();
  REQUIRE(writer.is_ok());
  Status appended;
  for (std::uint64_t pos = 0; pos < kTotal && appended.is_ok(); pos += kMiB) {
    appended = (*writer)->append(generated(pos, kMiB));
  }
  REQUIRE(appended.is_ok());
  CHECK((*writer)->bytes_written() == kTotal);
  auto info = (*writer)->commit(std::nullopt, kTotal);
  REQUIRE(info.is_ok());
  CHECK(info->size == kTotal);
  auto stat = store->stat(info->digest);
  REQUIRE(stat.is_ok());
  CHECK(stat->size == kTotal);

  const std::uint64_t offset = kFourGiB - 100003;  // unaligned on purpose
  const std::uint64_t length = 300007;
  auto range = read_range(*store, info->digest, offset, length);
  REQUIRE(range.is_ok());
  CHECK(*range == generated(offset, length));

  auto tail = read_range(*store, info->digest, kTotal - 10, std::nullopt);
  REQUIRE(tail.is_ok());
  CHECK(*tail == generated(kTotal - 10, 10));
  CHECK(store->open(info->digest, kTotal + 1).status().code() == Code::kOutOfRange);

  // A full read counts past 2^32 and verifies the content against its name at the end.
  auto reader = store->open(info->digest);
  REQUIRE(reader.is_ok());
  std::vector<std::uint8_t> buf(kMiB);
  std::uint64_t total = 0;
  Result<std::size_t> n = std::size_t{0};
  while ((n = (*reader)->read(buf)).is_ok() && *n > 0) total += *n;
  REQUIRE(n.is_ok());
  CHECK(total == kTotal);
}
