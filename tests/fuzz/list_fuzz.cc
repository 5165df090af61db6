// libFuzzer target for list deltas: arbitrary bytes are decoded as a List;
// a successful decode must re-encode to bytes that decode to the same list
// (canonical after one round), and joining it into a populated state, twice,
// into an empty one, and back, must not crash and must be idempotent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "crdt/list.h"
#include "crdt/list_codec.h"

namespace crdt = deltakv::crdt;

namespace {

// A small state with two replicas, tombstones and a held run, built once.
const crdt::List& Base() {
  static const crdt::List base = [] {
    crdt::List a, b;
    (void)a.InsertText(deltakv::ReplicaId(1), 0, "hello world");
    (void)a.Delete(2, 3);
    b.Join(a);
    (void)b.InsertText(deltakv::ReplicaId(2), 4, "XY");
    crdt::List c;
    crdt::List d1 = a.InsertText(deltakv::ReplicaId(1), 1, "q").value();
    crdt::List d2 = a.InsertText(deltakv::ReplicaId(1), 2, "r").value();
    c.Join(b);
    c.Join(d2);  // held: its origin d1 is missing
    return c;
  }();
  return base;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  crdt::List delta;
  if (!crdt::Decode(bytes, &delta).ok()) return 0;

  const std::string once = crdt::Encode(delta);
  crdt::List again;
  Check(crdt::Decode(once, &again).ok());
  const std::string twice = crdt::Encode(again);
  crdt::List third;
  Check(crdt::Decode(twice, &third).ok());
  Check(crdt::Encode(third) == twice);
  Check(again.Values() == delta.Values());

  crdt::List state = Base();
  state.Join(delta);
  const std::string joined = crdt::Encode(state);
  state.Join(delta);
  Check(crdt::Encode(state) == joined);  // idempotent
  (void)state.Read(0, 8);
  (void)state.Text();
  if (state.size() > 0) (void)state.Delete(0, 1);
  (void)state.InsertText(deltakv::ReplicaId(3), state.size(), "z");

  crdt::List empty;
  empty.Join(delta);
  Check(empty.Values() == delta.Values());
  crdt::List back = delta;
  back.Join(Base());
  (void)back.Text();
  return 0;
}
