// Content-defined chunking (a Gear rolling hash, as in FastCDC): cuts bytes
// into chunks whose boundaries depend on the content, so an edit in the
// middle of a large value changes only the chunks around it. Used to store
// large values (list states) as bounded records of which one edit rewrites
// a few.
//
// Thread-safety: stateless.
#ifndef DELTAKV_STORAGE_CHUNKER_H_
#define DELTAKV_STORAGE_CHUNKER_H_

#include <cstdint>
#include <string_view>
#include <vector>

namespace deltakv::storage {

inline constexpr size_t kChunkMinBytes = 512;
inline constexpr size_t kChunkMaxBytes = 8192;  // every chunk is at most this

// Splits `bytes` into consecutive chunks of kChunkMinBytes..kChunkMaxBytes
// (the last may be shorter), about 2 KiB on average.
std::vector<std::string_view> ContentChunks(std::string_view bytes);

// XXH3-64 of a chunk (its storage name).
uint64_t ChunkHash(std::string_view chunk);

}  // namespace deltakv::storage

#endif  // DELTAKV_STORAGE_CHUNKER_H_
