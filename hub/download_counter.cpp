#include "hub/download_counter.h"

#include "common/log.h"

namespace grove::hub {

DownloadKind classify_download(std::string_view path, std::string_view range_header) {
  // Only a request that starts at byte 0 and asks for more than the first byte is a download;
  // "bytes=0-0" is the JS size probe, "bytes=N-" a resume.
  if (!range_header.empty()) {
    constexpr std::string_view kFromStart = "bytes=0-";
    if (!range_header.starts_with(kFromStart)) return DownloadKind::kNone;
    std::string_view last = range_header.substr(kFromStart.size());
    if (last == "0") return DownloadKind::kNone;
  }
  std::string_view name = path.substr(path.rfind('/') == std::string_view::npos ? 0 : path.rfind('/') + 1);
  if (path == "config.json") return DownloadKind::kConfig;
  if (name.ends_with(".safetensors") || name.ends_with(".gguf")) return DownloadKind::kWeightFile;
  return DownloadKind::kNone;
}

DownloadCounter::DownloadCounter(registry::Registry& registry, std::chrono::milliseconds interval)
    : registry_(registry), interval_(interval), thread_([this] { run(); }) {}

DownloadCounter::~DownloadCounter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  if (Status s = flush(); !s.is_ok()) GROVE_LOG(kWarn, "download counts lost at shutdown: " << s.to_string());
}

void DownloadCounter::note_get(std::int64_t repo_id, const std::string& commit_id, std::string_view path,
                               std::string_view range_header) {
  DownloadKind kind = classify_download(path, range_header);
  if (kind == DownloadKind::kNone) return;
  if (kind == DownloadKind::kWeightFile) {
    auto config = registry_.find_file(repo_id, commit_id, "config.json");
    if (config.is_ok() || config.status().code() != Code::kEntryNotFound) return;  // counted by config.json
  }
  count(repo_id);
}

void DownloadCounter::count(std::int64_t repo_id) {
  std::lock_guard lock(mu_);
  ++pending_[repo_id];
}

Status DownloadCounter::flush() {
  std::lock_guard flushing(flush_mu_);
  std::map<std::int64_t, std::uint64_t> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(pending_);
  }
  Status s = registry_.add_downloads(batch);
  if (!s.is_ok()) {
    std::lock_guard lock(mu_);
    for (const auto& [repo_id, n] : batch) pending_[repo_id] += n;
  }
  return s;
}

void DownloadCounter::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    if (Status s = flush(); !s.is_ok()) GROVE_LOG(kWarn, "flushing download counts: " << s.to_string());
    lock.lock();
  }
}

}  // namespace grove::hub
