// libFuzzer target for the CRDT codec: arbitrary bytes are decoded as every
// type; a successful decode must re-encode to bytes that decode to an equal
// state, and joining the decoded state into a valid one must not crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "crdt/codec.h"

namespace crdt = deltakv::crdt;

namespace {

template <typename T>
void Exercise(std::string_view bytes) {
  T state;
  if (!crdt::Decode(bytes, &state).ok()) return;
  T again;
  if (!crdt::Decode(crdt::Encode(state), &again).ok() || !(again == state)) {
    std::abort();
  }
  T base;
  base.Join(state);
  base.Join(state);
  if (!(base == state)) std::abort();  // join into empty, idempotent
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)crdt::PeekType(bytes);
  Exercise<crdt::PNCounter>(bytes);
  Exercise<crdt::LWWRegister>(bytes);
  Exercise<crdt::MVRegister>(bytes);
  Exercise<crdt::ORRegister>(bytes);
  Exercise<crdt::AWORSet>(bytes);
  return 0;
}
