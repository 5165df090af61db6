// libFuzzer target for replication frames: arbitrary bytes go through the
// frame decoder; a decoded frame must respect the format's caps and
// re-encode to bytes within the compression ratio the decoder accepts that
// decode to the same fields, and every entry's blob goes through the CRDT
// decoder of its type (what a receiving region does before joining).
// scripts/fuzz runs it with tests/fuzz/wire.dict and the seed frames of
// tests/fuzz/corpus/wire_fuzz (decompression and allocation bombs) under
// an RSS limit (docs/formats.md).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "crdt/codec.h"
#include "crdt/list_codec.h"
#include "replication/wire.h"

namespace wire = deltakv::replication::wire;
namespace crdt = deltakv::crdt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  wire::Frame f;
  if (!wire::Decode(bytes, &f).ok()) return 0;
  if (f.entries.size() > wire::kMaxEntries ||
      f.applied.size() > wire::kMaxApplied) {
    std::abort();
  }
  const std::string encoded = wire::Encode(f);
  if (encoded.size() >= 8 && encoded[3] == 1) {
    uint32_t raw = 0;
    for (size_t i = 4; i < 8; ++i) {
      raw = (raw << 8) | static_cast<uint8_t>(encoded[i]);
    }
    if (raw > wire::MaxRawSize(encoded.size() - 8)) std::abort();
  }
  wire::Frame again;
  if (!wire::Decode(encoded, &again).ok()) std::abort();
  if (again.region != f.region || again.first != f.first ||
      again.last != f.last || again.entries.size() != f.entries.size() ||
      again.applied != f.applied || again.cursor != f.cursor) {
    std::abort();
  }
  for (const wire::Entry& e : f.entries) {
    switch (e.type) {
      case crdt::CrdtType::kCounter: {
        crdt::PNCounter c;
        (void)crdt::Decode(e.blob, &c);
        break;
      }
      case crdt::CrdtType::kRegister: {
        crdt::ORRegister r;
        (void)crdt::Decode(e.blob, &r);
        break;
      }
      case crdt::CrdtType::kSet: {
        crdt::AWORSet s;
        (void)crdt::Decode(e.blob, &s);
        break;
      }
      case crdt::CrdtType::kList: {
        crdt::List l;
        (void)crdt::Decode(e.blob, &l);
        break;
      }
      default:
        break;
    }
  }
  return 0;
}
