// The request path of a region cluster end to end: a real etcd and real
// deltakv-servers on loopback. Every node names the same replicas for a
// key; a write through a node that is not one lands on them; with N=3 and
// w=2 writes of every type survive a SIGKILL'ed node and keep succeeding,
// every acknowledged write stays readable with r=2, and the node catches
// up once it is back (hinted handoff), so reads with r=all agree on every
// node. Fewer replicas than asked: 503 unavailable, and the write still
// reaches the replica once it returns.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
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

struct Answer {
  int status = 0;
  json body;
};

Answer Call(const std::string& url, const std::string& method,
            const std::string& target, const std::string& body = "") {
  auto client = HttpClient::Create(url, {}, std::chrono::seconds(10));
  if (!client.ok()) return {};
  auto r = (*client)->Request(method, target, body);
  if (!r.ok()) return {};
  return {r->status, json::parse(r->body, nullptr, false)};
}

class Node {
 public:
  Node(std::string id, std::string etcd, int replicas)
      : id_(std::move(id)), etcd_(std::move(etcd)), replicas_(replicas) {
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
            "2",
            "--replicas",
            std::to_string(replicas_),
            "--node-timeout-ms",
            "700",
            "--insecure-replication"};
  }
  void Restart() { server_->Start(Args()); }
  ServerProcess& server() { return *server_; }
  const std::string& url() const { return server_->url(); }
  const std::string& id() const { return id_; }

 private:
  std::string id_, etcd_, internal_;
  int replicas_;
  std::unique_ptr<ServerProcess> server_;
};

// A region of `n` nodes with N = `replicas`, every node up and normal.
struct Region {
  EtcdProcess etcd;
  std::vector<std::unique_ptr<Node>> nodes;

  Region(int n, int replicas) {
    if (!etcd.ready()) return;
    for (int i = 1; i <= n; ++i) {
      nodes.push_back(std::make_unique<Node>("n" + std::to_string(i),
                                             etcd.endpoint(), replicas));
    }
  }
  Node* Find(const std::string& id) {
    for (auto& n : nodes) {
      if (n->id() == id) return n.get();
    }
    return nullptr;
  }
  // Waits (bounded) until every node in `live` sees exactly `up` up.
  bool SeeUp(const std::vector<Node*>& live, const std::set<std::string>& up) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      bool all = true;
      for (Node* n : live) {
        Answer a = Call(n->url(), "GET", "/v1/cluster");
        if (a.status != 200 || !a.body.is_object()) {
          all = false;
          break;
        }
        std::set<std::string> seen;
        for (const auto& e : a.body["nodes"]) {
          if (e["up"].get<bool>() && e["state"] == "normal") {
            seen.insert(e["id"].get<std::string>());
          }
        }
        if (seen != up) {
          all = false;
          break;
        }
      }
      if (all) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  std::vector<Node*> All() {
    std::vector<Node*> out;
    for (auto& n : nodes) out.push_back(n.get());
    return out;
  }
};

std::vector<std::string> ReplicasOf(const std::string& url,
                                    const std::string& key) {
  Answer a = Call(url, "GET", "/v1/cluster?key=" + key);
  std::vector<std::string> out;
  if (a.status != 200 || !a.body.contains("key")) return out;
  for (const auto& id : a.body["key"]["replicas"]) {
    out.push_back(id.get<std::string>());
  }
  return out;
}

// A metric's value in /metrics (-1 when absent).
double Metric(const std::string& url, const std::string& name) {
  auto client = HttpClient::Create(url, {}, std::chrono::seconds(5));
  if (!client.ok()) return -1;
  auto r = (*client)->Request("GET", "/metrics");
  if (!r.ok()) return -1;
  const std::string& t = r->body;
  const size_t at = t.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(t.substr(at + name.size() + 2));
}

// What a read answers, without what may differ between equal states.
json Value(const Answer& a) {
  if (a.status != 200 || !a.body.is_object()) return json(a.status);
  json v = a.body;
  v.erase("token");
  return v;
}

}  // namespace

