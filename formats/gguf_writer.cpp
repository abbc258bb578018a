#include "formats/gguf_writer.h"

#include <algorithm>
#include <cstring>

namespace grove::formats {
namespace {

constexpr std::size_t kMaxKeyLength = 65535;

template <typename T>
void append_le(std::string& out, T v) {
  unsigned char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));  // the host is little-endian (x86-64, aarch64)
  out.append(reinterpret_cast<const char*>(bytes), sizeof(T));
}

void append_string(std::string& out, std::string_view s) {
  append_le<std::uint64_t>(out, s.size());
  out.append(s);
}

template <typename T>
std::string encode_scalar(T v) {
  std::string out;
  append_le(out, v);
  return out;
}

template <typename T>
std::string encode_elements(std::span<const T> v) {
  std::string out;
  out.reserve(v.size() * sizeof(T));
  for (const T& x : v) append_le(out, x);
  return out;
}

std::uint64_t padding_to(std::uint64_t n, std::uint64_t alignment) { return (alignment - n % alignment) % alignment; }

}  // namespace

Status GgufBuilder::add_kv(std::string_view key, GgufValueType type, std::string payload) {
  if (key.empty() || key.size() > kMaxKeyLength) return invalid_argument("GGUF key must be 1..65535 bytes");
  if (std::find(keys_.begin(), keys_.end(), key) != keys_.end()) {
    return invalid_argument("duplicate GGUF key " + std::string(key));
  }
  keys_.emplace_back(key);
  append_string(kv_bytes_, key);
  append_le<std::uint32_t>(kv_bytes_, static_cast<std::uint32_t>(type));
  kv_bytes_ += payload;
  return Status::ok();
}

Status GgufBuilder::add_array(std::string_view key, GgufValueType element_type, std::uint64_t count,
                              std::string payload) {
  std::string header;
  append_le<std::uint32_t>(header, static_cast<std::uint32_t>(element_type));
  append_le<std::uint64_t>(header, count);
  return add_kv(key, GgufValueType::kArray, header + payload);
}

Status GgufBuilder::add_u8(std::string_view k, std::uint8_t v) { return add_kv(k, GgufValueType::kU8, encode_scalar(v)); }
Status GgufBuilder::add_i8(std::string_view k, std::int8_t v) { return add_kv(k, GgufValueType::kI8, encode_scalar(v)); }
Status GgufBuilder::add_u16(std::string_view k, std::uint16_t v) {
  return add_kv(k, GgufValueType::kU16, encode_scalar(v));
}
Status GgufBuilder::add_i16(std::string_view k, std::int16_t v) {
  return add_kv(k, GgufValueType::kI16, encode_scalar(v));
}
Status GgufBuilder::add_i32(std::string_view k, std::int32_t v) {
  return add_kv(k, GgufValueType::kI32, encode_scalar(v));
}
Status GgufBuilder::add_u64(std::string_view k, std::uint64_t v) {
  return add_kv(k, GgufValueType::kU64, encode_scalar(v));
}
Status GgufBuilder::add_i64(std::string_view k, std::int64_t v) {
  return add_kv(k, GgufValueType::kI64, encode_scalar(v));
}
Status GgufBuilder::add_f32(std::string_view k, float v) { return add_kv(k, GgufValueType::kF32, encode_scalar(v)); }
Status GgufBuilder::add_f64(std::string_view k, double v) { return add_kv(k, GgufValueType::kF64, encode_scalar(v)); }
Status GgufBuilder::add_bool(std::string_view k, bool v) {
  return add_kv(k, GgufValueType::kBool, encode_scalar<std::uint8_t>(v ? 1 : 0));
}

Status GgufBuilder::add_u32(std::string_view key, std::uint32_t v) {
  const bool is_alignment = key == "general.alignment";
  if (is_alignment) {
    if (v == 0 || (v & (v - 1)) != 0) return invalid_argument("general.alignment must be a power of two");
    if (!tensors_.empty()) return invalid_argument("general.alignment must be set before any tensor");
  }
  Status s = add_kv(key, GgufValueType::kU32, encode_scalar(v));
  if (s.is_ok() && is_alignment) alignment_ = v;
  return s;
}

