#include "formats/safetensors.h"

#include <array>
#include <string>

#include <catch2/catch.hpp>

using namespace grove;
using namespace grove::formats;
using namespace std::string_literals;

namespace {

std::array<std::uint8_t, 8> le64(std::uint64_t n) {
  std::array<std::uint8_t, 8> out{};
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(n >> (8 * i));
  return out;
}

// File size for `header` followed by `data_size` bytes of tensor data.
std::uint64_t file_size_for(const std::string& header, std::uint64_t data_size) {
  return 8 + header.size() + data_size;
}

std::string error_of(const Result<SafetensorsHeader>& r) {
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  return r.status().message();
}

std::string parse_error(const std::string& header, std::uint64_t data_size = 1024) {
  return error_of(parse_safetensors_header(header, file_size_for(header, data_size)));
}

}  // namespace

TEST_CASE("dtype names and sizes round trip for every safetensors dtype", "[formats]") {
  const std::pair<const char*, std::size_t> expected[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8}};
  for (const auto& [name, size] : expected) {
    auto dtype = parse_dtype(name);
    REQUIRE(dtype);
    CHECK(dtype_name(*dtype) == name);
    CHECK(dtype_size(*dtype) == size);
  }
  CHECK_FALSE(parse_dtype("bf16"));
  CHECK_FALSE(parse_dtype("F4"));
  CHECK_FALSE(parse_dtype(""));
}

TEST_CASE("header length is read little-endian and checked against limit and file size", "[formats]") {
  auto r = safetensors_header_length(le64(0x0210), 8 + 0x0210);
  REQUIRE(r);
  CHECK(*r == 0x0210);

  auto zero = safetensors_header_length(le64(0), 100);
  REQUIRE_FALSE(zero);
  CHECK(zero.status().code() == Code::kInvalidArgument);
  CHECK(zero.status().message() == "header length is 0");

  CHECK(safetensors_header_length(le64(kMaxSafetensorsHeaderLength), 8 + kMaxSafetensorsHeaderLength));
  auto big = safetensors_header_length(le64(kMaxSafetensorsHeaderLength + 1), ~0ull);
  REQUIRE_FALSE(big);
  CHECK_THAT(big.status().message(), Catch::Contains("exceeds the limit"));
  // 8 + N would wrap to 7 without the limit check coming first.
  CHECK_FALSE(safetensors_header_length(le64(~0ull), ~0ull));

  auto beyond = safetensors_header_length(le64(100), 107);
  REQUIRE_FALSE(beyond);
  CHECK(beyond.status().code() == Code::kInvalidArgument);
  CHECK(beyond.status().message() == "header length 100 goes beyond the file (size 107)");
}

TEST_CASE("header length refuses fewer than 8 bytes", "[formats]") {
  auto prefix = le64(2);
  CHECK_FALSE(safetensors_header_length(std::span<const std::uint8_t>(prefix.data(), 7), 100));
  CHECK_FALSE(safetensors_header_length(prefix, 7));
}

TEST_CASE("a valid header gives tensors sorted by offset, metadata and counts", "[formats]") {
  const std::string header = R"({
    "b.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [8, 32]},
    "__metadata__": {"format": "pt"},
    "a.bias": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]},
    "scale": {"dtype": "F64", "shape": [], "data_offsets": [32, 40]},
    "empty": {"dtype": "I64", "shape": [0, 5], "data_offsets": [40, 40]}
  })";
  auto r = parse_safetensors_header(header, file_size_for(header, 40));
  REQUIRE(r);
  CHECK(r->header_length == header.size());
  CHECK(r->data_offset() == 8 + header.size());
  CHECK(r->metadata == std::map<std::string, std::string>{{"format", "pt"}});
  REQUIRE(r->tensors.size() == 4);
  CHECK(r->tensors[0].name == "a.bias");
  CHECK(r->tensors[0].dtype == DType::kBF16);
  CHECK(r->tensors[1].name == "b.weight");
  CHECK(r->tensors[1].shape == std::vector<std::uint64_t>{2, 3});
  CHECK(r->tensors[1].begin == 8);
  CHECK(r->tensors[1].end == 32);
  CHECK(r->tensors[2].name == "scale");
  CHECK(r->tensors[2].element_count() == 1);
  CHECK(r->tensors[3].name == "empty");
  CHECK(r->tensors[3].element_count() == 0);
  CHECK(r->parameter_count() == 4 + 6 + 1 + 0);
}

TEST_CASE("an empty object is a valid header with no tensors", "[formats]") {
  auto r = parse_safetensors_header("{}", 10);
  REQUIRE(r);
  CHECK(r->tensors.empty());
  CHECK(r->parameter_count() == 0);
}

TEST_CASE("space padding around the header JSON is accepted", "[formats]") {
  const std::string header = std::string("  ") + R"({"x": {"dtype": "U8", "shape": [3], "data_offsets": [0, 3]}})" +
                             std::string(13, ' ');
  auto r = parse_safetensors_header(header, file_size_for(header, 3));
  REQUIRE(r);
  REQUIRE(r->tensors.size() == 1);
  CHECK(r->header_length == header.size());
}

