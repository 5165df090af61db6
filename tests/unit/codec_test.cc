// Codec round trips for random states, and hostile bytes: random, truncated
// and bit-flipped input must give Corruption (or a valid state), never a
// crash. Run under ASan + UBSan in CI.
#include <rapidcheck/catch.h>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "crdt/codec.h"

namespace crdt = deltakv::crdt;
using deltakv::Code;
using deltakv::HlcTimestamp;
using deltakv::ReplicaId;

namespace {

ReplicaId GenReplica() {
  return ReplicaId(*rc::gen::element<uint64_t>(1, 2, 3, UINT64_MAX));
}

std::string GenBytes() {
  return *rc::gen::container<std::string>(rc::gen::arbitrary<char>());
}

crdt::PNCounter GenCounter() {
  crdt::PNCounter c;
  const int n = *rc::gen::inRange(0, 20);
  for (int i = 0; i < n; ++i) {
    (void)c.Increment(GenReplica(), *rc::gen::arbitrary<int64_t>());
  }
  return c;
}

crdt::LWWRegister GenLww() {
  if (*rc::gen::inRange(0, 5) == 0) return crdt::LWWRegister();
  return crdt::LWWRegister(
      HlcTimestamp(*rc::gen::inRange<uint64_t>(1, UINT64_MAX)), GenReplica(),
      GenBytes());
}

// Two replicas editing and syncing, so contexts get clouds and vectors.
crdt::AWORSet GenSet() {
  crdt::AWORSet a, b;
  const int n = *rc::gen::inRange(0, 40);
  std::vector<crdt::AWORSet> pending;
  for (int i = 0; i < n; ++i) {
    crdt::AWORSet& s = (i % 2) ? a : b;
    const ReplicaId id((i % 2) ? 1 : 2);
    std::string m = GenBytes();
    switch (*rc::gen::inRange(0, 4)) {
      case 0:
      case 1:
        pending.push_back(s.Add(id, m));
        break;
      case 2:
        if (!s.empty()) pending.push_back(s.Remove(s.Members().front()));
        break;
      default:
        if (!pending.empty()) {
          const auto k = *rc::gen::inRange<size_t>(0, pending.size());
          ((i % 2) ? b : a).Join(pending[k]);
        }
    }
  }
  return a;
}

crdt::MVRegister GenMv() {
  crdt::MVRegister a, b;
  const int n = *rc::gen::inRange(0, 10);
  for (int i = 0; i < n; ++i) {
    auto d = ((i % 2) ? a : b).Write(ReplicaId((i % 2) ? 1 : 2), GenBytes());
    if (*rc::gen::arbitrary<bool>()) ((i % 2) ? b : a).Join(d);
  }
  return a;
}

// Two replicas writing, deleting and syncing, some with legacy writes, so
// registers get concurrent writes, clouds, legacy writes and floors.
crdt::ORRegister GenOr() {
  crdt::ORRegister a, b;
  const int n = *rc::gen::inRange(0, 12);
  for (int i = 0; i < n; ++i) {
    crdt::ORRegister& r = (i % 2) ? a : b;
    const ReplicaId id((i % 2) ? 1 : 2);
    crdt::ORRegister d;
    switch (*rc::gen::inRange(0, 5)) {
      case 0:
        d = r.Clear();
        break;
      case 1:
        d = crdt::ORRegister::FromLegacy(GenLww());
        r.Join(d);
        break;
      default:
        d = r.Set(HlcTimestamp(*rc::gen::inRange<uint64_t>(1, UINT64_MAX)),
                  id, GenBytes());
    }
    if (*rc::gen::arbitrary<bool>()) ((i % 2) ? b : a).Join(d);
  }
  return a;
}

// Every corruption of `bytes` decodes to an error or to some valid state; in
// the latter case the state re-encodes and decodes to itself.
template <typename T>
void CheckHostile(const std::string& bytes) {
  T out;
  deltakv::Status s = crdt::Decode(bytes, &out);
  if (!s.ok()) {
    RC_ASSERT(s.code() == Code::kCorruption);
    return;
  }
  T again;
  RC_ASSERT(crdt::Decode(crdt::Encode(out), &again).ok());
  RC_ASSERT(again == out);
}

template <typename T>
void CheckRoundTripAndCorruptions(const T& state) {
  const std::string bytes = crdt::Encode(state);
  T decoded;
  RC_ASSERT(crdt::Decode(bytes, &decoded).ok());
  RC_ASSERT(decoded == state);
  RC_ASSERT(crdt::Encode(decoded) == bytes);  // canonical

  // Every strict prefix is an error: a blob is one complete msgpack value.
  const size_t cut = *rc::gen::inRange<size_t>(0, bytes.size());
  T out;
  RC_ASSERT(crdt::Decode(bytes.substr(0, cut), &out).code() ==
            Code::kCorruption);
  // Trailing garbage is an error.
  RC_ASSERT(crdt::Decode(bytes + "x", &out).code() == Code::kCorruption);
  // Flipped bits.
  std::string flipped = bytes;
  const int flips = *rc::gen::inRange(1, 4);
  for (int i = 0; i < flips; ++i) {
    const auto at = *rc::gen::inRange<size_t>(0, flipped.size());
    flipped[at] =
        static_cast<char>(flipped[at] ^ (1 << *rc::gen::inRange(0, 8)));
  }
  CheckHostile<T>(flipped);
}

}  // namespace

