// Frame loading and base matching for the framed store (see framed_core.h).
#include "storage/framed_core.h"

#include "formats/safetensors.h"
#include "storage/pack.h"

namespace grove::storage::detail {
namespace {

std::string short_id(const Blake3Digest& id) { return id.hex().substr(0, 16); }

Status frame_error(const FrameLocation& f, const std::string& what) {
  return corrupt("frame " + short_id(f.id) + " in pack " + f.pack.substr(0, 16) + " at offset " +
                 std::to_string(f.offset) + ": " + what);
}

std::size_t element_size(ElementType t) {
  switch (t) {
    case ElementType::kBF16:
    case ElementType::kF16:
      return 2;
    case ElementType::kF32:
      return 4;
    case ElementType::kBytes:
      return 1;
  }
  return 1;
}

}  // namespace

bool is_delta(Codec codec) {
  return codec == Codec::kXorDelta || codec == Codec::kUlpDelta || codec == Codec::kCastDelta;
}

Status Core::load_frame(const FrameLocation& frame, const FrameLocation* base, FrameScratch& scratch,
                        std::vector<std::uint8_t>& out) {
  out.resize(frame.raw_length);
  return load_frame_into(frame, base, scratch, out);
}

Status Core::load_frame_into(const FrameLocation& frame, const FrameLocation* base, FrameScratch& scratch,
                             std::span<std::uint8_t> out) {
  if (out.size() != frame.raw_length) return internal_error("frame buffer of the wrong size");
  if (frame.pack.empty()) return corrupt("frame " + short_id(frame.id) + " is missing from the index");
  FrameBase fb{ElementType::kBytes, {}};
  if (frame.base) {
    if (!base || base->pack.empty())
      return frame_error(frame, "its base frame " + short_id(*frame.base) + " is missing from the index");
    if (base->id != *frame.base) return frame_error(frame, "the index gives the wrong base frame");
    if (base->base) return frame_error(frame, "its base frame is itself a delta (deltas are one level deep)");
    if (!scratch.base_id || *scratch.base_id != base->id) {
      scratch.base_id.reset();
      GROVE_RETURN_IF_ERROR(load_standalone(*base, scratch, scratch.base_raw));
      scratch.base_id = base->id;
    }
    fb = FrameBase{base->type, scratch.base_raw};
  }
  // One get for header and payload together, into page-aligned memory at the frame's offset
  // within its page. The buffer only grows.
  const std::size_t need = kFrameHeaderSize + frame.stored_length;
  const std::size_t in_page = static_cast<std::size_t>(frame.offset % StagingBuffer::kAlign);
  scratch.stored.grow((in_page + need + StagingBuffer::kAlign - 1) / StagingBuffer::kAlign * StagingBuffer::kAlign, 0);
  std::span<std::uint8_t> stored(scratch.stored.data() + in_page, need);
  Status s = get_exact(*backend, pack_key(frame.pack), frame.offset, stored);
  if (!s.is_ok()) return s.code() == Code::kCorrupt ? frame_error(frame, s.message()) : s;
  Result<FrameHeader> header = FrameHeader::decode_from(stored);
  if (!header.is_ok()) return frame_error(frame, header.status().message());
  if (header->codec != frame.codec || header->type != frame.type || header->raw_length != frame.raw_length ||
      header->stored_length != frame.stored_length || header->base != frame.base)
    return frame_error(frame, "its header does not match the index");
  std::span<const std::uint8_t> payload = stored.subspan(kFrameHeaderSize);
  s = decode_frame(frame.codec, payload, frame.type, frame.base ? &fb : nullptr, out);
  if (!s.is_ok()) return frame_error(frame, "it does not decode: " + s.message());
  if (frame.raw_check != 0) {
    if (raw_check(out) != frame.raw_check) return frame_error(frame, "its bytes do not match their check");
  } else if (Blake3::of(out) != frame.id) {
    return frame_error(frame, "its bytes do not hash to its id");
  }
  return Status::ok();
}

StagingBuffer Core::take_buffer() {
  std::lock_guard lock(buffers_mu);
  if (buffers.empty()) return {};
  StagingBuffer b = std::move(buffers.back());
  buffers.pop_back();
  return b;
}

void Core::give_buffer(StagingBuffer buffer) {
  if (buffer.capacity() == 0) return;
  std::lock_guard lock(buffers_mu);
  if (buffers.size() < kMaxPooledBuffers) buffers.push_back(std::move(buffer));
}

PackRelocator::PackRelocator(Core& core) : core_(core), pack_(*core.backend, core.options.pack_target_bytes) {}

Status PackRelocator::add(const Blake3Digest& id, ElementType type, std::uint32_t raw_length,
                          const EncodedFrame& frame, const std::optional<Blake3Digest>& base) {
  if (!pack_.fits(frame.bytes.size())) GROVE_RETURN_IF_ERROR(flush());
  return pack_.add(id, type, raw_length, frame, base);
}

Status PackRelocator::flush() {
  PackStreamWriter::Sealed sealed;
  Status s = pack_.seal(sealed);
  if (sealed.name.empty()) return s;
  if (s.is_ok()) s = core_.index->relocate(NewPack{sealed.name, sealed.size, std::move(sealed.entries)});
  // A failed install may still leave the object; nothing points at it.
  if (!s.is_ok()) {
    (void)core_.backend->remove(pack_key(sealed.name));
    return s;
  }
  written_ += sealed.size;
  return Status::ok();
}

Status Core::load_standalone(const FrameLocation& frame, FrameScratch& scratch, std::vector<std::uint8_t>& out) {
  if (frame.base) return frame_error(frame, "a standalone frame was expected, found a delta");
  return load_frame(frame, nullptr, scratch, out);
}

ElementType element_type_of(const std::string& dtype) {
  if (dtype == "BF16") return ElementType::kBF16;
  if (dtype == "F16") return ElementType::kF16;
  if (dtype == "F32") return ElementType::kF32;
  return ElementType::kBytes;
}

Result<std::map<std::string, BaseTensor>> match_base_tensors(FrameIndex& index, const std::vector<TensorRecord>& tensors,
                                                            const std::vector<Sha256Digest>& base_files) {
  std::map<std::string, BaseTensor> out;
  if (base_files.empty() || tensors.empty()) return out;
  std::map<std::string, std::pair<Sha256Digest, TensorRecord>> base;
  for (const Sha256Digest& file : base_files) {
    GROVE_ASSIGN_OR_RETURN(std::vector<TensorRecord> records, index.tensors(file));
    for (TensorRecord& r : records) {
      std::string name = r.name;
      base.emplace(std::move(name), std::make_pair(file, std::move(r)));
    }
  }
  for (const TensorRecord& t : tensors) {
    auto it = base.find(t.name);
    if (it == base.end()) continue;
    const TensorRecord& b = it->second.second;
    const ElementType child = element_type_of(t.dtype);
    const ElementType parent = element_type_of(b.dtype);
    if (child == ElementType::kBytes || parent == ElementType::kBytes) continue;  // only float tensors
    // Same element size and shape, so frame k of the child covers the same elements as frame k
    // of the base. (FP32 -> BF16 casts would need two base frames per frame; not done.)
    if (element_size(child) != element_size(parent) || t.shape != b.shape || t.length != b.length) continue;
    out[t.name] = BaseTensor{it->second.first, b.offset, parent};
  }
  return out;
}

bool BaseConfirmation::sample(std::span<const std::uint8_t> raw, ElementType type, const FrameBase& base) {
  if (state_ == State::kRejected) return false;
  if (state_ == State::kConfirmed) return true;
  ratio_sum_ += delta_ratio(raw, type, base);
  if (++samples_ >= kSamples) state_ = ratio_sum_ / samples_ < 0.9 ? State::kConfirmed : State::kRejected;
  return state_ != State::kRejected;
}

Result<std::optional<FrameLocation>> load_base_frame(Core& core, const Sha256Digest& base_file, std::uint64_t base_offset,
                                                     std::uint32_t raw_length, FrameScratch& scratch,
                                                     std::vector<std::uint8_t>& base_raw) {
  GROVE_ASSIGN_OR_RETURN(std::vector<RecipeEntry> entries, core.index->recipe_from(base_file, base_offset, 1));
  if (entries.empty()) return std::optional<FrameLocation>();
  const RecipeEntry& e = entries.front();
  if (e.raw_offset != base_offset || e.frame.pack.empty() || e.frame.raw_length != raw_length || e.frame.base)
    return std::optional<FrameLocation>();
  GROVE_RETURN_IF_ERROR(core.load_standalone(e.frame, scratch, base_raw));
  return std::optional<FrameLocation>(e.frame);
}

}  // namespace grove::storage::detail
