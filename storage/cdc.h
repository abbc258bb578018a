// Xet's content-defined chunker (gear hash, min 8 KiB, target 64 KiB, max 128 KiB; table, mask
// and rules exactly as /work/shared/specs/xet.md section 1, checked against its test vectors), so
// grove's chunks match the ones hf_xet uploads. Streaming: any split of the input gives the same
// boundaries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace grove::storage {

class Chunker {
 public:
  static constexpr std::size_t kTarget = 65536;
  static constexpr std::size_t kMin = kTarget / 8;
  static constexpr std::size_t kMax = kTarget * 2;

  // Feeds bytes; returns the lengths of chunks completed by these bytes (may be none).
  std::vector<std::size_t> push(std::span<const std::uint8_t> data);
  // Ends the stream; returns the length of the last chunk (0 when none is pending).
  std::size_t finish();

 private:
  std::uint64_t hash_ = 0;
  std::size_t pending_ = 0;  // bytes of the current chunk seen so far
};

}  // namespace grove::storage
