// A small but real GPT-2 style byte-level BPE tokenizer, trained at run time on an embedded
// English corpus. Training is deterministic (ties between equally frequent pairs go to the
// smallest pair of ids), so every run of grove-synth writes the same tokenizer.json.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace grove::synth {

struct Tokenizer {
  // id -> token text in GPT-2's byte-to-unicode alphabet (UTF-8). Ids 0..255 are the bytes, in
  // GPT-2's order; merged tokens follow.
  std::vector<std::string> vocab;
  // Merge rules in rank order, each a pair of vocab strings.
  std::vector<std::pair<std::string, std::string>> merges;
  // Added special tokens; their ids follow the vocab.
  std::vector<std::string> special_tokens;

  // The model's vocab_size: vocab plus special tokens.
  std::size_t size() const { return vocab.size() + special_tokens.size(); }
  // The id of a special token. REQUIRES: it is one of special_tokens.
  std::size_t special_id(std::string_view token) const;
};

// Trains on the embedded corpus until the BPE vocab holds `bpe_vocab_size` tokens (at least
// 256), then adds "<|endoftext|>", "<|im_start|>", "<|im_end|>".
Tokenizer train_tokenizer(std::size_t bpe_vocab_size);

// The Hugging Face tokenizers JSON (tokenizer.json), pretty-printed.
std::string tokenizer_json(const Tokenizer& tokenizer);

// GPT-2's pre-tokenization regex on ASCII text:
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
std::vector<std::string_view> pre_tokenize(std::string_view text);

// The embedded training corpus, as paragraphs.
const std::vector<std::string_view>& training_corpus();

}  // namespace grove::synth
