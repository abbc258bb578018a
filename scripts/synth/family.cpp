#include <algorithm>
#include "scripts/synth/family.h"

#include <filesystem>
#include <system_error>
#include <vector>

#include "scripts/synth/model_files.h"
#include "scripts/synth/prng.h"
#include "scripts/synth/tokenizer.h"

namespace grove::synth {
namespace {

// 1021 BPE tokens plus 3 special tokens: vocab_size 1024 for every preset.
constexpr std::size_t kBpeVocab = 1021;

struct SizePreset {
  const char* name;
  ModelShape base;  // vocab is filled in from the tokenizer
  ModelShape unrelated;
  std::uint64_t shard_bytes;  // the base's max shard size; base-resharded uses half
};

// Base safetensors sizes (llama): tiny 2.7 MB in one file, small 30 MB in 2 shards, medium
// 207 MB in 3, large 1.09 GB (1.02 GiB) in 4.
const SizePreset kPresets[] = {
    {"tiny", {128, 352, 6, 4, 2, 0}, {96, 256, 4, 3, 1, 0}, 5'000'000},
    {"small", {512, 1408, 5, 8, 2, 0}, {384, 1024, 4, 6, 2, 0}, 20'000'000},
    {"medium", {1024, 2816, 9, 16, 4, 0}, {768, 2048, 6, 12, 4, 0}, 100'000'000},
    {"large", {2048, 5632, 12, 16, 4, 0}, {1536, 4096, 8, 12, 4, 0}, 300'000'000},
};

const SizePreset* find_preset(const std::string& size) {
  for (const SizePreset& preset : kPresets) {
    if (size == preset.name) return &preset;
  }
  return nullptr;
}

struct Member {
  std::string folder;
  WeightRecipe recipe;
  ModelShape shape;
  DType dtype;
  std::uint64_t shard_bytes;
  bool derived;          // has base_model
  std::string relation;  // base_model_relation, or empty
  std::string summary;
};

std::vector<Member> plan_members(const SizePreset& preset, std::uint64_t seed,
                                 std::uint64_t vocab) {
  ModelShape shape = preset.base;
  shape.vocab = vocab;
  ModelShape unrelated = preset.unrelated;
  unrelated.vocab = vocab;
  const std::uint64_t first_partial = shape.layers - (shape.layers + 3) / 4;
  const std::uint64_t shard = preset.shard_bytes;
  const WeightRecipe base{seed, Variant::kBase, 0, ""};
  std::vector<Member> members;
  auto add = [&members](const char* folder, WeightRecipe recipe, const ModelShape& model,
                        DType dtype, std::uint64_t shard_bytes, bool derived, const char* relation,
                        std::string summary) {
    members.push_back(Member{folder, std::move(recipe), model, dtype, shard_bytes, derived,
                             relation, std::move(summary)});
  };
  add("base", base, shape, DType::kBf16, shard, false, "",
      "The base model of the family, trained from scratch.");
  add("finetune-full", {seed, Variant::kFinetune, 0, "finetune-full"}, shape, DType::kBf16, shard,
      true, "finetune",
      "A full fine-tune of the base: every tensor moved a little, like a real instruct tune "
      "(about 81 % of the BF16 values moved, most by 1 to 3 ulps); the embeddings of unused "
      "vocabulary rows are untouched.");
  add("finetune-partial", {seed, Variant::kFinetune, first_partial, "finetune-partial"}, shape,
      DType::kBf16, shard, true, "finetune",
      "A partial fine-tune of the base: layers " + std::to_string(first_partial) + " to " +
          std::to_string(shape.layers - 1) +
          ", the final norm and the LM head were trained; every other tensor is bit-identical "
          "to the base.");
  add("lora-merged", {seed, Variant::kLoraMerged, 0, "lora-merged"}, shape, DType::kBf16, shard,
      true, "finetune",
      "The base with a rank-16 LoRA adapter on q_proj and v_proj merged into its weights; every "
      "other tensor is bit-identical to the base.");
  add("base-resharded", base, shape, DType::kBf16, shard / 2, true, "",
      "The base's exact tensors saved again with half the maximum shard size, so the files, "
      "shard boundaries and headers differ while every value is bit-identical.");
  add("base-fp16", base, shape, DType::kF16, shard, true, "",
      "The base converted to float16 (round to nearest even from its BF16 values).");
  add("unrelated", {stream_key(seed, "unrelated", ""), Variant::kBase, 0, ""}, unrelated,
      DType::kBf16, shard, false, "",
      "A separate model with its own random weights and a smaller hidden size; it shares only "
      "the tokenizer with the family.");
  return members;
}

Status create_dirs(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) return io_error("create_directories " + path + ": " + error.message());
  return Status::ok();
}

Result<std::uint64_t> write_member(const Member& member, const FamilyOptions& options,
                                   const std::string& family, const Tokenizer& tokenizer) {
  const std::string dir = options.out_dir + "/" + member.folder;
  GROVE_RETURN_IF_ERROR(create_dirs(dir));
  ModelCard card;
  card.repo_id = options.name_space + "/" + family + "-" + member.folder;
  if (member.derived) card.base_model = options.name_space + "/" + family + "-base";
  card.relation = member.relation;
  card.summary = member.summary;
  card.seed = options.seed;  // the command line's seed, which reproduces the member
  card.arch = options.arch;
  card.shape = member.shape;
  card.dtype = member.dtype;

  const std::pair<const char*, std::string> small_files[] = {
      {"config.json", config_json(options.arch, member.shape, member.dtype, tokenizer)},
      {"generation_config.json", generation_config_json(tokenizer)},
      {"tokenizer.json", tokenizer_json(tokenizer)},
      {"tokenizer_config.json", tokenizer_config_json(options.arch, tokenizer)},
      {"README.md", readme_markdown(card)},
  };
  std::uint64_t total = 0;
  for (const auto& [name, content] : small_files) {
    GROVE_ASSIGN_OR_RETURN(std::uint64_t bytes, write_text_file(dir + "/" + name, content));
    total += bytes;
  }
  WeightSynth synth(member.recipe);
  GROVE_ASSIGN_OR_RETURN(std::uint64_t weight_bytes,
                         write_checkpoint(dir, model_tensors(options.arch, member.shape),
                                          member.dtype, member.shard_bytes, synth));
  return total + weight_bytes;
}

}  // namespace

bool is_known_size(const std::string& size) { return find_preset(size) != nullptr; }

Status write_family(const FamilyOptions& options,
                    const std::function<void(const std::string&, std::uint64_t)>& on_member) {
  const SizePreset* preset = find_preset(options.size);
  if (preset == nullptr) return invalid_argument("unknown size: " + options.size);
  const std::string family = options.family.empty()
                                 ? std::string(arch_name(options.arch)) + "-" + preset->name
                                 : options.family;
  const Tokenizer tokenizer = train_tokenizer(kBpeVocab);
  if (tokenizer.vocab.size() != kBpeVocab)
    return internal_error("the corpus is too small for the vocab");
  // Each architecture gets its own streams, so llama and qwen2 families never share values.
  const std::uint64_t seed = stream_key(options.seed, "family", arch_name(options.arch));
  for (const Member& member : plan_members(*preset, seed, tokenizer.size())) {
    const auto& only = options.only_members;
    if (!only.empty() && std::find(only.begin(), only.end(), member.folder) == only.end()) continue;
    GROVE_ASSIGN_OR_RETURN(std::uint64_t bytes, write_member(member, options, family, tokenizer));
    on_member(member.folder, bytes);
  }
  return Status::ok();
}

}  // namespace grove::synth