TEST_CASE("malformed JSON and non-object headers are refused", "[formats]") {
  CHECK(parse_error("") == "safetensors header is not well-formed JSON");
  CHECK(parse_error("{") == "safetensors header is not well-formed JSON");
  CHECK(parse_error(R"({"a": 1,})") == "safetensors header is not well-formed JSON");
  CHECK(parse_error("{} {}") == "safetensors header is not well-formed JSON");
  CHECK(parse_error("{}\0garbage"s) == "safetensors header is not well-formed JSON: it contains a NUL byte");
  CHECK(parse_error("{\"a\0\": 1}"s) == "safetensors header is not well-formed JSON: it contains a NUL byte");
  CHECK(parse_error("{\"\xff\": {}}") == "safetensors header is not well-formed JSON");
  CHECK(parse_error("[]") == "safetensors header must be a JSON object");
  CHECK(parse_error("\"x\"") == "safetensors header must be a JSON object");
  CHECK(parse_error("null") == "safetensors header must be a JSON object");
}

TEST_CASE("a header longer than the file is refused", "[formats]") {
  auto r = parse_safetensors_header("{}", 9);
  CHECK(error_of(r) == "header length 2 goes beyond the file (size 9)");
}

TEST_CASE("__metadata__ must be an object of strings", "[formats]") {
  CHECK(parse_error(R"({"__metadata__": "pt"})") == "__metadata__ must be an object of string values");
  CHECK(parse_error(R"({"__metadata__": ["pt"]})") == "__metadata__ must be an object of string values");
  CHECK(parse_error(R"({"__metadata__": {"format": "pt", "step": 7}})") ==
        "__metadata__ value for 'step' must be a string, not number");
  CHECK(parse_error(R"({"__metadata__": {"nested": {}}})") ==
        "__metadata__ value for 'nested' must be a string, not object");
}

TEST_CASE("malformed tensor entries are refused with the tensor named", "[formats]") {
  CHECK(parse_error(R"({"t": [1]})") == "tensor 't': entry must be an object, not array");
  CHECK(parse_error(R"({"t": {"shape": [1], "data_offsets": [0, 1]}})") == "tensor 't': missing string \"dtype\"");
  CHECK(parse_error(R"({"t": {"dtype": 4, "shape": [1], "data_offsets": [0, 1]}})") ==
        "tensor 't': missing string \"dtype\"");
  CHECK(parse_error(R"({"t": {"dtype": "F4", "shape": [1], "data_offsets": [0, 1]}})") ==
        "tensor 't': unknown dtype 'F4'");
  CHECK(parse_error(R"({"t": {"dtype": "U8", "data_offsets": [0, 1]}})") == "tensor 't': missing array \"shape\"");
  CHECK(parse_error(R"({"t": {"dtype": "U8", "shape": 1, "data_offsets": [0, 1]}})") ==
        "tensor 't': missing array \"shape\"");
  CHECK(parse_error(R"({"t": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}})") ==
        "tensor 't': shape must hold non-negative integers, got -1");
  CHECK(parse_error(R"({"t": {"dtype": "U8", "shape": [1.0], "data_offsets": [0, 1]}})") ==
        "tensor 't': shape must hold non-negative integers, got 1.0");
  CHECK(parse_error(R"({"t": {"dtype": "U8", "shape": ["1"], "data_offsets": [0, 1]}})") ==
        "tensor 't': shape must hold non-negative integers, got string");
  const std::string bad_offsets = "tensor 't': \"data_offsets\" must be [begin, end] with non-negative integers";
  for (const char* offsets : {"", R"(, "data_offsets": [0])", R"(, "data_offsets": [0, 1, 2])",
                              R"(, "data_offsets": [-1, 0])", R"(, "data_offsets": [0, 1.5])",
                              R"(, "data_offsets": {"begin": 0})", R"(, "data_offsets": ["0", "1"])"}) {
    CHECK(parse_error(std::string(R"({"t": {"dtype": "U8", "shape": [1])") + offsets + "}}") == bad_offsets);
  }
  CHECK(parse_error(R"({"t": {"dtype": "U8", "shape": [0], "data_offsets": [5, 4]}})") ==
        "tensor 't': data_offsets [5, 4] end before they begin");
}

TEST_CASE("shape times dtype size must equal the byte span", "[formats]") {
  const std::string header =
      R"({"model.layers.0.mlp.up_proj.weight": {"dtype": "BF16", "shape": [4096, 11008], "data_offsets": [0, 1000]}})";
  CHECK(parse_error(header, 1000) ==
        "tensor 'model.layers.0.mlp.up_proj.weight': shape [4096, 11008] × BF16 is 90177536 bytes but "
        "data_offsets span 1000");
  CHECK(parse_error(R"({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 8]}})") ==
        "tensor 's': shape [] × F32 is 4 bytes but data_offsets span 8");
}

