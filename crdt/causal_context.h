// CausalContext: the set of dots a replica has seen, kept compact.
//
// Stored as a version vector (every dot (r, 1..n) for each replica r) plus a
// "dot cloud" of dots that are not yet contiguous with the vector. Inserting
// the missing dots folds the cloud into the vector (compaction), so a context
// built from causally delivered deltas is a plain version vector.
// Almeida, Shoker, Baquero, "Delta State Replicated Data Types", section 5.
//
// Thread-safety: a value; no internal synchronisation.
#ifndef DELTAKV_CRDT_CAUSAL_CONTEXT_H_
#define DELTAKV_CRDT_CAUSAL_CONTEXT_H_

#include <cstdint>
#include <map>
#include <set>

#include "core/ids.h"

namespace deltakv::crdt {

class CausalContext {
 public:
  using VersionVector = std::map<ReplicaId, uint64_t>;

  bool Contains(const Dot& dot) const;

  // The highest counter of `replica` in the context (vector or cloud); 0 if
  // none.
  uint64_t Max(ReplicaId replica) const;

  // The next dot of `replica` (Max + 1), inserted into the context.
  Dot MakeDot(ReplicaId replica);

  // Adds one dot, folding the cloud into the vector where it becomes
  // contiguous. Inserting a dot already contained is not an error.
  void Insert(const Dot& dot);

  // Sets union. Cost is proportional to `other` plus the part of this
  // context's cloud that belongs to replicas named in `other`.
  void Join(const CausalContext& other);

  // Calls fn(Dot) for every dot in the context whose counter is at most
  // `limit` (the vector expands into (r, 1..n)); used by tests and small
  // contexts only, as a vector entry may stand for many dots.
  template <typename Fn>
  void ForEachDot(Fn&& fn) const {
    for (const auto& [replica, n] : vv_) {
      for (uint64_t c = 1; c <= n; ++c) fn(Dot{replica, c});
    }
    for (const Dot& d : cloud_) fn(d);
  }

  const VersionVector& version_vector() const { return vv_; }
  const std::set<Dot>& dot_cloud() const { return cloud_; }
  bool empty() const { return vv_.empty() && cloud_.empty(); }

  // Number of entries (vector entries + cloud dots): the encoded size, not
  // the number of dots.
  size_t entry_count() const { return vv_.size() + cloud_.size(); }

  // For decoders: the vector entry for `replica` (counter 0 is ignored).
  void SetVectorEntry(ReplicaId replica, uint64_t counter);

  bool operator==(const CausalContext& other) const = default;

 private:
  // Folds cloud dots of `replica` that are now covered by, or contiguous
  // with, its vector entry.
  void CompactReplica(ReplicaId replica);

  VersionVector vv_;     // replica -> n: dots (replica, 1..n) are contained
  std::set<Dot> cloud_;  // contained dots beyond their replica's vector entry
};

}  // namespace deltakv::crdt

#endif  // DELTAKV_CRDT_CAUSAL_CONTEXT_H_
