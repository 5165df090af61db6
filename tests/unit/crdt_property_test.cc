// Property tests for every CRDT type, over random histories on 3 replicas:
// - the join laws (commutative, associative, idempotent);
// - delta == state: joining every delta, in any order, with duplicates,
//   drops and later retransmission, equals joining the full states;
// - convergence, and the value against a model of the type's semantics.
#include <rapidcheck/catch.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/hlc.h"
#include "crdt/aw_or_set.h"
#include "crdt/lww_register.h"
#include "crdt/mv_register.h"
#include "crdt/or_register.h"
#include "crdt/pn_counter.h"

namespace crdt = deltakv::crdt;
using deltakv::HlcTimestamp;
using deltakv::HybridClock;
using deltakv::ReplicaId;

namespace {

constexpr int kReplicas = 3;

// One event of a history, for the models.
struct Event {
  int replica = 0;
  int kind = 0;        // type-specific
  std::string arg;     // member or value
  int64_t amount = 0;  // counter increment
  HlcTimestamp stamp;  // register write
  std::set<int> seen;  // events visible at the origin when it happened
};

template <typename T>
struct History {
  std::array<T, kReplicas> replicas;
  std::array<std::set<int>, kReplicas> seen;  // model visibility per replica
  std::vector<T> deltas;
  std::vector<Event> events;
  // Register clocks, with a skewed, jumping wall clock per replica.
  std::array<uint64_t, kReplicas> wall{};
  std::vector<std::unique_ptr<HybridClock>> clocks;

