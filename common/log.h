// Line-oriented logging to stderr. One call writes one whole line, even from many threads.
// Info and debug lines are written in batches by a background thread (within a few
// milliseconds, never one write(2) per line under load); warnings and errors are written before
// log_line returns, with every line logged before them. Pending lines are written at exit.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace grove {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);
void log_line(LogLevel level, std::string_view line);
// Writes every pending line now (e.g. before _exit or abort).
void flush_log();

}  // namespace grove

#define GROVE_LOG(level, expr)                                   \
  do {                                                           \
    if (::grove::log_enabled(::grove::LogLevel::level)) {        \
      std::ostringstream grove_log_os_;                          \
      grove_log_os_ << expr;                                     \
      ::grove::log_line(::grove::LogLevel::level, grove_log_os_.str()); \
    }                                                            \
  } while (0)
