#include <catch2/catch.hpp>

#include "core/hlc.h"
#include "crdt/lww_register.h"
#include "crdt/mv_register.h"

using deltakv::HlcTimestamp;
using deltakv::HybridClock;
using deltakv::ReplicaId;
using deltakv::crdt::LWWRegister;
using deltakv::crdt::MVRegister;

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
