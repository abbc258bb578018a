// The framed BlobStore (see framed_store.h): writer, reader, re-encoder, sweep.
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <set>
#include <map>
#include <thread>
#include <unordered_set>

#include "formats/safetensors.h"
#include "storage/cdc.h"
#include "storage/framed_core.h"
#include "storage/framed_store.h"
#include "storage/pack.h"

namespace grove::storage {
namespace {

using detail::BaseConfirmation;
using detail::BaseTensor;
using detail::Core;
using detail::FrameScratch;

struct DigestHash {
  std::size_t operator()(const Blake3Digest& d) const {
    std::size_t h;
    std::memcpy(&h, d.bytes.data(), sizeof h);
    return h;
  }
};

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string shape_string(const std::vector<std::uint64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// Headers of other files that merely look like safetensors are not worth buffering much of.
constexpr std::uint64_t kMaxSniffedHeader = 16u << 20;
// Generic bytes are fed to the chunker in pieces of at most this, which bounds its buffer.
constexpr std::size_t kChunkerPiece = 256u << 10;
// Dense bytes (WriteHints::incompressible) share no frame boundary with any other file, so a
// frame of theirs also ends where an append of at least this many bytes begins or ends: an
// export's pieces are then framed where they lie, not copied together across appends.
constexpr std::size_t kDenseCutMin = 256u << 10;

// A contiguous byte range of the file that is framed one way.
struct Segment {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;  // UINT64_MAX for the open tail
  int tensor = -1;        // index into the writer's tensors, -1 for CDC bytes
};

// How one tensor of the file being written is framed and, with a base, delta-encoded.
struct TensorPlan {
  std::string name;
  ElementType type;
  std::size_t element_size;
  std::uint64_t begin, end;  // absolute in the file
  std::optional<BaseTensor> base;
  BaseConfirmation confirmation;
};

// The SHA-256 of a stream, computed on a thread of its own while the caller works on the same
// bytes (framing, BLAKE3, encoding): each hash() call returns once both are done with them, so
// the caller's buffer needs no copy. Pieces too small to be worth a hand-off are hashed inline.
class BesideHasher {
 public:
  // With `beside` false every piece is hashed inline, on the caller's thread.
  explicit BesideHasher(bool beside) : beside_(beside) {}
  ~BesideHasher() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  // Hashes `data` while `work` runs on this thread; work's status.
  template <typename Work>
  Status hash(std::span<const std::uint8_t> data, Work&& work) {
    if (!beside_ || data.size() < kBesideMin) {
      sha256_.update(data);
      return work();
    }
    if (!thread_.joinable()) thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "grove-sha256");
      run();
    });
    {
      std::lock_guard lock(mu_);
      piece_ = data;
      busy_ = true;
    }
    cv_.notify_all();
    Status s = work();
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !busy_; });
    return s;
  }

  Sha256Digest finish() { return sha256_.finish(); }

 private:
  static constexpr std::size_t kBesideMin = 64u << 10;

  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || busy_; });
      if (stop_) return;
      lock.unlock();
      sha256_.update(piece_);
      lock.lock();
      busy_ = false;
      cv_.notify_all();
    }
  }

  const bool beside_;
  Sha256 sha256_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::span<const std::uint8_t> piece_;
  bool busy_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: started with the first large piece
};

class FramedWriter final : public BlobWriter {
 public:
  FramedWriter(std::shared_ptr<Core> core, WriteHints hints)
      : core_(std::move(core)), hints_(std::move(hints)),
        encode_on_worker_(core_->encode_on_worker.load()),
        hasher_(encode_on_worker_),
        pack_(*core_->backend, core_->options.pack_target_bytes, core_->take_buffer()) {
    pack_.defer_durability(core_->options.deferred_pack_bytes);
  }

  ~FramedWriter() override {
    stop_worker();
    if (state_ != State::kCommitted) discard_packs();
    core_->give_buffer(pack_.release_buffer());
  }

  Status append(std::span<const std::uint8_t> data) override {
    if (state_ != State::kOpen) return unusable();
    size_ += data.size();
    if (hints_.caller_hashes) return fail(consume(data));
    return fail(hasher_.hash(data, [&] { return consume(data); }));
  }

  std::uint64_t bytes_written() const override { return size_; }

  Result<BlobInfo> commit(std::optional<Sha256Digest> expected_digest,
                          std::optional<std::uint64_t> expected_size) override {
    if (state_ != State::kOpen) return unusable();
    if (hints_.caller_hashes && !expected_digest)
      return fail(invalid_argument("a writer whose caller hashes is committed with the digest"));
    const Sha256Digest digest = hints_.caller_hashes ? *expected_digest : hasher_.finish();
    if (expected_size && *expected_size != size_)
      return fail(corrupt("received " + std::to_string(size_) + " bytes, expected " + std::to_string(*expected_size)));
    if (expected_digest && *expected_digest != digest)
      return fail(corrupt("content has sha256 " + digest.hex() + ", expected " + expected_digest->hex()));
    GROVE_RETURN_IF_ERROR(fail(finish_stream()));
    // Every frame encoded and every pack but the open one put.
    GROVE_RETURN_IF_ERROR(fail(drain()));

    // Already stored: the grace period restarts (a commit naming it is coming), so a gc that
    // runs before that commit cannot take the old copy this upload deduplicated against.
    Result<bool> existing = core_->index->touch_file(digest);
    if (!existing.is_ok()) return fail(existing.status());
    if (*existing) {
      // Already stored: what this upload sealed is not needed.
      discard_packs();
      state_ = State::kCommitted;
      return BlobInfo{digest, size_};
    }
    GROVE_RETURN_IF_ERROR(fail(seal_pack()));
    GROVE_RETURN_IF_ERROR(fail(pack_.finish_pending()));
    // A pack swept as abandoned while this upload stalled must not be indexed.
    for (const NewPack& p : sealed_) {
      Result<ObjectInfo> info = core_->backend->stat(pack_key(p.name));
      if (!info.is_ok() || info->size != p.size)
        return fail(io_error("pack " + p.name + " of this upload disappeared before its commit"));
    }
    NewFile file{digest, size_, std::move(recipe_), std::move(tensor_records_)};
    GROVE_RETURN_IF_ERROR(fail(core_->index->commit(sealed_, file)));
    state_ = State::kCommitted;
    return BlobInfo{digest, size_};
  }