TEST_CASE("codec round trip and corrupted bytes: counter") {
  rc::prop("counter", [] { CheckRoundTripAndCorruptions(GenCounter()); });
}

TEST_CASE("codec round trip and corrupted bytes: register") {
  rc::prop("lww", [] { CheckRoundTripAndCorruptions(GenLww()); });
  rc::prop("mv", [] { CheckRoundTripAndCorruptions(GenMv()); });
  rc::prop("observed-remove", [] { CheckRoundTripAndCorruptions(GenOr()); });
}

TEST_CASE("codec round trip and corrupted bytes: set") {
  rc::prop("set", [] { CheckRoundTripAndCorruptions(GenSet()); });
}

TEST_CASE("random bytes never decode into a broken state") {
  rc::prop("random input", [] {
    const std::string bytes = GenBytes();
    CheckHostile<crdt::PNCounter>(bytes);
    CheckHostile<crdt::LWWRegister>(bytes);
    CheckHostile<crdt::MVRegister>(bytes);
    CheckHostile<crdt::ORRegister>(bytes);
    CheckHostile<crdt::AWORSet>(bytes);
    (void)crdt::PeekType(bytes);
  });
}

TEST_CASE("the decoder rejects hostile shapes with Corruption") {
  crdt::AWORSet s;
  CHECK(crdt::Decode("", &s).code() == Code::kCorruption);
  // Array header claiming 2^32-1 elements in 5 bytes: must not allocate.
  CHECK(crdt::Decode(std::string("\xdd\xff\xff\xff\xff", 5), &s).code() ==
        Code::kCorruption);
  // Deep nesting.
  CHECK(crdt::Decode(std::string(100000, '\x91'), &s).code() ==
        Code::kCorruption);
  // A valid counter is not a set.
  crdt::PNCounter c;
  REQUIRE(c.Increment(ReplicaId(1), 1).ok());
  CHECK(crdt::Decode(crdt::Encode(c), &s).code() == Code::kCorruption);
  CHECK(*crdt::PeekType(crdt::Encode(c)) == crdt::CrdtType::kCounter);
}

TEST_CASE("the decoder rejects a set dot outside the causal context") {
  // [1, 3, [[[], []], ["m", [1, 1]]]]: the dot (1,1) is not in the context.
  const std::string bytes("\x93\x01\x03\x92\x92\x90\x90\x92\xa1m\x92\x01\x01",
                          13);
  crdt::AWORSet s;
  auto st = crdt::Decode(bytes, &s);
  CHECK(st.code() == Code::kCorruption);
  CHECK(st.message().find("causal context") != std::string::npos);
}

TEST_CASE("a register stored in the old LWW encoding decodes as one legacy "
          "write") {
  const crdt::LWWRegister old(HlcTimestamp::FromParts(1000, 1), ReplicaId(7),
                              "old value");
  crdt::ORRegister r;
  REQUIRE(crdt::Decode(crdt::Encode(old), &r).ok());
  CHECK(r.entries().empty());
  CHECK(r.context().empty());
  CHECK(r.legacy() == old);
  auto w = r.Winner();
  REQUIRE(w.has_value());
  CHECK(w->value == "old value");
  CHECK(w->timestamp == old.timestamp());
  // The empty old register is the empty register.
  REQUIRE(crdt::Decode(crdt::Encode(crdt::LWWRegister()), &r).ok());
  CHECK(r == crdt::ORRegister());
  // The new encoding is not an old one.
  crdt::ORRegister n;
  n.Set(HlcTimestamp::FromParts(1, 0), ReplicaId(1), "v");
  crdt::LWWRegister l;
  CHECK(crdt::Decode(crdt::Encode(n), &l).code() == Code::kCorruption);
}

TEST_CASE("the decoder rejects register bodies of unknown versions and "
          "broken floors") {
  crdt::ORRegister r;
  // [1, 2, [3, ...]]: version 3 does not exist.
  const std::string v3("\x93\x01\x02\x95\x03\x92\x90\x90\x90"
                       "\x93\x00\x00\xa0\x92\x00\x00",
                       16);
  auto st = crdt::Decode(v3, &r);
  CHECK(st.code() == Code::kCorruption);
  CHECK(st.message().find("register must be") != std::string::npos);
  // The same with version 2 decodes to the empty register.
  std::string v2 = v3;
  v2[4] = '\x02';
  REQUIRE(crdt::Decode(v2, &r).ok());
  CHECK(r == crdt::ORRegister());
  // A legacy write at or below its floor is not canonical.
  crdt::ORRegister legacy = crdt::ORRegister::FromLegacy(
      crdt::LWWRegister(HlcTimestamp(5), ReplicaId(1), "x"));
  legacy.SetLegacy(legacy.legacy(), {HlcTimestamp(5), ReplicaId(1)});
  CHECK(crdt::Decode(crdt::Encode(legacy), &r).code() == Code::kCorruption);
  // A floor with a timestamp but no replica.
  std::string half = v2;
  half[14] = '\x05';
  CHECK(crdt::Decode(half, &r).code() == Code::kCorruption);
}