  History() {
    for (int i = 0; i < kReplicas; ++i) {
      wall[i] = 1'000'000 + static_cast<uint64_t>(i) * 7;
      uint64_t* w = &wall[i];
      clocks.push_back(std::make_unique<HybridClock>([w] { return *w; }));
    }
  }
};

ReplicaId IdOf(int replica) { return ReplicaId(uint64_t(replica) + 1); }

std::string GenMember() {
  return *rc::gen::element<std::string>("a", "b", "c", "d", "e",
                                        std::string("\0z", 2));
}

// Runs a random history. `op(history, replica, event)` performs one random
// operation at `replica`, fills `event` and returns its delta (nullopt when
// the operation failed and changed nothing). With `deliver_deltas`, replicas
// also receive random deltas out of order (the models then do not apply:
// visibility through single deltas is not causal).
template <typename T, typename Op>
History<T> RunHistory(Op op, bool deliver_deltas) {
  History<T> h;
  const int steps = *rc::gen::inRange(1, 50);
  for (int s = 0; s < steps; ++s) {
    const int r = *rc::gen::inRange(0, kReplicas);
    const int action = *rc::gen::inRange(0, 10);
    if (action < 6) {
      Event ev;
      ev.replica = r;
      ev.seen = h.seen[r];
      std::optional<T> delta = op(h, r, ev);
      if (!delta) continue;
      const int id = static_cast<int>(h.events.size());
      h.events.push_back(std::move(ev));
      h.seen[r].insert(id);
      h.deltas.push_back(std::move(*delta));
    } else if (action < 8 && deliver_deltas && !h.deltas.empty()) {
      const size_t i = *rc::gen::inRange<size_t>(0, h.deltas.size());
      h.replicas[r].Join(h.deltas[i]);
    } else {
      const int from = (r + *rc::gen::inRange(1, kReplicas)) % kReplicas;
      h.replicas[r].Join(h.replicas[from]);
      h.seen[r].insert(h.seen[from].begin(), h.seen[from].end());
    }
  }
  return h;
}

template <typename T>
T JoinAll(const std::array<T, kReplicas>& states) {
  T all = states[0];
  for (int i = 1; i < kReplicas; ++i) all.Join(states[i]);
  return all;
}

// Joins the deltas into an empty state the way a lossy network would: a
// shuffled stream with duplicates, part of it dropped, the dropped part
// retransmitted later in another order.
template <typename T>
T DeliverLossy(const std::vector<T>& deltas) {
  std::vector<size_t> order(deltas.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const auto dup = *rc::gen::container<std::vector<size_t>>(
      rc::gen::inRange<size_t>(0, std::max<size_t>(deltas.size(), 1)));
  for (size_t i : dup) {
    if (i < deltas.size()) order.push_back(i);
  }
  // Shuffle with a seed drawn from RapidCheck so failures reproduce.
  std::mt19937 rng(*rc::gen::arbitrary<uint32_t>());
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<size_t> dropped;
  T state;
  for (size_t i : order) {
    if (rng() % 4 == 0) {
      dropped.push_back(i);
    } else {
      state.Join(deltas[i]);
    }
  }
  std::shuffle(dropped.begin(), dropped.end(), rng);
  for (size_t i : dropped) state.Join(deltas[i]);
  return state;
}

// The checks every type shares.
template <typename T>
void CheckLawsAndConvergence(const History<T>& h) {
  const T& a = h.replicas[0];
  const T& b = h.replicas[1];
  const T& c = h.replicas[2];
  auto join = [](T x, const T& y) {
    x.Join(y);
    return x;
  };
  RC_ASSERT(join(a, b) == join(b, a));                    // commutative
  RC_ASSERT(join(join(a, b), c) == join(a, join(b, c)));  // associative
  RC_ASSERT(join(a, a) == a);                             // idempotent
  RC_ASSERT(join(join(a, b), a) == join(a, b));           // inflation
  if (!h.deltas.empty()) {
    const T& d = h.deltas[h.deltas.size() / 2];
    RC_ASSERT(join(a, d) == join(d, a));
    RC_ASSERT(join(join(a, d), d) == join(a, d));
  }
  const T full = JoinAll(h.replicas);
  RC_ASSERT(DeliverLossy(h.deltas) == full);  // delta == state
  for (const T& r : h.replicas) RC_ASSERT(join(r, full) == full);
}

// ------------------------------------------------------------------ counter

enum CounterKind { kIncrement, kReset };

std::optional<crdt::PNCounter> CounterOp(History<crdt::PNCounter>& h, int r,
                                         Event& ev) {
  if (*rc::gen::inRange(0, 10) == 0) {
    ev.kind = kReset;
    auto d = h.replicas[r].Reset();
    RC_ASSERT(*h.replicas[r].Value() == 0);
    RC_ASSERT(!h.replicas[r].live());
    return d;
  }
  ev.kind = kIncrement;
  // Mostly small amounts; sometimes huge ones to reach the overflow checks.
  const int64_t by = *rc::gen::weightedOneOf<int64_t>(
      {{8, rc::gen::inRange<int64_t>(-1000, 1001)},
       {1, rc::gen::arbitrary<int64_t>()}});
  auto delta = h.replicas[r].Increment(IdOf(r), by);
  if (!delta.ok()) {
    RC_ASSERT(delta.status().code() == deltakv::Code::kInvalidArgument);
    return std::nullopt;
  }
  ev.amount = by;
  return std::move(delta).value();
}

TEST_CASE("counter: join laws, delta == state and the sum of increments") {
  rc::prop("random histories with delta delivery", [] {
    CheckLawsAndConvergence(RunHistory<crdt::PNCounter>(CounterOp, true));
  });
  rc::prop("value = increments that no reset observed", [] {
    auto h = RunHistory<crdt::PNCounter>(CounterOp, false);
    CheckLawsAndConvergence(h);
    const crdt::PNCounter full = JoinAll(h.replicas);
    crdt::Int128 sum = 0;
    bool any = false;
    for (int i = 0; i < static_cast<int>(h.events.size()); ++i) {
      if (h.events[i].kind != kIncrement || h.events[i].amount == 0) continue;
      bool observed = false;
      for (const Event& ev : h.events) {
        if (ev.kind == kReset && ev.seen.count(i)) observed = true;
      }
      if (!observed) {
        sum += h.events[i].amount;
        any = true;
      }
    }
    RC_ASSERT(full.live() == any);
    auto value = full.Value();
    if (sum >= INT64_MIN && sum <= INT64_MAX) {
      RC_ASSERT(value.ok());
      RC_ASSERT(*value == static_cast<int64_t>(sum));
    } else {
      RC_ASSERT(!value.ok());
    }
  });
}

// ------------------------------------------------------------- LWW register

std::optional<crdt::LWWRegister> LwwOp(History<crdt::LWWRegister>& h, int r,
                                       Event& ev) {
  // The wall clock moves forward or jumps back.
  const int step = *rc::gen::inRange(-50, 100);
  h.wall[r] = static_cast<uint64_t>(static_cast<int64_t>(h.wall[r]) + step);
  // A replica has seen what its state holds.
  HybridClock& clock = *h.clocks[r];
  if (!h.replicas[r].empty()) {
    RC_ASSERT(clock.Update(h.replicas[r].timestamp()).ok());
  }
  ev.arg = *rc::gen::container<std::string>(rc::gen::inRange('a', 'f'));
  ev.stamp = clock.Now();
  // A local write always wins over what this replica has seen.
  auto delta = h.replicas[r].Set(ev.stamp, IdOf(r), ev.arg);
  RC_ASSERT(h.replicas[r].value() == ev.arg);
  return delta;
}

TEST_CASE("register: join laws, delta == state and the largest stamp wins") {
  rc::prop("random histories", [] {
    auto h = RunHistory<crdt::LWWRegister>(LwwOp, true);
    CheckLawsAndConvergence(h);
    const crdt::LWWRegister full = JoinAll(h.replicas);
    if (h.events.empty()) {
      RC_ASSERT(full.empty());
      return;
    }
    const Event* best = &h.events[0];
    for (const Event& ev : h.events) {
      auto key = [](const Event& e) {
        return std::make_tuple(e.stamp, e.replica, e.arg);
      };
      if (key(ev) > key(*best)) best = &ev;
    }
    RC_ASSERT(full.value() == best->arg);
    RC_ASSERT(full.timestamp() == best->stamp);
  });
}

// -------------------------------------------------------------- MV register

std::optional<crdt::MVRegister> MvOp(History<crdt::MVRegister>& h, int r,
                                     Event& ev) {
  ev.arg = *rc::gen::container<std::string>(rc::gen::inRange('a', 'f'));
  return h.replicas[r].Write(IdOf(r), ev.arg);
}

TEST_CASE("mvregister: join laws, delta == state and concurrent values") {
  rc::prop("random histories with delta delivery", [] {
    CheckLawsAndConvergence(RunHistory<crdt::MVRegister>(MvOp, true));
  });
  rc::prop("values are the writes no later write has seen", [] {
    auto h = RunHistory<crdt::MVRegister>(MvOp, false);
    CheckLawsAndConvergence(h);
    std::set<int> overwritten;
    for (const Event& ev : h.events) {
      overwritten.insert(ev.seen.begin(), ev.seen.end());
    }
    std::set<std::string> expect;
    for (int i = 0; i < static_cast<int>(h.events.size()); ++i) {
      if (!overwritten.count(i)) expect.insert(h.events[i].arg);
    }
    auto got = JoinAll(h.replicas).Read();
    RC_ASSERT(std::set<std::string>(got.begin(), got.end()) == expect);
  });
}

// ------------------------------------------- observed-remove LWW register

enum RegisterKind { kWrite, kDelete, kLegacyWrite };

std::optional<crdt::ORRegister> OrOp(History<crdt::ORRegister>& h, int r,
                                     Event& ev) {
  const int step = *rc::gen::inRange(-50, 100);
  h.wall[r] = static_cast<uint64_t>(static_cast<int64_t>(h.wall[r]) + step);
  HybridClock& clock = *h.clocks[r];
  crdt::ORRegister& reg = h.replicas[r];
  if (!reg.MaxTimestamp().is_zero()) {
    RC_ASSERT(clock.Update(reg.MaxTimestamp()).ok());
  }
  ev.kind = *rc::gen::weightedElement<int>(
      {{6, kWrite}, {3, kDelete}, {1, kLegacyWrite}});
  ev.arg = *rc::gen::container<std::string>(rc::gen::inRange('a', 'f'));
  ev.stamp = clock.Now();
  switch (ev.kind) {
    case kWrite: {
      auto d = reg.Set(ev.stamp, IdOf(r), ev.arg);
      RC_ASSERT(reg.Writes().size() == 1);  // supersedes all it has seen
      RC_ASSERT(reg.Winner()->value == ev.arg);
      return d;
    }
    case kDelete: {
      auto d = reg.Clear();
      RC_ASSERT(reg.empty());
      RC_ASSERT(d.entries().empty());
      return d;
    }
    default: {
      // A write from before writes were dotted (an old peer's delta).
      auto d = crdt::ORRegister::FromLegacy(
          crdt::LWWRegister(ev.stamp, IdOf(r), ev.arg));
      reg.Join(d);
      return d;
    }
  }
}

// The model: a dotted write survives iff no write or delete has seen it;
// the largest legacy write survives iff no write or delete has seen a
// legacy write with its (timestamp, replica). Reads return the surviving
// write with the largest (timestamp, replica, value).
std::optional<std::tuple<HlcTimestamp, int, std::string>> OrModel(
    const std::vector<Event>& events) {
  auto removes = [&](int i) {
    for (const Event& ev : events) {
      if (ev.kind != kLegacyWrite && ev.seen.count(i)) return true;
    }
    return false;
  };
  auto key = [](const Event& e) {
    return std::make_tuple(e.stamp, e.replica, e.arg);
  };
  std::optional<std::tuple<HlcTimestamp, int, std::string>> best;
  auto offer = [&](const Event& e) {
    if (!best || key(e) > *best) best = key(e);
  };
  int legacy = -1;
  for (int i = 0; i < static_cast<int>(events.size()); ++i) {
    const Event& e = events[i];
    if (e.kind == kWrite && !removes(i)) offer(e);
    if (e.kind == kLegacyWrite &&
        (legacy < 0 || key(e) > key(events[legacy]))) {
      legacy = i;
    }
  }
  if (legacy >= 0) {
    bool floored = false;
    for (int i = 0; i < static_cast<int>(events.size()); ++i) {
      const Event& e = events[i];
      if (e.kind == kLegacyWrite && e.stamp == events[legacy].stamp &&
          e.replica == events[legacy].replica && removes(i)) {
        floored = true;
      }
    }
    if (!floored) offer(events[legacy]);
  }
  return best;
}

void CheckOrModel(const History<crdt::ORRegister>& h) {
  const auto expect = OrModel(h.events);
  const crdt::ORRegister full = JoinAll(h.replicas);
  const auto got = full.Winner();  // points into `full`
  RC_ASSERT(got.has_value() == expect.has_value());
  if (!got) return;
  RC_ASSERT(got->timestamp == std::get<0>(*expect));
  RC_ASSERT(got->replica == IdOf(std::get<1>(*expect)));
  RC_ASSERT(std::string(got->value) == std::get<2>(*expect));
}

TEST_CASE(
    "register: join laws, delta == state and observed-remove deletes with "
    "last-writer-wins reads") {
  rc::prop("random histories with delta delivery", [] {
    CheckLawsAndConvergence(RunHistory<crdt::ORRegister>(OrOp, true));
  });
  rc::prop("the read is the largest write no write or delete has seen", [] {
    auto h = RunHistory<crdt::ORRegister>(OrOp, false);
    CheckLawsAndConvergence(h);
    CheckOrModel(h);
  });
  rc::prop("a write survives a concurrent delete with a later clock", [] {
    // Random shared past, then b writes while a, whose clock is ahead and
    // which has not seen b's write, deletes; deltas cross in any order.
    auto h = RunHistory<crdt::ORRegister>(OrOp, false);
    crdt::ORRegister a = h.replicas[0], b = h.replicas[1];
    a.Join(b);
    b.Join(a);
    const uint64_t base = std::max(a.MaxTimestamp(), b.MaxTimestamp()).packed();
    const std::string value = "from-b";
    auto write = b.Set(HlcTimestamp(base + 1), IdOf(1), value);
    auto del = a.Clear();  // stamped "later": a delete carries no stamp
    const bool a_first = *rc::gen::arbitrary<bool>();
    if (a_first) b.Join(del);
    a.Join(write);
    if (!a_first) b.Join(del);
    a.Join(del);  // duplicates change nothing
    RC_ASSERT(a == b);
    RC_ASSERT(a.Writes().size() == 1);
    RC_ASSERT(std::string(a.Winner()->value) == value);
  });
}

// ------------------------------------------------------------------ OR-set

enum SetKind { kAdd, kRemove, kClear };

std::optional<crdt::AWORSet> SetOp(History<crdt::AWORSet>& h, int r,
                                   Event& ev) {
  ev.kind =
      *rc::gen::weightedElement<int>({{6, kAdd}, {3, kRemove}, {1, kClear}});
  crdt::AWORSet& s = h.replicas[r];
  switch (ev.kind) {
    case kAdd: {
      ev.arg = GenMember();
      auto d = s.Add(IdOf(r), ev.arg);
      RC_ASSERT(s.Contains(ev.arg));
      return d;
    }
    case kRemove: {
      ev.arg = GenMember();
      auto d = s.Remove(ev.arg);
      RC_ASSERT(!s.Contains(ev.arg));
      return d;
    }
    default: {
      auto d = s.Clear();
      RC_ASSERT(s.empty());
      return d;
    }
  }
}

TEST_CASE("set: join laws, delta == state and add-wins semantics") {
  rc::prop("random histories with delta delivery", [] {
    CheckLawsAndConvergence(RunHistory<crdt::AWORSet>(SetOp, true));
  });
  rc::prop("a member is present iff some add of it was seen by no remove", [] {
    auto h = RunHistory<crdt::AWORSet>(SetOp, false);
    CheckLawsAndConvergence(h);
    std::set<std::string> expect;
    for (int a = 0; a < static_cast<int>(h.events.size()); ++a) {
      const Event& add = h.events[a];
      if (add.kind != kAdd) continue;
      bool removed = false;
      for (const Event& rm : h.events) {
        bool covers =
            rm.kind == kClear || (rm.kind == kRemove && rm.arg == add.arg);
        if (covers && rm.seen.count(a)) removed = true;
      }
      if (!removed) expect.insert(add.arg);
    }
    auto got = JoinAll(h.replicas).Members();
    RC_ASSERT(std::set<std::string>(got.begin(), got.end()) == expect);
  });
}

}  // namespace
