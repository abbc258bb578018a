// Status and Result<T>: every expected failure in grove is a value, never an exception.
// Exceptions mean bugs; where a library throws (Boost, nlohmann_json, yaml-cpp) one boundary
// catches and converts.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace grove {

// Codes name what went wrong in terms a hub user understands. The HTTP error table in
// hub/errors.cpp maps each one to a status; nothing else should.
enum class Code {
  kOk = 0,
  kInvalidArgument,   // the caller sent something malformed
  kNotFound,          // generic not found
  kRepoNotFound,
  kRevisionNotFound,
  kEntryNotFound,     // a path inside a revision
  kAlreadyExists,
  kConflict,          // a precondition failed: stale parent commit, concurrent update
  kUnauthenticated,   // no or bad credentials
  kPermissionDenied,  // credentials fine, not allowed
  kTooLarge,
  kOutOfRange,        // a byte range past the end
  kCorrupt,           // stored or received bytes fail their checksum
  kIoError,
  kUnavailable,       // try again later
  kInternal,
  // The thing asked for has a new name (a renamed repo); the message is its new URL path,
  // which the hub answers with a 307 redirect.
  kMoved,
};

const char* code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }

  bool is_ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "NotFound: no such repo" style, for logs and the CLI.
  std::string to_string() const;

  // Adds context in front of the message, keeping the code.
  Status with_context(const std::string& context) const {
    return is_ok() ? *this : Status(code_, context + ": " + message_);
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status corrupt(std::string m) { return {Code::kCorrupt, std::move(m)}; }
inline Status io_error(std::string m) { return {Code::kIoError, std::move(m)}; }
inline Status internal_error(std::string m) { return {Code::kInternal, std::move(m)}; }
// An io_error carrying strerror(errno) for the given operation and path.
Status errno_status(const std::string& op, const std::string& path);

// Result<T>: a T or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.is_ok()) status_ = internal_error("Result built from an ok Status");
  }

  bool is_ok() const { return value_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const { return status_; }

  // REQUIRES: is_ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace grove

// Returns the status from the enclosing function when `expr` fails.
#define GROVE_RETURN_IF_ERROR(expr)                  \
  do {                                               \
    ::grove::Status grove_status_ = (expr);          \
    if (!grove_status_.is_ok()) return grove_status_; \
  } while (0)

#define GROVE_CONCAT_INNER(a, b) a##b
#define GROVE_CONCAT(a, b) GROVE_CONCAT_INNER(a, b)
// GROVE_ASSIGN_OR_RETURN(auto x, make_x()); declares x from a Result or returns its status.
#define GROVE_ASSIGN_OR_RETURN(decl, expr)                            \
  auto GROVE_CONCAT(grove_result_, __LINE__) = (expr);                \
  if (!GROVE_CONCAT(grove_result_, __LINE__).is_ok())                 \
    return GROVE_CONCAT(grove_result_, __LINE__).status();            \
  decl = std::move(GROVE_CONCAT(grove_result_, __LINE__)).value()
