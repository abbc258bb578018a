// Internals of GgufExport shared by gguf_export_plan.cpp (validation, layout, metadata) and
// gguf_export.cpp (streaming). Not a public header.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "formats/gguf_export.h"
#include "formats/safetensors.h"
#include "formats/worker_pool.h"

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
  Impl(ModelSource& s, const ExportOptions& o) : source(s), options(o), pool(o.threads) {}

  ModelSource& source;
  ExportOptions options;
  ExportType type{};
  ModelConfig config;
  GgufVocab vocab;
  std::string header;
  std::uint64_t total_size = 0;
  std::vector<TensorJob> jobs;
  std::vector<PlannedTensor> planned;

  // Streaming state.
  std::uint64_t position = 0;
  bool header_sent = false;
  std::size_t job = 0;       // tensor being produced
  std::uint64_t row = 0;     // next row of that tensor
  bool padding_sent = false;
  std::vector<std::uint8_t> out;  // produced, not yet returned
  std::size_t out_pos = 0;
  std::vector<std::uint8_t> src_bytes;
  std::vector<float> scales;
  std::vector<std::vector<float>> scratch;  // one row per worker
  WorkerPool pool;

  Status produce_next();
  Status produce_chunk(TensorJob& j);
};

// Validates the model and fills type, config, vocab, jobs, planned, header, total_size.
Status plan_export(GgufExport::Impl& impl);

}  // namespace grove::formats
