// Written from the rules in ../shared/specs/gguf.md §3–4, not from llama.cpp's code. Every
// float operation below is a single IEEE float32 operation in the order the reference performs
// it; the file is compiled with -ffp-contract=off (formats/CMakeLists.txt) because a fused
// multiply-add changes bytes. Sums run sequentially in element order for the same reason.
#include "formats/quantize.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace grove::formats {
namespace {

constexpr std::size_t kLegacyBlock = 32;
constexpr std::size_t kSuperBlock = 256;

std::uint32_t float_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float bits_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

void put_u16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}

void put_u32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

// C's float-to-integer conversion as the x86-64 reference executes it: toward zero, and the
// "integer indefinite" INT32_MIN for NaN and out-of-range values (undefined in C, so spelled out).
// Narrower targets keep the low bits, as the compiled reference does.
std::int32_t convert_to_int(float v) {
  if (!(v > -2147483904.0f && v < 2147483648.0f)) return INT32_MIN;
  return static_cast<std::int32_t>(v);
}

std::uint8_t low_byte(std::int32_t v) { return static_cast<std::uint8_t>(static_cast<std::uint32_t>(v)); }

std::int8_t as_int8(std::int32_t v) { return static_cast<std::int8_t>(low_byte(v)); }

// Round half to even through the float adder: v + 1.5·2^23 leaves round(v) in the low mantissa
// bits. Exact for |v| <= 2^22 - 1; beyond that (and for inf/NaN) it gives the same garbage the
// reference gives, which is what bit-exactness needs.
std::int32_t nearest_int(float v) {
  const float t = v + 12582912.0f;
  return static_cast<std::int32_t>(float_bits(t) & 0x007fffff) - 0x00400000;
}

// Signed value of the largest magnitude; the first one wins ties.
float signed_absmax(const float* x, std::size_t n) {
  float amax = 0.0f;
  float max = 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  return max;
}

// --- Legacy 32-element blocks -------------------------------------------------------------

#if defined(__SSE2__)
// Four lanes at a time, with exactly the operations the scalar code performs (IEEE float32
// multiply and add are the same in every lane; no FMA exists in SSE2), so the bytes are too.
// The reference compiled for x86-64 is not vectorised; this is only faster, never different.

__m128 abs_mask() { return _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff)); }

// max |x[j]| over a 32-element block; a NaN element is skipped, as std::max(amax, NaN) does.
float block_absmax(const float* x) {
  __m128 m = _mm_setzero_ps();
  for (std::size_t j = 0; j < kLegacyBlock; j += 4) m = _mm_max_ps(_mm_and_ps(_mm_loadu_ps(x + j), abs_mask()), m);
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, m);
  return std::max(std::max(lanes[0], lanes[1]), std::max(lanes[2], lanes[3]));
}

// convert_to_int(std::round(v)) per lane: truncate (INT32_MIN for NaN and out of range, like
// cvttss2si), then step away from zero when the exact fraction v − trunc(v) is at least one
// half. Only below 2^23 can v have a fraction; above, the truncation is already the answer.
__m128i round_away_to_int(__m128 v) {
  const __m128i t = _mm_cvttps_epi32(v);
  const __m128 frac = _mm_sub_ps(v, _mm_cvtepi32_ps(t));
  const __m128 small = _mm_cmplt_ps(_mm_and_ps(v, abs_mask()), _mm_set1_ps(8388608.0f));
  const __m128 up = _mm_and_ps(_mm_cmpge_ps(frac, _mm_set1_ps(0.5f)), small);
  const __m128 down = _mm_and_ps(_mm_cmple_ps(frac, _mm_set1_ps(-0.5f)), small);
  return _mm_add_epi32(_mm_sub_epi32(t, _mm_castps_si128(up)), _mm_castps_si128(down));
}

void quantize_q8_0(const float* x, std::uint8_t* out) {
  const float amax = block_absmax(x);
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_u16(out, fp32_to_fp16(d));
  alignas(16) std::int32_t q[kLegacyBlock];
  const __m128 vid = _mm_set1_ps(id);
  for (std::size_t j = 0; j < kLegacyBlock; j += 4) {
    _mm_store_si128(reinterpret_cast<__m128i*>(q + j), round_away_to_int(_mm_mul_ps(_mm_loadu_ps(x + j), vid)));
  }
  for (std::size_t j = 0; j < kLegacyBlock; ++j) out[2 + j] = low_byte(q[j]);
}

// The signed value of the first element of largest magnitude (signed_absmax for 32 elements).
float block_signed_absmax(const float* x) {
  const float amax = block_absmax(x);
  if (!(amax > 0.0f)) return 0.0f;
  for (std::size_t j = 0; j < kLegacyBlock; ++j) {
    if (std::fabs(x[j]) == amax) return x[j];
  }
  return 0.0f;  // not reached
}

