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

#include "crdt/list.h"
#include "deltakv/status.h"

namespace deltakv::crdt {

// Format version of the list body, inside the blob's codec version.
inline constexpr uint64_t kListBodyVersion = 1;

std::string Encode(const List& list);
Status Decode(std::string_view bytes, List* out);

}  // namespace deltakv::crdt

#endif  // DELTAKV_CRDT_LIST_CODEC_H_
