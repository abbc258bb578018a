#include "formats/gguf_export.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "tests/formats/ggml_reference.h"
#include "tests/formats/gguf_export_test_util.h"

using namespace grove;
using namespace grove::formats;
using grove::testing::MemorySource;
using grove::testing::TestTensor;
using grove::testing::TinyModel;

namespace {

// The whole export in memory (test models are small).
std::string read_all(GgufExport& e) {
  std::string out;
  ChunkBuffer piece;
  for (;;) {
    REQUIRE(e.next(piece).is_ok());
    if (piece.empty()) break;
    out.append(reinterpret_cast<const char*>(piece.data()), piece.size());
  }
  CHECK(e.position() == out.size());
  return out;
}

const PlannedTensor& find_tensor(const GgufExport& e, const std::string& name) {
  for (const PlannedTensor& t : e.tensors())
    if (t.name == name) return t;
  FAIL("no tensor " << name);
  static PlannedTensor none;
  return none;
}

std::vector<float> f32_of(const std::string& file, const PlannedTensor& t) {
  REQUIRE(t.type == QuantType::kF32);
  std::vector<float> v(t.bytes / 4);
  std::memcpy(v.data(), file.data() + t.offset, t.bytes);
  return v;
}

std::vector<float> bf16_values(const TestTensor& t) {
  std::vector<float> v(t.bytes.size() / 2);
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::uint16_t b;
    std::memcpy(&b, t.bytes.data() + 2 * i, 2);
    v[i] = bf16_to_fp32(b);
  }
  return v;
}

Result<std::unique_ptr<GgufExport>> plan(MemorySource& s, const std::string& quant, unsigned threads = 2) {
  ExportOptions o;
  o.quant = quant;
  o.threads = threads;
  o.chunk_elements = 1000;  // many chunks even for tiny tensors
  return GgufExport::plan(s, o);
}

QuantType pick(const char* type, const char* name, std::uint64_t ne0, int layer, int n_layers = 32, bool has_output = true,
               std::size_t dims = 2) {
  auto t = parse_export_type(type);
  REQUIRE(t);
  return choose_tensor_type(*t, {name, ne0, dims, layer, n_layers, has_output});
}

}  // namespace

