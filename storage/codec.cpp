// Frame codecs. Layouts of the stored bytes (all integers little-endian):
//
// kRaw       the raw bytes.
// kZstd      one zstd frame (level 3).
// kPlanes16, kPlanes32, kXorDelta, kUlpDelta: a plane container
//            P mode bytes (0 = plane stored raw, 1 = zstd level 1: one zstd frame, or two
//            concatenated, which zstd decodes as one, 2 = nibbles, below), then P u32 stored
//            lengths, then the planes. Each plane holds one byte of every element (P = element
//            size).
//            16-bit floats are split into the exponent byte (bits 14..7) and sign + low 7
//            mantissa bits, so the exponent plane holds the compressible part (ZipNN/BitX
//            layout; for FP16 the high byte is 5 exponent + 3 mantissa bits). 32-bit values use
//            the four plain byte planes. kXorDelta splits base XOR value the same way;
//            kUlpDelta splits zigzag(key(value) - key(base)) into plain byte planes, where key()
//            maps a float's bits to an integer in value order, so a value that moved by k ulps
//            costs zigzag(k): small moves leave the high planes all zero.
//            A nibble plane (mode 2) is for a plane whose bytes almost all lie in a window of 15
//            values, as a BF16 exponent plane's do: u8 lo, u32 exception count X, one zstd
//            frame of ceil(n/2) bytes, then the X exception bytes. Packed byte j holds plane
//            byte j in its low nibble and byte j + ceil(n/2) (when there is one) in its high
//            nibble; nibble k in 1..15 stands for the value lo + k - 1, nibble 0 for the next
//            exception in plane order. Half as many symbols for zstd's Huffman coder, at the
//            same size.
// kCastDelta u8 base element type, u32 exception count, u32 exception block raw length, then
//            (when there are exceptions) one zstd frame of: per exception, a LEB128 gap
//            (index - previous index - 1, the first counted from -1) and the element's bytes.
//
// Decoding trusts nothing in the stored bytes: every length is checked against the expected
// raw length before any copy, and zstd output is bounded by exactly the expected size.
#include "storage/codec.h"

// ZSTD_c_literalCompressionMode is an "experimental" parameter (stable since zstd 1.5.0).
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