TEST_CASE(
    "every node names the same replicas; writes through any node land "
    "on them") {
  Region region(4, 3);
  INFO(region.etcd.error());
  REQUIRE(region.etcd.ready());
  for (auto& n : region.nodes) REQUIRE(!n->url().empty());
  REQUIRE(region.SeeUp(region.All(), {"n1", "n2", "n3", "n4"}));

  // Each node takes the ring as etcd hands it over: wait until all name
  // three replicas.
  const auto settle =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (bool all = false; !all && std::chrono::steady_clock::now() < settle;) {
    all = true;
    for (auto& n : region.nodes)
      all = all && ReplicasOf(n->url(), "k").size() == 3;
  }
  int through_other = 0;
  for (int i = 0; i < 40; ++i) {
    const std::string key = "route-" + std::to_string(i);
    const std::vector<std::string> replicas =
        ReplicasOf(region.nodes[0]->url(), key);
    REQUIRE(replicas.size() == 3);
    CHECK(std::set<std::string>(replicas.begin(), replicas.end()).size() == 3);
    for (auto& n : region.nodes) CHECK(ReplicasOf(n->url(), key) == replicas);
    // Through the node that is not a replica.
    Node* other = nullptr;
    for (auto& n : region.nodes) {
      if (std::find(replicas.begin(), replicas.end(), n->id()) ==
          replicas.end()) {
        other = n.get();
      }
    }
    REQUIRE(other != nullptr);
    ++through_other;
    Answer w = Call(other->url(), "POST", "/v1/counter/" + key + "/incr?w=all",
                    R"({"by":5})");
    REQUIRE(w.status == 200);
    CHECK(w.body["value"] == 5);
    // Each replica has it in its own store (r=1 through a replica reads
    // its own state).
    for (const std::string& id : replicas) {
      Answer r =
          Call(region.Find(id)->url(), "GET", "/v1/counter/" + key + "?r=1");
      CHECK(r.status == 200);
      CHECK(r.body["value"] == 5);
    }
    // And any node reads it with a quorum.
    Answer q = Call(other->url(), "GET", "/v1/counter/" + key + "?r=quorum");
    CHECK(q.body["value"] == 5);
  }
  CHECK(through_other == 40);

  // The CLI, as a user runs it, through a node that does not hold the key.
  {
    const std::string key = "cli-key";
    const std::vector<std::string> replicas =
        ReplicasOf(region.nodes[0]->url(), key);
    Node* other = nullptr;
    for (auto& n : region.nodes) {
      if (std::find(replicas.begin(), replicas.end(), n->id()) ==
          replicas.end()) {
        other = n.get();
      }
    }
    REQUIRE(other != nullptr);
    const std::string cli =
        std::string(DELTAKV_CLI_BIN) + " --url " + other->url() + " counter ";
    CHECK(std::system((cli + "incr " + key + " 7 >/dev/null").c_str()) == 0);
    for (const std::string& id : replicas) {
      Answer r =
          Call(region.Find(id)->url(), "GET", "/v1/counter/" + key + "?r=1");
      CHECK(r.body["value"] == 7);
    }
    FILE* p = popen((cli + "get " + key).c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[256] = {0};
    const size_t n = fread(buf, 1, sizeof buf - 1, p);
    CHECK(pclose(p) == 0);
    CHECK(std::string(buf, n).find('7') != std::string::npos);
  }

  // A causal token from a write through one node: a read with it through
  // any other node sees the write (w=1: the other replicas may not have it
  // yet; the read asks every live replica).
  for (int i = 0; i < 10; ++i) {
    const std::string key = "token-" + std::to_string(i);
    Node* via = region.nodes[static_cast<size_t>(i) % 4].get();
    Answer w = Call(via->url(), "PUT", "/v1/register/" + key + "?w=1",
                    json{{"value", i}}.dump());
    REQUIRE(w.status == 200);
    const std::string token = w.body["token"].get<std::string>();
    for (auto& n : region.nodes) {
      Answer r =
          Call(n->url(), "GET",
               "/v1/register/" + key + "?r=1&timeout_ms=2000&after=" + token);
      CHECK(r.status == 200);
      CHECK(r.body["value"] == i);
    }
  }
  CHECK(Metric(region.nodes[0]->url(), "deltakv_cluster_forwarded_total") >= 0);

  // w and r are checked: above N, or not a number, is a 400.
  const std::string& url = region.nodes[0]->url();
  CHECK(Call(url, "POST", "/v1/counter/x/incr?w=4", R"({"by":1})").status ==
        400);
  CHECK(Call(url, "POST", "/v1/counter/x/incr?w=two", R"({"by":1})").status ==
        400);
  CHECK(Call(url, "GET", "/v1/counter/route-1?r=0").status == 400);
  CHECK(Call(url, "GET", "/v1/counter/route-1?r=4").status == 400);
  CHECK(Call(url, "GET", "/v1/counter/route-1?r=all").status == 200);

  // Scans see every key once, whichever node answers.
  for (auto& n : region.nodes) {
    std::set<std::string> keys;
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
      Answer a = Call(n->url(), "GET",
                      "/v1/keys?prefix=route-&limit=7" +
                          (cursor.empty() ? "" : "&cursor=" + cursor));
      REQUIRE(a.status == 200);
      for (const auto& k : a.body["keys"]) {
        CHECK(keys.insert(k["key"].get<std::string>()).second);
      }
      if (a.body["cursor"].is_null()) break;
      cursor = a.body["cursor"].get<std::string>();
    }
    CHECK(keys.size() == 40);
  }
}

