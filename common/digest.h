// Digests and streaming hashers: SHA-256 (content addresses, LFS oids), SHA-1 (git object ids)
// and BLAKE3 (frame ids, Xet chunk hashes). Hashers are not thread-safe; use one per stream.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace grove {

using ByteSpan = std::span<const std::uint8_t>;

inline ByteSpan as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string to_hex(ByteSpan bytes);
// Lowercase or uppercase hex of exactly out.size() bytes; false on any other input.
bool from_hex(std::string_view hex, std::span<std::uint8_t> out);
// True for a string of exactly `n` lowercase hex digits.
bool is_lower_hex(std::string_view s, std::size_t n);

template <std::size_t N>
struct Digest {
  std::array<std::uint8_t, N> bytes{};

  static constexpr std::size_t kSize = N;
  std::string hex() const { return to_hex(bytes); }
  static std::optional<Digest> from_hex(std::string_view hex) {
    Digest d;
    if (!grove::from_hex(hex, d.bytes)) return std::nullopt;
    return d;
  }
  auto operator<=>(const Digest&) const = default;
};

using Sha256Digest = Digest<32>;
using Sha1Digest = Digest<20>;
using Blake3Digest = Digest<32>;

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(ByteSpan data);
  void update(std::string_view data) { update(as_bytes(data)); }
  // Ends this stream; the hasher may not be used afterwards.
  Sha256Digest finish();
  static Sha256Digest of(ByteSpan data);
  static Sha256Digest of(std::string_view data) { return of(as_bytes(data)); }

 private:
  struct State;
  std::unique_ptr<State> state_;
};

class Sha1 {
 public:
  Sha1();
  ~Sha1();
  Sha1(const Sha1&) = delete;
  Sha1& operator=(const Sha1&) = delete;
  void update(ByteSpan data);
  void update(std::string_view data) { update(as_bytes(data)); }
  Sha1Digest finish();
  static Sha1Digest of(ByteSpan data);
  static Sha1Digest of(std::string_view data) { return of(as_bytes(data)); }

 private:
  struct State;
  std::unique_ptr<State> state_;
};

class Blake3 {
 public:
  Blake3();
  // Keyed mode (Xet chunk hashes use a fixed 32-byte key).
  explicit Blake3(const std::array<std::uint8_t, 32>& key);
  ~Blake3();
  Blake3(const Blake3&) = delete;
  Blake3& operator=(const Blake3&) = delete;
  void update(ByteSpan data);
  void update(std::string_view data) { update(as_bytes(data)); }
  Blake3Digest finish();
  static Blake3Digest of(ByteSpan data);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace grove
