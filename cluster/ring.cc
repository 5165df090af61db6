#include "cluster/ring.h"

#include <xxhash.h>

#include <algorithm>
#include <set>

namespace deltakv::cluster {

namespace {
// Seeds keep key hashes and token hashes on independent functions.
constexpr uint64_t kKeySeed = 0x6b6579'73ull;      // "keys"
constexpr uint64_t kTokenSeed = 0x746f6b'656eull;  // "token"
}  // namespace

std::string_view NodeStateName(NodeState state) {
  switch (state) {
    case NodeState::kJoining:
      return "joining";
    case NodeState::kNormal:
      return "normal";
    case NodeState::kLeaving:
      return "leaving";
  }
  return "normal";
}

std::optional<NodeState> ParseNodeState(std::string_view name) {
  if (name == "joining") return NodeState::kJoining;
  if (name == "normal") return NodeState::kNormal;
  if (name == "leaving") return NodeState::kLeaving;
  return std::nullopt;
}

bool Placed(NodeState state) { return state != NodeState::kJoining; }

bool Ring::ValidNodeId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

uint64_t Ring::KeyHash(std::string_view key) {
  return XXH3_64bits_withSeed(key.data(), key.size(), kKeySeed);
}

uint64_t Ring::Token(std::string_view node_id, uint32_t index) {
  std::string buf(node_id);
  buf.push_back('\0');
  for (int i = 0; i < 4; ++i) {
    buf.push_back(static_cast<char>((index >> (8 * i)) & 0xff));
  }
  return XXH3_64bits_withSeed(buf.data(), buf.size(), kTokenSeed);
}

Result<Ring> Ring::Build(std::vector<RingNode> nodes) {
  if (nodes.size() > kMaxNodes) {
    return Status::InvalidArgument("a ring holds at most " +
                                   std::to_string(kMaxNodes) + " nodes");
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const RingNode& a, const RingNode& b) { return a.id < b.id; });
  for (size_t i = 0; i < nodes.size(); ++i) {
    const RingNode& n = nodes[i];
    if (!ValidNodeId(n.id)) {
      return Status::InvalidArgument(
          "node id must be 1-64 bytes of [A-Za-z0-9._-], got '" + n.id + "'");
    }
    if (i > 0 && nodes[i - 1].id == n.id) {
      return Status::InvalidArgument("node '" + n.id + "' given twice");
    }
    if (n.vnodes == 0 || n.vnodes > kMaxVnodes) {
      return Status::InvalidArgument("node '" + n.id + "': vnodes must be 1-" +
                                     std::to_string(kMaxVnodes) + ", got " +
                                     std::to_string(n.vnodes));
    }
  }
  Ring ring;
  ring.nodes_ = std::move(nodes);
  for (uint32_t i = 0; i < ring.nodes_.size(); ++i) {
    const RingNode& n = ring.nodes_[i];
    if (!Placed(n.state)) continue;
    for (uint32_t v = 0; v < n.vnodes; ++v) {
      ring.tokens_.push_back({Token(n.id, v), i});
    }
  }
  // Ties (a true 64-bit collision) break by node id: nodes_ is sorted.
  std::sort(ring.tokens_.begin(), ring.tokens_.end(),
            [](const Tok& a, const Tok& b) {
              return a.token != b.token ? a.token < b.token : a.node < b.node;
            });
  return ring;
}

const RingNode* Ring::Find(std::string_view id) const {
  auto it = std::lower_bound(
      nodes_.begin(), nodes_.end(), id,
      [](const RingNode& n, std::string_view v) { return n.id < v; });
  return it != nodes_.end() && it->id == id ? &*it : nullptr;
}

std::vector<std::string> Ring::PreferenceList(std::string_view key,
                                              size_t n) const {
  return PreferenceList(key, n, [](const RingNode&) { return true; });
}

std::vector<std::string> Ring::PreferenceList(
    std::string_view key, size_t n,
    const std::function<bool(const RingNode&)>& usable) const {
  std::vector<std::string> out;
  if (n == 0 || tokens_.empty()) return out;
  const uint64_t h = KeyHash(key);
  // The first token at or after h, wrapping around.
  const size_t start = static_cast<size_t>(
      std::lower_bound(tokens_.begin(), tokens_.end(), h,
                       [](const Tok& t, uint64_t v) { return t.token < v; }) -
      tokens_.begin());
  std::vector<char> seen(nodes_.size(), 0);
  std::vector<uint32_t> order;  // usable distinct nodes, clockwise
  size_t usable_count = 0;
  for (const RingNode& node : nodes_) {
    if (Placed(node.state) && usable(node)) ++usable_count;
  }
  std::set<std::string_view> zones;
  std::vector<uint32_t> picked;
  for (size_t i = 0;
       i < tokens_.size() && picked.size() < n && order.size() < usable_count;
       ++i) {
    const uint32_t idx = tokens_[(start + i) % tokens_.size()].node;
    if (seen[idx]) continue;
    seen[idx] = 1;
    const RingNode& node = nodes_[idx];
    if (!usable(node)) continue;
    order.push_back(idx);
    // A node of a zone already in the list waits for the second pass.
    if (node.zone.empty() || zones.insert(node.zone).second) {
      picked.push_back(idx);
    }
  }
  // Fewer zones than n: fill with the nodes passed over, clockwise.
  for (size_t i = 0; i < order.size() && picked.size() < n; ++i) {
    if (std::find(picked.begin(), picked.end(), order[i]) == picked.end()) {
      picked.push_back(order[i]);
    }
  }
  // Ordered as met clockwise, so the first is the key's primary.
  std::vector<std::pair<size_t, uint32_t>> ranked;
  for (uint32_t idx : picked) {
    ranked.push_back(
        {static_cast<size_t>(std::find(order.begin(), order.end(), idx) -
                             order.begin()),
         idx});
  }
  std::sort(ranked.begin(), ranked.end());
  for (const auto& [rank, idx] : ranked) out.push_back(nodes_[idx].id);
  return out;
}

std::vector<std::pair<std::string, double>> Ring::PrimaryShares() const {
  std::vector<double> share(nodes_.size(), 0);
  const double full = 18446744073709551616.0;  // 2^64
  for (size_t i = 0; i < tokens_.size(); ++i) {
    // Token i owns (previous token, token i]; the first wraps around.
    const uint64_t prev =
        tokens_[(i + tokens_.size() - 1) % tokens_.size()].token;
    const uint64_t arc = tokens_[i].token - prev;  // modulo 2^64
    share[tokens_[i].node] +=
        tokens_.size() == 1 ? full : static_cast<double>(arc);
  }
  std::vector<std::pair<std::string, double>> out;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (Placed(nodes_[i].state)) out.push_back({nodes_[i].id, share[i] / full});
  }
  return out;
}

}  // namespace deltakv::cluster