TEST_CASE(
    "N=3, w=2: a node killed under load loses no acknowledged write "
    "and catches up when it is back") {
  Region region(4, 3);
  INFO(region.etcd.error());
  REQUIRE(region.etcd.ready());
  for (auto& n : region.nodes) REQUIRE(!n->url().empty());
  REQUIRE(region.SeeUp(region.All(), {"n1", "n2", "n3", "n4"}));

  Node* victim = region.nodes[1].get();
  std::vector<Node*> survivors = {region.nodes[0].get(), region.nodes[2].get(),
                                  region.nodes[3].get()};
  std::atomic<bool> killed{false}, stop{false};
  std::atomic<int64_t> kill_ms{0};
  const auto t0 = std::chrono::steady_clock::now();
  auto now_ms = [t0] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now() - t0)
        .count();
  };
  std::mutex mu;
  std::map<std::string, int64_t> counter_acked, counter_tried;  // by key
  std::map<std::string, std::string> registers;                 // acked
  std::map<std::string, std::set<std::string>> members;         // acked
  std::map<std::string, std::set<std::string>> values;          // acked
  int late_failures = 0, late_writes = 0;
  std::string late_error;

  auto writer = [&](int w) {
    std::mt19937 rng(static_cast<unsigned>(w) * 7919u + 1);
    for (int i = 0; !stop; ++i) {
      const bool after_kill = killed.load();
      const auto& pool = after_kill ? survivors : region.All();
      Node* n = pool[rng() % pool.size()];
      const int kind = i % 4;
      const std::string tag = std::to_string(w) + "-" + std::to_string(i);
      std::string key, target, body;
      switch (kind) {
        case 0:
          key = "c" + std::to_string(i % 7);
          target = "/v1/counter/" + key + "/incr?w=2";
          body = R"({"by":1})";
          break;
        case 1:
          key = "r" + tag;
          target = "/v1/register/" + key + "?w=2";
          body = json{{"value", tag}}.dump();
          break;
        case 2:
          key = "s" + std::to_string(i % 5);
          target = "/v1/set/" + key + "/add?w=2";
          body = json{{"members", {tag}}}.dump();
          break;
        default:
          key = "l" + std::to_string(i % 3);
          target = "/v1/list/" + key + "/push?w=2";
          body = json{{"values", {tag}}}.dump();
          break;
      }
      const int64_t started = now_ms();
      {
        std::lock_guard<std::mutex> l(mu);
        if (kind == 0) ++counter_tried[key];
      }
      Answer a = Call(n->url(), kind == 1 ? "PUT" : "POST", target, body);
      std::lock_guard<std::mutex> l(mu);
      // Writes begun a second after the kill must all succeed.
      if (after_kill && started > kill_ms.load() + 1000) {
        ++late_writes;
        if (a.status != 200) {
          ++late_failures;
          late_error = n->id() + " " + target + ": " +
                       std::to_string(a.status) + " " + a.body.dump();
        }
      }
      if (a.status != 200) continue;
      switch (kind) {
        case 0:
          ++counter_acked[key];
          break;
        case 1:
          registers[key] = tag;
          break;
        case 2:
          members[key].insert(tag);
          break;
        default:
          values[key].insert(tag);
          break;
      }
    }
  };
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) writers.emplace_back(writer, w);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  kill_ms = now_ms();
  killed = true;
  victim->server().Kill();
  std::this_thread::sleep_for(std::chrono::milliseconds(4000));
  stop = true;
  for (auto& t : writers) t.join();
  INFO(late_error);
  CHECK(late_writes > 20);
  CHECK(late_failures == 0);

  // Every acknowledged write, through every survivor, with r=2.
  auto check_all = [&](const std::vector<Node*>& via, const std::string& r) {
    for (Node* n : via) {
      for (const auto& [key, acked] : counter_acked) {
        Answer a = Call(n->url(), "GET", "/v1/counter/" + key + "?r=" + r);
        REQUIRE(a.status == 200);
        CHECK(a.body["value"].get<int64_t>() >= acked);
        CHECK(a.body["value"].get<int64_t>() <= counter_tried[key]);
      }
      for (const auto& [key, tag] : registers) {
        Answer a = Call(n->url(), "GET", "/v1/register/" + key + "?r=" + r);
        CHECK(a.status == 200);
        CHECK(a.body["value"] == tag);
      }
      for (const auto& [key, tags] : members) {
        Answer a =
            Call(n->url(), "GET", "/v1/set/" + key + "?limit=100000&r=" + r);
        REQUIRE(a.status == 200);
        std::set<std::string> got;
        for (const auto& m : a.body["members"])
          got.insert(m.get<std::string>());
        for (const std::string& t : tags) CHECK(got.contains(t));
      }
      for (const auto& [key, tags] : values) {
        Answer a =
            Call(n->url(), "GET", "/v1/list/" + key + "?limit=100000&r=" + r);
        REQUIRE(a.status == 200);
        std::set<std::string> got;
        for (const auto& v : a.body["values"]) got.insert(v.get<std::string>());
        for (const std::string& t : tags) CHECK(got.contains(t));
      }
    }
  };
  check_all(survivors, "2");

  // Back: it takes its hints and answers for its keys from its own store.
  victim->Restart();
  REQUIRE(!victim->url().empty());
  REQUIRE(region.SeeUp(region.All(), {"n1", "n2", "n3", "n4"}));
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool drained = false;
  while (!drained && std::chrono::steady_clock::now() < deadline) {
    drained = true;
    for (Node* n : survivors) {
      if (Metric(n->url(), "deltakv_cluster_hints_pending") != 0) {
        drained = false;
      }
    }
    if (!drained) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  REQUIRE(drained);
  CHECK(
      Metric(survivors[0]->url(), "deltakv_cluster_hints_delivered_total") +
          Metric(survivors[1]->url(), "deltakv_cluster_hints_delivered_total") +
          Metric(survivors[2]->url(), "deltakv_cluster_hints_delivered_total") >
      0);
  // The victim's own store (r=1 through it, for the keys it holds), read
  // before any quorum read could repair it, equals what r=all answers: it
  // caught up. And r=all agrees on every node.
  std::vector<std::string> keys;
  for (const auto& [k, v] : counter_acked) keys.push_back("counter/" + k);
  for (const auto& [k, v] : registers) keys.push_back("register/" + k);
  for (const auto& [k, v] : members) keys.push_back("set/" + k);
  for (const auto& [k, v] : values) keys.push_back("list/" + k);
  int held_by_victim = 0;
  for (const std::string& k : keys) {
    const std::string name = k.substr(k.find('/') + 1);
    const std::string target = "/v1/" + k + "?limit=100000&r=all";
    const auto replicas = ReplicasOf(victim->url(), name);
    json own;
    const bool held = std::find(replicas.begin(), replicas.end(),
                                victim->id()) != replicas.end();
    if (held) {
      ++held_by_victim;
      own = Value(Call(victim->url(), "GET", "/v1/" + k + "?limit=100000&r=1"));
    }
    const json expected = Value(Call(region.nodes[0]->url(), "GET", target));
    INFO(k);
    if (held) CHECK(own == expected);
    for (auto& n : region.nodes) {
      CHECK(Value(Call(n->url(), "GET", target)) == expected);
    }
  }
  CHECK(held_by_victim > 0);
  check_all(region.All(), "all");
}

