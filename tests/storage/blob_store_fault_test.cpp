// The blob store under injected I/O failures and simulated crashes: whatever fails, no
// partial blob becomes visible, uploads/ is cleaned, and the store keeps working.
#include "storage/blob_store.h"

#include <catch2/catch.hpp>

#include "storage/framed_store.h"
#include "storage_test_util.h"
#include "tests/common/fault_injection_fs.h"

using namespace grove;
using namespace grove::storage;
using namespace grove::storage::test;
using grove::testing::FaultInjectionFileSystem;

namespace {

// Writes `data` in 10 appends and commits; the first failure is returned.
Result<BlobInfo> write_in_ten(BlobStore& store, const std::vector<std::uint8_t>& data) {
  auto writer = store.begin_write();
  if (!writer.is_ok()) return writer.status();
  const std::size_t piece = data.size() / 10;
  for (std::size_t i = 0; i < 10; ++i) {
    std::size_t n = i == 9 ? data.size() - 9 * piece : piece;
    Status s = (*writer)->append(std::span(data).subspan(i * piece, n));
    if (!s.is_ok()) return s;
  }
  return (*writer)->commit(Sha256::of(data), data.size());
}

void check_nothing_visible(BlobStore& store, const std::string& root, const Sha256Digest& digest) {
  CHECK(store.stat(digest).status().code() == Code::kNotFound);
  CHECK(store.open(digest).status().code() == Code::kNotFound);
  CHECK(pack_files(root).empty());  // the failed writer deleted the packs it had put
}

// Small packs: a 500 kB upload seals several during its appends, so failures hit both the
// appends and the commit.
Result<std::unique_ptr<BlobStore>> open_small_packs(const std::string& root, FileSystem& fs,
                                                    bool encode_on_worker = false) {
  FramedStoreOptions options;
  options.pack_target_bytes = 64 << 10;
  options.encode_on_worker = encode_on_worker;
  return open_local_framed_store(root, fs, options);
}

void check_store_still_works(FaultInjectionFileSystem& fs, BlobStore& store,
                             const std::vector<std::uint8_t>& data) {
  fs.clear_faults();
  auto info = write_in_ten(store, data);
  REQUIRE(info.is_ok());
  auto back = read_range(store, info->digest, 0, std::nullopt);
  REQUIRE(back.is_ok());
  CHECK(*back == data);
}

}  // namespace

