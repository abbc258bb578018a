// A fixed set of threads that run one function together: run(fn) calls fn(0..size()-1), one
// part per worker with the caller taking part 0, and returns when every part is done. Used to
// quantize the rows of a chunk in parallel. Not reentrant; one caller at a time.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace grove::formats {

class WorkerPool {
 public:
  // `workers` counts the caller; 0 means one per core.
  explicit WorkerPool(unsigned workers);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  unsigned size() const { return static_cast<unsigned>(threads_.size()) + 1; }
  void run(const std::function<void(unsigned part)>& fn);

 private:
  void loop(unsigned part);

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable start_, done_;
  const std::function<void(unsigned)>* fn_ = nullptr;  // guarded by mu_
  std::uint64_t generation_ = 0;                        // guarded by mu_
  unsigned pending_ = 0;                                // guarded by mu_
  bool stop_ = false;                                   // guarded by mu_
};

}  // namespace grove::formats
