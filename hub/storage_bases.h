// How the hub tells the blob store which base model a pushed model derives from, so the store
// can keep its tensors as deltas against the base's (storage/framed_store.h).
//
// Two paths, because clients upload LFS objects before the commit that says what they are:
// - At upload: an `X-Grove-Base: ns/name[@rev]` header on the LFS PUT (or multipart complete)
//   names the base; its safetensors files become WriteHints::base_files and the store encodes
//   deltas right away.
// - After the commit: when a commit on the default branch declares a base (`grove push --base`,
//   X-Grove-Base on the commit, or base_model in the README), its new safetensors files are
//   queued for BlobStore::reencode against the base's files on a background thread, so the
//   commit returns at once. Files already stored as deltas are left as they are.
// A base that does not resolve (unknown repo or revision) is ignored: it only costs compression.
//
// Detected lineage: the re-encoding pass also measures how much of the commit's safetensors
// bytes the base explains (frames identical to the base's or stored as deltas against them,
// whether made at upload or now; ReencodeStats::similarity), and records that as a "detected"
// lineage edge child -> base (Registry::record_detected_edge) when it is above
// kMinDetectedSimilarity. A wrong declared base fails the store's sampling check and shares no
// frames, so it records nothing.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/digest.h"
#include "hub/message.h"
#include "registry/registry.h"
#include "storage/blob_store.h"

namespace grove::hub {

class Hub;

// "ns/name" or "ns/name@rev" (default branch head without @rev) to the SHA-256s of the
// .safetensors files of that revision; empty when it does not resolve.
std::vector<Sha256Digest> resolve_base_files(registry::Registry& registry, const std::string& base_ref);

// WriteHints for an LFS upload request (the X-Grove-Base header).
storage::WriteHints upload_write_hints(Hub& hub, const Request& request);

// Re-encodes files against their base on one background thread. Destroying it finishes the
// file being re-encoded and drops what is still queued (gc or `grove repack` can do it later).
class Reencoder {
 public:
  explicit Reencoder(storage::BlobStore& store);
  ~Reencoder();
  Reencoder(const Reencoder&) = delete;
  Reencoder& operator=(const Reencoder&) = delete;

  // Called on the worker with the summed stats of a job's files once they are all done.
  using Done = std::function<void(const storage::ReencodeStats&)>;
  void enqueue(std::vector<Sha256Digest> files, std::vector<Sha256Digest> base_files, Done done = {});
  // Blocks until the queue is empty and nothing is running (for tests and shutdown paths).
  void wait_idle();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

inline constexpr double kMinDetectedSimilarity = 0.05;

// Called after a successful registry commit to `child_repo` ("ns/name"): queues the commit's
// new safetensors LFS files for re-encoding when the commit declares a base, then records the
// detected lineage edge.
void schedule_reencode(Hub& hub, const registry::CommitRequest& commit, const std::string& child_repo);

}  // namespace grove::hub
