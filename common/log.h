// Line-oriented logging to stderr. One call writes one whole line, even from many threads.
#pragma once

#include <sstream>
#include <string>

namespace grove {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);
void log_line(LogLevel level, const std::string& line);

}  // namespace grove

#define GROVE_LOG(level, expr)                                   \
  do {                                                           \
    if (::grove::log_enabled(::grove::LogLevel::level)) {        \
      std::ostringstream grove_log_os_;                          \
      grove_log_os_ << expr;                                     \
      ::grove::log_line(::grove::LogLevel::level, grove_log_os_.str()); \
    }                                                            \
  } while (0)
