#include "common/digest.h"

#include <openssl/evp.h>

#include <stdexcept>

extern "C" {
#include "blake3.h"
}

namespace grove {

std::string to_hex(ByteSpan bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return out;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool from_hex(std::string_view hex, std::span<std::uint8_t> out) {
  if (hex.size() != out.size() * 2) return false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

bool is_lower_hex(std::string_view s, std::size_t n) {
  if (s.size() != n) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// OpenSSL's EVP digests behind one small holder. Allocation failure here is a bug-level
// condition (out of memory), so it throws rather than threading a Status through every hasher.
struct EvpState {
  EVP_MD_CTX* ctx;
  explicit EvpState(const EVP_MD* md) : ctx(EVP_MD_CTX_new()) {
    if (!ctx || EVP_DigestInit_ex(ctx, md, nullptr) != 1) throw std::bad_alloc();
  }
  ~EvpState() { EVP_MD_CTX_free(ctx); }
  void update(ByteSpan data) { EVP_DigestUpdate(ctx, data.data(), data.size()); }
  void finish(std::uint8_t* out) {
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, out, &len);
  }
};

struct Sha256::State : EvpState {
  State() : EvpState(EVP_sha256()) {}
};
Sha256::Sha256() : state_(std::make_unique<State>()) {}
Sha256::~Sha256() = default;
void Sha256::update(ByteSpan data) { state_->update(data); }
Sha256Digest Sha256::finish() {
  Sha256Digest d;
  state_->finish(d.bytes.data());
  return d;
}
Sha256Digest Sha256::of(ByteSpan data) {
  Sha256 h;
  h.update(data);
  return h.finish();
}

struct Sha1::State : EvpState {
  State() : EvpState(EVP_sha1()) {}
};
Sha1::Sha1() : state_(std::make_unique<State>()) {}
Sha1::~Sha1() = default;
void Sha1::update(ByteSpan data) { state_->update(data); }
Sha1Digest Sha1::finish() {
  Sha1Digest d;
  state_->finish(d.bytes.data());
  return d;
}
Sha1Digest Sha1::of(ByteSpan data) {
  Sha1 h;
  h.update(data);
  return h.finish();
}

struct Blake3::State {
  blake3_hasher hasher;
};
Blake3::Blake3() : state_(std::make_unique<State>()) { blake3_hasher_init(&state_->hasher); }
Blake3::Blake3(const std::array<std::uint8_t, 32>& key) : state_(std::make_unique<State>()) {
  blake3_hasher_init_keyed(&state_->hasher, key.data());
}
Blake3::~Blake3() = default;
void Blake3::update(ByteSpan data) { blake3_hasher_update(&state_->hasher, data.data(), data.size()); }
Blake3Digest Blake3::finish() {
  Blake3Digest d;
  blake3_hasher_finalize(&state_->hasher, d.bytes.data(), d.bytes.size());
  return d;
}
Blake3Digest Blake3::of(ByteSpan data) {
  Blake3 h;
  h.update(data);
  return h.finish();
}

}  // namespace grove
