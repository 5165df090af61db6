#include "core/utf8.h"

#include <cstdint>

namespace deltakv {

size_t Utf8SequenceAt(std::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c >> 5) == 6) {
    n = 2;
    cp = c & 0x1f;
  } else if ((c >> 4) == 14) {
    n = 3;
    cp = c & 0x0f;
  } else if ((c >> 3) == 30) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc >> 6) != 2) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    return 0;
  }
  return n;
}

bool ValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8SequenceAt(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

bool SplitUtf8(std::string_view s, std::vector<std::string>* out) {
  if (!ValidUtf8(s)) return false;
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8SequenceAt(s, i);
    out->emplace_back(s.substr(i, n));
    i += n;
  }
  return true;
}

bool IsOneCodePoint(std::string_view s) {
  return !s.empty() && Utf8SequenceAt(s, 0) == s.size();
}

}  // namespace deltakv
