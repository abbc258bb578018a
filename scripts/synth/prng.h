// Deterministic randomness for grove-synth. Every value the generator writes comes from these
// streams, so the output is byte-for-byte the same for a given seed on every machine:
// - only integer arithmetic and IEEE-754 basic operations (+ - * / sqrt) are used; the C++
//   library's distributions and libm's log/exp are implementation-defined and are avoided;
// - the target is built with -ffp-contract=off so no compiler fuses a*b+c into an FMA.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>

namespace grove::synth {

// SplitMix64: seeds the other generator and mixes stream keys.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t state) : state_(state) {}
  std::uint64_t next();

 private:
  std::uint64_t state_;
};

// xoshiro256** (Blackman & Vigna), seeded from a SplitMix64 of the 64-bit key.
class Xoshiro256 {
 public:
  explicit Xoshiro256(std::uint64_t key);
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n); n > 0. The modulo bias (< n / 2^64) is irrelevant here.
  std::uint64_t below(std::uint64_t n) { return next() % n; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

// Standard normal variates by the ziggurat method (Marsaglia & Tsang, in Doornik's 2005 form
// with 256 layers): one generator output per value in 98.5 % of draws. Its tables, the wedge test
// and the tail use det_exp / det_log instead of libm.
class NormalSampler {
 public:
  explicit NormalSampler(std::uint64_t key);
  double next() {
    const std::uint64_t bits = rng_.next();
    // The top 53 bits give u in [-1, 1); the low 8 bits, independent of them, pick the layer.
    const double u = static_cast<double>(bits >> 11) * 0x1.0p-52 - 1.0;
    const unsigned layer = static_cast<unsigned>(bits & 0xFF);
    if (std::fabs(u) < table_.ratio[layer]) return u * table_.x[layer];
    return next_slow(u, layer);
  }
  Xoshiro256& rng() { return rng_; }

  struct Table {
    double x[257];      // layer edges; x[0] is the bottom block's pseudo width V / f(R)
    double f[257];      // exp(-x[i]^2 / 2) for i >= 1
    double ratio[256];  // x[i + 1] / x[i]
  };

 private:
  double next_slow(double u, unsigned layer);

  Xoshiro256 rng_;
  const Table& table_;
};

// ln(x) for finite x > 0 and exp(x), accurate to ~1e-15 relative, from basic operations only.
double det_log(double x);
double det_exp(double x);

// A 64-bit key naming one independent stream: (seed, purpose, tensor name) -> key.
std::uint64_t stream_key(std::uint64_t seed, std::string_view purpose, std::string_view name);

}  // namespace grove::synth
