// Float32 rows to ggml tensor data: the F16/BF16 conversions and the block quantizers GGUF files
// carry. Output is byte-identical to llama.cpp's reference code (`quantize_row_*_ref`,
// `ggml_fp32_to_fp16`, `ggml_fp32_to_bf16`) as built for x86-64 without fused multiply-add;
// tests/formats/quantize_test.cpp checks this against the real library. The rules are in
// ../shared/specs/gguf.md §3–4.
//
// Pure code: no I/O, no allocation, stack use bounded by one block. Thread-safe (no state).
//
// A row of n elements becomes n / block_elements blocks written back to back. Block layouts,
// all little-endian, fp16 = IEEE binary16 bits; "element j" counts within the block:
//   F32    1 elem,    4 B   the float's bits
//   F16    1 elem,    2 B   round to nearest even; |x| >= 65520 -> inf; subnormals kept
//   BF16   1 elem,    2 B   upper half of the float, round to nearest even; NaN kept quiet
//   Q4_0  32 elems,  18 B   d:fp16 | qs[16]: byte j = q[j] | q[j+16] << 4;    x ~ d·(q − 8)
//   Q4_1  32 elems,  20 B   d:fp16 | m:fp16 | qs[16] as Q4_0;                  x ~ d·q + m
//   Q5_0  32 elems,  22 B   d:fp16 | qh:u32 (bit j = bit 4 of q[j]) | qs[16] low nibbles as Q4_0;
//                           x ~ d·(q − 16)
//   Q5_1  32 elems,  24 B   d:fp16 | m:fp16 | qh:u32 | qs[16] as Q5_0;         x ~ d·q + m
//   Q8_0  32 elems,  34 B   d:fp16 | qs[32] int8;                              x ~ d·q
//   Q4_K 256 elems, 144 B   d:fp16 | dmin:fp16 | scales[12] (8 six-bit scale/min pairs) |
//                           qs[128]: 4 chunks of 64 elems, byte l of chunk c = q[64c+l] |
//                           q[64c+32+l] << 4;  x ~ d·sc·q − dmin·m per 32-element sub-block
//   Q5_K 256 elems, 176 B   d | dmin | scales[12] as Q4_K | qh[32]: bit 2c of byte l = bit 4
//                           of q[64c+l], bit 2c+1 = bit 4 of q[64c+32+l] | qs[128] as Q4_K
//   Q6_K 256 elems, 210 B   ql[128] | qh[64] | scales[16] int8 | d:fp16 (last);
//                           x ~ d·scales[b]·(q − 32) per 16-element sub-block
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "common/status.h"

namespace grove::formats {

enum class QuantType { kF32, kF16, kBF16, kQ4_0, kQ4_1, kQ5_0, kQ5_1, kQ8_0, kQ4_K, kQ5_K, kQ6_K };

// "Q4_K" -> kQ4_K (ggml's spelling, upper case); nullopt for anything else.
std::optional<QuantType> parse_quant_type(std::string_view name);
std::string_view quant_type_name(QuantType type);
// The ggml_type id written in GGUF tensor records (F16 = 1, Q8_0 = 8, Q6_K = 14, BF16 = 30, ...).
std::uint32_t ggml_type_id(QuantType type);
// Elements per block: 1 (F32/F16/BF16), 32 (Q4_0..Q8_0) or 256 (K-quants).
std::size_t quant_block_elements(QuantType type);
// Bytes per block, from the table above.
std::size_t quant_block_bytes(QuantType type);

// Bytes that a row of n elements becomes; 0 when n is not a multiple of the block size
// (llama.cpp refuses such rows, so callers must pick another type).
std::size_t quantized_row_size(QuantType type, std::size_t n);

// Quantizes one row. REQUIRES: out.size() == quantized_row_size(type, in.size()) != 0
// (an empty row is allowed and writes nothing); otherwise kInvalidArgument and out is untouched.
// Any float input is accepted and gives the reference bytes, including infinities; NaN is only
// defined for F16/BF16 (the reference quantizers' output for NaN depends on compiler choices).
Status quantize_row(QuantType type, std::span<const float> in, std::span<std::uint8_t> out);

// quantize_row for a row of BF16 values (their bits, as safetensors stores them): the same
// bytes as decoding with bf16_to_fp32 and calling quantize_row, in one pass without a float
// row (Q8_0 and Q4_0 use AVX2 when the CPU has it, as the K-quants' scale searches do in both
// functions). Same REQUIRES as quantize_row.
Status quantize_row_bf16(QuantType type, std::span<const std::uint16_t> in, std::span<std::uint8_t> out);
// bf16_to_fp32 over a row (vectorised when the CPU allows). REQUIRES: out holds in.size() floats.
void bf16_row_to_f32(std::span<const std::uint16_t> in, float* out);

// The SIMD paths (AVX2, when the CPU has it) give the scalar code's bytes; tests turn them off
// to check the scalar code too. On by default; not meant to change while quantizing.
void set_vector_paths(bool enabled);

// Scalar conversions with ggml's rounding (round to nearest even), exposed for the GGUF writer
// and tests. fp16_to_fp32 and bf16_to_fp32 are exact.
std::uint16_t fp32_to_fp16(float value);
float fp16_to_fp32(std::uint16_t bits);
std::uint16_t fp32_to_bf16(float value);
float bf16_to_fp32(std::uint16_t bits);

}  // namespace grove::formats
