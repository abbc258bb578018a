#include "hub/export_cache.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>

#include "common/fs.h"
#include "common/log.h"
#include "formats/gguf_export.h"
#include "hub/hub.h"

namespace grove::hub {

Result<std::vector<formats::SourceFile>> StoredModelSource::list_files() {
  std::vector<formats::SourceFile> out;
  for (const registry::FileEntry& f : files_) out.push_back({f.path, f.size});
  return out;
}

// Thread-safe: each call opens its own reader (BlobStore is thread-safe), so the exporter's
// workers read in parallel.
Status StoredModelSource::read(const std::string& path, std::uint64_t offset, std::span<std::uint8_t> out) {
  auto it = std::find_if(files_.begin(), files_.end(), [&](const registry::FileEntry& f) { return f.path == path; });
  if (it == files_.end()) return not_found(path + " is not a file of this revision");
  return store_.read_exact(it->sha256, offset, out);
}

// One running export, as a pipeline of three threads around a bounded ring of recent pieces:
//   - the producer takes the exporter's next piece (its quantized chunk buffer itself, not a
//     copy) and publishes it; readers are served from the ring as soon as a piece is published;
//   - the storer (the job's main thread) takes published pieces in order and appends them to
//     the BlobWriter (framing, packing); at the end it commits the blob, then records it;
//   - the hasher takes the same pieces in order for the blob's SHA-256, which the storer gives
//     to the commit. Hashing beside the storer in lockstep, piece by piece (as an upload's
//     writer does), made the storer wait for each piece's hash whenever the hasher was behind
//     the quantizers for a core; from the ring it may fall behind and catch up.
// Once the ring holds `ring_bytes`, the producer recycles the oldest piece's buffer, and only
// after the storer has appended it and the hasher hashed it: memory stays bounded by the ring,
// and the producer waits when either falls a whole ring behind. There is one copy
// of the bytes on disk, the blob's: a reader asking for a chunk that has left the ring waits for
// the commit and reads the blob (an earlier version also wrote a spool file for such readers,
// which cost as much CPU as the quantizing, page-cache copies being slow on a VM). The storer
// runs at the same CPU priority as the rest: at a lower one (it was nice 10) it got almost no
// CPU while the quantizers ran, so it and they took turns instead of overlapping, and a Q8_0
// export on two cores took 20 % longer.
class ExportJob {
 public:
  ExportJob(std::unique_ptr<StoredModelSource> source, std::unique_ptr<formats::GgufExport> exporter,
            std::size_t ring_bytes)
      : source_(std::move(source)), exporter_(std::move(exporter)), ring_bytes_(ring_bytes) {}
  ~ExportJob() {
    if (thread_.joinable()) thread_.join();
  }

  std::uint64_t size() const { return exporter_->size(); }

  Status start(registry::Registry& registry, storage::BlobStore& store, registry::ExportRecord record,
               std::function<void()> on_done) {
    thread_ = std::thread([this, &registry, &store, record = std::move(record), on_done = std::move(on_done)]() {
      pthread_setname_np(pthread_self(), "grove-expstore");
      Status s = run(registry, store, record);
      {
        std::lock_guard lock(mu_);
        done_ = true;
        error_ = s;
      }
      cv_.notify_all();
      if (!s.is_ok()) GROVE_LOG(kError, "export of " << record.commit_id << " at " << record.quant << " failed: " << s.to_string());
      on_done();
    });
    return Status::ok();
  }

