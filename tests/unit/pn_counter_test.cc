#include <catch2/catch.hpp>

#include <cstdint>

#include "crdt/pn_counter.h"

using deltakv::Code;
using deltakv::ReplicaId;
using deltakv::crdt::PNCounter;

TEST_CASE("increments and decrements from several replicas add up") {
  PNCounter a, b;
  REQUIRE(a.Increment(ReplicaId(1), 10).ok());
  REQUIRE(b.Increment(ReplicaId(2), -3).ok());
  auto d = a.Increment(ReplicaId(1), 5);
  REQUIRE(d.ok());
  b.Join(*d);
  CHECK(*b.Value() == 12);  // saw only the delta carrying 1's total 15
  b.Join(a);
  CHECK(*b.Value() == 12);
  a.Join(b);
  CHECK(*a.Value() == 12);
  CHECK(a == b);
}

TEST_CASE(
    "a delta carries the replica's running total, so duplicates are "
    "harmless") {
  PNCounter s, r;
  auto d1 = *s.Increment(ReplicaId(1), 2);
  auto d2 = *s.Increment(ReplicaId(1), 2);
  r.Join(d2);
  r.Join(d1);
  r.Join(d2);
  CHECK(*r.Value() == 4);
}

TEST_CASE("overflow is an error and leaves the counter unchanged") {
  PNCounter c;
  REQUIRE(c.Increment(ReplicaId(1), INT64_MAX).ok());
  auto r = c.Increment(ReplicaId(1), 1);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK(*c.Value() == INT64_MAX);
  REQUIRE(c.Increment(ReplicaId(1), INT64_MIN).ok());
  CHECK(*c.Value() == -1);
  REQUIRE_FALSE(c.Increment(ReplicaId(1), INT64_MIN).ok());
  CHECK(*c.Value() == -1);
}

TEST_CASE(
    "concurrent increments past int64 make Value an error, not a "
    "wrap") {
  PNCounter a, b;
  REQUIRE(a.Increment(ReplicaId(1), INT64_MAX).ok());
  REQUIRE(b.Increment(ReplicaId(2), INT64_MAX).ok());
  a.Join(b);
  CHECK(a.Value().status().code() == Code::kInvalidArgument);
  // Bringing it back into range makes it readable again.
  REQUIRE(a.Increment(ReplicaId(1), INT64_MIN).ok());
  CHECK(*a.Value() == INT64_MAX - 1);
}

TEST_CASE("adding zero yields an empty delta") {
  PNCounter c;
  auto d = c.Increment(ReplicaId(1), 0);
  REQUIRE(d.ok());
  CHECK(d->empty());
  CHECK(c.empty());
}

TEST_CASE("a reset zeroes what it observed and keeps concurrent increments") {
  PNCounter a, b;
  b.Join(*a.Increment(ReplicaId(1), 10));
  auto reset = b.Reset();
  CHECK(*b.Value() == 0);
  CHECK_FALSE(b.live());
  auto concurrent = *a.Increment(ReplicaId(1), 5);  // total 15, unseen by b
  a.Join(reset);
  b.Join(concurrent);
  CHECK(*a.Value() == 5);
  CHECK(*b.Value() == 5);
  CHECK(a == b);
  CHECK(a.live());
}
