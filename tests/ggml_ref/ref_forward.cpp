// grove-ref-forward: the reference forward pass that GGUF exports are checked against.
//
// Computes next-token log-probabilities of a Hugging Face llama or qwen2 checkpoint in double
// precision with transformers' semantics, straight from the un-permuted safetensors weights:
// RMSNorm (x · rsqrt(mean x² + eps) · w), RoPE with rotate_half (pairs i and i + hd/2), GQA
// (query head h reads kv head h / (heads / kv_heads)), SwiGLU MLP, qwen2's q/k/v biases, and
// lm_head or, when tied/absent, the embedding matrix. Nothing here knows GGUF's layout, so a
// wrong Q/K permutation in the exporter shows up as a distribution mismatch against llama.cpp.
//
//   grove-ref-forward --model DIR --tokens 1,2,3 [--tokens ...]
//       [--gguf FILE --ggml-lib libggml-base.so]
//
// With --gguf the weights come from that GGUF instead (dequantized by llama.cpp's own
// dequantize_row_* from the given libggml-base.so, Q/K rows un-permuted for llama): the
// "quantize then dequantize" reference that quantized exports are compared with (specs/gguf.md
// §7.3). config.json still gives the hyperparameters.
//
// Output (stdout, JSON): {"vocab": V, "sequences": [[[logp of token 0..V-1] per position] ...]}.
#include <dlfcn.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/safetensors.h"

namespace {

using Json = nlohmann::json;
using Vec = std::vector<double>;

struct Tensor {
  std::vector<std::uint64_t> shape;  // HF order: [rows, cols] for matrices
  Vec data;
};
using Weights = std::map<std::string, Tensor>;

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error(message); }

std::string read_range(const std::filesystem::path& path, std::uint64_t offset, std::uint64_t size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open " + path.string());
  std::string bytes(size, '\0');
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::uint64_t>(in.gcount()) != size) fail("short read in " + path.string());
  return bytes;
}

double f16_to_double(std::uint16_t h) {
  const int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return mant ? NAN : sign * INFINITY;
  return sign * std::ldexp(mant + 1024, exp - 25);
}

double bf16_to_double(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Every tensor of every *.safetensors file in dir, converted to double.
Weights load_safetensors(const std::filesystem::path& dir) {
  Weights weights;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".safetensors") continue;
    const auto size = std::filesystem::file_size(entry.path());
    const std::string first8 = read_range(entry.path(), 0, 8);
    auto length = grove::formats::safetensors_header_length(
        {reinterpret_cast<const std::uint8_t*>(first8.data()), 8}, size);
    if (!length) fail(length.status().message());
    auto header = grove::formats::parse_safetensors_header(read_range(entry.path(), 8, *length), size);
    if (!header) fail(header.status().message());
    for (const auto& info : header->tensors) {
      const std::string raw = read_range(entry.path(), header->data_offset() + info.begin, info.end - info.begin);
      Tensor t{info.shape, Vec(info.element_count())};
      for (std::size_t i = 0; i < t.data.size(); ++i) {
        if (info.dtype == grove::formats::DType::kF32) {
          float f;
          std::memcpy(&f, raw.data() + 4 * i, 4);
          t.data[i] = f;
        } else {
          std::uint16_t h;
          std::memcpy(&h, raw.data() + 2 * i, 2);
          if (info.dtype == grove::formats::DType::kBF16) t.data[i] = bf16_to_double(h);
          else if (info.dtype == grove::formats::DType::kF16) t.data[i] = f16_to_double(h);
          else fail("unsupported dtype for " + info.name);
        }
      }
      weights[info.name] = std::move(t);
    }
  }
  if (weights.empty()) fail("no safetensors in " + dir.string());
  return weights;
}

// --- GGUF input (dequantize-reference mode) ---

