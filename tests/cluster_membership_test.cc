// A region cluster's membership end to end: a real etcd and real
// deltakv-servers on loopback. Every node reports the same ring revision
// and node list; a node killed with SIGKILL is seen down once its lease
// expires, and up again after a restart; with etcd stopped the nodes keep
// serving and say etcd is unreachable; with etcd back (same data) they
// reach it again and a new node joins. Without --etcd a server is a
// one-node region.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/http_client.h"
#include "tests/etcd_harness.h"
#include "tests/server_harness.h"

using deltakv::HttpClient;
using deltakv::testing::EtcdProcess;
using deltakv::testing::FreePortPair;
using deltakv::testing::ServerProcess;
using nlohmann::json;

namespace {

constexpr int kLeaseTtl = 2;  // seconds

// GET /v1/cluster of `url` (null on failure).
json ClusterOf(const std::string& url) {
  auto client = HttpClient::Create(url, {}, std::chrono::seconds(5));
  if (!client.ok()) return nullptr;
  auto r = (*client)->Request("GET", "/v1/cluster");
  if (!r.ok() || r->status != 200) return nullptr;
  return json::parse(r->body, nullptr, false);
}

int Post(const std::string& url, const std::string& target,
         const std::string& body) {
  auto client = HttpClient::Create(url, {}, std::chrono::seconds(5));
  if (!client.ok()) return 0;
  auto r = (*client)->Request("POST", target, body);
  return r.ok() ? r->status : 0;
}

// Waits (bounded) until `holds` is true of every node's /v1/cluster.
bool Eventually(const std::vector<const ServerProcess*>& nodes,
                const std::function<bool(const json&)>& holds,
                std::chrono::seconds bound = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < deadline) {
    bool all = true;
    for (const ServerProcess* n : nodes) {
      const json j = ClusterOf(n->url());
      if (!j.is_object() || !holds(j)) {
        all = false;
        break;
      }
    }
    if (all) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// The ids of the nodes in `j`, with up/down.
std::set<std::string> Ids(const json& j, bool only_up = false) {
  std::set<std::string> out;
  for (const auto& n : j["nodes"]) {
    if (!only_up || n["up"].get<bool>()) out.insert(n["id"].get<std::string>());
  }
  return out;
}

bool NodeUp(const json& j, const std::string& id) {
  for (const auto& n : j["nodes"]) {
    if (n["id"] == id) return n["up"].get<bool>();
  }
  return false;
}

class Node {
 public:
  Node(std::string id, const std::string& etcd, std::string zone)
      : id_(std::move(id)), etcd_(etcd), zone_(std::move(zone)) {
    internal_ = "127.0.0.1:" + std::to_string(FreePortPair());
    server_ = std::make_unique<ServerProcess>(Args());
  }
  std::vector<std::string> Args() const {
    return {"--etcd",
            etcd_,
            "--node-id",
            id_,
            "--internal",
            internal_,
            "--etcd-lease-ttl",
            std::to_string(kLeaseTtl),
            "--zone",
            zone_,
            "--etcd-timeout-ms",
            "1000",
            "--insecure-replication"};
  }
  void Restart() { server_->Start(Args()); }
  ServerProcess& server() { return *server_; }
  const std::string& id() const { return id_; }

 private:
  std::string id_, etcd_, zone_, internal_;
  std::unique_ptr<ServerProcess> server_;
};

}  // namespace

TEST_CASE("a server without --etcd is a one-node region") {
  ServerProcess s({"--region", "solo", "--node-id", "only"});
  REQUIRE(!s.url().empty());
  const json j = ClusterOf(s.url());
  REQUIRE(j.is_object());
  CHECK(j["region"] == "solo");
  CHECK(j["node_id"] == "only");
  CHECK(j["replicas"] == 1);
  CHECK(j["write_quorum"] == 1);
  CHECK(j["read_quorum"] == 1);
  CHECK(j["ring_revision"] == 0);
  CHECK(j["moves"] == json::array());
  CHECK(!j.contains("etcd"));
  REQUIRE(j["nodes"].size() == 1);
  CHECK(j["nodes"][0]["id"] == "only");
  CHECK(j["nodes"][0]["up"] == true);
  CHECK(j["nodes"][0]["state"] == "normal");
  CHECK(j["nodes"][0]["http"] == "127.0.0.1:" + s.port());
}

TEST_CASE("a server with a W above N or a malformed --etcd does not start") {
  ServerProcess w({"--replicas", "2", "--write-quorum", "3"});
  CHECK(w.url().empty());
  ServerProcess e({"--etcd", "127.0.0.1:2379"});
  CHECK(e.url().empty());
}

TEST_CASE(
    "nodes share one ring in etcd, see each other down and up, and "
    "outlive etcd") {
  EtcdProcess etcd;
  INFO(etcd.error());
  REQUIRE(etcd.ready());
  // A dead endpoint first: every node fails over to the live one.
  const std::string endpoints =
      "http://127.0.0.1:" + std::to_string(FreePortPair()) + "," +
      etcd.endpoint();
  std::vector<std::unique_ptr<Node>> nodes;
  for (int i = 1; i <= 3; ++i) {
    nodes.push_back(std::make_unique<Node>("n" + std::to_string(i), endpoints,
                                           "z" + std::to_string(i)));
    REQUIRE(!nodes.back()->server().url().empty());
  }
  auto all = [&] {
    std::vector<const ServerProcess*> out;
    for (auto& n : nodes) out.push_back(&n->server());
    return out;
  };
  const std::set<std::string> three = {"n1", "n2", "n3"};

  // Every node: the same three nodes, up and normal, reachable etcd.
  REQUIRE(Eventually(all(), [&](const json& j) {
    if (Ids(j, true) != three || !j["etcd"]["reachable"].get<bool>()) {
      return false;
    }
    for (const auto& n : j["nodes"]) {
      if (n["state"] != "normal") return false;
    }
    return true;
  }));
  // The same revision and the same list everywhere.
  json first = ClusterOf(nodes[0]->server().url());
  for (auto& n : nodes) {
    const json j = ClusterOf(n->server().url());
    CHECK(j["ring_revision"] == first["ring_revision"]);
    CHECK(j["nodes"].size() == 3);
    for (size_t k = 0; k < j["nodes"].size(); ++k) {
      json a = j["nodes"][k], b = first["nodes"][k];
      CHECK(a == b);
    }
    CHECK(j["node_id"] == n->id());
    CHECK(j["replicas"] == 3);
    CHECK(j["write_quorum"] == 2);
  }
  CHECK(first["ring_revision"].get<int64_t>() > 0);
  // The CLI shows the same: every node, and etcd reachable.
  {
    const std::string cmd = "timeout 30 " + std::string(DELTAKV_CLI_BIN) +
                            " --url " + nodes[0]->server().url() +
                            " cluster status 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[512];
    while (fgets(buf, sizeof buf, p)) out += buf;
    CHECK(pclose(p) == 0);
    INFO(out);
    CHECK(out.find("etcd: reachable") != std::string::npos);
    for (const char* id : {"n1 ", "n2 ", "n3 "}) {
      CHECK(out.find(std::string("\n") + id) != std::string::npos);
    }
  }

  // SIGKILL n2: once its lease expires the others see it down, still in
  // the ring.
  nodes[1]->server().Kill();
  const std::vector<const ServerProcess*> others = {&nodes[0]->server(),
                                                    &nodes[2]->server()};
  REQUIRE(Eventually(others, [&](const json& j) {
    return Ids(j) == three && !NodeUp(j, "n2") && NodeUp(j, "n1") &&
           NodeUp(j, "n3");
  }));
  // Restarted: up again everywhere.
  nodes[1]->Restart();
  REQUIRE(!nodes[1]->server().url().empty());
  // Up everywhere, with the address it has now (it updates its ring entry:
  // one more ring revision, which every node must have seen before etcd
  // stops, or the revisions below differ for good).
  const std::string n2_http = nodes[1]->server().url().substr(7);
  REQUIRE(Eventually(all(), [&](const json& j) {
    if (Ids(j, true) != three) return false;
    for (const auto& n : j["nodes"]) {
      if (n["id"] == "n2") return n["http"] == n2_http;
    }
    return false;
  }));
  int64_t revision = -1;
  {
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until) {
      std::set<int64_t> seen;
      for (auto& n : nodes) {
        const json j = ClusterOf(n->server().url());
        seen.insert(j.is_object() ? j["ring_revision"].get<int64_t>() : -1);
      }
      if (seen.size() == 1 && *seen.begin() > 0) {
        revision = *seen.begin();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  REQUIRE(revision > 0);

  // etcd stops: the nodes keep serving with the last ring and say so.
  etcd.Stop();
  REQUIRE(Eventually(all(), [&](const json& j) {
    return !j["etcd"]["reachable"].get<bool>() && Ids(j) == three &&
           j["ring_revision"] == revision;
  }));
  for (auto& n : nodes) {
    CHECK(Post(n->server().url(), "/v1/counter/c/incr", R"({"by":1})") == 200);
  }
  // A node restarted while etcd is down serves with the ring of its last
  // run (kept in its data folder): a write with w=3 reaches all three.
  nodes[2]->server().Stop();
  nodes[2]->Restart();
  REQUIRE(!nodes[2]->server().url().empty());
  CHECK(Post(nodes[2]->server().url(), "/v1/counter/c/incr?w=3",
             R"({"by":1})") == 200);
  {
    // n1's connection to the restarted node comes back within its
    // reconnect interval (at most 1 s): until then r=3 is 503.
    auto client = HttpClient::Create(nodes[0]->server().url());
    REQUIRE(client.ok());
    json value;
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
      auto r = (*client)->Request("GET", "/v1/counter/c?r=3");
      REQUIRE(r.ok());
      value = json::parse(r->body)["value"];
      if (r->status == 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(value == 4);
  }
  auto metrics = HttpClient::Create(nodes[0]->server().url());
  REQUIRE(metrics.ok());
  auto m = (*metrics)->Request("GET", "/metrics");
  REQUIRE(m.ok());
  CHECK(m->body.find("deltakv_cluster_etcd_reachable 0") != std::string::npos);

  // etcd back on the same data: reachable again, and a new node joins.
  REQUIRE(etcd.Start());  // same ports, same data
  REQUIRE(Eventually(all(), [&](const json& j) {
    return j["etcd"]["reachable"].get<bool>() && Ids(j, true) == three;
  }));
  nodes.push_back(std::make_unique<Node>("n4", endpoints, "z1"));
  REQUIRE(!nodes.back()->server().url().empty());
  const std::set<std::string> four = {"n1", "n2", "n3", "n4"};
  REQUIRE(Eventually(all(), [&](const json& j) {
    if (Ids(j, true) != four) return false;
    for (const auto& n : j["nodes"]) {
      if (n["state"] != "normal") return false;
    }
    return true;
  }));
  first = ClusterOf(nodes[0]->server().url());
  CHECK(first["ring_revision"].get<int64_t>() > revision);
  for (auto& n : nodes) {
    CHECK(ClusterOf(n->server().url())["ring_revision"] ==
          first["ring_revision"]);
  }
  auto m2 = (*metrics)->Request("GET", "/metrics");
  REQUIRE(m2.ok());
  CHECK(m2->body.find("deltakv_cluster_nodes{state=\"normal\"} 4") !=
        std::string::npos);
}