TEST_CASE(
    "fewer replicas than asked: 503 unavailable, and the write still "
    "replicates") {
  Region region(2, 2);
  INFO(region.etcd.error());
  REQUIRE(region.etcd.ready());
  for (auto& n : region.nodes) REQUIRE(!n->url().empty());
  REQUIRE(region.SeeUp(region.All(), {"n1", "n2"}));
  Node* a = region.nodes[0].get();
  Node* b = region.nodes[1].get();
  Answer first =
      Call(a->url(), "POST", "/v1/counter/k/incr?w=2", R"({"by":1})");
  REQUIRE(first.status == 200);
  const std::string token = first.body["token"].get<std::string>();
  REQUIRE(Call(a->url(), "POST", "/v1/set/s/add?w=2", R"({"members":["a"]})")
              .status == 200);
  b->server().Kill();
  REQUIRE(region.SeeUp({a}, {"n1"}));
  // a's coordinator takes the liveness it polls (every 200 ms): until then
  // b is still a target, and a read asking every live target is 503.
  {
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until &&
           ReplicasOf(a->url(), "k") != std::vector<std::string>{"n1"}) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(ReplicasOf(a->url(), "k") == std::vector<std::string>{"n1"});
  }
  // A read with a causal token asks every replica that is up: with b down
  // that is a alone, not a 503.
  Answer after = Call(a->url(), "GET", "/v1/counter/k?after=" + token);
  CHECK(after.status == 200);
  CHECK(after.body["value"] == 1);
  // A write that changes nothing (deleting a key never written) while b is
  // down leaves no hint: an empty one made b refuse the real hints sent
  // in the same batch.
  const int noop =
      Call(a->url(), "DELETE", "/v1/keys/never-written?w=1").status;
  CHECK((noop == 200 || noop == 404));
  Answer u = Call(a->url(), "POST", "/v1/counter/k/incr?w=2", R"({"by":10})");
  CHECK(u.status == 503);
  CHECK(u.body["error"]["code"] == "unavailable");
  const std::string msg = u.body["error"]["message"].get<std::string>();
  CHECK(msg.find("1 of 2") != std::string::npos);
  CHECK(msg.find("will still replicate") != std::string::npos);
  CHECK(Call(a->url(), "GET", "/v1/counter/k?r=2").status == 503);
  Answer one = Call(a->url(), "GET", "/v1/counter/k?r=1");
  CHECK(one.body["value"] == 11);
  CHECK(Call(a->url(), "POST", "/v1/counter/k/incr?w=1", R"({"by":100})")
            .status == 200);
  b->Restart();
  REQUIRE(!b->url().empty());
  REQUIRE(region.SeeUp(region.All(), {"n1", "n2"}));
  // The hints reach b: its own store has all three increments.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(20);
  json got;
  while (std::chrono::steady_clock::now() < deadline) {
    got = Call(b->url(), "GET", "/v1/counter/k?r=1").body;
    if (got.is_object() && got["value"] == 111) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(got["value"] == 111);
}

