#include "formats/model_config.h"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

namespace grove::formats {
namespace {

using json = nlohmann::json;

// The first of `keys` present with a value that fits a u32 (spec §6.1 lists the aliases).
Result<std::optional<std::uint32_t>> get_u32(const json& j, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    const json* v = &*it;
    if (v->is_array() && !v->empty()) v = &(*v)[0];  // eos_token_id may be a list
    if (!v->is_number_integer() || v->get<std::int64_t>() < 0 ||
        v->get<std::int64_t>() > std::numeric_limits<std::uint32_t>::max()) {
      return invalid_argument(std::string("config.json: ") + key + " must be a non-negative integer");
    }
    return std::optional<std::uint32_t>(v->get<std::uint32_t>());
  }
  return std::optional<std::uint32_t>();
}

Result<std::uint32_t> require_u32(const json& j, std::initializer_list<const char*> keys) {
  GROVE_ASSIGN_OR_RETURN(auto v, get_u32(j, keys));
  if (!v || *v == 0) return invalid_argument(std::string("config.json: missing or zero ") + *keys.begin());
  return *v;
}

std::optional<double> get_number(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

Status parse_rope_scaling(const json& j, RopeScaling& out) {
  auto it = j.find("rope_scaling");
  if (it == j.end() || it->is_null()) return Status::ok();
  if (!it->is_object()) return invalid_argument("config.json: rope_scaling must be an object or null");
  const json& rs = *it;
  std::string type = rs.value("rope_type", rs.value("type", std::string()));
  if (type == "default" || type.empty()) return Status::ok();
  if (type != "linear" && type != "yarn" && type != "llama3") {
    return invalid_argument("config.json: rope_scaling type '" + type + "' is not supported (linear, yarn, llama3 are)");
  }
  out.type = type;
  out.factor = static_cast<float>(get_number(rs, "factor").value_or(1.0));
  out.original_context_length =
      static_cast<std::uint32_t>(get_number(rs, "original_max_position_embeddings").value_or(0));
  out.low_freq_factor = static_cast<float>(get_number(rs, "low_freq_factor").value_or(1.0));
  out.high_freq_factor = static_cast<float>(get_number(rs, "high_freq_factor").value_or(4.0));
  if (!(out.factor > 0)) return invalid_argument("config.json: rope_scaling.factor must be positive");
  if (type == "llama3" && (out.original_context_length == 0 || out.high_freq_factor <= out.low_freq_factor)) {
    return invalid_argument("config.json: llama3 rope_scaling needs original_max_position_embeddings and "
                            "high_freq_factor > low_freq_factor");
  }
  return Status::ok();
}

Result<ModelConfig> parse(const json& j) {
  if (!j.is_object()) return invalid_argument("config.json is not a JSON object");
  ModelConfig c;
  std::string model_type = j.value("model_type", std::string());
  if (auto it = j.find("architectures"); it != j.end() && it->is_array() && !it->empty() && (*it)[0].is_string()) {
    c.hf_architecture = (*it)[0].get<std::string>();
  }
  const std::string& a = c.hf_architecture;
  if (a == "LlamaForCausalLM" || a == "MistralForCausalLM" || (a.empty() && (model_type == "llama" || model_type == "mistral"))) {
    c.arch = ModelArch::kLlama;
  } else if (a == "Qwen2ForCausalLM" || (a.empty() && model_type == "qwen2")) {
    c.arch = ModelArch::kQwen2;
  } else {
    std::string named = !a.empty() ? a : !model_type.empty() ? "model_type " + model_type : "none given";
    return invalid_argument("unsupported architecture '" + named +
                            "': grove exports LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM");
  }
  GROVE_ASSIGN_OR_RETURN(c.hidden_size, require_u32(j, {"hidden_size", "n_embd", "dim"}));
  GROVE_ASSIGN_OR_RETURN(c.intermediate_size, require_u32(j, {"intermediate_size", "n_inner", "hidden_dim"}));
  GROVE_ASSIGN_OR_RETURN(c.num_layers, require_u32(j, {"num_hidden_layers", "n_layers", "n_layer", "num_layers"}));
  GROVE_ASSIGN_OR_RETURN(c.num_heads, require_u32(j, {"num_attention_heads", "n_head", "n_heads"}));
  GROVE_ASSIGN_OR_RETURN(c.vocab_size, require_u32(j, {"vocab_size"}));
  GROVE_ASSIGN_OR_RETURN(auto ctx, get_u32(j, {"max_position_embeddings", "n_ctx", "n_positions"}));
  c.context_length = ctx.value_or(4096);
  GROVE_ASSIGN_OR_RETURN(auto kv, get_u32(j, {"num_key_value_heads", "n_kv_heads"}));
  c.num_kv_heads = kv.value_or(c.num_heads);
  GROVE_ASSIGN_OR_RETURN(auto hd, get_u32(j, {"head_dim"}));
  if (!hd && c.hidden_size % c.num_heads != 0) {
    return invalid_argument("config.json: hidden_size " + std::to_string(c.hidden_size) +
                            " is not a multiple of num_attention_heads " + std::to_string(c.num_heads));
  }
  c.head_dim = hd.value_or(c.hidden_size / c.num_heads);
  if (c.num_kv_heads == 0 || c.num_heads % c.num_kv_heads != 0) {
    return invalid_argument("config.json: num_attention_heads " + std::to_string(c.num_heads) +
                            " is not a multiple of num_key_value_heads " + std::to_string(c.num_kv_heads));
  }
  if (c.head_dim == 0 || c.head_dim % 2 != 0) return invalid_argument("config.json: head_dim must be even and non-zero");
  c.rms_norm_eps = static_cast<float>(get_number(j, "rms_norm_eps").value_or(get_number(j, "norm_eps").value_or(1e-5)));
  double theta = get_number(j, "rope_theta").value_or(10000.0);
  if (auto rp = j.find("rope_parameters"); rp != j.end() && rp->is_object()) {
    theta = get_number(*rp, "rope_theta").value_or(theta);
  }
  c.rope_theta = static_cast<float>(theta);
  if (!(c.rms_norm_eps > 0) || !std::isfinite(c.rms_norm_eps)) return invalid_argument("config.json: bad rms_norm_eps");
  GROVE_RETURN_IF_ERROR(parse_rope_scaling(j, c.rope_scaling));
  c.tie_word_embeddings = j.value("tie_word_embeddings", false);
  c.attention_bias = c.arch == ModelArch::kQwen2 || j.value("attention_bias", false);
  GROVE_ASSIGN_OR_RETURN(c.bos_token_id, get_u32(j, {"bos_token_id"}));
  GROVE_ASSIGN_OR_RETURN(c.eos_token_id, get_u32(j, {"eos_token_id"}));
  GROVE_ASSIGN_OR_RETURN(c.pad_token_id, get_u32(j, {"pad_token_id"}));
  return c;
}

}  // namespace

Result<ModelConfig> parse_model_config(std::string_view config_json) {
  try {
    return parse(json::parse(config_json));
  } catch (const std::exception& e) {
    return invalid_argument(std::string("config.json: ") + e.what());
  }
}

}  // namespace grove::formats
