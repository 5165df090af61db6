#include "crdt/or_register.h"

#include <algorithm>
#include <tuple>

namespace deltakv::crdt {

ORRegister ORRegister::FromLegacy(LWWRegister legacy) {
  ORRegister r;
  r.legacy_ = std::move(legacy);
  return r;
}

ORRegister ORRegister::Set(HlcTimestamp timestamp, ReplicaId replica,
                           std::string value) {
  ORRegister delta = Clear();
  const Dot dot = context_.MakeDot(replica);
  delta.context_.Insert(dot);
  Write w{timestamp, std::move(value)};
  delta.entries_.emplace(dot, w);
  entries_.emplace(dot, std::move(w));
  return delta;
}

ORRegister ORRegister::Clear() {
  ORRegister delta;
  for (const auto& entry : entries_) delta.context_.Insert(entry.first);
  entries_.clear();
  if (!legacy_.empty()) {
    delta.floor_ = StampOf(legacy_);
    floor_ = std::max(floor_, delta.floor_);
    legacy_ = LWWRegister();
  }
  return delta;
}

void ORRegister::Join(const ORRegister& other) {
  if (&other == this) return;
  // Drop ours that other has seen but no longer holds.
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (other.context_.Contains(it->first) &&
        !other.entries_.count(it->first)) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  // Take theirs that we have not seen.
  for (const auto& [dot, write] : other.entries_) {
    if (!context_.Contains(dot)) entries_.emplace(dot, write);
  }
  context_.Join(other.context_);
  legacy_.Join(other.legacy_);
  floor_ = std::max(floor_, other.floor_);
  DropFlooredLegacy();
}

void ORRegister::DropFlooredLegacy() {
  if (!legacy_.empty() && StampOf(legacy_) <= floor_) legacy_ = LWWRegister();
}

std::vector<ORRegister::WriteView> ORRegister::Writes() const {
  std::vector<WriteView> out;
  out.reserve(entries_.size() + 1);
  for (const auto& [dot, write] : entries_) {
    out.push_back(WriteView{write.timestamp, dot.replica, write.value});
  }
  if (!legacy_.empty()) {
    out.push_back(
        WriteView{legacy_.timestamp(), legacy_.replica(), legacy_.value()});
  }
  return out;
}

std::optional<ORRegister::WriteView> ORRegister::Winner(
    const std::function<bool(std::string_view value)>& keep) const {
  std::optional<WriteView> best;
  for (const WriteView& w : Writes()) {
    if (keep && !keep(w.value)) continue;
    if (!best || std::tie(w.timestamp, w.replica, w.value) >
                     std::tie(best->timestamp, best->replica, best->value)) {
      best = w;
    }
  }
  return best;
}

HlcTimestamp ORRegister::MaxTimestamp() const {
  HlcTimestamp max = legacy_.timestamp();
  for (const auto& entry : entries_) {
    max = std::max(max, entry.second.timestamp);
  }
  return max;
}

}  // namespace deltakv::crdt
