// A synthetic model family: a base checkpoint and six relatives that exercise grove's
// deduplication, delta compression and lineage (see README.md for the members).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "scripts/synth/weights.h"

namespace grove::synth {

struct FamilyOptions {
  std::string out_dir;        // members go to out_dir/<member>/
  std::string size = "tiny";  // tiny | small | medium | large
  std::uint64_t seed = 1;
  Arch arch = Arch::kLlama;
  std::string name_space = "demo";
  std::string family;  // empty: "<arch>-<size>"
  // Folders to write (e.g. {"base"}); empty writes every member.
  std::vector<std::string> only_members;
};

// True for the size names write_family accepts.
bool is_known_size(const std::string& size);

// Writes every member, calling on_member(folder, bytes) after each one with the total size of
// the files in its folder. Existing files of the same names are overwritten.
Status write_family(const FamilyOptions& options,
                    const std::function<void(const std::string&, std::uint64_t)>& on_member);

}  // namespace grove::synth
