#include "formats/quantize.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/formats/ggml_reference.h"

using namespace grove;
using namespace grove::formats;
using grove::testing::GgmlReference;
using grove::testing::GgmlRowFn;

namespace {

constexpr QuantType kReferenceTypes[] = {QuantType::kQ8_0, QuantType::kQ4_0, QuantType::kQ4_1, QuantType::kQ5_0,
                                         QuantType::kQ5_1, QuantType::kF16,  QuantType::kBF16, QuantType::kQ6_K,
                                         QuantType::kQ4_K, QuantType::kQ5_K};

std::string hex(const std::uint8_t* p, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

// Empty when ours equals the reference over the whole input; otherwise names the first
// differing block with its input and both encodings.
std::string compare_with_reference(QuantType type, const std::vector<float>& x, std::size_t row_length) {
  GgmlReference& ref = GgmlReference::instance();
  GgmlRowFn ref_row = ref.row(type);
  if (!ref_row) return ref.error();
  const std::size_t row_bytes = quantized_row_size(type, row_length);
  const std::size_t rows = x.size() / row_length;
  std::vector<std::uint8_t> ours(rows * row_bytes, 0xAA);
  std::vector<std::uint8_t> theirs(rows * row_bytes, 0x55);
  for (std::size_t r = 0; r < rows; ++r) {
    std::span<const float> in(x.data() + r * row_length, row_length);
    const Status s = quantize_row(type, in, std::span(ours.data() + r * row_bytes, row_bytes));
    if (!s.is_ok()) return s.to_string();
    ref_row(in.data(), theirs.data() + r * row_bytes, static_cast<std::int64_t>(row_length));
  }
  if (std::memcmp(ours.data(), theirs.data(), ours.size()) == 0) return "";
  std::size_t byte = 0;
  while (ours[byte] == theirs[byte]) ++byte;
  const std::size_t bb = quant_block_bytes(type);
  const std::size_t be = quant_block_elements(type);
  const std::size_t block = byte / bb;
  std::size_t differing = 0;
  for (std::size_t i = 0; i < ours.size(); ++i) differing += ours[i] != theirs[i];
  std::ostringstream msg;
  msg.precision(9);
  msg << quant_type_name(type) << ": " << differing << " of " << ours.size() << " bytes differ; first in block "
      << block << " (byte " << byte - block * bb << " of the block)\n  input:";
  for (std::size_t i = 0; i < be; ++i) msg << ' ' << x[block * be + i];
  msg << "\n  ours:      " << hex(&ours[block * bb], bb) << "\n  reference: " << hex(&theirs[block * bb], bb);
  return msg.str();
}

// --- Adversarial inputs. Every set's length is a multiple of 256 so every type can take it. ---

struct DataSet {
  std::string name;
  std::vector<float> values;
  std::size_t row_length;  // multiple of 256
};

// Blocks in which some quant of Q4_0, Q5_0 or Q4_1 (8 blocks each) comes out differently
// when x·id + c is computed with one rounding (fused multiply-add) instead of two. A quantizer
// compiled with contraction fails on these; random data rarely hits the case.
std::vector<float> fma_traps(std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> traps;
  int found[3] = {0, 0, 0};
  std::uniform_int_distribution<int> level(1, 15);
  for (int attempt = 0; attempt < 200000 && traps.size() < 24 * 32; ++attempt) {
    float x[32];
    if (attempt % 2 == 0) {
      for (float& f : x) f = bf16_to_fp32(fp32_to_bf16(normal(rng)));
    } else {
      // Q4_1 only hits when (x − min)·id lands just below ½, so plant values near min + d/2.
      const float d = std::fabs(normal(rng)) + 0.01f;
      const float lo = -std::fabs(normal(rng));
      x[0] = lo;
      x[1] = lo + 15 * d;
      for (int i = 2; i < 32; ++i) x[i] = lo + (i % 2 ? 0.5f : static_cast<float>(level(rng)) - 0.5f) * d;
    }
    float amax = 0, signed_max = 0, lo = FLT_MAX, hi = -FLT_MAX;
    for (float f : x) {
      if (std::fabs(f) > amax) amax = std::fabs(f), signed_max = f;
      lo = std::min(lo, f);
      hi = std::max(hi, f);
    }
    const float id4 = 1.0f / (signed_max / -8), id5 = 1.0f / (signed_max / -16), id1 = 1.0f / ((hi - lo) / 15);
    bool hit[3] = {false, false, false};
    for (float f : x) {
      const float p4 = f * id4, p5 = f * id5, p1 = (f - lo) * id1;
      hit[0] |= static_cast<int>(p4 + 8.5f) != static_cast<int>(std::fma(f, id4, 8.5f));
      hit[1] |= static_cast<int>(p5 + 16.5f) != static_cast<int>(std::fma(f, id5, 16.5f));
      hit[2] |= static_cast<int>(p1 + 0.5f) != static_cast<int>(std::fma(f - lo, id1, 0.5f));
    }
    for (int t = 0; t < 3; ++t) {
      if (hit[t] && found[t] < 8) {
        ++found[t];
        traps.insert(traps.end(), x, x + 32);
        break;
      }
    }
  }
  while (traps.size() % 256 != 0) traps.push_back(0.0f);
  return traps;
}

std::vector<DataSet> adversarial_data() {
  std::mt19937 rng(20261129);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto normals = [&](std::size_t n, float scale) {
    std::vector<float> v(n);
    for (float& f : v) f = normal(rng) * scale;
    return v;
  };
  std::vector<DataSet> sets;
  sets.push_back({"zeros", std::vector<float>(1024, 0.0f), 1024});

  std::vector<float> constant;
  for (float c : {1.0f, -3.7f, 0.1f, 1e-30f, -65504.0f, 7e4f, 1e-42f, -0.0f}) constant.insert(constant.end(), 256, c);
  sets.push_back({"constant rows", constant, 256});

  sets.push_back({"huge (1e30)", normals(2048, 1e30f), 2048});
  sets.push_back({"near fp16 overflow", normals(2048, 4e4f), 2048});
  sets.push_back({"tiny (1e-30)", normals(2048, 1e-30f), 2048});
  sets.push_back({"tiny (1e-6)", normals(2048, 1e-6f), 2048});
  sets.push_back({"fp16 subnormal range", normals(2048, 3e-6f), 2048});
  sets.push_back({"float subnormals", normals(2048, 1e-40f), 2048});

  std::vector<float> mixed_sub = normals(2048, 1.0f);
  for (std::size_t i = 0; i < mixed_sub.size(); ++i) {
    if (i % 3 == 0) mixed_sub[i] = (i % 2 ? -1.0f : 1.0f) * FLT_TRUE_MIN * static_cast<float>(i % 97);
    if (i % 5 == 0) mixed_sub[i] = FLT_MIN * 0.5f;
  }
  sets.push_back({"subnormals mixed in", mixed_sub, 1024});

  std::vector<float> extremes = normals(2048, 1.0f);
  for (std::size_t i = 0; i < extremes.size(); ++i) {
    if (i % 37 == 0) extremes[i] = FLT_MAX / 2;
    if (i % 41 == 0) extremes[i] = -FLT_MAX / 2;
  }
  extremes.insert(extremes.end(), 256, FLT_MAX / 2);
  for (int i = 0; i < 256; ++i) extremes.push_back(i % 2 ? FLT_MAX / 2 : -FLT_MAX / 2);
  sets.push_back({"extremes (+-FLT_MAX/2)", extremes, 256});

  std::vector<float> infinities = normals(1024, 1.0f);
  for (std::size_t i = 0; i < infinities.size(); i += 29) infinities[i] = i % 2 ? INFINITY : -INFINITY;
  sets.push_back({"infinities", infinities, 256});

  // Values on exact halves and quarters of powers of two: ties after scaling for every rule.
  std::uniform_int_distribution<int> small(-64, 64);
  std::vector<float> ties;
  for (int block = 0; block < 64; ++block) {
    const float unit = std::ldexp(1.0f, block % 9 - 4);
    for (int i = 0; i < 32; ++i) ties.push_back(static_cast<float>(small(rng)) * 0.5f * unit);
  }
  // Q8_0: block max 127 makes id exactly 1, so k + 0.5 is a tie for roundf.
  for (int i = 0; i < 32; ++i) ties.push_back(i == 0 ? 127.0f : static_cast<float>(i % 16 - 8) + 0.5f);
  // Q4_0/Q5_0: signed max -8 / -16 makes d exactly 1.
  for (int i = 0; i < 32; ++i) ties.push_back(i == 0 ? -8.0f : static_cast<float>(i % 8) * 0.5f);
  for (int i = 0; i < 32; ++i) ties.push_back(i == 0 ? -16.0f : static_cast<float>(i % 16 - 8) * 0.5f);
  for (int i = 0; i < 32 * 5; ++i) ties.push_back(static_cast<float>(i % 31) * 0.5f - 7.0f);
  sets.push_back({"exact ties", ties, 256});

  // bf16-exact values (what a BF16 checkpoint holds).
  std::vector<float> bf16_exact = normals(4096, 0.02f);
  for (float& f : bf16_exact) f = bf16_to_fp32(fp32_to_bf16(f));
  sets.push_back({"bf16-exact", bf16_exact, 4096});

  // Equal magnitudes with both signs: the first occurrence decides the sign of the scale.
  std::vector<float> equal_max = normals(1024, 0.3f);
  for (std::size_t b = 0; b < equal_max.size(); b += 32) {
    equal_max[b + 3] = (b / 32) % 2 ? 2.0f : -2.0f;
    equal_max[b + 20] = -equal_max[b + 3];
  }
  sets.push_back({"equal maxima of both signs", equal_max, 1024});

  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> positive(2048);
  for (float& f : positive) f = unit(rng) + 0.5f;
  sets.push_back({"all positive", positive, 2048});

  std::vector<float> outliers = normals(8192, 1.0f);
  std::uniform_int_distribution<int> pick(0, 99);
  for (float& f : outliers) {
    if (pick(rng) == 0) f *= 100.0f;
  }
  sets.push_back({"normals with outliers", outliers, 4096});

  std::vector<float> sparse(2048, 0.0f);
  for (std::size_t i = 0; i < sparse.size(); i += 7) sparse[i] = (i % 2 ? 1.0f : -1.0f) * static_cast<float>(i % 5);
  sets.push_back({"sparse", sparse, 512});

  // Super-blocks whose sub-blocks (32 values for Q4_K/Q5_K, 16 for Q6_K) are each of another
  // kind: the vector paths fit eight sub-blocks at once, one per lane, and a lane that ends
  // early in the scalar code (flat, tiny) must not disturb its neighbours.
  std::vector<float> kinds;
  for (int block = 0; block < 24; ++block) {
    for (int sub = 0; sub < 16; ++sub) {
      const std::vector<float> v = normals(16, 1.0f);
      for (int i = 0; i < 16; ++i) {
        float f = v[static_cast<std::size_t>(i)];
        switch ((sub + block) % 9) {
          case 0: f = 0.0f; break;                           // zeros
          case 1: f = 0.75f; break;                          // flat
          case 2: f *= 1e-20f; break;                        // tiny
          case 3: f = std::fabs(f) + 0.25f; break;           // positive only (min clamps to 0)
          case 4: f = -std::fabs(f) - 0.25f; break;          // negative only
          case 5: f *= 1e30f; break;                         // huge
          case 6: f = i == 5 ? 40.0f : f * 0.01f; break;     // one outlier
          case 7: f = static_cast<float>(i % 4) * 0.5f; break;  // ties
          default: break;                                    // plain normals
        }
        kinds.push_back(f);
      }
    }
  }
  sets.push_back({"sub-blocks of every kind", kinds, 512});

  sets.push_back({"many rows", normals(512 * 1024, 0.05f), 1024});
  sets.push_back({"fused multiply-add traps", fma_traps(rng), 256});
  return sets;
}

}  // namespace

TEST_CASE("the llama.cpp reference library is installed", "[formats]") {
  INFO("expected from scripts/setup: npm ci in tests/ggml_ref");
  REQUIRE(GgmlReference::instance().error() == "");
}

// Both ways: with the vector paths (AVX2, where the CPU has it) and with the scalar code alone.
TEST_CASE("quantizers are byte-identical to llama.cpp's reference", "[formats]") {
  REQUIRE(GgmlReference::instance().error() == "");
  const std::vector<DataSet> sets = adversarial_data();
  for (bool vector : {true, false}) {
    set_vector_paths(vector);
    for (QuantType type : kReferenceTypes) {
      for (const DataSet& set : sets) {
        INFO(quant_type_name(type) << " on " << set.name << (vector ? "" : ", scalar code"));
        CHECK(compare_with_reference(type, set.values, set.row_length) == "");
      }
    }
  }
  set_vector_paths(true);
}

// The exporter feeds BF16 weights to quantize_row_bf16, which decodes and quantizes in one
// pass (AVX2 for Q8_0 and Q4_0 when the CPU has it): the reference must agree on those rows.
TEST_CASE("BF16 rows quantize to the reference's bytes in one pass", "[formats]") {
  REQUIRE(GgmlReference::instance().error() == "");
  GgmlReference& ref = GgmlReference::instance();
  for (bool vector : {true, false}) {
    set_vector_paths(vector);
    for (const DataSet& set : adversarial_data()) {
      std::vector<std::uint16_t> bits(set.values.size());
      std::vector<float> decoded(set.values.size());
      for (std::size_t i = 0; i < bits.size(); ++i) {
        bits[i] = fp32_to_bf16(set.values[i]);
        decoded[i] = bf16_to_fp32(bits[i]);
      }
      for (QuantType type : kReferenceTypes) {
        INFO(quant_type_name(type) << " on " << set.name << " as BF16" << (vector ? "" : ", scalar code"));
        GgmlRowFn ref_row = ref.row(type);
        REQUIRE(ref_row);
        const std::size_t row_bytes = quantized_row_size(type, set.row_length);
        const std::size_t rows = bits.size() / set.row_length;
        std::vector<std::uint8_t> ours(rows * row_bytes, 0xAA), theirs(rows * row_bytes, 0x55);
        for (std::size_t r = 0; r < rows; ++r) {
          REQUIRE(quantize_row_bf16(type, std::span(bits.data() + r * set.row_length, set.row_length),
                                    std::span(ours.data() + r * row_bytes, row_bytes))
                      .is_ok());
          ref_row(decoded.data() + r * set.row_length, theirs.data() + r * row_bytes,
                  static_cast<std::int64_t>(set.row_length));
        }
        CHECK(ours == theirs);
      }
    }
  }
  set_vector_paths(true);
}

// Every BF16 bit pattern, NaN and infinities included (where the reference's bytes are the
// compiler's choice), gives the same bytes on the one-pass path as decoding then quantize_row.
TEST_CASE("the one-pass BF16 path equals decoding then quantizing, for any bits", "[formats]") {
  std::mt19937 rng(20261129);
  std::uniform_int_distribution<int> any_bits(0, 0xffff);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  constexpr std::size_t kRow = 4096;
  std::vector<std::uint16_t> bits(kRow * 64);
  for (std::size_t i = 0; i < bits.size(); ++i) {
    const std::size_t row = i / kRow;
    if (row < 24) bits[i] = static_cast<std::uint16_t>(any_bits(rng));          // anything
    else if (row < 48) bits[i] = fp32_to_bf16(normal(rng));                      // weights
    else if (row < 56) bits[i] = static_cast<std::uint16_t>(i % 7 == 0 ? 0x3f80 : 0xbf80);  // ±1 ties
    else bits[i] = static_cast<std::uint16_t>((i % 32 == 5 ? 0x7f80 : 0x0001) | (i % 3 == 0 ? 0x8000 : 0));  // inf, subnormals
  }
  std::vector<float> decoded(bits.size());
  for (std::size_t i = 0; i < bits.size(); ++i) decoded[i] = bf16_to_fp32(bits[i]);
  std::vector<float> bulk(bits.size());
  bf16_row_to_f32(bits, bulk.data());
  CHECK(std::memcmp(bulk.data(), decoded.data(), bits.size() * sizeof(float)) == 0);
  for (QuantType type : {QuantType::kQ8_0, QuantType::kQ4_0, QuantType::kQ5_0, QuantType::kQ4_K, QuantType::kF16}) {
    INFO(quant_type_name(type));
    const std::size_t row_bytes = quantized_row_size(type, kRow);
    for (std::size_t r = 0; r < bits.size() / kRow; ++r) {
      INFO("row " << r);
      std::vector<std::uint8_t> fused(row_bytes, 0xAA), plain(row_bytes, 0x55);
      REQUIRE(quantize_row_bf16(type, std::span(bits.data() + r * kRow, kRow), fused).is_ok());
      REQUIRE(quantize_row(type, std::span(decoded.data() + r * kRow, kRow), plain).is_ok());
      CHECK(fused == plain);
    }
  }
  // Rows whose block count is not a multiple of eight (the AVX2 paths take eight blocks at a
  // time, then the rest one by one): 13 blocks, and 3.
  for (QuantType type : {QuantType::kQ8_0, QuantType::kQ4_0}) {
    for (std::size_t length : {std::size_t{13 * 32}, std::size_t{3 * 32}}) {
      INFO(quant_type_name(type) << ", rows of " << length);
      const std::size_t row_bytes = quantized_row_size(type, length);
      for (std::size_t at = 0; at + length <= bits.size(); at += 7 * length) {
        std::vector<std::uint8_t> fused(row_bytes, 0xAA), plain(row_bytes, 0x55);
        REQUIRE(quantize_row_bf16(type, std::span(bits.data() + at, length), fused).is_ok());
        REQUIRE(quantize_row(type, std::span(decoded.data() + at, length), plain).is_ok());
        CHECK(fused == plain);
      }
    }
  }
  std::vector<std::uint8_t> out(100);
  CHECK(quantize_row_bf16(QuantType::kQ8_0, std::span(bits.data(), 48), out).code() == Code::kInvalidArgument);
}

TEST_CASE("F16 and BF16 match ggml on every kind of float", "[formats]") {
  REQUIRE(GgmlReference::instance().error() == "");
  auto scalar_fp16 = GgmlReference::instance().function<std::uint16_t (*)(float)>("ggml_fp32_to_fp16");
  REQUIRE(scalar_fp16 != nullptr);
  // Random bit patterns cover every exponent, infinities and NaNs; the list adds the edges.
  std::mt19937 rng(7);
  std::vector<float> values;
  for (int i = 0; i < (1 << 18); ++i) {
    const std::uint32_t bits = rng();
    float f;
    std::memcpy(&f, &bits, sizeof f);
    values.push_back(f);
  }
  for (float f : {65504.0f, 65519.99f, 65520.0f, 65536.0f, 0x1p-24f, 0x1p-25f, 0x1.8p-25f, 0x1p-26f, 0x1.ffcp-15f,
                  0x1p-14f, FLT_MAX, FLT_MIN, FLT_TRUE_MIN, INFINITY, -INFINITY, NAN, -NAN, 0.0f, -0.0f}) {
    values.push_back(f);
    values.push_back(-f);
  }
  while (values.size() % 256 != 0) values.push_back(1.0f);
  CHECK(compare_with_reference(QuantType::kF16, values, values.size()) == "");
  CHECK(compare_with_reference(QuantType::kBF16, values, values.size()) == "");
  std::size_t scalar_mismatches = 0;
  for (float f : values) scalar_mismatches += fp32_to_fp16(f) != scalar_fp16(f);
  CHECK(scalar_mismatches == 0);
}

TEST_CASE("fp16 and bf16 decode exactly", "[formats]") {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const auto bits = static_cast<std::uint16_t>(h);
    const bool nan16 = (h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0;
    if (!nan16) REQUIRE(fp32_to_fp16(fp16_to_fp32(bits)) == bits);
    const bool nanbf = (h & 0x7f80) == 0x7f80 && (h & 0x007f) != 0;
    if (!nanbf) REQUIRE(fp32_to_bf16(bf16_to_fp32(bits)) == bits);
  }
  CHECK(fp16_to_fp32(0x3c00) == 1.0f);
  CHECK(fp16_to_fp32(0x0001) == 0x1p-24f);
  CHECK(fp16_to_fp32(0xfbff) == -65504.0f);
  CHECK(bf16_to_fp32(0x3f80) == 1.0f);
}

TEST_CASE("row sizes follow the block table", "[formats]") {
  struct Expected {
    QuantType type;
    const char* name;
    std::uint32_t id;
    std::size_t bytes_for_4096;
  };
  const Expected table[] = {
      {QuantType::kF32, "F32", 0, 16384},   {QuantType::kF16, "F16", 1, 8192},    {QuantType::kBF16, "BF16", 30, 8192},
      {QuantType::kQ4_0, "Q4_0", 2, 2304},  {QuantType::kQ4_1, "Q4_1", 3, 2560},  {QuantType::kQ5_0, "Q5_0", 6, 2816},
      {QuantType::kQ5_1, "Q5_1", 7, 3072},  {QuantType::kQ8_0, "Q8_0", 8, 4352},  {QuantType::kQ4_K, "Q4_K", 12, 2304},
      {QuantType::kQ5_K, "Q5_K", 13, 2816}, {QuantType::kQ6_K, "Q6_K", 14, 3360},
  };
  for (const Expected& e : table) {
    INFO(e.name);
    CHECK(quant_type_name(e.type) == e.name);
    CHECK(parse_quant_type(e.name) == e.type);
    CHECK(ggml_type_id(e.type) == e.id);
    CHECK(quantized_row_size(e.type, 4096) == e.bytes_for_4096);
  }
  CHECK(quantized_row_size(QuantType::kQ4_K, 896) == 0);  // Qwen2.5-0.5B's hidden size
  CHECK(quantized_row_size(QuantType::kQ8_0, 896) == 952);
  CHECK_FALSE(parse_quant_type("q4_k").has_value());
  CHECK_FALSE(parse_quant_type("Q4_K_M").has_value());  // a mix, not a block type
}

TEST_CASE("quantize_row refuses ragged rows and wrong buffers", "[formats]") {
  std::vector<float> in(896, 1.0f);
  std::vector<std::uint8_t> out(2000, 0x11);
  Status s = quantize_row(QuantType::kQ6_K, in, out);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("256") != std::string::npos);
  s = quantize_row(QuantType::kQ8_0, in, std::span(out).first(951));
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(out[0] == 0x11);
  CHECK(quantize_row(QuantType::kQ8_0, in, std::span(out).first(952)).is_ok());
  CHECK(quantize_row(QuantType::kQ8_0, {}, {}).is_ok());

  std::vector<float> f32 = {1.5f, -2.0f};
  std::vector<std::uint8_t> bytes(8);
  REQUIRE(quantize_row(QuantType::kF32, f32, bytes).is_ok());
  CHECK(std::memcmp(bytes.data(), f32.data(), 8) == 0);  // little-endian host
}
