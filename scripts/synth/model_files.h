// The small files of a synthetic model folder: config.json, generation_config.json,
// tokenizer_config.json and README.md (the model card), as transformers would write them.
#pragma once

#include <cstdint>
#include <string>

#include "scripts/synth/safetensors_writer.h"
#include "scripts/synth/tokenizer.h"
#include "scripts/synth/weights.h"

namespace grove::synth {

struct ModelCard {
  std::string repo_id;     // "demo/llama-tiny-finetune-full"
  std::string base_model;  // a repo id, or empty for none
  std::string relation;    // base_model_relation, or empty for none
  std::string summary;     // one paragraph saying what this member is
  std::uint64_t seed = 0;
  Arch arch = Arch::kLlama;
  ModelShape shape;
  DType dtype = DType::kBf16;
};

const char* arch_name(Arch arch);  // "llama" / "qwen2"

std::string config_json(Arch arch, const ModelShape& shape, DType dtype,
                        const Tokenizer& tokenizer);
std::string generation_config_json(const Tokenizer& tokenizer);
std::string tokenizer_config_json(Arch arch, const Tokenizer& tokenizer);
std::string readme_markdown(const ModelCard& card);

}  // namespace grove::synth
