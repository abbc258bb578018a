// grove-storage-bench: the measuring half of scripts/bench/storage (not a test).
//
//   grove-storage-bench codecs BASE_DIR [MEMBER_DIR...]
//       What storage/codec reaches on its own: every safetensors tensor cut into element-aligned
//       1 MiB frames, frames identical to one already stored cost nothing, the rest go through
//       encode_frame (against the same frame of the base's tensor of the same name for members
//       after the first; a tensor of another float type with the same element count gives a cast
//       delta); other bytes (headers, JSON) are cut by the Xet chunker and coded as bytes. Every
//       frame is decoded back and compared. Prints per member: naive bytes, stored bytes, fraction.
//   grove-storage-bench cdc DIR...
//       64 KiB CDC (Xet's chunker) over every file, dedup of identical chunks across all DIRs in
//       order, each new chunk zstd -3: the Xet-style baseline. Same output format.
//   grove-storage-bench ulp-hist BASE_DIR MEMBER_DIR
//       How the member's BF16 values moved against the base (tensors of the same name, not the
//       embeddings): shares unchanged / 1 ulp / 2-3 / 4-15 / 16+, and how many embedding rows
//       are bit-identical.
//   grove-storage-bench speed DIR [THREADS]
//       Encode and decode throughput of DIR's safetensors frames with THREADS threads (codec
//       work only, no hashing or I/O: files are mapped and pre-read).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/digest.h"
#include <nlohmann/json.hpp>
#include "storage/cdc.h"
#include "storage/codec.h"

namespace fs = std::filesystem;

// A minimal safetensors header reader (the tool must not depend on formats/): the benchmark only
// reads files the generator wrote.
namespace formats {
enum class DType { kBF16, kF16, kF32, kOther };
struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0, end = 0;
};
struct SafetensorsHeader {
  std::uint64_t header_length = 0;
  std::vector<TensorInfo> tensors;
  std::uint64_t data_offset() const { return 8 + header_length; }
};
bool parse(std::span<const std::uint8_t> file, SafetensorsHeader& out) {
  if (file.size() < 8) return false;
  std::uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  if (n > file.size() - 8) return false;
  out.header_length = n;
  const auto json = nlohmann::json::parse(file.begin() + 8, file.begin() + 8 + static_cast<std::ptrdiff_t>(n), nullptr, false);
  if (!json.is_object()) return false;
  for (const auto& [name, v] : json.items()) {
    if (name == "__metadata__") continue;
    TensorInfo t;
    t.name = name;
    const std::string dtype = v.at("dtype");
    t.dtype = dtype == "BF16" ? DType::kBF16 : dtype == "F16" ? DType::kF16 : dtype == "F32" ? DType::kF32 : DType::kOther;
    t.shape = v.at("shape").get<std::vector<std::uint64_t>>();
    t.begin = v.at("data_offsets")[0];
    t.end = v.at("data_offsets")[1];
    if (t.end < t.begin || t.end > file.size() - 8 - n) return false;
    out.tensors.push_back(t);
  }
  std::sort(out.tensors.begin(), out.tensors.end(), [](const auto& a, const auto& b) { return a.begin < b.begin; });
  return true;
}
}  // namespace formats
using namespace grove;
using namespace grove::storage;

namespace {

constexpr std::size_t kFrameBytes = 1 << 20;
// What the framed store adds per stored frame (pack header and footer entry, index row share);
// an estimate so the fractions are not flattered.
constexpr std::size_t kFrameOverhead = 48;

struct Mapped {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  Mapped() = default;
  explicit Mapped(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) {
      std::perror(path.c_str());
      std::exit(1);
    }
    struct stat st {};
    ::fstat(fd, &st);
    size = static_cast<std::size_t>(st.st_size);
    if (size > 0) {
      void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        std::perror("mmap");
        std::exit(1);
      }
      ::madvise(p, size, MADV_SEQUENTIAL);
      data = static_cast<const std::uint8_t*>(p);
    }
    ::close(fd);
  }
  Mapped(const Mapped&) = delete;
  Mapped& operator=(const Mapped&) = delete;
  ~Mapped() {
    if (data != nullptr) ::munmap(const_cast<std::uint8_t*>(data), size);
  }
  std::span<const std::uint8_t> span() const { return {data, size}; }
};

