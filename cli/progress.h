// A progress bar for transfers: bytes, rate and ETA. On a terminal it redraws one line; when
// stdout is not a terminal it prints a plain line now and then, so logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace grove::cli {

class Progress {
 public:
  Progress(std::string label, std::uint64_t total);
  // Bytes done so far, in total (not an increment).
  void update(std::uint64_t done);
  // Ends the bar with a final line.
  void finish();

 private:
  void draw(bool final);

  std::string label_;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

std::string human_bytes(double bytes);

}  // namespace grove::cli
