// Codec: the byte encoding of every CRDT state and delta (MessagePack).
//
// Every blob is a MessagePack array [format_version, type, body]; the body of
// each type is documented in docs/formats.md. Decoding accepts untrusted
// bytes: anything malformed (wrong version or type, truncated, trailing
// bytes, invalid dots, a dot outside its causal context, duplicates) returns
// Corruption and leaves `out` unspecified; memory use is bounded by a small
// multiple of the input size.
//
// Thread-safety: free functions without shared state.
#ifndef DELTAKV_CRDT_CODEC_H_
#define DELTAKV_CRDT_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "crdt/aw_or_set.h"
#include "crdt/lww_register.h"
#include "crdt/mv_register.h"
#include "crdt/or_register.h"
#include "crdt/pn_counter.h"
#include "deltakv/status.h"

namespace deltakv::crdt {

inline constexpr uint64_t kCodecFormatVersion = 1;

// The type tag in encoded bytes; also the key type stored by the replica.
enum class CrdtType : uint8_t {
  kCounter = 1,
  kRegister = 2,
  kSet = 3,
  kList = 4,
  kMVRegister = 5,
};

// "counter", "register", "set", "list", "mvregister".
std::string_view CrdtTypeName(CrdtType type);

std::string Encode(const PNCounter& counter);
std::string Encode(const LWWRegister& reg);
std::string Encode(const MVRegister& reg);
// The `register` key type. Writes body version 2; Decode also accepts the
// LWWRegister body (version 1, stored before writes were dotted) as a
// register holding one legacy write.
std::string Encode(const ORRegister& reg);
std::string Encode(const AWORSet& set);

Status Decode(std::string_view bytes, PNCounter* out);
Status Decode(std::string_view bytes, LWWRegister* out);
Status Decode(std::string_view bytes, MVRegister* out);
Status Decode(std::string_view bytes, ORRegister* out);
Status Decode(std::string_view bytes, AWORSet* out);

// A causal context alone (the set record of the storage layer):
// MessagePack [vv, cloud] as in every context, without a blob header.
std::string EncodeContext(const CausalContext& context);
Status DecodeContext(std::string_view bytes, CausalContext* out);

// The type tag of an encoded blob, checking only the header.
Result<CrdtType> PeekType(std::string_view bytes);

}  // namespace deltakv::crdt

#endif  // DELTAKV_CRDT_CODEC_H_
