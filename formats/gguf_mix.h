// Export types ("Q4_K_M", "Q8_0", "F16", ...) and the per-tensor type each one picks, as
// llama.cpp's llama-quantize chooses them for llama and qwen2 without an importance matrix
// (../shared/specs/gguf.md §5.3; src/llama-quant.cpp, llama_tensor_get_type):
//   - 1-D tensors, *_norm.weight and names not ending in "weight" stay F32;
//   - F32/F16/BF16: every other tensor in that type;
//   - quantized types: output.weight (and token_embd.weight when the model has no
//     output.weight) becomes Q6_K, or Q8_0 when ne0 is not a multiple of the default type's
//     block or the default is Q8_0;
//   - Q4_K_M/Q5_K_M: attn_v and ffn_down get Q6_K on the "more bits" layers
//     (i < n/8, i >= 7n/8, (i - n/8) % 3 == 2); Q4_K_S: attn_v of layers < 4 and ffn_down of
//     layers < n/8 get Q5_K;
//   - then, if ne0 is not a multiple of the chosen block: Q4_K -> Q5_0, Q5_K -> Q5_1,
//     Q6_K -> Q8_0, and F16 if even that does not divide.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "formats/quantize.h"

namespace grove::formats {

enum class QuantMix { kNone, kQ4_K_S, kQ4_K_M, kQ5_K_S, kQ5_K_M };

struct ExportType {
  std::string_view name;   // "Q4_K_M"
  std::uint32_t file_type;  // llama_ftype, written as general.file_type (Q8_0 is 7, not 8)
  QuantType default_type;
  QuantMix mix;
};

// Upper-case names as llama-quantize spells them; nullopt for anything else.
std::optional<ExportType> parse_export_type(std::string_view name);
std::span<const ExportType> export_types();

struct TensorTypeQuery {
  std::string_view name;   // GGUF tensor name, e.g. "blk.3.attn_v.weight"
  std::uint64_t ne0 = 0;   // row length (HF last dimension)
  std::size_t n_dims = 0;
  int layer = -1;          // N of blk.N, -1 for the others
  int n_layers = 0;
  bool has_output = true;  // false when the model ties output to token_embd
};

QuantType choose_tensor_type(const ExportType& type, const TensorTypeQuery& tensor);

}  // namespace grove::formats
