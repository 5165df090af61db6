// MVRegister: multi-value register. A write replaces every value it has
// seen; concurrent writes are all kept until a later write covers them.
// A DotFun (dot -> value) with a causal context, as in Almeida et al.
//
// Thread-safety: a value; no internal synchronisation.
#ifndef DELTAKV_CRDT_MV_REGISTER_H_
#define DELTAKV_CRDT_MV_REGISTER_H_

#include <map>
#include <string>
#include <vector>

#include "core/ids.h"
#include "crdt/causal_context.h"

namespace deltakv::crdt {

class MVRegister {
 public:
  using Values = std::map<Dot, std::string>;

  // Writes `value` as `replica`, replacing every value this state holds;
  // applies it and returns the delta.
  MVRegister Write(ReplicaId replica, std::string value);

  // Removes every value this state holds (observed reset); returns the
  // delta. Not an error when the register is empty.
  MVRegister Reset();

  // DotFun join: a value survives if both sides hold it, or if one side
  // holds it and the other has not seen its dot. O(size of both): registers
  // hold few values.
  void Join(const MVRegister& other);

  // The current values, sorted and deduplicated.
  std::vector<std::string> Read() const;

  const Values& values() const { return values_; }
  const CausalContext& context() const { return context_; }
  bool empty() const { return values_.empty(); }

  // For decoders.
  Values& mutable_values() { return values_; }
  CausalContext& mutable_context() { return context_; }

  bool operator==(const MVRegister&) const = default;

 private:
  Values values_;
  CausalContext context_;
};

}  // namespace deltakv::crdt

#endif  // DELTAKV_CRDT_MV_REGISTER_H_
