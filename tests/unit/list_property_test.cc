// Property tests of the list CRDT over random histories:
// - one replica behaves exactly like a std::vector<std::string>;
// - three replicas editing concurrently, with deltas delivered in random
//   order, duplicated and delayed, converge to one sequence (and one
//   encoding), with nothing left pending;
// - the join laws and delta == state;
// - the codec round trip of any state reached that way.
#include <rapidcheck/catch.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <random>
#include <string>
#include <vector>

#include "crdt/list.h"
#include "crdt/list_codec.h"

namespace crdt = deltakv::crdt;
using deltakv::ReplicaId;
using Values = std::vector<std::string>;

namespace {

constexpr int kReplicas = 3;

std::vector<size_t> Shuffled(std::vector<size_t> v) {
  std::mt19937 g(*rc::gen::arbitrary<uint32_t>());
  std::shuffle(v.begin(), v.end(), g);
  return v;
}

std::string GenValue() {
  // Mostly one character (text), sometimes longer or empty values.
  switch (*rc::gen::inRange(0, 6)) {
    case 0:
      return *rc::gen::container<std::string>(rc::gen::arbitrary<char>());
    case 1:
      return "\xc3\xa9";
    default:
      return std::string(1, *rc::gen::inRange('a', 'z'));
  }
}

Values GenValues() {
  const int n = *rc::gen::inRange(0, 5);
  Values v;
  for (int i = 0; i < n; ++i) v.push_back(GenValue());
  return v;
}

// Applies one random local edit to `l` as `who`; returns its delta.
crdt::List RandomEdit(crdt::List& l, ReplicaId who) {
  const uint64_t n = l.size();
  const int kind = *rc::gen::inRange(0, 10);
  if (kind < 6 || n == 0) {
    const uint64_t at = *rc::gen::inRange<uint64_t>(0, n + 1);
    auto r = l.Insert(who, at, GenValues());
    RC_ASSERT(r.ok());
    return std::move(r).value();
  }
  const uint64_t at = *rc::gen::inRange<uint64_t>(0, n);
  const uint64_t count =
      *rc::gen::inRange<uint64_t>(0, std::min<uint64_t>(n - at, 4) + 1);
  auto r = l.Delete(at, count);
  RC_ASSERT(r.ok());
  return std::move(r).value();
}

// A random session: every replica edits; deltas travel in random order,
// some twice, some late.
struct Session {
  std::array<crdt::List, kReplicas> replicas;
  std::vector<crdt::List> deltas;
  std::array<std::vector<size_t>, kReplicas> own;  // delta indexes by origin

  void Run(int steps) {
    for (int s = 0; s < steps; ++s) {
      const int r = *rc::gen::inRange(0, kReplicas);
      if (*rc::gen::inRange(0, 3) == 0 && !deltas.empty()) {
        const size_t d = *rc::gen::inRange<size_t>(0, deltas.size());
        replicas[r].Join(deltas[d]);
      } else {
        own[r].push_back(deltas.size());
        deltas.push_back(
            RandomEdit(replicas[r], ReplicaId(static_cast<uint64_t>(r + 1))));
      }
    }
  }

