// Internals of GgufExport shared by gguf_export_plan.cpp (validation, layout, metadata) and
// gguf_export.cpp (streaming). Not a public header.
#pragma once

#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "formats/gguf_export.h"
#include "formats/safetensors.h"

namespace grove::formats {

// Where a tensor's bytes sit in the source.
struct SourceTensor {
  std::string file;
  std::uint64_t data_offset = 0;  // absolute, in `file`
  DType dtype = DType::kF32;
  std::vector<std::uint64_t> shape;  // safetensors order
};

struct TensorJob {
  PlannedTensor planned;
  std::optional<SourceTensor> source;  // absent for computed tensors
  std::optional<SourceTensor> scale;   // FP8 weight_scale_inv, [ceil(rows/128), ceil(cols/128)]
  std::vector<float> values;           // a computed tensor's values
  std::uint64_t rows = 1, cols = 0;    // cols = ne0
  // Llama Q/K: rows (elements, for a 1-D bias) regrouped per head of `head_dim` (spec §5.2).
  bool permute = false;
  std::uint32_t head_dim = 0;
};

inline constexpr std::uint64_t kFp8BlockSize = 128;

struct GgufExport::Impl {
  Impl(ModelSource& s, const ExportOptions& o) : source(s), options(o) {}
  ~Impl();

  ModelSource& source;
  ExportOptions options;
  ExportType type{};
  ModelConfig config;
  GgufVocab vocab;
  std::string header;
  std::uint64_t total_size = 0;
  std::vector<TensorJob> jobs;
  std::vector<PlannedTensor> planned;

  // Streaming state of the consumer (the thread calling next()).
  std::uint64_t position = 0;
  bool header_sent = false;
  std::size_t job = 0;       // tensor being produced
  std::uint64_t row = 0;     // next row of that tensor
  bool padding_sent = false;

  // The pipeline: workers claim chunks (row ranges of tensors) in file order, read, decode and
  // quantize them in parallel, each into a slot of a ring of `window` slots; the consumer takes
  // the slots in order. A worker claims chunk `seq` only once seq < consumed + window, so at
  // most `window` chunks are in memory whatever the model size.
  struct Slot {
    bool ready = false;
    Status status;
    ChunkBuffer bytes;
  };
  struct Scratch {  // one per worker
    ChunkBuffer src;  // not a vector: growing one zero-fills bytes the read overwrites at once
    std::vector<std::uint8_t> scale_raw;
    std::vector<float> scales;
    std::vector<float> row;
    std::vector<float> tmp;
  };
  std::mutex mu;
  std::condition_variable work_cv, ready_cv;
  std::vector<std::thread> workers;  // started by the first chunk the consumer needs
  std::vector<Slot> slots;           // guarded by mu (a claimed slot's bytes: its worker's)
  std::size_t claim_job = 0;         // guarded by mu: next chunk to claim
  std::uint64_t claim_row = 0;       // guarded by mu
  std::uint64_t claimed = 0;         // guarded by mu: chunks claimed so far
  std::uint64_t consumed = 0;        // guarded by mu: chunks the consumer has taken
  bool stop = false;                 // guarded by mu

  std::uint64_t chunk_rows(const TensorJob& j) const;
  Status produce_next(ChunkBuffer& out);  // into `out`, cleared
  Status take_chunk(TensorJob& j, ChunkBuffer& out);
  void start_workers();
  void work();
  Status compute_chunk(const TensorJob& j, std::uint64_t r0, std::uint64_t r1, ChunkBuffer& dst,
                       Scratch& scratch);
};

// Validates the model and fills type, config, vocab, jobs, planned, header, total_size.
Status plan_export(GgufExport::Impl& impl);

}  // namespace grove::formats
