// Packs: immutable objects of up to 64 MiB / 8,192 frames, frames from many files mixed.
//
// Byte format (all integers little-endian; format version 1):
//   pack    = "GROVPK01" frame* footer trailer
//   frame   = header(48) payload(stored_length)
//   header  = u32 magic "GRFR" | u8 version=1 | u8 codec | u8 element type | u8 flags (bit 0: has base)
//             | u32 raw_length | u32 stored_length | 32 bytes base frame id (zero without base)
//   footer  = entry(112) * frame_count, one per frame in pack order:
//             32 id | 32 base id | u64 offset of the frame header | u64 raw offset (sum of the raw
//             lengths before it in this pack) | u32 raw_length | u32 stored_length | u8 codec
//             | u8 element type | u8 flags | u8 0 | u32 0 (reserved) | u64 checksum | u64 raw check
//   trailer = u32 frame_count | u32 0 (reserved) | u64 footer offset | 16 random bytes (nonce)
//             | "GROVPKFT"
// Frame id = BLAKE3 of the frame's raw (decoded) bytes.
// Checksum = first 8 bytes (LE) of the BLAKE3 of the stored payload: fsck checks it without
// decoding.
// Raw check = XXH3-64 of the raw bytes (0 in packs written before it, and when the hash is 0):
// reads check what they decoded against it, an order of magnitude faster than the BLAKE3 of the
// id (decoding is deterministic, so this still catches a bad byte on disk and a decoder bug);
// frames without one are checked against their id. fsck checks both.
// A pack's name is the BLAKE3 of its footer and nonce, so it commits to every frame in it, and
// two writers sealing identical frames still get two names: a writer may delete a pack it
// sealed but never indexed without touching anyone else's.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/status.h"
#include "storage/backend.h"
#include "storage/codec.h"

namespace grove::storage {

inline constexpr std::size_t kFrameHeaderSize = 48;
inline constexpr std::size_t kPackEntrySize = 112;
inline constexpr std::size_t kPackTrailerSize = 40;
inline constexpr std::size_t kPackMagicSize = 8;
inline constexpr std::uint32_t kMaxPackFrames = 8192;
inline constexpr std::uint64_t kMaxPackBytes = 64ull << 20;
// Frames are at most this long raw (the framing makes ~1 MiB tensor frames and <= 128 KiB chunks).
inline constexpr std::uint32_t kMaxFrameRawLength = 16u << 20;

struct FrameHeader {
  Codec codec = Codec::kRaw;
  ElementType type = ElementType::kBytes;
  std::uint32_t raw_length = 0;
  std::uint32_t stored_length = 0;
  std::optional<Blake3Digest> base;

  void encode_to(std::span<std::uint8_t, kFrameHeaderSize> out) const;
  // Checks magic, version, codec and type values and the lengths; never trusts them further.
  static Result<FrameHeader> decode_from(std::span<const std::uint8_t> in);
};

struct PackEntry {
  Blake3Digest id;
  std::optional<Blake3Digest> base;
  std::uint64_t offset = 0;      // of the frame header inside the pack
  std::uint64_t raw_offset = 0;  // within the pack's concatenated raw bytes
  std::uint32_t raw_length = 0;
  std::uint32_t stored_length = 0;
  Codec codec = Codec::kRaw;
  ElementType type = ElementType::kBytes;
  std::uint64_t checksum = 0;
  std::uint64_t raw_check = 0;
};

std::uint64_t stored_checksum(std::span<const std::uint8_t> stored);
std::uint64_t raw_check(std::span<const std::uint8_t> raw);
// "packs/ab/<hex>.pack" for a pack named `name` (64 hex digits).
std::string pack_key(const std::string& name);

// Page-aligned, uninitialised memory for the staging window. It starts small and grows (up
// to 1 MiB) only as a pack does, so storing a small file touches a few pages, not megabytes.
class StagingBuffer {
 public:
  static constexpr std::size_t kAlign = 4096;  // direct I/O wants page-aligned memory
  std::uint8_t* data() const { return data_.get(); }
  std::size_t capacity() const { return capacity_; }
  // Grows to `n` bytes, keeping the first `keep`.
  void grow(std::size_t n, std::size_t keep);

 private:
  struct Free {
    void operator()(std::uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<std::uint8_t, Free> data_;
  std::size_t capacity_ = 0;
};

// Writes one pack after another, streaming frames straight into a backend object
// (BlobBackend::begin_put) as they come, so a writer holds a small staging buffer instead of a
// whole pack, and the object's bytes start reaching the disk while the pack fills. It cannot drop
// frames at the end: a frame that another upload indexed meanwhile stays in the pack as dead
// bytes (the index keeps the first location).
class PackStreamWriter {
 public:
  // `staging` may be a recycled buffer.
  PackStreamWriter(BlobBackend& backend, std::uint64_t target_bytes, StagingBuffer staging = {});
  StagingBuffer release_buffer();

  bool empty() const { return entries_.empty(); }
  std::size_t frame_count() const { return entries_.size(); }
  std::uint64_t bytes() const { return written_ + entries_.size() * kPackEntrySize + kPackTrailerSize; }
  bool fits(std::size_t stored_length) const;
  // Opens the object with the first frame.
  Status add(const Blake3Digest& id, ElementType type, std::uint32_t raw_length, const EncodedFrame& frame,
             const std::optional<Blake3Digest>& base);

  struct Sealed {
    std::string name;  // set before the object is installed: a failed install may still leave it
    std::uint64_t size = 0;
    std::vector<PackEntry> entries;
  };
  // Writes the footer and installs the object under pack_key(name); the writer is empty after,
  // whatever the outcome. `out.name` is empty when there was no frame.
  Status seal(Sealed& out);
  // Lets seal() leave up to `bytes` of sealed packs to be made durable and installed later, by a
  // later seal() or finish_pending(), so the writer waits for the disk only when it is that far
  // ahead of it (the OS is already writing them back). 0, the default: seal() installs at once.
  void defer_durability(std::uint64_t bytes) { defer_bytes_ = bytes; }
  // Makes every deferred pack durable and installs it; the first error, if any.
  Status finish_pending();
  // Drops the open pack and the deferred ones, if any (nothing more becomes visible).
  void abandon();

 private:
  struct Deferred {
    std::unique_ptr<ObjectWriter> object;
    std::string key;
    std::uint64_t size = 0;
  };

  Status write(std::span<const std::uint8_t> bytes);
  Status flush();
  Status finish_oldest();
  void drop_open();

  BlobBackend& backend_;
  std::uint64_t target_bytes_;
  std::unique_ptr<ObjectWriter> object_;
  StagingBuffer staging_;
  std::size_t staged_ = 0;  // bytes in it
  std::uint64_t written_ = 0;  // pack bytes so far (staged or appended)
  std::vector<PackEntry> entries_;
  std::deque<Deferred> deferred_;  // sealed, not yet durable nor installed; oldest first
  std::uint64_t deferred_bytes_ = 0;
  std::uint64_t defer_bytes_ = 0;
};

// Reads and checks a pack's footer (for fsck and repair tools): kCorrupt when it is malformed
// or does not match the pack's name.
Result<std::vector<PackEntry>> read_pack_footer(BlobBackend& backend, const std::string& name);

}  // namespace grove::storage
