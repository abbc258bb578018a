// Small pure helpers for HTTP messages: URL decoding, query strings, Range headers, base64.
// No sockets here, so everything is unit-testable.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace grove::hub {

// Percent-decodes one path segment or query component. '+' becomes ' ' only when `plus_is_space`.
// kInvalidArgument for a malformed escape or an encoded NUL.
Result<std::string> url_decode(std::string_view s, bool plus_is_space = false);
// Percent-encodes everything but unreserved characters; keeps '/' when `keep_slash`.
std::string url_encode(std::string_view s, bool keep_slash = false);

// The path of a request target split at '/', empty segments dropped (so "//api" == "/api"),
// each segment decoded. The raw (undecoded) segments are kept too for routes that need them.
struct TargetPath {
  std::vector<std::string> segments;
  std::multimap<std::string, std::string> query;

  // First value of a query key; "expand[]" is folded into "expand" when parsing.
  std::optional<std::string> param(const std::string& key) const;
  std::vector<std::string> params(const std::string& key) const;
  // true/false, True/False, 1/0; `fallback` when absent or unrecognised.
  bool flag(const std::string& key, bool fallback) const;
};
Result<TargetPath> parse_target(std::string_view target);

// The request target with the repo it names moved: the first two consecutive path segments that
// decode to `from_ns` and `from_name` (or `from_name` + ".git"), in any letter case, become
// `to_ns`/`to_name`. Duplicate slashes collapse; the rest of the path and the query stay as
// sent. nullopt when the path does not name the repo (a repo named in a request body).
std::optional<std::string> retarget_repo(std::string_view target, std::string_view from_ns, std::string_view from_name,
                                         std::string_view to_ns, std::string_view to_name);

// Parses application/x-www-form-urlencoded bodies into a multimap.
Result<std::multimap<std::string, std::string>> parse_form(std::string_view body);

// A single byte range resolved against a size: [first, last] inclusive.
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t length() const { return last - first + 1; }
};
enum class RangeResult { kNone, kSatisfiable, kUnsatisfiable };
// Interprets a Range header value for a resource of `size` bytes. Anything that is not one
// well-formed "bytes=" range (multi-range, other units, garbage) is kNone: serve the whole file,
// as RFC 9110 allows.
RangeResult parse_range(std::string_view header, std::uint64_t size, ByteRange& out);

std::string base64_encode(std::string_view data);
Result<std::string> base64_decode(std::string_view data);

// Random lowercase hex of `bytes` random bytes (OpenSSL RAND_bytes).
std::string random_hex(std::size_t bytes);
// 24 lowercase hex characters naming one request (X-Request-Id): unique in practice, cheap,
// not secret (never use it as a credential).
std::string request_id();
// HMAC-SHA256 in hex.
std::string hmac_sha256_hex(std::string_view key, std::string_view message);
// Constant-time string comparison.
bool secure_equal(std::string_view a, std::string_view b);

// "2026-11-29T06:50:10.123Z"
std::string iso8601_ms(std::int64_t unix_ms);

}  // namespace grove::hub