  // Delivers every delta to every replica, shuffled, some duplicated.
  void DeliverAll() {
    for (auto& replica : replicas) {
      std::vector<size_t> order(deltas.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      order = Shuffled(order);
      const size_t dups = *rc::gen::inRange<size_t>(0, order.size() / 2 + 1);
      for (size_t i = 0; i < dups; ++i) order.push_back(order[i]);
      for (size_t i : order) replica.Join(deltas[i]);
    }
  }
};

}  // namespace

TEST_CASE("With one replica the list behaves exactly like a vector") {
  rc::prop("single replica == std::vector model", [] {
    crdt::List l;
    Values model;
    const int steps = *rc::gen::inRange(0, 60);
    for (int s = 0; s < steps; ++s) {
      const int kind = *rc::gen::inRange(0, 6);
      // Indexes may be out of range on purpose.
      const uint64_t at = *rc::gen::inRange<uint64_t>(0, model.size() + 2);
      if (kind <= 1) {
        const Values v = GenValues();
        auto r = l.Insert(ReplicaId(1), at, v);
        RC_ASSERT(r.ok() == (at <= model.size()));
        if (r.ok())
          model.insert(model.begin() + static_cast<long>(at), v.begin(),
                       v.end());
      } else if (kind == 2) {
        const Values v = GenValues();
        RC_ASSERT(l.PushFront(ReplicaId(1), v).ok());
        model.insert(model.begin(), v.begin(), v.end());
      } else if (kind == 3) {
        const Values v = GenValues();
        RC_ASSERT(l.PushBack(ReplicaId(1), v).ok());
        model.insert(model.end(), v.begin(), v.end());
      } else if (kind == 4) {
        const uint64_t count = *rc::gen::inRange<uint64_t>(0, 5);
        auto r = l.Delete(at, count);
        const bool valid = at <= model.size() && count <= model.size() - at;
        RC_ASSERT(r.ok() == valid);
        if (valid) {
          model.erase(model.begin() + static_cast<long>(at),
                      model.begin() + static_cast<long>(at + count));
        }
      } else {
        const uint64_t count = *rc::gen::inRange<uint64_t>(0, 5);
        auto r = l.Read(at, count);
        RC_ASSERT(r.ok() == (at <= model.size()));
        if (r.ok()) {
          const uint64_t end = std::min<uint64_t>(model.size(), at + count);
          RC_ASSERT(r.value() ==
                    Values(model.begin() + static_cast<long>(at),
                           model.begin() + static_cast<long>(end)));
        }
      }
      RC_ASSERT(l.size() == model.size());
    }
    RC_ASSERT(l.Values() == model);
    RC_ASSERT(!l.has_pending());
  });
}

TEST_CASE(
    "Concurrent sessions on three replicas converge in any delivery order") {
  rc::prop("convergence with shuffled, duplicated, delayed deltas", [] {
    Session s;
    s.Run(*rc::gen::inRange(0, 150));
    s.DeliverAll();
    const std::string first = crdt::Encode(s.replicas[0]);
    RC_CLASSIFY(s.replicas[0].size() > 20, "big");
    RC_CLASSIFY(s.deltas.size() > 30, "many deltas");
    for (const auto& r : s.replicas) {
      RC_ASSERT(!r.has_pending());
      RC_ASSERT(r.Values() == s.replicas[0].Values());
      RC_ASSERT(crdt::Encode(r) == first);
    }
  });
}

TEST_CASE("Join of list states is commutative, associative and idempotent") {
  rc::prop("join laws on states reached by partial delivery", [] {
    Session s;
    s.Run(*rc::gen::inRange(0, 120));
    const crdt::List& a = s.replicas[0];
    const crdt::List& b = s.replicas[1];
    const crdt::List& c = s.replicas[2];
    crdt::List ab = a, ba = b;
    ab.Join(b);
    ba.Join(a);
    RC_ASSERT(ab.Values() == ba.Values());
    RC_ASSERT(crdt::Encode(ab) == crdt::Encode(ba));
    crdt::List ab_c = ab, b_c = b;
    ab_c.Join(c);
    b_c.Join(c);
    crdt::List a_bc = a;
    a_bc.Join(b_c);
    RC_ASSERT(ab_c.Values() == a_bc.Values());
    RC_ASSERT(crdt::Encode(ab_c) == crdt::Encode(a_bc));
    crdt::List aa = a;
    aa.Join(a);
    RC_ASSERT(crdt::Encode(aa) == crdt::Encode(a));
  });
}

TEST_CASE("Joining the deltas of a history in any order equals its state") {
  rc::prop("delta == state", [] {
    Session s;
    s.Run(*rc::gen::inRange(0, 150));
    // Everything every replica produced or received is in `deltas`; a
    // fresh list joining all of them equals the join of all states.
    crdt::List from_states;
    for (const auto& r : s.replicas) from_states.Join(r);
    std::vector<size_t> order(s.deltas.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    order = Shuffled(order);
    crdt::List from_deltas;
    for (size_t i : order) from_deltas.Join(s.deltas[i]);
    RC_ASSERT(!from_deltas.has_pending());
    RC_ASSERT(from_deltas.Values() == from_states.Values());
    RC_ASSERT(crdt::Encode(from_deltas) == crdt::Encode(from_states));
    // Deltas can also be grouped first (a delta group is a delta).
    crdt::List group, rest;
    for (size_t k = 0; k < order.size(); ++k) {
      (k % 2 ? group : rest).Join(s.deltas[order[k]]);
    }
    rest.Join(group);
    RC_ASSERT(crdt::Encode(rest) == crdt::Encode(from_states));
  });
}

TEST_CASE("Any list state round-trips through the codec") {
  rc::prop("Decode(Encode(x)) == x", [] {
    Session s;
    s.Run(*rc::gen::inRange(0, 120));
    for (const auto& r : s.replicas) {
      const std::string bytes = crdt::Encode(r);
      crdt::List back;
      RC_ASSERT(crdt::Decode(bytes, &back).ok());
      RC_ASSERT(back.Values() == r.Values());
      RC_ASSERT(crdt::Encode(back) == bytes);
    }
    // A decoded delta is settled (runs whose origins it holds are placed),
    // so its bytes are canonical after one round, and it joins the same.
    for (const auto& d : s.deltas) {
      crdt::List back;
      RC_ASSERT(crdt::Decode(crdt::Encode(d), &back).ok());
      const std::string bytes = crdt::Encode(back);
      crdt::List again;
      RC_ASSERT(crdt::Decode(bytes, &again).ok());
      RC_ASSERT(crdt::Encode(again) == bytes);
      crdt::List x = s.replicas[0], y = s.replicas[0];
      x.Join(d);
      y.Join(back);
      RC_ASSERT(crdt::Encode(x) == crdt::Encode(y));
    }
  });
}
