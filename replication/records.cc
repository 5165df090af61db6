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

Status DecodeHeader(std::string_view bytes, KeyHeader* out, bool* hashed) {
  if (bytes.size() < 19) return Bad("key header too short");
  if (static_cast<uint8_t>(bytes[0]) != kRecordVersion) {
    return Bad("unknown key header version");
  }
  uint8_t type = static_cast<uint8_t>(bytes[1]);
  if (type < 1 || type > 5) return Bad("unknown key type");
  out->type = static_cast<crdt::CrdtType>(type);
  uint8_t flags = static_cast<uint8_t>(bytes[2]);
  *hashed = flags & 1;
  out->live = flags & 2;
  size_t pos = 3;
  ReadU64(bytes, &pos, &out->key_id);
  ReadU64(bytes, &pos, &out->count);
  out->full_key.clear();
  if (*hashed) {
    uint32_t n;
    if (!ReadU32(bytes, &pos, &n) || bytes.size() - pos < n) {
      return Bad("key header truncated");
    }
    out->full_key.assign(bytes.substr(pos, n));
    pos += n;
  }
  out->payload.assign(bytes.substr(pos));
  return Status::OK();
}

std::string MemberRecordKey(uint64_t key_id, std::string_view name_key) {
  std::string out;
  out.reserve(8 + name_key.size());
  AppendU64(&out, key_id);
  out += name_key;
  return out;
}

std::string EncodeMember(std::string_view member, bool hashed,
                         const std::vector<Dot>& dots) {
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

Status DecodeMember(std::string_view name_key, std::string_view bytes,
                    std::string* member, std::vector<Dot>* dots) {
  if (bytes.empty()) return Bad("empty member record");
  size_t pos = 1;
  if (bytes[0] == 1) {
    uint32_t n;
    if (!ReadU32(bytes, &pos, &n) || bytes.size() - pos < n) {
      return Bad("member record truncated");
    }
    member->assign(bytes.substr(pos, n));
    pos += n;
  } else {
    member->assign(name_key);
  }
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

std::string DotIndexKey(uint64_t key_id, const Dot& dot) {
  std::string out;
  out.reserve(24);
  AppendU64(&out, key_id);
  AppendU64(&out, dot.replica.value());
  AppendU64(&out, dot.counter);
  return out;
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
  uint32_t n;
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
  uint32_t n;
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

std::string AppliedKey(std::string_view region) {
  return "applied/" + std::string(region);
}

}  // namespace deltakv::replication