TEST_CASE("element and byte counts that overflow 64 bits are refused", "[formats]") {
  // 2^32 × 2^32 wraps to 0, which would match an empty range without the guard.
  CHECK(parse_error(R"({"t": {"dtype": "U8", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})") ==
        "tensor 't': shape [4294967296, 4294967296] overflows 64-bit element count");
  // 2^62 elements fit, 2^62 × 4 bytes wraps to 0.
  CHECK(parse_error(R"({"t": {"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 0]}})") ==
        "tensor 't': shape [4611686018427387904] × F32 overflows 64-bit byte size");
  // A zero dimension makes any product fine.
  const std::string zero = R"({"t": {"dtype": "U64", "shape": [18446744073709551615, 0], "data_offsets": [0, 0]}})";
  CHECK(parse_safetensors_header(zero, file_size_for(zero, 0)));
}

TEST_CASE("every range must lie inside the data section", "[formats]") {
  const std::string header = R"({"t": {"dtype": "U8", "shape": [16], "data_offsets": [0, 16]}})";
  CHECK(parse_safetensors_header(header, file_size_for(header, 16)));
  CHECK(parse_safetensors_header(header, file_size_for(header, 17)));
  CHECK(error_of(parse_safetensors_header(header, file_size_for(header, 15))) ==
        "tensor 't': data_offsets end 16 is past the data section (15 bytes)");
  // Huge offsets with a matching span must not wrap past the check.
  const std::string huge =
      R"({"t": {"dtype": "U8", "shape": [1], "data_offsets": [18446744073709551614, 18446744073709551615]}})";
  CHECK_THAT(parse_error(huge), Catch::Contains("is past the data section"));
}

TEST_CASE("overlapping ranges are refused, adjacent, gapped and empty ones are not", "[formats]") {
  const std::string overlap = R"({
    "a": {"dtype": "U8", "shape": [10], "data_offsets": [0, 10]},
    "b": {"dtype": "U8", "shape": [10], "data_offsets": [5, 15]}})";
  CHECK(parse_error(overlap) == "tensor 'b': data_offsets [5, 15) overlap tensor 'a' [0, 10)");

  const std::string same = R"({
    "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
    "b": {"dtype": "I8", "shape": [4], "data_offsets": [0, 4]}})";
  CHECK_THAT(parse_error(same), Catch::Contains("overlap tensor"));

  // A tensor inside another is caught though it ends first.
  const std::string nested = R"({
    "outer": {"dtype": "U8", "shape": [100], "data_offsets": [0, 100]},
    "inner": {"dtype": "U8", "shape": [10], "data_offsets": [20, 30]},
    "after": {"dtype": "U8", "shape": [10], "data_offsets": [100, 110]}})";
  CHECK(parse_error(nested) == "tensor 'inner': data_offsets [20, 30) overlap tensor 'outer' [0, 100)");

  const std::string fine = R"({
    "a": {"dtype": "U8", "shape": [10], "data_offsets": [0, 10]},
    "z": {"dtype": "U8", "shape": [0], "data_offsets": [5, 5]},
    "b": {"dtype": "U16", "shape": [5], "data_offsets": [10, 20]},
    "c": {"dtype": "U8", "shape": [4], "data_offsets": [32, 36]},
    "z2": {"dtype": "F32", "shape": [0], "data_offsets": [36, 36]}})";
  auto r = parse_safetensors_header(fine, file_size_for(fine, 36));
  REQUIRE(r);
  std::vector<std::string> order;
  for (const auto& t : r->tensors) order.push_back(t.name);
  CHECK(order == std::vector<std::string>{"a", "z", "b", "c", "z2"});
}

TEST_CASE("repeated keys are refused rather than silently dropping a tensor", "[formats]") {
  CHECK(parse_error(R"({
    "a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
    "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}})") == "safetensors header repeats the key 'a'");
  CHECK(parse_error(R"({"a": {"dtype": "U8", "dtype": "F32", "shape": [1], "data_offsets": [0, 1]}})") ==
        "safetensors header repeats the key 'dtype'");
  // The same key in two different objects is not a repeat.
  const std::string distinct = R"({
    "a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
    "b": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}})";
  CHECK(parse_safetensors_header(distinct, file_size_for(distinct, 2)));
}

TEST_CASE("deeply nested hostile JSON is refused without exhausting the stack", "[formats]") {
  const std::size_t depth = 200000;
  CHECK(parse_error(std::string(depth, '[') + std::string(depth, ']')) == "safetensors header must be a JSON object");
  const std::string in_shape = R"({"t": {"dtype": "U8", "shape": [)" + std::string(depth, '[') +
                               std::string(depth, ']') + R"(], "data_offsets": [0, 1]}})";
  CHECK(parse_error(in_shape) == "tensor 't': shape must hold non-negative integers, got array");
}