// convert_to_int(x[j] · id + offset) for the 32 elements of a block.
void block_levels(const float* x, float id, float offset, std::int32_t* q) {
  const __m128 vid = _mm_set1_ps(id);
  const __m128 voff = _mm_set1_ps(offset);
  for (std::size_t j = 0; j < kLegacyBlock; j += 4) {
    const __m128 v = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(x + j), vid), voff);
    _mm_store_si128(reinterpret_cast<__m128i*>(q + j), _mm_cvttps_epi32(v));
  }
}
#else
void quantize_q8_0(const float* x, std::uint8_t* out) {
  float amax = 0.0f;
  for (std::size_t j = 0; j < kLegacyBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_u16(out, fp32_to_fp16(d));
  for (std::size_t j = 0; j < kLegacyBlock; ++j) out[2 + j] = low_byte(convert_to_int(std::round(x[j] * id)));
}

float block_signed_absmax(const float* x) { return signed_absmax(x, kLegacyBlock); }

void block_levels(const float* x, float id, float offset, std::int32_t* q) {
  for (std::size_t j = 0; j < kLegacyBlock; ++j) q[j] = convert_to_int(x[j] * id + offset);
}
#endif

// Q4_0 and Q5_0: symmetric around the signed extreme, which maps to level 0.
// levels = 16 or 32; quants are min(levels - 1, int8(x·id + levels/2 + 0.5)).
template <int kLevels>
void quantize_q_0(const float* x, std::uint8_t* out) {
  constexpr float kOffset = kLevels / 2 + 0.5f;
  const float d = block_signed_absmax(x) / -static_cast<float>(kLevels / 2);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_u16(out, fp32_to_fp16(d));
  alignas(16) std::int32_t q[kLegacyBlock];
  block_levels(x, id, kOffset, q);
  std::uint32_t qh = 0;
  std::uint8_t* qs = out + (kLevels == 16 ? 2 : 6);
  for (std::size_t j = 0; j < kLegacyBlock / 2; ++j) {
    const auto q0 = static_cast<std::uint8_t>(std::min<int>(kLevels - 1, as_int8(q[j])));
    const auto q1 = static_cast<std::uint8_t>(std::min<int>(kLevels - 1, as_int8(q[j + 16])));
    qs[j] = static_cast<std::uint8_t>((q0 & 0x0f) | (q1 & 0x0f) << 4);
    qh |= static_cast<std::uint32_t>((q0 >> 4) & 1) << j;
    qh |= static_cast<std::uint32_t>((q1 >> 4) & 1) << (j + 16);
  }
  if constexpr (kLevels == 32) put_u32(out + 2, qh);
}

// Q4_1 and Q5_1: affine from the block minimum. Q4_1 clamps to 15; Q5_1 does not clamp.
template <int kLevels>
void quantize_q_1(const float* x, std::uint8_t* out) {
  float min = FLT_MAX;
  float max = -FLT_MAX;
  for (std::size_t j = 0; j < kLegacyBlock; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
  const float d = (max - min) / static_cast<float>(kLevels - 1);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_u16(out, fp32_to_fp16(d));
  put_u16(out + 2, fp32_to_fp16(min));
  std::uint32_t qh = 0;
  std::uint8_t* qs = out + (kLevels == 16 ? 4 : 8);
  auto level = [&](float v) -> std::uint8_t {
    const std::int32_t q = convert_to_int((v - min) * id + 0.5f);
    if constexpr (kLevels == 16) return static_cast<std::uint8_t>(std::min<int>(15, as_int8(q)));
    return low_byte(q);
  };
  for (std::size_t j = 0; j < kLegacyBlock / 2; ++j) {
    const std::uint8_t q0 = level(x[j]);
    const std::uint8_t q1 = level(x[j + 16]);
    qs[j] = static_cast<std::uint8_t>((q0 & 0x0f) | (q1 & 0x0f) << 4);
    qh |= static_cast<std::uint32_t>((q0 >> 4) & 1) << j;
    qh |= static_cast<std::uint32_t>((q1 >> 4) & 1) << (j + 16);
  }
  if constexpr (kLevels == 32) put_u32(out + 4, qh);
}

// --- AVX2: BF16 rows decoded and quantized in one pass -------------------------------------
// Eight lanes with exactly the scalar code's float operations (a multiply, then an add; AVX2
// has no implicit FMA and -ffp-contract=off keeps the compiler from fusing), so the bytes are
// the scalar path's. Compiled per function for AVX2 and chosen at run time (cpu_has_avx2), so
// the binary still runs on CPUs without it.
#if defined(__x86_64__) && defined(__GNUC__)
#define GROVE_HAVE_AVX2_PATH 1
#define GROVE_AVX2 __attribute__((target("avx2")))
#define GROVE_AVX2_F16C __attribute__((target("avx2,f16c")))

// AVX2, and F16C (every AVX2 CPU has it; checked all the same).
bool cpu_has_avx2() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0 && __builtin_cpu_supports("f16c") != 0;
  }();
  return has;
}

// 32 BF16 values (bits) as four vectors of eight floats: the bits shifted into the upper half,
// which is bf16_to_fp32 exactly.
GROVE_AVX2 inline void load_bf16_block(const std::uint16_t* p, __m256 v[4]) {
  for (int i = 0; i < 4; ++i) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8 * i));
    v[i] = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

GROVE_AVX2 inline __m256 abs_mask8() { return _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)); }

// The lane-wise |x| maxima of one block; NaN lanes are skipped (max_ps returns its second
// operand), as std::max(amax, NaN) does.
GROVE_AVX2 inline __m256 block_absmax_lanes(const __m256 v[4]) {
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < 4; ++i) m = _mm256_max_ps(_mm256_and_ps(v[i], abs_mask8()), m);
  return m;
}

// max |x| over the block. The lanes hold no NaN, so the order of the reduction is free.
GROVE_AVX2 inline float block_absmax8(const __m256 v[4]) {
  const __m256 m = block_absmax_lanes(v);
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  return _mm_cvtss_f32(h);
}

// round_away_to_int for eight lanes (see the SSE2 version).
GROVE_AVX2 inline __m256i round_away_to_int8(__m256 v) {
  const __m256i t = _mm256_cvttps_epi32(v);
  const __m256 frac = _mm256_sub_ps(v, _mm256_cvtepi32_ps(t));
  const __m256 small = _mm256_cmp_ps(_mm256_and_ps(v, abs_mask8()), _mm256_set1_ps(8388608.0f), _CMP_LT_OS);
  const __m256 up = _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OS), small);
  const __m256 down = _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(-0.5f), _CMP_LE_OS), small);
  return _mm256_add_epi32(_mm256_sub_epi32(t, _mm256_castps_si256(up)), _mm256_castps_si256(down));
}

// Q8_0's quants of one block, given 1/d: round_away(x·id), low bytes.
GROVE_AVX2 inline void q8_0_quants8(const __m256 v[4], __m256 vid, std::uint8_t* qs) {
  const __m256i low = _mm256_set1_epi32(0xff);
  __m256i q[4];
  for (int i = 0; i < 4; ++i) q[i] = _mm256_and_si256(round_away_to_int8(_mm256_mul_ps(v[i], vid)), low);
  // Low bytes (0..255, so the saturating packs keep them), then undo the packs' lane order.
  const __m256i bytes = _mm256_packus_epi16(_mm256_packus_epi32(q[0], q[1]), _mm256_packus_epi32(q[2], q[3]));
  const __m256i ordered = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs), ordered);
}

