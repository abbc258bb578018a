#include "scripts/synth/prng.h"

#include <cmath>
#include <cstring>

namespace grove::synth {

std::uint64_t SplitMix64::next() {
  std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

Xoshiro256::Xoshiro256(std::uint64_t key) {
  SplitMix64 seeder(key);
  for (auto& word : s_) word = seeder.next();
}

namespace {

constexpr int kLayers = 256;
constexpr double kTailStart = 3.6541528853610088;  // R: where the tail begins
constexpr double kLayerArea = 4.92867323399e-3;    // V: the area of every layer

double density(double x) { return det_exp(-0.5 * x * x); }  // unnormalised N(0, 1)

NormalSampler::Table make_table() {
  NormalSampler::Table t;
  double f = density(kTailStart);
  t.x[0] = kLayerArea / f;
  t.x[1] = kTailStart;
  t.x[kLayers] = 0;
  t.f[0] = 0;  // unused: layer 0 samples the tail
  t.f[1] = f;
  t.f[kLayers] = 1;
  for (int i = 2; i < kLayers; ++i) {
    t.x[i] = std::sqrt(-2.0 * det_log(kLayerArea / t.x[i - 1] + f));
    f = density(t.x[i]);
    t.f[i] = f;
  }
  for (int i = 0; i < kLayers; ++i) t.ratio[i] = t.x[i + 1] / t.x[i];
  return t;
}

const NormalSampler::Table& ziggurat_table() {
  static const NormalSampler::Table table = make_table();
  return table;
}

// Uniform in (0, 1]: never 0, so its log is finite.
double open_uniform(Xoshiro256& rng) {
  return static_cast<double>((rng.next() >> 11) + 1) * 0x1.0p-53;
}

}  // namespace

NormalSampler::NormalSampler(std::uint64_t key) : rng_(key), table_(ziggurat_table()) {}

double NormalSampler::next_slow(double u, unsigned layer) {
  for (;;) {
    if (layer == 0) {
      // The bottom block's overhang: Marsaglia's exact sampler for the tail beyond R.
      double x, y;
      do {
        x = det_log(open_uniform(rng_)) / kTailStart;
        y = det_log(open_uniform(rng_));
      } while (-2.0 * y < x * x);
      return u < 0 ? x - kTailStart : kTailStart - x;
    }
    // A point in the wedge between layer `layer` and the curve.
    const double x = u * table_.x[layer];
    const double f_outer = table_.f[layer], f_inner = table_.f[layer + 1];
    if (f_outer + rng_.uniform() * (f_inner - f_outer) < density(x)) return x;

    const std::uint64_t bits = rng_.next();
    u = static_cast<double>(bits >> 11) * 0x1.0p-52 - 1.0;
    layer = static_cast<unsigned>(bits & 0xFF);
    if (std::fabs(u) < table_.ratio[layer]) return u * table_.x[layer];
  }
}

double det_log(double x) {
  // x = m * 2^e with m in [sqrt(1/2), sqrt(2)); frexp is exact.
  int e = 0;
  double m = std::frexp(x, &e);  // m in [0.5, 1)
  if (m < 0.70710678118654752) {
    m *= 2.0;
    e -= 1;
  }
  // ln(m) = 2 atanh(t), t = (m-1)/(m+1), |t| <= 0.1716, so t^2 <= 0.0295 and the series
  // truncated after t^17 errs by < 1e-16.
  const double t = (m - 1.0) / (m + 1.0);
  const double t2 = t * t;
  double series = 1.0 / 17.0;
  series = series * t2 + 1.0 / 15.0;
  series = series * t2 + 1.0 / 13.0;
  series = series * t2 + 1.0 / 11.0;
  series = series * t2 + 1.0 / 9.0;
  series = series * t2 + 1.0 / 7.0;
  series = series * t2 + 1.0 / 5.0;
  series = series * t2 + 1.0 / 3.0;
  series = series * t2 + 1.0;
  constexpr double kLn2 = 0.69314718055994530942;
  return 2.0 * t * series + static_cast<double>(e) * kLn2;
}

double det_exp(double x) {
  if (x < -745.0) return 0.0;
  if (x > 709.0) return HUGE_VAL;
  // x = k ln2 + r with |r| <= ln2 / 2 (Cody-Waite split of ln2), then a Taylor polynomial for
  // e^r to r^11 (error < 1e-14) and an exact scaling by 2^k.
  const double k = std::floor(x * 1.4426950408889634 + 0.5);
  const double r = (x - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
  static constexpr double kInverseFactorial[] = {
      1.0,       1.0,        1.0 / 2,     1.0 / 6,      1.0 / 24,      1.0 / 120,
      1.0 / 720, 1.0 / 5040, 1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800};
  double series = kInverseFactorial[11];
  for (int n = 10; n >= 0; --n) series = series * r + kInverseFactorial[n];
  const int exponent = static_cast<int>(k);
  if (exponent < -1021 || exponent > 1023) return std::ldexp(series, exponent);
  // 2^k built directly: exact, and cheaper than a call into libm.
  const std::uint64_t bits = static_cast<std::uint64_t>(exponent + 1023) << 52;
  double scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return series * scale;
}

std::uint64_t stream_key(std::uint64_t seed, std::string_view purpose, std::string_view name) {
  // FNV-1a over "purpose\0name", then mixed with the seed through SplitMix64.
  std::uint64_t h = 0xCBF29CE484222325ull;
  auto mix = [&h](std::string_view text) {
    for (unsigned char c : text) {
      h ^= c;
      h *= 0x100000001B3ull;
    }
  };
  mix(purpose);
  h *= 0x100000001B3ull;  // the separator byte 0
  mix(name);
  SplitMix64 mixer(seed ^ h);
  mixer.next();
  return mixer.next();
}

}  // namespace grove::synth