  void cancel() {
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // The bytes at `offset` up to the end of their piece, at most `max`, waiting until the
  // producer has published them; `pin` keeps the piece's buffer alive (the producer does not
  // recycle a buffer a reader holds) until it is reset or reassigned. Empty when the bytes have
  // left the ring: read them from committed_blob() then.
  Result<std::span<const std::uint8_t>> view_at(std::uint64_t offset, std::uint64_t max,
                                                std::shared_ptr<const formats::ChunkBuffer>& pin) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return produced_ > offset || done_; });
    if (produced_ <= offset && !error_.is_ok()) return error_;
    if (produced_ <= offset) return internal_error("export ended before byte " + std::to_string(offset));
    for (const Piece& piece : ring_) {
      if (offset >= piece.offset && offset < piece.offset + piece.bytes->size()) {
        pin = piece.bytes;
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(max, piece.offset + piece.bytes->size() - offset));
        return std::span<const std::uint8_t>(piece.bytes->data() + (offset - piece.offset), n);
      }
    }
    return std::span<const std::uint8_t>();
  }

  // The stored blob, once committed (waiting for it); the job's error if it failed first.
  Result<Sha256Digest> committed_blob() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return committed_.has_value() || done_; });
    if (committed_) return *committed_;
    if (!error_.is_ok()) return error_;
    return Status(Code::kUnavailable, "export cancelled before it was stored");
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Piece {
    std::shared_ptr<formats::ChunkBuffer> bytes;  // shared with readers viewing it (view_at)
    std::uint64_t offset = 0;  // in the GGUF
  };

  // Producer thread: exporter -> ring. Returns when the exporter is exhausted, on its error, or
  // when the storer stopped (error) or the job is cancelled.
  Status produce() {
    std::uint64_t written = 0;
    for (std::uint64_t piece = 0;; ++piece) {
      std::shared_ptr<formats::ChunkBuffer> bytes;
      {
        Clock::time_point t0 = Clock::now();
        std::unique_lock lock(mu_);
        // A full ring gives up its oldest piece, once stored; until then, a new buffer.
        cv_.wait(lock, [&] {
          return in_ring_ < ring_bytes_ || first_in_ring() < std::min(stored_, hashed_) || cancelled_ ||
                 storer_stopped_;
        });
        in_ring_wait_ += Clock::now() - t0;
        if (cancelled_ || storer_stopped_) return Status::ok();  // the storer reports why
        if (in_ring_ >= ring_bytes_) {  // the oldest leaves the ring: its readers now wait for the blob
          Piece& oldest = ring_.front();
          in_ring_ -= oldest.bytes->size();
          // Its buffer is reused unless a reader still holds it (new holders pin under mu_).
          if (oldest.bytes.use_count() == 1) bytes = std::move(oldest.bytes);
          ring_.pop_front();
        }
      }
      if (!bytes) bytes = std::make_shared<formats::ChunkBuffer>();
      Clock::time_point t1 = Clock::now();
      Status s = exporter_->next(*bytes);
      in_export_ += Clock::now() - t1;
      if (!s.is_ok()) return s;
      if (bytes->empty()) return Status::ok();
      const std::size_t n = bytes->size();
      {
        std::lock_guard lock(mu_);
        ring_.push_back(Piece{std::move(bytes), written});
        in_ring_ += n;
        written += n;
        produced_ = written;
        published_ = piece + 1;
      }
      cv_.notify_all();
    }
  }

  // Storer side (the job's main thread): ring -> blob writer, then commit and record once the
  // producer has finished.
  Status run(registry::Registry& registry, storage::BlobStore& store, registry::ExportRecord record) {
    // `record` is a copy: the caller logs the original.
    storage::WriteHints hints;
    hints.file_name = record.quant + ".gguf";
    hints.incompressible = true;  // quantized weights: zstd would spend seconds to save little
    hints.caller_hashes = true;   // the hasher below
    const Clock::time_point began = Clock::now();
    Status produced;
    std::thread producer([&] {
      pthread_setname_np(pthread_self(), "grove-expfeed");
      Status s = produce();
      {
        std::lock_guard lock(mu_);
        producer_done_ = true;
        producer_status_ = s;
      }
      cv_.notify_all();
    });
    Sha256 sha256;
    Clock::duration in_hash{}, hash_idle{};
    std::thread hasher([&] {
      pthread_setname_np(pthread_self(), "grove-expsha");
      (void)take_pieces(hashed_, in_hash, hash_idle, [&](std::span<const std::uint8_t> bytes) {  // cannot fail
        sha256.update(bytes);
        return Status::ok();
      });
    });
    Clock::duration in_store{}, in_idle{};
    Status stored;
    auto writer = store.begin_write(hints);
    if (writer.is_ok()) {
      stored = take_pieces(stored_, in_store, in_idle, [&](std::span<const std::uint8_t> bytes) {
        return (*writer)->append(bytes);
      });
    } else {
      stored = writer.status();
    }
    {
      std::lock_guard lock(mu_);
      storer_stopped_ = true;  // the producer may be waiting for ring space: let it go
    }
    cv_.notify_all();
    producer.join();
    hasher.join();  // it ends with the producer, after the pieces published
    produced = producer_status_;  // written before producer_done_, read after the join
    GROVE_RETURN_IF_ERROR(produced);
    GROVE_RETURN_IF_ERROR(stored);
    if (produced_ != exporter_->size()) {  // produced_ is the producer's, which has ended
      if (std::lock_guard lock(mu_); cancelled_) return Status(Code::kUnavailable, "export cancelled: the hub is shutting down");
      return internal_error("export produced " + std::to_string(produced_) + " bytes, planned " +
                            std::to_string(exporter_->size()));
    }
    const Clock::time_point t3 = Clock::now();
    GROVE_ASSIGN_OR_RETURN(storage::BlobInfo info, (*writer)->commit(sha256.finish(), exporter_->size()));
    in_store += Clock::now() - t3;
    {
      std::lock_guard lock(mu_);
      committed_ = info.digest;
    }
    cv_.notify_all();
    auto ms = [](Clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
    GROVE_LOG(kInfo, "export of " << record.commit_id << " at " << record.quant << ": " << produced_ << " bytes in "
                                  << ms(Clock::now() - began) << " ms (producer: waiting for quantized bytes "
                                  << ms(in_export_) << " ms, for ring space " << ms(in_ring_wait_)
                                  << " ms; storer: store " << ms(in_store) << " ms, idle " << ms(in_idle)
                                  << " ms; hasher: hash " << ms(in_hash) << " ms, idle " << ms(hash_idle) << " ms)");
    record.sha256 = info.digest;
    record.size = info.size;
    return registry.record_export(record);
  }

  // Hands published pieces in order to `use` and counts them in `taken` (stored_ or hashed_),
  // until the producer is done and all are taken, or `use` fails. A cancellation stops the
  // producer only: what is left here is at most a ring's worth, so an export whose bytes were
  // all produced (and perhaps already served) is still stored when the hub shuts down right
  // after.
  template <typename Use>
  Status take_pieces(std::uint64_t& taken, Clock::duration& in_use, Clock::duration& in_idle, Use&& use) {
    for (std::uint64_t piece = 0;; ++piece) {
      std::span<const std::uint8_t> bytes;
      {
        Clock::time_point t0 = Clock::now();
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return published_ > piece || producer_done_; });
        in_idle += Clock::now() - t0;
        if (published_ <= piece) return Status::ok();  // producer done (its status is checked by run)
        // The producer does not recycle this piece until `taken` passes it, and the deque's
        // push_back and pop_front leave it where it is.
        const formats::ChunkBuffer& b = *ring_[piece - first_in_ring()].bytes;
        bytes = {b.data(), b.size()};
      }
      Clock::time_point t1 = Clock::now();
      GROVE_RETURN_IF_ERROR(use(bytes));
      in_use += Clock::now() - t1;
      {
        std::lock_guard lock(mu_);
        taken = piece + 1;
      }
      cv_.notify_all();
    }
  }

  std::unique_ptr<StoredModelSource> source_;
  std::unique_ptr<formats::GgufExport> exporter_;
  std::thread thread_;
  const std::size_t ring_bytes_;  // the ring holds at least this much once full
  Clock::duration in_export_{}, in_ring_wait_{};  // producer thread only; read after its join
  Status producer_status_;                          // written by the producer before producer_done_
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;       // guarded by mu_
  // The oldest piece still in the ring (the ring holds the last ones published); mu_ held.
  std::uint64_t first_in_ring() const { return published_ - ring_.size(); }

  std::deque<Piece> ring_;       // pieces first_in_ring() .. published_ - 1; guarded by mu_
  std::size_t in_ring_ = 0;      // their bytes; guarded by mu_
  std::uint64_t produced_ = 0;   // bytes published; guarded by mu_
  std::uint64_t published_ = 0;  // pieces published; guarded by mu_
  std::uint64_t stored_ = 0;     // pieces appended to the blob writer; guarded by mu_
  std::uint64_t hashed_ = 0;     // pieces hashed; guarded by mu_
  std::optional<Sha256Digest> committed_;  // the blob, once committed; guarded by mu_
  bool producer_done_ = false;   // guarded by mu_
  bool storer_stopped_ = false;  // guarded by mu_
  bool done_ = false;            // guarded by mu_
  Status error_;                 // guarded by mu_
};