 private:
  enum class State { kOpen, kCommitted, kFailed };
  enum class Mode { kSniff, kFramed };

  // --- stream routing -------------------------------------------------------------------------

  Status consume(std::span<const std::uint8_t> data) {
    if (mode_ == Mode::kSniff) {
      sniff_.insert(sniff_.end(), data.begin(), data.end());
      GROVE_ASSIGN_OR_RETURN(bool decided, try_detect(false));
      if (!decided) return Status::ok();
      std::vector<std::uint8_t> head;
      head.swap(sniff_);
      return feed(head);
    }
    return feed(data);
  }

  // Decides between safetensors framing and plain CDC once enough bytes are in. With `at_end`,
  // decides with what there is.
  Result<bool> try_detect(bool at_end) {
    auto generic = [&] {
      segments_ = {Segment{0, UINT64_MAX, -1}};
      if (hints_.incompressible) {
        // Dense bytes (quantized exports) have no content-defined boundaries worth the gear
        // hash's pass: cut them into fixed frames like one long tensor of bytes.
        tensors_.push_back(TensorPlan{"", ElementType::kBytes, 1, 0, UINT64_MAX, std::nullopt, {}});
        segments_[0].tensor = 0;
      }
      mode_ = Mode::kFramed;
      return true;
    };
    if (sniff_.size() < 8) return at_end ? generic() : false;
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | sniff_[static_cast<std::size_t>(i)];
    const bool named = hints_.file_name.ends_with(".safetensors");
    const std::uint64_t limit = named ? formats::kMaxSafetensorsHeaderLength : kMaxSniffedHeader;
    if (n < 2 || n > limit) return generic();
    if (sniff_.size() >= 9 && sniff_[8] != '{') return generic();
    if (sniff_.size() < 8 + n) return at_end ? generic() : false;
    std::string_view json(reinterpret_cast<const char*>(sniff_.data()) + 8, n);
    // The file's size is not known yet: let the parser accept any data length; bytes that
    // never arrive just end the framing early.
    Result<formats::SafetensorsHeader> header = formats::parse_safetensors_header(json, UINT64_MAX / 4);
    if (!header.is_ok()) return generic();
    GROVE_RETURN_IF_ERROR(plan_tensors(*header));
    mode_ = Mode::kFramed;
    return true;
  }

  Status plan_tensors(const formats::SafetensorsHeader& header) {
    const std::uint64_t data = header.data_offset();
    std::uint64_t cursor = 0;
    auto add_generic = [&](std::uint64_t end) {
      if (end > cursor) segments_.push_back(Segment{cursor, end, -1});
      cursor = std::max(cursor, end);
    };
    add_generic(data);
    for (const formats::TensorInfo& t : header.tensors) {
      if (t.end == t.begin) continue;
      const std::uint64_t begin = data + t.begin;
      if (begin < cursor) continue;  // overlapping ranges are refused by the parser; be safe
      add_generic(begin);
      tensors_.push_back(TensorPlan{t.name, detail::element_type_of(std::string(formats::dtype_name(t.dtype))),
                                    formats::dtype_size(t.dtype), begin, data + t.end});
      tensor_records_.push_back(TensorRecord{t.name, std::string(formats::dtype_name(t.dtype)), shape_string(t.shape),
                                             begin, t.end - t.begin});
      segments_.push_back(Segment{begin, data + t.end, static_cast<int>(tensors_.size() - 1)});
      cursor = data + t.end;
    }
    segments_.push_back(Segment{cursor, UINT64_MAX, -1});
    if (!hints_.base_files.empty()) {
      Result<std::map<std::string, BaseTensor>> bases =
          detail::match_base_tensors(*core_->index, tensor_records_, hints_.base_files);
      // A base we cannot look up only costs compression, never correctness.
      if (bases.is_ok()) {
        for (TensorPlan& t : tensors_) {
          auto it = bases->find(t.name);
          if (it != bases->end()) t.base = it->second;
        }
      }
    }
    return Status::ok();
  }

