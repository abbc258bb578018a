#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

namespace grove::cli {

std::string human_bytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, unit ? "%.1f %s" : "%.0f %s", bytes, kUnits[unit]);
  return buf;
}

Progress::Progress(std::string label, std::uint64_t total)
    : label_(std::move(label)),
      total_(total),
      tty_(::isatty(STDOUT_FILENO)),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void Progress::update(std::uint64_t done) {
  done_ = done;
  auto now = std::chrono::steady_clock::now();
  auto interval = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  if (now - last_draw_ >= interval) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() { draw(true); }

void Progress::draw(bool final) {
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = seconds > 0 ? static_cast<double>(done_) / seconds : 0;
  double fraction = total_ ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  char eta[32] = "";
  if (!final && rate > 0 && done_ < total_) std::snprintf(eta, sizeof eta, " ETA %.0fs", static_cast<double>(total_ - done_) / rate);
  std::string line = label_ + " " + human_bytes(static_cast<double>(done_)) + " / " + human_bytes(static_cast<double>(total_)) +
                     " " + human_bytes(rate) + "/s" + eta;
  if (tty_) {
    constexpr int kWidth = 24;
    int filled = static_cast<int>(fraction * kWidth);
    std::string bar(static_cast<std::size_t>(filled), '=');
    if (filled < kWidth) bar += '>' + std::string(static_cast<std::size_t>(kWidth - filled - 1), ' ');
    std::printf("\r[%s] %3.0f%% %s\033[K%s", bar.c_str(), fraction * 100, line.c_str(), final ? "\n" : "");
  } else {
    std::printf("%3.0f%% %s\n", fraction * 100, line.c_str());
  }
  std::fflush(stdout);
}

}  // namespace grove::cli
