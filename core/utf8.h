// Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
// U+10FFFF), for keys, members and values that arrive from outside.
//
// Thread-safety: stateless functions.
#ifndef DELTAKV_CORE_UTF8_H_
#define DELTAKV_CORE_UTF8_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace deltakv {

// The length of the valid sequence starting at s[i] (1 for ASCII), or 0
// when the bytes there are not valid UTF-8. Requires i < s.size().
size_t Utf8SequenceAt(std::string_view s, size_t i);

// True when all of `s` is valid UTF-8.
bool ValidUtf8(std::string_view s);

// The code points of `s`, each as its own UTF-8 string, appended to *out;
// false (and *out unchanged) when `s` is not valid UTF-8.
bool SplitUtf8(std::string_view s, std::vector<std::string>* out);

// True when `s` is exactly one valid code point.
bool IsOneCodePoint(std::string_view s);

}  // namespace deltakv

#endif  // DELTAKV_CORE_UTF8_H_
