// Helpers shared by the storage tests: temporary roots, generated content, whole reads and a
// look at the packs a local store wrote.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "common/status.h"
#include "storage/blob_store.h"

namespace grove::storage::test {

// A fresh folder under /tmp, removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/grove-storage-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> out(n);
  for (auto& b : out) b = static_cast<std::uint8_t>(rng());
  return out;
}

// Reads a reader to its end in pieces of `chunk` bytes; the first error is returned.
inline Result<std::vector<std::uint8_t>> read_all(BlobReader& reader, std::size_t chunk = 64 << 10) {
  std::vector<std::uint8_t> out;
  std::vector<std::uint8_t> buf(chunk);
  for (;;) {
    Result<std::size_t> n = reader.read(buf);
    if (!n.is_ok()) return n.status();
    if (*n == 0) return out;
    out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
  }
}

inline Result<std::vector<std::uint8_t>> read_range(BlobStore& store, const Sha256Digest& digest,
                                                    std::uint64_t offset,
                                                    std::optional<std::uint64_t> length) {
  Result<std::unique_ptr<BlobReader>> reader = store.open(digest, offset, length);
  if (!reader.is_ok()) return reader.status();
  return read_all(**reader);
}

// Pack files of a local store (root/packs/ab/<name>.pack), sorted.
inline std::vector<std::string> pack_files(const std::string& root) {
  std::vector<std::string> out;
  if (!std::filesystem::exists(root + "/packs")) return out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root + "/packs"))
    if (e.is_regular_file()) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

inline std::uint64_t pack_bytes(const std::string& root) {
  std::uint64_t n = 0;
  for (const auto& p : pack_files(root)) n += std::filesystem::file_size(p);
  return n;
}

// Flips one bit of the byte at `offset` of `path`.
inline void flip_bit(const std::string& path, std::uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x10));
}

// Writes `data` in appends of random size (1 byte to `max_chunk`) and commits.
inline Result<BlobInfo> write_in_chunks(BlobStore& store, std::span<const std::uint8_t> data, std::uint64_t seed,
                                        std::size_t max_chunk = 256 << 10, const WriteHints& hints = {}) {
  auto writer = store.begin_write(hints);
  if (!writer.is_ok()) return writer.status();
  std::mt19937_64 rng(seed);
  std::span<const std::uint8_t> rest(data);
  while (!rest.empty()) {
    std::size_t n = std::min<std::size_t>(rest.size(), 1 + rng() % max_chunk);
    Status s = (*writer)->append(rest.first(n));
    if (!s.is_ok()) return s;
    rest = rest.subspan(n);
  }
  return (*writer)->commit(Sha256::of(data), data.size());
}

// --- generated safetensors content (framed_store_test, maintenance_test) ----------------------

struct TensorSpec {
  std::string name;
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::vector<std::uint8_t> bytes;
};

// A safetensors file: u64 header length, JSON header padded with spaces to 8 bytes, data.
inline std::vector<std::uint8_t> make_safetensors(const std::vector<TensorSpec>& tensors) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  header["__metadata__"] = {{"format", "pt"}};
  std::uint64_t offset = 0;
  for (const TensorSpec& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string json = header.dump();
  while (json.size() % 8 != 0) json += ' ';
  std::vector<std::uint8_t> out(8);
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(json.size() >> (8 * i));
  out.insert(out.end(), json.begin(), json.end());
  for (const TensorSpec& t : tensors) out.insert(out.end(), t.bytes.begin(), t.bytes.end());
  return out;
}

inline std::uint16_t f32_to_bf16(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, 4);
  b += 0x7fff + ((b >> 16) & 1);  // round to nearest even
  return static_cast<std::uint16_t>(b >> 16);
}

// BF16 weights like a trained layer's: normal around 0, magnitudes kept within FP16's normal range.
inline std::vector<std::uint8_t> bf16_weights(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<std::uint8_t> out(count * 2);
  for (std::size_t i = 0; i < count; ++i) {
    float v = dist(rng);
    if (std::fabs(v) < 0.001f) v = v < 0 ? -0.001f : 0.001f;
    const std::uint16_t h = f32_to_bf16(v);
    out[2 * i] = static_cast<std::uint8_t>(h);
    out[2 * i + 1] = static_cast<std::uint8_t>(h >> 8);
  }
  return out;
}

// A fine-tune of `base`: most BF16 values move by a few ulps, some stay.
inline std::vector<std::uint8_t> fine_tune(const std::vector<std::uint8_t>& base, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> out = base;
  for (std::size_t i = 0; i < out.size(); i += 2) {
    const std::uint64_t r = rng() % 100;
    if (r < 20) continue;
    const int step = r < 50 ? 1 : r < 75 ? 2 : r < 95 ? 3 : 9;
    std::uint16_t h = static_cast<std::uint16_t>(out[i] | (out[i + 1] << 8));
    h = static_cast<std::uint16_t>((rng() & 1) ? h + step : h - step);
    out[i] = static_cast<std::uint8_t>(h);
    out[i + 1] = static_cast<std::uint8_t>(h >> 8);
  }
  return out;
}

}  // namespace grove::storage::test