TEST_CASE("export types: per-tensor choice follows llama-quantize's table", "[formats]") {
  using Q = QuantType;
  // Spec §5.3, 32 layers: use_more_bits = i < 4 || i >= 28 || (i - 4) % 3 == 2.
  struct Row {
    const char* type;
    const char* name;
    std::uint64_t ne0;
    int layer;
    Q want;
  } rows[] = {
      {"Q4_K_M", "blk.0.attn_v.weight", 4096, 0, Q::kQ6_K},
      {"Q4_K_M", "blk.4.attn_v.weight", 4096, 4, Q::kQ4_K},
      {"Q4_K_M", "blk.6.attn_v.weight", 4096, 6, Q::kQ6_K},
      {"Q4_K_M", "blk.7.attn_v.weight", 4096, 7, Q::kQ4_K},
      {"Q4_K_M", "blk.28.attn_v.weight", 4096, 28, Q::kQ6_K},
      {"Q4_K_M", "blk.3.ffn_down.weight", 11008, 3, Q::kQ6_K},
      {"Q4_K_M", "blk.5.ffn_down.weight", 11008, 5, Q::kQ4_K},
      {"Q4_K_M", "blk.9.ffn_down.weight", 11008, 9, Q::kQ6_K},
      {"Q4_K_M", "blk.9.attn_q.weight", 4096, 9, Q::kQ4_K},
      {"Q4_K_M", "blk.9.ffn_up.weight", 4096, 9, Q::kQ4_K},
      {"Q4_K_M", "blk.9.attn_output.weight", 4096, 9, Q::kQ4_K},
      {"Q4_K_M", "output.weight", 4096, -1, Q::kQ6_K},
      {"Q4_K_M", "token_embd.weight", 4096, -1, Q::kQ4_K},
      // Rows that are not a multiple of 256 (Qwen2.5-0.5B: 896) fall back.
      {"Q4_K_M", "blk.9.attn_q.weight", 896, 9, Q::kQ5_0},
      {"Q4_K_M", "blk.0.attn_v.weight", 896, 0, Q::kQ8_0},
      {"Q4_K_M", "output.weight", 896, -1, Q::kQ8_0},
      {"Q5_K_M", "blk.9.attn_q.weight", 896, 9, Q::kQ5_1},
      {"Q5_K_M", "blk.9.attn_q.weight", 4096, 9, Q::kQ5_K},
      {"Q5_K_M", "blk.0.attn_v.weight", 4096, 0, Q::kQ6_K},
      {"Q5_K_M", "blk.27.ffn_down.weight", 4096, 27, Q::kQ6_K},
      {"Q5_K_M", "blk.26.ffn_down.weight", 4096, 26, Q::kQ5_K},
      {"Q4_K_S", "blk.3.attn_v.weight", 4096, 3, Q::kQ5_K},
      {"Q4_K_S", "blk.4.attn_v.weight", 4096, 4, Q::kQ4_K},
      {"Q4_K_S", "blk.3.ffn_down.weight", 4096, 3, Q::kQ5_K},
      {"Q4_K_S", "blk.4.ffn_down.weight", 4096, 4, Q::kQ4_K},
      // Legacy and 8-bit types: only output.weight changes.
      {"Q4_0", "output.weight", 4096, -1, Q::kQ6_K},
      {"Q4_0", "output.weight", 896, -1, Q::kQ8_0},
      {"Q4_0", "blk.0.attn_v.weight", 4096, 0, Q::kQ4_0},
      {"Q8_0", "output.weight", 4096, -1, Q::kQ8_0},
      {"Q8_0", "token_embd.weight", 4096, -1, Q::kQ8_0},
      {"Q5_1", "blk.0.ffn_down.weight", 4096, 0, Q::kQ5_1},
      {"Q6_K", "blk.0.attn_q.weight", 4096, 0, Q::kQ6_K},
      {"Q6_K", "blk.0.attn_q.weight", 896, 0, Q::kQ8_0},
      // A row that no 32-block divides: F16.
      {"Q4_0", "blk.0.attn_q.weight", 48, 0, Q::kF16},
      {"Q4_K_M", "blk.0.attn_q.weight", 48, 0, Q::kF16},
      // Float types keep every 2-D tensor in that type.
      {"F16", "output.weight", 4096, -1, Q::kF16},
      {"BF16", "blk.0.attn_v.weight", 4096, 0, Q::kBF16},
      {"F32", "token_embd.weight", 4096, -1, Q::kF32},
  };
  for (const Row& r : rows) {
    INFO(r.type << " " << r.name << " ne0=" << r.ne0);
    CHECK(pick(r.type, r.name, r.ne0, r.layer) == r.want);
  }
  // Tied embeddings: token_embd takes output.weight's rule.
  CHECK(pick("Q4_K_M", "token_embd.weight", 4096, -1, 32, false) == Q::kQ6_K);
  CHECK(pick("Q4_0", "token_embd.weight", 896, -1, 32, false) == Q::kQ8_0);
  // 1-D tensors and norms stay F32 whatever the type.
  CHECK(pick("Q4_K_M", "blk.0.attn_norm.weight", 4096, 0, 32, true, 1) == Q::kF32);
  CHECK(pick("F16", "blk.0.attn_q.bias", 4096, 0, 32, true, 1) == Q::kF32);
  CHECK(pick("Q8_0", "output_norm.weight", 4096, -1, 32, true, 1) == Q::kF32);
  // Six layers (the generated tiny models): more bits on layers 2 and 5 only.
  for (int i = 0; i < 6; ++i) {
    std::string name = "blk." + std::to_string(i) + ".attn_v.weight";
    CHECK(pick("Q4_K_M", name.c_str(), 4096, i, 6) == ((i == 2 || i == 5) ? Q::kQ6_K : Q::kQ4_K));
  }
  CHECK_FALSE(parse_export_type("Q4_K_X"));
  CHECK_FALSE(parse_export_type("q8_0"));
  CHECK(parse_export_type("Q8_0")->file_type == 7);
  CHECK(parse_export_type("Q4_K_M")->file_type == 15);
  CHECK(parse_export_type("BF16")->file_type == 32);
}

