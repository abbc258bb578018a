#include "common/status.h"

#include <cerrno>
#include <cstring>

namespace grove {

const char* code_name(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "InvalidArgument";
    case Code::kNotFound: return "NotFound";
    case Code::kRepoNotFound: return "RepoNotFound";
    case Code::kRevisionNotFound: return "RevisionNotFound";
    case Code::kEntryNotFound: return "EntryNotFound";
    case Code::kAlreadyExists: return "AlreadyExists";
    case Code::kConflict: return "Conflict";
    case Code::kUnauthenticated: return "Unauthenticated";
    case Code::kPermissionDenied: return "PermissionDenied";
    case Code::kTooLarge: return "TooLarge";
    case Code::kOutOfRange: return "OutOfRange";
    case Code::kCorrupt: return "Corrupt";
    case Code::kIoError: return "IoError";
    case Code::kUnavailable: return "Unavailable";
    case Code::kInternal: return "Internal";
    case Code::kMoved: return "Moved";
  }
  return "Unknown";
}

std::string Status::to_string() const {
  if (is_ok()) return "OK";
  return std::string(code_name(code_)) + ": " + message_;
}

Status errno_status(const std::string& op, const std::string& path) {
  int e = errno;
  return io_error(op + " " + path + ": " + std::strerror(e));
}

}  // namespace grove
