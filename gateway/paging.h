// Paging: how much of a read fits in an answer of a bounded size, and the
// opaque cursors of paged reads (docs/api.md, "Paging"). Pure functions,
// unit-tested on their own (tests/unit/paging_test.cc).
//
// Thread-safety: stateless functions.
#ifndef DELTAKV_GATEWAY_PAGING_H_
#define DELTAKV_GATEWAY_PAGING_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deltakv::gateway {

// Pages without ?limit= (or with limit=0).
inline constexpr size_t kDefaultKeysPage = 100;
inline constexpr size_t kDefaultSetPage = 1000;
inline constexpr size_t kDefaultListPage = 1000;
inline constexpr size_t kDefaultTextPage =
    100000;  // ?format=text, in code points

// The bytes `s` takes written as a JSON string, quotes included, the way
// the API writes answers (UTF-8 kept as is, control characters escaped,
// invalid UTF-8 replaced by U+FFFD): exact for valid UTF-8, an upper bound
// otherwise.
size_t JsonStringBytes(std::string_view s);

// How many of `items`, from the first, fit in `budget` bytes as elements
// of a JSON array, each written as a JSON string plus `extra` bytes, with
// a comma between two.
size_t FittingItems(const std::vector<std::string>& items, size_t extra,
                    size_t budget);

// Lower-case hex, and back (false for odd lengths or other characters).
std::string Hex(std::string_view s);
bool Unhex(std::string_view s, std::string* out);

// The cursor of a set page ending at storage position `position`: "01"
// (the cursor's version) and the position in hex. A position may be empty
// (the empty member), so the version byte keeps the cursor non-empty.
std::string SetCursor(std::string_view position);
// The position in `cursor`; nullopt when it is not a set cursor.
std::optional<std::string> ParseSetCursor(std::string_view cursor);

}  // namespace deltakv::gateway

#endif  // DELTAKV_GATEWAY_PAGING_H_
