#include <catch2/catch.hpp>

#include "core/hlc.h"
#include "crdt/lww_register.h"
#include "crdt/mv_register.h"
#include "crdt/or_register.h"

using deltakv::HlcTimestamp;
using deltakv::HybridClock;
using deltakv::ReplicaId;
using deltakv::crdt::LWWRegister;
using deltakv::crdt::MVRegister;
using deltakv::crdt::ORRegister;

namespace {

std::string Read(const ORRegister& r) {
  auto w = r.Winner();
  return w ? std::string(w->value) : std::string("<none>");
}

}  // namespace

TEST_CASE("LWW takes the write with the larger timestamp") {
  LWWRegister a, b;
  a.Set(HlcTimestamp::FromParts(100, 0), ReplicaId(9), "old");
  b.Set(HlcTimestamp::FromParts(101, 0), ReplicaId(1), "new");
  LWWRegister ab = a, ba = b;
  ab.Join(b);
  ba.Join(a);
  CHECK(ab.value() == "new");
  CHECK(ab == ba);
}

TEST_CASE("LWW breaks timestamp ties by replica id") {
  auto ts = HlcTimestamp::FromParts(100, 2);
  LWWRegister a(ts, ReplicaId(1), "from-1");
  LWWRegister b(ts, ReplicaId(2), "from-2");
  a.Join(b);
  CHECK(a.value() == "from-2");
  b.Join(LWWRegister(ts, ReplicaId(1), "from-1"));
  CHECK(b.value() == "from-2");
}

TEST_CASE(
    "a local write after a remote one wins even if the wall clock is "
    "behind") {
  uint64_t wall = 1000;
  HybridClock clock([&] { return wall; });
  LWWRegister local;
  LWWRegister remote(HlcTimestamp::FromParts(5000, 0), ReplicaId(7), "remote");
  REQUIRE(clock.Update(remote.timestamp()).ok());
  local.Join(remote);
  local.Set(clock.Now(), ReplicaId(1), "local");
  CHECK(local.value() == "local");
  remote.Join(local);
  CHECK(remote.value() == "local");
}

TEST_CASE("the empty register loses to any write") {
  LWWRegister empty, w(HlcTimestamp::FromParts(1, 0), ReplicaId(1), "");
  CHECK(empty.empty());
  empty.Join(w);
  CHECK_FALSE(empty.empty());
}

TEST_CASE(
    "MV register keeps concurrent writes and a later write replaces "
    "them") {
  MVRegister a, b;
  auto da = a.Write(ReplicaId(1), "x");
  auto db = b.Write(ReplicaId(2), "y");
  a.Join(db);
  b.Join(da);
  CHECK(a.Read() == std::vector<std::string>{"x", "y"});
  CHECK(a == b);
  auto dz = a.Write(ReplicaId(1), "z");
  b.Join(dz);
  CHECK(b.Read() == std::vector<std::string>{"z"});
}

TEST_CASE("MV reset removes observed values only") {
  MVRegister a, b;
  auto da = a.Write(ReplicaId(1), "x");
  b.Join(da);
  auto reset = b.Reset();
  auto dc = a.Write(ReplicaId(1), "concurrent");
  b.Join(dc);
  a.Join(reset);
  CHECK(a.Read() == std::vector<std::string>{"concurrent"});
  CHECK(b.Read() == std::vector<std::string>{"concurrent"});
}

TEST_CASE("a register delete does not remove a write it did not observe") {
  ORRegister a, b;
  // b writes; a, whose clock is far ahead, deletes without having seen it.
  auto first = a.Set(HlcTimestamp::FromParts(100, 0), ReplicaId(1), "first");
  b.Join(first);
  auto write = b.Set(HlcTimestamp::FromParts(200, 0), ReplicaId(2), "from-b");
  auto del = a.Clear();
  CHECK(a.empty());
  CHECK(del.entries().empty());
  a.Join(write);
  b.Join(del);
  CHECK(Read(a) == "from-b");
  CHECK(a == b);
  // A delete that has seen the write removes it.
  b.Join(a.Clear());
  CHECK(b.empty());
  CHECK(Read(b) == "<none>");
}