namespace grove::storage {
namespace {

constexpr int kTextLevel = 3;
constexpr int kPlaneLevel = 1;
// A codec must save at least 5 % or the frame is stored raw; a delta must be under 90 % of
// the standalone encoding.
constexpr double kMinSaving = 0.95;
constexpr double kDeltaMax = 0.90;
// A plane is first tried on this many bytes; if the sample does not shrink below kSampleKeep
// of its size the plane is stored raw without compressing the rest (saves CPU on the nearly
// random sign+mantissa plane of standalone BF16). A sample that shrinks is kept: the rest of
// the plane follows as a second zstd frame, so no byte is compressed twice.
constexpr std::size_t kSampleBytes = 64 * 1024;
constexpr double kSampleKeep = 0.97;
// A plane is packed into nibbles when every 64th byte but at most 0.5 % of them lie in its
// most common window of 15 values, and it has at most 1/64 exceptions after all.
constexpr std::size_t kNibbleMin = 1024;
constexpr std::size_t kNibbleStride = 64;
constexpr double kNibbleCover = 0.995;
constexpr std::size_t kNibbleWindow = 15;

std::size_t element_size(ElementType type) {
  switch (type) {
    case ElementType::kBytes: return 1;
    case ElementType::kBF16: return 2;
    case ElementType::kF16: return 2;
    case ElementType::kF32: return 4;
  }
  return 1;
}

bool is_float(ElementType type) { return type != ElementType::kBytes; }

// zstd level 1 tuned for byte planes of floats. An exponent plane has ~3 bits of entropy per
// byte and many short repeats; level 1's match finder spends most of its time on those for
// little gain. A small hash table, minimum match 7 and the fast strategy's acceleration skip
// them, and forcing Huffman literals (which acceleration would otherwise turn off) keeps the
// entropy coding: measured on the synthetic base's exponent planes, 3-4x faster than level 1
// and 8 % smaller. Output is an ordinary zstd frame.
ZSTD_CCtx* make_plane_cctx() {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
  ZSTD_CCtx_setParameter(c, ZSTD_c_minMatch, 7);
  ZSTD_CCtx_setParameter(c, ZSTD_c_hashLog, 10);
  ZSTD_CCtx_setParameter(c, ZSTD_c_targetLength, 64);
  ZSTD_CCtx_setParameter(c, ZSTD_c_literalCompressionMode, ZSTD_ps_enable);
  return c;
}

// A vector whose resize leaves new bytes uninitialised: scratch is written before it is read,
// and zero-filling it first touched every page of bounds that compression mostly leaves unused
// (a fresh page costs a fault, and on a VM a slow one).
template <class T>
struct UninitializedAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using Scratch = std::vector<std::uint8_t, UninitializedAllocator<std::uint8_t>>;

// One compression and one decompression context per thread, plus scratch buffers, reused for
// every frame: no allocation per frame beyond the output vector.
struct ThreadState {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx* plane_cctx = make_plane_cctx();
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  Scratch planes;       // the split planes being encoded
  Scratch packed;       // compressed planes
  Scratch decoded;      // decompressed planes
  Scratch transformed;  // delta values before the split
  Scratch nibbles;      // a nibble plane's packed bytes
  Scratch exceptions;   // a nibble plane's exceptions: the first half's, then the second's
  Scratch exceptions_high;
  ~ThreadState() {
    ZSTD_freeCCtx(cctx);
    ZSTD_freeCCtx(plane_cctx);
    ZSTD_freeDCtx(dctx);
  }
};

ThreadState& state() {
  thread_local ThreadState s;
  return s;
}

void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint32_t get_u32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

std::uint16_t load16(const std::uint8_t* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
void store16(std::uint8_t* p, std::uint16_t v) { std::memcpy(p, &v, 2); }
std::uint32_t load32(const std::uint8_t* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
void store32(std::uint8_t* p, std::uint32_t v) { std::memcpy(p, &v, 4); }

// Compresses src with zstd into dst (resized to fit); returns the compressed size or 0 on error.
std::size_t zstd_compress(ThreadState& s, std::span<const std::uint8_t> src, int level, Scratch& dst,
                          std::size_t at) {
  const std::size_t bound = ZSTD_compressBound(src.size());
  if (dst.size() < at + bound) dst.resize(at + bound);
  const std::size_t n =
      ZSTD_compressCCtx(s.cctx, dst.data() + at, bound, src.data(), src.size(), level);
  return ZSTD_isError(n) ? 0 : n;
}

// Decompresses exactly out.size() bytes; false on any error or length mismatch.
bool zstd_decompress_exact(ThreadState& s, std::span<const std::uint8_t> src,
                           std::span<std::uint8_t> out) {
  if (src.empty()) return out.empty();
  const std::size_t n =
      ZSTD_decompressDCtx(s.dctx, out.data(), out.size(), src.data(), src.size());
  return !ZSTD_isError(n) && n == out.size();
}

// ---- plane splitting ------------------------------------------------------------------------

// Layout of the P planes, each n bytes long, in one buffer.
enum class Split { kFloat16, kBytes };

void split_planes(std::span<const std::uint8_t> in, std::size_t esize, Split split,
                  std::uint8_t* planes) {
  const std::size_t n = in.size() / esize;
  const std::uint8_t* src = in.data();
  if (esize == 2 && split == Split::kFloat16) {
    std::uint8_t* e = planes;
    std::uint8_t* m = planes + n;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint16_t v = load16(src + 2 * i);
      e[i] = static_cast<std::uint8_t>(v >> 7);
      m[i] = static_cast<std::uint8_t>(((v >> 8) & 0x80) | (v & 0x7F));
    }
  } else if (esize == 2) {
    std::uint8_t* lo = planes;
    std::uint8_t* hi = planes + n;
    for (std::size_t i = 0; i < n; ++i) {
      lo[i] = src[2 * i];
      hi[i] = src[2 * i + 1];
    }
  } else if (esize == 4) {
    std::uint8_t* p0 = planes;
    std::uint8_t* p1 = planes + n;
    std::uint8_t* p2 = planes + 2 * n;
    std::uint8_t* p3 = planes + 3 * n;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t v = load32(src + 4 * i);
      p0[i] = static_cast<std::uint8_t>(v);
      p1[i] = static_cast<std::uint8_t>(v >> 8);
      p2[i] = static_cast<std::uint8_t>(v >> 16);
      p3[i] = static_cast<std::uint8_t>(v >> 24);
    }
  } else {
    std::memcpy(planes, src, in.size());
  }
}

void merge_planes(const std::uint8_t* const* planes, std::size_t n, std::size_t esize,
                  Split split, std::uint8_t* out) {
  if (esize == 2 && split == Split::kFloat16) {
    const std::uint8_t* e = planes[0];
    const std::uint8_t* m = planes[1];
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint16_t v = static_cast<std::uint16_t>(
          (static_cast<std::uint16_t>(e[i]) << 7) | (m[i] & 0x7F) |
          (static_cast<std::uint16_t>(m[i] & 0x80) << 8));
      store16(out + 2 * i, v);
    }
  } else if (esize == 2) {
    const std::uint8_t* lo = planes[0];
    const std::uint8_t* hi = planes[1];
    for (std::size_t i = 0; i < n; ++i) {
      store16(out + 2 * i, static_cast<std::uint16_t>(lo[i] | (hi[i] << 8)));
    }
  } else if (esize == 4) {
    const std::uint8_t* p0 = planes[0];
    const std::uint8_t* p1 = planes[1];
    const std::uint8_t* p2 = planes[2];
    const std::uint8_t* p3 = planes[3];
    for (std::size_t i = 0; i < n; ++i) {
      store32(out + 4 * i, static_cast<std::uint32_t>(p0[i]) |
                               (static_cast<std::uint32_t>(p1[i]) << 8) |
                               (static_cast<std::uint32_t>(p2[i]) << 16) |
                               (static_cast<std::uint32_t>(p3[i]) << 24));
    }
  } else {
    std::memcpy(out, planes[0], n);
  }
}

// ---- nibble planes ---------------------------------------------------------------------------

// The low end of the window of kNibbleWindow values holding most of a sample of the plane, if
// it holds enough of it to pack.
std::optional<std::uint8_t> nibble_window(std::span<const std::uint8_t> plane) {
  if (plane.size() < kNibbleMin) return std::nullopt;
  // Four tables: a run of equal bytes would otherwise wait on its own last increment.
  std::uint32_t counts[4][256] = {};
  std::uint32_t samples = 0;
  for (std::size_t i = 0; i < plane.size(); i += kNibbleStride, ++samples) ++counts[samples % 4][plane[i]];
  std::uint32_t count[256];
  for (std::size_t v = 0; v < 256; ++v) count[v] = counts[0][v] + counts[1][v] + counts[2][v] + counts[3][v];
  std::uint32_t in = 0, best = 0;
  std::size_t best_lo = 0;
  for (std::size_t v = 0; v < kNibbleWindow; ++v) in += count[v];
  for (std::size_t lo = 0; lo + kNibbleWindow <= 256; ++lo) {
    if (lo > 0) in = in - count[lo - 1] + count[lo + kNibbleWindow - 1];
    if (in > best) best = in, best_lo = lo;
  }
  if (best < kNibbleCover * samples) return std::nullopt;
  return static_cast<std::uint8_t>(best_lo);
}

// Packs `plane` as a nibble plane body into dst (room for at least plane.size() bytes); returns
// the body's length, or 0 when it has too many exceptions or does not shrink.
std::size_t encode_nibbles(ThreadState& s, std::span<const std::uint8_t> plane, std::uint8_t lo,
                           std::uint8_t* dst, std::size_t room) {
  const std::size_t n = plane.size();
  const std::size_t half = (n + 1) / 2, rest = n - half;
  if (s.nibbles.size() < half) s.nibbles.resize(half);
  s.exceptions.clear();
  s.exceptions_high.clear();
  const std::uint8_t* e = plane.data();
  std::uint8_t* packed = s.nibbles.data();
  // nibble(v): v - lo + 1 inside the window, else 0. Kept in 8-bit arithmetic throughout so
  // the block loop below vectorizes.
  const std::uint8_t base = static_cast<std::uint8_t>(lo - 1);
  const auto nibble = [base](std::uint8_t v) -> std::uint8_t {
    const std::uint8_t k = static_cast<std::uint8_t>(v - base);
    return static_cast<std::uint8_t>(k - 1) < std::uint8_t{15} ? k : std::uint8_t{0};
  };
  // Blocks of 64 pairs: the loop over a block vectorizes; a block with an exception is
  // walked again for its exceptions, in order.
  constexpr std::size_t kBlock = 64;
  for (std::size_t j0 = 0; j0 < rest; j0 += kBlock) {
    const std::size_t j1 = std::min(rest, j0 + kBlock);
    std::uint8_t missing = 0;
    for (std::size_t j = j0; j < j1; ++j) {
      const std::uint8_t a = static_cast<std::uint8_t>(e[j] - base);
      const std::uint8_t b = static_cast<std::uint8_t>(e[j + half] - base);
      const std::uint8_t a_in = static_cast<std::uint8_t>(a - 1) < 15;
      const std::uint8_t b_in = static_cast<std::uint8_t>(b - 1) < 15;
      missing |= static_cast<std::uint8_t>((a_in & b_in) ^ 1);
      packed[j] = static_cast<std::uint8_t>((a_in ? a : 0) | ((b_in ? b : 0) << 4));
    }
    if (missing) {
      for (std::size_t j = j0; j < j1; ++j)
        if (nibble(e[j]) == 0) s.exceptions.push_back(e[j]);
      for (std::size_t j = j0; j < j1; ++j)
        if (nibble(e[j + half]) == 0) s.exceptions_high.push_back(e[j + half]);
      if (s.exceptions.size() + s.exceptions_high.size() > n / 64) return 0;
    }
  }
  if (half > rest) {  // odd n: the last byte of the first half has no partner
    packed[rest] = nibble(e[rest]);
    if (packed[rest] == 0) s.exceptions.push_back(e[rest]);
  }
  const std::size_t x = s.exceptions.size() + s.exceptions_high.size();
  if (x > n / 64 || room < 5 + x) return 0;
  const std::size_t z = ZSTD_compress2(s.plane_cctx, dst + 5, room - 5 - x, packed, half);
  if (ZSTD_isError(z) || 5 + z + x >= n) return 0;
  dst[0] = lo;
  for (int b = 0; b < 4; ++b) dst[1 + b] = static_cast<std::uint8_t>(x >> (8 * b));
  std::uint8_t* tail = dst + 5 + z;
  if (!s.exceptions.empty()) std::memcpy(tail, s.exceptions.data(), s.exceptions.size());
  if (!s.exceptions_high.empty())
    std::memcpy(tail + s.exceptions.size(), s.exceptions_high.data(), s.exceptions_high.size());
  return 5 + z + x;
}

// Decodes a nibble plane body into out (the plane's n bytes).
Status decode_nibbles(ThreadState& s, std::span<const std::uint8_t> body, std::span<std::uint8_t> out) {
  const std::size_t n = out.size();
  const std::size_t half = (n + 1) / 2, rest = n - half;
  if (body.size() < 5) return corrupt("nibble plane header truncated");
  const std::uint8_t lo = body[0];
  if (lo + kNibbleWindow > 256) return corrupt("nibble plane window past 255");
  const std::size_t x = get_u32(body.data() + 1);
  if (x > body.size() - 5) return corrupt("nibble plane exceptions past its end");
  if (s.nibbles.size() < half) s.nibbles.resize(half);
  const std::span<std::uint8_t> packed(s.nibbles.data(), half);
  if (!zstd_decompress_exact(s, body.subspan(5, body.size() - 5 - x), packed))
    return corrupt("nibble plane does not decode");
  const std::uint8_t base = static_cast<std::uint8_t>(lo - 1);  // what nibble 0 unpacks to
  std::uint8_t* o = out.data();
  for (std::size_t j = 0; j < rest; ++j) {
    o[j] = static_cast<std::uint8_t>(base + (packed[j] & 0x0F));
    o[j + half] = static_cast<std::uint8_t>(base + (packed[j] >> 4));
  }
  if (half > rest) {
    if (packed[rest] >> 4) return corrupt("nibble plane has a high nibble past its end");
    o[rest] = static_cast<std::uint8_t>(base + packed[rest]);
  }
  // Nibbles 1..15 unpack to base + 1 .. base + 15, so the bytes equal to base are exactly the
  // exceptions' places.
  const std::uint8_t* exception = body.data() + body.size() - x;
  std::size_t found = 0;
  for (std::uint8_t *p = o, *end = o + n; (p = static_cast<std::uint8_t*>(std::memchr(p, base, end - p)));) {
    if (found == x) return corrupt("nibble plane has more exceptions than it lists");
    *p++ = exception[found++];
  }
  if (found != x) return corrupt("nibble plane lists more exceptions than it has");
  return Status::ok();
}

// Splits `in` into planes and codes each with zstd-1 or raw, whichever is smaller. Planes are
// compressed into the thread's scratch first so the output is allocated once, at its final size.
std::vector<std::uint8_t> encode_planes(std::span<const std::uint8_t> in, std::size_t esize,
                                        Split split) {
  ThreadState& s = state();
  const std::size_t n = in.size() / esize;
  if (s.planes.size() < in.size()) s.planes.resize(in.size());
  split_planes(in, esize, split, s.planes.data());

  const std::size_t bound = ZSTD_compressBound(n);
  if (s.packed.size() < esize * bound) s.packed.resize(esize * bound);
  std::size_t stored[4] = {};
  std::uint8_t mode[4] = {};
  std::size_t total = esize * 5;
  for (std::size_t p = 0; p < esize; ++p) {
    const std::span<const std::uint8_t> plane(s.planes.data() + p * n, n);
    std::uint8_t* dst = s.packed.data() + p * bound;
    stored[p] = n;
    if (const std::optional<std::uint8_t> lo = nibble_window(plane)) {
      if (const std::size_t c = encode_nibbles(s, plane, *lo, dst, bound)) {
        mode[p] = 2;
        stored[p] = c;
        total += c;
        continue;
      }
    }
    bool compress = n > 0;
    std::size_t sampled = 0, head = 0;  // plane bytes in the sample's frame, and its length
    if (compress && n > 2 * kSampleBytes) {
      const std::size_t c = ZSTD_compress2(s.plane_cctx, dst, bound, plane.data(), kSampleBytes);
      compress = !ZSTD_isError(c) && c < kSampleKeep * kSampleBytes;
      if (compress) {
        sampled = kSampleBytes;
        head = c;
      }
    }
    if (compress) {
      const std::size_t c =
          ZSTD_compress2(s.plane_cctx, dst + head, bound - head, plane.data() + sampled, n - sampled);
      if (!ZSTD_isError(c) && head + c < n) {
        mode[p] = 1;
        stored[p] = head + c;
      }
    }
    total += stored[p];
  }
  // Appended into reserved room: a sized vector would zero every byte before the copy.
  std::vector<std::uint8_t> out;
  out.reserve(total);
  out.insert(out.end(), mode, mode + esize);
  for (std::size_t p = 0; p < esize; ++p)
    for (int b = 0; b < 4; ++b) out.push_back(static_cast<std::uint8_t>(stored[p] >> (8 * b)));
  for (std::size_t p = 0; p < esize; ++p) {
    const std::uint8_t* src = mode[p] != 0 ? s.packed.data() + p * bound : s.planes.data() + p * n;
    out.insert(out.end(), src, src + stored[p]);
  }
  return out;
}

// Decodes a plane container into `out` (its size is the raw length). The returned pointers
// of zstd planes point into the thread's `decoded` buffer.
Status decode_planes(std::span<const std::uint8_t> stored, std::size_t esize, Split split,
                     std::span<std::uint8_t> out) {
  if (out.size() % esize != 0) return corrupt("frame length is not a whole number of elements");
  const std::size_t n = out.size() / esize;
  const std::size_t header = esize * 5;
  if (stored.size() < header) return corrupt("plane header truncated");
  ThreadState& s = state();
  if (s.decoded.size() < out.size()) s.decoded.resize(out.size());
  const std::uint8_t* planes[4] = {};
  std::size_t at = header;
  for (std::size_t p = 0; p < esize; ++p) {
    const std::uint8_t mode = stored[p];
    const std::size_t len = get_u32(stored.data() + esize + 4 * p);
    if (len > stored.size() - at) return corrupt("plane length past the end of the frame");
    const std::span<const std::uint8_t> body = stored.subspan(at, len);
    at += len;
    if (mode == 0) {
      if (len != n) return corrupt("raw plane has the wrong length");
      planes[p] = body.data();
    } else if (mode == 1) {
      std::span<std::uint8_t> dst(s.decoded.data() + p * n, n);
      if (!zstd_decompress_exact(s, body, dst)) return corrupt("plane does not decode");
      planes[p] = dst.data();
    } else if (mode == 2) {
      std::span<std::uint8_t> dst(s.decoded.data() + p * n, n);
      GROVE_RETURN_IF_ERROR(decode_nibbles(s, body, dst));
      planes[p] = dst.data();
    } else {
      return corrupt("unknown plane mode");
    }
  }
  if (at != stored.size()) return corrupt("trailing bytes after the planes");
  merge_planes(planes, n, esize, split, out.data());
  return Status::ok();
}

// ---- float transforms -------------------------------------------------------------------------

// key(): float bits -> unsigned integer in value order (negatives reversed below positives);
// a bijection, so a difference of keys always round-trips.
inline std::uint16_t key16(std::uint16_t v) {
  const std::uint16_t mask = static_cast<std::uint16_t>(static_cast<std::int16_t>(v) >> 15);
  return static_cast<std::uint16_t>(v ^ (mask | 0x8000u));
}
inline std::uint16_t unkey16(std::uint16_t k) {
  const std::uint16_t mask =
      static_cast<std::uint16_t>(static_cast<std::int16_t>(static_cast<std::uint16_t>(~k)) >> 15);
  return static_cast<std::uint16_t>(k ^ (mask | 0x8000u));
}
inline std::uint32_t key32(std::uint32_t v) {
  const std::uint32_t mask = static_cast<std::uint32_t>(static_cast<std::int32_t>(v) >> 31);
  return v ^ (mask | 0x80000000u);
}
inline std::uint32_t unkey32(std::uint32_t k) {
  const std::uint32_t mask = static_cast<std::uint32_t>(static_cast<std::int32_t>(~k) >> 31);
  return k ^ (mask | 0x80000000u);
}

void ulp_forward(std::span<const std::uint8_t> raw, std::span<const std::uint8_t> base,
                 std::size_t esize, std::uint8_t* out) {
  const std::size_t n = raw.size() / esize;
  if (esize == 2) {
    for (std::size_t i = 0; i < n; ++i) {
      const auto d = static_cast<std::uint16_t>(key16(load16(raw.data() + 2 * i)) -
                                                key16(load16(base.data() + 2 * i)));
      const auto z = static_cast<std::uint16_t>(
          (d << 1) ^ static_cast<std::uint16_t>(static_cast<std::int16_t>(d) >> 15));
      store16(out + 2 * i, z);
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t d = key32(load32(raw.data() + 4 * i)) - key32(load32(base.data() + 4 * i));
      const std::uint32_t z =
          (d << 1) ^ static_cast<std::uint32_t>(static_cast<std::int32_t>(d) >> 31);
      store32(out + 4 * i, z);
    }
  }
}

void ulp_inverse(std::span<std::uint8_t> io, std::span<const std::uint8_t> base,
                 std::size_t esize) {
  const std::size_t n = io.size() / esize;
  if (esize == 2) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint16_t z = load16(io.data() + 2 * i);
      const auto d = static_cast<std::uint16_t>((z >> 1) ^ static_cast<std::uint16_t>(-(z & 1)));
      store16(io.data() + 2 * i,
              unkey16(static_cast<std::uint16_t>(key16(load16(base.data() + 2 * i)) + d)));
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t z = load32(io.data() + 4 * i);
      const std::uint32_t d = (z >> 1) ^ (0u - (z & 1u));
      store32(io.data() + 4 * i, unkey32(key32(load32(base.data() + 4 * i)) + d));
    }
  }
}

