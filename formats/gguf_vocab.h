// tokenizer.json (+ tokenizer_config.json) to the tokenizer.ggml.* keys of a GGUF file
// (../shared/specs/gguf.md §6.2–6.3), following what convert_hf_to_gguf writes:
//   - a byte-level BPE (model.type BPE without byte_fallback) becomes model "gpt2" with its
//     merges and a pre-tokenizer name recognised from the pre_tokenizer's regexes;
//   - a SentencePiece-style vocabulary (BPE with byte_fallback, or Unigram) becomes model
//     "llama" with scores and token types; it must hold the 256 <0xXX> byte tokens.
// Tokens are padded with "[PAD<i>]" (type unused) up to config.json's vocab_size, because
// llama.cpp wants one token per token_embd row. Special ids come from tokenizer_config.json,
// then config.json.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "formats/gguf_writer.h"
#include "formats/model_config.h"

namespace grove::formats {

// llama.cpp's token types.
enum GgufTokenType : std::int32_t {
  kTokenNormal = 1, kTokenUnknown = 2, kTokenControl = 3, kTokenUserDefined = 4, kTokenUnused = 5, kTokenByte = 6,
};

struct GgufVocab {
  std::string model;  // "gpt2" or "llama"
  std::string pre;    // pre-tokenizer name ("gpt-2", "llama-bpe", "qwen2", "default")
  std::vector<std::string> tokens;
  std::vector<float> scores;  // "llama" only
  std::vector<std::int32_t> token_types;
  std::vector<std::string> merges;  // "gpt2" only, "a b"
  std::optional<std::uint32_t> bos_id, eos_id, unk_id, pad_id;
  std::optional<bool> add_bos, add_eos, add_space_prefix;
  std::optional<std::string> chat_template;
};

// `tokenizer_config_json` may be empty (file absent). kInvalidArgument says what is wrong.
Result<GgufVocab> read_vocab(std::string_view tokenizer_json, std::string_view tokenizer_config_json,
                             const ModelConfig& config);

Status add_vocab_metadata(GgufBuilder& builder, const GgufVocab& vocab);

}  // namespace grove::formats
