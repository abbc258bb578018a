// The planning half of GgufExport: everything that can be checked before a byte is produced.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "formats/gguf_export_impl.h"

namespace grove::formats {
namespace {

constexpr std::uint64_t kMaxConfigBytes = 1ull << 20;
constexpr std::uint64_t kMaxTokenizerBytes = 64ull << 20;

std::string shape_string(const std::vector<std::uint64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool is_top_level_safetensors(const std::string& path) {
  return path.find('/') == std::string::npos && path.ends_with(".safetensors");
}

// The shard files: those an index names when there is one, else every top-level
// *.safetensors (leaving out Mistral's consolidated.safetensors when HF shards exist too).
Result<std::vector<std::string>> shard_files(ModelSource& source, const std::vector<SourceFile>& files) {
  std::vector<std::string> shards;
  auto index = read_small_file(source, files, "model.safetensors.index.json", kMaxTokenizerBytes);
  if (index.is_ok()) {
    std::set<std::string> named;
    try {
      auto j = nlohmann::json::parse(*index);
      for (const auto& [tensor, file] : j.at("weight_map").items()) named.insert(file.get<std::string>());
    } catch (const std::exception& e) {
      return invalid_argument(std::string("model.safetensors.index.json: ") + e.what());
    }
    for (const std::string& f : named) {
      bool present = std::any_of(files.begin(), files.end(), [&](const SourceFile& s) { return s.path == f; });
      if (!present) return invalid_argument("shard " + f + " named by model.safetensors.index.json is missing");
      shards.push_back(f);
    }
    return shards;
  }
  if (index.status().code() != Code::kNotFound) return index.status();
  for (const SourceFile& f : files)
    if (is_top_level_safetensors(f.path) && !f.path.starts_with("consolidated")) shards.push_back(f.path);
  if (shards.empty()) {
    for (const SourceFile& f : files)
      if (is_top_level_safetensors(f.path)) shards.push_back(f.path);
  }
  if (shards.empty()) return invalid_argument("the model has no *.safetensors files");
  return shards;
}

Status read_shard_headers(ModelSource& source, const std::vector<SourceFile>& files, const std::vector<std::string>& shards,
                          std::map<std::string, SourceTensor>& out) {
  for (const std::string& shard : shards) {
    auto f = std::find_if(files.begin(), files.end(), [&](const SourceFile& s) { return s.path == shard; });
    std::uint8_t first8[8];
    if (f->size < 8) return invalid_argument(shard + " is too short to be a safetensors file");
    GROVE_RETURN_IF_ERROR(source.read(shard, 0, first8));
    auto len = safetensors_header_length(first8, f->size);
    if (!len.is_ok()) return invalid_argument(shard + ": " + len.status().message());
    std::string json(*len, '\0');
    GROVE_RETURN_IF_ERROR(source.read(shard, 8, {reinterpret_cast<std::uint8_t*>(json.data()), json.size()}));
    auto header = parse_safetensors_header(json, f->size);
    if (!header.is_ok()) return invalid_argument(shard + ": " + header.status().message());
    for (const TensorInfo& t : header->tensors) {
      if (out.count(t.name)) return invalid_argument("tensor " + t.name + " appears in two shards");
      out[t.name] = {shard, header->data_offset() + t.begin, t.dtype, t.shape};
    }
  }
  return Status::ok();
}

// The safetensors tensors a model of this config must have, with their GGUF names.
struct Expected {
  std::string hf;
  std::string gguf;
  std::vector<std::uint64_t> shape;
  bool permute = false;
  std::uint32_t head_dim = 0;
  bool optional = false;
};

std::vector<Expected> expected_tensors(const ModelConfig& c) {
  const std::uint64_t h = c.hidden_size, v = c.vocab_size, ff = c.intermediate_size;
  const std::uint64_t q = std::uint64_t{c.num_heads} * c.head_dim, kv = std::uint64_t{c.num_kv_heads} * c.head_dim;
  const bool llama = c.arch == ModelArch::kLlama;
  std::vector<Expected> e = {
      {"model.embed_tokens.weight", "token_embd.weight", {v, h}},
      {"model.norm.weight", "output_norm.weight", {h}},
      {"lm_head.weight", "output.weight", {v, h}, false, 0, /*optional=*/true},
  };
  for (std::uint32_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".", g = "blk." + std::to_string(i) + ".";
    e.push_back({p + "input_layernorm.weight", g + "attn_norm.weight", {h}});
    e.push_back({p + "self_attn.q_proj.weight", g + "attn_q.weight", {q, h}, llama, c.head_dim});
    e.push_back({p + "self_attn.k_proj.weight", g + "attn_k.weight", {kv, h}, llama, c.head_dim});
    e.push_back({p + "self_attn.v_proj.weight", g + "attn_v.weight", {kv, h}});
    e.push_back({p + "self_attn.o_proj.weight", g + "attn_output.weight", {h, q}});
    if (c.attention_bias) {
      e.push_back({p + "self_attn.q_proj.bias", g + "attn_q.bias", {q}, llama, c.head_dim});
      e.push_back({p + "self_attn.k_proj.bias", g + "attn_k.bias", {kv}, llama, c.head_dim});
      e.push_back({p + "self_attn.v_proj.bias", g + "attn_v.bias", {kv}});
      if (llama) e.push_back({p + "self_attn.o_proj.bias", g + "attn_output.bias", {h}, false, 0, true});
    }
    e.push_back({p + "post_attention_layernorm.weight", g + "ffn_norm.weight", {h}});
    e.push_back({p + "mlp.gate_proj.weight", g + "ffn_gate.weight", {ff, h}});
    e.push_back({p + "mlp.up_proj.weight", g + "ffn_up.weight", {ff, h}});
    e.push_back({p + "mlp.down_proj.weight", g + "ffn_down.weight", {h, ff}});
  }
  return e;
}

int layer_of(const std::string& gguf_name) {
  if (!gguf_name.starts_with("blk.")) return -1;
  return std::atoi(gguf_name.c_str() + 4);
}

// llama-quantize's weight_name_comparer: non-layer tensors first, then by layer, then by name.
bool gguf_order(const TensorJob& a, const TensorJob& b) {
  const int la = layer_of(a.planned.name), lb = layer_of(b.planned.name);
  if (la != lb) return la < lb;
  return a.planned.name < b.planned.name;
}

// Llama 3 rope scaling as a per-frequency factor tensor, computed like convert_hf_to_gguf.
std::vector<float> llama3_rope_factors(const ModelConfig& c) {
  const RopeScaling& rs = c.rope_scaling;
  const double low_wavelen = rs.original_context_length / rs.low_freq_factor;
  const double high_wavelen = rs.original_context_length / rs.high_freq_factor;
  std::vector<float> out;
  for (std::uint32_t i = 0; i < c.head_dim; i += 2) {
    const double freq = 1.0 / std::pow(static_cast<double>(c.rope_theta), static_cast<double>(i) / c.head_dim);
    const double wavelen = 2 * M_PI / freq;
    double f;
    if (wavelen < high_wavelen) f = 1;
    else if (wavelen > low_wavelen) f = rs.factor;
    else {
      const double smooth = (rs.original_context_length / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
      f = 1 / ((1 - smooth) / rs.factor + smooth);
    }
    out.push_back(static_cast<float>(f));
  }
  return out;
}

Status add_model_metadata(GgufBuilder& b, const GgufExport::Impl& m) {
  const ModelConfig& c = m.config;
  const std::string a(c.gguf_arch());
  GROVE_RETURN_IF_ERROR(b.add_string("general.architecture", a));
  if (!m.options.model_name.empty()) GROVE_RETURN_IF_ERROR(b.add_string("general.name", m.options.model_name));
  GROVE_RETURN_IF_ERROR(b.add_u32("general.file_type", m.type.file_type));
  GROVE_RETURN_IF_ERROR(b.add_u32("general.quantization_version", 2));
  GROVE_RETURN_IF_ERROR(b.add_u32(a + ".context_length", c.context_length));
  GROVE_RETURN_IF_ERROR(b.add_u32(a + ".embedding_length", c.hidden_size));
  GROVE_RETURN_IF_ERROR(b.add_u32(a + ".block_count", c.num_layers));
  GROVE_RETURN_IF_ERROR(b.add_u32(a + ".feed_forward_length", c.intermediate_size));
  GROVE_RETURN_IF_ERROR(b.add_u32(a + ".attention.head_count", c.num_heads));
  GROVE_RETURN_IF_ERROR(b.add_u32(a + ".attention.head_count_kv", c.num_kv_heads));
  GROVE_RETURN_IF_ERROR(b.add_f32(a + ".rope.freq_base", c.rope_theta));
  GROVE_RETURN_IF_ERROR(b.add_f32(a + ".attention.layer_norm_rms_epsilon", c.rms_norm_eps));
  if (c.arch == ModelArch::kLlama) GROVE_RETURN_IF_ERROR(b.add_u32(a + ".rope.dimension_count", c.head_dim));
  GROVE_RETURN_IF_ERROR(b.add_u32(a + ".vocab_size", c.vocab_size));
  if (std::uint64_t{c.head_dim} * c.num_heads != c.hidden_size) {
    GROVE_RETURN_IF_ERROR(b.add_u32(a + ".attention.key_length", c.head_dim));
    GROVE_RETURN_IF_ERROR(b.add_u32(a + ".attention.value_length", c.head_dim));
  }
  const RopeScaling& rs = c.rope_scaling;
  if (rs.type == "linear" || rs.type == "yarn") {
    GROVE_RETURN_IF_ERROR(b.add_string(a + ".rope.scaling.type", rs.type));
    GROVE_RETURN_IF_ERROR(b.add_f32(a + ".rope.scaling.factor", rs.factor));
    if (rs.type == "yarn" && rs.original_context_length)
      GROVE_RETURN_IF_ERROR(b.add_u32(a + ".rope.scaling.original_context_length", rs.original_context_length));
  }
  return add_vocab_metadata(b, m.vocab);
}

}  // namespace

Status plan_export(GgufExport::Impl& m) {
  auto type = parse_export_type(m.options.quant);
  if (!type) {
    std::string names;
    for (const ExportType& t : export_types()) names += (names.empty() ? "" : ", ") + std::string(t.name);
    return invalid_argument("unknown quantization '" + m.options.quant + "': use one of " + names);
  }
  m.type = *type;

  GROVE_ASSIGN_OR_RETURN(std::vector<SourceFile> files, m.source.list_files());
  auto config_text = read_small_file(m.source, files, "config.json", kMaxConfigBytes);
  if (!config_text.is_ok()) {
    if (config_text.status().code() == Code::kNotFound) return invalid_argument("the model has no config.json");
    return config_text.status();
  }
  GROVE_ASSIGN_OR_RETURN(m.config, parse_model_config(*config_text));

  auto tokenizer = read_small_file(m.source, files, "tokenizer.json", kMaxTokenizerBytes);
  if (!tokenizer.is_ok()) {
    if (tokenizer.status().code() != Code::kNotFound) return tokenizer.status();
    bool spm = std::any_of(files.begin(), files.end(), [](const SourceFile& f) { return f.path == "tokenizer.model"; });
    return invalid_argument(spm ? "missing tokenizer: the model has tokenizer.model but no tokenizer.json, and grove reads "
                                  "only tokenizer.json"
                                : "missing tokenizer: the model has no tokenizer.json");
  }
  auto tokenizer_config = read_small_file(m.source, files, "tokenizer_config.json", kMaxTokenizerBytes);
  if (!tokenizer_config.is_ok() && tokenizer_config.status().code() != Code::kNotFound) return tokenizer_config.status();
  GROVE_ASSIGN_OR_RETURN(m.vocab, read_vocab(*tokenizer, tokenizer_config.is_ok() ? *tokenizer_config : std::string(), m.config));

  GROVE_ASSIGN_OR_RETURN(std::vector<std::string> shards, shard_files(m.source, files));
  std::map<std::string, SourceTensor> tensors;
  GROVE_RETURN_IF_ERROR(read_shard_headers(m.source, files, shards, tensors));

  const ModelConfig& c = m.config;
  std::set<std::string> used;
  bool has_output = false;
  for (const Expected& e : expected_tensors(c)) {
    auto it = tensors.find(e.hf);
    if (it == tensors.end()) {
      if (e.optional) continue;
      return invalid_argument("tensor " + e.hf + " is missing from the safetensors files");
    }
    const SourceTensor& s = it->second;
    if (s.shape != e.shape) {
      return invalid_argument("tensor " + e.hf + " has shape " + shape_string(s.shape) + " but config.json implies " +
                              shape_string(e.shape));
    }
    TensorJob j;
    j.source = s;
    j.cols = e.shape.back();
    j.rows = e.shape.size() == 2 ? e.shape[0] : 1;
    j.permute = e.permute;
    j.head_dim = e.head_dim;
    if (s.dtype == DType::kF8_E4M3) {
      auto sc = tensors.find(e.hf + "_scale_inv");
      if (sc == tensors.end()) return invalid_argument("FP8 tensor " + e.hf + " has no " + e.hf + "_scale_inv");
      const std::vector<std::uint64_t> want = {(j.rows + kFp8BlockSize - 1) / kFp8BlockSize,
                                               (j.cols + kFp8BlockSize - 1) / kFp8BlockSize};
      if (sc->second.shape != want && !(e.shape.size() == 1 && sc->second.shape == std::vector<std::uint64_t>{want[1]})) {
        return invalid_argument("tensor " + sc->first + " has shape " + shape_string(sc->second.shape) + ", expected " +
                                shape_string(want) + " (128x128 blocks)");
      }
      if (sc->second.dtype != DType::kF32 && sc->second.dtype != DType::kBF16 && sc->second.dtype != DType::kF16) {
        return invalid_argument("tensor " + sc->first + " must be F32, BF16 or F16");
      }
      j.scale = sc->second;
      used.insert(sc->first);
    } else if (s.dtype != DType::kBF16 && s.dtype != DType::kF16 && s.dtype != DType::kF32) {
      return invalid_argument("tensor " + e.hf + " has dtype " + std::string(dtype_name(s.dtype)) +
                              ", and grove exports BF16, F16, F32 and F8_E4M3 weights");
    }
    j.planned.name = e.gguf;
    j.planned.source_name = e.hf;
    j.planned.dims.assign(e.shape.rbegin(), e.shape.rend());
    if (e.gguf == "output.weight") has_output = true;
    used.insert(e.hf);
    m.jobs.push_back(std::move(j));
  }
  for (const auto& [name, t] : tensors) {
    if (used.count(name) || name.ends_with(".rotary_emb.inv_freq")) continue;
    return invalid_argument("unexpected tensor " + name + " (shape " + shape_string(t.shape) + "): not part of a " +
                            std::string(c.gguf_arch()) + " model with " + std::to_string(c.num_layers) +
                            " layers as config.json describes");
  }
  if (c.rope_scaling.type == "llama3") {
    TensorJob j;
    j.values = llama3_rope_factors(c);
    j.cols = j.values.size();
    j.planned.name = "rope_freqs.weight";
    j.planned.dims = {j.cols};
    m.jobs.push_back(std::move(j));
  }

  for (TensorJob& j : m.jobs) {
    TensorTypeQuery q{j.planned.name, j.cols, j.planned.dims.size(), layer_of(j.planned.name),
                      static_cast<int>(c.num_layers), has_output};
    j.planned.type = choose_tensor_type(m.type, q);
  }
  std::stable_sort(m.jobs.begin(), m.jobs.end(), gguf_order);

  GgufBuilder b;
  GROVE_RETURN_IF_ERROR(add_model_metadata(b, m));
  for (TensorJob& j : m.jobs) GROVE_RETURN_IF_ERROR(b.add_tensor(j.planned.name, j.planned.dims, j.planned.type));
  m.header = b.encode_header();
  if (b.alignment() != kGgufDefaultAlignment) return internal_error("unexpected GGUF alignment");
  for (std::size_t i = 0; i < m.jobs.size(); ++i) {
    m.jobs[i].planned.offset = b.header_size() + b.tensor_offset(i);
    m.jobs[i].planned.bytes = b.tensor_bytes(i);
    m.planned.push_back(m.jobs[i].planned);
  }
  m.total_size = b.file_size();
  return Status::ok();
}

}  // namespace grove::formats