namespace {

// Reads a running export: from the job's ring while the bytes are there, then (a reader that
// fell a ring behind) from the stored blob once the job has committed it.
class JobReader final : public storage::BlobReader {
 public:
  JobReader(std::shared_ptr<ExportJob> job, storage::BlobStore& store, std::uint64_t offset, std::uint64_t length)
      : job_(std::move(job)), store_(store), pos_(offset), length_(length), end_(offset + length) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    GROVE_ASSIGN_OR_RETURN(std::span<const std::uint8_t> got, next(out, true));
    return got.size();
  }
  // A view of the job's ring while the bytes are there (no copy: the sender writes the
  // quantized chunk itself), else the stored blob's.
  Result<std::span<const std::uint8_t>> read_view(std::span<std::uint8_t> scratch) override {
    return next(scratch, false);
  }
  std::uint64_t length() const override { return length_; }

 private:
  // The next bytes: with `copy`, copied into `scratch` (at most its size); else a view of the
  // ring (at most scratch.size()) or whatever the blob reader's read_view gives, valid until
  // the next call.
  Result<std::span<const std::uint8_t>> next(std::span<std::uint8_t> scratch, bool copy) {
    pin_.reset();
    if (pos_ >= end_ || scratch.empty()) return std::span<const std::uint8_t>();
    scratch = scratch.first(static_cast<std::size_t>(std::min<std::uint64_t>(scratch.size(), end_ - pos_)));
    std::span<const std::uint8_t> got;
    if (!blob_) {
      GROVE_ASSIGN_OR_RETURN(got, job_->view_at(pos_, scratch.size(), pin_));
      if (got.empty()) {  // left the ring
        GROVE_ASSIGN_OR_RETURN(Sha256Digest digest, job_->committed_blob());
        GROVE_ASSIGN_OR_RETURN(blob_, store_.open(digest, pos_, end_ - pos_));
      } else if (copy) {  // pin_ keeps the piece meanwhile
        std::memcpy(scratch.data(), got.data(), got.size());
        got = scratch.first(got.size());
      }
    }
    if (blob_) {
      if (copy) {
        GROVE_ASSIGN_OR_RETURN(std::size_t n, blob_->read(scratch));
        got = scratch.first(n);
      } else {
        GROVE_ASSIGN_OR_RETURN(got, blob_->read_view(scratch));
      }
      if (got.empty()) return corrupt("stored export ended before byte " + std::to_string(pos_));
    }
    pos_ += got.size();
    return got;
  }

