#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string_view>
#include <thread>

namespace grove {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

// Lines are appended to a buffer and written by one background thread, so a busy server pays
// no write(2) per request: under load each write carries many lines, and when idle a line
// reaches stderr within about kBatchWindow. Warnings and errors are written at once (with
// everything before them), and whatever is pending is written at exit.
constexpr auto kBatchWindow = std::chrono::milliseconds(2);
// Past this much pending text the caller writes it itself: memory stays bounded even when
// stderr is slower than the lines come.
constexpr std::size_t kMaxPending = 1 << 20;

struct Sink {
  std::mutex mu;                 // guards pending and started
  std::condition_variable wake;  // pending became non-empty
  std::string pending;
  bool started = false;
  // Held while writing, so batches reach stderr in the order they were taken.
  std::mutex write_mu;
};

// Never destroyed: lines may be logged from other static destructors and from the detached
// writer thread while the process exits.
Sink& sink() {
  static Sink* s = new Sink;
  return *s;
}

void write_all(std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(STDERR_FILENO, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report it
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Writes everything pending, in order.
void drain(Sink& s) {
  std::lock_guard writing(s.write_mu);
  std::string batch;
  {
    std::lock_guard lock(s.mu);
    batch.swap(s.pending);
  }
  write_all(batch);
}

void writer_loop() {
  Sink& s = sink();
  for (;;) {
    {
      std::unique_lock lock(s.mu);
      s.wake.wait(lock, [&s] { return !s.pending.empty(); });
    }
    // Let the lines of concurrent requests gather into one write.
    std::this_thread::sleep_for(kBatchWindow);
    drain(s);
  }
}

// "2026-11-29T06:50:10" of the current second, formatted once per second per thread.
void append_stamp(std::string& out) {
  thread_local std::time_t cached_second = -1;
  thread_local char cached[24];
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  if (t != cached_second) {
    std::tm tm;
    gmtime_r(&t, &tm);
    std::strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_second = t;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  out += cached;
  char frac[8] = {'.', static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                  static_cast<char>('0' + ms % 10), 'Z', ' ', 0, 0};
  out.append(frac, 6);
}

}  // namespace

void set_log_level(LogLevel level) { g_level = static_cast<int>(level); }
bool log_enabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

void log_line(LogLevel level, std::string_view line) {
  static constexpr std::string_view kNames[] = {"debug ", "info ", "warn ", "error "};
  std::string text;
  text.reserve(32 + line.size());
  append_stamp(text);
  text += kNames[static_cast<int>(level)];
  text += line;
  text += '\n';

  Sink& s = sink();
  bool urgent = level >= LogLevel::kWarn;
  bool start = false;
  {
    std::lock_guard lock(s.mu);
    s.pending += text;
    urgent = urgent || s.pending.size() >= kMaxPending;
    if (!urgent && !s.started) start = s.started = true;
  }
  if (urgent) {
    drain(s);
    return;
  }
  if (start) {
    std::thread(writer_loop).detach();
    std::atexit(flush_log);
  }
  s.wake.notify_one();
}

void flush_log() { drain(sink()); }

}  // namespace grove
