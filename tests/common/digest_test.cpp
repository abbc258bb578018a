#include "common/digest.h"

#include <catch2/catch.hpp>

using namespace grove;

TEST_CASE("SHA-256, SHA-1 and BLAKE3 give the reference digests of \"abc\"", "[common]") {
  CHECK(Sha256::of(std::string_view("abc")).hex() ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha1::of(std::string_view("abc")).hex() == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(Blake3::of(as_bytes("abc")).hex() ==
        "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
}

TEST_CASE("streaming a hash in pieces equals hashing at once", "[common]") {
  std::string data(100000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + 7);
  Sha256 h;
  for (std::size_t i = 0; i < data.size(); i += 777) h.update(std::string_view(data).substr(i, 777));
  CHECK(h.finish() == Sha256::of(std::string_view(data)));
}

TEST_CASE("hex round trips and rejects bad input", "[common]") {
  auto d = Sha256Digest::from_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
  REQUIRE(d);
  CHECK(d->hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK_FALSE(Sha256Digest::from_hex("abc"));
  CHECK_FALSE(Sha1Digest::from_hex(std::string(40, 'g')));
  CHECK(is_lower_hex(std::string(40, 'a'), 40));
  CHECK_FALSE(is_lower_hex(std::string(40, 'A'), 40));
}
