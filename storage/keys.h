// Byte layout helpers for storage keys: big-endian integers (so that keys
// sort numerically) and the stored form of names (user keys, set members),
// which may exceed LMDB's key size limit (511 bytes).
//
// A name of at most kMaxInlineName (400) bytes is stored as itself. A longer
// name is stored as its first 384 bytes, its 16-byte XXH3-128 hash and one
// slot byte: kHashedNameBytes (401) bytes, a length no inline name has, so an
// inline name never aliases a long one. Long names with the same prefix and
// hash (a true hash collision; XXH3 is not cryptographic) take different
// slots. The full name is stored in the record's value, and LocateName
// compares it on every hit, so two distinct names never share storage.
//
// Thread-safety: stateless; LocateName uses the caller's transaction.
#ifndef DELTAKV_STORAGE_KEYS_H_
#define DELTAKV_STORAGE_KEYS_H_

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>

#include "deltakv/status.h"
#include "storage/environment.h"

namespace deltakv::storage {

// Names up to this many bytes are stored verbatim.
inline constexpr size_t kMaxInlineName = 400;
// A long name's stored form: prefix ‖ XXH3-128 (big-endian) ‖ slot.
inline constexpr size_t kHashedNamePrefix = 384;
inline constexpr size_t kHashedNameBase = kHashedNamePrefix + 16;  // 400
inline constexpr size_t kHashedNameBytes = kHashedNameBase + 1;    // 401
inline constexpr size_t kNameSlots = 256;  // long names per prefix + hash

void AppendU64(std::string* out, uint64_t v);  // big-endian
void AppendU32(std::string* out, uint32_t v);  // big-endian
// Reads a big-endian integer at *pos, advancing it; false if out of bytes.
bool ReadU64(std::string_view in, size_t* pos, uint64_t* v);
bool ReadU32(std::string_view in, size_t* pos, uint32_t* v);

// True when `name` is stored in hashed form (longer than kMaxInlineName).
inline bool IsLongName(std::string_view name) {
  return name.size() > kMaxInlineName;
}
// True when a stored name (without its scope) is the hashed form.
inline bool IsHashedForm(std::string_view stored) {
  return stored.size() == kHashedNameBytes;
}

// The first kHashedNameBase bytes of a long name's stored form: its
// kHashedNamePrefix-byte prefix and XXH3-128 of the whole name. Every stored
// form of the name is this base plus one slot byte.
std::string HashedNameBase(std::string_view name);

// Where a name lives in a table, under a scope (a key prefix such as a key
// id; empty for user keys).
struct NameSlot {
  bool found = false;      // a record of this very name exists
  std::string key;         // scope ‖ stored form: where it is or would go
  std::string_view value;  // the record when found (valid in the txn)
};

// Says whether a record holds `name` (decodes the full name it stores and
// compares it); Corruption for a record that does not decode.
using NameMatcher = std::function<Result<bool>(std::string_view value)>;

// Finds the record of `name` under `scope` in `table`: for an inline name
// the record at scope ‖ name, for a long name the record among the slots of
// its base that `is_name` accepts. When absent, out->key is where a record
// for it goes (for a long name: the lowest slot that holds no record and is
// not in `claimed`, the keys the caller is about to write; the caller must
// store the full name in the record). Errors: those of `is_name` and of
// LMDB; InvalidArgument when all kNameSlots slots of the base are taken by
// other names (only crafted hash collisions get there).
Status LocateName(const ReadTxn& txn, Table table, std::string_view scope,
                  std::string_view name, const NameMatcher& is_name,
                  NameSlot* out,
                  const std::set<std::string, std::less<>>* claimed = nullptr);
// LocateName for a long name whose base is given (tests use it to build
// hash collisions).
Status LocateHashedName(
    const ReadTxn& txn, Table table, std::string_view scope,
    std::string_view base, const NameMatcher& is_name, NameSlot* out,
    const std::set<std::string, std::less<>>* claimed = nullptr);

}  // namespace deltakv::storage

#endif  // DELTAKV_STORAGE_KEYS_H_
