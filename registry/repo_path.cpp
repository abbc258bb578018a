#include "registry/repo_path.h"

#include <cctype>
#include <cstdint>
#include <string>

namespace grove::registry {
namespace {

constexpr std::size_t kMaxRepoName = 96;
constexpr std::size_t kMaxRepoPath = 1024;
constexpr std::size_t kMaxRefName = 255;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// Shown in messages; a hostile name may hold anything, so only printable ASCII goes through.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) {
    auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  return out;
}

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

// Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n;       // continuation bytes
    std::uint32_t cp;    // the code point being decoded
    std::uint32_t min;   // smallest code point this length may encode (no overlong forms)
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
      min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
      min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
      min = 0x10000;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

Status validate_repo_name(std::string_view name) {
  auto bad = [&](const std::string& why) {
    return invalid_argument("invalid repo name '" + printable(name) + "': " + why);
  };
  if (name.empty() || name.size() > kMaxRepoName) return bad("must be 1 to 96 characters");
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
      return bad("only letters, digits, '_', '-' and '.' are allowed");
  }
  if (name.find("--") != std::string_view::npos || name.find("..") != std::string_view::npos)
    return bad("'--' and '..' are not allowed");
  if (name.front() == '-' || name.front() == '.' || name.back() == '-' || name.back() == '.')
    return bad("cannot start or end with '-' or '.'");
  if (ends_with(name, ".git")) return bad("cannot end with '.git'");
  return Status::ok();
}

Status validate_repo_path(std::string_view path) {
  auto bad = [&](const std::string& why) {
    return invalid_argument("invalid path '" + printable(path) + "': " + why);
  };
  if (path.empty()) return bad("empty");
  if (path.size() > kMaxRepoPath) return bad("longer than 1024 bytes");
  for (char c : path) {
    if (is_control(static_cast<unsigned char>(c))) return bad("control characters are not allowed");
    if (c == '\\') return bad("backslashes are not allowed");
  }
  if (!is_valid_utf8(path)) return bad("not valid UTF-8");
  std::size_t start = 0;
  for (;;) {
    std::size_t slash = path.find('/', start);
    std::string_view segment = path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (segment.empty()) return bad("empty segment (leading, trailing or double '/')");
    if (segment == "." || segment == "..") return bad("'.' and '..' segments are not allowed");
    if (iequals(segment, ".git")) return bad("paths inside .git are not allowed");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return Status::ok();
}

Status validate_ref_name(std::string_view name) {
  auto bad = [&](const std::string& why) {
    return invalid_argument("invalid branch or tag name '" + printable(name) + "': " + why);
  };
  if (name.empty() || name.size() > kMaxRefName) return bad("must be 1 to 255 bytes");
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (is_control(u) || c == ' ' || c == '~' || c == '^' || c == ':' || c == '?' || c == '*' || c == '[' ||
        c == '\\')
      return bad("control characters, space and ~^:?*[\\ are not allowed");
  }
  if (!is_valid_utf8(name)) return bad("not valid UTF-8");
  if (name.find("..") != std::string_view::npos || name.find("@{") != std::string_view::npos)
    return bad("'..' and '@{' are not allowed");
  if (name == "@" || name == "HEAD") return bad("reserved name");
  if (name.back() == '.') return bad("cannot end with '.'");
  if (name.size() == 40 && name.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos)
    return bad("looks like a commit id");
  std::size_t start = 0;
  for (;;) {
    std::size_t slash = name.find('/', start);
    std::string_view segment = name.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (segment.empty()) return bad("empty segment (leading, trailing or double '/')");
    if (segment.front() == '.') return bad("a segment cannot start with '.'");
    if (ends_with(segment, ".lock")) return bad("a segment cannot end with '.lock'");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return Status::ok();
}

}  // namespace grove::registry