struct Reader {
  std::string bytes;
  std::size_t pos = 0;
  template <class T>
  T get() {
    if (pos + sizeof(T) > bytes.size()) fail("GGUF truncated");
    T v;
    std::memcpy(&v, bytes.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::string str() {
    const auto n = get<std::uint64_t>();
    if (pos + n > bytes.size()) fail("GGUF truncated");
    std::string s = bytes.substr(pos, n);
    pos += n;
    return s;
  }
  // Skips one value of GGUF type `type`; returns it when it is a u32 (for general.alignment).
  std::uint64_t skip_value(std::uint32_t type) {
    static const std::size_t kSizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) {
      str();
      return 0;
    }
    if (type == 9) {
      const auto elem = get<std::uint32_t>();
      const auto count = get<std::uint64_t>();
      for (std::uint64_t i = 0; i < count; ++i) skip_value(elem);
      return 0;
    }
    if (type > 12) fail("bad GGUF value type");
    if (type == 4) return get<std::uint32_t>();
    pos += kSizes[type];
    return 0;
  }
};

using DequantFn = void (*)(const void*, float*, std::int64_t);

struct GgmlType {
  const char* symbol;  // dequantizer in libggml-base.so
  std::uint64_t block, bytes;
};
const std::map<std::uint32_t, GgmlType> kGgmlTypes = {
    {0, {nullptr, 1, 4}},                       {1, {"ggml_fp16_to_fp32_row", 1, 2}},
    {30, {"ggml_bf16_to_fp32_row", 1, 2}},      {2, {"dequantize_row_q4_0", 32, 18}},
    {3, {"dequantize_row_q4_1", 32, 20}},       {6, {"dequantize_row_q5_0", 32, 22}},
    {7, {"dequantize_row_q5_1", 32, 24}},       {8, {"dequantize_row_q8_0", 32, 34}},
    {12, {"dequantize_row_q4_K", 256, 144}},    {13, {"dequantize_row_q5_K", 256, 176}},
    {14, {"dequantize_row_q6_K", 256, 210}},
};

// "blk.3.attn_q.weight" -> "model.layers.3.self_attn.q_proj.weight".
std::string hf_name(const std::string& gguf) {
  static const std::map<std::string, std::string> kGlobal = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"}};
  static const std::map<std::string, std::string> kLayer = {
      {"attn_norm", "input_layernorm"},      {"ffn_norm", "post_attention_layernorm"},
      {"attn_q", "self_attn.q_proj"},        {"attn_k", "self_attn.k_proj"},
      {"attn_v", "self_attn.v_proj"},        {"attn_output", "self_attn.o_proj"},
      {"ffn_gate", "mlp.gate_proj"},         {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"}};
  if (auto it = kGlobal.find(gguf); it != kGlobal.end()) return it->second;
  if (gguf.rfind("blk.", 0) != 0) fail("unexpected GGUF tensor " + gguf);
  const auto dot1 = gguf.find('.', 4), dot2 = gguf.rfind('.');
  const std::string layer = gguf.substr(4, dot1 - 4), kind = gguf.substr(dot1 + 1, dot2 - dot1 - 1);
  auto it = kLayer.find(kind);
  if (it == kLayer.end()) fail("unexpected GGUF tensor " + gguf);
  return "model.layers." + layer + "." + it->second + gguf.substr(dot2);
}

// Inverse of the exporter's llama permutation (specs/gguf.md §5.2): GGUF row h·hd + 2i + half
// holds HF row h·hd + half·hd/2 + i.
void unpermute_rows(Tensor& t, std::uint64_t heads) {
  const std::uint64_t rows = t.shape[0], cols = t.shape.size() > 1 ? t.shape[1] : 1, hd = rows / heads;
  Vec out(t.data.size());
  for (std::uint64_t h = 0; h < heads; ++h)
    for (std::uint64_t half = 0; half < 2; ++half)
      for (std::uint64_t i = 0; i < hd / 2; ++i) {
        const std::uint64_t src = h * hd + 2 * i + half, dst = h * hd + half * (hd / 2) + i;
        std::copy_n(t.data.begin() + src * cols, cols, out.begin() + dst * cols);
      }
  t.data = std::move(out);
}

Weights load_gguf(const std::string& path, const std::string& lib_path, bool llama, std::uint64_t heads,
                  std::uint64_t kv_heads) {
  void* lib = dlopen(lib_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) fail(std::string("dlopen: ") + dlerror());
  Reader r{read_range(path, 0, std::filesystem::file_size(path))};
  if (r.get<std::uint32_t>() != 0x46554747 || r.get<std::uint32_t>() != 3) fail("not a GGUF v3 file");
  const auto n_tensors = r.get<std::uint64_t>(), n_kv = r.get<std::uint64_t>();
  std::uint64_t alignment = 32;
  for (std::uint64_t i = 0; i < n_kv; ++i) {
    const std::string key = r.str();
    const auto v = r.skip_value(r.get<std::uint32_t>());
    if (key == "general.alignment") alignment = v;
  }
  struct Info {
    std::string name;
    std::vector<std::uint64_t> dims;
    std::uint32_t type;
    std::uint64_t offset;
  };
  std::vector<Info> infos;
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    Info info{r.str(), {}, 0, 0};
    const auto n_dims = r.get<std::uint32_t>();
    for (std::uint32_t d = 0; d < n_dims; ++d) info.dims.push_back(r.get<std::uint64_t>());
    info.type = r.get<std::uint32_t>();
    info.offset = r.get<std::uint64_t>();
    infos.push_back(std::move(info));
  }
  const std::uint64_t data_start = (r.pos + alignment - 1) / alignment * alignment;
  Weights weights;
  for (const Info& info : infos) {
    auto type = kGgmlTypes.find(info.type);
    if (type == kGgmlTypes.end()) fail("unsupported ggml type " + std::to_string(info.type) + " for " + info.name);
    Tensor t;
    std::uint64_t count = 1;
    for (auto it = info.dims.rbegin(); it != info.dims.rend(); ++it) {
      t.shape.push_back(*it);
      count *= *it;
    }
    const std::uint64_t bytes = count / type->second.block * type->second.bytes;
    if (data_start + info.offset + bytes > r.bytes.size()) fail("tensor data past the end: " + info.name);
    const char* src = r.bytes.data() + data_start + info.offset;
    std::vector<float> f(count);
    if (!type->second.symbol) {
      std::memcpy(f.data(), src, count * 4);
    } else {
      auto fn = reinterpret_cast<DequantFn>(dlsym(lib, type->second.symbol));
      if (!fn) fail(std::string("missing symbol ") + type->second.symbol);
      fn(src, f.data(), static_cast<std::int64_t>(count));
    }
    t.data.assign(f.begin(), f.end());
    const std::string name = hf_name(info.name);
    if (llama && name.find("self_attn.q_proj") != std::string::npos) unpermute_rows(t, heads);
    if (llama && name.find("self_attn.k_proj") != std::string::npos) unpermute_rows(t, kv_heads);
    weights[name] = std::move(t);
  }
  return weights;
}

// --- the forward pass ---

struct Config {
  bool llama = true;
  std::uint64_t hidden, intermediate, layers, heads, kv_heads, head_dim, vocab;
  double eps, theta;
  bool tied;
};

Config read_config(const std::filesystem::path& dir) {
  std::ifstream in(dir / "config.json");
  if (!in) fail("no config.json in " + dir.string());
  const Json j = Json::parse(in);
  Config c;
  const std::string type = j.value("model_type", "");
  if (type != "llama" && type != "qwen2") fail("model_type must be llama or qwen2, got " + type);
  c.llama = type == "llama";
  c.hidden = j.at("hidden_size");
  c.intermediate = j.at("intermediate_size");
  c.layers = j.at("num_hidden_layers");
  c.heads = j.at("num_attention_heads");
  c.kv_heads = j.value("num_key_value_heads", c.heads);
  c.head_dim = j.contains("head_dim") && !j["head_dim"].is_null() ? j["head_dim"].get<std::uint64_t>()
                                                                   : c.hidden / c.heads;
  c.vocab = j.at("vocab_size");
  c.eps = j.at("rms_norm_eps");
  c.theta = j.value("rope_theta", 10000.0);
  c.tied = j.value("tie_word_embeddings", false);
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) fail("rope_scaling is not supported here");
  return c;
}

const Tensor& get(const Weights& w, const std::string& name) {
  auto it = w.find(name);
  if (it == w.end()) fail("missing tensor " + name);
  return it->second;
}

// y = W x (+ b): W is [rows, cols] row-major.
Vec matvec(const Tensor& w, const Vec& x, const Tensor* bias = nullptr) {
  const std::uint64_t rows = w.shape[0], cols = w.shape[1];
  if (cols != x.size()) fail("shape mismatch in matvec");
  Vec y(rows);
  for (std::uint64_t r = 0; r < rows; ++r) {
    double s = 0;
    const double* row = w.data.data() + r * cols;
    for (std::uint64_t c = 0; c < cols; ++c) s += row[c] * x[c];
    y[r] = s + (bias ? bias->data[r] : 0.0);
  }
  return y;
}

Vec rms_norm(const Vec& x, const Tensor& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double scale = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  Vec y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * w.data[i];
  return y;
}

// HF apply_rotary_pos_emb: x·cos + rotate_half(x)·sin, rotate_half(x) = [-x2, x1].
void rope(Vec& v, std::uint64_t n_heads, std::uint64_t hd, std::uint64_t pos, double theta) {
  for (std::uint64_t h = 0; h < n_heads; ++h)
    for (std::uint64_t i = 0; i < hd / 2; ++i) {
      const double inv_freq = 1.0 / std::pow(theta, static_cast<double>(2 * i) / static_cast<double>(hd));
      const double a = static_cast<double>(pos) * inv_freq, c = std::cos(a), s = std::sin(a);
      double& x1 = v[h * hd + i];
      double& x2 = v[h * hd + i + hd / 2];
      const double r1 = x1 * c - x2 * s, r2 = x2 * c + x1 * s;
      x1 = r1;
      x2 = r2;
    }
}

// Log-softmax of the logits after every position of `tokens`.
std::vector<Vec> forward(const Config& c, const Weights& w, const std::vector<std::uint64_t>& tokens) {
  const Tensor& embed = get(w, "model.embed_tokens.weight");
  const Tensor& head = (!c.tied && w.count("lm_head.weight")) ? get(w, "lm_head.weight") : embed;
  const std::uint64_t hd = c.head_dim, group = c.heads / c.kv_heads;
  std::vector<std::vector<Vec>> keys(c.layers), values(c.layers);
  std::vector<Vec> out;
  for (std::uint64_t pos = 0; pos < tokens.size(); ++pos) {
    if (tokens[pos] >= embed.shape[0]) fail("token id out of range");
    Vec x(embed.data.begin() + tokens[pos] * c.hidden, embed.data.begin() + (tokens[pos] + 1) * c.hidden);
    for (std::uint64_t l = 0; l < c.layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      auto bias = [&](const std::string& name) { return w.count(p + name) ? &w.at(p + name) : nullptr; };
      Vec h = rms_norm(x, get(w, p + "input_layernorm.weight"), c.eps);
      Vec q = matvec(get(w, p + "self_attn.q_proj.weight"), h, bias("self_attn.q_proj.bias"));
      Vec k = matvec(get(w, p + "self_attn.k_proj.weight"), h, bias("self_attn.k_proj.bias"));
      Vec v = matvec(get(w, p + "self_attn.v_proj.weight"), h, bias("self_attn.v_proj.bias"));
      rope(q, c.heads, hd, pos, c.theta);
      rope(k, c.kv_heads, hd, pos, c.theta);
      keys[l].push_back(std::move(k));
      values[l].push_back(std::move(v));
      Vec attn(c.heads * hd, 0.0);
      for (std::uint64_t head_i = 0; head_i < c.heads; ++head_i) {
        const std::uint64_t kvh = head_i / group;
        Vec scores(pos + 1);
        double mx = -INFINITY;
        for (std::uint64_t t = 0; t <= pos; ++t) {
          double s = 0;
          for (std::uint64_t d = 0; d < hd; ++d) s += q[head_i * hd + d] * keys[l][t][kvh * hd + d];
          scores[t] = s / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, scores[t]);
        }
        double sum = 0;
        for (double& s : scores) sum += (s = std::exp(s - mx));
        for (std::uint64_t t = 0; t <= pos; ++t)
          for (std::uint64_t d = 0; d < hd; ++d)
            attn[head_i * hd + d] += scores[t] / sum * values[l][t][kvh * hd + d];
      }
      Vec o = matvec(get(w, p + "self_attn.o_proj.weight"), attn);
      for (std::uint64_t i = 0; i < c.hidden; ++i) x[i] += o[i];
      Vec h2 = rms_norm(x, get(w, p + "post_attention_layernorm.weight"), c.eps);
      Vec gate = matvec(get(w, p + "mlp.gate_proj.weight"), h2);
      Vec up = matvec(get(w, p + "mlp.up_proj.weight"), h2);
      for (std::size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
      Vec down = matvec(get(w, p + "mlp.down_proj.weight"), gate);
      for (std::uint64_t i = 0; i < c.hidden; ++i) x[i] += down[i];
    }
    Vec logits = matvec(head, rms_norm(x, get(w, "model.norm.weight"), c.eps));
    double mx = -INFINITY, sum = 0;
    for (double v : logits) mx = std::max(mx, v);
    for (double v : logits) sum += std::exp(v - mx);
    const double lse = mx + std::log(sum);
    for (double& v : logits) v -= lse;
    out.push_back(std::move(logits));
  }
  return out;
}

std::vector<std::uint64_t> parse_tokens(const std::string& text) {
  std::vector<std::uint64_t> tokens;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    tokens.push_back(std::stoull(text.substr(start, comma - start)));
    start = comma + 1;
  }
  if (tokens.empty()) fail("--tokens is empty");
  return tokens;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string model, gguf, lib;
    std::vector<std::vector<std::uint64_t>> sequences;
    for (int i = 1; i + 1 < argc; i += 2) {
      const std::string flag = argv[i], value = argv[i + 1];
      if (flag == "--model") model = value;
      else if (flag == "--gguf") gguf = value;
      else if (flag == "--ggml-lib") lib = value;
      else if (flag == "--tokens") sequences.push_back(parse_tokens(value));
      else fail("unknown flag " + flag);
    }
    if (argc % 2 != 1 || model.empty() || sequences.empty() || (!gguf.empty() && lib.empty()))
      fail("usage: grove-ref-forward --model DIR --tokens 1,2,3 [--tokens ...] [--gguf FILE --ggml-lib LIB]");
    const Config config = read_config(model);
    const Weights weights =
        gguf.empty() ? load_safetensors(model) : load_gguf(gguf, lib, config.llama, config.heads, config.kv_heads);
    Json out = {{"vocab", get(weights, "model.embed_tokens.weight").shape[0]}, {"sequences", Json::array()}};
    for (const auto& tokens : sequences) out["sequences"].push_back(forward(config, weights, tokens));
    std::printf("%s\n", out.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grove-ref-forward: %s\n", e.what());
    return 1;
  }
}
