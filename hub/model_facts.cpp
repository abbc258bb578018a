#include "hub/model_facts.h"

#include "common/log.h"
#include "formats/safetensors.h"

namespace grove::hub {
namespace {

using nlohmann::json;

// Exactly `length` bytes from `offset` of a blob.
Result<std::string> read_range(storage::BlobStore& store, const Sha256Digest& digest, std::uint64_t offset,
                               std::uint64_t length) {
  GROVE_ASSIGN_OR_RETURN(auto reader, store.open(digest, offset, length));
  std::string out(length, '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    auto* data = reinterpret_cast<std::uint8_t*>(out.data()) + done;
    GROVE_ASSIGN_OR_RETURN(std::size_t n, reader->read(std::span<std::uint8_t>(data, out.size() - done)));
    if (n == 0) return corrupt("blob " + digest.hex() + " ended before " + std::to_string(offset + length) + " bytes");
    done += n;
  }
  return out;
}

Result<formats::SafetensorsHeader> read_safetensors_header(storage::BlobStore& store, const registry::FileEntry& f) {
  if (f.size < 8) return invalid_argument(f.path + " is too short for a safetensors file");
  GROVE_ASSIGN_OR_RETURN(std::string first8, read_range(store, f.sha256, 0, 8));
  auto bytes = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(first8.data()), 8);
  GROVE_ASSIGN_OR_RETURN(std::uint64_t length, formats::safetensors_header_length(bytes, f.size));
  GROVE_ASSIGN_OR_RETURN(std::string header, read_range(store, f.sha256, 8, length));
  return formats::parse_safetensors_header(header, f.size);
}

}  // namespace

Result<json> read_model_facts(storage::BlobStore& store, const std::vector<registry::FileEntry>& files) {
  json facts = json::object();
  std::map<std::string, std::uint64_t> by_dtype;
  std::uint64_t total = 0;
  bool any = false;
  for (const auto& f : files) {
    if (f.path.ends_with(".safetensors")) {
      auto header = read_safetensors_header(store, f);
      if (!header.is_ok()) {
        GROVE_LOG(kWarn, "model info: skipping " << f.path << ": " << header.status().to_string());
        continue;
      }
      any = true;
      for (const auto& t : header->tensors) {
        by_dtype[std::string(formats::dtype_name(t.dtype))] += t.element_count();
        total += t.element_count();
      }
    } else if (f.path == "config.json" && f.size < kMaxConfigBytes) {
      GROVE_ASSIGN_OR_RETURN(std::string text, read_range(store, f.sha256, 0, f.size));
      json config = json::parse(text, nullptr, false);
      if (!config.is_discarded() && config.is_object()) facts["config"] = std::move(config);
    }
  }
  if (any) facts["safetensors"] = {{"parameters", by_dtype}, {"total", total}};
  return facts;
}

Result<json> ModelFactsCache::get(storage::BlobStore& store, const std::string& commit_id,
                                  const std::vector<registry::FileEntry>& files) {
  {
    std::lock_guard lock(mu_);
    if (auto it = facts_.find(commit_id); it != facts_.end()) return it->second;
  }
  // Read outside the lock: two first requests may both read, and agree.
  GROVE_ASSIGN_OR_RETURN(json facts, read_model_facts(store, files));
  std::lock_guard lock(mu_);
  if (facts_.size() >= max_entries_) facts_.clear();
  facts_.emplace(commit_id, facts);
  return facts;
}

}  // namespace grove::hub