TEST_CASE("a register write supersedes every write it observed") {
  ORRegister a, b;
  auto da = a.Set(HlcTimestamp::FromParts(500, 0), ReplicaId(1), "x");
  auto db = b.Set(HlcTimestamp::FromParts(400, 0), ReplicaId(2), "y");
  a.Join(db);
  b.Join(da);
  CHECK(a.entries().size() == 2);
  CHECK(Read(a) == "x");
  // b's next write has a smaller stamp than x, but it has seen x.
  auto dz = b.Set(HlcTimestamp::FromParts(450, 0), ReplicaId(2), "z");
  a.Join(dz);
  CHECK(a.entries().size() == 1);
  CHECK(Read(a) == "z");
  CHECK(a == b);
}

TEST_CASE("concurrent register writes read last-writer-wins, ties by "
          "replica id") {
  const auto ts = HlcTimestamp::FromParts(100, 2);
  ORRegister a, b, c;
  auto d1 = a.Set(ts, ReplicaId(1), "from-1");
  auto d2 = b.Set(ts, ReplicaId(2), "from-2");
  auto d3 = c.Set(HlcTimestamp::FromParts(99, 0), ReplicaId(3), "from-3");
  for (ORRegister* r : {&a, &b, &c}) {
    r->Join(d1);
    r->Join(d2);
    r->Join(d3);
    CHECK(Read(*r) == "from-2");
    CHECK(r->Writes().size() == 3);
  }
  auto w = a.Winner();
  REQUIRE(w.has_value());
  CHECK(w->timestamp == ts);
  CHECK(w->replica == ReplicaId(2));
  // A filter skips writes the caller does not show.
  auto other = a.Winner([](std::string_view v) { return v != "from-2"; });
  REQUIRE(other.has_value());
  CHECK(other->value == "from-1");
}

TEST_CASE("a delete that arrives before the write it observed still removes "
          "it") {
  ORRegister a, b;
  auto write = a.Set(HlcTimestamp::FromParts(1, 0), ReplicaId(1), "v");
  auto del = a.Clear();
  b.Join(del);
  b.Join(write);
  CHECK(b.empty());
  CHECK(b == a);
}

TEST_CASE("register dots count per key from the replica's own context") {
  ORRegister r;
  auto d1 = r.Set(HlcTimestamp(1), ReplicaId(4), "a");
  auto del = r.Clear();
  auto d2 = r.Set(HlcTimestamp(2), ReplicaId(4), "b");
  REQUIRE(d1.entries().size() == 1);
  REQUIRE(d2.entries().size() == 1);
  CHECK(d1.entries().begin()->first == deltakv::Dot{ReplicaId(4), 1});
  CHECK(d2.entries().begin()->first == deltakv::Dot{ReplicaId(4), 2});
  // The delete's delta is an empty store plus the observed dot.
  CHECK(del.entries().empty());
  CHECK(del.context().Contains(deltakv::Dot{ReplicaId(4), 1}));
  CHECK_FALSE(del.context().Contains(deltakv::Dot{ReplicaId(4), 2}));
}

TEST_CASE("a legacy register value is removed by an observing write or "
          "delete, and survives one that did not see it") {
  const LWWRegister old(HlcTimestamp::FromParts(900, 0), ReplicaId(7), "old");
  ORRegister a = ORRegister::FromLegacy(old);
  ORRegister b = ORRegister::FromLegacy(old);
  CHECK(Read(a) == "old");
  // b overwrites it (with an older stamp: it observed the legacy write).
  auto write = b.Set(HlcTimestamp::FromParts(800, 0), ReplicaId(2), "new");
  CHECK(write.legacy_floor() == ORRegister::StampOf(old));
  a.Join(write);
  CHECK(Read(a) == "new");
  CHECK(a.legacy().empty());
  // A late duplicate of the legacy write stays removed.
  a.Join(ORRegister::FromLegacy(old));
  CHECK(Read(a) == "new");
  CHECK(a == b);
  // A legacy write newer than the floor was not observed: it survives, and
  // reads compare it with the dotted writes by stamp.
  const LWWRegister newer(HlcTimestamp::FromParts(1000, 0), ReplicaId(7),
                          "newer");
  a.Join(ORRegister::FromLegacy(newer));
  CHECK(Read(a) == "newer");
  // A delete removes both.
  a.Clear();
  CHECK(a.empty());
  a.Join(ORRegister::FromLegacy(newer));
  CHECK(a.empty());
}
