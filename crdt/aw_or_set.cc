#include "crdt/aw_or_set.h"

#include <algorithm>

namespace deltakv::crdt {

AWORSet::AWORSet(const AWORSet& other)
    : entries_(other.entries_), context_(other.context_) {
  RebuildIndex();
}

AWORSet& AWORSet::operator=(const AWORSet& other) {
  if (this != &other) {
    entries_ = other.entries_;
    context_ = other.context_;
    RebuildIndex();
  }
  return *this;
}

void AWORSet::RebuildIndex() {
  index_.clear();
  for (const auto& [member, dots] : entries_) {
    for (const Dot& d : dots) index_.emplace(d, &member);
  }
}

void AWORSet::AddDot(std::string_view member, const Dot& dot) {
  auto it = entries_.find(member);
  if (it == entries_.end()) {
    it = entries_.emplace(std::string(member), DotList{}).first;
  }
  DotList& dots = it->second;
  dots.insert(std::lower_bound(dots.begin(), dots.end(), dot), dot);
  index_.emplace(dot, &it->first);
}

void AWORSet::InsertDotUnchecked(std::string_view member, const Dot& dot) {
  AddDot(member, dot);
}

void AWORSet::RemoveDot(DotIndex::iterator index_it) {
  const Dot dot = index_it->first;
  auto entry = entries_.find(*index_it->second);
  index_.erase(index_it);
  if (entry == entries_.end()) return;
  DotList& dots = entry->second;
  auto pos = std::lower_bound(dots.begin(), dots.end(), dot);
  if (pos != dots.end() && *pos == dot) dots.erase(pos);
  if (dots.empty()) entries_.erase(entry);
}

bool AWORSet::Holds(const AWORSet& other, const std::string& member,
                    const Dot& dot) {
  auto it = other.entries_.find(member);
  if (it == other.entries_.end()) return false;
  return std::binary_search(it->second.begin(), it->second.end(), dot);
}

AWORSet AWORSet::Add(ReplicaId replica, std::string_view member) {
  AWORSet delta;
  auto it = entries_.find(member);
  if (it != entries_.end()) {
    // The new dot supersedes the member's older dots.
    for (const Dot& d : it->second) delta.context_.Insert(d);
  }
  // Not MakeDot: the state must not see the dot before joining the delta.
  Dot dot{replica, context_.Max(replica) + 1};
  delta.context_.Insert(dot);
  delta.AddDot(member, dot);
  Join(delta);
  return delta;
}

AWORSet AWORSet::Remove(std::string_view member) {
  AWORSet delta;
  auto it = entries_.find(member);
  if (it == entries_.end()) return delta;
  for (const Dot& d : it->second) delta.context_.Insert(d);
  Join(delta);
  return delta;
}

AWORSet AWORSet::Clear() {
  // The delta observes everything this state has seen: its whole context,
  // as compact as the state's own (the live dots alone, with the gaps left
  // by removed and superseded ones, would be a cloud of one dot per
  // member). Covering dots that are no longer live changes nothing: a
  // context containing a dot means its add has been seen.
  AWORSet delta;
  if (entries_.empty()) return delta;
  delta.context_ = context_;
  Join(delta);
  return delta;
}

void AWORSet::Join(const AWORSet& other) {
  if (&other == this) return;
  // 1. Remove our dots that `other` has seen but does not hold. Only dots in
  //    other's context can qualify; walk those through the index.
  const CausalContext& oc = other.context_;
  for (const auto& [replica, n] : oc.version_vector()) {
    auto it = index_.lower_bound(Dot{replica, 1});
    while (it != index_.end() && it->first.replica == replica &&
           it->first.counter <= n) {
      auto next = std::next(it);
      if (!Holds(other, *it->second, it->first)) RemoveDot(it);
      it = next;
    }
  }
  for (const Dot& d : oc.dot_cloud()) {
    auto it = index_.find(d);
    if (it != index_.end() && !Holds(other, *it->second, d)) RemoveDot(it);
  }
  // 2. Take other's dots that we have never seen.
  for (const auto& [member, dots] : other.entries_) {
    for (const Dot& d : dots) {
      if (!context_.Contains(d)) AddDot(member, d);
    }
  }
  // 3. Contexts.
  context_.Join(oc);
}

std::vector<std::string> AWORSet::Members() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& entry : entries_) out.push_back(entry.first);
  return out;
}

}  // namespace deltakv::crdt
