// Ring: consistent hashing with virtual nodes over the nodes of a region.
// Each node owns `vnodes` tokens on a 64-bit circle (its weight), derived
// from its id and the token's index alone (XXH3), so every node computes
// the same ring from the same membership whatever order it learnt it in.
// A key hashes onto the circle (XXH3 of its bytes); its preference list is
// the first N distinct physical nodes clockwise from there, taking nodes of
// zones not yet in the list first, and nodes of zones already in it only
// when there are fewer usable zones than N.
//
// Node states and placement (docs/cluster.md):
//   joining  announced, holds no range yet: never in a preference list;
//   normal   owns its ranges;
//   leaving  still owns its ranges until they are moved away: stays in
//            preference lists (it still holds the data).
//
// Thread-safety: a value; const methods may be called concurrently.
#ifndef DELTAKV_CLUSTER_RING_H_
#define DELTAKV_CLUSTER_RING_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "deltakv/status.h"

namespace deltakv::cluster {

enum class NodeState : uint8_t { kJoining, kNormal, kLeaving };
// "joining", "normal", "leaving".
std::string_view NodeStateName(NodeState state);
std::optional<NodeState> ParseNodeState(std::string_view name);
// Whether a node in `state` takes part in placement (normal, leaving).
bool Placed(NodeState state);

struct RingNode {
  std::string id;         // 1-64 bytes of [A-Za-z0-9._-]
  uint32_t vnodes = 512;  // weight: tokens on the circle
  std::string zone;       // "" when zones are not used
  std::string http;       // HOST:PORT of its REST API
  std::string internal;   // HOST:PORT of its node-to-node listener
  NodeState state = NodeState::kNormal;

  bool operator==(const RingNode&) const = default;
};

class Ring {
 public:
  // Default and bounds of a node's weight. A node's share of the circle
  // spreads by about 1/sqrt(vnodes) around the mean: 512 tokens keep the
  // most loaded of 3-20 equal nodes under 1.25x the mean (1.20x the worst
  // of 20000 random memberships), where 256 reach 1.29x and 64 1.5x.
  static constexpr uint32_t kDefaultVnodes = 512;
  static constexpr uint32_t kMaxVnodes = 4096;
  static constexpr size_t kMaxNodes = 1024;

  Ring() = default;

  // Validates and builds. InvalidArgument: an id empty, too long or with
  // other bytes than [A-Za-z0-9._-], an id given twice, vnodes 0 or above
  // kMaxVnodes, more than kMaxNodes nodes.
  static Result<Ring> Build(std::vector<RingNode> nodes);
  // Whether `id` is a valid node id (the rule above).
  static bool ValidNodeId(std::string_view id);

  // The ids of the first `n` distinct placed nodes clockwise from the
  // key's hash, spread over zones (fewer when fewer nodes are placed).
  std::vector<std::string> PreferenceList(std::string_view key, size_t n) const;
  // The same among the placed nodes for which `usable` is true (e.g.
  // skipping nodes seen down).
  std::vector<std::string> PreferenceList(
      std::string_view key, size_t n,
      const std::function<bool(const RingNode&)>& usable) const;

  // The nodes, sorted by id.
  const std::vector<RingNode>& nodes() const { return nodes_; }
  // The node `id`, or null.
  const RingNode* Find(std::string_view id) const;
  bool empty() const { return nodes_.empty(); }
  // Tokens on the circle (the placed nodes' vnodes).
  size_t token_count() const { return tokens_.size(); }

  // Each placed node's share of the circle as its first replica (sums to
  // 1), by node id: the fraction of keys it is primary for.
  std::vector<std::pair<std::string, double>> PrimaryShares() const;

  // Where `key` lands on the circle, and node `id`'s token `index`.
  static uint64_t KeyHash(std::string_view key);
  static uint64_t Token(std::string_view node_id, uint32_t index);

 private:
  struct Tok {
    uint64_t token;
    uint32_t node;  // index into nodes_
  };
  std::vector<RingNode> nodes_;  // sorted by id
  std::vector<Tok> tokens_;      // sorted by (token, node id)
};

}  // namespace deltakv::cluster

#endif  // DELTAKV_CLUSTER_RING_H_
