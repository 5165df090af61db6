#include "crdt/causal_context.h"

#include <algorithm>

namespace deltakv::crdt {

bool CausalContext::Contains(const Dot& dot) const {
  auto it = vv_.find(dot.replica);
  if (it != vv_.end() && dot.counter <= it->second) return true;
  return cloud_.count(dot) != 0;
}

uint64_t CausalContext::Max(ReplicaId replica) const {
  uint64_t max = 0;
  auto it = vv_.find(replica);
  if (it != vv_.end()) max = it->second;
  // The last cloud dot of `replica` is the one before the first dot of the
  // next replica id.
  auto next = cloud_.lower_bound(Dot{ReplicaId(replica.value() + 1), 0});
  if (replica.value() == UINT64_MAX) next = cloud_.end();
  if (next != cloud_.begin()) {
    auto prev = std::prev(next);
    if (prev->replica == replica) max = std::max(max, prev->counter);
  }
  return max;
}

Dot CausalContext::MakeDot(ReplicaId replica) {
  Dot dot{replica, Max(replica) + 1};
  Insert(dot);
  return dot;
}

void CausalContext::Insert(const Dot& dot) {
  if (dot.counter == 0) return;
  uint64_t& n = vv_[dot.replica];
  if (dot.counter <= n) return;
  if (dot.counter == n + 1) {
    n = dot.counter;
    CompactReplica(dot.replica);
    return;
  }
  if (n == 0) vv_.erase(dot.replica);
  cloud_.insert(dot);
}

void CausalContext::SetVectorEntry(ReplicaId replica, uint64_t counter) {
  if (counter == 0) return;
  uint64_t& n = vv_[replica];
  n = std::max(n, counter);
  CompactReplica(replica);
}

void CausalContext::CompactReplica(ReplicaId replica) {
  auto vit = vv_.find(replica);
  uint64_t n = vit == vv_.end() ? 0 : vit->second;
  auto it = cloud_.lower_bound(Dot{replica, 0});
  while (it != cloud_.end() && it->replica == replica) {
    if (it->counter <= n) {
      it = cloud_.erase(it);
    } else if (it->counter == n + 1) {
      n = it->counter;
      it = cloud_.erase(it);
    } else {
      break;
    }
  }
  if (n != 0) {
    vv_[replica] = n;
  } else if (vit != vv_.end()) {
    vv_.erase(vit);
  }
}

void CausalContext::Join(const CausalContext& other) {
  if (&other == this) return;
  for (const auto& [replica, n] : other.vv_) {
    uint64_t& mine = vv_[replica];
    if (n > mine) {
      mine = n;
      CompactReplica(replica);
    }
  }
  for (const Dot& d : other.cloud_) Insert(d);
}

}  // namespace deltakv::crdt
