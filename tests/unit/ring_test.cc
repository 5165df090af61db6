// The ring: balance over 3-20 equal nodes with random ids, the same
// preference lists whatever order the membership came in, minimal movement
// when a node goes, zone spreading and the placement of node states.
#include <rapidcheck/catch.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cluster/ring.h"

using deltakv::cluster::NodeState;
using deltakv::cluster::Ring;
using deltakv::cluster::RingNode;

namespace {

// `count` distinct random node ids.
std::vector<std::string> RandomIds(size_t count) {
  const auto raw = *rc::gen::container<std::set<std::string>>(
      count,
      rc::gen::nonEmpty(rc::gen::container<std::string>(rc::gen::elementOf(
          std::string("abcdefghijklmnopqrstuvwxyz0123456789-._")))));
  std::vector<std::string> ids;
  for (const auto& id : raw) ids.push_back(id.substr(0, 64));
  // substr may make two ids equal: keep distinct ones.
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::vector<RingNode> Nodes(const std::vector<std::string>& ids,
                            uint32_t vnodes = Ring::kDefaultVnodes) {
  std::vector<RingNode> nodes;
  for (const auto& id : ids) {
    RingNode n;
    n.id = id;
    n.vnodes = vnodes;
    nodes.push_back(n);
  }
  return nodes;
}

Ring MustBuild(std::vector<RingNode> nodes) {
  auto r = Ring::Build(std::move(nodes));
  REQUIRE(r.ok());
  return std::move(r).value();
}

std::string Key(size_t i) { return "key-" + std::to_string(i); }

}  // namespace

TEST_CASE(
    "the most loaded of 3 to 20 equal nodes holds at most 1.25x the "
    "mean share") {
  rc::prop("balance", [] {
    const size_t count = *rc::gen::inRange<size_t>(3, 21);
    const auto ids = RandomIds(count);
    RC_PRE(ids.size() >= 3);
    const Ring ring = MustBuild(Nodes(ids));
    const auto shares = ring.PrimaryShares();
    RC_ASSERT(shares.size() == ids.size());
    double sum = 0, most = 0;
    for (const auto& [id, s] : shares) {
      sum += s;
      most = std::max(most, s);
    }
    RC_ASSERT(std::abs(sum - 1.0) < 1e-9);
    const double mean = 1.0 / static_cast<double>(ids.size());
    RC_ASSERT(most <= 1.25 * mean);
  });
}

TEST_CASE("keys spread like the primary shares") {
  // Sampled keys, not only arcs: the key hash is uniform on the circle.
  const auto ids = std::vector<std::string>{"n1", "n2", "n3", "n4", "n5"};
  const Ring ring = MustBuild(Nodes(ids));
  std::map<std::string, size_t> held;
  const size_t keys = 200000;
  for (size_t i = 0; i < keys; ++i) ++held[ring.PreferenceList(Key(i), 1)[0]];
  for (const auto& [id, n] : held) {
    CHECK(static_cast<double>(n) <= 1.25 * keys / ids.size());
  }
}

TEST_CASE(
    "the same membership gives the same preference lists in any "
    "insertion order") {
  rc::prop("order", [] {
    const size_t count = *rc::gen::inRange<size_t>(1, 12);
    auto nodes = Nodes(RandomIds(count), 32);
    for (size_t i = 0; i < nodes.size(); ++i) {
      nodes[i].zone = "z" + std::to_string(i % 3);
    }
    auto shuffled = nodes;
    std::mt19937 rng(*rc::gen::arbitrary<uint32_t>());
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    const Ring a = MustBuild(nodes);
    const Ring b = MustBuild(shuffled);
    RC_ASSERT(a.nodes() == b.nodes());
    for (size_t i = 0; i < 50; ++i) {
      RC_ASSERT(a.PreferenceList(Key(i), 3) == b.PreferenceList(Key(i), 3));
    }
  });
}

TEST_CASE("removing a node moves only the keys it held") {
  rc::prop("minimal movement", [] {
    const size_t count = *rc::gen::inRange<size_t>(2, 12);
    const auto ids = RandomIds(count);
    RC_PRE(ids.size() >= 2);
    const size_t gone = *rc::gen::inRange<size_t>(0, ids.size());
    auto fewer = ids;
    fewer.erase(fewer.begin() + static_cast<ptrdiff_t>(gone));
    const Ring before = MustBuild(Nodes(ids, 64));
    const Ring after = MustBuild(Nodes(fewer, 64));
    for (size_t i = 0; i < 300; ++i) {
      const auto was = before.PreferenceList(Key(i), 3);
      const auto now = after.PreferenceList(Key(i), 3);
      if (std::find(was.begin(), was.end(), ids[gone]) == was.end()) {
        RC_ASSERT(was == now);  // a list without the node keeps its nodes
      } else {
        // The others stay; one new node takes the departed one's place.
        for (const auto& id : was) {
          if (id != ids[gone]) {
            RC_ASSERT(std::find(now.begin(), now.end(), id) != now.end());
          }
        }
      }
    }
  });
}

TEST_CASE("a preference list holds distinct nodes, spread over zones") {
  auto nodes = Nodes({"a1", "a2", "a3", "b1", "b2", "b3", "c1", "c2", "c3"});
  for (auto& n : nodes) n.zone = std::string("zone-") + n.id[0];
  const Ring ring = MustBuild(nodes);
  for (size_t i = 0; i < 2000; ++i) {
    const auto list = ring.PreferenceList(Key(i), 3);
    REQUIRE(list.size() == 3);
    std::set<char> zones;
    for (const auto& id : list) zones.insert(id[0]);
    CHECK(zones.size() == 3);
  }
  // Two zones and N=3: both zones, then a second node of one of them.
  auto two = Nodes({"a1", "a2", "b1", "b2"});
  for (auto& n : two) n.zone = std::string("zone-") + n.id[0];
  const Ring ring2 = MustBuild(two);
  for (size_t i = 0; i < 2000; ++i) {
    const auto list = ring2.PreferenceList(Key(i), 3);
    REQUIRE(list.size() == 3);
    std::set<std::string> distinct(list.begin(), list.end());
    CHECK(distinct.size() == 3);
    std::set<char> zones;
    for (const auto& id : list) zones.insert(id[0]);
    CHECK(zones.size() == 2);
  }
}

TEST_CASE("a list is never longer than the placed nodes") {
  const Ring ring = MustBuild(Nodes({"n1", "n2"}));
  CHECK(ring.PreferenceList("k", 5).size() == 2);
  CHECK(ring.PreferenceList("k", 0).empty());
  CHECK(Ring().PreferenceList("k", 3).empty());
}

TEST_CASE("joining nodes hold no range, leaving nodes keep theirs") {
  auto nodes = Nodes({"n1", "n2", "n3"});
  nodes[0].state = NodeState::kJoining;
  nodes[1].state = NodeState::kLeaving;
  const Ring ring = MustBuild(nodes);
  std::set<std::string> seen;
  for (size_t i = 0; i < 500; ++i) {
    for (const auto& id : ring.PreferenceList(Key(i), 3)) seen.insert(id);
  }
  CHECK(seen == std::set<std::string>{"n2", "n3"});
  CHECK(ring.PrimaryShares().size() == 2);
  CHECK(ring.token_count() == 2 * Ring::kDefaultVnodes);
}

TEST_CASE("nodes seen down are skipped") {
  const Ring ring = MustBuild(Nodes({"n1", "n2", "n3", "n4"}));
  for (size_t i = 0; i < 500; ++i) {
    const auto list = ring.PreferenceList(
        Key(i), 3, [](const RingNode& n) { return n.id != "n2"; });
    CHECK(list.size() == 3);
    CHECK(std::find(list.begin(), list.end(), "n2") == list.end());
  }
}

TEST_CASE("a heavier node holds a larger share") {
  auto nodes = Nodes({"n1", "n2", "n3"});
  nodes[0].vnodes = 2 * Ring::kDefaultVnodes;
  const Ring ring = MustBuild(nodes);
  const auto shares = ring.PrimaryShares();
  CHECK(shares[0].second > 0.4);
  CHECK(shares[0].second < 0.6);
}

TEST_CASE("a ring refuses invalid membership") {
  CHECK(!Ring::Build(Nodes({"n1", "n1"})).ok());
  CHECK(!Ring::Build(Nodes({""})).ok());
  CHECK(!Ring::Build(Nodes({"has space"})).ok());
  CHECK(!Ring::Build(Nodes({"n/1"})).ok());
  CHECK(!Ring::Build(Nodes({std::string(65, 'a')})).ok());
  CHECK(!Ring::Build(Nodes({"n1"}, 0)).ok());
  CHECK(!Ring::Build(Nodes({"n1"}, Ring::kMaxVnodes + 1)).ok());
  CHECK(Ring::Build(Nodes({"n1"}, Ring::kMaxVnodes)).ok());
}
