// LEB128 varints: unsigned integers in 1..10 bytes, 7 bits per byte, low
// bits first (the encoding of protobuf and of the list CRDT's records).
//
// Thread-safety: stateless functions.
#ifndef DELTAKV_CORE_VARINT_H_
#define DELTAKV_CORE_VARINT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace deltakv {

// Appends `v` as an unsigned LEB128 varint (1..10 bytes).
void PutVarint(std::string* out, uint64_t v);

// Reads a varint at *pos and advances it. False when the input ends first or
// the varint is longer than 10 bytes or does not fit 64 bits.
bool GetVarint(std::string_view in, size_t* pos, uint64_t* out);

}  // namespace deltakv

#endif  // DELTAKV_CORE_VARINT_H_