TEST_CASE("an I/O failure during upload leaves no blob and the store keeps working", "[storage]") {
  TempDir dir;
  FaultInjectionFileSystem fs(FileSystem::local());
  const bool on_worker = GENERATE(false, true);  // packs put by the writer's worker either way
  INFO("encode on worker " << on_worker);
  auto opened = open_small_packs(dir.path(), fs, on_worker);
  REQUIRE(opened.is_ok());
  BlobStore& store = **opened;
  const auto data = random_bytes(500000, 23);
  const Sha256Digest digest = Sha256::of(data);

  SECTION("the n-th write fails, for every n the upload makes") {
    // Until n passes the number of writes the upload makes, and it succeeds.
    std::uint64_t n = 1;
    for (;; ++n) {
      INFO("failing write " << n);
      fs.fail_write_after(n);
      auto info = write_in_ten(store, data);
      fs.clear_faults();
      if (info.is_ok()) break;
      CHECK(info.status().code() == Code::kIoError);
      CHECK(fs.injected_write_failures() == n);
      check_nothing_visible(store, dir.path(), digest);
      REQUIRE(n < 100);
    }
    CHECK(n > 4);  // the upload really wrote several packs
  }
  SECTION("a writer stays failed after a failed write") {
    fs.fail_write_after(1);
    auto writer = store.begin_write();
    REQUIRE(writer.is_ok());
    Status s;
    for (std::size_t off = 0; off < data.size() && s.is_ok(); off += 100000)
      s = (*writer)->append(std::span(data).subspan(off, 100000));
    CHECK(s.code() == Code::kIoError);
    fs.clear_faults();
    CHECK_FALSE((*writer)->append(std::span(data).first(10)).is_ok());
    CHECK_FALSE((*writer)->commit().is_ok());
    check_nothing_visible(store, dir.path(), digest);
  }
  SECTION("the rename into place fails") {
    fs.fail_rename(true);
    auto info = write_in_ten(store, data);
    REQUIRE_FALSE(info.is_ok());
    CHECK(info.status().code() == Code::kIoError);
    check_nothing_visible(store, dir.path(), digest);
  }
  SECTION("the sync of the data fails") {
    fs.fail_sync(true);
    auto info = write_in_ten(store, data);
    REQUIRE_FALSE(info.is_ok());
    CHECK(info.status().code() == Code::kIoError);
    check_nothing_visible(store, dir.path(), digest);
  }
  SECTION("the sync of a folder fails") {
    fs.fail_sync_dir(true);
    auto info = write_in_ten(store, data);
    REQUIRE_FALSE(info.is_ok());
    CHECK(info.status().code() == Code::kIoError);
    check_nothing_visible(store, dir.path(), digest);
  }
  check_store_still_works(fs, store, data);
  // And a store reopened on the same folder sees exactly the one committed blob.
  auto reopened = BlobStore::open_local(dir.path());
  REQUIRE(reopened.is_ok());
  auto back = read_range(**reopened, digest, 0, std::nullopt);
  REQUIRE(back.is_ok());
  CHECK(*back == data);
}

// A failed folder sync after the rename cannot take the blob back (it may be a concurrent
// writer's), but the commit must not report success, and a retry must.
TEST_CASE("a failed folder sync fails the commit and a retry succeeds", "[storage]") {
  TempDir dir;
  FaultInjectionFileSystem fs(FileSystem::local());
  auto store = BlobStore::open_local(dir.path(), fs);
  REQUIRE(store.is_ok());
  const auto data = random_bytes(10000, 29);
  fs.fail_sync_dir(true);
  auto info = (*store)->put(data);
  REQUIRE_FALSE(info.is_ok());
  CHECK(info.status().code() == Code::kIoError);
  CHECK(pack_files(dir.path()).empty());
  fs.clear_faults();
  auto retry = (*store)->put(data);
  REQUIRE(retry.is_ok());
  CHECK(retry->digest == Sha256::of(data));
}

TEST_CASE("committed blobs survive a crash that drops unsynced data", "[storage]") {
  TempDir dir;
  std::vector<std::vector<std::uint8_t>> contents;
  std::vector<Sha256Digest> digests;
  {
    FaultInjectionFileSystem fs(FileSystem::local());
    fs.simulate_crash();
    auto store = BlobStore::open_local(dir.path(), fs);
    REQUIRE(store.is_ok());
    for (std::uint64_t i = 0; i < 3; ++i) {
      contents.push_back(random_bytes(100000 + i * 33333, 40 + i));
      auto info = write_in_ten(**store, contents.back());
      REQUIRE(info.is_ok());
      digests.push_back(info->digest);
    }
    // An upload in flight when the power goes: its part file was never made durable.
    auto in_flight = (*store)->begin_write();
    REQUIRE(in_flight.is_ok());
    REQUIRE((*in_flight)->append(contents[0]).is_ok());
    REQUIRE(fs.drop_unsynced().is_ok());
  }
  // After the "reboot", the plain file system sees exactly what survived.
  auto store = BlobStore::open_local(dir.path());
  REQUIRE(store.is_ok());
  for (std::size_t i = 0; i < contents.size(); ++i) {
    auto back = read_range(**store, digests[i], 0, std::nullopt);  // a full read verifies the hash
    REQUIRE(back.is_ok());
    CHECK(*back == contents[i]);
  }
  CHECK(pack_files(dir.path()).size() == contents.size());
}