  // Routes framed-mode bytes to the current segment. fed_ is the file offset of data[0].
  Status feed(std::span<const std::uint8_t> data) {
    while (!data.empty()) {
      const Segment& seg = segments_[segment_];
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), seg.end - fed_));
      if (seg.tensor >= 0) {
        GROVE_RETURN_IF_ERROR(feed_tensor(data.first(n), tensors_[static_cast<std::size_t>(seg.tensor)]));
      } else {
        GROVE_RETURN_IF_ERROR(feed_generic(data.first(n)));
      }
      data = data.subspan(n);
      if (fed_ == seg.end) GROVE_RETURN_IF_ERROR(end_segment());
    }
    return Status::ok();
  }

  Status feed_tensor(std::span<const std::uint8_t> piece, TensorPlan& t) {
    const std::size_t frame_bytes = std::max<std::size_t>(
        t.element_size, core_->options.tensor_frame_bytes / t.element_size * t.element_size);
    const bool dense = hints_.incompressible;
    const std::size_t cut = dense ? std::min(kDenseCutMin, frame_bytes) : frame_bytes;
    if (dense && piece.size() >= cut) GROVE_RETURN_IF_ERROR(flush_pending(&t));
    while (!piece.empty()) {
      if (pending_.empty() && piece.size() >= cut) {
        // A frame in the caller's buffer: no copy.
        const std::size_t n = std::min(piece.size(), frame_bytes);
        GROVE_RETURN_IF_ERROR(emit(piece.first(n), fed_, &t));
        piece = piece.subspan(n);
        fed_ += n;
        continue;
      }
      if (pending_.empty()) pending_start_ = fed_;
      const std::size_t take = std::min(piece.size(), frame_bytes - pending_.size());
      pending_.insert(pending_.end(), piece.begin(), piece.begin() + static_cast<std::ptrdiff_t>(take));
      piece = piece.subspan(take);
      fed_ += take;
      if (pending_.size() == frame_bytes) GROVE_RETURN_IF_ERROR(flush_pending(&t));
    }
    return Status::ok();
  }

  Status feed_generic(std::span<const std::uint8_t> piece) {
    while (!piece.empty()) {
      const std::size_t n = std::min(piece.size(), kChunkerPiece);
      std::span<const std::uint8_t> part = piece.first(n);
      if (pending_.empty()) pending_start_ = fed_;
      pending_.insert(pending_.end(), part.begin(), part.end());
      fed_ += n;
      piece = piece.subspan(n);
      for (std::size_t len : chunker_.push(part)) GROVE_RETURN_IF_ERROR(emit_front(len));
    }
    return Status::ok();
  }

  // Emits the first `len` pending generic bytes as a frame.
  Status emit_front(std::size_t len) {
    GROVE_RETURN_IF_ERROR(emit(std::span<const std::uint8_t>(pending_).first(len), pending_start_, nullptr));
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(len));
    pending_start_ += len;
    return Status::ok();
  }

  Status flush_pending(TensorPlan* t) {
    if (pending_.empty()) return Status::ok();
    GROVE_RETURN_IF_ERROR(emit(pending_, pending_start_, t));
    pending_.clear();
    return Status::ok();
  }

  Status end_segment() {
    const Segment& seg = segments_[segment_];
    if (seg.tensor >= 0) {
      GROVE_RETURN_IF_ERROR(flush_pending(&tensors_[static_cast<std::size_t>(seg.tensor)]));
    } else {
      if (std::size_t last = chunker_.finish(); last > 0) GROVE_RETURN_IF_ERROR(emit_front(last));
      if (!pending_.empty()) return internal_error("chunker left bytes unassigned");
      chunker_ = Chunker();
    }
    ++segment_;
    return Status::ok();
  }

  Status finish_stream() {
    if (mode_ == Mode::kSniff) {
      GROVE_ASSIGN_OR_RETURN(bool decided, try_detect(true));
      (void)decided;
      std::vector<std::uint8_t> head;
      head.swap(sniff_);
      GROVE_RETURN_IF_ERROR(feed(head));
    }
    // The stream may end inside any segment (a truncated safetensors file is still a blob).
    if (segment_ < segments_.size()) GROVE_RETURN_IF_ERROR(end_segment());
    return Status::ok();
  }

  // --- frames ---------------------------------------------------------------------------------

  // Names a frame, records it in the recipe and, when it is new, hands it on to be encoded and
  // packed: on the stream thread, or on the worker when the store runs the pipeline.
  Status emit(std::span<const std::uint8_t> raw, std::uint64_t file_offset, TensorPlan* t) {
    const Blake3Digest id = Blake3::of(raw);
    recipe_.emplace_back(file_offset, id);
    if (written_.contains(id)) return Status::ok();
    GROVE_ASSIGN_OR_RETURN(std::optional<FrameLocation> known, core_->index->find_frame(id));
    if (known) return Status::ok();
    written_.insert(id);
    FrameJob job{id, file_offset, t, static_cast<std::uint32_t>(raw.size()), {}, {}, {}, false};
    // Dense bytes have nothing to encode: they are copied here, and checked while the copy has
    // them in this core's cache, rather than copied for the worker to check them from memory.
    if (encode_on_worker_ && !hints_.incompressible) {
      job.raw = take_raw();
      job.raw.assign(raw.begin(), raw.end());
    } else {
      encode(raw, job);
    }
    return submit(std::move(job));
  }

  // A frame on its way from the stream to the pack.
  struct FrameJob {
    Blake3Digest id;
    std::uint64_t file_offset = 0;
    TensorPlan* tensor = nullptr;  // null for CDC bytes
    std::uint32_t raw_length = 0;
    std::vector<std::uint8_t> raw;  // a copy, when the worker encodes
    EncodedFrame encoded;
    std::optional<Blake3Digest> base_id;
    bool encoded_ready = false;
    bool flush = false;  // no frame: seal and put the open pack
  };

  // Encodes a frame, as a delta against the base tensor's frame when the base helps, with the
  // check reads verify it by. Runs on one thread only (the stream's or the worker's), which owns
  // the scratch buffers and the tensors' base confirmations.
  void encode(std::span<const std::uint8_t> raw, FrameJob& job) {
    encode_payload(raw, job);
    job.encoded.raw_check = raw_check(raw);
  }

  void encode_payload(std::span<const std::uint8_t> raw, FrameJob& job) {
    TensorPlan* t = job.tensor;
    const ElementType type = t ? t->type : ElementType::kBytes;
    job.encoded_ready = true;
    if (hints_.incompressible) {  // WriteHints::incompressible: no codec trials
      job.encoded.bytes = take_raw();
      job.encoded.bytes.assign(raw.begin(), raw.end());
      return;
    }
    if (t && t->base && !t->confirmation.rejected()) {
      const std::uint64_t base_offset = t->base->offset + (job.file_offset - t->begin);
      Result<std::optional<FrameLocation>> base =
          detail::load_base_frame(*core_, t->base->file, base_offset, job.raw_length, scratch_, base_raw_);
      // A base that fails to load only costs compression.
      if (base.is_ok() && *base) {
        FrameBase fb{(*base)->type, base_raw_};
        if (t->confirmation.sample(raw, type, fb)) {
          job.encoded = encode_frame(raw, type, &fb);
          if (detail::is_delta(job.encoded.codec)) job.base_id = (*base)->id;
          return;
        }
      }
    }
    job.encoded = encode_frame(raw, type);
  }

  // Adds an encoded frame to the open pack, sealing and putting the pack first when full.
  Status pack_frame(FrameJob& job) {
    const ElementType type = job.tensor ? job.tensor->type : ElementType::kBytes;
    if (!pack_.fits(job.encoded.bytes.size())) GROVE_RETURN_IF_ERROR(seal_pack());
    return pack_.add(job.id, type, job.raw_length, job.encoded, job.base_id);
  }

  // --- the pipeline ------------------------------------------------------------------------------
  // One worker per writer, started with the first frame: it packs frames and puts sealed packs
  // (the fsync of one pack overlaps the hashing and framing of the next bytes), and with
  // FramedStoreOptions::encode_on_worker it encodes them too. Frames keep their order.

  Status submit(FrameJob job) {
    const std::size_t cost = std::max<std::size_t>(job.raw.size() + job.encoded.bytes.size(), 1);
    std::unique_lock lock(mu_);
    if (!worker_.joinable()) worker_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "grove-pack");
      work();
    });
    cv_.wait(lock, [&] { return !worker_status_.is_ok() || queued_bytes_ == 0 || queued_bytes_ + cost <= max_queued_bytes(); });
    if (!worker_status_.is_ok()) return worker_status_;
    queued_bytes_ += cost;
    queue_.push_back(std::move(job));
    cv_.notify_all();
    return Status::ok();
  }

  // Waits until every submitted frame is packed; the worker's first error, if any.
  Status drain() {
    std::unique_lock lock(mu_);
    if (!worker_.joinable()) return Status::ok();
    cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
    return worker_status_;
  }

  void stop_worker() {
    {
      std::lock_guard lock(mu_);
      if (!worker_.joinable()) return;
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  // Frames ahead keep the worker busy while the next bytes are hashed, and let the stream go
  // on while the worker waits for a direct write of its staging buffer or a pack's seal. 8 MiB:
  // with 2, an export's storer waited on that queue for about a third of its time.
  std::size_t max_queued_bytes() const {
    return static_cast<std::size_t>(std::min<std::uint64_t>(core_->options.pack_target_bytes, 8u << 20));
  }

  void work() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      FrameJob job = std::move(queue_.front());
      queue_.pop_front();
      const std::size_t cost = std::max<std::size_t>(job.raw.size() + job.encoded.bytes.size(), 1);
      busy_ = true;
      const bool skip = stop_ || !worker_status_.is_ok();
      lock.unlock();
      Status s;
      if (!skip) {
        if (!job.encoded_ready) encode(job.raw, job);
        s = pack_frame(job);
      }
      give_raw(std::move(job.raw.empty() ? job.encoded.bytes : job.raw));  // whichever holds the copy
      lock.lock();
      if (!s.is_ok() && worker_status_.is_ok()) worker_status_ = s;
      queued_bytes_ -= cost;
      busy_ = false;
      cv_.notify_all();
    }
  }

  std::vector<std::uint8_t> take_raw() {
    std::lock_guard lock(mu_);
    if (spare_raw_.empty()) return {};
    std::vector<std::uint8_t> v = std::move(spare_raw_.back());
    spare_raw_.pop_back();
    return v;
  }

  void give_raw(std::vector<std::uint8_t> v) {
    if (v.capacity() == 0) return;
    v.clear();
    std::lock_guard lock(mu_);
    if (spare_raw_.size() < 8) spare_raw_.push_back(std::move(v));
  }

  // Seals the open pack: its bytes are already streaming to the backend, so this writes the
  // footer; the pack is made durable and installed later (deferred_pack_bytes). A frame another upload indexed meanwhile stays
  // in the pack as dead bytes (PackStreamWriter cannot drop it; the index keeps the first copy).
  Status seal_pack() {
    if (pack_.empty()) return Status::ok();
    PackStreamWriter::Sealed sealed;
    Status s = pack_.seal(sealed);
    // Recorded even when installing failed: a failed install may still leave the object.
    if (!sealed.name.empty()) sealed_.push_back(NewPack{sealed.name, sealed.size, std::move(sealed.entries)});
    return s;
  }

  void discard_packs() {
    (void)drain();
    pack_.abandon();
    for (const NewPack& p : sealed_) (void)core_->backend->remove(pack_key(p.name));
    sealed_.clear();
  }

  Status fail(Status s) {
    if (s.is_ok()) return s;
    discard_packs();
    state_ = State::kFailed;
    failure_ = s;
    return s;
  }

  Status unusable() const {
    if (state_ == State::kFailed) return failure_.with_context("writer failed earlier");
    return internal_error("blob writer used after commit");
  }

  std::shared_ptr<Core> core_;
  const WriteHints hints_;
  // Fixed for the writer's life: encode() runs on exactly one of the two threads.
  const bool encode_on_worker_;
  BesideHasher hasher_;  // beside the framing when the store runs the pipeline on two threads
  std::uint64_t size_ = 0;
  State state_ = State::kOpen;
  Status failure_;

  Mode mode_ = Mode::kSniff;
  std::vector<std::uint8_t> sniff_;
  std::vector<Segment> segments_;
  std::size_t segment_ = 0;
  std::uint64_t fed_ = 0;  // bytes routed to segments so far
  std::vector<TensorPlan> tensors_;
  std::vector<TensorRecord> tensor_records_;
  Chunker chunker_;
  std::vector<std::uint8_t> pending_;  // bytes of the frame being assembled
  std::uint64_t pending_start_ = 0;    // its file offset

  FrameScratch scratch_;
  std::vector<std::uint8_t> base_raw_;
  std::vector<std::pair<std::uint64_t, Blake3Digest>> recipe_;
  std::unordered_set<Blake3Digest, DigestHash> written_;  // frames in this upload's packs
  PackStreamWriter pack_;  // the open pack; used by the worker while it runs
  std::vector<NewPack> sealed_;  // likewise

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<FrameJob> queue_;
  std::size_t queued_bytes_ = 0;
  bool busy_ = false;
  bool stop_ = false;
  Status worker_status_;
  std::vector<std::vector<std::uint8_t>> spare_raw_;
  std::thread worker_;  // last: started after, and joined before, everything it uses
};

