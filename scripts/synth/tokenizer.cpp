#include "scripts/synth/tokenizer.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace grove::synth {
namespace {

bool is_letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_other(unsigned char c) { return !is_letter(c) && !is_digit(c) && !is_space(c); }

std::string utf8(std::uint32_t code_point) {
  std::string out;
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else {  // every code point here is below 0x800
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
  return out;
}

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to 256 + n. Returns the
// bytes in GPT-2's vocab order and each byte's character.
struct ByteAlphabet {
  std::array<std::uint8_t, 256> order;
  std::array<std::string, 256> text;
};

ByteAlphabet byte_alphabet() {
  ByteAlphabet alphabet;
  std::array<bool, 256> printable{};
  std::size_t next = 0;
  auto add_range = [&](int first, int last) {
    for (int b = first; b <= last; ++b) {
      printable[b] = true;
      alphabet.order[next++] = static_cast<std::uint8_t>(b);
      alphabet.text[b] = utf8(static_cast<std::uint32_t>(b));
    }
  };
  add_range('!', '~');
  add_range(0xA1, 0xAC);
  add_range(0xAE, 0xFF);
  std::uint32_t extra = 0;
  for (int b = 0; b < 256; ++b) {
    if (printable[b]) continue;
    alphabet.order[next++] = static_cast<std::uint8_t>(b);
    alphabet.text[b] = utf8(256 + extra++);
  }
  return alphabet;
}

std::uint64_t pair_key(std::uint32_t a, std::uint32_t b) {
  return (static_cast<std::uint64_t>(a) << 32) | b;
}

}  // namespace

std::vector<std::string_view> pre_tokenize(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  const std::size_t n = text.size();
  auto run_end = [&](std::size_t from, bool (*pred)(unsigned char)) {
    while (from < n && pred(static_cast<unsigned char>(text[from]))) ++from;
    return from;
  };
  while (i < n) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t end = i;
    if (c == '\'') {
      for (std::string_view suffix : {"s", "t", "re", "ve", "m", "ll", "d"}) {
        if (text.substr(i + 1, suffix.size()) == suffix) {
          end = i + 1 + suffix.size();
          break;
        }
      }
    }
    if (end == i) {
      // Alternatives with an optional leading space: the class is decided by the character
      // after that space.
      const std::size_t body = (c == ' ' && i + 1 < n) ? i + 1 : i;
      const auto b = static_cast<unsigned char>(text[body]);
      if (is_letter(b)) {
        end = run_end(body, is_letter);
      } else if (is_digit(b)) {
        end = run_end(body, is_digit);
      } else if (is_other(b)) {
        end = run_end(body, is_other);
      } else {
        // Whitespace: \s+(?!\S) takes the run but leaves its last character to the next word
        // when one follows; a single whitespace char before a word falls through to \s+.
        end = run_end(i, is_space);
        if (end < n && end - i > 1) --end;
      }
    }
    out.push_back(text.substr(i, end - i));
    i = end;
  }
  return out;
}

std::size_t Tokenizer::special_id(std::string_view token) const {
  const auto it = std::find(special_tokens.begin(), special_tokens.end(), token);
  return vocab.size() + static_cast<std::size_t>(it - special_tokens.begin());
}

Tokenizer train_tokenizer(std::size_t bpe_vocab_size) {
  const ByteAlphabet alphabet = byte_alphabet();
  Tokenizer tokenizer;
  std::array<std::uint32_t, 256> byte_id{};
  for (std::size_t i = 0; i < 256; ++i) {
    byte_id[alphabet.order[i]] = static_cast<std::uint32_t>(i);
    tokenizer.vocab.push_back(alphabet.text[alphabet.order[i]]);
  }
  std::unordered_map<std::string, std::uint32_t> id_of;
  for (std::uint32_t i = 0; i < 256; ++i) id_of.emplace(tokenizer.vocab[i], i);

  // Distinct pre-tokens with their counts; std::map keeps the word order fixed.
  std::map<std::string_view, std::uint64_t> counts;
  for (std::string_view paragraph : training_corpus()) {
    for (std::string_view word : pre_tokenize(paragraph)) ++counts[word];
  }
  struct Word {
    std::vector<std::uint32_t> symbols;
    std::uint64_t count;
  };
  std::vector<Word> words;
  for (const auto& [text, count] : counts) {
    Word word{{}, count};
    for (unsigned char c : text) word.symbols.push_back(byte_id[c]);
    words.push_back(std::move(word));
  }

  std::unordered_map<std::uint64_t, std::uint64_t> pair_counts;
  while (tokenizer.vocab.size() < bpe_vocab_size) {
    pair_counts.clear();
    for (const Word& word : words) {
      for (std::size_t i = 0; i + 1 < word.symbols.size(); ++i) {
        pair_counts[pair_key(word.symbols[i], word.symbols[i + 1])] += word.count;
      }
    }
    if (pair_counts.empty()) break;  // the corpus is exhausted; the vocab stays smaller
    // Most frequent pair, ties to the smallest key: independent of the hash map's order.
    std::uint64_t best = 0, best_count = 0;
    for (const auto& [key, count] : pair_counts) {
      if (count > best_count || (count == best_count && key < best)) {
        best = key;
        best_count = count;
      }
    }
    const auto left = static_cast<std::uint32_t>(best >> 32);
    const auto right = static_cast<std::uint32_t>(best & 0xFFFFFFFFu);
    std::string merged = tokenizer.vocab[left] + tokenizer.vocab[right];
    tokenizer.merges.emplace_back(tokenizer.vocab[left], tokenizer.vocab[right]);
    // As in Hugging Face's trainer, a merge may produce a token that already exists.
    auto [it, inserted] = id_of.emplace(merged, static_cast<std::uint32_t>(tokenizer.vocab.size()));
    if (inserted) tokenizer.vocab.push_back(std::move(merged));
    const std::uint32_t merged_id = it->second;
    for (Word& word : words) {
      auto& s = word.symbols;
      std::size_t out = 0;
      for (std::size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == left && s[i + 1] == right) {
          s[out++] = merged_id;
          ++i;
        } else {
          s[out++] = s[i];
        }
      }
      s.resize(out);
    }
  }
  tokenizer.special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  return tokenizer;
}

std::string tokenizer_json(const Tokenizer& tokenizer) {
  using Json = nlohmann::ordered_json;
  Json added = Json::array();
  for (const std::string& token : tokenizer.special_tokens) {
    added.push_back({{"id", tokenizer.special_id(token)},
                     {"content", token},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  Json vocab = Json::object();
  for (std::size_t id = 0; id < tokenizer.vocab.size(); ++id) vocab[tokenizer.vocab[id]] = id;
  Json merges = Json::array();
  // Byte-level tokens never contain a space (it is "Ġ"), so "left right" is unambiguous.
  for (const auto& [left, right] : tokenizer.merges) merges.push_back(left + " " + right);

  Json doc = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "ByteLevel"},
        {"add_prefix_space", false},
        {"trim_offsets", true},
        {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder",
       {{"type", "ByteLevel"},
        {"add_prefix_space", true},
        {"trim_offsets", true},
        {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"vocab", vocab},
        {"merges", merges}}},
  };
  return doc.dump(2) + "\n";
}

}  // namespace grove::synth
