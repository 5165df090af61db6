// crdt_tour: three replicas edit a counter, a register and a set
// concurrently, exchange only deltas (through the byte codec, as they would
// over the wire), and converge. Run: ./scripts/run
#include <cstdio>
#include <string>
#include <vector>

#include "core/hlc.h"
#include "core/ids.h"
#include "crdt/codec.h"

using deltakv::HybridClock;
using deltakv::ReplicaId;
namespace crdt = deltakv::crdt;

namespace {

struct Region {
  const char* name;
  ReplicaId id;
  HybridClock clock;
  crdt::PNCounter visits;
  crdt::LWWRegister motto;
  crdt::AWORSet tags;
  std::vector<std::string> outbox;  // encoded deltas to ship
};

// Ships every region's outbox to every other region, decoding each delta.
int Exchange(std::vector<Region*>& regions) {
  for (Region* from : regions) {
    for (const std::string& bytes : from->outbox) {
      for (Region* to : regions) {
        if (to == from) continue;
        auto type = crdt::PeekType(bytes);
        if (!type.ok()) return 1;
        deltakv::Status s;
        if (*type == crdt::CrdtType::kCounter) {
          crdt::PNCounter d;
          s = crdt::Decode(bytes, &d);
          to->visits.Join(d);
        } else if (*type == crdt::CrdtType::kRegister) {
          crdt::LWWRegister d;
          s = crdt::Decode(bytes, &d);
          if (s.ok()) s = to->clock.Update(d.timestamp());
          to->motto.Join(d);
        } else {
          crdt::AWORSet d;
          s = crdt::Decode(bytes, &d);
          to->tags.Join(d);
        }
        if (!s.ok()) {
          std::fprintf(stderr, "decode failed: %s\n", s.ToString().c_str());
          return 1;
        }
      }
    }
    from->outbox.clear();
  }
  return 0;
}

void Print(const Region& r) {
  std::string tags;
  for (const auto& m : r.tags.Members()) tags += (tags.empty() ? "" : ",") + m;
  std::printf("  %-8s visits=%lld motto=\"%s\" tags={%s}\n", r.name,
              static_cast<long long>(r.visits.Value().value_or(0)),
              r.motto.value().c_str(), tags.c_str());
}

}  // namespace

int main() {
  Region us{"us-east", ReplicaId(1), {}, {}, {}, {}, {}};
  Region eu{"eu-west", ReplicaId(2), {}, {}, {}, {}, {}};
  Region ap{"ap-south", ReplicaId(3), {}, {}, {}, {}, {}};
  std::vector<Region*> all{&us, &eu, &ap};

  // Concurrent writes, no coordination.
  us.outbox.push_back(crdt::Encode(*us.visits.Increment(us.id, 5)));
  eu.outbox.push_back(crdt::Encode(*eu.visits.Increment(eu.id, 7)));
  ap.outbox.push_back(crdt::Encode(*ap.visits.Increment(ap.id, -2)));
  us.outbox.push_back(
      crdt::Encode(us.motto.Set(us.clock.Now(), us.id, "move fast")));
  eu.outbox.push_back(
      crdt::Encode(eu.motto.Set(eu.clock.Now(), eu.id, "converge")));
  us.outbox.push_back(crdt::Encode(us.tags.Add(us.id, "crdt")));
  eu.outbox.push_back(crdt::Encode(eu.tags.Add(eu.id, "lmdb")));
  ap.outbox.push_back(crdt::Encode(ap.tags.Add(ap.id, "zeromq")));

  std::printf("before exchange:\n");
  for (Region* r : all) Print(*r);
  if (Exchange(all) != 0) return 1;

  // eu removes "crdt" while ap concurrently re-adds it: add wins.
  eu.outbox.push_back(crdt::Encode(eu.tags.Remove("crdt")));
  ap.outbox.push_back(crdt::Encode(ap.tags.Add(ap.id, "crdt")));
  if (Exchange(all) != 0) return 1;

  std::printf("after exchange (add-wins set, last-writer-wins register):\n");
  for (Region* r : all) Print(*r);

  bool same = us.visits == eu.visits && eu.visits == ap.visits &&
              us.motto == eu.motto && eu.motto == ap.motto &&
              us.tags == eu.tags && eu.tags == ap.tags;
  std::printf("converged: %s\n", same ? "yes" : "NO");
  return same ? 0 : 1;
}