TEST_CASE("FP8 E4M3 decodes to hand-computed values", "[formats]") {
  CHECK(fp8_e4m3_to_fp32(0x00) == 0.0f);
  CHECK(std::signbit(fp8_e4m3_to_fp32(0x80)));
  CHECK(fp8_e4m3_to_fp32(0x38) == 1.0f);      // 0 0111 000: 2^0
  CHECK(fp8_e4m3_to_fp32(0xB8) == -1.0f);
  CHECK(fp8_e4m3_to_fp32(0x3C) == 1.5f);      // 0 0111 100
  CHECK(fp8_e4m3_to_fp32(0x40) == 2.0f);      // 0 1000 000
  CHECK(fp8_e4m3_to_fp32(0x7E) == 448.0f);    // 0 1111 110: largest finite, 1.75 · 2^8
  CHECK(fp8_e4m3_to_fp32(0xFE) == -448.0f);
  CHECK(std::isnan(fp8_e4m3_to_fp32(0x7F)));  // S.1111.111 is NaN; there is no infinity
  CHECK(fp8_e4m3_to_fp32(0x08) == 0.015625f);       // smallest normal 2^-6
  CHECK(fp8_e4m3_to_fp32(0x01) == 0.001953125f);    // smallest subnormal 2^-9
  CHECK(fp8_e4m3_to_fp32(0x07) == 0.013671875f);    // 7 · 2^-9
}

TEST_CASE("export: FP8 weights are multiplied by their 128x128 block scales", "[formats]") {
  TinyModel m;
  m.hidden = 256;
  m.heads = 4;
  m.kv_heads = 2;
  m.ffn = 320;
  m.layers = 1;
  auto weights = m.tensors();
  // down_proj [256, 320] in FP8: every byte 1.0 except two; scales [2, 3] = 1..6.
  std::string fp8(256 * 320, '\x38');
  fp8[130 * 320 + 10] = '\x40';   // 2.0 in block (1, 0)
  fp8[5 * 320 + 300] = '\xBC';    // -1.5 in block (0, 2)
  weights["model.layers.0.mlp.down_proj.weight"] = {"F8_E4M3", {256, 320}, fp8};
  weights["model.layers.0.mlp.down_proj.weight_scale_inv"] = {"F32", {2, 3}, testing::f32_bytes({1, 2, 3, 4, 5, 6})};
  MemorySource source;
  m.fill(source, weights);
  auto e = plan(source, "F32");
  REQUIRE(e.is_ok());
  std::string file = read_all(**e);
  REQUIRE(file.size() == (*e)->size());
  std::vector<float> v = f32_of(file, find_tensor(**e, "blk.0.ffn_down.weight"));
  REQUIRE(v.size() == 256 * 320);
  CHECK(v[0] == 1.0f);                 // block (0, 0), scale 1
  CHECK(v[0 * 320 + 200] == 2.0f);     // block (0, 1)
  CHECK(v[5 * 320 + 300] == -4.5f);    // -1.5 · 3
  CHECK(v[127 * 320 + 255] == 2.0f);   // last row and column of block (0, 1)
  CHECK(v[128 * 320 + 0] == 4.0f);     // block (1, 0)
  CHECK(v[130 * 320 + 10] == 8.0f);    // 2.0 · 4
  CHECK(v[255 * 320 + 319] == 6.0f);   // block (1, 2), a partial block
  // A missing scale tensor is named.
  weights.erase("model.layers.0.mlp.down_proj.weight_scale_inv");
  m.fill(source, weights);
  auto bad = plan(source, "F32");
  REQUIRE_FALSE(bad.is_ok());
  CHECK(bad.status().message().find("down_proj.weight_scale_inv") != std::string::npos);
}

TEST_CASE("export: llama Q/K rows are regrouped per head, qwen2 rows are not", "[formats]") {
  for (std::string arch : {"llama", "qwen2"}) {
    INFO(arch);
    TinyModel m;
    m.arch = arch;
    auto weights = m.tensors();
    MemorySource source;
    m.fill(source, weights);
    auto e = plan(source, "F32");
    REQUIRE(e.is_ok());
    std::string file = read_all(**e);
    const std::uint64_t hd = m.head_dim(), cols = m.hidden;
    for (const char* proj : {"q", "k"}) {
      std::vector<float> src = bf16_values(weights[std::string("model.layers.1.self_attn.") + proj + "_proj.weight"]);
      std::vector<float> out = f32_of(file, find_tensor(**e, std::string("blk.1.attn_") + proj + ".weight"));
      REQUIRE(out.size() == src.size());
      const std::uint64_t rows = src.size() / cols;
      std::size_t mismatches = 0;
      for (std::uint64_t r = 0; r < rows; ++r) {
        // Spec §5.2: output row h·hd + 2i + half is input row h·hd + half·hd/2 + i.
        const std::uint64_t h = r / hd, i = (r % hd) / 2, half = r % 2;
        const std::uint64_t from = arch == "llama" ? h * hd + half * (hd / 2) + i : r;
        if (std::memcmp(&out[r * cols], &src[from * cols], cols * 4) != 0) ++mismatches;
      }
      CHECK(mismatches == 0);
    }
    if (arch == "qwen2") {
      std::vector<float> src = bf16_values(weights["model.layers.0.self_attn.k_proj.bias"]);
      CHECK(f32_of(file, find_tensor(**e, "blk.0.attn_k.bias")) == src);
    }
  }
}

