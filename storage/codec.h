// Frame codecs for weight storage: each frame (up to ~1 MiB of one tensor's bytes, or other file
// bytes) is stored with the smallest encoding that round-trips. Floats compress poorly as bytes but
// well once split into planes (the exponent bytes are highly repetitive); fine-tunes of a base
// compress far better as a difference against the base frame. See DESIGN.md "Storage" and
// /work/shared/specs/storage.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"

namespace grove::storage {

// What the bytes of a frame are, so a codec can split them into planes.
enum class ElementType : std::uint8_t { kBytes = 0, kBF16 = 1, kF16 = 2, kF32 = 3 };

// Stored in pack frame headers: values are part of the on-disk format, never renumbered.
enum class Codec : std::uint8_t {
  kRaw = 0,          // stored as is
  kZstd = 1,         // zstd level 3 (text, JSON, headers, other bytes)
  kPlanes16 = 2,     // BF16/FP16: exponent plane + sign/mantissa plane, zstd level 1
  kPlanes32 = 3,     // FP32: four byte planes, zstd level 1
  kXorDelta = 4,     // XOR against the base frame's raw bytes (same type, same length), then planes
  kUlpDelta = 5,     // signed difference in ulps against the base frame, then planes
  kCastDelta = 6,    // the base frame (another float type) cast to this type, plus the exceptions
};

struct FrameBase {                    // the raw bytes of the frame a delta is taken against
  ElementType type;
  std::span<const std::uint8_t> raw;
};

struct EncodedFrame {
  Codec codec = Codec::kRaw;
  std::vector<std::uint8_t> bytes;    // what goes in the pack
  std::uint64_t raw_check = 0;        // raw_check() of the raw bytes (pack.h), set by the writer
};

// The smallest encoding that round-trips: standalone (raw when the best codec saves under 5%),
// or, when `base` is given, a delta if it is under 90% of the standalone size.
EncodedFrame encode_frame(std::span<const std::uint8_t> raw, ElementType type,
                          const FrameBase* base = nullptr);

// Decodes into `out` (exactly the raw length). `base` is required for the delta codecs.
// kCorrupt when the stored bytes do not decode to exactly out.size() bytes.
Status decode_frame(Codec codec, std::span<const std::uint8_t> stored, ElementType type,
                    const FrameBase* base, std::span<std::uint8_t> out);

// Cheap estimate used to confirm a declared base by sampling: encoded delta size / standalone
// size for one frame (1.0 or more means the base does not help).
double delta_ratio(std::span<const std::uint8_t> raw, ElementType type, const FrameBase& base);

const char* codec_name(Codec codec);

}  // namespace grove::storage