// A read's failure, naming the blob.
Status blob_error(const Sha256Digest& digest, const Status& s) {
  return s.code() == Code::kCorrupt ? corrupt("blob " + digest.hex() + " is corrupt: " + s.message())
                                    : s.with_context("blob " + digest.hex());
}

// Walks a file's recipe and loads (decodes, verifies) the frame covering a position. Recipe
// rows are fetched in batches: a whole-file read of a huge file holds one batch.
class FrameWalker {
 public:
  // `scratch`, when given, is used instead of the walker's own buffers (and must outlive it).
  FrameWalker(std::shared_ptr<Core> core, const Sha256Digest& digest, FrameScratch* scratch = nullptr)
      : core_(std::move(core)), digest_(digest), scratch_(scratch ? *scratch : own_scratch_) {}

  // The recipe row of the frame covering `pos`.
  Result<const RecipeEntry*> find(std::uint64_t pos) {
    while (next_ < batch_.size() && batch_[next_].raw_offset + batch_[next_].frame.raw_length <= pos) ++next_;
    if (next_ >= batch_.size() || batch_[next_].raw_offset > pos) {
      GROVE_ASSIGN_OR_RETURN(batch_, core_->index->recipe_from(digest_, pos, kBatch));
      next_ = 0;
    }
    if (batch_.empty()) return corrupt("its recipe ends before byte " + std::to_string(pos));
    const RecipeEntry& e = batch_[next_];
    if (e.frame.pack.empty()) return corrupt("frame " + e.frame.id.hex().substr(0, 16) + " is missing from the index");
    if (e.raw_offset > pos || pos - e.raw_offset >= e.frame.raw_length)
      return corrupt("its recipe has no frame at byte " + std::to_string(pos));
    return &e;
  }

