#include "scripts/synth/weights.h"

#include <algorithm>
#include <cmath>

#include "scripts/synth/half.h"
#include "scripts/synth/prng.h"

namespace grove::synth {
namespace {

enum class Kind { kMatrix, kNorm, kBias };

constexpr double kMatrixSigma = 0.02;
constexpr double kNormSigma = 0.025;
constexpr double kBiasSigma = 0.01;
constexpr std::uint64_t kOutlierOneRowIn = 64;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Kind kind_of(const std::string& name) {
  if (ends_with(name, "norm.weight")) return Kind::kNorm;
  if (ends_with(name, ".bias")) return Kind::kBias;
  return Kind::kMatrix;
}

// The layer index in "model.layers.<i>.", or -1.
long layer_of(const std::string& name) {
  static const std::string kPrefix = "model.layers.";
  if (name.compare(0, kPrefix.size(), kPrefix) != 0) return -1;
  return std::stol(name.substr(kPrefix.size()));
}

float to_bf16_value(double value) {
  return bf16_to_float(float_to_bf16(static_cast<float>(value)));
}

// Fills `row` with the next row of the base tensor's values, each exactly a BF16 value.
class BaseRows {
 public:
  BaseRows(std::uint64_t seed, const std::string& name)
      : normal_(stream_key(seed, "base", name)), kind_(kind_of(name)) {}

  void next(std::vector<float>& row) {
    Xoshiro256& rng = normal_.rng();
    switch (kind_) {
      case Kind::kMatrix: {
        const double sigma = kMatrixSigma * (0.5 + rng.uniform());
        for (float& v : row) v = to_bf16_value(sigma * normal_.next());
        if (rng.below(kOutlierOneRowIn) == 0) {
          const std::uint64_t column = rng.below(row.size());
          const double magnitude = kMatrixSigma * (10.0 + 20.0 * rng.uniform());
          row[column] = to_bf16_value((rng.next() & 1) ? magnitude : -magnitude);
        }
        break;
      }
      case Kind::kNorm:
        for (float& v : row) v = to_bf16_value(1.0 + kNormSigma * normal_.next());
        break;
      case Kind::kBias:
        for (float& v : row) v = to_bf16_value(kBiasSigma * normal_.next());
        break;
    }
  }

