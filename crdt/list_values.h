// Byte helpers of the list CRDT: LEB128 varints, UTF-8 code points and the
// in-memory value buffer of a run. Internal to crdt/list*.
//
// A value buffer holds the values of one run in order, each as a varint byte
// length followed by the bytes. The element k of a run is found by skipping k
// values, so splitting a run costs O(bytes before the split point).
//
// Thread-safety: free functions without shared state.
#ifndef DELTAKV_CRDT_LIST_VALUES_H_
#define DELTAKV_CRDT_LIST_VALUES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/varint.h"

namespace deltakv::crdt::list_internal {

using ::deltakv::GetVarint;  // core/varint.h
using ::deltakv::PutVarint;

// Zigzag mapping of signed deltas to unsigned varints.
inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

// The byte length of the valid UTF-8 code point starting at s[pos] (1..4),
// or 0 when it is not one (bad lead or continuation byte, overlong form,
// surrogate, above U+10FFFF, truncated).
size_t Utf8CodePointLength(std::string_view s, size_t pos);

// Appends one value to a value buffer.
void AppendValue(std::string* buffer, std::string_view value);

// Reads the value at *pos of a value buffer written by AppendValue and
// advances *pos. The buffer is trusted (built by this process).
std::string_view NextValue(std::string_view buffer, size_t* pos);

// The byte offset of value `k` in a value buffer (k <= number of values).
size_t ValueOffset(std::string_view buffer, uint64_t k);

}  // namespace deltakv::crdt::list_internal

#endif  // DELTAKV_CRDT_LIST_VALUES_H_
