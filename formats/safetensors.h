// Safetensors header reading and validation. A safetensors file is
//   u64 little-endian N | N bytes of JSON header | data
// and the JSON maps tensor names to {dtype, shape, data_offsets:[begin,end]} (offsets relative
// to the start of data), plus an optional "__metadata__" object of string values.
// Pure parsing: callers hand in bytes, nothing here does I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace grove::formats {

enum class DType { kBool, kU8, kI8, kF8_E4M3, kF8_E5M2, kI16, kU16, kF16, kBF16, kI32, kU32, kF32, kF64, kI64, kU64 };

// "BF16" -> kBF16; nullopt for a name safetensors does not define.
std::optional<DType> parse_dtype(std::string_view name);
std::string_view dtype_name(DType dtype);
// Bytes per element.
std::size_t dtype_size(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<std::uint64_t> shape;
  // Byte range [begin, end) relative to the start of the data section.
  std::uint64_t begin = 0;
  std::uint64_t end = 0;

  std::uint64_t element_count() const;
};

struct SafetensorsHeader {
  std::uint64_t header_length = 0;  // N, the JSON's length in bytes
  std::vector<TensorInfo> tensors;  // sorted by begin offset
  std::map<std::string, std::string> metadata;

  // Absolute file offset where the data section starts: 8 + header_length.
  std::uint64_t data_offset() const { return 8 + header_length; }
  // Sum of element counts over all tensors.
  std::uint64_t parameter_count() const;
};

// Headers larger than this are refused: real ones are a few MB at most.
inline constexpr std::uint64_t kMaxSafetensorsHeaderLength = 100ull << 20;

// Reads N from the file's first 8 bytes and checks it against the limit and the file size.
Result<std::uint64_t> safetensors_header_length(std::span<const std::uint8_t> first8, std::uint64_t file_size);

// Parses and validates the JSON header of a file of `file_size` bytes:
//   well-formed JSON object; known dtypes; shape elements × dtype size == end - begin;
//   every range inside the data section; no two ranges overlapping.
// Errors are kInvalidArgument with a message naming the tensor at fault.
Result<SafetensorsHeader> parse_safetensors_header(std::string_view header_json, std::uint64_t file_size);

}  // namespace grove::formats
