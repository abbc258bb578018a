// Internals of the framed store shared by its writer, reader and re-encoder (not a public
// header): the backend and index, frame loading with verification, and base-tensor matching.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "storage/backend.h"
#include "storage/codec.h"
#include "storage/framed_store.h"
#include "storage/index.h"
#include "storage/pack.h"

namespace grove::storage::detail {

bool is_delta(Codec codec);

// Buffers reused across frame loads: the stored bytes and the last base frame decoded.
struct FrameScratch {
  // A frame's stored bytes, placed on its pages as they lie in the pack (the file seam then
  // reads them in place, with no copy); see Core::load_frame_into.
  StagingBuffer stored;
  std::optional<Blake3Digest> base_id;
  std::vector<std::uint8_t> base_raw;
};

struct Core {
  std::unique_ptr<BlobBackend> backend;
  std::unique_ptr<FrameIndex> index;
  FramedStoreOptions options;
  std::atomic<bool> encode_on_worker{false};  // options.encode_on_worker, settable later
  std::mutex buffers_mu;
  std::vector<StagingBuffer> buffers;  // at most kMaxPooledBuffers
  static constexpr std::size_t kMaxPooledBuffers = 4;

  // Reads `frame` with one backend get, checks its header against the index, decodes it (its
  // base first when it is a delta: `base` must then be the base's location, itself standalone)
  // and checks the result against the frame's raw check, or its id when it has none (pack.h).
  // kCorrupt on any mismatch.
  Status load_frame(const FrameLocation& frame, const FrameLocation* base, FrameScratch& scratch,
                    std::vector<std::uint8_t>& out);
  // The same into a caller's buffer of exactly the frame's raw length.
  Status load_frame_into(const FrameLocation& frame, const FrameLocation* base, FrameScratch& scratch,
                         std::span<std::uint8_t> out);
  // Staging buffers recycled between writers: a fresh 1 MiB one costs 256 page faults.
  StagingBuffer take_buffer();
  void give_buffer(StagingBuffer buffer);

  // load_frame for a frame that is not a delta.
  Status load_standalone(const FrameLocation& frame, FrameScratch& scratch, std::vector<std::uint8_t>& out);
};

// Writes frames that already have index rows (gc's copies, repack's re-encodings) into new
// packs, streamed to the backend as they come, and moves the rows of each sealed pack's frames
// to it: the pack is durable and installed before the index switches (one transaction), and
// removed again when the index refuses. A relocator dropped before flush() leaves nothing.
class PackRelocator {
 public:
  explicit PackRelocator(Core& core);
  Status add(const Blake3Digest& id, ElementType type, std::uint32_t raw_length, const EncodedFrame& frame,
             const std::optional<Blake3Digest>& base);
  // Seals and switches to the open pack, if any.
  Status flush();
  std::uint64_t bytes_written() const { return written_; }  // of the packs switched to

 private:
  Core& core_;
  PackStreamWriter pack_;
  std::uint64_t written_ = 0;
};

// A tensor of a base file that a tensor being stored may be encoded against.
struct BaseTensor {
  Sha256Digest file;
  std::uint64_t offset = 0;  // absolute in the base file
  ElementType type = ElementType::kBytes;
};

ElementType element_type_of(const std::string& dtype);

// Matches tensors (by name, then same element size and shape; float types may differ, which
// makes a cast delta) against the tensors of `base_files`. Result keyed by tensor name.
Result<std::map<std::string, BaseTensor>> match_base_tensors(FrameIndex& index, const std::vector<TensorRecord>& tensors,
                                                            const std::vector<Sha256Digest>& base_files);

// Decides whether a declared base really helps: the first few frames that have a base
// candidate are measured with delta_ratio; when their mean is 0.9 or more the base is dropped.
class BaseConfirmation {
 public:
  static constexpr int kSamples = 4;
  bool rejected() const { return state_ == State::kRejected; }
  // Returns false when the base is (now) rejected.
  bool sample(std::span<const std::uint8_t> raw, ElementType type, const FrameBase& base);

 private:
  enum class State { kSampling, kConfirmed, kRejected };
  State state_ = State::kSampling;
  int samples_ = 0;
  double ratio_sum_ = 0;
};

// Finds and loads the base frame for the bytes at `base_offset` of the base tensor's file: the
// base file's recipe must have a frame starting exactly there with `raw_length` bytes, and that
// frame must be standalone (deltas are one level deep). nullopt when there is no usable frame.
Result<std::optional<FrameLocation>> load_base_frame(Core& core, const Sha256Digest& base_file, std::uint64_t base_offset,
                                                     std::uint32_t raw_length, FrameScratch& scratch,
                                                     std::vector<std::uint8_t>& base_raw);

}  // namespace grove::storage::detail
