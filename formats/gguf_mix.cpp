#include "formats/gguf_mix.h"

#include <array>

namespace grove::formats {
namespace {

constexpr std::array<ExportType, 13> kExportTypes = {{
    {"F32", 0, QuantType::kF32, QuantMix::kNone},
    {"F16", 1, QuantType::kF16, QuantMix::kNone},
    {"BF16", 32, QuantType::kBF16, QuantMix::kNone},
    {"Q8_0", 7, QuantType::kQ8_0, QuantMix::kNone},
    {"Q4_0", 2, QuantType::kQ4_0, QuantMix::kNone},
    {"Q4_1", 3, QuantType::kQ4_1, QuantMix::kNone},
    {"Q5_0", 8, QuantType::kQ5_0, QuantMix::kNone},
    {"Q5_1", 9, QuantType::kQ5_1, QuantMix::kNone},
    {"Q4_K_S", 14, QuantType::kQ4_K, QuantMix::kQ4_K_S},
    {"Q4_K_M", 15, QuantType::kQ4_K, QuantMix::kQ4_K_M},
    {"Q5_K_S", 16, QuantType::kQ5_K, QuantMix::kQ5_K_S},
    {"Q5_K_M", 17, QuantType::kQ5_K, QuantMix::kQ5_K_M},
    {"Q6_K", 18, QuantType::kQ6_K, QuantMix::kNone},
}};

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

QuantType fallback(QuantType t, std::uint64_t ne0) {
  if (ne0 % quant_block_elements(t) == 0) return t;
  QuantType f = QuantType::kF16;
  switch (t) {
    case QuantType::kQ4_K: f = QuantType::kQ5_0; break;
    case QuantType::kQ5_K: f = QuantType::kQ5_1; break;
    case QuantType::kQ6_K: f = QuantType::kQ8_0; break;
    default: break;  // llama-quantize has no fallback for 32-blocks; F16 as convert_hf_to_gguf does
  }
  return ne0 % quant_block_elements(f) == 0 ? f : QuantType::kF16;
}

}  // namespace

std::optional<ExportType> parse_export_type(std::string_view name) {
  for (const ExportType& t : kExportTypes)
    if (t.name == name) return t;
  return std::nullopt;
}

std::span<const ExportType> export_types() { return kExportTypes; }

QuantType choose_tensor_type(const ExportType& type, const TensorTypeQuery& q) {
  const std::string_view n = q.name;
  if (q.n_dims < 2 || !n.ends_with("weight") || contains(n, "_norm.weight")) return QuantType::kF32;
  const QuantType def = type.default_type;
  if (quant_block_elements(def) == 1) return def;

  QuantType t = def;
  if (n == "output.weight" || (!q.has_output && n == "token_embd.weight")) {
    if (q.ne0 % quant_block_elements(def) != 0) t = QuantType::kQ8_0;
    else if (def != QuantType::kQ8_0) t = QuantType::kQ6_K;
  } else if (n == "token_embd.weight") {
    // the default type
  } else if (contains(n, "attn_v.weight")) {
    if ((type.mix == QuantMix::kQ4_K_M || type.mix == QuantMix::kQ5_K_M) && use_more_bits(q.layer, q.n_layers)) {
      t = QuantType::kQ6_K;
    } else if (type.mix == QuantMix::kQ4_K_S && q.layer < 4) {
      t = QuantType::kQ5_K;
    }
  } else if (contains(n, "ffn_down")) {
    if ((type.mix == QuantMix::kQ4_K_M || type.mix == QuantMix::kQ5_K_M) && use_more_bits(q.layer, q.n_layers)) {
      t = QuantType::kQ6_K;
    } else if (type.mix == QuantMix::kQ4_K_S && q.layer < q.n_layers / 8) {
      t = QuantType::kQ5_K;
    }
  }
  return fallback(t, q.ne0);
}

}  // namespace grove::formats
