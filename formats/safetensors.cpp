#include "formats/safetensors.h"

#include <algorithm>
#include <array>
#include <functional>
#include <limits>
#include <set>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

namespace grove::formats {
namespace {

using json = nlohmann::json;

struct DTypeEntry {
  DType dtype;
  std::string_view name;
  std::size_t size;
};

// Indexed by the enum's value, so dtype_name and dtype_size are a lookup.
constexpr std::array<DTypeEntry, 15> kDTypes = {{
    {DType::kBool, "BOOL", 1},
    {DType::kU8, "U8", 1},
    {DType::kI8, "I8", 1},
    {DType::kF8_E4M3, "F8_E4M3", 1},
    {DType::kF8_E5M2, "F8_E5M2", 1},
    {DType::kI16, "I16", 2},
    {DType::kU16, "U16", 2},
    {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2},
    {DType::kI32, "I32", 4},
    {DType::kU32, "U32", 4},
    {DType::kF32, "F32", 4},
    {DType::kF64, "F64", 8},
    {DType::kI64, "I64", 8},
    {DType::kU64, "U64", 8},
}};

// False on overflow; every length computed from header fields goes through here, because the
// header is untrusted and a wrapped product could make a huge tensor look like it fits.
bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

std::string shape_string(const std::vector<std::uint64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// Numbers are short enough to quote; anything else is named by type, because dumping an
// untrusted value could be megabytes long or nested deep enough to exhaust the stack.
std::string describe(const json& value) {
  return value.is_number() ? value.dump() : std::string(value.type_name());
}

Status tensor_error(const std::string& name, const std::string& what) {
  return invalid_argument("tensor '" + name + "': " + what);
}

// nlohmann keeps one value for a repeated key without telling us. A repeated tensor name would
// hide a byte range from validation (and readers disagree on which copy wins), so the parse
// callback records the first key seen twice in any object.
class DuplicateKeyFinder {
 public:
  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_.empty()) open_.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_.empty() && parsed.is_string() && !open_.back().insert(parsed.get<std::string>()).second &&
            !duplicate_) {
          duplicate_ = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  }
  const std::optional<std::string>& duplicate() const { return duplicate_; }

 private:
  std::vector<std::set<std::string>> open_;
  std::optional<std::string> duplicate_;
};

Status parse_metadata(const json& value, std::map<std::string, std::string>& out) {
  if (!value.is_object()) return invalid_argument("__metadata__ must be an object of string values");
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string()) {
      return invalid_argument("__metadata__ value for '" + key + "' must be a string, not " + v.type_name());
    }
    out.emplace(key, v.get<std::string>());
  }
  return Status::ok();
}

// Checks one tensor entry on its own; ranges against each other are checked afterwards.
Result<TensorInfo> parse_tensor(const std::string& name, const json& value, std::uint64_t data_size) {
  if (!value.is_object()) return tensor_error(name, "entry must be an object, not " + std::string(value.type_name()));
  TensorInfo t;
  t.name = name;

  auto dtype_it = value.find("dtype");
  if (dtype_it == value.end() || !dtype_it->is_string()) return tensor_error(name, "missing string \"dtype\"");
  const auto& dtype_text = dtype_it->get_ref<const std::string&>();
  auto dtype = parse_dtype(dtype_text);
  if (!dtype) return tensor_error(name, "unknown dtype '" + dtype_text + "'");
  t.dtype = *dtype;

  auto shape_it = value.find("shape");
  if (shape_it == value.end() || !shape_it->is_array()) return tensor_error(name, "missing array \"shape\"");
  for (const auto& dim : *shape_it) {
    // nlohmann stores non-negative integers as unsigned, so this refuses negatives and floats.
    if (!dim.is_number_unsigned()) {
      return tensor_error(name, "shape must hold non-negative integers, got " + describe(dim));
    }
    t.shape.push_back(dim.get<std::uint64_t>());
  }

  auto offsets_it = value.find("data_offsets");
  if (offsets_it == value.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
      !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned()) {
    return tensor_error(name, "\"data_offsets\" must be [begin, end] with non-negative integers");
  }
  t.begin = (*offsets_it)[0].get<std::uint64_t>();
  t.end = (*offsets_it)[1].get<std::uint64_t>();
  if (t.begin > t.end) {
    return tensor_error(name, "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                                  "] end before they begin");
  }

  std::uint64_t elements = 1;
  for (auto dim : t.shape) {
    if (!checked_mul(elements, dim, elements)) {
      return tensor_error(name, "shape " + shape_string(t.shape) + " overflows 64-bit element count");
    }
  }
  std::uint64_t bytes = 0;
  if (!checked_mul(elements, dtype_size(t.dtype), bytes)) {
    return tensor_error(name, "shape " + shape_string(t.shape) + " × " + dtype_text + " overflows 64-bit byte size");
  }
  if (bytes != t.end - t.begin) {
    return tensor_error(name, "shape " + shape_string(t.shape) + " × " + dtype_text + " is " + std::to_string(bytes) +
                                  " bytes but data_offsets span " + std::to_string(t.end - t.begin));
  }
  if (t.end > data_size) {
    return tensor_error(name, "data_offsets end " + std::to_string(t.end) + " is past the data section (" +
                                  std::to_string(data_size) + " bytes)");
  }
  return t;
}

