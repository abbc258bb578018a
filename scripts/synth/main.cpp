// grove-synth: deterministic synthetic model families and big files for tests, benchmarks and
// the demo. See README.md.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "common/status.h"
#include "scripts/synth/family.h"
#include "scripts/synth/prng.h"
#include "scripts/synth/safetensors_writer.h"

namespace grove::synth {
namespace {

constexpr const char* kUsage =
    "usage:\n"
    "  grove-synth family --out DIR [--size tiny|small|medium|large] [--seed N]\n"
    "                     [--arch llama|qwen2] [--namespace NS] [--family NAME]\n"
    "                     [--members base,unrelated,...]\n"
    "      Writes DIR/<member>/ for the members base, finetune-full, finetune-partial,\n"
    "      lora-merged, base-resharded, base-fp16 and unrelated, and prints\n"
    "      \"<member> <bytes>\" for each. Defaults: tiny, seed 1, llama, namespace demo,\n"
    "      family <arch>-<size>; repo ids are NS/<family>-<member>.\n"
    "  grove-synth bigfile --out FILE --bytes N[K|M|G] [--seed S]\n"
    "      Writes N bytes (K, M, G: binary multiples) of deterministic pseudo-random data.\n"
    "  grove-synth --help\n";

Result<std::uint64_t> parse_count(const std::string& text, bool allow_suffix) {
  std::uint64_t value = 0;
  std::size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
    if (value > (UINT64_MAX - digit) / 10) return invalid_argument("number too large: " + text);
    value = value * 10 + digit;
  }
  if (i == 0) return invalid_argument("not a number: " + text);
  if (i == text.size()) return value;
  if (!allow_suffix || i + 1 != text.size()) return invalid_argument("not a number: " + text);
  int shift = 0;
  switch (text[i]) {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    default: return invalid_argument("unknown suffix in " + text);
  }
  if (value > (UINT64_MAX >> shift)) return invalid_argument("number too large: " + text);
  return value << shift;
}

// "--flag value" pairs after the subcommand.
struct Flags {
  std::vector<std::pair<std::string, std::string>> pairs;
  const std::string* get(const std::string& name) const {
    for (const auto& [flag, value] : pairs) {
      if (flag == name) return &value;
    }
    return nullptr;
  }
};

Result<Flags> parse_flags(int argc, char** argv, const std::vector<std::string>& known) {
  Flags flags;
  for (int i = 2; i < argc; i += 2) {
    const std::string flag = argv[i];
    bool ok = false;
    for (const std::string& name : known) ok = ok || flag == name;
    if (!ok) return invalid_argument("unknown option: " + flag);
    if (i + 1 >= argc) return invalid_argument(flag + " needs a value");
    flags.pairs.emplace_back(flag, argv[i + 1]);
  }
  return flags;
}

Status run_family(int argc, char** argv) {
  GROVE_ASSIGN_OR_RETURN(
      Flags flags,
      parse_flags(argc, argv, {"--out", "--size", "--seed", "--arch", "--namespace", "--family", "--members"}));
  FamilyOptions options;
  if (const std::string* out = flags.get("--out")) options.out_dir = *out;
  if (options.out_dir.empty()) return invalid_argument("--out is required");
  if (const std::string* size = flags.get("--size")) options.size = *size;
  if (!is_known_size(options.size)) return invalid_argument("unknown --size: " + options.size);
  if (const std::string* seed = flags.get("--seed")) {
    GROVE_ASSIGN_OR_RETURN(options.seed, parse_count(*seed, false));
  }
  if (const std::string* arch = flags.get("--arch")) {
    if (*arch == "llama") {
      options.arch = Arch::kLlama;
    } else if (*arch == "qwen2") {
      options.arch = Arch::kQwen2;
    } else {
      return invalid_argument("unknown --arch: " + *arch);
    }
  }
  if (const std::string* ns = flags.get("--namespace")) options.name_space = *ns;
  if (const std::string* family = flags.get("--family")) options.family = *family;
  if (const std::string* members = flags.get("--members")) {
    std::size_t start = 0;
    while (start <= members->size()) {
      std::size_t comma = members->find(',', start);
      if (comma == std::string::npos) comma = members->size();
      if (comma > start) options.only_members.push_back(members->substr(start, comma - start));
      start = comma + 1;
    }
  }
  return write_family(options, [](const std::string& member, std::uint64_t bytes) {
    std::printf("%s %llu\n", member.c_str(), static_cast<unsigned long long>(bytes));
    std::fflush(stdout);
  });
}

Status run_bigfile(int argc, char** argv) {
  GROVE_ASSIGN_OR_RETURN(Flags flags, parse_flags(argc, argv, {"--out", "--bytes", "--seed"}));
  const std::string* out = flags.get("--out");
  const std::string* bytes_text = flags.get("--bytes");
  if (out == nullptr || bytes_text == nullptr)
    return invalid_argument("--out and --bytes are required");
  GROVE_ASSIGN_OR_RETURN(std::uint64_t remaining, parse_count(*bytes_text, true));
  std::uint64_t seed = 1;
  if (const std::string* seed_text = flags.get("--seed")) {
    GROVE_ASSIGN_OR_RETURN(seed, parse_count(*seed_text, false));
  }
  Xoshiro256 rng(stream_key(seed, "bigfile", ""));
  GROVE_ASSIGN_OR_RETURN(auto writer, FileWriter::create(*out));
  while (remaining > 0) {
    const std::size_t n =
        remaining < FileWriter::kBufferBytes ? remaining : FileWriter::kBufferBytes;
    GROVE_ASSIGN_OR_RETURN(std::uint8_t* block, writer->reserve(n));
    // Each generator output becomes 8 bytes, little-endian; a short tail takes the low bytes.
    for (std::size_t i = 0; i < n; i += 8) {
      const std::uint64_t word = rng.next();
      for (std::size_t j = 0; j < 8 && i + j < n; ++j)
        block[i + j] = static_cast<std::uint8_t>(word >> (8 * j));
    }
    remaining -= n;
  }
  return writer->close();
}

int run(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  Status status;
  if (command == "family") {
    status = run_family(argc, argv);
  } else if (command == "bigfile") {
    status = run_bigfile(argc, argv);
  } else {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (!status.is_ok()) {
    std::fprintf(stderr, "grove-synth: %s\n", status.to_string().c_str());
    return status.code() == Code::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace
}  // namespace grove::synth

int main(int argc, char** argv) { return grove::synth::run(argc, argv); }
