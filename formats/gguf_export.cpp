#include "formats/gguf_export.h"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <mutex>
#include <thread>

#include "formats/gguf_export_impl.h"

namespace grove::formats {
namespace {

std::array<float, 256> make_fp8_table() {
  std::array<float, 256> t{};
  for (int b = 0; b < 256; ++b) {
    const int sign = b >> 7, exp = (b >> 3) & 15, mant = b & 7;
    float v;
    if (exp == 15 && mant == 7) v = NAN;
    else if (exp == 0) v = std::ldexp(static_cast<float>(mant), -9);  // mant/8 · 2^-6
    else v = std::ldexp(1.0f + static_cast<float>(mant) / 8.0f, exp - 7);
    t[b] = sign ? -v : v;
  }
  return t;
}

const std::array<float, 256>& fp8_table() {
  static const std::array<float, 256> table = make_fp8_table();
  return table;
}

// Source index of output position `r` under the llama Q/K permutation (spec §5.2): output
// h·hd + 2i + half comes from input h·hd + half·hd/2 + i.
std::uint64_t permuted_source(std::uint64_t r, std::uint32_t hd) {
  const std::uint64_t h = r / hd, w = r % hd;
  return h * hd + (w % 2) * (hd / 2) + w / 2;
}

// Decodes `n` consecutive elements starting at element `first` of the chunk's source bytes.
void decode(DType dtype, const std::uint8_t* src, std::size_t first, std::size_t n, float* out) {
  switch (dtype) {
    case DType::kBF16:
      // Source buffers come from operator new (aligned), and elements start at even offsets.
      bf16_row_to_f32({reinterpret_cast<const std::uint16_t*>(src) + first, n}, out);
      break;
    case DType::kF16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t b;
        std::memcpy(&b, src + 2 * (first + i), 2);
        out[i] = fp16_to_fp32(b);
      }
      break;
    case DType::kF32:
      std::memcpy(out, src + 4 * first, 4 * n);
      break;
    case DType::kF8_E4M3: {
      const auto& table = fp8_table();
      for (std::size_t i = 0; i < n; ++i) out[i] = table[src[first + i]];
      break;
    }
    default:
      std::fill(out, out + n, 0.0f);  // plan_export admits no other dtype
  }
}

}  // namespace

float fp8_e4m3_to_fp32(std::uint8_t bits) { return fp8_table()[bits]; }

GgufExport::GgufExport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GgufExport::~GgufExport() = default;

Result<std::unique_ptr<GgufExport>> GgufExport::plan(ModelSource& source, const ExportOptions& options) {
  auto impl = std::make_unique<Impl>(source, options);
  GROVE_RETURN_IF_ERROR(plan_export(*impl));
  return std::unique_ptr<GgufExport>(new GgufExport(std::move(impl)));
}

std::uint64_t GgufExport::size() const { return impl_->total_size; }
std::uint64_t GgufExport::header_size() const { return impl_->header.size(); }
std::uint64_t GgufExport::position() const { return impl_->position; }
const ExportType& GgufExport::type() const { return impl_->type; }
const ModelConfig& GgufExport::config() const { return impl_->config; }
const GgufVocab& GgufExport::vocab() const { return impl_->vocab; }
const std::vector<PlannedTensor>& GgufExport::tensors() const { return impl_->planned; }

Status GgufExport::next(ChunkBuffer& piece) {
  Impl& m = *impl_;
  // The caller's old buffer is filled (header, padding) or handed to a worker's slot in
  // exchange for a quantized chunk.
  piece.clear();
  if (m.position == m.total_size) return Status::ok();
  GROVE_RETURN_IF_ERROR(m.produce_next(piece));
  if (piece.empty()) return internal_error("GGUF export produced fewer bytes than planned");
  m.position += piece.size();
  return Status::ok();
}

GgufExport::Impl::~Impl() {
  {
    std::lock_guard lock(mu);
    stop = true;
  }
  work_cv.notify_all();
  for (std::thread& t : workers) t.join();
}

std::uint64_t GgufExport::Impl::chunk_rows(const TensorJob& j) const {
  // About chunk_elements elements, whole heads when permuting.
  const std::uint64_t unit = j.permute && j.rows > 1 ? j.head_dim : 1;
  return std::max<std::uint64_t>(1, options.chunk_elements / std::max<std::uint64_t>(1, j.cols * unit)) * unit;
}

Status GgufExport::Impl::produce_next(ChunkBuffer& out) {
  if (!header_sent) {
    out.assign(header.data(), header.size());
    header_sent = true;
    return Status::ok();
  }
  while (job < jobs.size()) {
    TensorJob& j = jobs[job];
    if (row < j.rows) return take_chunk(j, out);
    if (!padding_sent) {
      padding_sent = true;
      const std::uint64_t align = kGgufDefaultAlignment;
      const std::uint64_t pad = (align - j.planned.bytes % align) % align;
      if (pad) {
        out.assign_zeros(pad);
        return Status::ok();
      }
    }
    ++job;
    row = 0;
    padding_sent = false;
  }
  return Status::ok();
}

void GgufExport::Impl::start_workers() {
  // Two workers per thread: one waits for its chunk's source bytes while the other quantizes.
  unsigned n = 2 * (options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency()));
  // Two slots per worker: one being filled while the consumer drains another.
  slots.resize(std::size_t{n} * 2 + 1);
  for (unsigned i = 0; i < n; ++i)
    workers.emplace_back([this] {
      pthread_setname_np(pthread_self(), "grove-quantize");
      work();
    });
}