TEST_CASE("export: Q8_0 and Q4_K_M tensor bytes equal llama.cpp's quantizers on the same rows", "[formats]") {
  auto& ggml = testing::GgmlReference::instance();
  REQUIRE(ggml.error().empty());
  TinyModel m;
  m.hidden = 256;
  m.ffn = 512;
  m.heads = 4;
  m.kv_heads = 2;
  m.layers = 8;
  auto weights = m.tensors();
  MemorySource source;
  m.fill(source, weights);
  for (const char* quant : {"Q8_0", "Q4_K_M"}) {
    INFO(quant);
    auto e = plan(source, quant, 2);
    REQUIRE(e.is_ok());
    std::string file = read_all(**e);
    // The same bytes from small chunks (tensors in many pieces) on one thread.
    {
      ExportOptions o;
      o.quant = quant;
      o.threads = 1;
      o.chunk_elements = 3000;
      auto again = GgufExport::plan(source, o);
      REQUIRE(again.is_ok());
      CHECK(read_all(**again) == file);
    }
    for (const char* name : {"model.layers.0.mlp.down_proj.weight", "model.layers.3.self_attn.v_proj.weight",
                             "model.layers.1.self_attn.v_proj.weight", "lm_head.weight"}) {
      INFO(name);
      const PlannedTensor* t = nullptr;
      for (const auto& p : (*e)->tensors())
        if (p.source_name == name) t = &p;
      REQUIRE(t);
      std::vector<float> src = bf16_values(weights[name]);
      std::string want(t->bytes, '\0');
      auto fn = ggml.row(t->type);
      REQUIRE(fn);
      fn(src.data(), want.data(), static_cast<std::int64_t>(src.size()));
      CHECK(file.compare(t->offset, t->bytes, want) == 0);
    }
    if (std::string(quant) == "Q4_K_M") {
      CHECK(find_tensor(**e, "output.weight").type == QuantType::kQ6_K);
      CHECK(find_tensor(**e, "blk.0.attn_v.weight").type == QuantType::kQ6_K);  // 0 < 8/8
      CHECK(find_tensor(**e, "blk.1.attn_v.weight").type == QuantType::kQ4_K);
      CHECK(find_tensor(**e, "blk.3.attn_v.weight").type == QuantType::kQ6_K);  // (3 - 1) % 3 == 2
      CHECK(find_tensor(**e, "blk.7.attn_v.weight").type == QuantType::kQ6_K);  // 7 >= 7
      CHECK(find_tensor(**e, "blk.0.ffn_down.weight").type == QuantType::kQ6_K);
      CHECK(find_tensor(**e, "blk.2.ffn_down.weight").type == QuantType::kQ4_K);
      CHECK(find_tensor(**e, "blk.0.attn_norm.weight").type == QuantType::kF32);
    }
  }
}

