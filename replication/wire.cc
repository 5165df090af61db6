#include "replication/wire.h"

#include <zstd.h>

#include <msgpack.hpp>

#include "core/ids.h"

namespace deltakv::replication::wire {

namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

// Entry type byte bit: the entry is a fragment of a larger state.
constexpr uint8_t kFragmentFlag = 0x80;

Status Bad(std::string_view what) {
  return Status::Corruption("replication frame: " + std::string(what));
}

void PackBytes(Packer& pk, std::string_view s) {
  pk.pack_bin(static_cast<uint32_t>(s.size()));
  pk.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}

bool ReferenceAll(msgpack::type::object_type, std::size_t, void*) {
  return true;
}

bool GetU64(const msgpack::object& o, uint64_t* v) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) return false;
  *v = o.via.u64;
  return true;
}

bool GetBytes(const msgpack::object& o, std::string* v) {
  if (o.type == msgpack::type::BIN) {
    v->assign(o.via.bin.ptr, o.via.bin.size);
  } else if (o.type == msgpack::type::STR) {
    v->assign(o.via.str.ptr, o.via.str.size);
  } else {
    return false;
  }
  return true;
}

bool GetArray(const msgpack::object& o, const msgpack::object_array** a) {
  if (o.type != msgpack::type::ARRAY) return false;
  *a = &o.via.array;
  return true;
}

Status GetRegion(const msgpack::object& o, std::string* region) {
  if (!GetBytes(o, region) || !RegionId::Parse(*region).ok()) {
    return Bad("bad region id");
  }
  return Status::OK();
}

}  // namespace

std::string Encode(const Frame& f) {
  msgpack::sbuffer buf;
  Packer pk(&buf);
  pk.pack_array(10);
  PackBytes(pk, f.region);
  pk.pack_uint64(f.first);
  pk.pack_uint64(f.last);
  pk.pack_uint64(f.log_start);
  PackBytes(pk, f.cursor);
  pk.pack_array(static_cast<uint32_t>(f.entries.size() * 3));
  for (const Entry& e : f.entries) {
    PackBytes(pk, e.key);
    if (e.total == 0) {
      pk.pack_uint8(static_cast<uint8_t>(e.type));
      PackBytes(pk, e.blob);
      continue;
    }
    // A fragment: type | kFragment, blob [u64 total][u64 offset][u64 hash]
    // [bytes].
    pk.pack_uint8(static_cast<uint8_t>(static_cast<uint8_t>(e.type) |
                                       kFragmentFlag));
    std::string head;
    for (uint64_t v : {e.total, e.offset, e.hash}) {
      for (int sh = 56; sh >= 0; sh -= 8) {
        head.push_back(static_cast<char>((v >> sh) & 0xff));
      }
    }
    pk.pack_bin(static_cast<uint32_t>(head.size() + e.blob.size()));
    pk.pack_bin_body(head.data(), static_cast<uint32_t>(head.size()));
    pk.pack_bin_body(e.blob.data(), static_cast<uint32_t>(e.blob.size()));
  }
  pk.pack_array(static_cast<uint32_t>(f.applied.size() * 3));
  for (const AppliedEntry& a : f.applied) {
    PackBytes(pk, a.region);
    pk.pack_uint64(a.replica);
    pk.pack_uint64(a.seq);
  }
  pk.pack_uint64(f.replica);
  pk.pack_uint64(f.transfer);
  pk.pack_uint64(f.window);
  std::string out;
  out.push_back(static_cast<char>(kMagic));
  out.push_back(static_cast<char>(kVersion));
  out.push_back(static_cast<char>(f.kind));
  if (buf.size() > kCompressAbove) {
    std::string z(ZSTD_compressBound(buf.size()), '\0');
    size_t n = ZSTD_compress(z.data(), z.size(), buf.data(), buf.size(), 1);
    if (!ZSTD_isError(n) && n + 4 < buf.size()) {
      out.push_back(1);
      uint32_t raw = static_cast<uint32_t>(buf.size());
      for (int s = 24; s >= 0; s -= 8) {
        out.push_back(static_cast<char>((raw >> s) & 0xff));
      }
      out.append(z.data(), n);
      return out;
    }
  }
  out.push_back(0);
  out.append(buf.data(), buf.size());
  return out;
}

