#include "formats/gguf_vocab.h"

#include <cctype>
#include <map>
#include <unordered_set>

#include <nlohmann/json.hpp>

namespace grove::formats {
namespace {

using json = nlohmann::json;

// Pre-tokenizer regexes of the tokenizers llama.cpp knows by name. Matching the regex text
// (as Ollama does) instead of hashing the encoding of a test string (as convert_hf_to_gguf
// does) needs no tokenizer implementation.
struct KnownPre {
  const char* regex;
  const char* name;
};
const KnownPre kKnownPres[] = {
    {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     "llama-bpe"},
    {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     "qwen2"},
    {R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)", "gpt-2"},
};

// Walks a pre_tokenizer (possibly a Sequence) collecting Split regexes and whether a ByteLevel
// step applies GPT-2's own regex.
void collect_pre(const json& p, std::vector<std::string>& regexes, bool& byte_level_regex) {
  if (!p.is_object()) return;
  std::string type = p.value("type", std::string());
  if (type == "Sequence" && p.contains("pretokenizers") && p["pretokenizers"].is_array()) {
    for (const json& q : p["pretokenizers"]) collect_pre(q, regexes, byte_level_regex);
  } else if (type == "Split" && p.contains("pattern") && p["pattern"].is_object()) {
    const json& pat = p["pattern"];
    if (pat.contains("Regex") && pat["Regex"].is_string()) regexes.push_back(pat["Regex"].get<std::string>());
  } else if (type == "ByteLevel") {
    auto it = p.find("use_regex");
    if (it == p.end() || (it->is_boolean() && it->get<bool>())) byte_level_regex = true;
  }
}

std::string pre_tokenizer_name(const json& tok) {
  std::vector<std::string> regexes;
  bool byte_level_regex = false;
  if (tok.contains("pre_tokenizer")) collect_pre(tok["pre_tokenizer"], regexes, byte_level_regex);
  if (regexes.empty() && byte_level_regex) return "gpt-2";
  if (regexes.size() == 1 && !byte_level_regex) {
    for (const KnownPre& k : kKnownPres)
      if (regexes[0] == k.regex) return k.name;
  }
  return "default";
}

// "<|endoftext|>"-style tokens are control tokens even when not flagged special.
bool looks_special(const std::string& t) { return t.size() >= 4 && t.starts_with("<|") && t.ends_with("|>"); }

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
  return s;
}

bool is_byte_token(const std::string& t) {
  if (t.size() != 6 || !t.starts_with("<0x") || t[5] != '>') return false;
  return std::isxdigit(static_cast<unsigned char>(t[3])) && std::isxdigit(static_cast<unsigned char>(t[4]));
}

struct Added {
  std::string content;
  bool special = false;
};

// Token id of a tokenizer_config entry ("<s>" or {"content": "<s>"}); nullopt when absent or
// null or not a token.
std::optional<std::uint32_t> special_id(const json& cfg, const char* key, const std::map<std::string, std::uint32_t>& ids) {
  auto it = cfg.find(key);
  if (it == cfg.end()) return std::nullopt;
  std::string content;
  if (it->is_string()) content = it->get<std::string>();
  else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) content = (*it)["content"].get<std::string>();
  else return std::nullopt;
  auto found = ids.find(content);
  if (found == ids.end()) return std::nullopt;
  return found->second;
}

std::optional<bool> get_bool(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_boolean()) return std::nullopt;
  return it->get<bool>();
}