TEST_CASE("export: bad input is refused with a message before any byte", "[formats]") {
  TinyModel m;
  auto weights = m.tensors();
  auto expect_error = [&](MemorySource& s, const std::string& quant, const std::string& part) {
    auto e = plan(s, quant);
    REQUIRE_FALSE(e.is_ok());
    CHECK(e.status().code() == Code::kInvalidArgument);
    INFO(e.status().message());
    CHECK(e.status().message().find(part) != std::string::npos);
  };
  SECTION("unknown quantization") {
    MemorySource s;
    m.fill(s, weights);
    expect_error(s, "Q3_X", "unknown quantization 'Q3_X': use one of F32, F16");
  }
  SECTION("unsupported architecture") {
    MemorySource s;
    m.fill(s, weights);
    auto config = m.config();
    config["architectures"] = {"GPT2LMHeadModel"};
    s.files["config.json"] = config.dump();
    expect_error(s, "Q8_0", "unsupported architecture 'GPT2LMHeadModel'");
  }
  SECTION("missing config") {
    MemorySource s;
    m.fill(s, weights);
    s.files.erase("config.json");
    expect_error(s, "Q8_0", "no config.json");
  }
  SECTION("missing tokenizer") {
    MemorySource s;
    m.fill(s, weights);
    s.files.erase("tokenizer.json");
    expect_error(s, "Q8_0", "missing tokenizer");
  }
  SECTION("tensor missing from the shards") {
    auto w = weights;
    w.erase("model.layers.1.mlp.down_proj.weight");
    MemorySource s;
    m.fill(s, w);
    expect_error(s, "Q8_0", "tensor model.layers.1.mlp.down_proj.weight is missing from the safetensors files");
  }
  SECTION("shape not matching config.json") {
    auto w = weights;
    w["model.layers.0.self_attn.k_proj.weight"].shape = {64, 32};  // same bytes, other shape
    MemorySource s;
    m.fill(s, w);
    expect_error(s, "Q8_0", "tensor model.layers.0.self_attn.k_proj.weight has shape [64, 32] but config.json implies [32, 64]");
  }
  SECTION("a layer config.json does not know") {
    auto w = weights;
    w["model.layers.2.mlp.up_proj.weight"] = w["model.layers.1.mlp.up_proj.weight"];
    MemorySource s;
    m.fill(s, w);
    expect_error(s, "Q8_0", "unexpected tensor model.layers.2.mlp.up_proj.weight");
  }
  SECTION("unsupported dtype") {
    auto w = weights;
    w["model.norm.weight"] = {"I64", {64}, std::string(64 * 8, '\0')};
    MemorySource s;
    m.fill(s, w);
    expect_error(s, "F16", "tensor model.norm.weight has dtype I64");
  }
  SECTION("tokenizer larger than vocab_size") {
    MemorySource s;
    m.fill(s, weights);
    auto config = m.config();
    config["vocab_size"] = 200;
    s.files["config.json"] = config.dump();
    expect_error(s, "Q8_0", "beyond config.json's vocab_size 200");
  }
}

namespace {

std::string synth_model(const std::string& arch) {
  static std::map<std::string, std::string> made;
  if (made.count(arch)) return made[arch];
  std::string dir = (std::filesystem::temp_directory_path() / ("grove-export-test-" + std::to_string(::getpid()) + "-" + arch)).string();
  std::string cmd = std::string(GROVE_SYNTH_BIN) + " family --out " + dir + " --size tiny --arch " + arch + " > /dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  return made[arch] = dir + "/base";
}

}  // namespace

