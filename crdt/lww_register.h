// LWWRegister: last-writer-wins register of bytes, ordered by hybrid logical
// clock timestamp, ties broken by replica id (then by value bytes, so that
// join stays deterministic even if a replica reused a timestamp).
//
// The empty register (timestamp zero) loses to every write.
//
// Thread-safety: a value; no internal synchronisation.
#ifndef DELTAKV_CRDT_LWW_REGISTER_H_
#define DELTAKV_CRDT_LWW_REGISTER_H_

#include <string>
#include <string_view>

#include "core/hlc.h"
#include "core/ids.h"

namespace deltakv::crdt {

class LWWRegister {
 public:
  LWWRegister() = default;
  LWWRegister(HlcTimestamp timestamp, ReplicaId replica, std::string value)
      : timestamp_(timestamp), replica_(replica), value_(std::move(value)) {}

  // Writes `value` stamped (timestamp, replica) and returns the delta (a
  // register holding just this write). Callers pass a timestamp from their
  // HybridClock, which makes it newer than anything the replica has seen; an
  // older stamp is not an error, it simply loses the join.
  LWWRegister Set(HlcTimestamp timestamp, ReplicaId replica, std::string value);

  // Keeps the larger of the two writes. O(value size).
  void Join(const LWWRegister& other);

  bool empty() const { return timestamp_.is_zero(); }
  HlcTimestamp timestamp() const { return timestamp_; }
  ReplicaId replica() const { return replica_; }
  const std::string& value() const { return value_; }

  // True when (timestamp, replica, value) of this write orders after other's.
  bool WinsOver(const LWWRegister& other) const;

  bool operator==(const LWWRegister&) const = default;

 private:
  HlcTimestamp timestamp_;
  ReplicaId replica_;
  std::string value_;
};

}  // namespace deltakv::crdt

#endif  // DELTAKV_CRDT_LWW_REGISTER_H_