Result<GgufVocab> read(const json& tok, const json& cfg, const ModelConfig& config) {
  if (!tok.is_object() || !tok.contains("model") || !tok["model"].is_object()) {
    return invalid_argument("tokenizer.json has no \"model\" object");
  }
  const json& model = tok["model"];
  const std::string type = model.value("type", std::string("BPE"));
  GgufVocab v;

  // id -> text of every token (vocabulary and added tokens).
  std::map<std::uint32_t, std::string> by_id;
  std::vector<float> unigram_scores;
  if (type == "BPE") {
    if (!model.contains("vocab") || !model["vocab"].is_object()) return invalid_argument("tokenizer.json: BPE model without a vocab object");
    for (const auto& [text, id] : model["vocab"].items()) {
      if (!id.is_number_unsigned()) return invalid_argument("tokenizer.json: vocab id of '" + text + "' is not an integer");
      by_id[id.get<std::uint32_t>()] = text;
    }
    v.model = model.value("byte_fallback", false) ? "llama" : "gpt2";
  } else if (type == "Unigram") {
    if (!model.contains("vocab") || !model["vocab"].is_array()) return invalid_argument("tokenizer.json: Unigram model without a vocab list");
    std::uint32_t id = 0;
    for (const json& e : model["vocab"]) {
      if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number()) {
        return invalid_argument("tokenizer.json: Unigram vocab entries must be [piece, score]");
      }
      by_id[id] = e[0].get<std::string>();
      unigram_scores.push_back(e[1].get<float>());
      ++id;
    }
    v.model = "llama";
  } else {
    return invalid_argument("tokenizer.json: tokenizer model type '" + type + "' is not supported (BPE and Unigram are)");
  }

  std::map<std::uint32_t, Added> added;
  if (tok.contains("added_tokens") && tok["added_tokens"].is_array()) {
    for (const json& a : tok["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_unsigned() || !a.contains("content") || !a["content"].is_string()) {
        return invalid_argument("tokenizer.json: an added_tokens entry lacks an integer id or a content string");
      }
      std::uint32_t id = a["id"].get<std::uint32_t>();
      added[id] = {a["content"].get<std::string>(), a.value("special", false)};
      by_id[id] = added[id].content;
    }
  }
  if (by_id.empty()) return invalid_argument("tokenizer.json has no tokens");
  const std::uint32_t n_tokens = by_id.rbegin()->first + 1;
  if (n_tokens > config.vocab_size) {
    return invalid_argument("tokenizer.json has token id " + std::to_string(n_tokens - 1) + ", beyond config.json's vocab_size " +
                            std::to_string(config.vocab_size));
  }

  std::optional<std::uint32_t> unk;
  if (type == "Unigram" && model.contains("unk_id") && model["unk_id"].is_number_unsigned()) unk = model["unk_id"].get<std::uint32_t>();
  if (type == "BPE" && model.contains("unk_token") && model["unk_token"].is_string()) {
    std::string u = model["unk_token"].get<std::string>();
    for (const auto& [id, text] : by_id)
      if (text == u) unk = id;
  }

  std::size_t byte_tokens = 0;
  for (std::uint32_t i = 0; i < config.vocab_size; ++i) {
    auto it = by_id.find(i);
    if (it == by_id.end()) {
      v.tokens.push_back("[PAD" + std::to_string(i) + "]");
      v.token_types.push_back(kTokenUnused);
      if (v.model == "llama") v.scores.push_back(-1000.0f);
      continue;
    }
    std::string text = it->second;
    std::int32_t tt = kTokenNormal;
    float score = type == "Unigram" ? unigram_scores.at(i) : -static_cast<float>(i);
    if (auto a = added.find(i); a != added.end()) {
      if (a->second.special || looks_special(text)) {
        tt = kTokenControl;
      } else {
        tt = kTokenUserDefined;
        text = replace_all(text, "\xe2\x96\x81", " ");
      }
      score = v.model == "llama" ? -1000.0f : 0.0f;
    } else if (v.model == "llama" && is_byte_token(text)) {
      tt = kTokenByte;
      score = 0.0f;
      ++byte_tokens;
    } else if (unk && *unk == i) {
      tt = kTokenUnknown;
      score = 0.0f;
    }
    v.tokens.push_back(std::move(text));
    v.token_types.push_back(tt);
    if (v.model == "llama") v.scores.push_back(score);
  }
  {
    std::unordered_set<std::string> seen;
    for (const std::string& t : v.tokens)
      if (!seen.insert(t).second) return invalid_argument("tokenizer.json: token '" + t + "' appears twice (llama.cpp refuses duplicates)");
  }

  if (v.model == "gpt2") {
    v.pre = pre_tokenizer_name(tok);
    if (!model.contains("merges") || !model["merges"].is_array() || model["merges"].empty()) {
      return invalid_argument("tokenizer.json: byte-level BPE without merges");
    }
    for (const json& m : model["merges"]) {
      if (m.is_string()) {
        v.merges.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        v.merges.push_back(replace_all(m[0].get<std::string>(), " ", "\xc4\xa0") + " " +
                           replace_all(m[1].get<std::string>(), " ", "\xc4\xa0"));
      } else {
        return invalid_argument("tokenizer.json: a merge is neither \"a b\" nor [a, b]");
      }
    }
  } else {
    v.pre = "default";
    if (byte_tokens != 256) {
      return invalid_argument("tokenizer.json: a SentencePiece-style vocabulary needs the 256 byte tokens <0x00>..<0xFF>, found " +
                              std::to_string(byte_tokens));
    }
    const json& norm = tok.contains("normalizer") ? tok["normalizer"] : json();
    std::string n = norm.dump();
    const json& pre = tok.contains("pre_tokenizer") ? tok["pre_tokenizer"] : json();
    std::string p = pre.dump();
    v.add_space_prefix = n.find("\"Prepend\"") != std::string::npos ||
                         (p.find("\"Metaspace\"") != std::string::npos && p.find("\"never\"") == std::string::npos &&
                          p.find("\"add_prefix_space\":false") == std::string::npos);
  }

  std::map<std::string, std::uint32_t> ids;  // added tokens win over vocabulary pieces
  for (std::uint32_t i = 0; i < v.tokens.size(); ++i) ids.emplace(v.tokens[i], i);
  for (const auto& [id, a] : added) ids[a.content] = id;
  if (cfg.is_object()) {
    v.bos_id = special_id(cfg, "bos_token", ids);
    v.eos_id = special_id(cfg, "eos_token", ids);
    v.unk_id = special_id(cfg, "unk_token", ids);
    v.pad_id = special_id(cfg, "pad_token", ids);
    v.add_bos = get_bool(cfg, "add_bos_token");
    v.add_eos = get_bool(cfg, "add_eos_token");
    if (auto ct = cfg.find("chat_template"); ct != cfg.end()) {
      if (ct->is_string()) {
        v.chat_template = ct->get<std::string>();
      } else if (ct->is_array()) {  // [{name, template}]: the "default" one
        for (const json& e : *ct)
          if (e.is_object() && e.value("name", std::string()) == "default" && e.contains("template") && e["template"].is_string())
            v.chat_template = e["template"].get<std::string>();
      }
    }
  }
  if (!v.unk_id) v.unk_id = unk;
  if (!v.bos_id) v.bos_id = config.bos_token_id;
  if (!v.eos_id) v.eos_id = config.eos_token_id;
  if (!v.pad_id) v.pad_id = config.pad_token_id;
  if (v.model == "llama" && !v.add_bos) v.add_bos = true;  // SentencePiece llama default
  for (auto* id : {&v.bos_id, &v.eos_id, &v.unk_id, &v.pad_id}) {
    if (*id && **id >= config.vocab_size) {
      return invalid_argument("special token id " + std::to_string(**id) + " is beyond vocab_size " + std::to_string(config.vocab_size));
    }
  }
  return v;
}

}  // namespace

