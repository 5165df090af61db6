#include "storage/keys.h"

#include <xxhash.h>

#include <array>

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

std::string HashedNameBase(std::string_view name) {
  std::string out(name.substr(0, kHashedNamePrefix));
  XXH128_hash_t h = XXH3_128bits(name.data(), name.size());
  AppendU64(&out, h.high64);
  AppendU64(&out, h.low64);
  return out;
}

Status LocateName(const ReadTxn& txn, Table table, std::string_view scope,
                  std::string_view name, const NameMatcher& is_name,
                  NameSlot* out,
                  const std::set<std::string, std::less<>>* claimed) {
  if (IsLongName(name)) {
    return LocateHashedName(txn, table, scope, HashedNameBase(name), is_name,
                            out, claimed);
  }
  out->found = false;
  out->key.assign(scope);
  out->key.append(name);
  out->value = {};
  std::string_view value;
  Status s = txn.Get(table, out->key, &value);
  if (s.IsNotFound()) return Status::OK();
  DELTAKV_RETURN_IF_ERROR(s);
  DELTAKV_ASSIGN_OR_RETURN(bool same, is_name(value));
  if (!same) {
    // The stored key is the name itself: a record that claims another name
    // is damaged.
    return Status::Corruption("storage record: inline name record names "
                              "another name");
  }
  out->found = true;
  out->value = value;
  return Status::OK();
}

Status LocateHashedName(const ReadTxn& txn, Table table,
                        std::string_view scope, std::string_view base,
                        const NameMatcher& is_name, NameSlot* out,
                        const std::set<std::string, std::less<>>* claimed) {
  out->found = false;
  out->value = {};
  std::string prefix(scope);
  prefix.append(base);
  const size_t key_size = prefix.size() + 1;
  std::array<bool, kNameSlots> used{};
  DELTAKV_ASSIGN_OR_RETURN(Cursor cur, txn.OpenCursor(table));
  // The slots of one base are contiguous: prefix ‖ 0x00 .. prefix ‖ 0xff.
  // An inline name equal to the base (400 bytes) sorts first; skip it.
  for (bool ok = cur.Seek(prefix); ok && cur.key().starts_with(prefix);
       ok = cur.Next()) {
    if (cur.key().size() != key_size) continue;
    used[static_cast<uint8_t>(cur.key().back())] = true;
    DELTAKV_ASSIGN_OR_RETURN(bool same, is_name(cur.value()));
    if (same) {
      out->found = true;
      out->key.assign(cur.key());
      out->value = cur.value();
      return Status::OK();
    }
  }
  DELTAKV_RETURN_IF_ERROR(cur.status());
  for (size_t slot = 0; slot < kNameSlots; ++slot) {
    if (used[slot]) continue;
    out->key = prefix;
    out->key.push_back(static_cast<char>(slot));
    if (claimed != nullptr && claimed->count(out->key) != 0) continue;
    return Status::OK();
  }
  out->key.clear();
  return Status::InvalidArgument(
      "a name of more than " + std::to_string(kMaxInlineName) +
      " bytes cannot be stored: " + std::to_string(kNameSlots) +
      " other names already share its first " +
      std::to_string(kHashedNamePrefix) + " bytes and its hash");
}

}  // namespace deltakv::storage