TEST_CASE(
    "a node whose --internal port is taken exits with status 1, no "
    "abort") {
  EtcdProcess etcd;
  INFO(etcd.error());
  REQUIRE(etcd.ready());
  // Hold a port: the node cannot bind it.
  const int port = FreePortPair();
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(listen(fd, 1) == 0);
  char tmpl[] = "/tmp/deltakv-bind-test-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string cmd =
      std::string("timeout 20 ") + DELTAKV_SERVER_BIN + " --data-dir " + dir +
      "/d --http 127.0.0.1:0 --log-level error --etcd " + etcd.endpoint() +
      " --node-id n1 --insecure-replication --internal 127.0.0.1:" +
      std::to_string(port) + " 2>/dev/null";
  const int status = std::system(cmd.c_str());
  close(fd);
  std::filesystem::remove_all(dir);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);  // 134 was SIGABRT (std::terminate)
}

TEST_CASE("SIGTERM under forwarded load: the node stops cleanly") {
  // N=2 over 3 nodes: a third of the keys are forwarded by each node.
  Region region(3, 2);
  INFO(region.etcd.error());
  REQUIRE(region.etcd.ready());
  for (auto& n : region.nodes) REQUIRE(!n->url().empty());
  REQUIRE(region.SeeUp(region.All(), {"n1", "n2", "n3"}));
  Node* target = region.nodes[0].get();
  const std::string url = target->url();
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        const std::string key =
            "t" + std::to_string(t) + "-" + std::to_string(i % 50);
        // Through the node being stopped and through the others, which
        // forward to it: both sides of a call die with it.
        const std::string via =
            i % 2 ? url
                  : region.nodes[1 + static_cast<size_t>(i / 2) % 2]->url();
        Call(via, "POST", "/v1/counter/" + key + "/incr?w=2", R"({"by":1})");
        Call(via, "GET", "/v1/counter/" + key + "?r=2");
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const int status = target->server().Stop();
  stop = true;
  for (auto& t : load) t.join();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a node that never read its ring is not ready and serves no key") {
  // etcd is not there, and the node has no ring from an earlier run.
  ServerProcess s({"--etcd",
                   "http://127.0.0.1:" + std::to_string(FreePortPair()),
                   "--node-id", "lonely", "--internal",
                   "127.0.0.1:" + std::to_string(FreePortPair()),
                   "--etcd-timeout-ms", "200", "--insecure-replication"});
  REQUIRE(!s.url().empty());
  CHECK(Call(s.url(), "GET", "/healthz").status == 200);
  Answer ready = Call(s.url(), "GET", "/readyz");
  CHECK(ready.status == 503);
  CHECK(ready.body["error"]["message"].get<std::string>().find("ring") !=
        std::string::npos);
  Answer w = Call(s.url(), "POST", "/v1/counter/c/incr", R"({"by":1})");
  CHECK(w.status == 503);
  CHECK(w.body["error"]["code"] == "unavailable");
  CHECK(Call(s.url(), "GET", "/v1/counter/c").status == 503);
}

