#include "scripts/synth/safetensors_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "scripts/synth/half.h"

namespace grove::synth {

const char* dtype_name(DType dtype) { return dtype == DType::kBf16 ? "BF16" : "F16"; }
const char* torch_dtype_name(DType dtype) { return dtype == DType::kBf16 ? "bfloat16" : "float16"; }

std::uint64_t TensorInfo::elements() const {
  std::uint64_t n = 1;
  for (std::uint64_t dim : shape) n *= dim;
  return n;
}

Result<std::unique_ptr<FileWriter>> FileWriter::create(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return errno_status("create", path);
  return std::unique_ptr<FileWriter>(new FileWriter(file, path));
}

FileWriter::FileWriter(std::FILE* file, std::string path)
    : file_(file), path_(std::move(path)), buffer_(kBufferBytes) {
  std::setvbuf(file_, nullptr, _IONBF, 0);  // our buffer is the only one
}

FileWriter::~FileWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

Status FileWriter::flush() {
  if (used_ == 0) return Status::ok();
  if (std::fwrite(buffer_.data(), 1, used_, file_) != used_) return errno_status("write", path_);
  written_ += used_;
  used_ = 0;
  return Status::ok();
}

Status FileWriter::append(std::span<const std::uint8_t> data) {
  while (!data.empty()) {
    if (used_ == buffer_.size()) GROVE_RETURN_IF_ERROR(flush());
    const std::size_t n = std::min(data.size(), buffer_.size() - used_);
    std::memcpy(buffer_.data() + used_, data.data(), n);
    used_ += n;
    data = data.subspan(n);
  }
  return Status::ok();
}

Result<std::uint8_t*> FileWriter::reserve(std::size_t n) {
  if (n > buffer_.size()) return internal_error("reserve beyond the buffer");
  if (buffer_.size() - used_ < n) GROVE_RETURN_IF_ERROR(flush());
  std::uint8_t* out = buffer_.data() + used_;
  used_ += n;
  return out;
}

Status FileWriter::close() {
  Status status = flush();
  const int rc = std::fclose(file_);
  file_ = nullptr;
  GROVE_RETURN_IF_ERROR(status);
  if (rc != 0) return errno_status("close", path_);
  return Status::ok();
}

Status TensorSink::append(std::span<const float> values) {
  // Encode in slices that fit the writer's buffer; 2 bytes per value, little-endian.
  constexpr std::size_t kSlice = FileWriter::kBufferBytes / 2;
  while (!values.empty()) {
    const std::size_t n = std::min(values.size(), kSlice);
    GROVE_ASSIGN_OR_RETURN(std::uint8_t* out, writer_.reserve(2 * n));
    if (dtype_ == DType::kBf16) {
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint16_t bits = float_to_bf16(values[i]);
        out[2 * i] = static_cast<std::uint8_t>(bits & 0xFF);
        out[2 * i + 1] = static_cast<std::uint8_t>(bits >> 8);
      }
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint16_t bits = float_to_f16(values[i]);
        out[2 * i] = static_cast<std::uint8_t>(bits & 0xFF);
        out[2 * i + 1] = static_cast<std::uint8_t>(bits >> 8);
      }
    }
    elements_ += n;
    values = values.subspan(n);
  }
  return Status::ok();
}

namespace {

constexpr std::uint64_t kBytesPerValue = 2;  // both BF16 and F16

std::string shard_name(std::size_t index, std::size_t count) {
  char name[64];
  std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", index + 1, count);
  return name;
}

// The padded header for tensors already in file order.
std::string safetensors_header(const std::vector<const TensorInfo*>& tensors, DType dtype) {
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}};
  std::uint64_t offset = 0;
  for (const TensorInfo* tensor : tensors) {
    const std::uint64_t bytes = tensor->elements() * kBytesPerValue;
    header[tensor->name] = {{"dtype", dtype_name(dtype)},
                            {"shape", tensor->shape},
                            {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  return json;
}

Result<std::uint64_t> write_shard(const std::string& path, std::vector<const TensorInfo*> tensors,
                                  DType dtype, TensorSource& source) {
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->name < b->name; });
  const std::string header = safetensors_header(tensors, dtype);
  GROVE_ASSIGN_OR_RETURN(auto writer, FileWriter::create(path));
  std::uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<std::uint8_t>(header.size() >> (8 * i));
  GROVE_RETURN_IF_ERROR(writer->append(length));
  GROVE_RETURN_IF_ERROR(
      writer->append({reinterpret_cast<const std::uint8_t*>(header.data()), header.size()}));
  for (const TensorInfo* tensor : tensors) {
    TensorSink sink(*writer, dtype);
    GROVE_RETURN_IF_ERROR(source.fill(*tensor, sink).with_context(tensor->name));
    if (sink.elements_written() != tensor->elements()) {
      return internal_error(tensor->name + ": source wrote the wrong number of values");
    }
  }
  const std::uint64_t bytes = writer->bytes_written();
  GROVE_RETURN_IF_ERROR(writer->close());
  return bytes;
}

}  // namespace

Result<std::uint64_t> write_checkpoint(const std::string& dir,
                                       const std::vector<TensorInfo>& tensors, DType dtype,
                                       std::uint64_t max_shard_bytes, TensorSource& source) {
  std::vector<std::vector<const TensorInfo*>> shards;
  std::uint64_t shard_bytes = 0, total_bytes = 0;
  for (const TensorInfo& tensor : tensors) {
    const std::uint64_t bytes = tensor.elements() * kBytesPerValue;
    if (shards.empty() || (shard_bytes > 0 && shard_bytes + bytes > max_shard_bytes)) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(&tensor);
    shard_bytes += bytes;
    total_bytes += bytes;
  }

  if (shards.size() == 1) return write_shard(dir + "/model.safetensors", shards[0], dtype, source);

  std::uint64_t written = 0;
  nlohmann::json weight_map = nlohmann::json::object();  // sorted by tensor name
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const std::string name = shard_name(i, shards.size());
    for (const TensorInfo* tensor : shards[i]) weight_map[tensor->name] = name;
    GROVE_ASSIGN_OR_RETURN(std::uint64_t bytes,
                           write_shard(dir + "/" + name, shards[i], dtype, source));
    written += bytes;
  }
  nlohmann::ordered_json index;
  index["metadata"] = {{"total_size", total_bytes}};
  index["weight_map"] = weight_map;
  GROVE_ASSIGN_OR_RETURN(
      std::uint64_t index_bytes,
      write_text_file(dir + "/model.safetensors.index.json", index.dump(2) + "\n"));
  return written + index_bytes;
}

Result<std::uint64_t> write_text_file(const std::string& path, const std::string& content) {
  GROVE_ASSIGN_OR_RETURN(auto writer, FileWriter::create(path));
  GROVE_RETURN_IF_ERROR(
      writer->append({reinterpret_cast<const std::uint8_t*>(content.data()), content.size()}));
  GROVE_RETURN_IF_ERROR(writer->close());
  return static_cast<std::uint64_t>(content.size());
}

}  // namespace grove::synth
