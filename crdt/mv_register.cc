#include "crdt/mv_register.h"

#include <algorithm>

namespace deltakv::crdt {

MVRegister MVRegister::Write(ReplicaId replica, std::string value) {
  MVRegister delta = Reset();
  Dot dot = context_.MakeDot(replica);
  delta.context_.Insert(dot);
  delta.values_.emplace(dot, value);
  values_.emplace(dot, std::move(value));
  return delta;
}

MVRegister MVRegister::Reset() {
  MVRegister delta;
  for (const auto& entry : values_) delta.context_.Insert(entry.first);
  values_.clear();
  return delta;
}

void MVRegister::Join(const MVRegister& other) {
  if (&other == this) return;
  // Drop ours that other has seen but no longer holds.
  for (auto it = values_.begin(); it != values_.end();) {
    if (other.context_.Contains(it->first) && !other.values_.count(it->first)) {
      it = values_.erase(it);
    } else {
      ++it;
    }
  }
  // Take theirs that we have not seen.
  for (const auto& [dot, value] : other.values_) {
    if (!context_.Contains(dot)) values_.emplace(dot, value);
  }
  context_.Join(other.context_);
}

std::vector<std::string> MVRegister::Read() const {
  std::vector<std::string> out;
  out.reserve(values_.size());
  for (const auto& entry : values_) out.push_back(entry.second);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace deltakv::crdt