GROVE_AVX2 inline void q8_0_block8(const __m256 v[4], std::uint8_t* out) {
  const float amax = block_absmax8(v);
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_u16(out, fp32_to_fp16(d));
  q8_0_quants8(v, _mm256_set1_ps(id), out + 2);
}

// Maxima of neighbouring lanes of two vectors: [a01 a23 b01 b23 | a45 a67 b45 b67].
GROVE_AVX2 inline __m256 hmax_pairs(__m256 a, __m256 b) {
  return _mm256_max_ps(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

// Lane k: the maximum over the lanes of m[k] (NaN-free, so the order is free), for eight
// vectors at once: a max-tree shaped like the hadd reduction of eight vectors.
GROVE_AVX2 inline __m256 hmax_each8(const __m256 m[8]) {
  const __m256 u0 = hmax_pairs(hmax_pairs(m[0], m[1]), hmax_pairs(m[2], m[3]));  // [m0..m3 low | m0..m3 high]
  const __m256 u1 = hmax_pairs(hmax_pairs(m[4], m[5]), hmax_pairs(m[6], m[7]));
  return _mm256_max_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// block_signed_absmax: the first element whose magnitude is `amax` (the block's maximum).
// Found without a branch on where it is (which vector holds it is random, and mispredicting
// that cost more than the rest of the block): one 32-bit mask of the elements at the maximum,
// its lowest bit.
GROVE_AVX2 inline float q4_0_signed_max(const std::uint16_t* x, const __m256 v[4], float amax) {
  if (!(amax > 0.0f)) return 0.0f;
  const __m256 va = _mm256_set1_ps(amax);
  std::uint32_t hits = 0;
  for (int i = 0; i < 4; ++i)
    hits |= static_cast<std::uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(v[i], abs_mask8()), va, _CMP_EQ_OQ)))
            << (8 * i);
  return hits ? bits_float(static_cast<std::uint32_t>(x[__builtin_ctz(hits)]) << 16) : 0.0f;  // lane j of v[i]: element 8i + j
}

// Q4_0's quants of one block, given 1/d.
GROVE_AVX2 inline void q4_0_quants8(const __m256 v[4], __m256 vid, std::uint8_t* qs) {
  const __m256 voff = _mm256_set1_ps(8.5f);
  __m256i n[4];
  for (int i = 0; i < 4; ++i) {
    // convert_to_int(x·id + 8.5), then min(15, int8 of its low byte), then its low nibble.
    const __m256i q = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(v[i], vid), voff));
    const __m256i s8 = _mm256_srai_epi32(_mm256_slli_epi32(q, 24), 24);
    n[i] = _mm256_and_si256(_mm256_min_epi32(s8, _mm256_set1_epi32(15)), _mm256_set1_epi32(0x0f));
  }
  // qs[j] = q[j] | q[j + 16] << 4: elements 0..7 with 16..23, 8..15 with 24..31.
  const __m256i p0 = _mm256_or_si256(n[0], _mm256_slli_epi32(n[2], 4));
  const __m256i p1 = _mm256_or_si256(n[1], _mm256_slli_epi32(n[3], 4));
  const __m256i w = _mm256_packus_epi32(p0, p1);
  const __m256i bytes = _mm256_packus_epi16(w, w);
  const __m256i ordered = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qs), _mm256_castsi256_si128(ordered));
}

GROVE_AVX2 inline void q4_0_block8(const std::uint16_t* x, const __m256 v[4], std::uint8_t* out) {
  const float d = q4_0_signed_max(x, v, block_absmax8(v)) / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_u16(out, fp32_to_fp16(d));
  q4_0_quants8(v, _mm256_set1_ps(id), out + 2);
}

// The scales of eight blocks at once, d = m / divisor lane by lane: 1/d (0 for d = 0, as the
// scalar code's d != 0 ? 1/d : 0, an unordered compare like C++'s !=) into `ids`, and d as
// float16 into `halves` by F16C's vcvtps2ph, which rounds to nearest even exactly as
// fp32_to_fp16 does (checked over every non-NaN float; d is never NaN).
GROVE_AVX2_F16C inline void scales8(__m256 m, float divisor, float ids[8], std::uint16_t halves[8]) {
  const __m256 d = _mm256_div_ps(m, _mm256_set1_ps(divisor));
  const __m256 id = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(1.0f), d), _mm256_cmp_ps(d, _mm256_setzero_ps(), _CMP_NEQ_UQ));
  _mm256_storeu_ps(ids, id);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(halves), _mm256_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// Q8_0 (kSignedMax false: d = max|x| / 127) and Q4_0 (true: d = the signed maximum / -8) rows,
// eight blocks at a time, so the scales' two divisions and their float16 conversion run once
// per eight blocks (scales8) rather than once per block; the blocks are loaded again (from L1)
// for each pass. A row's last blocks, under eight, go one by one.
template <bool kSignedMax>
GROVE_AVX2_F16C void bf16_row_legacy_avx2(const std::uint16_t* x, std::size_t blocks, std::uint8_t* out) {
  constexpr std::size_t kBlockBytes = kSignedMax ? 18 : 34;
  __m256 v[4];
  std::size_t b = 0;
  for (; b + 8 <= blocks; b += 8) {
    __m256 m[8];
    for (int k = 0; k < 8; ++k) {
      load_bf16_block(x + (b + k) * kLegacyBlock, v);
      m[k] = block_absmax_lanes(v);
    }
    alignas(32) float max[8], ids[8];
    alignas(16) std::uint16_t halves[8];
    _mm256_store_ps(max, hmax_each8(m));
    if constexpr (kSignedMax) {
      for (int k = 0; k < 8; ++k) {
        const std::uint16_t* xk = x + (b + k) * kLegacyBlock;
        load_bf16_block(xk, v);
        max[k] = q4_0_signed_max(xk, v, max[k]);
      }
    }
    scales8(_mm256_load_ps(max), kSignedMax ? -8.0f : 127.0f, ids, halves);
    for (int k = 0; k < 8; ++k) {
      std::uint8_t* o = out + (b + k) * kBlockBytes;
      load_bf16_block(x + (b + k) * kLegacyBlock, v);
      put_u16(o, halves[k]);
      if constexpr (kSignedMax) q4_0_quants8(v, _mm256_set1_ps(ids[k]), o + 2);
      else q8_0_quants8(v, _mm256_set1_ps(ids[k]), o + 2);
    }
  }
  for (; b < blocks; ++b) {
    load_bf16_block(x + b * kLegacyBlock, v);
    if constexpr (kSignedMax) q4_0_block8(x + b * kLegacyBlock, v, out + b * kBlockBytes);
    else q8_0_block8(v, out + b * kBlockBytes);
  }
}

