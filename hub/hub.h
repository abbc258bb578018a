// The hub: the registry, the blob store and the settings that HTTP handlers share. One Hub
// per data folder. Thread-safe: handlers on every server thread use the same Hub.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "hub/answer_cache.h"
#include "hub/download_counter.h"
#include "hub/model_facts.h"
#include "hub/storage_stats.h"
#include "registry/registry.h"
#include "storage/blob_store.h"

namespace grove::hub {

class ExportCache;  // hub/export_cache.h
class Reencoder;    // hub/storage_bases.h

struct HubOptions {
  std::string data_dir = "data";
  // The base URL clients reach this hub at, without a trailing slash. Every absolute URL the
  // hub hands out (upload hrefs, Link headers, repo URLs) is built from it, never from Host.
  std::string public_url = "http://127.0.0.1:8080";
  // Largest buffered request body (JSON, NDJSON commits with inline files).
  std::uint64_t max_body_bytes = 64ull << 20;
  // How long a signed LFS upload URL stays valid.
  std::int64_t upload_url_ttl_seconds = 3600;
  // LFS objects larger than this are offered a multipart upload (parts of at most
  // min(this, 64 MiB) bytes) instead of one PUT. REQUIRES: > 0.
  std::uint64_t multipart_threshold_bytes = 100ull << 20;
  // How often counted downloads are written to the registry (and once more at close).
  std::chrono::milliseconds download_flush_interval{5000};
  // Threads that read and quantize one GGUF export (0: one per core).
  unsigned export_threads = 0;
};

class Hub {
 public:
  // Opens (creating when new) the data folder: grove.db, storage/, and config.json holding
  // the secret that signs upload URLs.
  static Result<std::unique_ptr<Hub>> open(HubOptions options);

  registry::Registry& registry() { return *registry_; }
  storage::BlobStore& store() { return *store_; }
  DownloadCounter& downloads() { return *downloads_; }
  ModelFactsCache& model_facts() { return model_facts_; }
  // Finished answers of hot read routes, checked against registry().write_generation().
  AnswerCache& answers() { return answers_; }
  const HubOptions& options() const { return options_; }
  // REQUIRES: called before serving (the server learns its port after binding).
  void set_public_url(std::string url) { options_.public_url = std::move(url); }

  // GGUF exports of stored models (hub/export_cache.cpp), created on first use.
  ExportCache& exports();
  // Background re-encoding of pushed models against their base (hub/storage_bases.h).
  Reencoder& reencoder() { return *reencoder_; }
  // What GET /api/grove/storage answers from (hub/storage_stats.h).
  StorageFigures& storage_figures() { return *storage_figures_; }

  // HMAC-SHA256 of `message` under this hub's secret, in hex.
  std::string sign(std::string_view message) const;

 private:
  Hub() = default;
  HubOptions options_;
  std::string secret_;
  std::unique_ptr<registry::Registry> registry_;
  std::unique_ptr<storage::BlobStore> store_;
  // After store_: destroyed before it, so a running re-encode finishes with the store alive.
  std::shared_ptr<Reencoder> reencoder_;
  // After registry_: destroyed first, so its last flush still has a registry.
  std::unique_ptr<DownloadCounter> downloads_;
  ModelFactsCache model_facts_;
  AnswerCache answers_;
  std::unique_ptr<StorageFigures> storage_figures_;
  // Last: destroyed first, so running exports stop while the registry and store still exist.
  std::once_flag exports_once_;
  std::shared_ptr<ExportCache> exports_;
};

}  // namespace grove::hub
