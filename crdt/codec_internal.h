// Helpers shared by the codec translation units (MessagePack in, Status out).
// Internal: include only from crdt/*codec*.cc, never from a public header
// (msgpack.hpp is heavy).
//
// Thread-safety: free functions without shared state.
#ifndef DELTAKV_CRDT_CODEC_INTERNAL_H_
#define DELTAKV_CRDT_CODEC_INTERNAL_H_

#include <msgpack.hpp>

#include <string>
#include <string_view>

#include "crdt/causal_context.h"
#include "crdt/codec.h"

namespace deltakv::crdt::codec_internal {

using Packer = msgpack::packer<msgpack::sbuffer>;

// Starts a blob: array header of 3 and [version, type]; the caller packs the
// body as the third element.
void PackHeader(Packer& pk, CrdtType type);
void PackBytes(Packer& pk, std::string_view bytes);
void PackContext(Packer& pk, const CausalContext& cc);
std::string ToString(const msgpack::sbuffer& buf);

// A decoded blob: keeps the unpacked objects alive while the body is read.
struct Unpacked {
  msgpack::object_handle handle;
  const msgpack::object* body = nullptr;
};

// Unpacks `bytes` with limits derived from its size, checks the header
// (version, `expected` type) and that nothing trails it.
Status Unpack(std::string_view bytes, CrdtType expected, Unpacked* out);

// Typed accessors; each returns Corruption naming `what` on a type mismatch.
Status GetArray(const msgpack::object& obj, std::string_view what,
                const msgpack::object_array** out);
Status GetUint(const msgpack::object& obj, std::string_view what,
               uint64_t* out);
Status GetBytes(const msgpack::object& obj, std::string_view what,
                std::string_view* out);
Status GetReplica(const msgpack::object& obj, ReplicaId* out);
Status GetDot(const msgpack::object& replica, const msgpack::object& counter,
              Dot* out);
Status ReadContext(const msgpack::object& obj, CausalContext* out);

Status Corrupt(std::string_view what);

}  // namespace deltakv::crdt::codec_internal

#endif  // DELTAKV_CRDT_CODEC_INTERNAL_H_