// --- AVX2: the K-quants' scale search, eight sub-blocks at once -----------------------------
// Sub-block j of a 256-value super-block runs in lane j, with the scalar code's float
// operations in the scalar code's order (each lane's sums over its 32 values in order, a
// multiply then an add, the same divisions and comparisons), so weights, scales, mins and levels
// are those of quantize_k_scales and fit_scale_min, bit for bit. The search is nine tenths of a
// Q4_K_M export's time.

// nearest_int in each lane.
GROVE_AVX2 inline __m256i nearest_int8(__m256 v) {
  const __m256 t = _mm256_add_ps(v, _mm256_set1_ps(12582912.0f));
  return _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(t), _mm256_set1_epi32(0x007fffff)),
                          _mm256_set1_epi32(0x00400000));
}

// std::clamp(nearest_int(iscale * (v - offset)), 0, nmax) in each lane.
GROVE_AVX2 inline __m256i k_level8(__m256 iscale, __m256 v, __m256 offset, __m256i nmax) {
  const __m256i q = nearest_int8(_mm256_mul_ps(iscale, _mm256_sub_ps(v, offset)));
  return _mm256_min_epi32(_mm256_max_epi32(q, _mm256_setzero_si256()), nmax);
}

GROVE_AVX2 void fit_scale_min8_avx2(const float* x, int nmax, float rmin, float rdelta, int nstep, std::uint8_t* L,
                                    float* scales, float* neg_mins) {
  constexpr int n = 32;
  const __m256i lanes = _mm256_setr_epi32(0, 32, 64, 96, 128, 160, 192, 224);
  const __m256 zero = _mm256_setzero_ps();
  const __m256i nmax8 = _mm256_set1_epi32(nmax);
  __m256 xt[n];
  __m256 w[n];
  __m256 sum_x2 = zero;
  for (int i = 0; i < n; ++i) {
    xt[i] = _mm256_i32gather_ps(x + i, lanes, 4);
    sum_x2 = _mm256_add_ps(sum_x2, _mm256_mul_ps(xt[i], xt[i]));
  }
  const __m256 av_x = _mm256_sqrt_ps(_mm256_div_ps(sum_x2, _mm256_set1_ps(32.0f)));
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int i = 0; i < n; ++i) w[i] = _mm256_add_ps(av_x, _mm256_and_ps(xt[i], abs_mask));

  __m256 lo = xt[0];
  __m256 hi = xt[0];
  __m256 sum_w = w[0];
  __m256 sum_x = _mm256_mul_ps(sum_w, xt[0]);
  for (int i = 1; i < n; ++i) {
    lo = _mm256_min_ps(xt[i], lo);  // x < lo ? x : lo, as the scalar `if`
    hi = _mm256_max_ps(xt[i], hi);
    sum_w = _mm256_add_ps(sum_w, w[i]);
    sum_x = _mm256_add_ps(sum_x, _mm256_mul_ps(w[i], xt[i]));
  }
  lo = _mm256_blendv_ps(lo, zero, _mm256_cmp_ps(lo, zero, _CMP_GT_OQ));
  // Flat sub-blocks (hi == lo) end here in the scalar code; their lanes run on and are
  // overwritten at the end.
  const __m256 flat = _mm256_cmp_ps(hi, lo, _CMP_EQ_OQ);
  const __m256 flat_lo = lo;

  __m256 iscale = _mm256_div_ps(_mm256_set1_ps(static_cast<float>(nmax)), _mm256_sub_ps(hi, lo));
  __m256 scale = _mm256_div_ps(_mm256_set1_ps(1.0f), iscale);
  __m256 best = zero;
  __m256i levels[n];
  for (int i = 0; i < n; ++i) {
    levels[i] = k_level8(iscale, xt[i], lo, nmax8);
    const __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale, _mm256_cvtepi32_ps(levels[i])), lo), xt[i]);
    best = _mm256_add_ps(best, _mm256_mul_ps(w[i], _mm256_mul_ps(diff, diff)));
  }
  __m256i candidate[n];
  for (int is = 0; is <= nstep; ++is) {
    const float step = rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax);
    iscale = _mm256_div_ps(_mm256_set1_ps(step), _mm256_sub_ps(hi, lo));
    __m256 sum_l = zero;
    __m256 sum_l2 = zero;
    __m256 sum_xl = zero;
    for (int i = 0; i < n; ++i) {
      candidate[i] = k_level8(iscale, xt[i], lo, nmax8);
      const __m256 l = _mm256_cvtepi32_ps(candidate[i]);
      const __m256 wl = _mm256_mul_ps(w[i], l);
      sum_l = _mm256_add_ps(sum_l, wl);
      sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, l));
      sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, xt[i]));
    }
    const __m256 D = _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_l2), _mm256_mul_ps(sum_l, sum_l));
    const __m256 valid = _mm256_cmp_ps(D, zero, _CMP_GT_OQ);
    if (_mm256_movemask_ps(valid) == 0) continue;
    __m256 this_scale = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_w, sum_xl), _mm256_mul_ps(sum_x, sum_l)), D);
    __m256 this_min = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_l2, sum_x), _mm256_mul_ps(sum_l, sum_xl)), D);
    const __m256 positive = _mm256_cmp_ps(this_min, zero, _CMP_GT_OQ);
    this_min = _mm256_blendv_ps(this_min, zero, positive);
    this_scale = _mm256_blendv_ps(this_scale, _mm256_div_ps(sum_xl, sum_l2), positive);
    __m256 err = zero;
    for (int i = 0; i < n; ++i) {
      const __m256 diff =
          _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(this_scale, _mm256_cvtepi32_ps(candidate[i])), this_min), xt[i]);
      err = _mm256_add_ps(err, _mm256_mul_ps(w[i], _mm256_mul_ps(diff, diff)));
    }
    const __m256 better = _mm256_and_ps(valid, _mm256_cmp_ps(err, best, _CMP_LT_OQ));
    if (_mm256_movemask_ps(better) == 0) continue;
    const __m256i take = _mm256_castps_si256(better);
    for (int i = 0; i < n; ++i) levels[i] = _mm256_blendv_epi8(levels[i], candidate[i], take);
    best = _mm256_blendv_ps(best, err, better);
    scale = _mm256_blendv_ps(scale, this_scale, better);
    lo = _mm256_blendv_ps(lo, this_min, better);
  }
  scale = _mm256_blendv_ps(scale, zero, flat);
  lo = _mm256_blendv_ps(lo, flat_lo, flat);
  _mm256_storeu_ps(scales, scale);
  _mm256_storeu_ps(neg_mins, _mm256_xor_ps(lo, _mm256_set1_ps(-0.0f)));
  alignas(32) std::int32_t out[n][8];
  for (int i = 0; i < n; ++i) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(out[i]), _mm256_andnot_si256(_mm256_castps_si256(flat), levels[i]));
  }
  for (int j = 0; j < 8; ++j) {
    for (int i = 0; i < n; ++i) L[32 * j + i] = static_cast<std::uint8_t>(out[i][j]);
  }
}

