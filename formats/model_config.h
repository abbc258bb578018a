// config.json of a Hugging Face causal LM, read into the hyperparameters a GGUF export needs
// (../shared/specs/gguf.md §6.1). Only the architectures grove exports are accepted: llama
// (LlamaForCausalLM, and MistralForCausalLM, which llama.cpp runs as llama) and qwen2
// (Qwen2ForCausalLM). Anything else is kInvalidArgument naming the architecture.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace grove::formats {

enum class ModelArch { kLlama, kQwen2 };

struct RopeScaling {
  std::string type;  // "", "linear", "yarn", "llama3"
  float factor = 1.0f;
  std::uint32_t original_context_length = 0;
  float low_freq_factor = 1.0f;   // llama3 only
  float high_freq_factor = 4.0f;  // llama3 only
};

struct ModelConfig {
  ModelArch arch = ModelArch::kLlama;
  std::string hf_architecture;  // architectures[0], e.g. "LlamaForCausalLM"
  std::uint32_t context_length = 0;
  std::uint32_t hidden_size = 0;
  std::uint32_t intermediate_size = 0;
  std::uint32_t num_layers = 0;
  std::uint32_t num_heads = 0;
  std::uint32_t num_kv_heads = 0;
  std::uint32_t head_dim = 0;  // head_dim if given, else hidden_size / num_heads
  std::uint32_t vocab_size = 0;
  float rms_norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // llama's attention_bias; always true for qwen2 (q/k/v)
  // Token ids config.json names (fallbacks when the tokenizer files do not say).
  std::optional<std::uint32_t> bos_token_id, eos_token_id, pad_token_id;

  // "llama" or "qwen2": the GGUF general.architecture and key prefix.
  std::string_view gguf_arch() const { return arch == ModelArch::kQwen2 ? "qwen2" : "llama"; }
};

Result<ModelConfig> parse_model_config(std::string_view config_json);

}  // namespace grove::formats