TEST_CASE(
    "a replica that never answers (SIGSTOP): w=2 succeeds, w=3 is 503 "
    "in bounded time, and it catches up when it resumes") {
  Region region(3, 3);
  INFO(region.etcd.error());
  REQUIRE(region.etcd.ready());
  for (auto& n : region.nodes) REQUIRE(!n->url().empty());
  REQUIRE(region.SeeUp(region.All(), {"n1", "n2", "n3"}));
  Node* a = region.nodes[0].get();
  Node* hung = region.nodes[2].get();
  REQUIRE(
      Call(a->url(), "POST", "/v1/counter/k/incr?w=3", R"({"by":1})").status ==
      200);
  REQUIRE(kill(hung->server().pid(), SIGSTOP) == 0);
  // Its connection stays open and its lease alive for a while: calls to it
  // get no answer at all, and time out (--node-timeout-ms 700).
  const auto t0 = std::chrono::steady_clock::now();
  Answer two = Call(a->url(), "POST", "/v1/counter/k/incr?w=2", R"({"by":10})");
  Answer three =
      Call(a->url(), "POST", "/v1/counter/k/incr?w=3", R"({"by":100})");
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(two.status == 200);
  CHECK(three.status == 503);
  CHECK(three.body.dump().find("will still replicate") != std::string::npos);
  CHECK(took < std::chrono::seconds(5));
  Answer read = Call(a->url(), "GET", "/v1/counter/k?r=2");
  CHECK(read.status == 200);
  CHECK(read.body["value"] == 111);
  REQUIRE(kill(hung->server().pid(), SIGCONT) == 0);
  // Resumed: the deltas it missed reach it as hints.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  json got;
  while (std::chrono::steady_clock::now() < deadline) {
    got = Call(hung->url(), "GET", "/v1/counter/k?r=1").body;
    if (got.is_object() && got["value"] == 111) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(got["value"] == 111);
}