// fit_scale_symmetric (Q6_K) for eight sub-blocks of 16 values at once, sub-block j in lane j,
// with the scalar code's operations in its order, as above.
GROVE_AVX2 void fit_scale_symmetric8_avx2(const float* x, std::uint8_t* L, float* scales) {
  constexpr int n = 16;
  const __m256i lanes = _mm256_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112);
  const __m256 zero = _mm256_setzero_ps();
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 xt[n];
  __m256 amax = zero;
  __m256 max = zero;
  for (int i = 0; i < n; ++i) {  // signed_absmax: the first of the largest magnitude
    xt[i] = _mm256_i32gather_ps(x + i, lanes, 4);
    const __m256 a = _mm256_and_ps(xt[i], abs_mask);
    const __m256 larger = _mm256_cmp_ps(a, amax, _CMP_GT_OQ);
    amax = _mm256_blendv_ps(amax, a, larger);
    max = _mm256_blendv_ps(max, xt[i], larger);
  }
  // Sub-blocks of tiny values end here in the scalar code (levels 0, scale 0).
  const __m256 tiny = _mm256_cmp_ps(_mm256_and_ps(max, abs_mask), _mm256_set1_ps(1e-15f), _CMP_LT_OQ);
  // The weights x² and the products x²·x, the same in every candidate's sums: computed once.
  __m256 w[n];
  __m256 wx[n];
  for (int i = 0; i < n; ++i) {
    w[i] = _mm256_mul_ps(xt[i], xt[i]);
    wx[i] = _mm256_mul_ps(w[i], xt[i]);
  }
  __m256i levels[n];
  __m256i candidate[n];
  auto sums = [&](__m256 iscale, __m256& sum_lx, __m256& sum_l2) GROVE_AVX2 {
    sum_lx = zero;
    sum_l2 = zero;
    for (int i = 0; i < n; ++i) {
      const __m256i q = nearest_int8(_mm256_mul_ps(iscale, xt[i]));
      candidate[i] = _mm256_min_epi32(_mm256_max_epi32(q, _mm256_set1_epi32(-32)), _mm256_set1_epi32(31));
      const __m256 l = _mm256_cvtepi32_ps(candidate[i]);
      sum_lx = _mm256_add_ps(sum_lx, _mm256_mul_ps(wx[i], l));
      sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(_mm256_mul_ps(w[i], l), l));
    }
  };
  __m256 sum_lx;
  __m256 sum_l2;
  sums(_mm256_div_ps(_mm256_set1_ps(-32.0f), max), sum_lx, sum_l2);
  for (int i = 0; i < n; ++i) levels[i] = candidate[i];
  // sum_l2 != 0 (true for NaN, as C++'s != is).
  __m256 scale = _mm256_blendv_ps(zero, _mm256_div_ps(sum_lx, sum_l2), _mm256_cmp_ps(sum_l2, zero, _CMP_NEQ_UQ));
  __m256 best = _mm256_mul_ps(scale, sum_lx);
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const float step = -(32.0f + 0.1f * static_cast<float>(is));
    sums(_mm256_div_ps(_mm256_set1_ps(step), max), sum_lx, sum_l2);
    const __m256 better = _mm256_and_ps(
        _mm256_cmp_ps(sum_l2, zero, _CMP_GT_OQ),
        _mm256_cmp_ps(_mm256_mul_ps(sum_lx, sum_lx), _mm256_mul_ps(best, sum_l2), _CMP_GT_OQ));
    if (_mm256_movemask_ps(better) == 0) continue;
    const __m256i take = _mm256_castps_si256(better);
    for (int i = 0; i < n; ++i) levels[i] = _mm256_blendv_epi8(levels[i], candidate[i], take);
    const __m256 this_scale = _mm256_div_ps(sum_lx, sum_l2);
    scale = _mm256_blendv_ps(scale, this_scale, better);
    best = _mm256_blendv_ps(best, _mm256_mul_ps(this_scale, sum_lx), better);
  }
  _mm256_storeu_ps(scales, _mm256_blendv_ps(scale, zero, tiny));
  // Levels + 32; tiny sub-blocks get 0 (the scalar code's fill), not 32.
  const __m256i keep = _mm256_castps_si256(tiny);
  alignas(32) std::int32_t out[n][8];
  for (int i = 0; i < n; ++i) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(out[i]),
                       _mm256_andnot_si256(keep, _mm256_add_epi32(levels[i], _mm256_set1_epi32(32))));
  }
  for (int j = 0; j < 8; ++j) {
    for (int i = 0; i < n; ++i) L[16 * j + i] = static_cast<std::uint8_t>(out[i][j]);
  }
}

GROVE_AVX2 void bf16_to_f32_avx2(const std::uint16_t* x, std::size_t n, float* out) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i));
    _mm256_storeu_ps(out + i, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)));
  }
  for (; i < n; ++i) out[i] = bits_float(static_cast<std::uint32_t>(x[i]) << 16);
}
#endif

// --- K-quants ------------------------------------------------------------------------------