  std::shared_ptr<ExportJob> job_;
  storage::BlobStore& store_;
  std::unique_ptr<storage::BlobReader> blob_;
  std::shared_ptr<const formats::ChunkBuffer> pin_;  // the ring piece the last view points into
  std::uint64_t pos_, length_, end_;
};

std::string cache_key(const std::string& commit, const std::string& quant) {
  return commit + "/" + quant + "/" + std::to_string(formats::kGgufExporterVersion);
}

}  // namespace

Result<std::unique_ptr<storage::BlobReader>> ExportHandle::open(storage::BlobStore& store, std::uint64_t offset,
                                                                std::uint64_t length) const {
  if (stored) return store.open(stored->sha256, offset, length);
  if (!running) return internal_error("export handle without a source");
  return std::unique_ptr<storage::BlobReader>(std::make_unique<JobReader>(running, store, offset, length));
}

ExportCache::ExportCache(registry::Registry& registry, storage::BlobStore& store, std::string spool_dir,
                         unsigned threads, std::size_t ring_bytes)
    : registry_(registry),
      store_(store),
      spool_dir_(std::move(spool_dir)),
      threads_(threads),
      ring_bytes_(ring_bytes) {
  // Spool files of a hub that died mid-export: nothing refers to them any more.
  FileSystem& fs = FileSystem::local();
  if (auto names = fs.list(spool_dir_); names.is_ok()) {
    for (const std::string& name : *names)
      if (name.ends_with(".gguf.part")) (void)fs.remove(spool_dir_ + "/" + name);
  }
}

