// The chunker against the test vectors of specs/xet.md section 1.5, whole and streamed.
#include "storage/cdc.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

using namespace grove::storage;

namespace {

std::vector<std::uint8_t> splitmix_bytes(std::uint64_t seed, std::size_t n) {
  std::vector<std::uint8_t> out;
  out.reserve(n + 8);
  std::uint64_t state = seed;
  while (out.size() < n) {
    state += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(z >> (8 * i)));
  }
  out.resize(n);
  return out;
}

// Cumulative cut offsets when the data is fed in pieces of `piece` bytes.
std::vector<std::size_t> cuts_of(const std::vector<std::uint8_t>& data, std::size_t piece) {
  Chunker chunker;
  std::vector<std::size_t> cuts;
  std::size_t offset = 0;
  for (std::size_t at = 0; at < data.size(); at += piece) {
    const std::size_t len = std::min(piece, data.size() - at);
    for (std::size_t n : chunker.push({data.data() + at, len})) {
      offset += n;
      cuts.push_back(offset);
    }
  }
  if (std::size_t last = chunker.finish(); last > 0) cuts.push_back(offset + last);
  return cuts;
}

}  // namespace

TEST_CASE("SplitMix64 input starts as the spec says", "[storage][cdc]") {
  const auto data = splitmix_bytes(0, 111112);
  CHECK(data[0] == 175);
  CHECK(data[1] == 0xcd);
  CHECK(data[127] == 132);
  CHECK(data[111111] == 118);
}

TEST_CASE("chunker matches the xet-core vectors", "[storage][cdc]") {
  const auto data = splitmix_bytes(0, 1'000'000);
  const std::vector<std::size_t> expected = {84493,  134421, 144853, 243318, 271793, 336457, 467529,
                                             494581, 582000, 596735, 616815, 653164, 678202, 724510,
                                             815591, 827760, 958832, 991092, 1000000};
  CHECK(cuts_of(data, data.size()) == expected);
  // Streaming: any split of the input gives the same boundaries.
  for (std::size_t piece : {1, 37, 255, 8127, 8128, 65536, 131072, 131073}) {
    INFO("piece " << piece);
    CHECK(cuts_of(data, piece) == expected);
  }
}

TEST_CASE("constant bytes cut at the maximum size", "[storage][cdc]") {
  const std::vector<std::uint8_t> data(1'000'000, 0x3B);
  const std::vector<std::size_t> expected = {131072, 262144, 393216, 524288,
                                             655360, 786432, 917504, 1000000};
  CHECK(cuts_of(data, data.size()) == expected);
  CHECK(cuts_of(data, 1000) == expected);
}

TEST_CASE("short and empty inputs", "[storage][cdc]") {
  const std::string hello = "hello world";
  Chunker chunker;
  CHECK(chunker.push({reinterpret_cast<const std::uint8_t*>(hello.data()), hello.size()}).empty());
  CHECK(chunker.finish() == 11);
  CHECK(chunker.finish() == 0);  // nothing pending after finish
  Chunker empty;
  CHECK(empty.push({}).empty());
  CHECK(empty.finish() == 0);
}

TEST_CASE("32 MiB of seed 7 gives 534 chunks", "[storage][cdc]") {
  const auto data = splitmix_bytes(7, 33'554'432);
  CHECK(cuts_of(data, 1 << 20).size() == 534);
}

TEST_CASE("trigger pattern case i = 1 from xet-core's hitting-data test", "[storage][cdc]") {
  // A 128-byte pattern plus i zero bytes repeated to 65536 bytes: the spec lists i = 1's cuts
  // under the current rule. The pattern itself is not in the spec, so this checks the
  // structural property the vector shows instead: every chunk except the last is >= MIN and
  // <= MAX, on data where the hash matches early (all-zero bytes have T[0] with high bits set).
  std::vector<std::uint8_t> data(65536, 0);
  for (std::size_t i = 0; i < data.size(); i += 129) data[i] = 0x11;  // T[0x11] has 16 zero top bits
  const auto cuts = cuts_of(data, 7);
  std::size_t previous = 0;
  for (std::size_t k = 0; k + 1 < cuts.size(); ++k) {
    CHECK(cuts[k] - previous >= Chunker::kMin);
    CHECK(cuts[k] - previous <= Chunker::kMax);
    previous = cuts[k];
  }
  CHECK(cuts.back() == data.size());
}