// Affine fit of 32 values to levels 0..nmax with weights w, searching nstep + 1 candidate scales
// around nmax / (max − min) (spec §3.3, "make_qkx2"). Returns the scale; *neg_min gets −min ≥ 0.
float fit_scale_min(const float* x, const float* w, int nmax, float rmin, float rdelta, int nstep, std::uint8_t* L,
                    float* neg_min) {
  constexpr int n = 32;
  float lo = x[0];
  float hi = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (lo > 0) lo = 0;
  if (hi == lo) {
    std::fill(L, L + n, std::uint8_t{0});
    *neg_min = -lo;
    return 0.0f;
  }
  auto level = [&](float iscale, float v, float offset) {
    return static_cast<std::uint8_t>(std::clamp(nearest_int(iscale * (v - offset)), 0, nmax));
  };
  float iscale = static_cast<float>(nmax) / (hi - lo);
  float scale = 1 / iscale;
  float best = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = level(iscale, x[i], lo);
    const float diff = scale * static_cast<float>(L[i]) + lo - x[i];
    best += w[i] * (diff * diff);
  }
  std::array<std::uint8_t, n> candidate;
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (hi - lo);
    float sum_l = 0;
    float sum_l2 = 0;
    float sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      candidate[i] = level(iscale, x[i], lo);
      const auto l = static_cast<float>(candidate[i]);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (!(D > 0)) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
    if (this_min > 0) {
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    float err = 0;
    for (int i = 0; i < n; ++i) {
      const float diff = this_scale * static_cast<float>(candidate[i]) + this_min - x[i];
      err += w[i] * (diff * diff);
    }
    if (err < best) {
      std::copy(candidate.begin(), candidate.end(), L);
      best = err;
      scale = this_scale;
      lo = this_min;
    }
  }
  *neg_min = -lo;
  return scale;
}

// The 6-bit (scale, min) pair of sub-block j from the 12 packed bytes of Q4_K/Q5_K.
void unpack_scale_min(const std::uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// The vector paths are on unless a test turned them off (set_vector_paths).
std::atomic<bool> g_vector_paths{true};

#if defined(GROVE_HAVE_AVX2_PATH)
bool use_avx2() { return g_vector_paths.load(std::memory_order_relaxed) && cpu_has_avx2(); }
#endif

// fit_scale_min for the eight sub-blocks at x (weights included) on AVX2; false when the CPU
// has none, and the caller runs the scalar code.
bool fit_k_scales_fast(const float* x, int nmax, float rmin, float rdelta, int nstep, std::uint8_t* L, float* scales,
                       float* neg_mins) {
#if defined(GROVE_HAVE_AVX2_PATH)
  if (use_avx2()) {
    fit_scale_min8_avx2(x, nmax, rmin, rdelta, nstep, L, scales, neg_mins);
    return true;
  }
#endif
  return false;
}

// fit_scale_symmetric for the sixteen sub-blocks at x on AVX2; false: run the scalar code.
bool fit_q6_scales_fast(const float* x, std::uint8_t* L, float* scales) {
#if defined(GROVE_HAVE_AVX2_PATH)
  if (use_avx2()) {
    fit_scale_symmetric8_avx2(x, L, scales);
    fit_scale_symmetric8_avx2(x + 128, L + 128, scales + 8);
    return true;
  }
#endif
  return false;
}

// Shared by Q4_K (nmax 15) and Q5_K (nmax 31): fills d, dmin and scales[12] at out and the
// levels L[256]. The quant bits are packed by the caller.
void quantize_k_scales(const float* x, int nmax, float rmin, int nstep, std::uint8_t* out, std::uint8_t* L) {
  std::array<float, 8> scales;
  std::array<float, 8> mins;
  constexpr float rdelta = 0.1f;
  if (!fit_k_scales_fast(x, nmax, rmin, rdelta, nstep, L, scales.data(), mins.data())) {
    for (int j = 0; j < 8; ++j) {
      const float* xs = x + 32 * j;
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
      const float av_x = std::sqrt(sum_x2 / 32);
      std::array<float, 32> w;
      for (int l = 0; l < 32; ++l) w[l] = av_x + std::fabs(xs[l]);
      scales[j] = fit_scale_min(xs, w.data(), nmax, rmin, rdelta, nstep, L + 32 * j, &mins[j]);
    }
  }
  float max_scale = 0;
  float max_min = 0;
  for (int j = 0; j < 8; ++j) {
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  std::uint8_t* packed = out + 4;
  std::fill(packed, packed + 12, std::uint8_t{0});
  for (int j = 0; j < 8; ++j) {
    const auto ls = std::min<std::uint8_t>(63, low_byte(nearest_int(inv_scale * scales[j])));
    const auto lm = std::min<std::uint8_t>(63, low_byte(nearest_int(inv_min * mins[j])));
    if (j < 4) {
      packed[j] = ls;
      packed[j + 4] = lm;
    } else {
      packed[j + 4] = static_cast<std::uint8_t>((ls & 0x0f) | (lm & 0x0f) << 4);
      packed[j - 4] |= static_cast<std::uint8_t>((ls >> 4) << 6);
      packed[j] |= static_cast<std::uint8_t>((lm >> 4) << 6);
    }
  }
  const std::uint16_t d16 = fp32_to_fp16(max_scale / 63.0f);
  const std::uint16_t dmin16 = fp32_to_fp16(max_min / 63.0f);
  put_u16(out, d16);
  put_u16(out + 2, dmin16);
  // Second pass: requantize with the stored (rounded) scales; a zero scale keeps the first fit.
  for (int j = 0; j < 8; ++j) {
    int sc = 0;
    int m = 0;
    unpack_scale_min(packed, j, &sc, &m);
    const float d = fp16_to_fp32(d16) * static_cast<float>(sc);
    if (d == 0) continue;
    const float dm = fp16_to_fp32(dmin16) * static_cast<float>(m);
    for (int i = 0; i < 32; ++i) {
      L[32 * j + i] = static_cast<std::uint8_t>(std::clamp(nearest_int((x[32 * j + i] + dm) / d), 0, nmax));
    }
  }
}

void quantize_q4_k(const float* x, std::uint8_t* out) {
  std::array<std::uint8_t, kSuperBlock> L;
  quantize_k_scales(x, 15, -1.0f, 20, out, L.data());
  std::uint8_t* qs = out + 16;
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) qs[32 * c + l] = static_cast<std::uint8_t>(L[64 * c + l] | L[64 * c + 32 + l] << 4);
  }
}