ExportCache& Hub::exports() {
  std::call_once(exports_once_, [this] {
    exports_ = std::make_shared<ExportCache>(*registry_, *store_, options_.data_dir + "/exports",
                                           options_.export_threads);
  });
  return *exports_;
}

ExportCache::~ExportCache() {
  std::vector<std::shared_ptr<ExportJob>> jobs;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, job] : running_) jobs.push_back(job);
  }
  for (auto& job : jobs) job->cancel();
  std::lock_guard lock(mu_);
  running_.clear();
  finished_.clear();
}

void ExportCache::finished(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = running_.find(key);
  if (it == running_.end()) return;
  finished_.push_back(std::move(it->second));
  running_.erase(it);
}

Result<ExportHandle> ExportCache::get(const ExportRequest& request, bool start) {
  const std::string key = cache_key(request.commit, request.quant);
  std::vector<std::shared_ptr<ExportJob>> reaped;  // destroyed (threads joined) outside the lock
  {
    std::lock_guard lock(mu_);
    reaped.swap(finished_);
  }
  reaped.clear();
  auto from_running = [&]() -> std::optional<ExportHandle> {
    std::lock_guard lock(mu_);
    auto it = running_.find(key);
    if (it == running_.end()) return std::nullopt;
    return ExportHandle{it->second->size(), std::nullopt, it->second};
  };
  // The registry first: a job records its blob just before it leaves running_.
  GROVE_ASSIGN_OR_RETURN(auto stored, registry_.find_export(request.commit, request.quant, formats::kGgufExporterVersion));
  if (!stored || !store_.stat(stored->sha256).is_ok()) {
    if (auto h = from_running()) return *h;
  }
  if (stored && store_.stat(stored->sha256).is_ok()) {
    if (stored->repo_id != request.repo.id) {  // the same commit exported for another repo
      registry::ExportRecord mine = *stored;
      mine.repo_id = request.repo.id;
      mine.created_at = 0;
      GROVE_RETURN_IF_ERROR(registry_.record_export(mine));
    }
    return ExportHandle{stored->size, stored, nullptr};
  }

  auto source = std::make_unique<StoredModelSource>(store_, request.files);
  formats::ExportOptions options;
  options.quant = request.quant;
  options.model_name = request.repo.name;
  options.threads = threads_;
  GROVE_ASSIGN_OR_RETURN(auto exporter, formats::GgufExport::plan(*source, options));
  if (!start) return ExportHandle{exporter->size(), std::nullopt, nullptr};

  std::lock_guard lock(mu_);
  if (auto it = running_.find(key); it != running_.end()) return ExportHandle{it->second->size(), std::nullopt, it->second};
  auto job = std::make_shared<ExportJob>(std::move(source), std::move(exporter), ring_bytes_);
  registry::ExportRecord record;
  record.repo_id = request.repo.id;
  record.commit_id = request.commit;
  record.quant = request.quant;
  record.exporter_version = formats::kGgufExporterVersion;
  GROVE_RETURN_IF_ERROR(job->start(registry_, store_, record, [this, key] { finished(key); }));
  running_[key] = job;
  return ExportHandle{job->size(), std::nullopt, job};
}

}  // namespace grove::hub
