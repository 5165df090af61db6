// PNCounter: a delta-state counter of int64 that can go up and down.
//
// Each replica owns one entry (increments, decrements), both monotonically
// growing uint64 totals; join takes the per-replica maximum. The value is the
// sum of increments minus the sum of decrements. A mutation that would take
// the value (or an entry) outside its range fails with InvalidArgument and
// changes nothing; it never wraps.
//
// Reset (delete key) is an observed reset: it records the totals it has seen
// as per-replica floors, which also join by maximum; the value counts only
// what lies above the floors, so increments concurrent with a reset survive.
//
// Thread-safety: a value; no internal synchronisation.
#ifndef DELTAKV_CRDT_PN_COUNTER_H_
#define DELTAKV_CRDT_PN_COUNTER_H_

#include <cstdint>
#include <map>

#include "core/ids.h"
#include "deltakv/status.h"

namespace deltakv::crdt {

__extension__ typedef __int128 Int128;

class PNCounter {
 public:
  struct Entry {
    uint64_t increments = 0;
    uint64_t decrements = 0;
    bool operator==(const Entry&) const = default;
  };
  using Entries = std::map<ReplicaId, Entry>;

  // Adds `by` (may be negative) as `replica`; applies it to this state and
  // returns the delta (this replica's new entry). InvalidArgument on
  // overflow, with this state unchanged. Adding 0 returns an empty delta.
  Result<PNCounter> Increment(ReplicaId replica, int64_t by);

  // Resets the value to zero by flooring every entry observed so far; applies
  // it and returns the delta (the observed entries and their floors).
  PNCounter Reset();

  // Pointwise maximum of entries and floors. Cost is proportional to
  // `other`.
  void Join(const PNCounter& other);

  // The value; InvalidArgument when concurrent increments from several
  // replicas took the sum outside int64 (each replica checked only its own).
  Result<int64_t> Value() const;

  const Entries& entries() const { return entries_; }
  const Entries& floors() const { return floors_; }
  bool empty() const { return entries_.empty(); }
  // True when some entry lies above its floor: the counter has been written
  // since its last observed reset (its value may still be 0).
  bool live() const { return live_count_ > 0; }

  // For decoders: sets one entry or floor; the decoder checks floor <= entry.
  void SetEntry(ReplicaId replica, Entry entry);
  void SetFloor(ReplicaId replica, Entry floor);

  bool operator==(const PNCounter& other) const {
    return entries_ == other.entries_ && floors_ == other.floors_;
  }

 private:
  void Raise(ReplicaId replica, const Entry& entry);
  void RaiseFloor(ReplicaId replica, const Entry& floor);
  // Adjusts live_count_ around a change of `replica`'s entry or floor.
  bool IsLive(ReplicaId replica) const;

  Entries entries_;
  Entries floors_;         // observed totals at the last reset, per replica
  size_t live_count_ = 0;  // replicas whose entry lies above their floor
  Int128 total_ = 0;       // sum of increments - sum of decrements, cached
};

}  // namespace deltakv::crdt

#endif  // DELTAKV_CRDT_PN_COUNTER_H_