void quantize_q5_k(const float* x, std::uint8_t* out) {
  std::array<std::uint8_t, kSuperBlock> L;
  quantize_k_scales(x, 31, -0.5f, 15, out, L.data());
  std::uint8_t* qh = out + 16;
  std::uint8_t* qs = out + 48;
  std::fill(qh, qh + 32, std::uint8_t{0});
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const std::uint8_t a = L[64 * c + l];
      const std::uint8_t b = L[64 * c + 32 + l];
      qs[32 * c + l] = static_cast<std::uint8_t>((a & 0x0f) | (b & 0x0f) << 4);
      qh[l] |= static_cast<std::uint8_t>((a >> 4) << (2 * c) | (b >> 4) << (2 * c + 1));
    }
  }
}

// Symmetric fit of 16 values to levels −32..31 with weights x² (spec §3.4, "make_qx").
// L gets level + 32. Returns the (signed) scale.
float fit_scale_symmetric(const float* x, std::uint8_t* L) {
  constexpr int n = 16;
  constexpr int nmax = 32;
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < 1e-15f) {
    std::fill(L, L + n, std::uint8_t{0});
    return 0;
  }
  auto level = [](float iscale, float v) { return std::clamp(nearest_int(iscale * v), -nmax, nmax - 1); };
  auto sums = [&](float iscale, float* sum_lx, float* sum_l2) {
    *sum_lx = 0;
    *sum_l2 = 0;
    for (int i = 0; i < n; ++i) {
      const auto l = static_cast<float>(level(iscale, x[i]));
      const float w = x[i] * x[i];
      *sum_lx += w * x[i] * l;
      *sum_l2 += w * l * l;
    }
  };
  float iscale = -static_cast<float>(nmax) / max;
  float sum_lx = 0;
  float sum_l2 = 0;
  sums(iscale, &sum_lx, &sum_l2);
  for (int i = 0; i < n; ++i) L[i] = static_cast<std::uint8_t>(level(iscale, x[i]) + nmax);
  float scale = sum_l2 != 0 ? sum_lx / sum_l2 : 0.0f;
  float best = scale * sum_lx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
    sums(iscale, &sum_lx, &sum_l2);
    if (sum_l2 > 0 && sum_lx * sum_lx > best * sum_l2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<std::uint8_t>(level(iscale, x[i]) + nmax);
      scale = sum_lx / sum_l2;
      best = scale * sum_lx;
    }
  }
  return scale;
}

void quantize_q6_k(const float* x, std::uint8_t* out) {
  std::uint8_t* ql = out;
  std::uint8_t* qh = out + 128;
  std::uint8_t* sc = out + 192;
  std::array<std::uint8_t, kSuperBlock> L;
  std::array<float, 16> scales;
  float max_scale = 0;
  float max_abs_scale = 0;
  if (!fit_q6_scales_fast(x, L.data(), scales.data())) {
    for (int b = 0; b < 16; ++b) scales[b] = fit_scale_symmetric(x + 16 * b, L.data() + 16 * b);
  }
  for (int b = 0; b < 16; ++b) {
    if (std::fabs(scales[b]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[b]);
      max_scale = scales[b];
    }
  }
  if (max_abs_scale < 1e-15f) {
    std::fill(out, out + 210, std::uint8_t{0});
    return;
  }
  const float iscale = -128.0f / max_scale;
  const std::uint16_t d16 = fp32_to_fp16(1 / iscale);
  put_u16(out + 208, d16);
  for (int b = 0; b < 16; ++b) sc[b] = low_byte(std::min(127, nearest_int(iscale * scales[b])));
  for (int b = 0; b < 16; ++b) {
    const float d = fp16_to_fp32(d16) * static_cast<float>(static_cast<std::int8_t>(sc[b]));
    if (d == 0) continue;
    for (int i = 0; i < 16; ++i) {
      L[16 * b + i] = static_cast<std::uint8_t>(std::clamp(nearest_int(x[16 * b + i] / d), -32, 31) + 32);
    }
  }
  for (int h = 0; h < 2; ++h) {
    const std::uint8_t* q = L.data() + 128 * h;
    for (int l = 0; l < 32; ++l) {
      ql[64 * h + l] = static_cast<std::uint8_t>((q[l] & 0x0f) | (q[l + 64] & 0x0f) << 4);
      ql[64 * h + l + 32] = static_cast<std::uint8_t>((q[l + 32] & 0x0f) | (q[l + 96] & 0x0f) << 4);
      qh[32 * h + l] =
          static_cast<std::uint8_t>((q[l] >> 4) | (q[l + 32] >> 4) << 2 | (q[l + 64] >> 4) << 4 | (q[l + 96] >> 4) << 6);
    }
  }
}

struct TypeInfo {
  QuantType type;
  std::string_view name;
  std::uint32_t ggml_id;
  std::size_t block_elements;
  std::size_t block_bytes;
  void (*quantize_block)(const float*, std::uint8_t*);
};

void convert_f32(const float* x, std::uint8_t* out) { put_u32(out, float_bits(*x)); }
void convert_f16(const float* x, std::uint8_t* out) { put_u16(out, fp32_to_fp16(*x)); }
void convert_bf16(const float* x, std::uint8_t* out) { put_u16(out, fp32_to_bf16(*x)); }

constexpr std::array<TypeInfo, 11> kTypes = {{
    {QuantType::kF32, "F32", 0, 1, 4, convert_f32},
    {QuantType::kF16, "F16", 1, 1, 2, convert_f16},
    {QuantType::kBF16, "BF16", 30, 1, 2, convert_bf16},
    {QuantType::kQ4_0, "Q4_0", 2, 32, 18, quantize_q_0<16>},
    {QuantType::kQ4_1, "Q4_1", 3, 32, 20, quantize_q_1<16>},
    {QuantType::kQ5_0, "Q5_0", 6, 32, 22, quantize_q_0<32>},
    {QuantType::kQ5_1, "Q5_1", 7, 32, 24, quantize_q_1<32>},
    {QuantType::kQ8_0, "Q8_0", 8, 32, 34, quantize_q8_0},
    {QuantType::kQ4_K, "Q4_K", 12, 256, 144, quantize_q4_k},
    {QuantType::kQ5_K, "Q5_K", 13, 256, 176, quantize_q5_k},
    {QuantType::kQ6_K, "Q6_K", 14, 256, 210, quantize_q6_k},
}};

