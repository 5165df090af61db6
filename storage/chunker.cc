#include "storage/chunker.h"

#include <xxhash.h>

#include <array>

namespace deltakv::storage {

namespace {

// 256 pseudo-random 64-bit values (splitmix64 from a fixed seed): the Gear
// table. Fixed forever: chunk boundaries must not change between versions.
std::array<uint64_t, 256> MakeGear() {
  std::array<uint64_t, 256> g{};
  uint64_t x = 0x64656c74616b76ULL;
  for (auto& v : g) {
    x += 0x9e3779b97f4a7c15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    v = z ^ (z >> 31);
  }
  return g;
}

const std::array<uint64_t, 256> kGear = MakeGear();
constexpr uint64_t kMask = (uint64_t{1} << 11) - 1;  // ~2 KiB past the min

}  // namespace

std::vector<std::string_view> ContentChunks(std::string_view bytes) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < bytes.size()) {
    size_t left = bytes.size() - start;
    size_t len = left;
    if (left > kChunkMinBytes) {
      uint64_t h = 0;
      size_t limit = std::min(left, kChunkMaxBytes);
      len = limit;
      for (size_t i = kChunkMinBytes; i < limit; ++i) {
        h = (h << 1) + kGear[static_cast<uint8_t>(bytes[start + i])];
        if ((h & (kMask << 20)) == 0) {
          len = i + 1;
          break;
        }
      }
    }
    out.push_back(bytes.substr(start, len));
    start += len;
  }
  return out;
}

uint64_t ChunkHash(std::string_view chunk) {
  return XXH3_64bits(chunk.data(), chunk.size());
}

}  // namespace deltakv::storage
