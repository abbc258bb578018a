// Frame codecs: every codec round-trips generated BF16/FP16/FP32 data and edge values, the
// selection rules hold, and hostile stored bytes give kCorrupt, never a crash (run under ASan by
// the sanitizer build).
#include "storage/codec.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace grove;
using namespace grove::storage;

namespace {

using Bytes = std::vector<std::uint8_t>;

std::uint16_t to_bf16(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  return static_cast<std::uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

float from_bf16(std::uint16_t h) {
  const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void put16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}

std::uint16_t get16(const Bytes& b, std::size_t i) {
  return static_cast<std::uint16_t>(b[2 * i] | (b[2 * i + 1] << 8));
}

// n BF16 weights like a trained model's: N(0, 0.02).
Bytes bf16_weights(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  Bytes out;
  for (std::size_t i = 0; i < n; ++i) put16(out, to_bf16(normal(rng)));
  return out;
}

Bytes f32_weights(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  Bytes out(4 * n);
  for (std::size_t i = 0; i < n; ++i) {
    const float f = normal(rng);
    std::memcpy(out.data() + 4 * i, &f, 4);
  }
  return out;
}

// Moves every 16-bit value by a few ulps (in value order), like a fine-tune.
Bytes nudge16(const Bytes& base, std::uint32_t seed, int max_ulps) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> step(-max_ulps, max_ulps);
  Bytes out = base;
  for (std::size_t i = 0; i < base.size() / 2; ++i) {
    const std::uint16_t v = get16(base, i);
    if ((v & 0x7FFF) < 0x0100) continue;  // keep tiny values away from zero crossing
    const int s = step(rng);
    const std::uint16_t moved =
        (v & 0x8000) ? static_cast<std::uint16_t>(v - s) : static_cast<std::uint16_t>(v + s);
    out[2 * i] = static_cast<std::uint8_t>(moved);
    out[2 * i + 1] = static_cast<std::uint8_t>(moved >> 8);
  }
  return out;
}

Bytes decode_ok(const EncodedFrame& frame, ElementType type, const FrameBase* base,
                std::size_t raw_size) {
  Bytes out(raw_size, 0xAA);
  const Status status = decode_frame(frame.codec, frame.bytes, type, base, out);
  INFO(status.to_string());
  REQUIRE(status.is_ok());
  return out;
}

void check_round_trip(const Bytes& raw, ElementType type, const FrameBase* base = nullptr) {
  const EncodedFrame frame = encode_frame(raw, type, base);
  INFO("codec " << codec_name(frame.codec) << " size " << frame.bytes.size() << " of " << raw.size());
  CHECK(frame.bytes.size() <= raw.size());
  CHECK(decode_ok(frame, type, base, raw.size()) == raw);
}

// Edge values of a 16-bit type: ±0, ±inf, NaNs, subnormals, extremes, mixed with ordinary ones.
Bytes edge16(ElementType type, std::size_t n, std::uint32_t seed) {
  const std::vector<std::uint16_t> specials =
      type == ElementType::kBF16
          ? std::vector<std::uint16_t>{0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0xFFC1, 0x7F81,
                                       0x0001, 0x8001, 0x007F, 0x0080, 0x7F7F, 0xFF7F, 0x3F80}
          : std::vector<std::uint16_t>{0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0xFE01, 0x7C01,
                                       0x0001, 0x8001, 0x03FF, 0x0400, 0x7BFF, 0xFBFF, 0x3C00};
  std::mt19937 rng(seed);
  Bytes out;
  for (std::size_t i = 0; i < n; ++i) {
    put16(out, rng() % 3 == 0 ? specials[rng() % specials.size()] : static_cast<std::uint16_t>(rng()));
  }
  return out;
}

}  // namespace

