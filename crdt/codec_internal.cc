#include "crdt/codec_internal.h"

#include <exception>

namespace deltakv::crdt::codec_internal {

namespace {
constexpr size_t kMaxDepth = 16;

// Strings and binaries point into the input instead of being copied; the
// input outlives every decode.
bool ReferenceAll(msgpack::type::object_type, std::size_t, void*) {
  return true;
}
}  // namespace

Status Corrupt(std::string_view what) {
  return Status::Corruption("crdt codec: " + std::string(what));
}

void PackHeader(Packer& pk, CrdtType type) {
  pk.pack_array(3);
  pk.pack_uint64(kCodecFormatVersion);
  pk.pack_uint8(static_cast<uint8_t>(type));
}

void PackBytes(Packer& pk, std::string_view bytes) {
  pk.pack_bin(static_cast<uint32_t>(bytes.size()));
  pk.pack_bin_body(bytes.data(), static_cast<uint32_t>(bytes.size()));
}

void PackContext(Packer& pk, const CausalContext& cc) {
  pk.pack_array(2);
  pk.pack_array(static_cast<uint32_t>(cc.version_vector().size() * 2));
  for (const auto& [replica, n] : cc.version_vector()) {
    pk.pack_uint64(replica.value());
    pk.pack_uint64(n);
  }
  pk.pack_array(static_cast<uint32_t>(cc.dot_cloud().size() * 2));
  for (const Dot& d : cc.dot_cloud()) {
    pk.pack_uint64(d.replica.value());
    pk.pack_uint64(d.counter);
  }
}

std::string ToString(const msgpack::sbuffer& buf) {
  return std::string(buf.data(), buf.size());
}

Status Unpack(std::string_view bytes, CrdtType expected, Unpacked* out) {
  if (bytes.empty()) return Corrupt("empty input");
  if (bytes.size() > 0xffffffffu) return Corrupt("input larger than 4 GiB");
  // Every element takes at least one byte of input, so these limits bound
  // what the unpacker allocates by a multiple of the input size.
  const size_t n = bytes.size();
  msgpack::unpack_limit limit(n, n, n, n, n, kMaxDepth);
  size_t offset = 0;
  try {
    out->handle =
        msgpack::unpack(bytes.data(), n, offset, &ReferenceAll, nullptr, limit);
  } catch (const std::exception& e) {
    return Corrupt(std::string("malformed msgpack: ") + e.what());
  }
  if (offset != n) return Corrupt("trailing bytes after the blob");
  const msgpack::object_array* top;
  DELTAKV_RETURN_IF_ERROR(GetArray(out->handle.get(), "blob", &top));
  if (top->size != 3) return Corrupt("blob must be [version, type, body]");
  uint64_t version, type;
  DELTAKV_RETURN_IF_ERROR(GetUint(top->ptr[0], "format version", &version));
  if (version != kCodecFormatVersion) {
    return Corrupt("unsupported format version " + std::to_string(version));
  }
  DELTAKV_RETURN_IF_ERROR(GetUint(top->ptr[1], "type", &type));
  if (type != static_cast<uint64_t>(expected)) {
    return Corrupt("type tag " + std::to_string(type) + ", expected " +
                   std::string(CrdtTypeName(expected)));
  }
  out->body = &top->ptr[2];
  return Status::OK();
}

Status GetArray(const msgpack::object& obj, std::string_view what,
                const msgpack::object_array** out) {
  if (obj.type != msgpack::type::ARRAY) {
    return Corrupt(std::string(what) + " is not an array");
  }
  *out = &obj.via.array;
  return Status::OK();
}

Status GetUint(const msgpack::object& obj, std::string_view what,
               uint64_t* out) {
  if (obj.type != msgpack::type::POSITIVE_INTEGER) {
    return Corrupt(std::string(what) + " is not an unsigned integer");
  }
  *out = obj.via.u64;
  return Status::OK();
}

Status GetBytes(const msgpack::object& obj, std::string_view what,
                std::string_view* out) {
  if (obj.type == msgpack::type::BIN) {
    *out = std::string_view(obj.via.bin.ptr, obj.via.bin.size);
  } else if (obj.type == msgpack::type::STR) {
    *out = std::string_view(obj.via.str.ptr, obj.via.str.size);
  } else {
    return Corrupt(std::string(what) + " is not a byte string");
  }
  return Status::OK();
}

Status GetReplica(const msgpack::object& obj, ReplicaId* out) {
  uint64_t v;
  DELTAKV_RETURN_IF_ERROR(GetUint(obj, "replica id", &v));
  if (v == 0) return Corrupt("replica id 0");
  *out = ReplicaId(v);
  return Status::OK();
}

Status GetDot(const msgpack::object& replica, const msgpack::object& counter,
              Dot* out) {
  DELTAKV_RETURN_IF_ERROR(GetReplica(replica, &out->replica));
  DELTAKV_RETURN_IF_ERROR(GetUint(counter, "dot counter", &out->counter));
  if (out->counter == 0) return Corrupt("dot counter 0");
  return Status::OK();
}

Status ReadContext(const msgpack::object& obj, CausalContext* out) {
  const msgpack::object_array* parts;
  DELTAKV_RETURN_IF_ERROR(GetArray(obj, "causal context", &parts));
  if (parts->size != 2) return Corrupt("causal context must be [vv, cloud]");
  const msgpack::object_array* vv;
  const msgpack::object_array* cloud;
  DELTAKV_RETURN_IF_ERROR(GetArray(parts->ptr[0], "version vector", &vv));
  DELTAKV_RETURN_IF_ERROR(GetArray(parts->ptr[1], "dot cloud", &cloud));
  if (vv->size % 2 != 0 || cloud->size % 2 != 0) {
    return Corrupt("causal context lists must hold pairs");
  }
  *out = CausalContext();
  for (uint32_t i = 0; i < vv->size; i += 2) {
    Dot d;
    DELTAKV_RETURN_IF_ERROR(GetDot(vv->ptr[i], vv->ptr[i + 1], &d));
    out->SetVectorEntry(d.replica, d.counter);
  }
  for (uint32_t i = 0; i < cloud->size; i += 2) {
    Dot d;
    DELTAKV_RETURN_IF_ERROR(GetDot(cloud->ptr[i], cloud->ptr[i + 1], &d));
    out->Insert(d);
  }
  return Status::OK();
}

}  // namespace deltakv::crdt::codec_internal
