// Base-model hints for the blob store (see storage_bases.h).
#include "hub/storage_bases.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "hub/hub.h"
#include "registry/lineage.h"

namespace grove::hub {

std::vector<Sha256Digest> resolve_base_files(registry::Registry& registry, const std::string& base_ref) {
  std::vector<Sha256Digest> out;
  std::string ref = base_ref;
  std::string revision;
  if (const std::size_t at = ref.find('@'); at != std::string::npos) {
    revision = ref.substr(at + 1);
    ref.resize(at);
  }
  const std::size_t slash = ref.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == ref.size()) return out;
  auto repo = registry.find_repo(ref.substr(0, slash), ref.substr(slash + 1));
  if (!repo.is_ok()) return out;
  auto commit = registry.resolve_revision(repo->id, revision.empty() ? repo->default_branch : revision);
  if (!commit.is_ok()) return out;
  auto files = registry.list_files(repo->id, *commit);
  if (!files.is_ok()) return out;
  for (const registry::FileEntry& f : *files)
    if (f.path.ends_with(".safetensors")) out.push_back(f.sha256);
  return out;
}

storage::WriteHints upload_write_hints(Hub& hub, const Request& request) {
  storage::WriteHints hints;
  const std::string base = request.header_value("X-Grove-Base");
  if (!base.empty() && base.size() < 512) hints.base_files = resolve_base_files(hub.registry(), base);
  return hints;
}

struct Reencoder::State {
  explicit State(storage::BlobStore& s) : store(s) {}
  storage::BlobStore& store;
  std::mutex mu;
  std::condition_variable cv;
  struct Job {
    std::vector<Sha256Digest> files, base_files;
    Done done;
  };
  std::deque<Job> queue;
  bool running = false;
  bool stop = false;
  std::thread worker;

  void run() {
    std::unique_lock lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return stop || !queue.empty(); });
      if (stop) return;
      auto job = std::move(queue.front());
      queue.pop_front();
      running = true;
      lock.unlock();
      storage::ReencodeStats total;
      for (const Sha256Digest& file : job.files) {
        auto stats = store.reencode(file, job.base_files);
        if (stats.is_ok()) total += *stats;
        if (!stats.is_ok()) {
          GROVE_LOG(kWarn, "re-encoding " << file.hex() << " against its base failed: " << stats.status().to_string());
        } else if (stats->frames_reencoded > 0) {
          GROVE_LOG(kInfo, "re-encoded " << stats->frames_reencoded << " frames of " << file.hex() << " against its base: "
                                         << stats->stored_bytes_before << " -> " << stats->stored_bytes_after << " bytes");
        }
      }
      if (job.done) job.done(total);
      lock.lock();
      running = false;
      cv.notify_all();
    }
  }
};

Reencoder::Reencoder(storage::BlobStore& store) : state_(std::make_shared<State>(store)) {
  state_->worker = std::thread([s = state_] { s->run(); });
}

Reencoder::~Reencoder() {
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
  }
  state_->cv.notify_all();
  state_->worker.join();
}

void Reencoder::enqueue(std::vector<Sha256Digest> files, std::vector<Sha256Digest> base_files, Done done) {
  if (files.empty() || base_files.empty()) return;
  {
    std::lock_guard lock(state_->mu);
    state_->queue.push_back(State::Job{std::move(files), std::move(base_files), std::move(done)});
  }
  state_->cv.notify_all();
}

void Reencoder::wait_idle() {
  std::unique_lock lock(state_->mu);
  state_->cv.wait(lock, [&] { return state_->stop || (state_->queue.empty() && !state_->running); });
}

void schedule_reencode(Hub& hub, const registry::CommitRequest& commit, const std::string& child_repo) {
  std::optional<std::string> base = commit.base_flag;
  if (!base && commit.card && !commit.card->base_models.empty()) base = commit.card->base_models.front();
  if (!base) return;
  std::vector<Sha256Digest> files;
  for (const registry::FileEntry& f : commit.upserts)
    if (f.lfs && f.path.ends_with(".safetensors")) files.push_back(f.sha256);
  if (files.empty()) return;
  std::vector<Sha256Digest> base_files = resolve_base_files(hub.registry(), *base);
  // A file that is itself one of the base's files has nothing to gain.
  std::erase_if(files, [&](const Sha256Digest& f) { return std::find(base_files.begin(), base_files.end(), f) != base_files.end(); });
  const std::string parent_repo = base->substr(0, base->find('@'));
  std::string relation = "finetune";
  if (commit.card && commit.card->base_model_relation && registry::is_lineage_relation(*commit.card->base_model_relation))
    relation = *commit.card->base_model_relation;
  registry::Registry& reg = hub.registry();
  auto done = [&reg, child_repo, parent_repo, relation](const storage::ReencodeStats& stats) {
    const double similarity = stats.similarity();
    if (similarity < kMinDetectedSimilarity || child_repo == parent_repo) return;
    Status s = reg.record_detected_edge(child_repo, parent_repo, similarity, relation);
    if (!s.is_ok()) {
      GROVE_LOG(kWarn, "cannot record detected lineage " << child_repo << " -> " << parent_repo << ": " << s.to_string());
    } else {
      GROVE_LOG(kInfo, "detected lineage " << child_repo << " -> " << parent_repo << " (similarity " << similarity << ")");
    }
  };
  hub.reencoder().enqueue(std::move(files), std::move(base_files), std::move(done));
}

}  // namespace grove::hub