void xor_bytes(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b,
               std::uint8_t* out) {
  for (std::size_t i = 0; i < a.size(); ++i) out[i] = a[i] ^ b[i];
}

void xor_in_place(std::span<std::uint8_t> io, std::span<const std::uint8_t> b) {
  for (std::size_t i = 0; i < io.size(); ++i) io[i] ^= b[i];
}

// ---- casts (round to nearest even, as PyTorch's .to() does) ------------------------------------

float bits_to_float(std::uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float f16_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) return bits_to_float(sign | 0x7F800000u | (mant << 13));
  if (exp != 0) return bits_to_float(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return bits_to_float(sign);
  int e = 113;  // subnormal: normalise
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    --e;
  }
  return bits_to_float(sign | (static_cast<std::uint32_t>(e) << 23) | ((mant & 0x3FFu) << 13));
}

std::uint16_t float_to_bf16(std::uint32_t bits) {
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  return static_cast<std::uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

std::uint16_t float_to_f16(std::uint32_t bits) {
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t exponent = (bits >> 23) & 0xFFu;
  std::uint32_t mantissa = bits & 0x7FFFFFu;
  if (exponent == 0xFF) {
    return static_cast<std::uint16_t>(sign | 0x7C00u | (mantissa != 0 ? 0x200u | (mantissa >> 13) : 0u));
  }
  const int unbiased = static_cast<int>(exponent) - 127;
  if (unbiased > 15) return static_cast<std::uint16_t>(sign | 0x7C00u);
  if (unbiased >= -14) {
    std::uint32_t half = (static_cast<std::uint32_t>(unbiased + 15) << 10) | (mantissa >> 13);
    const std::uint32_t dropped = mantissa & 0x1FFFu;
    if (dropped > 0x1000u || (dropped == 0x1000u && (half & 1u))) ++half;
    return static_cast<std::uint16_t>(sign | half);
  }
  if (unbiased < -25) return sign;
  mantissa |= 0x800000u;
  const int shift = -unbiased - 1;
  std::uint32_t half = mantissa >> shift;
  const std::uint32_t dropped = mantissa & ((1u << shift) - 1u);
  const std::uint32_t halfway = 1u << (shift - 1);
  if (dropped > halfway || (dropped == halfway && (half & 1u))) ++half;
  return static_cast<std::uint16_t>(sign | half);
}

// The float32 bits of element i of a float frame.
std::uint32_t element_as_f32(const std::uint8_t* p, ElementType type) {
  switch (type) {
    case ElementType::kBF16: return static_cast<std::uint32_t>(load16(p)) << 16;
    case ElementType::kF16: {
      const float f = f16_to_float(load16(p));
      std::uint32_t bits;
      std::memcpy(&bits, &f, 4);
      return bits;
    }
    default: return load32(p);
  }
}

// Writes the cast of base element `p` (type `from`) to type `to` at `out`.
void cast_element(const std::uint8_t* p, ElementType from, ElementType to, std::uint8_t* out) {
  const std::uint32_t bits = element_as_f32(p, from);
  switch (to) {
    case ElementType::kBF16: store16(out, float_to_bf16(bits)); break;
    case ElementType::kF16: store16(out, float_to_f16(bits)); break;
    default: store32(out, bits); break;
  }
}

// Between the two 16-bit types every cast is one lookup in a 128 KiB table (built once).
const std::uint16_t* cast_table16(ElementType from) {
  static const std::vector<std::uint16_t> bf16_to_f16 = [] {
    std::vector<std::uint16_t> t(65536);
    for (std::uint32_t v = 0; v < 65536; ++v) t[v] = float_to_f16(v << 16);
    return t;
  }();
  static const std::vector<std::uint16_t> f16_to_bf16 = [] {
    std::vector<std::uint16_t> t(65536);
    for (std::uint32_t v = 0; v < 65536; ++v) {
      std::uint8_t b[2];
      store16(b, static_cast<std::uint16_t>(v));
      t[v] = float_to_bf16(element_as_f32(b, ElementType::kF16));
    }
    return t;
  }();
  return from == ElementType::kBF16 ? bf16_to_f16.data() : f16_to_bf16.data();
}

// Casts the n elements of `base` into `out` (n elements of type `to`).
void cast_all(const std::uint8_t* base, ElementType from, ElementType to, std::size_t n,
              std::uint8_t* out) {
  if (element_size(from) == 2 && element_size(to) == 2) {
    const std::uint16_t* table = cast_table16(from);
    for (std::size_t i = 0; i < n; ++i) store16(out + 2 * i, table[load16(base + 2 * i)]);
    return;
  }
  const std::size_t be = element_size(from), e = element_size(to);
  for (std::size_t i = 0; i < n; ++i) cast_element(base + i * be, from, to, out + i * e);
}

bool cast_applicable(std::span<const std::uint8_t> raw, ElementType type, const FrameBase& base) {
  if (!is_float(type) || !is_float(base.type) || type == base.type) return false;
  const std::size_t e = element_size(type), be = element_size(base.type);
  if (raw.size() % e != 0 || base.raw.size() % be != 0) return false;
  return raw.size() / e == base.raw.size() / be;
}

template <class Bytes>
void put_varint(Bytes& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}

// Empty when the cast does not fit well (more than a quarter of the elements are exceptions).
std::vector<std::uint8_t> encode_cast(std::span<const std::uint8_t> raw, ElementType type,
                                      const FrameBase& base) {
  const std::size_t e = element_size(type);
  const std::size_t n = raw.size() / e;
  ThreadState& s = state();
  Scratch& block = s.transformed;
  block.clear();
  std::uint32_t count = 0;
  std::uint64_t previous = 0;  // index of the previous exception + 1
  if (s.decoded.size() < raw.size()) s.decoded.resize(raw.size());
  std::uint8_t* cast = s.decoded.data();
  cast_all(base.raw.data(), base.type, type, n, cast);
  for (std::size_t i = 0; i < n; ++i) {
    if (std::memcmp(cast + i * e, raw.data() + i * e, e) != 0) {
      if (++count > n / 4) return {};
      put_varint(block, i - previous);
      block.insert(block.end(), raw.data() + i * e, raw.data() + (i + 1) * e);
      previous = i + 1;
    }
  }
  std::vector<std::uint8_t> out;
  out.push_back(static_cast<std::uint8_t>(base.type));
  put_u32(out, count);
  put_u32(out, static_cast<std::uint32_t>(block.size()));
  if (count > 0) {
    const std::size_t c = zstd_compress(s, block, kPlaneLevel, s.packed, 0);
    if (c == 0) return {};
    out.insert(out.end(), s.packed.begin(), s.packed.begin() + static_cast<std::ptrdiff_t>(c));
  }
  return out;
}

Status decode_cast(std::span<const std::uint8_t> stored, ElementType type, const FrameBase& base,
                   std::span<std::uint8_t> out) {
  if (stored.size() < 9) return corrupt("cast delta header truncated");
  if (stored[0] != static_cast<std::uint8_t>(base.type)) return corrupt("cast delta base type differs");
  if (!cast_applicable(out, type, base)) return corrupt("cast delta does not fit its base");
  const std::size_t e = element_size(type);
  const std::size_t n = out.size() / e;
  const std::uint32_t count = get_u32(stored.data() + 1);
  const std::uint32_t block_len = get_u32(stored.data() + 5);
  if (count > n || block_len > static_cast<std::uint64_t>(count) * (10 + e))
    return corrupt("cast delta exception count out of range");
  if (count == 0 && (block_len != 0 || stored.size() != 9)) return corrupt("cast delta has trailing bytes");
  cast_all(base.raw.data(), base.type, type, n, out.data());
  if (count == 0) return Status::ok();
  ThreadState& s = state();
  if (s.decoded.size() < block_len) s.decoded.resize(block_len);
  std::span<std::uint8_t> block(s.decoded.data(), block_len);
  if (!zstd_decompress_exact(s, stored.subspan(9), block)) return corrupt("cast exceptions do not decode");
  std::size_t at = 0;
  std::uint64_t next = 0;
  for (std::uint32_t k = 0; k < count; ++k) {
    std::uint64_t gap = 0;
    int shift = 0;
    while (true) {
      if (at >= block.size() || shift > 63) return corrupt("cast exception list truncated");
      const std::uint8_t b = block[at++];
      gap |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      shift += 7;
      if ((b & 0x80) == 0) break;
    }
    if (gap >= n - next || block.size() - at < e) return corrupt("cast exception out of range");
    const std::uint64_t index = next + gap;
    std::memcpy(out.data() + index * e, block.data() + at, e);
    at += e;
    next = index + 1;
  }
  if (at != block.size()) return corrupt("trailing bytes after the cast exceptions");
  return Status::ok();
}

Split split_for(ElementType type) {
  return (type == ElementType::kBF16 || type == ElementType::kF16) ? Split::kFloat16 : Split::kBytes;
}

// The best standalone encoding, raw when it saves under 5 %.
EncodedFrame encode_standalone(std::span<const std::uint8_t> raw, ElementType type) {
  EncodedFrame frame;
  const std::size_t e = element_size(type);
  if (raw.empty()) return frame;
  if (is_float(type) && raw.size() % e == 0) {
    frame.codec = e == 2 ? Codec::kPlanes16 : Codec::kPlanes32;
    frame.bytes = encode_planes(raw, e, split_for(type));
  } else {
    ThreadState& s = state();
    const std::size_t c = zstd_compress(s, raw, kTextLevel, s.packed, 0);
    if (c != 0) {
      frame.codec = Codec::kZstd;
      frame.bytes.assign(s.packed.begin(), s.packed.begin() + static_cast<std::ptrdiff_t>(c));
    }
  }
  if (frame.codec == Codec::kRaw || frame.bytes.size() >= kMinSaving * static_cast<double>(raw.size())) {
    frame.codec = Codec::kRaw;
    frame.bytes.assign(raw.begin(), raw.end());
  }
  return frame;
}

bool same_shape(std::span<const std::uint8_t> raw, ElementType type, const FrameBase& base) {
  return base.type == type && base.raw.size() == raw.size() && raw.size() % element_size(type) == 0;
}

// The smallest delta encoding against `base`, or an empty frame (codec kRaw) when none applies.
EncodedFrame encode_best_delta(std::span<const std::uint8_t> raw, ElementType type,
                               const FrameBase& base) {
  EncodedFrame best;
  if (raw.empty()) return best;
  const std::size_t e = element_size(type);
  auto consider = [&best](Codec codec, std::vector<std::uint8_t> bytes) {
    if (bytes.empty()) return;
    if (best.bytes.empty() || bytes.size() < best.bytes.size()) {
      best.codec = codec;
      best.bytes = std::move(bytes);
    }
  };
  if (same_shape(raw, type, base)) {
    Scratch& work = state().transformed;  // encode_planes uses other buffers
    work.resize(raw.size());
    if (is_float(type)) {
      ulp_forward(raw, base.raw, e, work.data());
      consider(Codec::kUlpDelta, encode_planes({work.data(), raw.size()}, e, Split::kBytes));
    }
    // XOR is tried too when the ulp delta is poor: it wins when values jump far in ulps but
    // keep their high bits (e.g. sign flips), and it is the only delta for plain bytes.
    if (best.bytes.empty() || best.bytes.size() > raw.size() / 2) {
      xor_bytes(raw, base.raw, work.data());
      consider(Codec::kXorDelta, encode_planes({work.data(), raw.size()}, e, split_for(type)));
    }
  } else if (cast_applicable(raw, type, base)) {
    consider(Codec::kCastDelta, encode_cast(raw, type, base));
  }
  return best;
}

}  // namespace