 private:
  NormalSampler normal_;
  Kind kind_;
};

// Moves a BF16 value by a signed number of ulps drawn from kUlpMoves, in value order (the key
// below orders all BF16 bit patterns by value; -0 and +0 are one ulp apart). Integer draws only.
float move_ulps(float value, Xoshiro256& rng) {
  const std::uint64_t bits = rng.next();
  const auto pick = static_cast<std::uint32_t>(bits % 10000);
  const std::uint64_t more = bits >> 32;  // independent of `pick` for all practical purposes
  std::uint32_t ulps = 0;
  if (pick < kUlpMoves[0]) return value;
  if (pick < kUlpMoves[1]) {
    ulps = 1;
  } else if (pick < kUlpMoves[2]) {
    ulps = 2 + static_cast<std::uint32_t>(more % 2);
  } else if (pick < kUlpMoves[3]) {
    // 4-7 as often as 8-15: sizes spread roughly log-uniformly, as in real deltas.
    ulps = (more & 1) ? 4 + static_cast<std::uint32_t>((more >> 1) % 4)
                      : 8 + static_cast<std::uint32_t>((more >> 1) % 8);
  } else {
    const std::uint64_t r = (more >> 1) % 16;  // 16-31 half the time, then 32-63, 64-127
    ulps = r < 8 ? 16 + static_cast<std::uint32_t>((more >> 5) % 16)
                 : r < 13 ? 32 + static_cast<std::uint32_t>((more >> 5) % 32)
                          : 64 + static_cast<std::uint32_t>((more >> 5) % 64);
  }
  const std::uint16_t h = float_to_bf16(value);
  auto key = static_cast<std::uint16_t>((h & 0x8000u) ? ~h : (h | 0x8000u));
  key = static_cast<std::uint16_t>((more & 0x80000000u) ? key - ulps : key + ulps);
  const auto moved = static_cast<std::uint16_t>((key & 0x8000u) ? (key & 0x7FFFu) : ~key);
  if ((moved & 0x7F80u) == 0x7F80u) return value;  // never into infinity or NaN
  return bf16_to_float(moved);
}

// Embedding rows a chat fine-tune never touches: the rarest quarter of the BPE merges (the
// tokenizer assigns ids in merge order; the last 3 ids are the special tokens, which it uses).
bool unused_vocab_row(std::uint64_t row, std::uint64_t vocab) {
  return row >= vocab - vocab / 4 && row + 3 < vocab;
}

}  // namespace

std::vector<TensorInfo> model_tensors(Arch arch, const ModelShape& shape) {
  const std::uint64_t h = shape.hidden, kv = shape.kv_heads * shape.head_dim();
  std::vector<TensorInfo> tensors;
  tensors.push_back({"model.embed_tokens.weight", {shape.vocab, h}});
  for (std::uint64_t i = 0; i < shape.layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const bool bias = arch == Arch::kQwen2;
    tensors.push_back({p + "self_attn.q_proj.weight", {h, h}});
    if (bias) tensors.push_back({p + "self_attn.q_proj.bias", {h}});
    tensors.push_back({p + "self_attn.k_proj.weight", {kv, h}});
    if (bias) tensors.push_back({p + "self_attn.k_proj.bias", {kv}});
    tensors.push_back({p + "self_attn.v_proj.weight", {kv, h}});
    if (bias) tensors.push_back({p + "self_attn.v_proj.bias", {kv}});
    tensors.push_back({p + "self_attn.o_proj.weight", {h, h}});
    tensors.push_back({p + "mlp.gate_proj.weight", {shape.intermediate, h}});
    tensors.push_back({p + "mlp.up_proj.weight", {shape.intermediate, h}});
    tensors.push_back({p + "mlp.down_proj.weight", {h, shape.intermediate}});
    tensors.push_back({p + "input_layernorm.weight", {h}});
    tensors.push_back({p + "post_attention_layernorm.weight", {h}});
  }
  tensors.push_back({"model.norm.weight", {h}});
  tensors.push_back({"lm_head.weight", {shape.vocab, h}});
  return tensors;
}

bool WeightSynth::is_tuned(const std::string& name) const {
  switch (recipe_.variant) {
    case Variant::kBase: return false;
    case Variant::kLoraMerged:
      return ends_with(name, "q_proj.weight") || ends_with(name, "v_proj.weight");
    case Variant::kFinetune: {
      if (recipe_.first_tuned_layer == 0) return true;
      const long layer = layer_of(name);
      if (layer < 0) return name != "model.embed_tokens.weight";
      return static_cast<std::uint64_t>(layer) >= recipe_.first_tuned_layer;
    }
  }
  return false;
}

Status WeightSynth::fill(const TensorInfo& tensor, TensorSink& sink) {
  // 1-D tensors are written as one row.
  const std::uint64_t rows = tensor.shape.size() == 2 ? tensor.shape[0] : 1;
  const std::uint64_t cols = tensor.shape.back();
  row_.resize(cols);
  BaseRows base(recipe_.seed, tensor.name);
  const bool tuned = is_tuned(tensor.name);
  NormalSampler delta(stream_key(recipe_.seed, recipe_.tune_name, tensor.name));

  const bool lora = tuned && recipe_.variant == Variant::kLoraMerged;
  if (lora) {
    lora_a_.resize(kLoraRank * cols);
    for (float& a : lora_a_) a = static_cast<float>(delta.next());
    lora_acc_.resize(cols);
  }
  const double lora_scale = kLoraScale / std::sqrt(static_cast<double>(kLoraRank));
  const bool embeddings = tensor.name == "model.embed_tokens.weight";

  for (std::uint64_t r = 0; r < rows; ++r) {
    base.next(row_);
    if (lora) {
      // The row r of B A, accumulated in a fixed order.
      std::fill(lora_acc_.begin(), lora_acc_.end(), 0.0f);
      for (std::uint64_t k = 0; k < kLoraRank; ++k) {
        const auto b = static_cast<float>(delta.next());
        const float* a = &lora_a_[k * cols];
        for (std::uint64_t c = 0; c < cols; ++c) lora_acc_[c] += b * a[c];
      }
      for (std::uint64_t c = 0; c < cols; ++c) {
        row_[c] = static_cast<float>(row_[c] + lora_scale * lora_acc_[c]);
      }
    } else if (tuned && !(embeddings && unused_vocab_row(r, rows))) {
      for (float& v : row_) v = move_ulps(v, delta.rng());
    }
    GROVE_RETURN_IF_ERROR(sink.append(row_));
  }
  return Status::ok();
}

}  // namespace grove::synth