TEST_CASE("standalone codecs round-trip and are chosen by type", "[storage][codec]") {
  SECTION("BF16 weights: planes16, about 70 % of raw") {
    const Bytes raw = bf16_weights(512 * 1024, 1);
    const EncodedFrame frame = encode_frame(raw, ElementType::kBF16);
    CHECK(frame.codec == Codec::kPlanes16);
    CHECK(frame.bytes.size() < 0.72 * raw.size());
    CHECK(decode_ok(frame, ElementType::kBF16, nullptr, raw.size()) == raw);
  }
  SECTION("FP16 weights: planes16") {
    Bytes raw;
    const Bytes bf = bf16_weights(100'000, 2);
    std::mt19937 rng(3);
    for (std::size_t i = 0; i < bf.size() / 2; ++i) {
      // FP16 with a random low mantissa: values near 0.02 in FP16 precision.
      const float f = from_bf16(get16(bf, i));
      std::uint16_t h = 0;
      const float a = std::fabs(f);
      int e = 0;
      const float m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
      if (a > 6.2e-5f && a < 60000.0f) {
        h = static_cast<std::uint16_t>(((e - 1 + 15) << 10) | (static_cast<int>(m * 2048) & 0x3FF) |
                                       (rng() & 3));
      }
      put16(raw, static_cast<std::uint16_t>(h | (f < 0 ? 0x8000 : 0)));
    }
    const EncodedFrame frame = encode_frame(raw, ElementType::kF16);
    CHECK(frame.codec == Codec::kPlanes16);
    CHECK(decode_ok(frame, ElementType::kF16, nullptr, raw.size()) == raw);
  }
  SECTION("FP32 weights: planes32") {
    const Bytes raw = f32_weights(200'000, 4);
    const EncodedFrame frame = encode_frame(raw, ElementType::kF32);
    CHECK(frame.codec == Codec::kPlanes32);
    CHECK(frame.bytes.size() < 0.95 * raw.size());
    CHECK(decode_ok(frame, ElementType::kF32, nullptr, raw.size()) == raw);
  }
  SECTION("text: zstd") {
    std::string text;
    for (int i = 0; i < 2000; ++i) text += "{\"token\": \"t" + std::to_string(i) + "\", \"id\": " + std::to_string(i) + "},\n";
    const Bytes raw(text.begin(), text.end());
    const EncodedFrame frame = encode_frame(raw, ElementType::kBytes);
    CHECK(frame.codec == Codec::kZstd);
    CHECK(decode_ok(frame, ElementType::kBytes, nullptr, raw.size()) == raw);
  }
  SECTION("random bytes and random BF16 bits: raw") {
    std::mt19937 rng(5);
    Bytes raw(300'000);
    for (auto& b : raw) b = static_cast<std::uint8_t>(rng());
    for (ElementType type : {ElementType::kBytes, ElementType::kBF16, ElementType::kF32}) {
      const EncodedFrame frame = encode_frame(raw, type);
      CHECK(frame.codec == Codec::kRaw);
      CHECK(frame.bytes == raw);
      CHECK(decode_ok(frame, type, nullptr, raw.size()) == raw);
    }
  }
  SECTION("empty, tiny and odd lengths") {
    for (std::size_t n : {0, 1, 2, 3, 5, 7, 64, 1001}) {
      Bytes raw(n, 0x3C);
      for (ElementType type : {ElementType::kBytes, ElementType::kBF16, ElementType::kF16, ElementType::kF32}) {
        check_round_trip(raw, type);
      }
    }
  }
}

TEST_CASE("edge values round-trip through every codec", "[storage][codec]") {
  for (ElementType type : {ElementType::kBF16, ElementType::kF16}) {
    const Bytes a = edge16(type, 70'000, 11);
    const Bytes b = edge16(type, 70'000, 12);
    check_round_trip(a, type);
    const FrameBase base{type, b};
    check_round_trip(a, type, &base);
    const Bytes nudged = nudge16(a, 13, 3);
    check_round_trip(nudged, type, &(const FrameBase&)FrameBase{type, a});
  }
  // FP32: NaN payloads, infinities, ±0, subnormals, extremes.
  const std::vector<std::uint32_t> specials = {0x00000000, 0x80000000, 0x7F800000, 0xFF800000,
                                               0x7FC00000, 0xFFC00001, 0x7F800001, 0x00000001,
                                               0x807FFFFF, 0x7F7FFFFF, 0xFF7FFFFF, 0x3F800000};
  std::mt19937 rng(14);
  Bytes a(4 * 50'000), b(4 * 50'000);
  for (std::size_t i = 0; i < 50'000; ++i) {
    const std::uint32_t va = rng() % 2 ? specials[rng() % specials.size()] : rng();
    const std::uint32_t vb = rng() % 2 ? specials[rng() % specials.size()] : va ^ (rng() & 0xFF);
    std::memcpy(&a[4 * i], &va, 4);
    std::memcpy(&b[4 * i], &vb, 4);
  }
  check_round_trip(a, ElementType::kF32);
  const FrameBase base{ElementType::kF32, b};
  check_round_trip(a, ElementType::kF32, &base);
}

TEST_CASE("delta codecs", "[storage][codec]") {
  const Bytes base_raw = bf16_weights(512 * 1024, 21);
  const FrameBase base{ElementType::kBF16, base_raw};
  const EncodedFrame standalone = encode_frame(base_raw, ElementType::kBF16);

  SECTION("a fine-tune moving by a few ulps: ulp delta, much smaller than standalone") {
    const Bytes ft = nudge16(base_raw, 22, 3);
    const EncodedFrame frame = encode_frame(ft, ElementType::kBF16, &base);
    CHECK(frame.codec == Codec::kUlpDelta);
    CHECK(frame.bytes.size() < 0.6 * standalone.bytes.size());
    CHECK(decode_ok(frame, ElementType::kBF16, &base, ft.size()) == ft);
    CHECK(delta_ratio(ft, ElementType::kBF16, base) < 0.6);
  }
  SECTION("sign flips keep the high bits: xor delta") {
    Bytes flipped = base_raw;
    std::mt19937 rng(23);
    for (std::size_t i = 1; i < flipped.size(); i += 2) {
      if (rng() % 4 != 0) flipped[i] ^= 0x80;  // 3 in 4: the ulp delta is poor, so XOR is tried
    }
    const EncodedFrame frame = encode_frame(flipped, ElementType::kBF16, &base);
    CHECK(frame.codec == Codec::kXorDelta);
    CHECK(decode_ok(frame, ElementType::kBF16, &base, flipped.size()) == flipped);
  }
  SECTION("bytes with a base: xor delta") {
    Bytes text(200'000);
    std::mt19937 rng(24);
    for (auto& c : text) c = static_cast<std::uint8_t>(rng());
    Bytes edited = text;
    for (std::size_t i = 0; i < edited.size(); i += 1000) edited[i] ^= 1;
    const FrameBase text_base{ElementType::kBytes, text};
    const EncodedFrame frame = encode_frame(edited, ElementType::kBytes, &text_base);
    CHECK(frame.codec == Codec::kXorDelta);
    CHECK(frame.bytes.size() < 10'000);
    CHECK(decode_ok(frame, ElementType::kBytes, &text_base, edited.size()) == edited);
  }
  SECTION("an unrelated base is not used") {
    const Bytes other = bf16_weights(512 * 1024, 25);
    const EncodedFrame frame = encode_frame(other, ElementType::kBF16, &base);
    CHECK((frame.codec == Codec::kPlanes16));
    CHECK(delta_ratio(other, ElementType::kBF16, base) >= 0.9);
    CHECK(decode_ok(frame, ElementType::kBF16, &base, other.size()) == other);
  }
  SECTION("an identical frame costs almost nothing") {
    const EncodedFrame frame = encode_frame(base_raw, ElementType::kBF16, &base);
    CHECK(frame.bytes.size() < 200);
    CHECK(decode_ok(frame, ElementType::kBF16, &base, base_raw.size()) == base_raw);
  }
  SECTION("FP32 fine-tune: ulp delta in four planes") {
    const Bytes f = f32_weights(100'000, 26);
    Bytes g = f;
    std::mt19937 rng(27);
    for (std::size_t i = 0; i < 100'000; ++i) {
      std::uint32_t v;
      std::memcpy(&v, &g[4 * i], 4);
      v += rng() % 64;
      std::memcpy(&g[4 * i], &v, 4);
    }
    const FrameBase fbase{ElementType::kF32, f};
    const EncodedFrame frame = encode_frame(g, ElementType::kF32, &fbase);
    CHECK(frame.codec == Codec::kUlpDelta);
    CHECK(decode_ok(frame, ElementType::kF32, &fbase, g.size()) == g);
  }
}

TEST_CASE("cast delta: a conversion is the cast plus its exceptions", "[storage][codec]") {
  // BF16 base (edge values included) -> FP16 by round to nearest even: values too small for
  // FP16 become subnormal or zero, large ones infinity; the cast reproduces all of that.
  Bytes bf = bf16_weights(300'000, 31);
  const Bytes edges = edge16(ElementType::kBF16, 2'000, 32);
  std::copy(edges.begin(), edges.end(), bf.begin());
  // A reference cast, independent of the codec's: via float and a value-based rounding.
  auto to_f16 = [](float f) -> std::uint16_t {
    if (std::isnan(f)) return 0xFFFF;  // never equal to the codec's NaN: becomes an exception
    const std::uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    const float a = std::fabs(f);
    if (a >= 65520.0f) return sign | 0x7C00;
    if (a < std::ldexp(1.0f, -14)) {  // subnormal range: units of 2^-24
      return sign | static_cast<std::uint16_t>(std::nearbyint(std::ldexp(a, 24)));
    }
    int e = 0;
    std::frexp(a, &e);  // a in [2^(e-1), 2^e)
    const float scaled = std::ldexp(a, 11 - e);  // 1024..2048
    const auto m = static_cast<std::uint32_t>(std::nearbyint(scaled));
    const std::uint32_t bits = (static_cast<std::uint32_t>(e - 1 + 15) << 10) + (m - 1024);
    return static_cast<std::uint16_t>(sign | bits);
  };
  Bytes fp16;
  std::size_t nans = 0;
  for (std::size_t i = 0; i < bf.size() / 2; ++i) {
    const float f = from_bf16(get16(bf, i));
    if (std::isnan(f)) ++nans;
    put16(fp16, to_f16(f));
  }
  const FrameBase base{ElementType::kBF16, bf};
  const EncodedFrame frame = encode_frame(fp16, ElementType::kF16, &base);
  CHECK(frame.codec == Codec::kCastDelta);
  CHECK(frame.bytes.size() < 16 + 8 * nans);  // only the NaNs (0xFFFF here) are exceptions
  CHECK(decode_ok(frame, ElementType::kF16, &base, fp16.size()) == fp16);

  SECTION("with hand-made exceptions") {
    Bytes edited = fp16;
    for (std::size_t i = 100; i < fp16.size(); i += 7919 * 2) edited[i] ^= 0x01;
    const EncodedFrame e = encode_frame(edited, ElementType::kF16, &base);
    CHECK(e.codec == Codec::kCastDelta);
    CHECK(decode_ok(e, ElementType::kF16, &base, edited.size()) == edited);
  }
  SECTION("FP32 base cast to BF16") {
    const Bytes f = f32_weights(100'000, 33);
    Bytes b;
    for (std::size_t i = 0; i < 100'000; ++i) {
      float v;
      std::memcpy(&v, &f[4 * i], 4);
      put16(b, to_bf16(v));
    }
    const FrameBase fbase{ElementType::kF32, f};
    const EncodedFrame e = encode_frame(b, ElementType::kBF16, &fbase);
    CHECK(e.codec == Codec::kCastDelta);
    CHECK(e.bytes.size() == 9);
    CHECK(decode_ok(e, ElementType::kBF16, &fbase, b.size()) == b);
  }
}

TEST_CASE("hostile stored bytes give kCorrupt, never a crash", "[storage][codec]") {
  const Bytes bf = bf16_weights(40'000, 41);
  const FrameBase base{ElementType::kBF16, bf};
  const Bytes ft = nudge16(bf, 42, 3);
  Bytes fp16;
  for (std::size_t i = 0; i < bf.size() / 2; ++i) put16(fp16, static_cast<std::uint16_t>(get16(bf, i) ^ (i % 97 == 0)));
  std::string text;
  for (int i = 0; i < 3000; ++i) text += "line " + std::to_string(i) + "\n";
  const Bytes txt(text.begin(), text.end());
  const Bytes f32 = f32_weights(20'000, 43);

  struct Case {
    Bytes raw;
    ElementType type;
    const FrameBase* base;
  };
  const std::vector<Case> cases = {{bf, ElementType::kBF16, nullptr},
                                   {ft, ElementType::kBF16, &base},
                                   {fp16, ElementType::kF16, &base},
                                   {txt, ElementType::kBytes, nullptr},
                                   {f32, ElementType::kF32, nullptr}};
  std::mt19937 rng(44);
  for (const Case& c : cases) {
    const EncodedFrame frame = encode_frame(c.raw, c.type, c.base);
    INFO("codec " << codec_name(frame.codec));
    Bytes out(c.raw.size());
    // Wrong output length.
    for (std::size_t len : {c.raw.size() - 2, c.raw.size() + 2}) {
      Bytes wrong(len);
      CHECK(decode_frame(frame.codec, frame.bytes, c.type, c.base, wrong).code() == Code::kCorrupt);
    }
    // Truncations.
    for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{5}, frame.bytes.size() / 2, frame.bytes.size() - 1}) {
      const Bytes truncated(frame.bytes.begin(), frame.bytes.begin() + static_cast<std::ptrdiff_t>(cut));
      CHECK(decode_frame(frame.codec, truncated, c.type, c.base, out).code() == Code::kCorrupt);
    }
    // An extra byte.
    Bytes longer = frame.bytes;
    longer.push_back(0);
    CHECK(decode_frame(frame.codec, longer, c.type, c.base, out).code() == Code::kCorrupt);
    // Random corruption: any outcome but a crash or an out-of-bounds access; a header byte
    // hit must be detected.
    for (int trial = 0; trial < 300; ++trial) {
      Bytes bad = frame.bytes;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) {
        const std::size_t at = trial % 3 == 0 ? rng() % std::min<std::size_t>(bad.size(), 24) : rng() % bad.size();
        bad[at] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
      }
      const Status status = decode_frame(frame.codec, bad, c.type, c.base, out);
      CHECK((status.is_ok() || status.code() == Code::kCorrupt));
    }
    // Garbage decoded as every codec.
    for (int codec = 0; codec <= 7; ++codec) {
      Bytes garbage(rng() % 200);
      for (auto& b : garbage) b = static_cast<std::uint8_t>(rng());
      const Status status = decode_frame(static_cast<Codec>(codec), garbage, c.type, c.base, out);
      CHECK(!status.is_ok());
    }
  }
  // A delta without its base is refused.
  const EncodedFrame delta = encode_frame(ft, ElementType::kBF16, &base);
  Bytes out(ft.size());
  CHECK(!decode_frame(delta.codec, delta.bytes, ElementType::kBF16, nullptr, out).is_ok());
  // A base of the wrong length.
  const FrameBase short_base{ElementType::kBF16, std::span<const std::uint8_t>(bf).first(bf.size() - 2)};
  CHECK(decode_frame(delta.codec, delta.bytes, ElementType::kBF16, &short_base, out).code() == Code::kCorrupt);
}

TEST_CASE("nibble planes: an exponent plane in a window of 15 values, with its exceptions",
          "[storage][codec]") {
  // Plane container of a BF16 frame: 2 mode bytes, 2 u32 lengths, then the exponent plane's
  // body: u8 lo, u32 exception count, zstd frame, exceptions.
  constexpr std::size_t kHeader = 10;
  const auto exceptions = [](const Bytes& stored) {
    return static_cast<std::uint32_t>(stored[kHeader + 1] | (stored[kHeader + 2] << 8) |
                                      (stored[kHeader + 3] << 16) | (stored[kHeader + 4] << 24));
  };
  SECTION("weights: the exponent plane is packed, the frame no bigger than before") {
    const Bytes raw = bf16_weights(512 * 1024, 51);
    const EncodedFrame frame = encode_frame(raw, ElementType::kBF16);
    REQUIRE(frame.codec == Codec::kPlanes16);
    CHECK(frame.bytes[0] == 2);
    CHECK(frame.bytes[1] == 0);  // sign + mantissa: stored raw
    CHECK(frame.bytes.size() < 0.70 * raw.size());
    CHECK(decode_ok(frame, ElementType::kBF16, nullptr, raw.size()) == raw);
  }
  SECTION("outliers at the ends and around the halves' seam come back in place") {
    for (std::size_t n : {std::size_t{100'000}, std::size_t{100'001}}) {  // even and odd planes
      Bytes raw = bf16_weights(n, 52);
      const std::size_t half = (n + 1) / 2;
      std::vector<std::size_t> at = {0, 1, half - 1, half, half + 1, n - 2, n - 1};
      for (std::size_t i = 7; i < n; i += 9973) at.push_back(i);
      const std::vector<std::uint16_t> outliers = {0x7F80, 0xFF80, 0x0001, 0x8000, 0x0000, 0x4F00, 0xC2F7};
      for (std::size_t k = 0; k < at.size(); ++k) {
        const std::uint16_t v = outliers[k % outliers.size()];
        raw[2 * at[k]] = static_cast<std::uint8_t>(v);
        raw[2 * at[k] + 1] = static_cast<std::uint8_t>(v >> 8);
      }
      const EncodedFrame frame = encode_frame(raw, ElementType::kBF16);
      REQUIRE(frame.codec == Codec::kPlanes16);
      CHECK(frame.bytes[0] == 2);
      // Weights this size have no natural outliers below 2^-11 of their scale worth counting,
      // so most exceptions are the planted ones.
      CHECK(exceptions(frame.bytes) >= at.size());
      CHECK(decode_ok(frame, ElementType::kBF16, nullptr, raw.size()) == raw);
    }
  }
  SECTION("too many values outside the window: plain zstd plane") {
    Bytes raw = bf16_weights(200'000, 53);
    std::mt19937 rng(54);
    for (std::size_t i = 0; i < 200'000; i += 40) {  // 2.5 %, spread so the sample sees them
      const std::uint16_t v = static_cast<std::uint16_t>(0x4000 + (rng() % 0x3000));
      raw[2 * i] = static_cast<std::uint8_t>(v);
      raw[2 * i + 1] = static_cast<std::uint8_t>(v >> 8);
    }
    const EncodedFrame frame = encode_frame(raw, ElementType::kBF16);
    REQUIRE(frame.codec == Codec::kPlanes16);
    CHECK(frame.bytes[0] == 1);
    CHECK(decode_ok(frame, ElementType::kBF16, nullptr, raw.size()) == raw);
  }
  SECTION("a wrong exception count or window is corrupt") {
    Bytes raw = bf16_weights(100'000, 55);
    raw[1] = 0x7F;  // one sure exception
    const EncodedFrame frame = encode_frame(raw, ElementType::kBF16);
    REQUIRE(frame.bytes[0] == 2);
    const std::uint32_t x = exceptions(frame.bytes);
    REQUIRE(x >= 1);
    Bytes out(raw.size());
    for (std::uint32_t wrong : {x - 1, x + 1}) {
      Bytes bad = frame.bytes;
      for (int b = 0; b < 4; ++b) bad[kHeader + 1 + b] = static_cast<std::uint8_t>(wrong >> (8 * b));
      CHECK(decode_frame(frame.codec, bad, ElementType::kBF16, nullptr, out).code() == Code::kCorrupt);
    }
    Bytes bad = frame.bytes;
    bad[kHeader] = 250;  // a window reaching past 255
    CHECK(decode_frame(frame.codec, bad, ElementType::kBF16, nullptr, out).code() == Code::kCorrupt);
  }
}
