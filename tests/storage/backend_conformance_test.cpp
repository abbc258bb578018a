// One conformance suite for every BlobBackend (backend.h's contract): the local directory
// backend and the in-memory one run exactly the same cases.
#include "storage/backend.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "storage_test_util.h"

using namespace grove;
using namespace grove::storage;
using namespace grove::storage::test;

namespace {

struct LocalFixture {
  TempDir dir;
  std::unique_ptr<BlobBackend> backend = std::move(BlobBackend::local(dir.path() + "/objects").value());
  // Files the backend left in its folder, .tmp included.
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path() + "/objects"))
      if (e.is_regular_file()) out.push_back(e.path().string());
    return out;
  }
};

struct MemoryFixture {
  std::unique_ptr<BlobBackend> backend = BlobBackend::memory();
};

std::vector<std::uint8_t> get_all(BlobBackend& b, const std::string& key) {
  auto info = b.stat(key);
  REQUIRE(info.is_ok());
  std::vector<std::uint8_t> out(info->size);
  REQUIRE(get_exact(b, key, 0, out).is_ok());
  return out;
}

}  // namespace

TEMPLATE_TEST_CASE("a backend stores, reads at offsets, lists and removes objects", "[storage]", LocalFixture,
                   MemoryFixture) {
  TestType fx;
  BlobBackend& b = *fx.backend;
  const auto data = random_bytes(300000, 1);
  REQUIRE(b.put("packs/ab/one.pack", data).is_ok());

  auto info = b.stat("packs/ab/one.pack");
  REQUIRE(info.is_ok());
  CHECK(info->size == data.size());
  CHECK(info->mtime > 0);
  CHECK(get_all(b, "packs/ab/one.pack") == data);

  std::vector<std::uint8_t> buf(1000);
  auto n = b.get("packs/ab/one.pack", 123457, buf);
  REQUIRE(n.is_ok());
  CHECK(*n == 1000);
  CHECK(std::equal(buf.begin(), buf.end(), data.begin() + 123457));
  // Short at the end, empty at the end, out of range past it.
  n = b.get("packs/ab/one.pack", data.size() - 10, buf);
  REQUIRE(n.is_ok());
  CHECK(*n == 10);
  n = b.get("packs/ab/one.pack", data.size(), buf);
  REQUIRE(n.is_ok());
  CHECK(*n == 0);
  CHECK(b.get("packs/ab/one.pack", data.size() + 1, buf).status().code() == Code::kOutOfRange);
  CHECK(get_exact(b, "packs/ab/one.pack", data.size() - 10, buf).code() == Code::kCorrupt);

  REQUIRE(b.put("packs/cd/two.pack", random_bytes(10, 2)).is_ok());
  REQUIRE(b.put("other/three", {}).is_ok());
  auto listed = b.list("packs/");
  REQUIRE(listed.is_ok());
  CHECK(*listed == std::vector<std::string>{"packs/ab/one.pack", "packs/cd/two.pack"});
  listed = b.list("packs/cd");
  REQUIRE(listed.is_ok());
  CHECK(*listed == std::vector<std::string>{"packs/cd/two.pack"});
  listed = b.list("");
  REQUIRE(listed.is_ok());
  CHECK(listed->size() == 3);
  CHECK(b.stat("other/three")->size == 0);

  REQUIRE(b.remove("packs/ab/one.pack").is_ok());
  CHECK(b.stat("packs/ab/one.pack").status().code() == Code::kNotFound);
  CHECK(b.get("packs/ab/one.pack", 0, buf).status().code() == Code::kNotFound);
  CHECK(b.remove("packs/ab/one.pack").code() == Code::kNotFound);
  CHECK(*b.list("packs/") == std::vector<std::string>{"packs/cd/two.pack"});
}