  // Loads the frame covering `pos` into `out`; `start` is its file offset.
  Status load(std::uint64_t pos, std::vector<std::uint8_t>& out, std::uint64_t& start) {
    GROVE_ASSIGN_OR_RETURN(const RecipeEntry* e, find(pos));
    GROVE_RETURN_IF_ERROR(core_->load_frame(e->frame, e->base ? &*e->base : nullptr, scratch_, out));
    start = e->raw_offset;
    return Status::ok();
  }

  // Loads the frame `e` (from find()) into `out`, exactly its raw length.
  Status load_into(const RecipeEntry& e, std::span<std::uint8_t> out) {
    return core_->load_frame_into(e.frame, e.base ? &*e.base : nullptr, scratch_, out);
  }

 private:
  static constexpr std::size_t kBatch = 256;

  std::shared_ptr<Core> core_;
  const Sha256Digest digest_;
  std::vector<RecipeEntry> batch_;
  std::size_t next_ = 0;
  FrameScratch own_scratch_;
  FrameScratch& scratch_;
};

// Fills `out` with the file's bytes from `offset`: frames inside the range decode straight into
// it, the (at most two) frames it cuts through into a buffer the thread keeps.
Status copy_frames_into(FrameWalker& walker, std::uint64_t offset, std::span<std::uint8_t> out) {
  thread_local std::vector<std::uint8_t> edge;
  const std::uint64_t end = offset + out.size();
  for (std::uint64_t pos = offset; pos < end;) {
    GROVE_ASSIGN_OR_RETURN(const RecipeEntry* e, walker.find(pos));
    const std::uint64_t frame_end = e->raw_offset + e->frame.raw_length;
    std::span<std::uint8_t> dest = out.subspan(static_cast<std::size_t>(pos - offset),
                                               static_cast<std::size_t>(std::min(frame_end, end) - pos));
    if (e->raw_offset == pos && frame_end <= end) {
      GROVE_RETURN_IF_ERROR(walker.load_into(*e, dest));
    } else {
      std::uint64_t start = 0;
      GROVE_RETURN_IF_ERROR(walker.load(pos, edge, start));
      std::memcpy(dest.data(), edge.data() + (pos - start), dest.size());
    }
    pos += dest.size();
  }
  return Status::ok();
}