std::vector<std::string> files_of(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool is_safetensors(const std::string& path) {
  return path.size() > 12 && path.compare(path.size() - 12, 12, ".safetensors") == 0;
}

ElementType element_type(formats::DType dtype) {
  switch (dtype) {
    case formats::DType::kBF16: return ElementType::kBF16;
    case formats::DType::kF16: return ElementType::kF16;
    case formats::DType::kF32: return ElementType::kF32;
    default: return ElementType::kBytes;
  }
}

std::size_t element_size(ElementType type) {
  return type == ElementType::kF32 ? 4 : (type == ElementType::kBytes ? 1 : 2);
}

struct Tensor {
  std::span<const std::uint8_t> bytes;
  ElementType type;
};

// A model folder: its files mapped, and its tensors by name.
struct Model {
  std::vector<std::unique_ptr<Mapped>> maps;
  std::vector<std::string> paths;
  std::map<std::string, Tensor> tensors;
  std::vector<formats::SafetensorsHeader> headers;  // parallel to paths (empty when not st)
};

Model load(const std::string& dir) {
  Model model;
  for (const std::string& path : files_of(dir)) {
    model.paths.push_back(path);
    model.maps.push_back(std::make_unique<Mapped>(path));
    const Mapped& m = *model.maps.back();
    formats::SafetensorsHeader header;
    if (is_safetensors(path)) {
      if (!formats::parse(m.span(), header)) {
        std::fprintf(stderr, "%s: not a safetensors file\n", path.c_str());
        std::exit(1);
      }
      for (const formats::TensorInfo& t : header.tensors) {
        model.tensors[t.name] = Tensor{m.span().subspan(header.data_offset() + t.begin, t.end - t.begin),
                                       element_type(t.dtype)};
      }
    }
    model.headers.push_back(std::move(header));
  }
  return model;
}

struct Tally {
  std::uint64_t naive = 0;
  std::uint64_t stored = 0;
  std::map<std::string, std::uint64_t> by_codec;  // stored bytes per codec ("dedup" counts raw)
  double encode_seconds = 0;
  double decode_seconds = 0;
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

class Store {
 public:
  // Stores one frame; returns its stored size (0 when already stored).
  void put(std::span<const std::uint8_t> raw, ElementType type, const FrameBase* base, Tally& tally) {
    tally.naive += raw.size();
    const Blake3Digest id = Blake3::of(raw);
    if (!seen_.insert(id).second) {
      tally.by_codec["dedup"] += raw.size();
      return;
    }
    auto t0 = Clock::now();
    EncodedFrame frame = encode_frame(raw, type, base);
    tally.encode_seconds += seconds_since(t0);
    out_.resize(raw.size());
    t0 = Clock::now();
    const Status status = decode_frame(frame.codec, frame.bytes, type, base, out_);
    tally.decode_seconds += seconds_since(t0);
    if (!status.is_ok() || !std::equal(out_.begin(), out_.end(), raw.begin())) {
      std::fprintf(stderr, "ROUND TRIP FAILED (%s): %s\n", codec_name(frame.codec),
                   status.to_string().c_str());
      std::exit(1);
    }
    tally.stored += frame.bytes.size() + kFrameOverhead;
    tally.by_codec[codec_name(frame.codec)] += frame.bytes.size() + kFrameOverhead;
  }

 private:
  std::set<Blake3Digest> seen_;
  std::vector<std::uint8_t> out_;
};

void put_bytes_cdc(Store& store, std::span<const std::uint8_t> bytes, Tally& tally) {
  Chunker chunker;
  std::size_t at = 0;
  for (std::size_t n : chunker.push(bytes)) {
    store.put(bytes.subspan(at, n), ElementType::kBytes, nullptr, tally);
    at += n;
  }
  if (std::size_t n = chunker.finish(); n > 0) store.put(bytes.subspan(at, n), ElementType::kBytes, nullptr, tally);
}

void print_tally(const std::string& name, const Tally& t) {
  std::printf("%-20s naive %12llu stored %12llu fraction %.4f", name.c_str(),
              static_cast<unsigned long long>(t.naive), static_cast<unsigned long long>(t.stored),
              t.naive ? static_cast<double>(t.stored) / static_cast<double>(t.naive) : 0.0);
  if (t.encode_seconds > 0) {
    std::printf("  enc %.0f MB/s dec %.0f MB/s", t.naive / 1e6 / t.encode_seconds,
                t.naive / 1e6 / t.decode_seconds);
  }
  std::printf(" |");
  for (const auto& [codec, bytes] : t.by_codec) {
    std::printf(" %s=%llu", codec.c_str(), static_cast<unsigned long long>(bytes));
  }
  std::printf("\n");
  std::fflush(stdout);
}

int cmd_codecs(const std::vector<std::string>& dirs) {
  Store store;
  std::unique_ptr<Model> base;
  Tally family;
  for (std::size_t d = 0; d < dirs.size(); ++d) {
    auto model = std::make_unique<Model>(load(dirs[d]));
    Tally tally;
    for (std::size_t f = 0; f < model->paths.size(); ++f) {
      const Mapped& m = *model->maps[f];
      if (!is_safetensors(model->paths[f])) {
        put_bytes_cdc(store, m.span(), tally);
        continue;
      }
      const formats::SafetensorsHeader& header = model->headers[f];
      put_bytes_cdc(store, m.span().first(header.data_offset()), tally);
      for (const formats::TensorInfo& t : header.tensors) {
        const Tensor tensor = model->tensors[t.name];
        const std::size_t esize = element_size(tensor.type);
        const Tensor* base_tensor = nullptr;
        if (base) {
          auto it = base->tensors.find(t.name);
          if (it != base->tensors.end()) {
            const std::size_t be = element_size(it->second.type);
            if (it->second.bytes.size() / be == tensor.bytes.size() / esize) base_tensor = &it->second;
          }
        }
        for (std::size_t at = 0; at < tensor.bytes.size(); at += kFrameBytes) {
          const auto raw = tensor.bytes.subspan(at, std::min(kFrameBytes, tensor.bytes.size() - at));
          if (base_tensor != nullptr) {
            const std::size_t be = element_size(base_tensor->type);
            const FrameBase fb{base_tensor->type, base_tensor->bytes.subspan(at / esize * be, raw.size() / esize * be)};
            store.put(raw, tensor.type, &fb, tally);
          } else {
            store.put(raw, tensor.type, nullptr, tally);
          }
        }
        tally.naive += 0;
      }
      // Bytes between tensors or after the last one (none in well-formed files) are ignored.
    }
    print_tally(fs::path(dirs[d]).filename().string(), tally);
    family.naive += tally.naive;
    family.stored += tally.stored;
    family.encode_seconds += tally.encode_seconds;
    family.decode_seconds += tally.decode_seconds;
    for (const auto& [codec, bytes] : tally.by_codec) family.by_codec[codec] += bytes;
    if (d == 0) base = std::move(model);
  }
  print_tally("family", family);
  return 0;
}

int cmd_cdc(const std::vector<std::string>& dirs) {
  std::set<Blake3Digest> seen;
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::vector<std::uint8_t> buffer(ZSTD_compressBound(Chunker::kMax));
  Tally family;
  for (const std::string& dir : dirs) {
    Tally tally;
    for (const std::string& path : files_of(dir)) {
      const Mapped m(path);
      Chunker chunker;
      std::size_t at = 0;
      auto put = [&](std::size_t n) {
        const auto chunk = m.span().subspan(at, n);
        at += n;
        tally.naive += n;
        if (!seen.insert(Blake3::of(chunk)).second) return;
        const std::size_t c = ZSTD_compressCCtx(cctx, buffer.data(), buffer.size(), chunk.data(), n, 3);
        tally.stored += std::min(c, n);
      };
      for (std::size_t n : chunker.push(m.span())) put(n);
      if (std::size_t n = chunker.finish(); n > 0) put(n);
    }
    print_tally(fs::path(dir).filename().string(), tally);
    family.naive += tally.naive;
    family.stored += tally.stored;
  }
  print_tally("family", family);
  ZSTD_freeCCtx(cctx);
  return 0;
}

std::uint16_t key16(std::uint16_t v) {
  return static_cast<std::uint16_t>((v & 0x8000u) ? ~v : (v | 0x8000u));
}

int cmd_ulp_hist(const std::string& base_dir, const std::string& member_dir) {
  const Model base = load(base_dir);
  const Model member = load(member_dir);
  std::uint64_t bins[5] = {};
  std::uint64_t rows = 0, identical_rows = 0;
  for (const auto& [name, tensor] : member.tensors) {
    auto it = base.tensors.find(name);
    if (it == base.tensors.end() || tensor.type != ElementType::kBF16 ||
        it->second.type != ElementType::kBF16 || it->second.bytes.size() != tensor.bytes.size())
      continue;
    const std::uint8_t* a = tensor.bytes.data();
    const std::uint8_t* b = it->second.bytes.data();
    const std::size_t n = tensor.bytes.size() / 2;
    if (name == "model.embed_tokens.weight") {
      const auto& info = std::find_if(member.headers.begin(), member.headers.end(), [&](const auto& h) {
        return std::any_of(h.tensors.begin(), h.tensors.end(), [&](const auto& t) { return t.name == name; });
      });
      for (const auto& t : info->tensors) {
        if (t.name != name) continue;
        const std::size_t row = t.shape.back() * 2;
        rows = t.shape[0];
        for (std::size_t r = 0; r < rows; ++r) identical_rows += std::memcmp(a + r * row, b + r * row, row) == 0;
      }
      continue;
    }
    for (std::size_t i = 0; i < n; ++i) {
      std::uint16_t va, vb;
      std::memcpy(&va, a + 2 * i, 2);
      std::memcpy(&vb, b + 2 * i, 2);
      const int d = std::abs(static_cast<int>(key16(va)) - static_cast<int>(key16(vb)));
      bins[d == 0 ? 0 : d == 1 ? 1 : d <= 3 ? 2 : d <= 15 ? 3 : 4]++;
    }
  }
  const double total = static_cast<double>(bins[0] + bins[1] + bins[2] + bins[3] + bins[4]);
  std::printf("ulp-moves unchanged %.4f 1 %.4f 2-3 %.4f 4-15 %.4f 16+ %.4f (values %llu)\n",
              bins[0] / total, bins[1] / total, bins[2] / total, bins[3] / total, bins[4] / total,
              static_cast<unsigned long long>(total));
  std::printf("embedding-rows identical %llu of %llu\n", static_cast<unsigned long long>(identical_rows),
              static_cast<unsigned long long>(rows));
  return 0;
}

int cmd_speed(const std::string& dir, int threads) {
  const Model model = load(dir);
  std::vector<std::pair<std::span<const std::uint8_t>, ElementType>> frames;
  std::uint64_t total = 0;
  for (const auto& [name, tensor] : model.tensors) {
    for (std::size_t at = 0; at < tensor.bytes.size(); at += kFrameBytes) {
      frames.push_back({tensor.bytes.subspan(at, std::min(kFrameBytes, tensor.bytes.size() - at)), tensor.type});
      total += frames.back().first.size();
    }
  }
  std::uint64_t sum = 0;  // pre-read: page the files in so the timing is codec work only
  for (auto& [bytes, type] : frames) {
    for (std::size_t i = 0; i < bytes.size(); i += 4096) sum += bytes[i];
  }
  std::vector<EncodedFrame> encoded(frames.size());
  std::atomic<std::size_t> next{0};
  // Timed pass: each frame is encoded and dropped, as a store writes it out and moves on
  // (keeping them all would time the kernel handing out fresh pages instead).
  std::atomic<std::uint64_t> timed_stored{0};
  auto t0 = Clock::now();
  {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        for (std::size_t i; (i = next++) < frames.size();) timed_stored += encode_frame(frames[i].first, frames[i].second).bytes.size();
      });
    }
    for (auto& th : pool) th.join();
  }
  const double enc = seconds_since(t0);
  for (std::size_t i = 0; i < frames.size(); ++i) encoded[i] = encode_frame(frames[i].first, frames[i].second);
  std::uint64_t stored = 0;
  for (const auto& e : encoded) stored += e.bytes.size();
  next = 0;
  std::atomic<bool> ok{true};
  t0 = Clock::now();
  {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        std::vector<std::uint8_t> out(kFrameBytes);
        for (std::size_t i; (i = next++) < frames.size();) {
          out.resize(frames[i].first.size());
          if (!decode_frame(encoded[i].codec, encoded[i].bytes, frames[i].second, nullptr, out).is_ok()) ok = false;
        }
      });
    }
    for (auto& th : pool) th.join();
  }
  const double dec = seconds_since(t0);
  // The same frames through plain zstd -1 (compress and decompress), in this process, for a
  // side by side figure that a loaded machine distorts equally.
  double zc = 0, zd = 0;
  {
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    std::vector<std::uint8_t> buf(ZSTD_compressBound(kFrameBytes)), out(kFrameBytes);
    for (const auto& [bytes, type] : frames) {
      auto a = Clock::now();
      const std::size_t c = ZSTD_compressCCtx(cctx, buf.data(), buf.size(), bytes.data(), bytes.size(), 1);
      zc += seconds_since(a);
      a = Clock::now();
      ZSTD_decompressDCtx(dctx, out.data(), out.size(), buf.data(), c);
      zd += seconds_since(a);
    }
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
  }
  std::printf("zstd-1 same frames, 1 thread: compress %.0f MB/s decompress %.0f MB/s\n", total / 1e6 / zc, total / 1e6 / zd);
  std::printf("speed threads %d bytes %llu stored %.4f encode %.0f MB/s decode %.0f MB/s%s\n", threads,
              static_cast<unsigned long long>(total), static_cast<double>(stored) / total, total / 1e6 / enc,
              total / 1e6 / dec, ok ? "" : " DECODE FAILED");
  return (ok && sum != 1) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 2 && args[0] == "codecs") return cmd_codecs({args.begin() + 1, args.end()});
  if (args.size() >= 2 && args[0] == "cdc") return cmd_cdc({args.begin() + 1, args.end()});
  if (args.size() == 3 && args[0] == "ulp-hist") return cmd_ulp_hist(args[1], args[2]);
  if (args.size() >= 2 && args[0] == "speed") return cmd_speed(args[1], args.size() > 2 ? std::stoi(args[2]) : 1);
  std::fprintf(stderr,
               "usage: grove-storage-bench codecs BASE_DIR [DIR...] | cdc DIR... | "
               "ulp-hist BASE_DIR DIR | speed DIR [THREADS]\n");
  return 2;
}