const TypeInfo& info(QuantType type) { return kTypes[static_cast<std::size_t>(type)]; }

}  // namespace

std::optional<QuantType> parse_quant_type(std::string_view name) {
  for (const TypeInfo& t : kTypes) {
    if (t.name == name) return t.type;
  }
  return std::nullopt;
}

std::string_view quant_type_name(QuantType type) { return info(type).name; }
std::uint32_t ggml_type_id(QuantType type) { return info(type).ggml_id; }
std::size_t quant_block_elements(QuantType type) { return info(type).block_elements; }
std::size_t quant_block_bytes(QuantType type) { return info(type).block_bytes; }

std::size_t quantized_row_size(QuantType type, std::size_t n) {
  const TypeInfo& t = info(type);
  if (n % t.block_elements != 0) return 0;
  return n / t.block_elements * t.block_bytes;
}

Status quantize_row(QuantType type, std::span<const float> in, std::span<std::uint8_t> out) {
  const TypeInfo& t = info(type);
  if (in.size() % t.block_elements != 0) {
    return invalid_argument(std::string(t.name) + " needs rows that are a multiple of " +
                            std::to_string(t.block_elements) + " elements, got " + std::to_string(in.size()));
  }
  if (out.size() != quantized_row_size(type, in.size())) {
    return invalid_argument(std::string(t.name) + " output for " + std::to_string(in.size()) + " elements is " +
                            std::to_string(quantized_row_size(type, in.size())) + " bytes, buffer has " +
                            std::to_string(out.size()));
  }
  const std::size_t blocks = in.size() / t.block_elements;
  for (std::size_t b = 0; b < blocks; ++b) {
    t.quantize_block(in.data() + b * t.block_elements, out.data() + b * t.block_bytes);
  }
  return Status::ok();
}

std::uint16_t fp32_to_fp16(float value) {
  const std::uint32_t bits = float_bits(value);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000);
  const std::uint32_t abs = bits & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;  // NaN: ggml's canonical quiet NaN
  // 65520 is halfway between 65504 (largest half) and 65536; ties go to even, i.e. to inf.
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs >= 0x38800000) {  // a normal half: rebias the exponent by 127 − 15, round 13 bits away
    const std::uint32_t rebiased = abs - 0x38000000;
    return static_cast<std::uint16_t>(sign | ((rebiased + 0x0fff + ((rebiased >> 13) & 1)) >> 13));
  }
  // A half subnormal (or zero): count units of 2^-24. Float subnormals are far below half a unit.
  const std::uint32_t exponent = abs >> 23;
  if (exponent < 102) return sign;  // below 2^-25: rounds to zero
  const std::uint32_t mantissa = (abs & 0x007fffff) | 0x00800000;
  const std::uint32_t shift = 126 - exponent;  // 14..24
  std::uint32_t q = mantissa >> shift;
  const std::uint32_t rest = mantissa & ((1u << shift) - 1);
  const std::uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (q & 1))) ++q;
  return static_cast<std::uint16_t>(sign | q);
}

float fp16_to_fp32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1f;
  const std::uint32_t mantissa = h & 0x03ff;
  if (exponent == 0x1f) return bits_float(sign | 0x7f800000 | mantissa << 13);
  if (exponent != 0) return bits_float(sign | (exponent + 112) << 23 | mantissa << 13);
  // Subnormal half: mantissa · 2^-24, exact in float.
  const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
  return sign ? -magnitude : magnitude;
}

std::uint16_t fp32_to_bf16(float value) {
  const std::uint32_t bits = float_bits(value);
  if ((bits & 0x7fffffff) > 0x7f800000) return static_cast<std::uint16_t>((bits >> 16) | 0x40);
  return static_cast<std::uint16_t>((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

float bf16_to_fp32(std::uint16_t bits) { return bits_float(static_cast<std::uint32_t>(bits) << 16); }

void set_vector_paths(bool enabled) { g_vector_paths.store(enabled, std::memory_order_relaxed); }

}  // namespace grove::formats

namespace grove::formats {

void bf16_row_to_f32(std::span<const std::uint16_t> in, float* out) {
#if defined(GROVE_HAVE_AVX2_PATH)
  if (use_avx2()) return bf16_to_f32_avx2(in.data(), in.size(), out);
#endif
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = bf16_to_fp32(in[i]);
}

Status quantize_row_bf16(QuantType type, std::span<const std::uint16_t> in, std::span<std::uint8_t> out) {
  const TypeInfo& t = info(type);
  if (in.size() % t.block_elements != 0 || out.size() != quantized_row_size(type, in.size())) {
    return invalid_argument(std::string(t.name) + ": a row of " + std::to_string(in.size()) +
                            " elements does not fit a buffer of " + std::to_string(out.size()) + " bytes");
  }
#if defined(GROVE_HAVE_AVX2_PATH)
  if (use_avx2() && type == QuantType::kQ8_0) {
    bf16_row_legacy_avx2<false>(in.data(), in.size() / kLegacyBlock, out.data());
    return Status::ok();
  }
  if (use_avx2() && type == QuantType::kQ4_0) {
    bf16_row_legacy_avx2<true>(in.data(), in.size() / kLegacyBlock, out.data());
    return Status::ok();
  }
#endif
  // Other types (or no AVX2): decode a piece at a time into a buffer that stays in L1.
  constexpr std::size_t kPiece = 4 * kSuperBlock;  // a multiple of every block size
  alignas(32) float buf[kPiece];
  std::uint8_t* dst = out.data();
  for (std::size_t i = 0; i < in.size(); i += kPiece) {
    const std::size_t n = std::min(kPiece, in.size() - i);
    bf16_row_to_f32(in.subspan(i, n), buf);
    for (std::size_t b = 0; b < n; b += t.block_elements, dst += t.block_bytes) t.quantize_block(buf + b, dst);
  }
  return Status::ok();
}

}  // namespace grove::formats
