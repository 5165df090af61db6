// Byte layout helpers for storage keys: big-endian integers (so that keys
// sort numerically) and user keys or member names that may exceed LMDB's
// key size limit (511 bytes): those are stored as a prefix plus a 128-bit
// hash, and the full bytes go into the record's value.
//
// Thread-safety: stateless.
#ifndef DELTAKV_STORAGE_KEYS_H_
#define DELTAKV_STORAGE_KEYS_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace deltakv::storage {

// Bytes kept verbatim; longer names become prefix + 16-byte hash.
inline constexpr size_t kMaxInlineName = 400;
inline constexpr size_t kHashedNamePrefix = 384;

void AppendU64(std::string* out, uint64_t v);  // big-endian
void AppendU32(std::string* out, uint32_t v);  // big-endian
// Reads a big-endian integer at *pos, advancing it; false if out of bytes.
bool ReadU64(std::string_view in, size_t* pos, uint64_t* v);
bool ReadU32(std::string_view in, size_t* pos, uint32_t* v);

// The storage form of a name (user key or set member): the name itself when
// short, else its first kHashedNamePrefix bytes + XXH3-128 of the whole.
// *hashed tells which.
std::string NameKey(std::string_view name, bool* hashed);

}  // namespace deltakv::storage

#endif  // DELTAKV_STORAGE_KEYS_H_