Status Decode(std::string_view bytes, Frame* out) {
  if (bytes.size() < 5) return Bad("too short");
  if (bytes.size() > kMaxFrameBytes) return Bad("too large");
  if (static_cast<uint8_t>(bytes[0]) != kMagic) return Bad("bad magic");
  if (static_cast<uint8_t>(bytes[1]) != kVersion) {
    return Bad("unsupported wire version " +
               std::to_string(static_cast<uint8_t>(bytes[1])));
  }
  uint8_t kind = static_cast<uint8_t>(bytes[2]);
  if (kind < 1 || kind > kMaxKind) return Bad("unknown kind");
  uint8_t flags = static_cast<uint8_t>(bytes[3]);
  if (flags > 1) return Bad("unknown flags");
  std::string_view payload = bytes.substr(4);
  std::string raw;
  if (flags & 1) {
    if (payload.size() < 4) return Bad("compressed payload too short");
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) {
      n = (n << 8) | static_cast<uint8_t>(payload[static_cast<size_t>(i)]);
    }
    if (n == 0 || n > kMaxFrameBytes) return Bad("bad raw size");
    raw.resize(n);
    size_t got =
        ZSTD_decompress(raw.data(), n, payload.data() + 4, payload.size() - 4);
    if (ZSTD_isError(got) || got != n) return Bad("zstd payload corrupt");
    payload = raw;
  }
  const size_t n = payload.size();
  msgpack::unpack_limit limit(n, n, n, n, n, 8);
  size_t offset = 0;
  msgpack::object_handle handle;
  try {
    handle = msgpack::unpack(payload.data(), n, offset, &ReferenceAll, nullptr,
                             limit);
  } catch (const std::exception& e) {
    return Bad(std::string("malformed payload: ") + e.what());
  }
  if (offset != n) return Bad("trailing bytes");
  const msgpack::object_array* top;
  if (!GetArray(handle.get(), &top) || top->size != 10) {
    return Bad("payload must be an array of 10");
  }
  Frame f;
  f.kind = static_cast<Kind>(kind);
  DELTAKV_RETURN_IF_ERROR(GetRegion(top->ptr[0], &f.region));
  const msgpack::object_array* entries;
  const msgpack::object_array* applied;
  if (!GetU64(top->ptr[1], &f.first) || !GetU64(top->ptr[2], &f.last) ||
      !GetU64(top->ptr[3], &f.log_start) || !GetBytes(top->ptr[4], &f.cursor) ||
      !GetArray(top->ptr[5], &entries) || !GetArray(top->ptr[6], &applied) ||
      !GetU64(top->ptr[7], &f.replica) || !GetU64(top->ptr[8], &f.transfer) ||
      !GetU64(top->ptr[9], &f.window)) {
    return Bad("field of the wrong type");
  }
  if (entries->size % 3 != 0 || applied->size % 3 != 0) {
    return Bad("lists of the wrong shape");
  }
  if ((f.kind == Kind::kDeltas || f.kind == Kind::kCatchupReply) &&
      (f.first == 0 || f.last < f.first)) {
    return Bad("bad sequence range");
  }
  for (uint32_t i = 0; i < entries->size; i += 3) {
    Entry e;
    uint64_t type;
    if (!GetBytes(entries->ptr[i], &e.key) ||
        !GetU64(entries->ptr[i + 1], &type) ||
        !GetBytes(entries->ptr[i + 2], &e.blob)) {
      return Bad("entry of the wrong type");
    }
    if (e.key.empty() || e.key.size() > 1024) return Bad("bad key");
    if (type & kFragmentFlag) {
      if (f.kind != Kind::kSnapshotReply) return Bad("fragment outside a snapshot");
      type &= ~uint64_t{kFragmentFlag};
      if (e.blob.size() < 24) return Bad("fragment header too short");
      uint64_t head[3] = {0, 0, 0};
      for (size_t j = 0; j < 24; ++j) {
        head[j / 8] = (head[j / 8] << 8) | static_cast<uint8_t>(e.blob[j]);
      }
      e.total = head[0];
      e.offset = head[1];
      e.hash = head[2];
      e.blob.erase(0, 24);
      if (e.total == 0 || e.total > kMaxStateBytes || e.offset > e.total ||
          e.blob.size() > e.total - e.offset || e.blob.empty()) {
        return Bad("fragment range out of bounds");
      }
    }
    if (type < 1 || type > 5) return Bad("bad entry type");
    e.type = static_cast<crdt::CrdtType>(type);
    f.entries.push_back(std::move(e));
  }
  for (uint32_t i = 0; i < applied->size; i += 3) {
    AppliedEntry a;
    DELTAKV_RETURN_IF_ERROR(GetRegion(applied->ptr[i], &a.region));
    if (!GetU64(applied->ptr[i + 1], &a.replica) ||
        !GetU64(applied->ptr[i + 2], &a.seq)) {
      return Bad("bad applied entry");
    }
    f.applied.push_back(std::move(a));
  }
  *out = std::move(f);
  return Status::OK();
}

}  // namespace deltakv::replication::wire
