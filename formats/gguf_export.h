// Safetensors model -> GGUF, streamed. plan() reads only config.json, the tokenizer files and
// the safetensors headers, checks everything an export needs (architecture, tokenizer, every
// tensor present with the shape config.json implies, a known export type) and lays out the
// whole file: header bytes, each tensor's offset and size, the total length. Nothing is
// produced before that succeeds, so a caller can answer "no" (or send Content-Length) first.
//
// next() then yields the file front to back, a piece at a time: the header, then tensor by
// tensor, each read in chunks of whole rows (whole heads for permuted Q/K), dequantized to
// float32 (BF16, F16, F32, FP8 E4M3 with 128x128 block scales) and quantized. Two workers per
// thread each take the next chunk, read it from the source, quantize it and hand it back in
// order: two, so that a core quantizes one chunk while the other worker waits for its source
// bytes (a store reads them from the disk, past the page cache). At most 4·threads + 1 chunks
// are in flight, so memory is a few chunk buffers (each about chunk_elements × 6 bytes, × 12
// for F32 output) whatever the model size. Workers start with the first next().
//
// Mapping and metadata follow ../shared/specs/gguf.md §5–6 (llama, mistral as llama, qwen2);
// per-tensor types follow gguf_mix.h. Tensors are written in llama-quantize's order (non-layer
// tensors by name, then blk.0.*, blk.1.*, ... each by name).
//
// Thread-safety: one thread calls next(); the object owns its worker threads, which call
// ModelSource::read concurrently.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "formats/gguf_mix.h"
#include "formats/gguf_vocab.h"
#include "formats/model_config.h"
#include "formats/model_source.h"

namespace grove::formats {

// A byte buffer whose resize leaves new bytes uninitialised (and drops the old contents when
// it grows): every byte of a chunk is written by the quantizer after the resize, and zeroing
// it first was a whole extra memset pass over the export.
class ChunkBuffer {
 public:
  std::uint8_t* data() { return data_.get(); }
  const std::uint8_t* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() { size_ = 0; }
  // Grows with headroom (to the next 1/8 step of n's power of two), so the chunks of tensors of
  // slightly different row lengths reuse one buffer instead of each allocating (and faulting in)
  // a fresh one.
  void resize(std::size_t n) {
    if (n > capacity_) {
      const std::size_t step = std::max<std::size_t>(4096, std::bit_floor(n) / 8);
      capacity_ = (n + step - 1) / step * step;
      data_.reset(new std::uint8_t[capacity_]);
    }
    size_ = n;
  }
  void assign(const void* bytes, std::size_t n) {
    resize(n);
    if (n) std::memcpy(data_.get(), bytes, n);
  }
  void assign_zeros(std::size_t n) {
    resize(n);
    if (n) std::memset(data_.get(), 0, n);
  }
  void swap(ChunkBuffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(capacity_, o.capacity_);
  }

 private:
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t size_ = 0, capacity_ = 0;
};

// Bumped whenever the bytes an export produces change; caches are keyed by it.
inline constexpr int kGgufExporterVersion = 1;

struct ExportOptions {
  std::string quant = "Q8_0";  // an ExportType name
  std::string model_name;      // general.name (left out when empty)
  unsigned threads = 0;        // cores to quantize on (two workers each); 0: one per core
  std::size_t chunk_elements = std::size_t{1} << 21;  // rows per chunk ≈ this / row length
};

struct PlannedTensor {
  std::string name;         // GGUF name
  std::string source_name;  // safetensors name, empty for a computed tensor (rope_freqs)
  QuantType type;
  std::vector<std::uint64_t> dims;  // GGUF order: ne0 first
  std::uint64_t offset = 0;         // from the start of the file
  std::uint64_t bytes = 0;          // without padding
};

class GgufExport {
 public:
  // `source` must outlive the export. kInvalidArgument (model cannot be exported, or an
  // unknown export type) with a message saying what is wrong; storage errors as they come.
  static Result<std::unique_ptr<GgufExport>> plan(ModelSource& source, const ExportOptions& options);
  ~GgufExport();

  std::uint64_t size() const;         // total file length
  std::uint64_t header_size() const;  // bytes before the first tensor's data
  std::uint64_t position() const;     // bytes next() has returned so far
  const ExportType& type() const;
  const ModelConfig& config() const;
  const GgufVocab& vocab() const;
  const std::vector<PlannedTensor>& tensors() const;

  // The next piece of the file (the header, a chunk of whole rows of a tensor, or a tensor's
  // padding) in `piece`, whose old memory the exporter keeps for later chunks: the quantized
  // bytes are not copied. An empty piece at the end of the file.
  Status next(ChunkBuffer& piece);

  struct Impl;  // gguf_export_impl.h; named here only so the implementation files can share it

 private:
  explicit GgufExport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Decodes one FP8 E4M3 (e4m3fn: bias 7, no infinities, S.1111.111 is NaN) byte.
float fp8_e4m3_to_fp32(std::uint8_t bits);

}  // namespace grove::formats