TEST_CASE("export: generated llama and qwen2 models map config and tokenizer", "[formats]") {
  for (std::string arch : {"llama", "qwen2"}) {
    INFO(arch);
    DirectorySource source(synth_model(arch));
    ExportOptions options;
    options.quant = "Q4_K_M";
    options.threads = 2;
    auto e = GgufExport::plan(source, options);
    REQUIRE(e.is_ok());
    const ModelConfig& c = (*e)->config();
    CHECK(c.gguf_arch() == arch);
    CHECK(c.hidden_size == 128);
    CHECK(c.intermediate_size == 352);
    CHECK(c.num_layers == 6);
    CHECK(c.num_heads == 4);
    CHECK(c.num_kv_heads == 2);
    CHECK(c.head_dim == 32);
    CHECK(c.vocab_size == 1024);
    CHECK(c.context_length == 4096);
    CHECK(c.rope_theta == (arch == "llama" ? 500000.0f : 1000000.0f));
    CHECK(c.rms_norm_eps == (arch == "llama" ? 1e-5f : 1e-6f));

    const GgufVocab& v = (*e)->vocab();
    CHECK(v.model == "gpt2");
    CHECK(v.pre == "gpt-2");  // a ByteLevel pre-tokenizer with GPT-2's own regex
    REQUIRE(v.tokens.size() == 1024);
    CHECK(v.tokens[1021] == "<|endoftext|>");
    CHECK(v.tokens[1023] == "<|im_end|>");
    CHECK(v.token_types[1021] == kTokenControl);
    CHECK(v.token_types[0] == kTokenNormal);
    CHECK(v.merges.size() == 765);
    CHECK(v.merges[0] == "\xc4\xa0 t");
    CHECK(v.bos_id == 1021u);
    CHECK(v.eos_id == 1023u);
    CHECK(v.pad_id == 1021u);
    CHECK_FALSE(v.unk_id);
    CHECK(v.add_bos == false);
    REQUIRE(v.chat_template);
    CHECK(v.chat_template->find("<|im_start|>") != std::string::npos);
    CHECK(v.scores.empty());

    // llama-quantize's tensor order and the Q4_K_M choices for 128-wide rows (all fall back).
    const auto& t = (*e)->tensors();
    REQUIRE(t.size() == (arch == "llama" ? 3u + 9 * 6 : 3u + 12 * 6));
    CHECK(t[0].name == "output.weight");
    CHECK(t[1].name == "output_norm.weight");
    CHECK(t[2].name == "token_embd.weight");
    CHECK(t[3].name.starts_with("blk.0."));
    CHECK(t[0].type == QuantType::kQ8_0);                                      // Q6_K, 128 % 256 != 0
    CHECK(t[2].type == QuantType::kQ5_0);                                      // Q4_K falls back
    CHECK(find_tensor(**e, "blk.2.attn_v.weight").type == QuantType::kQ8_0);   // Q6_K falls back
    CHECK(find_tensor(**e, "blk.1.attn_v.weight").type == QuantType::kQ5_0);
    CHECK(find_tensor(**e, "blk.5.ffn_down.weight").type == QuantType::kQ8_0);
    CHECK(find_tensor(**e, "blk.0.ffn_down.weight").dims == std::vector<std::uint64_t>{352, 128});
    if (arch == "qwen2") CHECK(find_tensor(**e, "blk.0.attn_q.bias").type == QuantType::kF32);

    // The stream is exactly as long as planned, and the last tensor ends at the file's end.
    std::string file = read_all(**e);
    CHECK(file.size() == (*e)->size());
    CHECK(file.compare(0, 4, "GGUF") == 0);
    const PlannedTensor& last = t.back();
    CHECK((last.offset + last.bytes + 31) / 32 * 32 == file.size());
  }
}

TEST_CASE("export: ggml's reader accepts the exported file", "[formats]") {
  auto& ggml = testing::GgmlReference::instance();
  struct Params {
    bool no_alloc;
    void** ctx;
  };
  using Init = void* (*)(const char*, Params);
  auto init = ggml.function<Init>("gguf_init_from_file");
  auto n_tensors = ggml.function<std::int64_t (*)(const void*)>("gguf_get_n_tensors");
  auto find_key = ggml.function<std::int64_t (*)(const void*, const char*)>("gguf_find_key");
  auto get_u32 = ggml.function<std::uint32_t (*)(const void*, std::int64_t)>("gguf_get_val_u32");
  auto get_str = ggml.function<const char* (*)(const void*, std::int64_t)>("gguf_get_val_str");
  auto free_ctx = ggml.function<void (*)(void*)>("gguf_free");
  REQUIRE(ggml.error().empty());
  for (std::string arch : {"llama", "qwen2"}) {
    for (std::string quant : {"F16", "Q4_0"}) {
      INFO(arch << " " << quant);
      DirectorySource source(synth_model(arch));
      ExportOptions options;
      options.quant = quant;
      auto e = GgufExport::plan(source, options);
      REQUIRE(e.is_ok());
      std::string path = (std::filesystem::temp_directory_path() / ("grove-export-" + std::to_string(::getpid()) + ".gguf")).string();
      {
        std::ofstream out(path, std::ios::binary);
        out << read_all(**e);
      }
      void* ctx = init(path.c_str(), {true, nullptr});
      REQUIRE(ctx);
      CHECK(n_tensors(ctx) == static_cast<std::int64_t>((*e)->tensors().size()));
      CHECK(std::string(get_str(ctx, find_key(ctx, "general.architecture"))) == arch);
      CHECK(get_u32(ctx, find_key(ctx, (arch + ".block_count").c_str())) == 6);
      CHECK(get_u32(ctx, find_key(ctx, "general.file_type")) == parse_export_type(quant)->file_type);
      CHECK(std::string(get_str(ctx, find_key(ctx, "tokenizer.ggml.pre"))) == "gpt-2");
      free_ctx(ctx);
      std::filesystem::remove(path);
    }
  }
}
