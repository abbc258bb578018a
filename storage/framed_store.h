// The framed BlobStore: what BlobStore::open_local returns. Options and a constructor over any
// BlobBackend, for tests and tools.
//
// Ingest (BlobWriter): the stream is hashed (SHA-256) and cut into frames as it arrives:
// safetensors files (detected by their header) into element-aligned frames of ~1 MiB starting
// at each tensor's first byte, every other byte range through the Xet CDC chunker. Each frame
// is named by the BLAKE3 of its bytes and stored once: a frame already indexed or already in
// this upload is only referenced. New frames are encoded (codec.h; deltas against the base
// model's tensor when WriteHints name base files and sampling confirms the base helps) and
// streamed into the open pack's object (BlobBackend::begin_put), sealed when full. commit() verifies size and digest,
// seals the last pack, then writes index rows and the recipe in one transaction: only then is
// the blob visible. A writer that fails or is dropped deletes the packs it put.
// Pipeline: hashing, framing, BLAKE3 and the dedup lookup run on the thread calling append();
// a worker per writer packs the new frames and puts sealed packs (so one pack's fsync overlaps
// the next bytes), and with encode_on_worker also encodes them. commit() waits for it.
//
// Reads (BlobReader): the recipe gives the frames covering the range in O(log n); each is read
// with one backend get, decoded (a delta decodes its base first; deltas are one level deep),
// checked against its BLAKE3 id, and kept as the reader's last frame for the next read. Past
// the first frame, a prefetch thread decodes the next frames ahead.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/fs.h"
#include "storage/backend.h"
#include "storage/blob_store.h"

namespace grove::storage {

struct FramedStoreOptions {
  // Packs are sealed at this size (at most kMaxPackBytes). The open pack streams to the
  // backend; a writer holds only a 1 MiB staging buffer of it (the memory backend buffers it whole).
  std::uint64_t pack_target_bytes = 32ull << 20;
  // Raw size of tensor frames (rounded down to whole elements).
  std::uint32_t tensor_frame_bytes = 1u << 20;
  // Encode frames on the writer's worker thread (which always packs and puts them) rather than
  // on the thread streaming the bytes in: with two cores, hashing and framing overlap encoding.
  // BlobStore::set_ingest_threads(n >= 2) turns it on.
  bool encode_on_worker = false;
  // How far an upload's sealed packs may run ahead of their fsync: they are made durable and
  // installed in arrears (the OS writes them back meanwhile), all before the commit indexes
  // them, so a burst faster than the disk (a GGUF export) waits only when this far ahead. Page
  // cache, not process memory (the memory backend does hold them). 0: each pack at its seal.
  std::uint64_t deferred_pack_bytes = 512ull << 20;
};

// `index_path` is the SQLite index file; packs go to `backend`.
Result<std::unique_ptr<BlobStore>> open_framed_store(const std::string& index_path,
                                                     std::unique_ptr<BlobBackend> backend,
                                                     const FramedStoreOptions& options = {});

// open_local with options: root/index.db and the local backend on root.
Result<std::unique_ptr<BlobStore>> open_local_framed_store(const std::string& root, FileSystem& fs,
                                                           const FramedStoreOptions& options);

}  // namespace grove::storage
