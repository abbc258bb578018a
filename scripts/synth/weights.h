// The tensors of a synthetic Llama/Qwen2 checkpoint and the values in them.
//
// Every tensor has its own random streams keyed by (seed, purpose, tensor name), so a tensor's
// values do not depend on which file it lands in or in what order files are written, and a
// derivative regenerates its base's values row by row instead of reading them back.
//
// Base values (rounded to BF16 before anything else sees them):
//   embeddings, projections  N(0, 0.02) x a per-row factor in [0.5, 1.5); about one row in 64
//                            carries one outlier of 10-30 sigma
//   RMSNorm weights          N(1, 0.025)
//   q/k/v biases (qwen2)     N(0, 0.01)
// Variants:
//   kFinetune       on tuned tensors (all of them, or only the last quarter of the layers plus
//                   model.norm and lm_head) every BF16 value moves by a signed number of ulps (in
//                   value order) drawn like a real instruct tune's: 19 % unchanged, 27 % by 1 ulp,
//                   25 % by 2-3, 22 % by 4-15, 7 % by 16-127 (kUlpMoves). The embedding rows of the
//                   rarest quarter of the BPE vocabulary (tokens a chat fine-tune never sees) stay
//                   bit-identical, as in real tunes.
//   kLoraMerged     w + kLoraScale * (B A) / sqrt(kLoraRank) on every q_proj and v_proj
//                   weight, with A [rank, in] and B [out, rank] standard normal: a rank-16 delta of
//                   std kLoraScale (most q/v values move, the small ones by many ulps),
//                   re-rounded to BF16
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "scripts/synth/safetensors_writer.h"

namespace grove::synth {

enum class Arch { kLlama, kQwen2 };

struct ModelShape {
  std::uint64_t hidden = 0;
  std::uint64_t intermediate = 0;
  std::uint64_t layers = 0;
  std::uint64_t heads = 0;
  std::uint64_t kv_heads = 0;
  std::uint64_t vocab = 0;
  std::uint64_t head_dim() const { return hidden / heads; }
};

// The tensors of a checkpoint in transformers' state_dict (module) order.
std::vector<TensorInfo> model_tensors(Arch arch, const ModelShape& shape);

enum class Variant { kBase, kFinetune, kLoraMerged };

struct WeightRecipe {
  std::uint64_t seed = 0;
  Variant variant = Variant::kBase;
  // kFinetune: layers below this index keep the base values. 0 tunes every tensor, including
  // the embeddings; otherwise model.norm and lm_head are tuned and embed_tokens is not.
  std::uint64_t first_tuned_layer = 0;
  // Names the perturbation streams, so two finetunes of one base differ from each other.
  std::string tune_name;
};

// Cumulative shares of the ulp moves of a fine-tune, in 1/10000: 0, 1, 2-3, 4-15, 16+.
constexpr std::uint32_t kUlpMoves[5] = {1900, 4600, 7100, 9300, 10000};
constexpr std::uint64_t kLoraRank = 16;
constexpr double kLoraScale = 0.0003;  // 1.5 % of the weights' sigma: a typical merged adapter

class WeightSynth : public TensorSource {
 public:
  explicit WeightSynth(WeightRecipe recipe) : recipe_(std::move(recipe)) {}
  Status fill(const TensorInfo& tensor, TensorSink& sink) override;

 private:
  bool is_tuned(const std::string& name) const;

  WeightRecipe recipe_;
  std::vector<float> row_;  // one row of the tensor being written: the only per-tensor memory
  std::vector<float> lora_a_;
  std::vector<float> lora_acc_;
};

}  // namespace grove::synth