const char* codec_name(Codec codec) {
  switch (codec) {
    case Codec::kRaw: return "raw";
    case Codec::kZstd: return "zstd";
    case Codec::kPlanes16: return "planes16";
    case Codec::kPlanes32: return "planes32";
    case Codec::kXorDelta: return "xor-delta";
    case Codec::kUlpDelta: return "ulp-delta";
    case Codec::kCastDelta: return "cast-delta";
  }
  return "unknown";
}

EncodedFrame encode_frame(std::span<const std::uint8_t> raw, ElementType type,
                          const FrameBase* base) {
  EncodedFrame standalone = encode_standalone(raw, type);
  if (base == nullptr || raw.empty()) return standalone;
  EncodedFrame delta = encode_best_delta(raw, type, *base);
  if (!delta.bytes.empty() &&
      static_cast<double>(delta.bytes.size()) < kDeltaMax * static_cast<double>(standalone.bytes.size())) {
    return delta;
  }
  return standalone;
}

double delta_ratio(std::span<const std::uint8_t> raw, ElementType type, const FrameBase& base) {
  if (raw.empty()) return 1.0;
  const EncodedFrame delta = encode_best_delta(raw, type, base);
  if (delta.bytes.empty()) return 1.0;
  const EncodedFrame standalone = encode_standalone(raw, type);
  return static_cast<double>(delta.bytes.size()) / static_cast<double>(standalone.bytes.size());
}