TEMPLATE_TEST_CASE("a backend reports missing objects and refuses bad keys", "[storage]", LocalFixture,
                   MemoryFixture) {
  TestType fx;
  BlobBackend& b = *fx.backend;
  std::vector<std::uint8_t> buf(10);
  CHECK(b.stat("packs/none").status().code() == Code::kNotFound);
  CHECK(b.get("packs/none", 0, buf).status().code() == Code::kNotFound);
  CHECK(b.remove("packs/none").code() == Code::kNotFound);
  CHECK(b.list("packs/")->empty());
  for (const char* bad : {"", "/abs", "a/../b", "dir/", "a//b", "x.tmp"}) {
    INFO(bad);
    CHECK(b.put(bad, buf).code() == Code::kInvalidArgument);
  }
}

TEMPLATE_TEST_CASE("a backend put replaces an object whole, even under concurrent readers and writers",
                   "[storage]", LocalFixture, MemoryFixture) {
  TestType fx;
  BlobBackend& b = *fx.backend;
  // Each version is 64 kB of one repeated byte: a torn object would mix bytes.
  auto version = [](std::uint8_t v) { return std::vector<std::uint8_t>(65536, v); };
  REQUIRE(b.put("k", version(0)).is_ok());
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        if (!b.put("k", version(static_cast<std::uint8_t>(t * 20 + i))).is_ok()) ++bad;
        if (!b.put("own/" + std::to_string(t) + "/" + std::to_string(i), version(7)).is_ok()) ++bad;
      }
    });
    threads.emplace_back([&] {
      std::vector<std::uint8_t> buf(65536);
      for (int i = 0; i < 50; ++i) {
        auto n = b.get("k", 0, buf);
        if (!n.is_ok() || *n != buf.size() || std::count(buf.begin(), buf.end(), buf[0]) != 65536) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(bad == 0);
  CHECK(b.list("own/")->size() == 80);
}

TEST_CASE("the local backend leaves no temporary files and its objects survive a reopen", "[storage]") {
  LocalFixture fx;
  REQUIRE(fx.backend->put("packs/ab/x.pack", random_bytes(5000, 9)).is_ok());
  REQUIRE(fx.backend->put("packs/ab/x.pack", random_bytes(6000, 10)).is_ok());
  CHECK(fx.files() == std::vector<std::string>{fx.dir.path() + "/objects/packs/ab/x.pack"});
  auto again = BlobBackend::local(fx.dir.path() + "/objects");
  REQUIRE(again.is_ok());
  CHECK(get_all(**again, "packs/ab/x.pack") == random_bytes(6000, 10));
}

TEMPLATE_TEST_CASE("a streamed object is invisible until finished, and a dropped one leaves nothing", "[storage]",
                   LocalFixture, MemoryFixture) {
  TestType fx;
  BlobBackend& b = *fx.backend;
  const auto data = random_bytes(9u << 20, 7);  // over the local writer's writeback step
  {
    auto w = b.begin_put();
    REQUIRE(w.is_ok());
    for (std::size_t at = 0; at < data.size(); at += 1000003)
      REQUIRE((*w)->append(std::span(data).subspan(at, std::min<std::size_t>(1000003, data.size() - at))).is_ok());
    CHECK((*w)->size() == data.size());
    CHECK(b.stat("packs/cd/streamed.pack").status().code() == Code::kNotFound);
    REQUIRE((*w)->finish("packs/cd/streamed.pack").is_ok());
  }
  CHECK(get_all(b, "packs/cd/streamed.pack") == data);
  CHECK(b.list("packs/").value() == std::vector<std::string>{"packs/cd/streamed.pack"});
  {
    auto w = b.begin_put();
    REQUIRE(w.is_ok());
    REQUIRE((*w)->append(std::span(data).first(5000)).is_ok());
  }  // dropped unfinished
  CHECK(b.list("").value() == std::vector<std::string>{"packs/cd/streamed.pack"});
  if constexpr (std::is_same_v<TestType, LocalFixture>) {
    // No temporary file left behind either.
    for (const std::string& f : fx.files()) CHECK(f.find(".tmp") == std::string::npos);
  }
}
