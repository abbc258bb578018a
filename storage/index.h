// The frame index (storage/index.db, its own SQLite file): where every frame lives, which packs
// exist, and each file's recipe (SHA-256 -> ordered frames with raw offsets) and tensors.
//
// Tables (see index.cpp for the exact schema):
//   packs(id, name, size, frame_count, created_at)      every sealed pack the index knows
//   frames(id, pack_id, pack_offset, stored_length, raw_length, codec, elem_type, base, checksum,
//          raw_check)
//   files(sha256, size, frame_count, created_at)        one row per visible blob
//   recipes(file, raw_offset, frame)                    primary key (file, raw_offset): a range
//                                                       read finds its first frame in O(log n)
//   tensors(file, name, dtype, shape, offset, length)   safetensors tensors, for delta bases
// Marking for gc: files -> recipes -> frames -> frames.base; packs.created_at gives the age.
//
// Thread-safety: every method may be called from any thread (one connection behind a mutex).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/status.h"
#include "storage/codec.h"
#include "storage/pack.h"

namespace grove::sql {
class Db;  // common/sqlite_util.h
}

namespace grove::storage {

struct FrameLocation {
  Blake3Digest id;
  std::string pack;  // pack name
  std::uint64_t offset = 0;  // of the frame header in the pack
  std::uint32_t stored_length = 0;
  std::uint32_t raw_length = 0;
  Codec codec = Codec::kRaw;
  ElementType type = ElementType::kBytes;
  std::optional<Blake3Digest> base;
  std::uint64_t raw_check = 0;  // pack.h; 0: check the decoded bytes against `id` instead
};

struct RecipeEntry {
  std::uint64_t raw_offset = 0;  // in the file
  FrameLocation frame;
  std::optional<FrameLocation> base;  // present when frame.base is set and indexed
};

struct TensorRecord {
  std::string name;
  std::string dtype;  // safetensors name, "BF16"
  std::string shape;  // JSON array, "[4096,4096]"
  std::uint64_t offset = 0;  // absolute in the file
  std::uint64_t length = 0;
};

struct NewPack {
  std::string name;
  std::uint64_t size = 0;
  std::vector<PackEntry> entries;
};

struct NewFile {
  Sha256Digest sha256;
  std::uint64_t size = 0;
  std::vector<std::pair<std::uint64_t, Blake3Digest>> recipe;  // raw offset -> frame, ascending
  std::vector<TensorRecord> tensors;
};

class FrameIndex {
 public:
  static Result<std::unique_ptr<FrameIndex>> open(const std::string& path);
  ~FrameIndex();

  Result<std::optional<FrameLocation>> find_frame(const Blake3Digest& id);
  Result<std::optional<std::uint64_t>> file_size(const Sha256Digest& file);
  // Recipe entries of `file` in order, starting with the one covering raw offset `from`;
  // at most `limit` of them.
  Result<std::vector<RecipeEntry>> recipe_from(const Sha256Digest& file, std::uint64_t from, std::size_t limit);
  Result<std::vector<TensorRecord>> tensors(const Sha256Digest& file);
  // True when some frame is stored as a delta against `id`.
  Result<bool> is_base(const Blake3Digest& id);
  Result<std::vector<std::string>> pack_names();

  // One transaction: the packs, their frames (frames already indexed keep their old location)
  // and the file with its recipe and tensors. A file already present is left as it is.
  Status commit(const std::vector<NewPack>& packs, const NewFile& file);
  // Restarts gc's grace period for a stored file (files.touched_at = now): a client is about to
  // commit content the store already had, and gc must not reclaim it before that commit.
  // created_at stays when the file was first stored, which storage stats go by.
  // False when the file is not stored.
  Result<bool> touch_file(const Sha256Digest& file);
  // One transaction: the pack, then every frame in it takes its new location and encoding
  // (re-encoding against a base keeps frame ids, so recipes do not change).
  Status relocate(const NewPack& pack);

  // --- maintenance queries (storage/maintenance.cpp: gc, fsck, stats) ---------------------------
  // Runs `f` on this index's connection under its mutex. The SQL of gc, fsck and stats lives in
  // maintenance.cpp; it may add its own tables (gc_*) and triggers to this database.
  Status with_connection(const std::function<Status(sql::Db&)>& f);

 private:
  explicit FrameIndex(std::unique_ptr<sql::Db> db);
  Status insert_pack(const NewPack& pack, std::int64_t now, std::int64_t& pack_id);

  std::mutex mu_;
  std::unique_ptr<sql::Db> db_;
};

}  // namespace grove::storage
