#include <catch2/catch.hpp>

#include <string>

#include "crdt/aw_or_set.h"
#include "crdt/codec.h"

using deltakv::ReplicaId;
using deltakv::crdt::AWORSet;

namespace {
const ReplicaId kA(1), kB(2);
}

TEST_CASE("add and remove on one replica behave like a set") {
  AWORSet s;
  s.Add(kA, "x");
  s.Add(kA, "y");
  s.Add(kA, "x");
  CHECK(s.size() == 2);
  CHECK(s.entries().at("x").size() == 1);  // re-add replaced the old dot
  s.Remove("x");
  CHECK_FALSE(s.Contains("x"));
  CHECK(s.Members() == std::vector<std::string>{"y"});
  CHECK(s.Remove("absent").empty());
}

TEST_CASE("a concurrent add wins over a remove") {
  AWORSet a, b;
  b.Join(a.Add(kA, "m"));
  auto rm = a.Remove("m");
  auto add = b.Add(kB, "m");
  a.Join(add);
  b.Join(rm);
  CHECK(a.Contains("m"));
  CHECK(b.Contains("m"));
  CHECK(a == b);
}

TEST_CASE(
    "a remove that arrives before the add it observed still removes "
    "it") {
  AWORSet a, b, c;
  auto add = a.Add(kA, "m");
  b.Join(add);
  auto rm = b.Remove("m");
  c.Join(rm);
  c.Join(add);
  CHECK_FALSE(c.Contains("m"));
}

TEST_CASE("clear removes everything observed, not concurrent adds") {
  AWORSet a, b;
  b.Join(a.Add(kA, "x"));
  b.Join(a.Add(kA, "y"));
  auto clear = b.Clear();
  auto add = a.Add(kA, "z");
  a.Join(clear);
  b.Join(add);
  CHECK(a.Members() == std::vector<std::string>{"z"});
  CHECK(a == b);
}

TEST_CASE("copies are independent and keep a working index") {
  AWORSet a;
  a.Add(kA, "x");
  AWORSet b = a;
  a.Remove("x");
  CHECK(b.Contains("x"));
  b.Remove("x");
  CHECK(b.empty());
  AWORSet c;
  c = a;
  c.Add(kB, "q");
  CHECK_FALSE(a.Contains("q"));
}

TEST_CASE("joining a one-member delta touches only that member") {
  AWORSet big;
  for (int i = 0; i < 20000; ++i) big.Add(kA, "m" + std::to_string(i));
  AWORSet other = big;
  auto d = other.Remove("m123");
  big.Join(d);
  CHECK(big.size() == 19999);
  CHECK_FALSE(big.Contains("m123"));
  CHECK(big.Contains("m124"));
}

TEST_CASE("AWORSet::Clear builds a compact context") {
  // 10,000 members whose live dots are contiguous (10,001..20,000) but do
  // not start at 1: each was added, then added again.
  AWORSet s;
  for (int i = 0; i < 10000; ++i) s.Add(kA, "m" + std::to_string(i));
  for (int i = 0; i < 10000; ++i) s.Add(kA, "m" + std::to_string(i));
  AWORSet replica = s;
  AWORSet d = s.Clear();
  CHECK(s.empty());
  CHECK(d.empty());
  CHECK(d.context().entry_count() == 1);
  CHECK(deltakv::crdt::Encode(d).size() < 64);
  replica.Join(d);
  CHECK(replica.empty());
  CHECK(replica == s);
}

TEST_CASE("AWORSet::Clear of an empty set is an empty delta") {
  AWORSet s;
  s.Add(kA, "x");
  s.Remove("x");
  CHECK(s.Clear().context().empty());
}
