#include "replication/wire.h"

#include <zstd.h>

#include <memory>
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

// Nesting: the payload array (1) holds the entries and applied arrays (2).
constexpr size_t kMaxDepth = 2;
// The longest array of the format: the entries, three elements each.
constexpr size_t kMaxArrayElements = 3 * kMaxEntries;

// The unpacker's limits: absolute, from the frame format, not from the
// input's size. Strings and binaries are referenced, never copied, so their
// bound is the frame's.
const msgpack::unpack_limit kUnpackLimit(/*array=*/kMaxArrayElements,
                                         /*map=*/0, /*str=*/kMaxFrameBytes,
                                         /*bin=*/kMaxFrameBytes, /*ext=*/0,
                                         /*depth=*/kMaxDepth);

// A first pass over the MessagePack bytes that creates nothing: the
// unpacker allocates an array's objects when it reads the array's header,
// before it knows whether that many elements follow. This pass refuses
// nesting, maps, extensions and arrays beyond the caps, and the parser
// refuses a structure that is not complete within the bytes, so the
// unpacking pass then allocates only for elements that are really there.
class ShapeCheck : public msgpack::null_visitor {
 public:
  bool start_array(uint32_t n) {
    return ++depth_ <= kMaxDepth && n <= kMaxArrayElements;
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool start_map(uint32_t) { return false; }
  bool visit_ext(const char*, uint32_t) { return false; }

 private:
  size_t depth_ = 0;
};

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
    // One-shot compression records the content size in the zstd frame
    // header, which Decode requires.
    size_t n = ZSTD_compress(z.data(), z.size(), buf.data(), buf.size(), 1);
    // Compressed only when it saves space and the receiver accepts its
    // ratio (a very repetitive payload above kMinRawAllowance may not be).
    if (!ZSTD_isError(n) && n + 4 < buf.size() && buf.size() <= MaxRawSize(n)) {
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
  std::unique_ptr<char[]> raw;
  if (flags & 1) {
    if (payload.size() < 4) return Bad("compressed payload too short");
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) {
      n = (n << 8) | static_cast<uint8_t>(payload[static_cast<size_t>(i)]);
    }
    const std::string_view z = payload.substr(4);
    // Every size check happens on the zstd frame header, before anything
    // is allocated for the raw payload.
    if (n == 0 || n > kMaxFrameBytes) return Bad("bad raw size");
    const unsigned long long content =
        ZSTD_getFrameContentSize(z.data(), z.size());
    if (content == ZSTD_CONTENTSIZE_ERROR) return Bad("bad zstd frame header");
    if (content == ZSTD_CONTENTSIZE_UNKNOWN) {
      return Bad("zstd frame does not declare its content size");
    }
    if (content != n) {
      return Bad("zstd content size " + std::to_string(content) +
                 " differs from the raw size " + std::to_string(n));
    }
    if (n > MaxRawSize(z.size())) {
      return Bad("raw size " + std::to_string(n) + " exceeds " +
                 std::to_string(MaxRawSize(z.size())) + " for " +
                 std::to_string(z.size()) + " compressed bytes");
    }
    const size_t frame_size = ZSTD_findFrameCompressedSize(z.data(), z.size());
    if (ZSTD_isError(frame_size) || frame_size != z.size()) {
      return Bad("the payload must be exactly one zstd frame");
    }
    // Exactly the checked size, not zero-filled: zstd writes every byte.
    raw = std::make_unique_for_overwrite<char[]>(n);
    size_t got = ZSTD_decompress(raw.get(), n, z.data(), z.size());
    if (ZSTD_isError(got) || got != n) return Bad("zstd payload corrupt");
    payload = std::string_view(raw.get(), n);
  }
  const size_t n = payload.size();
  size_t offset = 0;
  ShapeCheck shape;
  if (!msgpack::parse(payload.data(), n, offset, shape)) {
    return Bad("malformed payload (or beyond the format's limits)");
  }
  if (offset != n) return Bad("trailing bytes");
  offset = 0;
  msgpack::object_handle handle;
  try {
    handle = msgpack::unpack(payload.data(), n, offset, &ReferenceAll, nullptr,
                             kUnpackLimit);
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
  if (entries->size / 3 > kMaxEntries || applied->size / 3 > kMaxApplied) {
    return Bad("too many entries or applied regions");
  }
  if ((f.kind == Kind::kDeltas || f.kind == Kind::kCatchupReply) &&
      (f.first == 0 || f.last < f.first)) {
    return Bad("bad sequence range");
  }
  f.entries.reserve(entries->size / 3);
  f.applied.reserve(applied->size / 2);
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
