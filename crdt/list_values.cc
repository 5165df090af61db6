#include "crdt/list_values.h"

namespace deltakv::crdt::list_internal {

size_t Utf8CodePointLength(std::string_view s, size_t pos) {
  if (pos >= s.size()) return 0;
  const auto at = [&](size_t i) { return static_cast<uint8_t>(s[pos + i]); };
  const uint8_t b0 = at(0);
  if (b0 < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
    cp = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    cp = b0 & 0x0f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (s.size() - pos < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((at(i) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (at(i) & 0x3f);
  }
  if (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) return 0;
  if (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) return 0;
  return n;
}

void AppendValue(std::string* buffer, std::string_view value) {
  PutVarint(buffer, value.size());
  buffer->append(value);
}

std::string_view NextValue(std::string_view buffer, size_t* pos) {
  uint64_t n = 0;
  GetVarint(buffer, pos, &n);
  std::string_view v = buffer.substr(*pos, static_cast<size_t>(n));
  *pos += v.size();
  return v;
}

size_t ValueOffset(std::string_view buffer, uint64_t k) {
  size_t pos = 0;
  for (uint64_t i = 0; i < k && pos < buffer.size(); ++i) {
    // Fast path: one-byte length prefix (values under 128 bytes).
    const uint8_t b = static_cast<uint8_t>(buffer[pos]);
    if (b < 0x80) {
      pos += 1 + b;
    } else {
      NextValue(buffer, &pos);
    }
  }
  return pos;
}

}  // namespace deltakv::crdt::list_internal