Result<GgufVocab> read_vocab(std::string_view tokenizer_json, std::string_view tokenizer_config_json,
                             const ModelConfig& config) {
  json tok, cfg;
  try {
    tok = json::parse(tokenizer_json);
  } catch (const std::exception& e) {
    return invalid_argument(std::string("tokenizer.json is not valid JSON: ") + e.what());
  }
  if (!tokenizer_config_json.empty()) {
    try {
      cfg = json::parse(tokenizer_config_json);
    } catch (const std::exception& e) {
      return invalid_argument(std::string("tokenizer_config.json is not valid JSON: ") + e.what());
    }
  }
  try {
    return read(tok, cfg, config);
  } catch (const std::exception& e) {
    return invalid_argument(std::string("tokenizer.json: ") + e.what());
  }
}

Status add_vocab_metadata(GgufBuilder& b, const GgufVocab& v) {
  GROVE_RETURN_IF_ERROR(b.add_string("tokenizer.ggml.model", v.model));
  GROVE_RETURN_IF_ERROR(b.add_string("tokenizer.ggml.pre", v.pre));
  GROVE_RETURN_IF_ERROR(b.add_string_array("tokenizer.ggml.tokens", v.tokens));
  if (!v.scores.empty()) GROVE_RETURN_IF_ERROR(b.add_f32_array("tokenizer.ggml.scores", v.scores));
  GROVE_RETURN_IF_ERROR(b.add_i32_array("tokenizer.ggml.token_type", v.token_types));
  if (!v.merges.empty()) GROVE_RETURN_IF_ERROR(b.add_string_array("tokenizer.ggml.merges", v.merges));
  if (v.bos_id) GROVE_RETURN_IF_ERROR(b.add_u32("tokenizer.ggml.bos_token_id", *v.bos_id));
  if (v.eos_id) GROVE_RETURN_IF_ERROR(b.add_u32("tokenizer.ggml.eos_token_id", *v.eos_id));
  if (v.unk_id) GROVE_RETURN_IF_ERROR(b.add_u32("tokenizer.ggml.unknown_token_id", *v.unk_id));
  if (v.pad_id) GROVE_RETURN_IF_ERROR(b.add_u32("tokenizer.ggml.padding_token_id", *v.pad_id));
  if (v.add_bos) GROVE_RETURN_IF_ERROR(b.add_bool("tokenizer.ggml.add_bos_token", *v.add_bos));
  if (v.add_eos) GROVE_RETURN_IF_ERROR(b.add_bool("tokenizer.ggml.add_eos_token", *v.add_eos));
  if (v.add_space_prefix) GROVE_RETURN_IF_ERROR(b.add_bool("tokenizer.ggml.add_space_prefix", *v.add_space_prefix));
  if (v.chat_template) GROVE_RETURN_IF_ERROR(b.add_string("tokenizer.chat_template", *v.chat_template));
  return Status::ok();
}

}  // namespace grove::formats
