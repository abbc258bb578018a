// 16-bit float encodings written by grove-synth, computed by bit manipulation so that the
// result never depends on the compiler or the CPU.
#pragma once

#include <cstdint>
#include <cstring>

namespace grove::synth {

// float -> bfloat16, round to nearest even; NaN stays a quiet NaN.
inline std::uint16_t float_to_bf16(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  const std::uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>((bits + rounding) >> 16);
}

inline float bf16_to_float(std::uint16_t bits) {
  const std::uint32_t wide = static_cast<std::uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof value);
  return value;
}

// float -> IEEE-754 binary16, round to nearest even, with subnormals; overflow gives infinity.
std::uint16_t float_to_f16(float value);

}  // namespace grove::synth
