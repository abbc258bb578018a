// Finished answers of read routes (model info), so a hot GET costs a hash lookup instead of
// registry queries and JSON building. An answer is stored with the registry's write generation
// read BEFORE it was computed (registry::Registry::write_generation) and is served only while
// the generation is unchanged: any committed registry write (commits, refs, settings, renames,
// deletes, lineage, exports, download-count flushes) makes every stored answer stale at once.
// A short time-to-live also bounds what the generation cannot see (another process writing
// grove.db; a failed optional read that left a field out).
//
// The key must name everything the answer depends on besides the registry: the route, the
// decoded path and query, and the caller's identity (answers differ by who may see private
// repos and private lineage).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>

namespace grove::hub {

struct CachedAnswer {
  std::string body;          // the JSON text of a 200 answer
  std::string content_type;  // its Content-Type
};

class AnswerCache {
 public:
  // At most `max_entries` answers of at most `max_bytes` in all are kept; each is served for at
  // most `ttl`.
  explicit AnswerCache(std::size_t max_entries = 8192, std::size_t max_bytes = 64u << 20,
                       std::chrono::milliseconds ttl = std::chrono::seconds(30));

  // The answer stored under `key` at `generation`, or null (missing, older generation, expired).
  std::shared_ptr<const CachedAnswer> find(const std::string& key, std::uint64_t generation) const;
  // Stores `answer` under `key`, computed from registry reads made after write_generation()
  // returned `generation`. When full, stale answers go first, then arbitrary ones.
  void put(const std::string& key, std::uint64_t generation, std::shared_ptr<const CachedAnswer> answer);

  struct Stats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::size_t entries = 0;
  };
  Stats stats() const;

 private:
  struct Entry {
    std::uint64_t generation = 0;
    std::chrono::steady_clock::time_point expires;
    std::shared_ptr<const CachedAnswer> answer;
  };
  void evict_locked(std::uint64_t generation, std::size_t incoming);

  const std::size_t max_entries_;
  const std::size_t max_bytes_;
  const std::chrono::milliseconds ttl_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
  std::size_t bytes_ = 0;                           // guarded by mu_
  mutable std::atomic<std::uint64_t> hits_{0};
  mutable std::atomic<std::uint64_t> misses_{0};
};

}  // namespace grove::hub