// Decodes the frames after the reader's current one on threads of their own, a few ahead, so a
// long read uses a second core: the next frames are read, decoded and verified while the
// caller sends the current one. Three loaders, each taking the next frame in turn: packs are read
// past the page cache (common/fs.h), so a frame's read waits for the disk, and one loader decodes
// while the others wait. A third loader (and five frames ahead, not three) keeps more reads in
// flight when the disk slows: a medium base's read went ~1,480 -> ~1,650 MB/s in alternating
// runs, 8 pairs of 9. Frames come out in file order; buffers go round (a fresh 1 MiB buffer per
// frame would cost a page fault per 4 KiB).
class FramePrefetcher {
 public:
  FramePrefetcher(std::shared_ptr<Core> core, const Sha256Digest& digest, std::uint64_t from, std::uint64_t end)
      : core_(core), walker_(std::move(core), digest), pos_(from), end_(end) {
    for (int i = 0; i < kLoaders; ++i) threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "grove-prefetch");
      run();
    });
  }

  ~FramePrefetcher() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  // The next frame in order into `frame` (whose old buffer is recycled).
  Status take(std::vector<std::uint8_t>& frame, std::uint64_t& start) {
    std::unique_lock lock(mu_);
    if (frame.capacity() > 0 && spare_.size() < kDepth + 1) spare_.push_back(std::move(frame));
    frame = {};
    cv_.wait(lock, [&] { return ready_.contains(taken_) || (claims_done_ && taken_ >= claimed_); });
    auto it = ready_.find(taken_);
    if (it == ready_.end()) return corrupt("its frames end before the range does");
    Ready r = std::move(it->second);
    ready_.erase(it);
    ++taken_;
    cv_.notify_all();
    if (!r.status.is_ok()) return r.status;
    frame = std::move(r.bytes);
    start = r.start;
    return Status::ok();
  }

 private:
  static constexpr int kLoaders = 3;
  static constexpr std::uint64_t kDepth = 5;  // frames claimed ahead of the caller

  struct Ready {
    Status status;
    std::vector<std::uint8_t> bytes;
    std::uint64_t start = 0;
  };

  void run() {
    FrameScratch scratch;
    for (;;) {
      std::vector<std::uint8_t> buffer;
      RecipeEntry e;
      std::uint64_t seq = 0;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || claims_done_ || claimed_ - taken_ < kDepth; });
        if (stop_ || claims_done_) return;
        if (pos_ >= end_) {
          claims_done_ = true;
          cv_.notify_all();
          return;
        }
        seq = claimed_++;
        Result<const RecipeEntry*> found = walker_.find(pos_);  // the walker is shared: under the lock
        if (!found.is_ok()) {
          ready_[seq] = Ready{found.status(), {}, 0};
          claims_done_ = true;
          cv_.notify_all();
          return;
        }
        e = **found;
        pos_ = e.raw_offset + e.frame.raw_length;
        if (!spare_.empty()) {
          buffer = std::move(spare_.back());
          spare_.pop_back();
        }
      }
      Status s = core_->load_frame(e.frame, e.base ? &*e.base : nullptr, scratch, buffer);
      std::lock_guard lock(mu_);
      if (!s.is_ok()) claims_done_ = true;  // nothing after a failed frame is handed out
      ready_[seq] = Ready{s, std::move(buffer), e.raw_offset};
      cv_.notify_all();
    }
  }

  std::shared_ptr<Core> core_;
  std::mutex mu_;
  std::condition_variable cv_;
  FrameWalker walker_;  // guarded by mu_
  std::uint64_t pos_;   // the next frame to claim; guarded by mu_
  const std::uint64_t end_;
  std::uint64_t claimed_ = 0;  // frames claimed by loaders; guarded by mu_
  std::uint64_t taken_ = 0;    // frames handed to the caller; guarded by mu_
  bool claims_done_ = false;   // the range's end, or an error, was reached; guarded by mu_
  std::map<std::uint64_t, Ready> ready_;  // loaded frames by claim number; guarded by mu_
  std::vector<std::vector<std::uint8_t>> spare_;
  bool stop_ = false;
  std::vector<std::thread> threads_;  // last: started once the rest is ready
};

class FramedReader final : public BlobReader {
 public:
  FramedReader(std::shared_ptr<Core> core, const Sha256Digest& digest, std::uint64_t offset, std::uint64_t length)
      : core_(std::move(core)), digest_(digest), pos_(offset), end_(offset + length), length_(length),
        walker_(core_, digest_) {}

  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    if (out.empty()) return invalid_argument("blob read into an empty buffer");
    GROVE_ASSIGN_OR_RETURN(std::span<const std::uint8_t> view, next(out.size()));
    if (!view.empty()) std::memcpy(out.data(), view.data(), view.size());
    return view.size();
  }

  // The rest of the current frame (up to the range's end): the frame is 1 MiB at most.
  Result<std::span<const std::uint8_t>> read_view(std::span<std::uint8_t>) override {
    return next(std::numeric_limits<std::size_t>::max());
  }

  std::uint64_t length() const override { return length_; }

 private:
  // Up to `max` next bytes of the range, inside the current frame, and moves past them.
  Result<std::span<const std::uint8_t>> next(std::size_t max) {
    if (!failure_.is_ok()) return failure_;
    if (pos_ == end_) return std::span<const std::uint8_t>();
    if (!have_frame_ || pos_ < frame_start_ || pos_ - frame_start_ >= frame_.size()) {
      Status s = load_at(pos_);
      if (!s.is_ok()) {
        failure_ = blob_error(digest_, s);
        return failure_;
      }
    }
    const std::size_t in_frame = static_cast<std::size_t>(pos_ - frame_start_);
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>({max, frame_.size() - in_frame, end_ - pos_}));
    pos_ += n;
    return std::span<const std::uint8_t>(frame_.data() + in_frame, n);
  }

  // The first frame is loaded here; a read that goes on to the frame right after it hands the
  // rest of the range to a prefetcher (short Range reads never start a thread).
  Status load_at(std::uint64_t pos) {
    const bool sequential = have_frame_ && pos == frame_start_ + frame_.size();
    have_frame_ = false;
    if (!sequential && prefetch_) prefetch_.reset();  // reads are sequential; be safe anyway
    if (sequential && !prefetch_) prefetch_ = std::make_unique<FramePrefetcher>(core_, digest_, pos, end_);
    if (prefetch_) {
      GROVE_RETURN_IF_ERROR(prefetch_->take(frame_, frame_start_));
      if (pos < frame_start_ || pos - frame_start_ >= frame_.size())
        return corrupt("its recipe has no frame at byte " + std::to_string(pos));
    } else {
      GROVE_RETURN_IF_ERROR(walker_.load(pos, frame_, frame_start_));
    }
    have_frame_ = true;
    return Status::ok();
  }

  std::shared_ptr<Core> core_;
  const Sha256Digest digest_;
  std::uint64_t pos_;
  const std::uint64_t end_;
  const std::uint64_t length_;
  Status failure_;  // sticky: once a read fails, every later read fails the same way

  FrameWalker walker_;
  std::vector<std::uint8_t> frame_;  // the last decoded frame, kept for the next read
  std::uint64_t frame_start_ = 0;
  bool have_frame_ = false;
  std::unique_ptr<FramePrefetcher> prefetch_;  // last: joined before the rest goes
};

