// The byte encoding of a List state or delta (format in docs/list.md).
//
// A blob is the MessagePack array [kCodecFormatVersion, CrdtType::kList,
// body] like every other CRDT blob (crdt/codec.h); the body holds the runs in
// document order (then the held runs) as compact varint records, the values
// as one byte string, and the deleted ranges of ids not known yet. Deleted
// values are not encoded (tombstones carry ids and origins only).
//
// Decoding accepts untrusted bytes: anything malformed (bad header, counts
// that the bytes cannot hold, overlapping ids, invalid UTF-8 in a text run,
// an origin that is missing from the document or on the wrong side of its
// run, trailing bytes) returns Corruption and leaves `out` unspecified. Memory
// use is bounded by a small multiple of the input size.
//
// Thread-safety: free functions without shared state.
#ifndef DELTAKV_CRDT_LIST_CODEC_H_
#define DELTAKV_CRDT_LIST_CODEC_H_

#include <string>
#include <string_view>
#include <vector>

#include "crdt/list.h"
#include "deltakv/status.h"

namespace deltakv::crdt {

// Format version of the list body, inside the blob's codec version.
inline constexpr uint64_t kListBodyVersion = 1;

std::string Encode(const List& list);
Status Decode(std::string_view bytes, List* out);

// ------------------------------------------------------ storage chunks
// The store keeps a list as chunk blobs (List::chunk_count()) plus one blob
// of held runs and deletes (replication/list_store.h, docs/formats.md).
// Each is a blob of the format above: a chunk holds the runs of one chunk
// only (tree_runs >= 1, no held runs, no deletes); the held blob holds
// held runs and deletes only (tree_runs = 0).

// Element counts of an encoded chunk.
struct ListChunkInfo {
  uint64_t total = 0;    // elements, tombstones included
  uint64_t visible = 0;  // values
};

// The blob of chunk `k` (< list.chunk_count()).
std::string EncodeChunk(const List& list, uint64_t k, ListChunkInfo* info);
// The blob of the held runs and deletes; empty when there are none.
std::string EncodeHeld(const List& list);
// The state of the chunks, in document order, and the held blob (may be
// empty). Validates as Decode does, across the chunks; each chunk starts a
// chunk of the result.
Status DecodeChunks(const std::vector<std::string_view>& chunks,
                    std::string_view held, List* out);
// Appends up to `take` values of a chunk blob, skipping its first `skip`
// values. Corruption on malformed bytes (origins are not checked: that
// needs the whole document).
Status ChunkValues(std::string_view chunk, uint64_t skip, uint64_t take,
                   std::vector<std::string>* out);

}  // namespace deltakv::crdt

#endif  // DELTAKV_CRDT_LIST_CODEC_H_
