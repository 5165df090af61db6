#include <rapidcheck/catch.h>
#include <catch2/catch.hpp>

#include <set>

#include "crdt/causal_context.h"

using deltakv::Dot;
using deltakv::ReplicaId;
using deltakv::crdt::CausalContext;

namespace {
const ReplicaId kA(1), kB(2);
}

TEST_CASE("contiguous dots compact into the version vector") {
  CausalContext cc;
  cc.Insert(Dot{kA, 1});
  cc.Insert(Dot{kA, 3});
  CHECK(cc.dot_cloud().size() == 1);
  cc.Insert(Dot{kA, 2});
  CHECK(cc.dot_cloud().empty());
  CHECK(cc.version_vector().at(kA) == 3);
  CHECK(cc.Contains(Dot{kA, 2}));
  CHECK_FALSE(cc.Contains(Dot{kA, 4}));
  CHECK_FALSE(cc.Contains(Dot{kB, 1}));
}

TEST_CASE("MakeDot continues after the highest dot, cloud included") {
  CausalContext cc;
  cc.Insert(Dot{kA, 5});
  CHECK(cc.Max(kA) == 5);
  CHECK(cc.MakeDot(kA) == Dot{kA, 6});
  CHECK(cc.MakeDot(kB) == Dot{kB, 1});
  CHECK(cc.Max(ReplicaId(UINT64_MAX)) == 0);
}

TEST_CASE("join is the union of dots and compacts across both sides") {
  CausalContext x, y;
  x.Insert(Dot{kA, 1});
  x.Insert(Dot{kA, 3});
  y.Insert(Dot{kA, 2});
  y.Insert(Dot{kB, 2});
  x.Join(y);
  CHECK(x.version_vector().at(kA) == 3);
  CHECK(x.Contains(Dot{kB, 2}));
  CHECK_FALSE(x.Contains(Dot{kB, 1}));
}

TEST_CASE("a context contains exactly the dots inserted into it") {
  rc::prop("model: std::set of dots", [] {
    auto dots = *rc::gen::container<std::vector<std::pair<int, int>>>(
        rc::gen::pair(rc::gen::inRange(1, 4), rc::gen::inRange(1, 12)));
    CausalContext cc, other;
    std::set<Dot> model;
    for (size_t i = 0; i < dots.size(); ++i) {
      Dot d{ReplicaId(uint64_t(dots[i].first)), uint64_t(dots[i].second)};
      model.insert(d);
      (i % 2 ? cc : other).Insert(d);
    }
    cc.Join(other);
    for (int r = 1; r < 4; ++r) {
      for (int c = 1; c < 14; ++c) {
        Dot d{ReplicaId(uint64_t(r)), uint64_t(c)};
        RC_ASSERT(cc.Contains(d) == (model.count(d) == 1));
      }
    }
    // Canonical form: no cloud dot is contiguous with the vector.
    for (const Dot& d : cc.dot_cloud()) {
      auto it = cc.version_vector().find(d.replica);
      uint64_t n = it == cc.version_vector().end() ? 0 : it->second;
      RC_ASSERT(d.counter > n + 1);
    }
  });
}
