#include "formats/gguf_writer.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/formats/ggml_reference.h"

using namespace grove;
using namespace grove::formats;
using grove::testing::GgmlReference;

namespace {

// The parts of ggml's gguf.h the test calls; gguf_init_params is passed by value.
struct gguf_context;
struct ggml_context;
struct GgufInitParams {
  bool no_alloc;
  ggml_context** ctx;
};

struct GgufApi {
  gguf_context* (*init_from_file)(const char*, GgufInitParams);
  void (*free)(gguf_context*);
  void (*ggml_free)(ggml_context*);
  std::int64_t (*n_kv)(const gguf_context*);
  std::int64_t (*find_key)(const gguf_context*, const char*);
  int (*kv_type)(const gguf_context*, std::int64_t);
  std::uint32_t (*val_u32)(const gguf_context*, std::int64_t);
  float (*val_f32)(const gguf_context*, std::int64_t);
  const char* (*val_str)(const gguf_context*, std::int64_t);
  std::size_t (*arr_n)(const gguf_context*, std::int64_t);
  const char* (*arr_str)(const gguf_context*, std::int64_t, std::size_t);
  std::int64_t (*n_tensors)(const gguf_context*);
  const char* (*tensor_name)(const gguf_context*, std::int64_t);
  std::size_t (*tensor_offset)(const gguf_context*, std::int64_t);
  int (*tensor_type)(const gguf_context*, std::int64_t);
  std::size_t (*data_offset)(const gguf_context*);
  std::size_t (*alignment)(const gguf_context*);

  static GgufApi load() {
    GgmlReference& r = GgmlReference::instance();
    GgufApi a{};
    a.init_from_file = r.function<decltype(a.init_from_file)>("gguf_init_from_file");
    a.free = r.function<decltype(a.free)>("gguf_free");
    a.ggml_free = r.function<decltype(a.ggml_free)>("ggml_free");
    a.n_kv = r.function<decltype(a.n_kv)>("gguf_get_n_kv");
    a.find_key = r.function<decltype(a.find_key)>("gguf_find_key");
    a.kv_type = r.function<decltype(a.kv_type)>("gguf_get_kv_type");
    a.val_u32 = r.function<decltype(a.val_u32)>("gguf_get_val_u32");
    a.val_f32 = r.function<decltype(a.val_f32)>("gguf_get_val_f32");
    a.val_str = r.function<decltype(a.val_str)>("gguf_get_val_str");
    a.arr_n = r.function<decltype(a.arr_n)>("gguf_get_arr_n");
    a.arr_str = r.function<decltype(a.arr_str)>("gguf_get_arr_str");
    a.n_tensors = r.function<decltype(a.n_tensors)>("gguf_get_n_tensors");
    a.tensor_name = r.function<decltype(a.tensor_name)>("gguf_get_tensor_name");
    a.tensor_offset = r.function<decltype(a.tensor_offset)>("gguf_get_tensor_offset");
    a.tensor_type = r.function<decltype(a.tensor_type)>("gguf_get_tensor_type");
    a.data_offset = r.function<decltype(a.data_offset)>("gguf_get_data_offset");
    a.alignment = r.function<decltype(a.alignment)>("gguf_get_alignment");
    return a;
  }
};

struct TempFile {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("grove_gguf_test_" + std::to_string(::getpid()) + ".gguf");
  ~TempFile() { std::filesystem::remove(path); }
};

// Writes the header, then each tensor's quantized data (rows of ne0 values) and its padding.
void write_file(const GgufBuilder& b, const std::vector<std::vector<std::uint64_t>>& dims,
                const std::vector<QuantType>& types, const std::filesystem::path& path) {
  std::ofstream out(path, std::ios::binary);
  const std::string header = b.encode_header();
  REQUIRE(header.size() == b.header_size());
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const std::size_t ne0 = dims[i][0];
    std::uint64_t rows = 1;
    for (std::size_t d = 1; d < dims[i].size(); ++d) rows *= dims[i][d];
    std::vector<float> row(ne0);
    std::vector<std::uint8_t> bytes(quantized_row_size(types[i], ne0));
    for (std::uint64_t r = 0; r < rows; ++r) {
      for (std::size_t j = 0; j < ne0; ++j) row[j] = static_cast<float>(j % 17) * 0.25f - static_cast<float>(r);
      REQUIRE(quantize_row(types[i], row, bytes).is_ok());
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    REQUIRE(b.tensor_bytes(i) == rows * bytes.size());
    out.write(std::string(b.tensor_padding(i), '\0').data(), static_cast<std::streamsize>(b.tensor_padding(i)));
  }
  out.close();
  REQUIRE(std::filesystem::file_size(path) == b.file_size());
}

}  // namespace

