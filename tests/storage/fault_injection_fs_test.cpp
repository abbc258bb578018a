// The fault-injection wrapper itself: if it did not really drop unsynced bytes, the crash
// tests of every module would prove nothing.
#include "tests/common/fault_injection_fs.h"

#include <catch2/catch.hpp>
#include <filesystem>

#include "storage_test_util.h"

using namespace grove;
using grove::storage::test::TempDir;
using grove::testing::FaultInjectionFileSystem;

namespace {

void append_text(WritableFile& f, std::string_view text) { REQUIRE(f.append(as_bytes(text)).is_ok()); }

}  // namespace

TEST_CASE("drop_unsynced keeps only synced bytes under durable names", "[storage]") {
  TempDir dir;
  const std::string root = dir.path();
  FaultInjectionFileSystem fs(FileSystem::local());
  fs.simulate_crash();

  auto synced = fs.create(root + "/synced");  // data synced, then more appended
  auto unsynced = fs.create(root + "/unsynced");  // folder synced, data never
  auto renamed = fs.create(root + "/renamed.tmp");  // synced, renamed, folder synced before
  REQUIRE(synced.is_ok());
  REQUIRE(unsynced.is_ok());
  REQUIRE(renamed.is_ok());
  append_text(**synced, "durable");
  REQUIRE((*synced)->sync().is_ok());
  append_text(**synced, " lost");
  append_text(**unsynced, "lost");
  append_text(**renamed, "moved");
  REQUIRE((*renamed)->sync().is_ok());
  REQUIRE(fs.sync_dir(root + "/").is_ok());  // a trailing slash names the same folder
  auto no_entry = fs.create(root + "/no-entry");  // created after the folder sync: data synced, name not
  REQUIRE(no_entry.is_ok());
  append_text(**no_entry, "nameless");
  REQUIRE((*no_entry)->sync().is_ok());
  for (auto* f : {&synced, &unsynced, &no_entry, &renamed}) REQUIRE((**f)->close().is_ok());
  // Renamed after the folder sync: the new name is not durable yet.
  REQUIRE(fs.rename(root + "/renamed.tmp", root + "/renamed").is_ok());

  REQUIRE(fs.drop_unsynced().is_ok());
  CHECK(std::filesystem::file_size(root + "/synced") == 7);
  CHECK(std::filesystem::file_size(root + "/unsynced") == 0);
  CHECK_FALSE(std::filesystem::exists(root + "/no-entry"));
  CHECK_FALSE(std::filesystem::exists(root + "/renamed"));
  CHECK_FALSE(std::filesystem::exists(root + "/renamed.tmp"));
}

TEST_CASE("fail_write_after fails the n-th append and every later one", "[storage]") {
  TempDir dir;
  FaultInjectionFileSystem fs(FileSystem::local());
  auto file = fs.create(dir.path() + "/f");
  REQUIRE(file.is_ok());
  fs.fail_write_after(2);
  CHECK((*file)->append(as_bytes("a")).is_ok());
  CHECK((*file)->append(as_bytes("b")).code() == Code::kIoError);
  CHECK((*file)->append(as_bytes("c")).code() == Code::kIoError);
  CHECK(fs.injected_write_failures() == 2);
  fs.clear_faults();
  CHECK((*file)->append(as_bytes("d")).is_ok());
  REQUIRE((*file)->close().is_ok());
  CHECK(std::filesystem::file_size(dir.path() + "/f") == 2);
}

TEST_CASE("fail_rename and fail_sync fail only while set", "[storage]") {
  TempDir dir;
  FaultInjectionFileSystem fs(FileSystem::local());
  auto file = fs.create(dir.path() + "/a");
  REQUIRE(file.is_ok());
  fs.fail_sync(true);
  CHECK((*file)->sync().code() == Code::kIoError);
  fs.fail_sync(false);
  CHECK((*file)->sync().is_ok());
  REQUIRE((*file)->close().is_ok());
  fs.fail_rename(true);
  CHECK(fs.rename(dir.path() + "/a", dir.path() + "/b").code() == Code::kIoError);
  CHECK(std::filesystem::exists(dir.path() + "/a"));
  fs.fail_rename(false);
  CHECK(fs.rename(dir.path() + "/a", dir.path() + "/b").is_ok());
  CHECK(std::filesystem::exists(dir.path() + "/b"));
}
