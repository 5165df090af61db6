// Values: the pure helpers of the command layer: how a register value
// travels between RESP bytes and the stored JSON text, Redis's integer and
// glob rules, and UTF-8 checks.
//
// Thread-safety: pure functions.
#ifndef DELTAKV_RESP_VALUES_H_
#define DELTAKV_RESP_VALUES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/utf8.h"

namespace deltakv::resp {

using ::deltakv::ValidUtf8;  // core/utf8.h

// The stored form of a value SET through RESP: a JSON string when `bytes`
// is UTF-8 (the REST API reads it as that string), else the bytes as they
// are (never valid JSON, so never mistaken for a JSON value).
std::string EncodeRegisterValue(std::string_view bytes);
// What GET answers for a stored register value: the text of a JSON
// string; the JSON text itself for any other JSON value (a number, an
// object, ... written through REST); other bytes as they are.
std::string DecodeRegisterValue(std::string_view stored);

// A Redis integer argument: optional '-', decimal digits, within int64.
std::optional<int64_t> ParseInt(std::string_view s);

// Redis's glob matching (KEYS, SCAN MATCH): * ? [abc] [^a-z] and \x
// escapes. Linear backtracking, so no pattern is exponential.
bool GlobMatch(std::string_view pattern, std::string_view s);
// The literal text every match of `pattern` starts with.
std::string GlobPrefix(std::string_view pattern);

// Case-insensitive ASCII equality, and lower-casing.
bool EqualsNoCase(std::string_view a, std::string_view b);
std::string Lower(std::string_view s);

}  // namespace deltakv::resp

#endif  // DELTAKV_RESP_VALUES_H_
