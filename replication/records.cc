#include "replication/records.h"

#include "storage/keys.h"

namespace deltakv::replication {

using storage::AppendU32;
using storage::AppendU64;
using storage::ReadU32;
using storage::ReadU64;

namespace {
Status Bad(std::string_view what) {
  return Status::Corruption("storage record: " + std::string(what));
}
}  // namespace

std::string EncodeHeader(const KeyHeader& h, bool hashed) {
  std::string out;
  out.push_back(static_cast<char>(kRecordVersion));
  out.push_back(static_cast<char>(h.type));
  out.push_back(static_cast<char>((hashed ? 1 : 0) | (h.live ? 2 : 0)));
  AppendU64(&out, h.key_id);
  AppendU64(&out, h.count);
  if (hashed) {
    AppendU32(&out, static_cast<uint32_t>(h.full_key.size()));
    out += h.full_key;
  }
  out += h.payload;
  return out;
}

namespace {

// The header's fixed part and, when hashed, the full key: [version][type]
// [flags][key id][count][u32 n][key]. Sets *pos past what it read.
Status ParseHeaderStart(std::string_view bytes, bool* hashed, uint32_t* n,
                        size_t* pos) {
  if (bytes.size() < 19) return Bad("key header too short");
  if (static_cast<uint8_t>(bytes[0]) != kRecordVersion) {
    return Bad("unknown key header version");
  }
  *hashed = (static_cast<uint8_t>(bytes[2]) & 1) != 0;
  *pos = 19;
  *n = 0;
  if (*hashed) {
    if (!ReadU32(bytes, pos, n) || bytes.size() - *pos < *n) {
      return Bad("key header truncated");
    }
    if (!storage::IsLongName(std::string_view(bytes.data() + *pos, *n))) {
      return Bad("hashed key header holds a short key");
    }
  }
  return Status::OK();
}

// The hashed flag of a record must match the form of its stored key.
Status CheckForm(std::string_view stored, bool hashed, std::string_view what) {
  if (hashed != storage::IsHashedForm(stored) ||
      (!hashed && storage::IsLongName(stored))) {
    return Bad(std::string(what) + " form does not match its storage key");
  }
  return Status::OK();
}

}  // namespace

Status DecodeHeader(std::string_view stored_key, std::string_view bytes,
                    KeyHeader* out) {
  bool hashed = false;
  uint32_t n = 0;
  size_t pos = 0;
  DELTAKV_RETURN_IF_ERROR(ParseHeaderStart(bytes, &hashed, &n, &pos));
  DELTAKV_RETURN_IF_ERROR(CheckForm(stored_key, hashed, "key header"));
  uint8_t type = static_cast<uint8_t>(bytes[1]);
  if (type < 1 || type > 5) return Bad("unknown key type");
  out->type = static_cast<crdt::CrdtType>(type);
  out->live = (static_cast<uint8_t>(bytes[2]) & 2) != 0;
  size_t fixed = 3;
  ReadU64(bytes, &fixed, &out->key_id);
  ReadU64(bytes, &fixed, &out->count);
  if (hashed) {
    out->full_key.assign(bytes.substr(pos, n));
    pos += n;
  } else {
    out->full_key.assign(stored_key);
  }
  out->payload.assign(bytes.substr(pos));
  return Status::OK();
}

Status LocateKey(const storage::ReadTxn& txn, std::string_view key,
                 storage::NameSlot* out) {
  auto holds = [key](std::string_view bytes) -> Result<bool> {
    bool hashed = false;
    uint32_t n = 0;
    size_t pos = 0;
    DELTAKV_RETURN_IF_ERROR(ParseHeaderStart(bytes, &hashed, &n, &pos));
    if (hashed != storage::IsLongName(key)) {
      return Bad("key header form does not match its storage key");
    }
    if (!hashed) return true;  // the storage key is the user key
    return bytes.substr(pos, n) == key;
  };
  return storage::LocateName(txn, storage::Table::kKeys, "", key, holds, out);
}

std::string MemberRecordKey(uint64_t key_id, std::string_view stored_name) {
  std::string out;
  out.reserve(8 + stored_name.size());
  AppendU64(&out, key_id);
  out += stored_name;
  return out;
}

std::string EncodeMember(std::string_view member,
                         const std::vector<Dot>& dots) {
  const bool hashed = storage::IsLongName(member);
  std::string out;
  out.push_back(static_cast<char>(hashed ? 1 : 0));
  if (hashed) {
    AppendU32(&out, static_cast<uint32_t>(member.size()));
    out += member;
  }
  for (const Dot& d : dots) {
    AppendU64(&out, d.replica.value());
    AppendU64(&out, d.counter);
  }
  return out;
}

namespace {

// The member record's flag and, when hashed, its full name: [flags][u32 n]
// [member]. Sets *pos past what it read.
Status ParseMemberStart(std::string_view bytes, bool* hashed,
                        std::string_view* name, size_t* pos) {
  if (bytes.empty()) return Bad("empty member record");
  if (static_cast<uint8_t>(bytes[0]) > 1) return Bad("member record flags");
  *hashed = bytes[0] == 1;
  *pos = 1;
  if (*hashed) {
    uint32_t n = 0;
    if (!ReadU32(bytes, pos, &n) || bytes.size() - *pos < n) {
      return Bad("member record truncated");
    }
    *name = bytes.substr(*pos, n);
    *pos += n;
    if (!storage::IsLongName(*name)) {
      return Bad("hashed member record holds a short member");
    }
  }
  return Status::OK();
}

}  // namespace

Status DecodeMember(std::string_view stored_name, std::string_view bytes,
                    std::string* member, std::vector<Dot>* dots) {
  bool hashed = false;
  std::string_view name;
  size_t pos = 0;
  DELTAKV_RETURN_IF_ERROR(ParseMemberStart(bytes, &hashed, &name, &pos));
  DELTAKV_RETURN_IF_ERROR(CheckForm(stored_name, hashed, "member record"));
  member->assign(hashed ? name : stored_name);
  if ((bytes.size() - pos) % 16 != 0) return Bad("member dots truncated");
  dots->clear();
  while (pos < bytes.size()) {
    uint64_t r, c;
    ReadU64(bytes, &pos, &r);
    ReadU64(bytes, &pos, &c);
    dots->push_back(Dot{ReplicaId(r), c});
  }
  return Status::OK();
}

Status LocateMember(const storage::ReadTxn& txn, uint64_t key_id,
                    std::string_view member, storage::NameSlot* out,
                    const std::set<std::string, std::less<>>* claimed) {
  auto holds = [member](std::string_view bytes) -> Result<bool> {
    bool hashed = false;
    std::string_view name;
    size_t pos = 0;
    DELTAKV_RETURN_IF_ERROR(ParseMemberStart(bytes, &hashed, &name, &pos));
    if (hashed != storage::IsLongName(member)) {
      return Bad("member record form does not match its storage key");
    }
    return !hashed || name == member;
  };
  return storage::LocateName(txn, storage::Table::kRecords,
                             MemberRecordKey(key_id, ""), member, holds, out,
                             claimed);
}

std::string DotIndexKey(uint64_t key_id, const Dot& dot) {
  std::string out;
  out.reserve(24);
  AppendU64(&out, key_id);
  AppendU64(&out, dot.replica.value());
  AppendU64(&out, dot.counter);
  return out;
}

std::string SetBytesKey(uint64_t key_id) {
  std::string out;
  AppendU64(&out, key_id);
  return out;
}

std::string EncodeSetBytes(uint64_t bytes, uint64_t count) {
  std::string out;
  AppendU64(&out, bytes);
  AppendU64(&out, count);
  return out;
}

bool DecodeSetBytes(std::string_view v, uint64_t* bytes, uint64_t* count) {
  size_t pos = 0;
  return v.size() == 16 && ReadU64(v, &pos, bytes) && ReadU64(v, &pos, count);
}

std::string LogKey(std::string_view region, uint64_t seq) {
  std::string out(region);
  out.push_back('\0');
  AppendU64(&out, seq);
  return out;
}

std::string EncodeLogValue(std::string_view key, crdt::CrdtType type,
                           std::string_view delta) {
  std::string out;
  out.reserve(5 + key.size() + delta.size());
  AppendU32(&out, static_cast<uint32_t>(key.size()));
  out += key;
  out.push_back(static_cast<char>(type));
  out += delta;
  return out;
}

Status DecodeLogValue(std::string_view bytes, std::string* key,
                      crdt::CrdtType* type, std::string* delta) {
  size_t pos = 0;
  uint32_t n = 0;
  if (!ReadU32(bytes, &pos, &n) || bytes.size() - pos < size_t{n} + 1) {
    return Bad("delta log entry truncated");
  }
  key->assign(bytes.substr(pos, n));
  pos += n;
  uint8_t t = static_cast<uint8_t>(bytes[pos++]);
  if (t < 1 || t > 5) return Bad("delta log entry type");
  *type = static_cast<crdt::CrdtType>(t);
  delta->assign(bytes.substr(pos));
  return Status::OK();
}

std::string EncodeRegisterValue(bool present, std::string_view region,
                                std::string_view value) {
  std::string out;
  out.push_back(static_cast<char>(present ? 1 : 0));
  out.push_back(static_cast<char>(region.size()));
  out += region;
  out += value;
  return out;
}

Status DecodeRegisterValue(std::string_view bytes, bool* present,
                           std::string* region, std::string* value) {
  if (bytes.size() < 2) return Bad("register value too short");
  *present = bytes[0] == 1;
  size_t n = static_cast<uint8_t>(bytes[1]);
  if (bytes.size() - 2 < n) return Bad("register value truncated");
  region->assign(bytes.substr(2, n));
  value->assign(bytes.substr(2 + n));
  return Status::OK();
}

Status CheckRegisterValues(const crdt::ORRegister& reg) {
  bool present;
  std::string region, value;
  for (const crdt::ORRegister::WriteView& w : reg.Writes()) {
    DELTAKV_RETURN_IF_ERROR(
        DecodeRegisterValue(w.value, &present, &region, &value));
  }
  return Status::OK();
}

std::optional<crdt::ORRegister::WriteView> RegisterWinner(
    const crdt::ORRegister& reg) {
  return reg.Winner([](std::string_view v) {
    return v.size() >= 2 && v[0] == 1 &&
           v.size() - 2 >= static_cast<uint8_t>(v[1]);
  });
}

std::string ListChunkKey(uint64_t key_id, uint64_t hash) {
  std::string out;
  AppendU64(&out, key_id);
  AppendU64(&out, hash);
  return out;
}

Status ReadListBytes(const storage::ReadTxn& txn, uint64_t key_id,
                     std::string_view directory, std::string* out) {
  out->clear();
  if (directory.empty()) return Status::OK();
  size_t pos = 0;
  uint32_t n = 0;
  if (!ReadU32(directory, &pos, &n) ||
      (directory.size() - pos) != size_t{n} * 8) {
    return Bad("list chunk directory malformed");
  }
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t h;
    ReadU64(directory, &pos, &h);
    std::string_view chunk;
    Status s =
        txn.Get(storage::Table::kRecords, ListChunkKey(key_id, h), &chunk);
    if (s.IsNotFound()) return Bad("list chunk missing");
    DELTAKV_RETURN_IF_ERROR(s);
    out->append(chunk);
  }
  return Status::OK();
}

std::string PeerReplicaKey(std::string_view region) {
  return "replica/" + std::string(region);
}

std::string BootstrappedKey(std::string_view region) {
  return "bootstrapped/" + std::string(region);
}

std::string TransferKey(std::string_view region) {
  return "transfer/" + std::string(region);
}

std::string IncarnationKey(std::string_view region, uint64_t replica) {
  return "incarnation/" + std::string(region) + "/" +
         ReplicaId(replica).ToString();
}

std::string AppliedKey(std::string_view region) {
  return "applied/" + std::string(region);
}

}  // namespace deltakv::replication
