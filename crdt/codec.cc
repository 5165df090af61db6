#include "crdt/codec.h"

#include "crdt/codec_internal.h"

namespace deltakv::crdt {

using codec_internal::Corrupt;
using codec_internal::GetArray;
using codec_internal::GetBytes;
using codec_internal::GetDot;
using codec_internal::GetReplica;
using codec_internal::GetUint;
using codec_internal::Packer;

std::string_view CrdtTypeName(CrdtType type) {
  switch (type) {
    case CrdtType::kCounter:
      return "counter";
    case CrdtType::kRegister:
      return "register";
    case CrdtType::kSet:
      return "set";
    case CrdtType::kList:
      return "list";
    case CrdtType::kMVRegister:
      return "mvregister";
  }
  return "unknown";
}

Result<CrdtType> PeekType(std::string_view bytes) {
  // [version, type, ...]: fixarray(3) then two positive fixints at most.
  if (bytes.size() < 3 || static_cast<uint8_t>(bytes[0]) != 0x93) {
    return Corrupt("not a crdt blob");
  }
  if (static_cast<uint8_t>(bytes[1]) != kCodecFormatVersion) {
    return Corrupt("unsupported format version");
  }
  uint8_t t = static_cast<uint8_t>(bytes[2]);
  if (t < 1 || t > 5) return Corrupt("unknown type tag");
  return static_cast<CrdtType>(t);
}

std::string EncodeContext(const CausalContext& context) {
  msgpack::sbuffer buf;
  Packer pk(&buf);
  codec_internal::PackContext(pk, context);
  return codec_internal::ToString(buf);
}

Status DecodeContext(std::string_view bytes, CausalContext* out) {
  if (bytes.empty()) return Corrupt("empty causal context");
  const size_t n = bytes.size();
  msgpack::unpack_limit limit(n, n, n, n, n, 4);
  size_t offset = 0;
  msgpack::object_handle handle;
  try {
    handle = msgpack::unpack(bytes.data(), n, offset, nullptr, nullptr, limit);
  } catch (const std::exception& e) {
    return Corrupt(std::string("malformed causal context: ") + e.what());
  }
  if (offset != n) return Corrupt("trailing bytes after causal context");
  return codec_internal::ReadContext(handle.get(), out);
}

// ---------------------------------------------------------------- PNCounter
// body: [entries, floors], each [replica, increments, decrements, ...] with
// strictly increasing replica ids; every floor has an entry at or above it.

namespace {

void PackEntries(Packer& pk, const PNCounter::Entries& entries) {
  pk.pack_array(static_cast<uint32_t>(entries.size() * 3));
  for (const auto& [replica, entry] : entries) {
    pk.pack_uint64(replica.value());
    pk.pack_uint64(entry.increments);
    pk.pack_uint64(entry.decrements);
  }
}

template <typename Fn>
Status ReadEntries(const msgpack::object& obj, std::string_view what, Fn&& fn) {
  const msgpack::object_array* a;
  DELTAKV_RETURN_IF_ERROR(GetArray(obj, what, &a));
  if (a->size % 3 != 0) return Corrupt(std::string(what) + " not triples");
  ReplicaId prev;
  for (uint32_t i = 0; i < a->size; i += 3) {
    ReplicaId replica;
    PNCounter::Entry e;
    DELTAKV_RETURN_IF_ERROR(GetReplica(a->ptr[i], &replica));
    DELTAKV_RETURN_IF_ERROR(
        GetUint(a->ptr[i + 1], "increments", &e.increments));
    DELTAKV_RETURN_IF_ERROR(
        GetUint(a->ptr[i + 2], "decrements", &e.decrements));
    if (replica <= prev) {
      return Corrupt(std::string(what) + " replicas not increasing");
    }
    prev = replica;
    DELTAKV_RETURN_IF_ERROR(fn(replica, e));
  }
  return Status::OK();
}

}  // namespace

std::string Encode(const PNCounter& counter) {
  msgpack::sbuffer buf;
  Packer pk(&buf);
  codec_internal::PackHeader(pk, CrdtType::kCounter);
  pk.pack_array(2);
  PackEntries(pk, counter.entries());
  PackEntries(pk, counter.floors());
  return codec_internal::ToString(buf);
}

Status Decode(std::string_view bytes, PNCounter* out) {
  codec_internal::Unpacked u;
  DELTAKV_RETURN_IF_ERROR(
      codec_internal::Unpack(bytes, CrdtType::kCounter, &u));
  const msgpack::object_array* a;
  DELTAKV_RETURN_IF_ERROR(GetArray(*u.body, "counter body", &a));
  if (a->size != 2) return Corrupt("counter must be [entries, floors]");
  *out = PNCounter();
  DELTAKV_RETURN_IF_ERROR(
      ReadEntries(a->ptr[0], "counter entries",
                  [&](ReplicaId r, const PNCounter::Entry& e) {
                    if (e.increments == 0 && e.decrements == 0) {
                      return Corrupt("empty counter entry");
                    }
                    out->SetEntry(r, e);
                    return Status::OK();
                  }));
  return ReadEntries(a->ptr[1], "counter floors",
                     [&](ReplicaId r, const PNCounter::Entry& f) {
                       auto it = out->entries().find(r);
                       if (it == out->entries().end() ||
                           f.increments > it->second.increments ||
                           f.decrements > it->second.decrements) {
                         return Corrupt("counter floor above its entry");
                       }
                       if (f.increments == 0 && f.decrements == 0) {
                         return Corrupt("empty counter floor");
                       }
                       out->SetFloor(r, f);
                       return Status::OK();
                     });
}

// ---------------------------------------------------------------- LWWRegister
// body: [timestamp, replica, value]; the empty register is [0, 0, ""].

namespace {

void PackLww(Packer& pk, const LWWRegister& reg) {
  pk.pack_array(3);
  pk.pack_uint64(reg.timestamp().packed());
  pk.pack_uint64(reg.replica().value());
  codec_internal::PackBytes(pk, reg.value());
}

Status ReadLww(const msgpack::object& obj, LWWRegister* out) {
  const msgpack::object_array* a;
  DELTAKV_RETURN_IF_ERROR(GetArray(obj, "register body", &a));
  if (a->size != 3) return Corrupt("register must be [ts, replica, value]");
  uint64_t ts, replica;
  std::string_view value;
  DELTAKV_RETURN_IF_ERROR(GetUint(a->ptr[0], "timestamp", &ts));
  DELTAKV_RETURN_IF_ERROR(GetUint(a->ptr[1], "replica id", &replica));
  DELTAKV_RETURN_IF_ERROR(GetBytes(a->ptr[2], "value", &value));
  if (ts == 0) {
    if (replica != 0 || !value.empty()) {
      return Corrupt("register without timestamp holds a value");
    }
    *out = LWWRegister();
    return Status::OK();
  }
  if (replica == 0) return Corrupt("replica id 0");
  *out = LWWRegister(HlcTimestamp(ts), ReplicaId(replica), std::string(value));
  return Status::OK();
}

}  // namespace

std::string Encode(const LWWRegister& reg) {
  msgpack::sbuffer buf;
  Packer pk(&buf);
  codec_internal::PackHeader(pk, CrdtType::kRegister);
  PackLww(pk, reg);
  return codec_internal::ToString(buf);
}

Status Decode(std::string_view bytes, LWWRegister* out) {
  codec_internal::Unpacked u;
  DELTAKV_RETURN_IF_ERROR(
      codec_internal::Unpack(bytes, CrdtType::kRegister, &u));
  return ReadLww(*u.body, out);
}

// ---------------------------------------------------------------- ORRegister
// body, version 2: [2, context, [replica, counter, timestamp, value, ...],
// legacy, floor] with legacy = [timestamp, replica, value] (the LWW body;
// [0, 0, ""] when none) and floor = [timestamp, replica] ([0, 0] when none).
// Version 1 is the LWWRegister body [timestamp, replica, value] (an array of
// 3): it decodes to a register holding just that legacy write.

namespace {

constexpr uint64_t kRegisterBodyVersion = 2;

Status ReadFloor(const msgpack::object& obj, ORRegister::Stamp* out) {
  const msgpack::object_array* a;
  DELTAKV_RETURN_IF_ERROR(GetArray(obj, "register floor", &a));
  if (a->size != 2) return Corrupt("register floor must be [ts, replica]");
  uint64_t ts, replica;
  DELTAKV_RETURN_IF_ERROR(GetUint(a->ptr[0], "floor timestamp", &ts));
  DELTAKV_RETURN_IF_ERROR(GetUint(a->ptr[1], "floor replica id", &replica));
  if ((ts == 0) != (replica == 0)) {
    return Corrupt("register floor needs both timestamp and replica id");
  }
  *out = ORRegister::Stamp{HlcTimestamp(ts), ReplicaId(replica)};
  return Status::OK();
}

}  // namespace

std::string Encode(const ORRegister& reg) {
  msgpack::sbuffer buf;
  Packer pk(&buf);
  codec_internal::PackHeader(pk, CrdtType::kRegister);
  pk.pack_array(5);
  pk.pack_uint64(kRegisterBodyVersion);
  codec_internal::PackContext(pk, reg.context());
  pk.pack_array(static_cast<uint32_t>(reg.entries().size() * 4));
  for (const auto& [dot, write] : reg.entries()) {
    pk.pack_uint64(dot.replica.value());
    pk.pack_uint64(dot.counter);
    pk.pack_uint64(write.timestamp.packed());
    codec_internal::PackBytes(pk, write.value);
  }
  PackLww(pk, reg.legacy());
  pk.pack_array(2);
  pk.pack_uint64(reg.legacy_floor().timestamp.packed());
  pk.pack_uint64(reg.legacy_floor().replica.value());
  return codec_internal::ToString(buf);
}

Status Decode(std::string_view bytes, ORRegister* out) {
  codec_internal::Unpacked u;
  DELTAKV_RETURN_IF_ERROR(
      codec_internal::Unpack(bytes, CrdtType::kRegister, &u));
  const msgpack::object_array* a;
  DELTAKV_RETURN_IF_ERROR(GetArray(*u.body, "register body", &a));
  *out = ORRegister();
  if (a->size == 3) {  // version 1: one LWW write
    LWWRegister legacy;
    DELTAKV_RETURN_IF_ERROR(ReadLww(*u.body, &legacy));
    *out = ORRegister::FromLegacy(std::move(legacy));
    return Status::OK();
  }
  uint64_t version;
  if (a->size != 5 || !GetUint(a->ptr[0], "version", &version).ok() ||
      version != kRegisterBodyVersion) {
    return Corrupt(
        "register must be [2, context, writes, legacy, floor] or "
        "[ts, replica, value]");
  }
  DELTAKV_RETURN_IF_ERROR(
      codec_internal::ReadContext(a->ptr[1], &out->mutable_context()));
  const msgpack::object_array* writes;
  DELTAKV_RETURN_IF_ERROR(GetArray(a->ptr[2], "register writes", &writes));
  if (writes->size % 4 != 0) return Corrupt("register writes not quads");
  for (uint32_t i = 0; i < writes->size; i += 4) {
    Dot dot;
    uint64_t ts;
    std::string_view value;
    DELTAKV_RETURN_IF_ERROR(GetDot(writes->ptr[i], writes->ptr[i + 1], &dot));
    DELTAKV_RETURN_IF_ERROR(GetUint(writes->ptr[i + 2], "timestamp", &ts));
    DELTAKV_RETURN_IF_ERROR(GetBytes(writes->ptr[i + 3], "value", &value));
    if (ts == 0) return Corrupt("register write without timestamp");
    if (!out->context().Contains(dot)) {
      return Corrupt("register dot outside its causal context");
    }
    ORRegister::Write w{HlcTimestamp(ts), std::string(value)};
    if (!out->mutable_entries().emplace(dot, std::move(w)).second) {
      return Corrupt("register dot repeated");
    }
  }
  LWWRegister legacy;
  ORRegister::Stamp floor;
  DELTAKV_RETURN_IF_ERROR(ReadLww(a->ptr[3], &legacy));
  DELTAKV_RETURN_IF_ERROR(ReadFloor(a->ptr[4], &floor));
  if (!legacy.empty() && ORRegister::StampOf(legacy) <= floor) {
    return Corrupt("register legacy write at or below its floor");
  }
  out->SetLegacy(std::move(legacy), floor);
  return Status::OK();
}

// ---------------------------------------------------------------- MVRegister
// body: [context, [replica, counter, value, ...]]

std::string Encode(const MVRegister& reg) {
  msgpack::sbuffer buf;
  Packer pk(&buf);
  codec_internal::PackHeader(pk, CrdtType::kMVRegister);
  pk.pack_array(2);
  codec_internal::PackContext(pk, reg.context());
  pk.pack_array(static_cast<uint32_t>(reg.values().size() * 3));
  for (const auto& [dot, value] : reg.values()) {
    pk.pack_uint64(dot.replica.value());
    pk.pack_uint64(dot.counter);
    codec_internal::PackBytes(pk, value);
  }
  return codec_internal::ToString(buf);
}

Status Decode(std::string_view bytes, MVRegister* out) {
  codec_internal::Unpacked u;
  DELTAKV_RETURN_IF_ERROR(
      codec_internal::Unpack(bytes, CrdtType::kMVRegister, &u));
  const msgpack::object_array* a;
  DELTAKV_RETURN_IF_ERROR(GetArray(*u.body, "mvregister body", &a));
  if (a->size != 2) return Corrupt("mvregister must be [context, values]");
  *out = MVRegister();
  DELTAKV_RETURN_IF_ERROR(
      codec_internal::ReadContext(a->ptr[0], &out->mutable_context()));
  const msgpack::object_array* values;
  DELTAKV_RETURN_IF_ERROR(GetArray(a->ptr[1], "mvregister values", &values));
  if (values->size % 3 != 0) return Corrupt("mvregister values not triples");
  for (uint32_t i = 0; i < values->size; i += 3) {
    Dot dot;
    std::string_view value;
    DELTAKV_RETURN_IF_ERROR(GetDot(values->ptr[i], values->ptr[i + 1], &dot));
    DELTAKV_RETURN_IF_ERROR(GetBytes(values->ptr[i + 2], "value", &value));
    if (!out->context().Contains(dot)) {
      return Corrupt("mvregister dot outside its causal context");
    }
    if (!out->mutable_values().emplace(dot, std::string(value)).second) {
      return Corrupt("mvregister dot repeated");
    }
  }
  return Status::OK();
}

// ---------------------------------------------------------------- AWORSet
// body: [context, [member, [replica, counter, ...], ...]] with members in
// strictly increasing byte order.

std::string Encode(const AWORSet& set) {
  msgpack::sbuffer buf;
  Packer pk(&buf);
  codec_internal::PackHeader(pk, CrdtType::kSet);
  pk.pack_array(2);
  codec_internal::PackContext(pk, set.context());
  pk.pack_array(static_cast<uint32_t>(set.entries().size() * 2));
  for (const auto& [member, dots] : set.entries()) {
    codec_internal::PackBytes(pk, member);
    pk.pack_array(static_cast<uint32_t>(dots.size() * 2));
    for (const Dot& d : dots) {
      pk.pack_uint64(d.replica.value());
      pk.pack_uint64(d.counter);
    }
  }
  return codec_internal::ToString(buf);
}

Status Decode(std::string_view bytes, AWORSet* out) {
  codec_internal::Unpacked u;
  DELTAKV_RETURN_IF_ERROR(codec_internal::Unpack(bytes, CrdtType::kSet, &u));
  const msgpack::object_array* a;
  DELTAKV_RETURN_IF_ERROR(GetArray(*u.body, "set body", &a));
  if (a->size != 2) return Corrupt("set must be [context, entries]");
  *out = AWORSet();
  DELTAKV_RETURN_IF_ERROR(
      codec_internal::ReadContext(a->ptr[0], &out->mutable_context()));
  const msgpack::object_array* entries;
  DELTAKV_RETURN_IF_ERROR(GetArray(a->ptr[1], "set entries", &entries));
  if (entries->size % 2 != 0) return Corrupt("set entries must be pairs");
  std::string_view prev;
  for (uint32_t i = 0; i < entries->size; i += 2) {
    std::string_view member;
    const msgpack::object_array* dots;
    DELTAKV_RETURN_IF_ERROR(GetBytes(entries->ptr[i], "member", &member));
    DELTAKV_RETURN_IF_ERROR(GetArray(entries->ptr[i + 1], "dots", &dots));
    if (i > 0 && member <= prev) return Corrupt("set members not increasing");
    prev = member;
    if (dots->size == 0 || dots->size % 2 != 0) {
      return Corrupt("set member needs one or more dots");
    }
    for (uint32_t j = 0; j < dots->size; j += 2) {
      Dot dot;
      DELTAKV_RETURN_IF_ERROR(GetDot(dots->ptr[j], dots->ptr[j + 1], &dot));
      if (!out->context().Contains(dot)) {
        return Corrupt("set dot outside its causal context");
      }
      if (out->HasDot(dot)) return Corrupt("set dot repeated");
      out->InsertDotUnchecked(member, dot);
    }
  }
  return Status::OK();
}

}  // namespace deltakv::crdt