Status decode_frame(Codec codec, std::span<const std::uint8_t> stored, ElementType type,
                    const FrameBase* base, std::span<std::uint8_t> out) {
  const std::size_t e = element_size(type);
  switch (codec) {
    case Codec::kRaw:
      if (stored.size() != out.size()) return corrupt("raw frame has the wrong length");
      if (!out.empty()) std::memcpy(out.data(), stored.data(), out.size());
      return Status::ok();
    case Codec::kZstd:
      if (!zstd_decompress_exact(state(), stored, out)) return corrupt("zstd frame does not decode");
      return Status::ok();
    case Codec::kPlanes16:
      if (e != 2) return corrupt("planes16 frame of a non 16-bit type");
      return decode_planes(stored, 2, Split::kFloat16, out);
    case Codec::kPlanes32:
      if (e != 4) return corrupt("planes32 frame of a non 32-bit type");
      return decode_planes(stored, 4, Split::kBytes, out);
    case Codec::kXorDelta: {
      if (base == nullptr) return invalid_argument("xor delta frame needs its base");
      if (!same_shape(out, type, *base)) return corrupt("xor delta does not fit its base");
      GROVE_RETURN_IF_ERROR(decode_planes(stored, e, split_for(type), out));
      xor_in_place(out, base->raw);
      return Status::ok();
    }
    case Codec::kUlpDelta: {
      if (base == nullptr) return invalid_argument("ulp delta frame needs its base");
      if (!is_float(type) || !same_shape(out, type, *base)) return corrupt("ulp delta does not fit its base");
      GROVE_RETURN_IF_ERROR(decode_planes(stored, e, Split::kBytes, out));
      ulp_inverse(out, base->raw, e);
      return Status::ok();
    }
    case Codec::kCastDelta:
      if (base == nullptr) return invalid_argument("cast delta frame needs its base");
      return decode_cast(stored, type, *base, out);
  }
  return corrupt("unknown codec " + std::to_string(static_cast<int>(codec)));
}

}  // namespace grove::storage
