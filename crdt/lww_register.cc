#include "crdt/lww_register.h"

namespace deltakv::crdt {

bool LWWRegister::WinsOver(const LWWRegister& other) const {
  if (timestamp_ != other.timestamp_) return timestamp_ > other.timestamp_;
  if (replica_ != other.replica_) return replica_ > other.replica_;
  return value_ > other.value_;
}

LWWRegister LWWRegister::Set(HlcTimestamp timestamp, ReplicaId replica,
                             std::string value) {
  LWWRegister delta(timestamp, replica, std::move(value));
  Join(delta);
  return delta;
}

void LWWRegister::Join(const LWWRegister& other) {
  if (other.WinsOver(*this)) *this = other;
}

}  // namespace deltakv::crdt
