// Download counting as the Hugging Face Hub does it: one count per model download, not per
// file. A client fetching a model GETs its config.json once, so that GET is the count; a repo
// without config.json (GGUF-only, say) counts a GET of a weight file (*.safetensors, *.gguf)
// from its first byte instead. HEAD requests and the JS client's `Range: bytes=0-0` size
// probe never count, nor do later ranges of a resumed download.
//
// Counting must never slow serving: count() bumps an in-memory map; a background thread adds
// the batch to the registry every `interval`, and once more on destruction.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"
#include "registry/registry.h"

namespace grove::hub {

enum class DownloadKind {
  kNone,        // not a model download
  kConfig,      // config.json: always one
  kWeightFile,  // counts only when the revision has no config.json
};
// What a GET of `path` with this Range header value ("" when absent) is.
DownloadKind classify_download(std::string_view path, std::string_view range_header);

class DownloadCounter {
 public:
  // REQUIRES: `registry` outlives the counter.
  DownloadCounter(registry::Registry& registry, std::chrono::milliseconds interval);
  ~DownloadCounter();  // stops the thread and flushes what is pending
  DownloadCounter(const DownloadCounter&) = delete;
  DownloadCounter& operator=(const DownloadCounter&) = delete;

  // Counts a GET of `path` in `commit` of the repo if it is a model download (see above).
  // A weight file costs one registry lookup, for config.json; other files cost nothing.
  void note_get(std::int64_t repo_id, const std::string& commit_id, std::string_view path,
                std::string_view range_header);
  void count(std::int64_t repo_id);
  // Writes the pending counts in one transaction. On failure they stay pending for the next try.
  Status flush();

 private:
  void run();

  registry::Registry& registry_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::map<std::int64_t, std::uint64_t> pending_;  // guarded by mu_
  bool stopping_ = false;                          // guarded by mu_
  std::mutex flush_mu_;  // one flush at a time, so a failed batch is merged back in order
  std::thread thread_;
};

}  // namespace grove::hub
