#include "hub/http_util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>

#include "common/digest.h"

namespace grove::hub {

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      int hi = i + 1 < s.size() ? hex_digit(s[i + 1]) : -1;
      int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return invalid_argument("malformed percent-escape in URL");
      char decoded = static_cast<char>(hi << 4 | lo);
      if (decoded == '\0') return invalid_argument("URL contains an encoded NUL byte");
      out.push_back(decoded);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string url_encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '_' || c == '.' || c == '~' || (keep_slash && c == '/');
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::optional<std::string> TargetPath::param(const std::string& key) const {
  auto it = query.find(key);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> TargetPath::params(const std::string& key) const {
  std::vector<std::string> out;
  auto [lo, hi] = query.equal_range(key);
  for (auto it = lo; it != hi; ++it) out.push_back(it->second);
  return out;
}

bool TargetPath::flag(const std::string& key, bool fallback) const {
  auto v = param(key);
  if (!v) return fallback;
  if (*v == "true" || *v == "True" || *v == "1" || v->empty()) return true;
  if (*v == "false" || *v == "False" || *v == "0") return false;
  return fallback;
}

Result<std::multimap<std::string, std::string>> parse_form(std::string_view body) {
  std::multimap<std::string, std::string> out;
  while (!body.empty()) {
    std::size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    GROVE_ASSIGN_OR_RETURN(std::string key, url_decode(pair.substr(0, eq), true));
    std::string value;
    if (eq != std::string_view::npos) {
      GROVE_ASSIGN_OR_RETURN(value, url_decode(pair.substr(eq + 1), true));
    }
    if (key.size() > 2 && key.ends_with("[]")) key.resize(key.size() - 2);
    out.emplace(std::move(key), std::move(value));
  }
  return out;
}

Result<TargetPath> parse_target(std::string_view target) {
  TargetPath out;
  std::size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (q != std::string_view::npos) {
    GROVE_ASSIGN_OR_RETURN(out.query, parse_form(target.substr(q + 1)));
  }
  while (!path.empty()) {
    std::size_t slash = path.find('/');
    std::string_view seg = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (seg.empty()) continue;
    GROVE_ASSIGN_OR_RETURN(std::string decoded, url_decode(seg));
    out.segments.push_back(std::move(decoded));
  }
  return out;
}

static bool ascii_iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<std::string> retarget_repo(std::string_view target, std::string_view from_ns, std::string_view from_name,
                                         std::string_view to_ns, std::string_view to_name) {
  std::size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q);
  std::vector<std::string_view> raw;
  while (!path.empty()) {
    std::size_t slash = path.find('/');
    std::string_view seg = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (!seg.empty()) raw.push_back(seg);
  }
  auto decoded_is = [](std::string_view seg, std::string_view want) {
    auto d = url_decode(seg);
    return d.is_ok() && ascii_iequal(*d, want);
  };
  for (std::size_t i = 0; i + 1 < raw.size(); ++i) {
    if (!decoded_is(raw[i], from_ns)) continue;
    std::string suffix;
    if (!decoded_is(raw[i + 1], from_name)) {
      if (!decoded_is(raw[i + 1], std::string(from_name) + ".git")) continue;
      suffix = ".git";
    }
    std::string out;
    for (std::size_t j = 0; j < raw.size(); ++j) {
      out += '/';
      if (j == i) out += url_encode(to_ns);
      else if (j == i + 1) out += url_encode(to_name) + suffix;
      else out += raw[j];
    }
    return out + std::string(query);
  }
  return std::nullopt;
}

static bool parse_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

RangeResult parse_range(std::string_view header, std::uint64_t size, ByteRange& out) {
  constexpr std::string_view kPrefix = "bytes=";
  if (!header.starts_with(kPrefix)) return RangeResult::kNone;
  std::string_view spec = header.substr(kPrefix.size());
  while (!spec.empty() && spec.front() == ' ') spec.remove_prefix(1);
  while (!spec.empty() && spec.back() == ' ') spec.remove_suffix(1);
  if (spec.find(',') != std::string_view::npos) return RangeResult::kNone;
  std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return RangeResult::kNone;
  std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  std::uint64_t first = 0, last = 0;
  if (a.empty()) {  // suffix range: the last b bytes
    std::uint64_t n = 0;
    if (!parse_u64(b, n)) return RangeResult::kNone;
    if (n == 0 || size == 0) return RangeResult::kUnsatisfiable;
    out.first = n >= size ? 0 : size - n;
    out.last = size - 1;
    return RangeResult::kSatisfiable;
  }
  if (!parse_u64(a, first)) return RangeResult::kNone;
  if (b.empty()) {
    last = size == 0 ? 0 : size - 1;
  } else {
    if (!parse_u64(b, last) || last < first) return RangeResult::kNone;
    if (size > 0 && last >= size) last = size - 1;
  }
  if (first >= size) return RangeResult::kUnsatisfiable;
  out.first = first;
  out.last = last;
  return RangeResult::kSatisfiable;
}

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

Result<std::string> base64_decode(std::string_view data) {
  std::string clean;
  clean.reserve(data.size());
  for (char c : data)
    if (c != '\n' && c != '\r' && c != ' ') clean.push_back(c);
  if (clean.size() % 4 != 0) return invalid_argument("malformed base64: length is not a multiple of 4");
  std::string out(3 * (clean.size() / 4), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) return invalid_argument("malformed base64");
  std::size_t len = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts padding bytes as zeros; take them back off.
  if (!clean.empty() && clean.back() == '=') --len;
  if (clean.size() > 1 && clean[clean.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes));
  return to_hex(as_bytes(raw));
}

std::string request_id() {
  // splitmix64 over a per-thread random seed: ids unique in practice and cheap. RAND_bytes on
  // every request cost more than the rest of a cached answer (a lock and a DRBG round).
  thread_local std::uint64_t state = [] {
    std::uint64_t seed = 0;
    RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed);
    return seed;
  }();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(24, '0');
  for (int half = 0; half < 2; ++half) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    for (int i = 0; i < 12; ++i) out[static_cast<std::size_t>(half * 12 + i)] = kHex[(z >> (4 * i)) & 0xf];
  }
  return out;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), mac, &len);
  return to_hex(ByteSpan(mac, len));
}

bool secure_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string iso8601_ms(std::int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm;
  gmtime_r(&t, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(unix_ms % 1000));
  return buf;
}

}  // namespace grove::hub
