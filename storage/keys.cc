#include "storage/keys.h"

#include <xxhash.h>

namespace deltakv::storage {

void AppendU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

void AppendU32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

bool ReadU64(std::string_view in, size_t* pos, uint64_t* v) {
  if (in.size() < *pos || in.size() - *pos < 8) return false;
  uint64_t r = 0;
  for (int i = 0; i < 8; ++i) {
    r = (r << 8) | static_cast<uint8_t>(in[*pos + static_cast<size_t>(i)]);
  }
  *pos += 8;
  *v = r;
  return true;
}

bool ReadU32(std::string_view in, size_t* pos, uint32_t* v) {
  if (in.size() < *pos || in.size() - *pos < 4) return false;
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i) {
    r = (r << 8) | static_cast<uint8_t>(in[*pos + static_cast<size_t>(i)]);
  }
  *pos += 4;
  *v = r;
  return true;
}

std::string NameKey(std::string_view name, bool* hashed) {
  if (name.size() <= kMaxInlineName) {
    *hashed = false;
    return std::string(name);
  }
  *hashed = true;
  std::string out(name.substr(0, kHashedNamePrefix));
  XXH128_hash_t h = XXH3_128bits(name.data(), name.size());
  AppendU64(&out, h.high64);
  AppendU64(&out, h.low64);
  return out;
}

}  // namespace deltakv::storage