TEST_CASE("ggml's own reader accepts what the GGUF builder writes", "[formats]") {
  REQUIRE(GgmlReference::instance().error() == "");
  GgufApi api = GgufApi::load();
  REQUIRE(GgmlReference::instance().error() == "");

  const std::uint32_t alignment = GENERATE(0u, 64u);  // 0: leave the default
  GgufBuilder b;
  REQUIRE(b.add_string("general.architecture", "llama").is_ok());
  if (alignment) REQUIRE(b.add_u32("general.alignment", alignment).is_ok());
  REQUIRE(b.add_u32("llama.context_length", 256).is_ok());
  REQUIRE(b.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f).is_ok());
  REQUIRE(b.add_bool("tokenizer.ggml.add_bos_token", true).is_ok());
  REQUIRE(b.add_u8("test.u8", 1).is_ok());
  REQUIRE(b.add_i8("test.i8", -1).is_ok());
  REQUIRE(b.add_u16("test.u16", 2).is_ok());
  REQUIRE(b.add_i16("test.i16", -2).is_ok());
  REQUIRE(b.add_i32("test.i32", -3).is_ok());
  REQUIRE(b.add_u64("test.u64", 4).is_ok());
  REQUIRE(b.add_i64("test.i64", -4).is_ok());
  REQUIRE(b.add_f64("test.f64", 0.5).is_ok());
  const std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "\xe2\x96\x81the", ""};
  REQUIRE(b.add_string_array("tokenizer.ggml.tokens", tokens).is_ok());
  const std::vector<float> scores = {0, -1, -2, -3, -4};
  REQUIRE(b.add_f32_array("tokenizer.ggml.scores", scores).is_ok());
  const std::vector<std::int32_t> token_types = {2, 3, 3, 1, 1};
  REQUIRE(b.add_i32_array("tokenizer.ggml.token_type", token_types).is_ok());
  const std::vector<std::uint32_t> u32s = {7, 8};
  REQUIRE(b.add_u32_array("test.u32_array", u32s).is_ok());

  const std::vector<std::vector<std::uint64_t>> dims = {{64}, {64, 3}, {256, 2}, {32, 5, 2}, {96, 1, 1, 2}, {256}};
  const std::vector<QuantType> types = {QuantType::kF32,  QuantType::kQ8_0, QuantType::kQ4_K,
                                        QuantType::kF16,  QuantType::kQ5_1, QuantType::kQ6_K};
  const char* names[] = {"output_norm.weight", "token_embd.weight", "blk.0.attn_q.weight",
                         "blk.0.ffn_up.weight", "blk.0.x.weight", "blk.1.y.weight"};
  for (std::size_t i = 0; i < dims.size(); ++i) REQUIRE(b.add_tensor(names[i], dims[i], types[i]).is_ok());

  TempFile file;
  write_file(b, dims, types, file.path);

  ggml_context* ctx = nullptr;
  gguf_context* g = api.init_from_file(file.path.c_str(), GgufInitParams{true, &ctx});
  REQUIRE(g != nullptr);
  CHECK(api.alignment(g) == b.alignment());
  CHECK(api.data_offset(g) == b.header_size());
  CHECK(api.n_kv(g) == (alignment ? 17 : 16));
  CHECK(api.val_u32(g, api.find_key(g, "llama.context_length")) == 256u);
  CHECK(api.kv_type(g, api.find_key(g, "llama.context_length")) == static_cast<int>(GgufValueType::kU32));
  CHECK(api.val_f32(g, api.find_key(g, "llama.attention.layer_norm_rms_epsilon")) == 1e-5f);
  CHECK(std::string(api.val_str(g, api.find_key(g, "general.architecture"))) == "llama");
  const std::int64_t tok = api.find_key(g, "tokenizer.ggml.tokens");
  REQUIRE(api.arr_n(g, tok) == tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) CHECK(api.arr_str(g, tok, i) == tokens[i]);
  REQUIRE(api.n_tensors(g) == static_cast<std::int64_t>(dims.size()));
  for (std::size_t i = 0; i < dims.size(); ++i) {
    INFO(names[i]);
    CHECK(std::string(api.tensor_name(g, static_cast<std::int64_t>(i))) == names[i]);
    CHECK(api.tensor_offset(g, static_cast<std::int64_t>(i)) == b.tensor_offset(i));
    CHECK(api.tensor_type(g, static_cast<std::int64_t>(i)) == static_cast<int>(ggml_type_id(types[i])));
    CHECK(b.tensor_offset(i) % b.alignment() == 0);
  }
  api.free(g);
  if (ctx) api.ggml_free(ctx);
}

