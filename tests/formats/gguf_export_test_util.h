// Test helpers for the GGUF exporter: a model folder held in memory, and a builder for small
// llama/qwen2 models (config.json, a byte-level BPE tokenizer.json, one safetensors file).
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/model_source.h"
#include "formats/quantize.h"

namespace grove::testing {

class MemorySource final : public formats::ModelSource {
 public:
  std::map<std::string, std::string> files;

  Result<std::vector<formats::SourceFile>> list_files() override {
    std::vector<formats::SourceFile> out;
    for (const auto& [path, data] : files) out.push_back({path, data.size()});
    return out;
  }
  Status read(const std::string& path, std::uint64_t offset, std::span<std::uint8_t> out) override {
    auto it = files.find(path);
    if (it == files.end()) return not_found(path);
    if (offset + out.size() > it->second.size()) return corrupt("short read of " + path);
    std::memcpy(out.data(), it->second.data() + offset, out.size());
    return Status::ok();
  }
};

struct TestTensor {
  std::string dtype = "BF16";  // BF16, F32, F8_E4M3
  std::vector<std::uint64_t> shape;
  std::string bytes;
};

inline std::string safetensors_file(const std::map<std::string, TestTensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, t] : tensors) {
    header[name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  std::string h = header.dump();
  while (h.size() % 8) h += ' ';
  std::string out(8, '\0');
  std::uint64_t n = h.size();
  std::memcpy(out.data(), &n, 8);
  return out + h + data;
}

inline std::string bf16_bytes(const std::vector<float>& values) {
  std::string out;
  for (float v : values) {
    std::uint16_t b = formats::fp32_to_bf16(v);
    out.append(reinterpret_cast<const char*>(&b), 2);
  }
  return out;
}

inline std::string f32_bytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4);
}

struct TinyModel {
  std::string arch = "llama";  // or "qwen2"
  std::uint64_t hidden = 64, heads = 4, kv_heads = 2, ffn = 96, layers = 2, vocab = 300;
  std::uint64_t head_dim() const { return hidden / heads; }

  nlohmann::json config() const {
    return {{"architectures", {arch == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
            {"model_type", arch},
            {"hidden_size", hidden},
            {"intermediate_size", ffn},
            {"num_hidden_layers", layers},
            {"num_attention_heads", heads},
            {"num_key_value_heads", kv_heads},
            {"max_position_embeddings", 512},
            {"rms_norm_eps", 1e-6},
            {"rope_theta", 10000.0},
            {"vocab_size", vocab},
            {"bos_token_id", 256},
            {"eos_token_id", 257},
            {"tie_word_embeddings", false}};
  }

  // A byte-level BPE: the 256 GPT-2 byte symbols, two merges, two special tokens.
  static nlohmann::json tokenizer() {
    nlohmann::json vocab = nlohmann::json::object();
    int id = 0;
    auto byte_symbol = [](int b) {
      // GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, others to U+0100+n.
      static std::vector<int> table = [] {
        std::vector<int> t(256, -1);
        int n = 0;
        for (int c = 0; c < 256; ++c) {
          bool keep = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE);
          t[c] = keep ? c : 256 + n++;
        }
        return t;
      }();
      int cp = table[b];
      std::string s;
      if (cp < 0x80) s += static_cast<char>(cp);
      else {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
      }
      return s;
    };
    for (int b = 0; b < 256; ++b) vocab[byte_symbol(b)] = id++;
    nlohmann::json added = nlohmann::json::array();
    added.push_back({{"id", 256}, {"content", "<|endoftext|>"}, {"special", true}});
    added.push_back({{"id", 257}, {"content", "<|im_end|>"}, {"special", true}});
    vocab["<|endoftext|>"] = 256;
    vocab["<|im_end|>"] = 257;
    vocab["he"] = 258;
    vocab["\xc4\xa0t"] = 259;  // "Ġt"
    return {{"version", "1.0"},
            {"added_tokens", added},
            {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"h e", "\xc4\xa0 t"}}}}};
  }

  static nlohmann::json tokenizer_config() {
    return {{"bos_token", "<|endoftext|>"},
            {"eos_token", "<|im_end|>"},
            {"add_bos_token", false},
            {"chat_template", "{{ messages }}"}};
  }

  // Deterministic values; `row_marker` makes element (r, c) of 2-D tensors equal r + c/1000
  // rounded to BF16, so a test can tell rows apart.
  std::map<std::string, TestTensor> tensors() const {
    std::map<std::string, TestTensor> t;
    std::uint32_t seed = 12345;
    auto next = [&] {
      seed = seed * 1664525u + 1013904223u;
      return (static_cast<float>(seed >> 8) / 16777216.0f - 0.5f) * 0.2f;
    };
    auto mat = [&](std::uint64_t r, std::uint64_t c) {
      std::vector<float> v(r * c);
      for (float& x : v) x = next();
      return TestTensor{"BF16", {r, c}, bf16_bytes(v)};
    };
    auto vec = [&](std::uint64_t n, float base) {
      std::vector<float> v(n);
      for (float& x : v) x = base + next();
      return TestTensor{"BF16", {n}, bf16_bytes(v)};
    };
    const std::uint64_t q = heads * head_dim(), kv = kv_heads * head_dim();
    t["model.embed_tokens.weight"] = mat(vocab, hidden);
    t["lm_head.weight"] = mat(vocab, hidden);
    t["model.norm.weight"] = vec(hidden, 1.0f);
    for (std::uint64_t i = 0; i < layers; ++i) {
      std::string p = "model.layers." + std::to_string(i) + ".";
      t[p + "input_layernorm.weight"] = vec(hidden, 1.0f);
      t[p + "post_attention_layernorm.weight"] = vec(hidden, 1.0f);
      t[p + "self_attn.q_proj.weight"] = mat(q, hidden);
      t[p + "self_attn.k_proj.weight"] = mat(kv, hidden);
      t[p + "self_attn.v_proj.weight"] = mat(kv, hidden);
      t[p + "self_attn.o_proj.weight"] = mat(hidden, q);
      t[p + "mlp.gate_proj.weight"] = mat(ffn, hidden);
      t[p + "mlp.up_proj.weight"] = mat(ffn, hidden);
      t[p + "mlp.down_proj.weight"] = mat(hidden, ffn);
      if (arch == "qwen2") {
        t[p + "self_attn.q_proj.bias"] = vec(q, 0.0f);
        t[p + "self_attn.k_proj.bias"] = vec(kv, 0.0f);
        t[p + "self_attn.v_proj.bias"] = vec(kv, 0.0f);
      }
    }
    return t;
  }

  void fill(MemorySource& source, const std::map<std::string, TestTensor>& weights) const {
    source.files["config.json"] = config().dump();
    source.files["tokenizer.json"] = tokenizer().dump();
    source.files["tokenizer_config.json"] = tokenizer_config().dump();
    source.files["model.safetensors"] = safetensors_file(weights);
  }
};

}  // namespace grove::testing