// REQUIRES: tensors sorted by begin.
Status check_no_overlap(const std::vector<TensorInfo>& tensors) {
  const TensorInfo* previous = nullptr;
  for (const auto& t : tensors) {
    // An empty range holds no bytes, so it cannot collide with anything.
    if (t.begin == t.end) continue;
    if (previous && t.begin < previous->end) {
      return tensor_error(t.name, "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                                      ") overlap tensor '" + previous->name + "' [" + std::to_string(previous->begin) +
                                      ", " + std::to_string(previous->end) + ")");
    }
    previous = &t;
  }
  return Status::ok();
}

}  // namespace

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& entry : kDTypes) {
    if (entry.name == name) return entry.dtype;
  }
  return std::nullopt;
}

std::string_view dtype_name(DType dtype) { return kDTypes[static_cast<std::size_t>(dtype)].name; }

std::size_t dtype_size(DType dtype) { return kDTypes[static_cast<std::size_t>(dtype)].size; }

std::uint64_t TensorInfo::element_count() const {
  std::uint64_t n = 1;
  for (auto dim : shape) n *= dim;
  return n;
}

std::uint64_t SafetensorsHeader::parameter_count() const {
  std::uint64_t total = 0;
  for (const auto& t : tensors) total += t.element_count();
  return total;
}

Result<std::uint64_t> safetensors_header_length(std::span<const std::uint8_t> first8, std::uint64_t file_size) {
  if (first8.size() < 8 || file_size < 8) {
    return invalid_argument("file is too short for the 8-byte safetensors header length");
  }
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | first8[static_cast<std::size_t>(i)];
  if (n == 0) return invalid_argument("header length is 0");
  if (n > kMaxSafetensorsHeaderLength) {
    return invalid_argument("header length " + std::to_string(n) + " exceeds the limit of " +
                            std::to_string(kMaxSafetensorsHeaderLength) + " bytes");
  }
  // n is bounded above, so 8 + n cannot wrap.
  if (8 + n > file_size) {
    return invalid_argument("header length " + std::to_string(n) + " goes beyond the file (size " +
                            std::to_string(file_size) + ")");
  }
  return n;
}

Result<SafetensorsHeader> parse_safetensors_header(std::string_view header_json, std::uint64_t file_size) {
  SafetensorsHeader header;
  header.header_length = header_json.size();
  if (header.header_length > kMaxSafetensorsHeaderLength || header.data_offset() > file_size) {
    return invalid_argument("header length " + std::to_string(header.header_length) + " goes beyond the file (size " +
                            std::to_string(file_size) + ")");
  }
  const std::uint64_t data_size = file_size - header.data_offset();

  // nlohmann stops reading at a NUL byte as if the input ended there, which would let
  // arbitrary bytes ride after the JSON unchecked.
  if (header_json.find('\0') != std::string_view::npos) {
    return invalid_argument("safetensors header is not well-formed JSON: it contains a NUL byte");
  }
  // Writers pad the header with spaces to align the data section; JSON whitespace rules
  // already skip them on both sides.
  DuplicateKeyFinder duplicates;
  json root = json::parse(header_json.begin(), header_json.end(), std::ref(duplicates), /*allow_exceptions=*/false);
  if (root.is_discarded()) return invalid_argument("safetensors header is not well-formed JSON");
  if (!root.is_object()) return invalid_argument("safetensors header must be a JSON object");
  if (duplicates.duplicate()) {
    return invalid_argument("safetensors header repeats the key '" + *duplicates.duplicate() + "'");
  }

  for (const auto& [name, value] : root.items()) {
    if (name == "__metadata__") {
      GROVE_RETURN_IF_ERROR(parse_metadata(value, header.metadata));
      continue;
    }
    GROVE_ASSIGN_OR_RETURN(TensorInfo tensor, parse_tensor(name, value, data_size));
    header.tensors.push_back(std::move(tensor));
  }

  // Ties broken by end then name so the order never depends on the JSON's key order.
  std::sort(header.tensors.begin(), header.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  GROVE_RETURN_IF_ERROR(check_no_overlap(header.tensors));
  return header;
}

}  // namespace grove::formats
