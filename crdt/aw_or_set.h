// AWORSet: add-wins observed-remove set of byte-string members.
//
// A DotMap<member, DotSet> with a causal context, as in Almeida et al. (no
// tombstones: a removed member leaves only its dots in the context). An add
// tags the member with a fresh dot and covers the member's older dots; a
// remove covers the dots it observed. A concurrent add's dot is not covered
// by the remove, so the add wins.
//
// Join cost is proportional to the delta, not to this state: a dot -> member
// index finds the members whose dots the delta's context covers, so joining a
// one-member delta into a 1,000,000-member set touches one member.
//
// Thread-safety: a value; no internal synchronisation.
#ifndef DELTAKV_CRDT_AW_OR_SET_H_
#define DELTAKV_CRDT_AW_OR_SET_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/ids.h"
#include "crdt/causal_context.h"

namespace deltakv::crdt {

class AWORSet {
 public:
  using DotList = std::vector<Dot>;  // sorted, usually one dot
  using Entries = std::map<std::string, DotList, std::less<>>;

  AWORSet() = default;
  AWORSet(const AWORSet& other);
  AWORSet& operator=(const AWORSet& other);
  AWORSet(AWORSet&&) noexcept = default;
  AWORSet& operator=(AWORSet&&) noexcept = default;

  // Adds `member` as `replica`; applies it and returns the delta.
  AWORSet Add(ReplicaId replica, std::string_view member);

  // Removes `member` (the dots this state has observed for it); applies it
  // and returns the delta. Not an error when the member is absent (the delta
  // is then empty).
  AWORSet Remove(std::string_view member);

  // Removes every member observed so far (delete key); returns the delta:
  // no members and this state's causal context, so its size is that of the
  // context (one entry per replica when compact), not one dot per member.
  // Empty when the set has no members.
  AWORSet Clear();

  // Joins `other` into this state. Cost is O(|other| log |this|) plus the
  // dots the join removes.
  void Join(const AWORSet& other);

  bool Contains(std::string_view member) const {
    return entries_.find(member) != entries_.end();
  }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // Members in byte order.
  std::vector<std::string> Members() const;

  const Entries& entries() const { return entries_; }
  const CausalContext& context() const { return context_; }

  // For decoders: adds `dot` to `member` without any check, and the context.
  // The decoder validates that every dot is unique and in the context.
  void InsertDotUnchecked(std::string_view member, const Dot& dot);
  CausalContext& mutable_context() { return context_; }
  // True when some member holds `dot`.
  bool HasDot(const Dot& dot) const { return index_.count(dot) != 0; }

  bool operator==(const AWORSet& other) const {
    return entries_ == other.entries_ && context_ == other.context_;
  }

 private:
  using DotIndex = std::map<Dot, const std::string*>;

  void AddDot(std::string_view member, const Dot& dot);
  void RemoveDot(DotIndex::iterator index_it);
  void RebuildIndex();
  // True when `other` holds `dot` under `member`.
  static bool Holds(const AWORSet& other, const std::string& member,
                    const Dot& dot);

  Entries entries_;
  CausalContext context_;
  DotIndex index_;  // every dot in entries_ -> its member's key in entries_
};

}  // namespace deltakv::crdt

#endif  // DELTAKV_CRDT_AW_OR_SET_H_
