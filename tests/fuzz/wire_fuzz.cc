// libFuzzer target for replication frames: arbitrary bytes go through the
// frame decoder; a decoded frame must re-encode to bytes that decode to the
// same fields, and every entry's blob goes through the CRDT decoder of its
// type (what a receiving region does before joining).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
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
  wire::Frame again;
  if (!wire::Decode(wire::Encode(f), &again).ok()) std::abort();
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
