#include "gateway/paging.h"

#include <cstdint>

#include "core/utf8.h"

namespace deltakv::gateway {

size_t JsonStringBytes(std::string_view s) {
  size_t out = 2;  // the quotes
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
        case '\\':
        case '\b':
        case '\f':
        case '\n':
        case '\r':
        case '\t':
          out += 2;
          break;
        default:
          out += c < 0x20 ? 6 : 1;  // \u00XX
      }
      ++i;
      continue;
    }
    const size_t n = Utf8SequenceAt(s, i);
    if (n == 0) {
      out += 3;  // at most one U+FFFD per invalid byte
      ++i;
    } else {
      out += n;
      i += n;
    }
  }
  return out;
}

size_t FittingItems(const std::vector<std::string>& items, size_t extra,
                    size_t budget) {
  size_t used = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const size_t one = JsonStringBytes(items[i]) + extra + (i > 0 ? 1 : 0);
    if (one > budget - used) return i;
    used += one;
  }
  return items.size();
}

std::string Hex(std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char c : s) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

bool Unhex(std::string_view s, std::string* out) {
  if (s.size() % 2 != 0) return false;
  auto v = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  out->clear();
  for (size_t i = 0; i < s.size(); i += 2) {
    int hi = v(s[i]), lo = v(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

std::string SetCursor(std::string_view position) {
  return "01" + Hex(position);
}

std::optional<std::string> ParseSetCursor(std::string_view cursor) {
  std::string position;
  if (!cursor.starts_with("01") || !Unhex(cursor.substr(2), &position)) {
    return std::nullopt;
  }
  return position;
}

}  // namespace deltakv::gateway