Status GgufBuilder::add_string(std::string_view key, std::string_view v) {
  std::string payload;
  append_string(payload, v);
  return add_kv(key, GgufValueType::kString, std::move(payload));
}

Status GgufBuilder::add_string_array(std::string_view key, std::span<const std::string> v) {
  std::string payload;
  for (const std::string& s : v) append_string(payload, s);
  return add_array(key, GgufValueType::kString, v.size(), std::move(payload));
}

Status GgufBuilder::add_f32_array(std::string_view k, std::span<const float> v) {
  return add_array(k, GgufValueType::kF32, v.size(), encode_elements(v));
}
Status GgufBuilder::add_i32_array(std::string_view k, std::span<const std::int32_t> v) {
  return add_array(k, GgufValueType::kI32, v.size(), encode_elements(v));
}
Status GgufBuilder::add_u32_array(std::string_view k, std::span<const std::uint32_t> v) {
  return add_array(k, GgufValueType::kU32, v.size(), encode_elements(v));
}

Status GgufBuilder::add_tensor(std::string_view name, std::span<const std::uint64_t> dims, QuantType type) {
  const std::string where = "tensor " + std::string(name) + ": ";
  if (name.empty() || name.size() > kGgufMaxTensorName) return invalid_argument(where + "name must be 1..63 bytes");
  for (const Tensor& t : tensors_) {
    if (t.name == name) return invalid_argument(where + "duplicate tensor name");
  }
  if (dims.empty() || dims.size() > 4) return invalid_argument(where + "needs 1 to 4 dimensions");
  std::uint64_t elements = 1;
  for (std::uint64_t d : dims) {
    if (d == 0) return invalid_argument(where + "has a zero dimension");
    if (__builtin_mul_overflow(elements, d, &elements)) return invalid_argument(where + "is too large");
  }
  const std::uint64_t block = quant_block_elements(type);
  if (dims[0] % block != 0) {
    return invalid_argument(where + std::string(quant_type_name(type)) + " needs ne0 to be a multiple of " +
                            std::to_string(block) + ", got " + std::to_string(dims[0]));
  }
  std::uint64_t bytes = 0;
  std::uint64_t end = 0;
  if (__builtin_mul_overflow(elements / block, quant_block_bytes(type), &bytes) ||
      __builtin_add_overflow(data_size_, bytes + padding_to(bytes, alignment_), &end) || end < bytes) {
    return invalid_argument(where + "is too large");
  }
  tensors_.push_back({std::string(name), {dims.begin(), dims.end()}, type, data_size_, bytes});
  data_size_ = end;
  return Status::ok();
}

std::uint64_t GgufBuilder::tensor_padding(std::size_t i) const {
  return padding_to(tensors_[i].bytes, alignment_);
}

std::uint64_t GgufBuilder::header_size() const {
  std::uint64_t n = 4 + 4 + 8 + 8 + kv_bytes_.size();
  for (const Tensor& t : tensors_) n += 8 + t.name.size() + 4 + 8 * t.dims.size() + 4 + 8;
  return n + padding_to(n, alignment_);
}

std::string GgufBuilder::encode_header() const {
  std::string out("GGUF");
  append_le<std::uint32_t>(out, 3);
  append_le<std::uint64_t>(out, tensors_.size());
  append_le<std::uint64_t>(out, keys_.size());
  out += kv_bytes_;
  for (const Tensor& t : tensors_) {
    append_string(out, t.name);
    append_le<std::uint32_t>(out, static_cast<std::uint32_t>(t.dims.size()));
    for (std::uint64_t d : t.dims) append_le(out, d);
    append_le<std::uint32_t>(out, ggml_type_id(t.type));
    append_le(out, t.offset);
  }
  out.append(padding_to(out.size(), alignment_), '\0');
  return out;
}

}  // namespace grove::formats
