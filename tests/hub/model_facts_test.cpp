#include "hub/model_facts.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include "registry/git_objects.h"

using namespace grove;
using namespace grove::hub;

namespace {

registry::FileEntry store_file(storage::BlobStore& store, const std::string& path, const std::string& content) {
  auto begun = store.begin_write();
  REQUIRE(begun.is_ok());
  auto writer = std::move(*begun);
  REQUIRE(writer->append(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(content.data()),
                                                       content.size()))
              .is_ok());
  auto info = writer->commit();
  REQUIRE(info.is_ok());
  registry::FileEntry f;
  f.path = path;
  f.size = content.size();
  f.sha256 = info->digest;
  f.lfs = true;
  f.blob_oid = registry::git_blob_oid(registry::lfs_pointer(f.sha256, f.size));
  return f;
}

std::string safetensors(const std::string& header, std::size_t data_bytes) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + std::string(data_bytes, '\1');
}

}  // namespace

TEST_CASE("model info reads parameter counts from safetensors headers and config.json", "[hub]") {
  std::string dir = (std::filesystem::temp_directory_path() / "grove-facts-XXXXXX").string();
  REQUIRE(mkdtemp(dir.data()) != nullptr);
  {
    auto opened = storage::BlobStore::open_local(dir);
    REQUIRE(opened.is_ok());
    auto store = std::move(*opened);
    std::vector<registry::FileEntry> files = {
        store_file(*store, "config.json", R"({"model_type":"llama","hidden_size":8})"),
        store_file(*store, "model-00001-of-00002.safetensors",
                   safetensors(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                               R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}})", 32)),
        store_file(*store, "model-00002-of-00002.safetensors",
                   safetensors(R"({"__metadata__":{"format":"pt"},"c":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}})", 8)),
        store_file(*store, "broken.safetensors", "not a safetensors file"),
    };
    ModelFactsCache cache;
    auto facts = cache.get(*store, std::string(40, 'a'), files);
    REQUIRE(facts.is_ok());
    CHECK((*facts)["safetensors"]["parameters"]["F32"] == 6);
    CHECK((*facts)["safetensors"]["parameters"]["BF16"] == 8);
    CHECK((*facts)["safetensors"]["total"] == 14);
    CHECK((*facts)["config"]["model_type"] == "llama");
    // Cached by commit: a second call does not look at the files again.
    CHECK(*cache.get(*store, std::string(40, 'a'), {}) == *facts);
    CHECK(cache.get(*store, std::string(40, 'b'), {})->empty());
  }
  std::filesystem::remove_all(dir);
}
