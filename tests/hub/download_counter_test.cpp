#include "hub/download_counter.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include "registry/git_objects.h"

using namespace grove;
using namespace grove::hub;

TEST_CASE("one model download counts once: config.json, or a weight file without one", "[hub]") {
  CHECK(classify_download("config.json", "") == DownloadKind::kConfig);
  CHECK(classify_download("config.json", "bytes=0-") == DownloadKind::kConfig);
  CHECK(classify_download("config.json", "bytes=0-99") == DownloadKind::kConfig);
  CHECK(classify_download("config.json", "bytes=0-0") == DownloadKind::kNone);  // the JS size probe
  CHECK(classify_download("config.json", "bytes=10-") == DownloadKind::kNone);  // a resume
  CHECK(classify_download("sub/config.json", "") == DownloadKind::kNone);
  CHECK(classify_download("model-00001-of-00002.safetensors", "") == DownloadKind::kWeightFile);
  CHECK(classify_download("q/model.Q4_K_M.gguf", "bytes=0-1000") == DownloadKind::kWeightFile);
  CHECK(classify_download("tokenizer.json", "") == DownloadKind::kNone);
  CHECK(classify_download("README.md", "") == DownloadKind::kNone);
}

TEST_CASE("counted downloads reach the registry in batches and at shutdown", "[hub]") {
  std::string pattern = (std::filesystem::temp_directory_path() / "grove-dl-XXXXXX").string();
  REQUIRE(mkdtemp(pattern.data()) != nullptr);
  {
    auto opened = registry::Registry::open(pattern + "/grove.db");
    REQUIRE(opened.is_ok());
    auto registry = std::move(*opened);
    auto with_config = *registry->create_repo("alice", "full", "alice", false);
    auto gguf_only = *registry->create_repo("alice", "gguf", "alice", false);
    auto add = [&](const registry::Repo& repo, const std::string& path) {
      registry::CommitRequest c;
      c.repo_id = repo.id;
      c.author = "alice";
      c.title = "add " + path;
      registry::FileEntry f;
      f.path = path;
      f.size = 1;
      f.sha256 = Sha256::of(std::string_view("x"));
      f.blob_oid = registry::git_blob_oid("x");
      c.upserts = {f};
      return registry->commit(c)->id;
    };
    add(with_config, "config.json");
    std::string full_head = add(with_config, "model.safetensors");
    std::string gguf_head = add(gguf_only, "model.gguf");
    {
      DownloadCounter counter(*registry, std::chrono::hours(1));  // no timer flush in this test
      counter.note_get(with_config.id, full_head, "config.json", "");
      counter.note_get(with_config.id, full_head, "model.safetensors", "");  // config.json counted it
      counter.note_get(with_config.id, full_head, "config.json", "bytes=0-0");
      counter.note_get(gguf_only.id, gguf_head, "model.gguf", "");
      REQUIRE(counter.flush().is_ok());
      CHECK(registry->find_repo("alice", "full")->downloads == 1);
      CHECK(registry->find_repo("alice", "gguf")->downloads == 1);
      counter.note_get(gguf_only.id, gguf_head, "model.gguf", "bytes=0-");
      counter.count(gguf_only.id);
    }  // destruction flushes
    CHECK(registry->find_repo("alice", "gguf")->downloads == 3);

    DownloadCounter timed(*registry, std::chrono::milliseconds(20));
    timed.count(with_config.id);
    for (int i = 0; i < 200 && registry->find_repo("alice", "full")->downloads == 1; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(registry->find_repo("alice", "full")->downloads == 2);
  }
  std::filesystem::remove_all(pattern);
}
