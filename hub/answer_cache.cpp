#include "hub/answer_cache.h"

#include <mutex>

namespace grove::hub {

AnswerCache::AnswerCache(std::size_t max_entries, std::size_t max_bytes, std::chrono::milliseconds ttl)
    : max_entries_(max_entries), max_bytes_(max_bytes), ttl_(ttl) {}

std::shared_ptr<const CachedAnswer> AnswerCache::find(const std::string& key, std::uint64_t generation) const {
  std::shared_lock lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.generation != generation ||
      std::chrono::steady_clock::now() >= it->second.expires) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  return it->second.answer;
}

void AnswerCache::put(const std::string& key, std::uint64_t generation, std::shared_ptr<const CachedAnswer> answer) {
  std::size_t size = key.size() + answer->body.size();
  if (size > max_bytes_ / 4) return;  // one answer never crowds out the rest
  std::unique_lock lock(mu_);
  if (auto it = entries_.find(key); it != entries_.end()) {
    // A slower computation from an older generation must not replace a newer answer.
    if (it->second.generation > generation) return;
    bytes_ -= key.size() + it->second.answer->body.size();
    entries_.erase(it);
  }
  if (entries_.size() + 1 > max_entries_ || bytes_ + size > max_bytes_) evict_locked(generation, size);
  bytes_ += size;
  entries_.emplace(key, Entry{generation, std::chrono::steady_clock::now() + ttl_, std::move(answer)});
}

void AnswerCache::evict_locked(std::uint64_t generation, std::size_t incoming) {
  auto now = std::chrono::steady_clock::now();
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.generation != generation || now >= it->second.expires) {
      bytes_ -= it->first.size() + it->second.answer->body.size();
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  // Still full of current answers: drop a quarter of them (whichever the table yields first),
  // and more if the new answer needs the room.
  auto full = [&] { return entries_.size() + 1 > max_entries_ || bytes_ + incoming > max_bytes_; };
  if (!full()) return;
  std::size_t drop = entries_.size() / 4 + 1;
  for (auto it = entries_.begin(); it != entries_.end() && (drop > 0 || full()); drop -= drop ? 1 : 0) {
    bytes_ -= it->first.size() + it->second.answer->body.size();
    it = entries_.erase(it);
  }
}

AnswerCache::Stats AnswerCache::stats() const {
  std::shared_lock lock(mu_);
  return {hits_.load(), misses_.load(), entries_.size()};
}

}  // namespace grove::hub