class FramedBlobStore final : public BlobStore {
 public:
  explicit FramedBlobStore(std::shared_ptr<Core> core) : core_(std::move(core)) {}

  Result<std::unique_ptr<BlobWriter>> begin_write(const WriteHints& hints) override {
    return std::unique_ptr<BlobWriter>(std::make_unique<FramedWriter>(core_, hints));
  }

  Result<BlobInfo> stat_for_commit(const Sha256Digest& digest) override {
    GROVE_ASSIGN_OR_RETURN(bool stored, core_->index->touch_file(digest));
    if (!stored) return not_found("blob " + digest.hex() + " not found");
    return stat(digest);
  }

  void set_ingest_threads(unsigned threads) override { core_->encode_on_worker.store(threads >= 2); }

  // Frames inside the range decode straight into `out`, on the caller's thread, with buffers
  // the thread keeps (no reader, no prefetch thread, no fresh megabyte buffers per call).
  Status read_exact(const Sha256Digest& digest, std::uint64_t offset, std::span<std::uint8_t> out) override {
    GROVE_ASSIGN_OR_RETURN(std::optional<std::uint64_t> size, core_->index->file_size(digest));
    if (!size) return not_found("blob " + digest.hex() + " not found");
    if (offset > *size || out.size() > *size - offset)
      return Status(Code::kOutOfRange, "bytes " + std::to_string(offset) + "+" + std::to_string(out.size()) +
                                           " are not inside blob " + digest.hex() + " (" + std::to_string(*size) + " bytes)");
    thread_local FrameScratch scratch;  // content-addressed: valid across calls
    FrameWalker walker(core_, digest, &scratch);
    if (Status s = copy_frames_into(walker, offset, out); !s.is_ok()) return blob_error(digest, s);
    return Status::ok();
  }

  Result<BlobInfo> stat(const Sha256Digest& digest) override {
    GROVE_ASSIGN_OR_RETURN(std::optional<std::uint64_t> size, core_->index->file_size(digest));
    if (!size) return not_found("blob " + digest.hex() + " not found");
    return BlobInfo{digest, *size};
  }

  Result<std::unique_ptr<BlobReader>> open(const Sha256Digest& digest, std::uint64_t offset,
                                           std::optional<std::uint64_t> length) override {
    GROVE_ASSIGN_OR_RETURN(BlobInfo info, stat(digest));
    const std::uint64_t size = info.size;
    if (offset > size || (length && *length > size - offset)) {
      return Status(Code::kOutOfRange,
                    "range at " + std::to_string(offset) +
                        (length ? " of " + std::to_string(*length) + " bytes" : std::string()) +
                        " is outside blob " + digest.hex() + " of " + std::to_string(size) + " bytes");
    }
    const std::uint64_t len = length ? *length : size - offset;
    return std::unique_ptr<BlobReader>(std::make_unique<FramedReader>(core_, digest, offset, len));
  }

  // Packs that no index row names were sealed by uploads that never committed (crashed,
  // abandoned or failed with the process gone before it could clean up).
  Result<std::size_t> sweep_uploads(std::int64_t older_than_seconds) override {
    GROVE_ASSIGN_OR_RETURN(std::vector<std::string> keys, core_->backend->list("packs/"));
    GROVE_ASSIGN_OR_RETURN(std::vector<std::string> names, core_->index->pack_names());
    const std::set<std::string> indexed(names.begin(), names.end());
    const std::int64_t now = now_seconds();
    std::size_t removed = 0;
    for (const std::string& key : keys) {
      const std::size_t slash = key.rfind('/');
      std::string name = key.substr(slash + 1);
      if (!name.ends_with(".pack")) continue;
      name.resize(name.size() - 5);
      if (indexed.contains(name)) continue;
      Result<ObjectInfo> info = core_->backend->stat(key);
      if (!info.is_ok()) continue;  // removed meanwhile
      if (now - info->mtime <= older_than_seconds) continue;
      // Indexed since the listing? Then it is live after all.
      Result<std::vector<std::string>> again = core_->index->pack_names();
      if (!again.is_ok()) return again.status();
      if (std::find(again->begin(), again->end(), name) != again->end()) continue;
      Status s = core_->backend->remove(key);
      if (s.is_ok()) {
        ++removed;
      } else if (s.code() != Code::kNotFound) {
        return s;
      }
    }
    return removed;
  }

