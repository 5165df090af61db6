// ORRegister: the `register` key type. A last-writer-wins register whose
// removal is observed-remove: every write carries a dot (replica, counter)
// beside its hybrid logical clock timestamp, and the register keeps a causal
// context of the dots it has seen (a DotFun of writes, as MVRegister).
//
// - A write supersedes every write its replica has observed.
// - A delete (Clear) removes exactly the observed writes; its delta is an
//   empty dot store plus the observed context. A concurrent write, whose dot
//   the delete has not seen, survives it.
// - Concurrent writes are all kept; reads return the one with the largest
//   (timestamp, replica id, value), so write/write races stay
//   last-writer-wins.
//
// Values from before dotted writes (the LWWRegister encoding) decode to a
// *legacy write*: one write without a dot, joined with other legacy writes
// by LWW. A write or delete that observes it records its (timestamp,
// replica) as the legacy *floor*; a legacy write at or below the floor is
// removed. Both are max-registers, so join stays a lattice join.
//
// Thread-safety: a value; no internal synchronisation.
#ifndef DELTAKV_CRDT_OR_REGISTER_H_
#define DELTAKV_CRDT_OR_REGISTER_H_

#include <compare>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/hlc.h"
#include "core/ids.h"
#include "crdt/causal_context.h"
#include "crdt/lww_register.h"

namespace deltakv::crdt {

class ORRegister {
 public:
  // A dotted write; its writer is the dot's replica.
  struct Write {
    HlcTimestamp timestamp;
    std::string value;
    bool operator==(const Write&) const = default;
  };
  using Entries = std::map<Dot, Write>;

  // The (timestamp, replica) of a legacy write; zero = none.
  struct Stamp {
    HlcTimestamp timestamp;
    ReplicaId replica;
    bool is_zero() const { return timestamp.is_zero(); }
    auto operator<=>(const Stamp&) const = default;
  };

  // A surviving write as reads see it; `value` points into the register.
  struct WriteView {
    HlcTimestamp timestamp;
    ReplicaId replica;
    std::string_view value;
  };

  ORRegister() = default;

  // The delta of a write made before writes were dotted (an old stored
  // value, or an old peer's delta): a register holding just `legacy`.
  static ORRegister FromLegacy(LWWRegister legacy);

  // Writes `value` as `replica` stamped `timestamp`, superseding every
  // write this state holds; applies it and returns the delta. Callers pass a
  // timestamp from their HybridClock; an older stamp is not an error (the
  // write still supersedes what it observed, and only loses reads against
  // concurrent writes with larger stamps).
  ORRegister Set(HlcTimestamp timestamp, ReplicaId replica, std::string value);

  // Removes every write this state holds (observed remove) and returns the
  // delta. Not an error when the register holds nothing: the delta is empty.
  ORRegister Clear();

  // DotFun join of the dotted writes (a write survives if both sides hold
  // it, or one side holds it and the other has not seen its dot), LWW join
  // of the legacy writes, maximum of the floors. O(size of both): registers
  // hold few writes.
  void Join(const ORRegister& other);

  // Every surviving write: the dotted ones in dot order, then the legacy
  // write if there is one.
  std::vector<WriteView> Writes() const;

  // The write reads return: the largest (timestamp, replica, value) among
  // Writes() that `keep` accepts (every write when `keep` is empty);
  // nullopt when there is none.
  std::optional<WriteView> Winner(
      const std::function<bool(std::string_view value)>& keep = {}) const;

  // The largest timestamp of any surviving write (zero when none).
  HlcTimestamp MaxTimestamp() const;

  // True when no write survives (the context and floor may still hold
  // what was removed).
  bool empty() const { return entries_.empty() && legacy_.empty(); }

  const Entries& entries() const { return entries_; }
  const CausalContext& context() const { return context_; }
  const LWWRegister& legacy() const { return legacy_; }
  const Stamp& legacy_floor() const { return floor_; }
  static Stamp StampOf(const LWWRegister& w) {
    return Stamp{w.timestamp(), w.replica()};
  }

  // For decoders; the decoder checks that every dot lies in the context and
  // that a legacy write lies above the floor.
  Entries& mutable_entries() { return entries_; }
  CausalContext& mutable_context() { return context_; }
  void SetLegacy(LWWRegister legacy, Stamp floor) {
    legacy_ = std::move(legacy);
    floor_ = floor;
  }

  bool operator==(const ORRegister&) const = default;

 private:
  // Drops the legacy write once the floor covers it.
  void DropFlooredLegacy();

  Entries entries_;
  CausalContext context_;
  LWWRegister legacy_;  // empty, or above floor_
  Stamp floor_;         // legacy writes at or below it are removed
};

}  // namespace deltakv::crdt

#endif  // DELTAKV_CRDT_OR_REGISTER_H_
