// Streams tensors into safetensors files, sharded the way transformers' save_pretrained does,
// through one fixed buffer: no tensor, and no shard, is ever held in memory.
//
// File layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON padded with spaces so that 8 + N is a multiple of 8, then the tensor
// data, contiguous, in the header's order. Header:
//   {"__metadata__":{"format":"pt"},"<name>":{"dtype":"BF16","shape":[..],"data_offsets":[b,e]},..}
// Within a file tensors are sorted by name (as the safetensors library does); files are filled
// in the caller's (module) order, a new one starting when the next tensor would overflow
// max_shard_bytes. One file is "model.safetensors"; several are
// "model-0000k-of-0000n.safetensors" plus "model.safetensors.index.json".
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace grove::synth {

enum class DType { kBf16, kF16 };
// "BF16" / "F16" for headers, "bfloat16" / "float16" for config.json.
const char* dtype_name(DType dtype);
const char* torch_dtype_name(DType dtype);

struct TensorInfo {
  std::string name;
  std::vector<std::uint64_t> shape;
  std::uint64_t elements() const;
};

// Appends bytes to a file through a 1 MiB buffer. Not thread-safe.
class FileWriter {
 public:
  static Result<std::unique_ptr<FileWriter>> create(const std::string& path);
  ~FileWriter();
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  Status append(std::span<const std::uint8_t> data);
  // Room for `n` <= kBufferBytes bytes at the end of the buffer, flushing first when needed.
  // The caller must fill all n bytes.
  Result<std::uint8_t*> reserve(std::size_t n);
  // Flushes and closes; the file is complete only when this returns ok.
  Status close();
  std::uint64_t bytes_written() const { return written_ + used_; }

  static constexpr std::size_t kBufferBytes = 1 << 20;

 private:
  FileWriter(std::FILE* file, std::string path);
  Status flush();

  std::FILE* file_;
  std::string path_;
  std::vector<std::uint8_t> buffer_;
  std::size_t used_ = 0;
  std::uint64_t written_ = 0;
};

// Receives one tensor's values as float rows and encodes them in the file's dtype.
class TensorSink {
 public:
  TensorSink(FileWriter& writer, DType dtype) : writer_(writer), dtype_(dtype) {}
  Status append(std::span<const float> values);
  std::uint64_t elements_written() const { return elements_; }

 private:
  FileWriter& writer_;
  DType dtype_;
  std::uint64_t elements_ = 0;
};

// Produces the values of any tensor it is asked for, in row-major order.
class TensorSource {
 public:
  virtual ~TensorSource() = default;
  // Appends exactly tensor.elements() values to sink.
  virtual Status fill(const TensorInfo& tensor, TensorSink& sink) = 0;
};

// Writes the tensors (in module order) into `dir`, which must exist. Returns the number of
// bytes written, all files included.
Result<std::uint64_t> write_checkpoint(const std::string& dir,
                                       const std::vector<TensorInfo>& tensors, DType dtype,
                                       std::uint64_t max_shard_bytes, TensorSource& source);

// Writes a small file in one go; returns its size.
Result<std::uint64_t> write_text_file(const std::string& path, const std::string& content);

}  // namespace grove::synth
