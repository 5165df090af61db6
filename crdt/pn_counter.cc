#include "crdt/pn_counter.h"

#include <limits>

namespace deltakv::crdt {

namespace {
constexpr Int128 kMin = std::numeric_limits<int64_t>::min();
constexpr Int128 kMax = std::numeric_limits<int64_t>::max();
}  // namespace

Result<PNCounter> PNCounter::Increment(ReplicaId replica, int64_t by) {
  PNCounter delta;
  if (by == 0) return delta;
  Int128 next = total_ + by;
  if (next < kMin || next > kMax) {
    return Status::InvalidArgument(
        "counter overflow: value would leave the "
        "int64 range");
  }
  auto it = entries_.find(replica);
  Entry entry = it == entries_.end() ? Entry{} : it->second;
  if (by > 0) {
    uint64_t add = static_cast<uint64_t>(by);
    if (entry.increments > std::numeric_limits<uint64_t>::max() - add) {
      return Status::InvalidArgument("counter overflow: increment total");
    }
    entry.increments += add;
  } else {
    // -(INT64_MIN) does not fit int64; compute the magnitude in uint64.
    uint64_t sub = static_cast<uint64_t>(-(by + 1)) + 1;
    if (entry.decrements > std::numeric_limits<uint64_t>::max() - sub) {
      return Status::InvalidArgument("counter overflow: decrement total");
    }
    entry.decrements += sub;
  }
  Raise(replica, entry);
  delta.Raise(replica, entry);
  return delta;
}

bool PNCounter::IsLive(ReplicaId replica) const {
  auto e = entries_.find(replica);
  if (e == entries_.end()) return false;
  auto f = floors_.find(replica);
  if (f == floors_.end()) return true;
  return e->second.increments > f->second.increments ||
         e->second.decrements > f->second.decrements;
}

void PNCounter::RaiseFloor(ReplicaId replica, const Entry& floor) {
  const bool was = IsLive(replica);
  Entry& mine = floors_[replica];
  if (floor.increments > mine.increments) {
    total_ -= static_cast<Int128>(floor.increments - mine.increments);
    mine.increments = floor.increments;
  }
  if (floor.decrements > mine.decrements) {
    total_ += static_cast<Int128>(floor.decrements - mine.decrements);
    mine.decrements = floor.decrements;
  }
  const bool now = IsLive(replica);
  live_count_ += now;
  live_count_ -= was;
}

PNCounter PNCounter::Reset() {
  PNCounter delta;
  for (const auto& [replica, entry] : entries_) {
    delta.Raise(replica, entry);
    delta.RaiseFloor(replica, entry);
  }
  Join(delta);
  return delta;
}

void PNCounter::Raise(ReplicaId replica, const Entry& entry) {
  const bool was = IsLive(replica);
  Entry& mine = entries_[replica];
  if (entry.increments > mine.increments) {
    total_ += static_cast<Int128>(entry.increments - mine.increments);
    mine.increments = entry.increments;
  }
  if (entry.decrements > mine.decrements) {
    total_ -= static_cast<Int128>(entry.decrements - mine.decrements);
    mine.decrements = entry.decrements;
  }
  const bool now = IsLive(replica);
  live_count_ += now;
  live_count_ -= was;
}

void PNCounter::Join(const PNCounter& other) {
  if (&other == this) return;
  for (const auto& [replica, entry] : other.entries_) Raise(replica, entry);
  for (const auto& [replica, floor] : other.floors_) RaiseFloor(replica, floor);
}

void PNCounter::SetEntry(ReplicaId replica, Entry entry) {
  PNCounter one;
  one.Raise(replica, entry);
  Join(one);
}

void PNCounter::SetFloor(ReplicaId replica, Entry floor) {
  PNCounter one;
  one.RaiseFloor(replica, floor);
  Join(one);
}

Result<int64_t> PNCounter::Value() const {
  if (total_ < kMin || total_ > kMax) {
    return Status::InvalidArgument(
        "counter value outside the int64 range after concurrent updates");
  }
  return static_cast<int64_t>(total_);
}

}  // namespace deltakv::crdt
