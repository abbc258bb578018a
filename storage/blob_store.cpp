#include "storage/blob_store.h"

namespace grove::storage {

Result<BlobInfo> BlobStore::put(std::span<const std::uint8_t> data, const WriteHints& hints) {
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<BlobWriter> writer, begin_write(hints));
  GROVE_RETURN_IF_ERROR(writer->append(data));
  return writer->commit(std::nullopt, data.size());
}

Result<ReencodeStats> BlobStore::reencode(const Sha256Digest& /*file*/,
                                          const std::vector<Sha256Digest>& /*base_files*/) {
  return ReencodeStats{};  // a store without deltas has nothing to re-encode
}

Status BlobStore::read_exact(const Sha256Digest& digest, std::uint64_t offset, std::span<std::uint8_t> out) {
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<BlobReader> reader, open(digest, offset, out.size()));
  for (std::size_t done = 0; done < out.size();) {
    GROVE_ASSIGN_OR_RETURN(std::size_t n, reader->read(out.subspan(done)));
    if (n == 0) return corrupt("blob " + digest.hex() + " ended early");
    done += n;
  }
  return Status::ok();
}

Result<std::string> BlobStore::get_small(const Sha256Digest& digest, std::uint64_t max_size) {
  GROVE_ASSIGN_OR_RETURN(BlobInfo info, stat(digest));
  if (info.size > max_size) {
    return Status(Code::kTooLarge, "blob " + digest.hex() + " has " + std::to_string(info.size) +
                                       " bytes, more than the " + std::to_string(max_size) +
                                       " a small read allows");
  }
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<BlobReader> reader, open(digest));
  // The reader's length, not the earlier stat, sizes the buffer: it is what the reader will
  // deliver, and it is bounded by max_size too.
  if (reader->length() > max_size) {
    return Status(Code::kTooLarge, "blob " + digest.hex() + " grew past " + std::to_string(max_size) +
                                       " bytes between stat and open");
  }
  std::string out(static_cast<std::size_t>(reader->length()), '\0');
  std::size_t filled = 0;
  for (;;) {
    // Always offer at least one byte so a finished range answers 0 (or kCorrupt), never a
    // read into an empty buffer.
    std::uint8_t spare = 0;
    std::span<std::uint8_t> dest =
        filled < out.size()
            ? std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(out.data()) + filled,
                                      out.size() - filled)
            : std::span<std::uint8_t>(&spare, 1);
    GROVE_ASSIGN_OR_RETURN(std::size_t n, reader->read(dest));
    if (n == 0) break;
    if (filled >= out.size()) return internal_error("blob reader returned more than its length");
    filled += n;
  }
  if (filled != out.size()) return corrupt("blob " + digest.hex() + " ended early");
  return out;
}

}  // namespace grove::storage