// The consumer's side: the next chunk of `j` (the chunks come in the order workers claim them,
// which is the order produce_next walks).
Status GgufExport::Impl::take_chunk(TensorJob& j, ChunkBuffer& out) {
  if (workers.empty()) start_workers();
  const std::uint64_t seq = consumed;  // only the consumer changes it
  Slot& slot = slots[seq % slots.size()];
  Status status;
  {
    std::unique_lock lock(mu);
    ready_cv.wait(lock, [&] { return slot.ready; });
    status = std::move(slot.status);
    out.swap(slot.bytes);  // the slot keeps the old buffer for reuse
    slot.ready = false;
    slot.status = Status::ok();
    ++consumed;
  }
  work_cv.notify_all();
  if (!status.is_ok()) {
    out.clear();
    return status;
  }
  row = std::min(j.rows, row + chunk_rows(j));
  return Status::ok();
}

void GgufExport::Impl::work() {
  Scratch scratch;
  std::unique_lock lock(mu);
  for (;;) {
    work_cv.wait(lock, [&] { return stop || claimed < consumed + slots.size(); });
    if (stop) return;
    while (claim_job < jobs.size() && claim_row >= jobs[claim_job].rows) {
      ++claim_job;
      claim_row = 0;
    }
    if (claim_job == jobs.size()) return;  // everything claimed
    const TensorJob& j = jobs[claim_job];
    const std::uint64_t r0 = claim_row, r1 = std::min(j.rows, r0 + chunk_rows(j));
    claim_row = r1;
    Slot& slot = slots[claimed % slots.size()];
    ++claimed;
    ChunkBuffer bytes;
    bytes.swap(slot.bytes);
    lock.unlock();
    Status st = compute_chunk(j, r0, r1, bytes, scratch);
    lock.lock();
    slot.bytes.swap(bytes);
    slot.status = std::move(st);
    slot.ready = true;
    ready_cv.notify_all();
  }
}

Status GgufExport::Impl::compute_chunk(const TensorJob& j, std::uint64_t r0, std::uint64_t r1,
                                       ChunkBuffer& dst, Scratch& sc) {
  const QuantType qt = j.planned.type;
  const std::uint64_t cols = j.cols, n = r1 - r0;
  const std::size_t row_bytes = quantized_row_size(qt, cols);
  dst.resize(n * row_bytes);

  const float* values = nullptr;
  DType dtype = DType::kF32;
  std::uint64_t scale_r0 = 0, scale_cols = 0;
  if (j.source) {
    dtype = j.source->dtype;
    const std::size_t es = dtype_size(dtype);
    sc.src.resize(n * cols * es);
    GROVE_RETURN_IF_ERROR(source.read(j.source->file, j.source->data_offset + r0 * cols * es,
                                      std::span<std::uint8_t>(sc.src.data(), sc.src.size())));
    if (j.scale) {
      scale_r0 = r0 / kFp8BlockSize;
      const std::uint64_t scale_r1 = (r1 - 1) / kFp8BlockSize + 1;
      scale_cols = j.scale->shape.size() == 2 ? j.scale->shape[1] : 1;
      const std::size_t ses = dtype_size(j.scale->dtype);
      sc.scale_raw.resize((scale_r1 - scale_r0) * scale_cols * ses);
      GROVE_RETURN_IF_ERROR(source.read(j.scale->file, j.scale->data_offset + scale_r0 * scale_cols * ses, sc.scale_raw));
      sc.scales.resize((scale_r1 - scale_r0) * scale_cols);
      decode(j.scale->dtype, sc.scale_raw.data(), 0, sc.scales.size(), sc.scales.data());
    }
  } else {
    values = j.values.data() + r0 * cols;
  }

  // BF16 rows as they are (the common case: no FP8 scales, no element permutation) go straight
  // from the read buffer to the quantizer, which decodes block by block: one pass, no float row.
  if (!values && dtype == DType::kBF16 && !j.scale && !(j.permute && j.rows == 1)) {
    const auto* src = reinterpret_cast<const std::uint16_t*>(sc.src.data());
    for (std::uint64_t k = 0; k < n; ++k) {
      const std::uint64_t r = r0 + k;
      const std::uint64_t s = j.permute && j.rows > 1 ? permuted_source(r, j.head_dim) : r;
      Status st = quantize_row_bf16(qt, {src + (s - r0) * cols, cols}, {dst.data() + k * row_bytes, row_bytes});
      if (!st.is_ok()) return st.with_context("tensor " + j.planned.name);
    }
    return Status::ok();
  }

  std::vector<float>& buf = sc.row;
  buf.resize(cols);
  for (std::uint64_t k = 0; k < n; ++k) {
    const std::uint64_t r = r0 + k;  // output row
    const std::uint64_t s = j.permute && j.rows > 1 ? permuted_source(r, j.head_dim) : r;
    if (values) {
      std::memcpy(buf.data(), values + (s - r0) * cols, cols * sizeof(float));
    } else {
      decode(dtype, sc.src.data(), (s - r0) * cols, cols, buf.data());
      if (j.scale) {
        const float* srow = sc.scales.data() + (s / kFp8BlockSize - scale_r0) * scale_cols;
        for (std::uint64_t c = 0; c < cols; ++c) buf[c] = buf[c] * srow[c / kFp8BlockSize];
      }
    }
    if (j.permute && j.rows == 1) {  // a 1-D bias: permute its elements
      sc.tmp.assign(buf.begin(), buf.end());
      for (std::uint64_t e = 0; e < cols; ++e) buf[e] = sc.tmp[permuted_source(e, j.head_dim)];
    }
    Status st = quantize_row(qt, {buf.data(), cols}, {dst.data() + k * row_bytes, row_bytes});
    if (!st.is_ok()) return st.with_context("tensor " + j.planned.name);
  }
  return Status::ok();
}

}  // namespace grove::formats