  Result<ReencodeStats> reencode(const Sha256Digest& file, const std::vector<Sha256Digest>& base_files) override {
    GROVE_ASSIGN_OR_RETURN(BlobInfo info, stat(file));
    (void)info;
    GROVE_ASSIGN_OR_RETURN(std::vector<TensorRecord> tensors, core_->index->tensors(file));
    GROVE_ASSIGN_OR_RETURN(auto bases, detail::match_base_tensors(*core_->index, tensors, base_files));
    ReencodeStats stats;
    detail::PackRelocator packs(*core_);
    FrameScratch scratch;
    std::vector<std::uint8_t> raw, base_raw;
    // Frames made deltas in this run and frames used as bases: neither may take the other role,
    // or a read would need more than two frames.
    std::unordered_set<Blake3Digest, DigestHash> made_delta, used_as_base;

    for (const TensorRecord& t : tensors) {
      stats.tensor_bytes += t.length;
      auto b = bases.find(t.name);
      if (b == bases.end()) continue;
      BaseConfirmation confirmation;
      bool rejected = false;
      const std::uint64_t end = t.offset + t.length;
      std::uint64_t pos = t.offset;
      bool done = false;
      while (!done && pos < end) {
        GROVE_ASSIGN_OR_RETURN(std::vector<RecipeEntry> batch, core_->index->recipe_from(file, pos, 256));
        if (batch.empty()) break;
        for (const RecipeEntry& e : batch) {
          if (e.raw_offset >= end || e.frame.raw_length == 0) {
            done = true;
            break;
          }
          pos = e.raw_offset + e.frame.raw_length;
          if (e.raw_offset < t.offset) continue;
          ++stats.frames_examined;
          // Already a delta (made at upload against this base, or earlier): the base explains it.
          if (e.frame.base) {
            stats.base_bytes += e.frame.raw_length;
            continue;
          }
          // The base's frame at the same place, from its recipe (no bytes read).
          const std::uint64_t base_offset = b->second.offset + (e.raw_offset - t.offset);
          GROVE_ASSIGN_OR_RETURN(std::vector<RecipeEntry> at, core_->index->recipe_from(b->second.file, base_offset, 1));
          if (at.empty() || at.front().raw_offset != base_offset || at.front().frame.raw_length != e.frame.raw_length)
            continue;
          if (at.front().frame.id == e.frame.id) {  // the base's own bytes, stored once
            stats.base_bytes += e.frame.raw_length;
            continue;
          }
          if (rejected || e.frame.pack.empty() || used_as_base.contains(e.frame.id)) continue;
          GROVE_ASSIGN_OR_RETURN(bool is_base, core_->index->is_base(e.frame.id));
          if (is_base) continue;
          GROVE_ASSIGN_OR_RETURN(std::optional<FrameLocation> base,
                                 detail::load_base_frame(*core_, b->second.file, base_offset, e.frame.raw_length, scratch,
                                                         base_raw));
          if (!base || made_delta.contains(base->id)) continue;
          GROVE_RETURN_IF_ERROR(core_->load_standalone(e.frame, scratch, raw));
          FrameBase fb{base->type, base_raw};
          if (!confirmation.sample(raw, e.frame.type, fb)) {
            rejected = true;  // keep walking: identical frames still count for the similarity
            continue;
          }
          EncodedFrame encoded = encode_frame(raw, e.frame.type, &fb);
          if (!detail::is_delta(encoded.codec) || encoded.bytes.size() >= e.frame.stored_length) continue;
          encoded.raw_check = raw_check(raw);
          GROVE_RETURN_IF_ERROR(packs.add(e.frame.id, e.frame.type, e.frame.raw_length, encoded, base->id));
          stats.stored_bytes_before += e.frame.stored_length;
          stats.stored_bytes_after += encoded.bytes.size();
          stats.base_bytes += e.frame.raw_length;
          ++stats.frames_reencoded;
          made_delta.insert(e.frame.id);
          used_as_base.insert(base->id);
        }
        if (batch.size() < 256) break;
      }
    }
    GROVE_RETURN_IF_ERROR(packs.flush());
    return stats;
  }

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace

Result<std::unique_ptr<BlobStore>> open_framed_store(const std::string& index_path, std::unique_ptr<BlobBackend> backend,
                                                     const FramedStoreOptions& options) {
  if (options.pack_target_bytes < 1024 || options.pack_target_bytes > kMaxPackBytes)
    return invalid_argument("pack target must be between 1 KiB and 64 MiB");
  if (options.tensor_frame_bytes < 64 || options.tensor_frame_bytes > kMaxFrameRawLength)
    return invalid_argument("tensor frame size must be between 64 bytes and 16 MiB");
  auto core = std::make_shared<Core>();
  core->backend = std::move(backend);
  GROVE_ASSIGN_OR_RETURN(core->index, FrameIndex::open(index_path));
  core->options = options;
  core->encode_on_worker.store(options.encode_on_worker);
  return std::unique_ptr<BlobStore>(std::make_unique<FramedBlobStore>(std::move(core)));
}

Result<std::unique_ptr<BlobStore>> open_local_framed_store(const std::string& root, FileSystem& fs,
                                                           const FramedStoreOptions& options) {
  if (root.empty()) return invalid_argument("blob store root is empty");
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<BlobBackend> backend, BlobBackend::local(r, fs));
  return open_framed_store(r + "/index.db", std::move(backend), options);
}

Result<std::unique_ptr<BlobStore>> BlobStore::open_local(const std::string& root, FileSystem& fs) {
  return open_local_framed_store(root, fs, FramedStoreOptions{});
}

}  // namespace grove::storage