TEST_CASE("the GGUF builder refuses what ggml would reject", "[formats]") {
  GgufBuilder b;
  const std::vector<std::uint64_t> ok_dims = {64, 2};
  CHECK(b.add_u32("general.alignment", 48).code() == Code::kInvalidArgument);
  CHECK(b.add_u32("general.alignment", 0).code() == Code::kInvalidArgument);
  CHECK(b.add_u32("a.key", 1).is_ok());
  CHECK(b.add_string("a.key", "again").code() == Code::kInvalidArgument);
  CHECK(b.add_u32("", 1).code() == Code::kInvalidArgument);

  CHECK(b.add_tensor(std::string(64, 'x'), ok_dims, QuantType::kF32).code() == Code::kInvalidArgument);
  CHECK(b.add_tensor(std::string(63, 'x'), ok_dims, QuantType::kF32).is_ok());
  CHECK(b.add_tensor(std::string(63, 'x'), ok_dims, QuantType::kF32).code() == Code::kInvalidArgument);
  const std::vector<std::uint64_t> hidden_896 = {896, 4};
  const Status ragged = b.add_tensor("q4k", hidden_896, QuantType::kQ4_K);
  CHECK(ragged.code() == Code::kInvalidArgument);
  CHECK(ragged.message().find("multiple of 256") != std::string::npos);
  CHECK(b.add_tensor("q8", hidden_896, QuantType::kQ8_0).is_ok());
  const std::vector<std::uint64_t> five = {32, 1, 1, 1, 1};
  const std::vector<std::uint64_t> zero = {32, 0};
  const std::vector<std::uint64_t> none;
  CHECK(b.add_tensor("five", five, QuantType::kF32).code() == Code::kInvalidArgument);
  CHECK(b.add_tensor("zero", zero, QuantType::kF32).code() == Code::kInvalidArgument);
  CHECK(b.add_tensor("none", none, QuantType::kF32).code() == Code::kInvalidArgument);
  const std::vector<std::uint64_t> huge = {1ull << 32, 1ull << 32};
  CHECK(b.add_tensor("huge", huge, QuantType::kF32).code() == Code::kInvalidArgument);
  // Alignment fixes offsets, so it cannot change once a tensor is placed.
  CHECK(b.add_u32("general.alignment", 64).code() == Code::kInvalidArgument);
  CHECK(b.tensor_count() == 2);
  CHECK(b.tensor_offset(1) == 64 * 2 * 4);  // 512 bytes, already aligned to 32
  CHECK(b.tensor_bytes(1) == 896 / 32 * 34 * 4);
  CHECK(b.tensor_padding(1) == (32 - (896 / 32 * 34 * 4) % 32) % 32);
}
