// PNCounter: a delta-state counter of int64 that can go up and down.
//
// Each replica owns one entry (increments, decrements), both monotonically
// growing uint64 totals; join takes the per-replica maximum. The value is the
// sum of increments minus the sum of decrements. A mutation that would take
// the value (or an entry) outside its range fails with InvalidArgument and
// changes nothing; it never wraps.
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

  // Pointwise maximum. Cost is proportional to `other`.
  void Join(const PNCounter& other);

  // The value; InvalidArgument when concurrent increments from several
  // replicas took the sum outside int64 (each replica checked only its own).
  Result<int64_t> Value() const;

  const Entries& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }

  // For decoders: sets one entry (no validation beyond the types).
  void SetEntry(ReplicaId replica, Entry entry);

  bool operator==(const PNCounter& other) const {
    return entries_ == other.entries_;
  }

 private:
  void Raise(ReplicaId replica, const Entry& entry);

  Entries entries_;
  Int128 total_ = 0;  // sum of increments - sum of decrements, cached
};

}  // namespace deltakv::crdt

#endif  // DELTAKV_CRDT_PN_COUNTER_H_
