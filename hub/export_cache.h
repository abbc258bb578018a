// GGUF exports served by the hub: computed once per (commit, quantization, exporter version),
// stored as a blob, recorded in the registry's `exports` table, and served from there.
//
// The first request plans the export (formats/gguf_export.h: validation and layout, no weight
// read) and starts a job of two threads: a producer reads the exporter into a bounded ring of
// recent chunks, and a storer appends each chunk to a BlobWriter (the only copy written to
// disk); when done it commits the blob and records it. Storing runs beside serving, which
// waits for it only when it falls a whole ring behind. Every
// request for that key while it runs, whole or ranged, reads from the ring (waiting for bytes
// not produced yet) or, for bytes that have left the ring, from the blob once committed
// (waiting for the commit): one computation however many ask ("single flight"). Later
// requests read the stored blob.
//
// Thread-safety: every method may be called from any thread. Destruction cancels running
// exports and waits for their threads (an export whose bytes were all produced still stores
// what is left in its ring, at most 16 MiB, so a download that just ended stays cached).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "formats/model_source.h"
#include "registry/registry.h"
#include "storage/blob_store.h"

namespace grove::hub {

// A commit's files, read from the blob store: the exporter's view of a stored model.
class StoredModelSource final : public formats::ModelSource {
 public:
  StoredModelSource(storage::BlobStore& store, std::vector<registry::FileEntry> files)
      : store_(store), files_(std::move(files)) {}
  Result<std::vector<formats::SourceFile>> list_files() override;
  Status read(const std::string& path, std::uint64_t offset, std::span<std::uint8_t> out) override;

 private:
  storage::BlobStore& store_;
  std::vector<registry::FileEntry> files_;
};

class ExportJob;

struct ExportRequest {
  registry::Repo repo;
  std::string commit;
  std::string quant;  // a valid formats::ExportType name
  std::vector<registry::FileEntry> files;
};

// What a request is answered from: a stored blob, or a running job.
struct ExportHandle {
  std::uint64_t size = 0;
  std::optional<registry::ExportRecord> stored;
  std::shared_ptr<ExportJob> running;

  // Opens [offset, offset + length) for reading.
  Result<std::unique_ptr<storage::BlobReader>> open(storage::BlobStore& store, std::uint64_t offset,
                                                    std::uint64_t length) const;
};

class ExportCache {
 public:
  // `threads` read and quantize each export (0: one per core). Each running export keeps its
  // last `ring_bytes` (and one piece more) in memory (16 MiB by default: the client's stream
  // can run that far ahead of the storer, which hashes and packs; tests shrink it so that
  // readers fall behind it). Until the ring is full every piece is a new buffer, each page of it
  // a fresh page's fault (on a VM whose host has not backed the memory yet, ~10 µs); 64 MiB
  // was no faster, and cost 16,000 more faults per export. `spool_dir` only holds files of
  // earlier versions, removed here.
  ExportCache(registry::Registry& registry, storage::BlobStore& store, std::string spool_dir, unsigned threads = 0,
              std::size_t ring_bytes = std::size_t{16} << 20);
  ~ExportCache();

  // The stored export, or the running one, or (when `start`) a newly started one. A model that
  // cannot be exported is kInvalidArgument with the exporter's message, before anything starts.
  // Without `start` (HEAD), an export not yet running is only planned, to know its size.
  Result<ExportHandle> get(const ExportRequest& request, bool start);

 private:
  void finished(const std::string& key);

  registry::Registry& registry_;
  storage::BlobStore& store_;
  const std::string spool_dir_;
  const unsigned threads_;
  const std::size_t ring_bytes_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<ExportJob>> running_;  // guarded by mu_
  // Jobs whose thread has ended, joined and dropped by the next get(); a reader may still hold
  // one.
  std::vector<std::shared_ptr<ExportJob>> finished_;  // guarded by mu_
};

}  // namespace grove::hub
