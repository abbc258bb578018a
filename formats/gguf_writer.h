// GGUF v3 header encoding (../shared/specs/gguf.md §2). A file is
//   "GGUF" | u32 version = 3 | u64 tensor_count | u64 kv_count | kv pairs | tensor infos |
//   zero padding to `alignment` | tensor data, each tensor zero-padded to `alignment`
// little-endian throughout; strings are u64 length + bytes. Every offset depends only on the
// metadata, shapes and types, so the header and the file size are known before any tensor data
// exists: the caller writes encode_header(), then each tensor's bytes in the order added
// (tensor_bytes(i) of them, from quantize_row), then tensor_padding(i) zero bytes.
//
// Rules ggml's reader enforces, checked here at add time (kInvalidArgument): unique keys and
// tensor names; tensor names shorter than 64 bytes; 1–4 dimensions, each ≥ 1, dims given
// ne0 first (the reverse of safetensors' shape); ne0 a multiple of the type's block size;
// general.alignment a u32 power of two, set before the first tensor. Offsets follow ggml's
// contiguity rule: each tensor starts where the previous one's padded data ends.
// Not thread-safe; holds the encoded metadata (a vocabulary is a few MB), no tensor data.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "formats/quantize.h"

namespace grove::formats {

// GGUF metadata value type ids.
enum class GgufValueType : std::uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

inline constexpr std::uint32_t kGgufDefaultAlignment = 32;
inline constexpr std::size_t kGgufMaxTensorName = 63;  // bytes, GGML_MAX_NAME − 1

class GgufBuilder {
 public:
  // Scalars. llama.cpp reads hyperparameters as u32 and f32 (not u64): spec §1, item 4.
  Status add_u8(std::string_view key, std::uint8_t v);
  Status add_i8(std::string_view key, std::int8_t v);
  Status add_u16(std::string_view key, std::uint16_t v);
  Status add_i16(std::string_view key, std::int16_t v);
  Status add_u32(std::string_view key, std::uint32_t v);  // "general.alignment" also sets alignment()
  Status add_i32(std::string_view key, std::int32_t v);
  Status add_u64(std::string_view key, std::uint64_t v);
  Status add_i64(std::string_view key, std::int64_t v);
  Status add_f32(std::string_view key, float v);
  Status add_f64(std::string_view key, double v);
  Status add_bool(std::string_view key, bool v);
  Status add_string(std::string_view key, std::string_view v);
  // Arrays (ggml rejects arrays of arrays, so there are none).
  Status add_string_array(std::string_view key, std::span<const std::string> v);
  Status add_f32_array(std::string_view key, std::span<const float> v);
  Status add_i32_array(std::string_view key, std::span<const std::int32_t> v);
  Status add_u32_array(std::string_view key, std::span<const std::uint32_t> v);

  // dims: ne0 (innermost, contiguous) first.
  Status add_tensor(std::string_view name, std::span<const std::uint64_t> dims, QuantType type);

  std::uint32_t alignment() const { return alignment_; }
  std::size_t tensor_count() const { return tensors_.size(); }
  // REQUIRES: i < tensor_count(). Offset from the data section start; unpadded size; padding.
  std::uint64_t tensor_offset(std::size_t i) const { return tensors_[i].offset; }
  std::uint64_t tensor_bytes(std::size_t i) const { return tensors_[i].bytes; }
  std::uint64_t tensor_padding(std::size_t i) const;
  // Bytes of encode_header(): everything before the data section, padding included.
  std::uint64_t header_size() const;
  std::uint64_t file_size() const { return header_size() + data_size_; }
  std::string encode_header() const;

 private:
  struct Tensor {
    std::string name;
    std::vector<std::uint64_t> dims;
    QuantType type;
    std::uint64_t offset;
    std::uint64_t bytes;
  };
  Status add_kv(std::string_view key, GgufValueType type, std::string payload);
  Status add_array(std::string_view key, GgufValueType element_type, std::uint64_t count, std::string payload);

  std::vector<std::string> keys_;
  std::string kv_bytes_;  // encoded kv pairs, in insertion order
  std::vector<Tensor> tensors_;
  std::uint32_t alignment_ = kGgufDefaultAlignment;
  std::uint64_t data_size_ = 0;  // sum of padded tensor sizes
};

}  // namespace grove::formats
