// Partition: three regions, each on its own loopback address inside a
// network namespace this test creates for itself (unshare), so iptables
// rules stay private and vanish with the test. Region C is cut off from A
// and B with iptables DROP while all three keep writing; after the heal
// every region converges with nothing acknowledged lost. Needs root (CI
// runs as root) and iptables (scripts/setup installs it).
#include <sched.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "client/http_client.h"
#include "tests/server_harness.h"

using deltakv::HttpClient;
using deltakv::testing::ServerProcess;
using nlohmann::json;

namespace {

int Run(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str());
}

json Get(HttpClient& c, const std::string& target) {
  auto r = c.Request("GET", target);
  if (!r.ok() || r->status != 200) return json();
  return json::parse(r->body, nullptr, false);
}

}  // namespace

TEST_CASE("a partitioned region keeps writing and converges after the heal") {
  REQUIRE(geteuid() == 0);  // network namespaces and iptables need root
  REQUIRE(unshare(CLONE_NEWNET) == 0);
  REQUIRE(Run("ip link set lo up") == 0);
  REQUIRE(Run("iptables -L -n") == 0);

  char tmpl[] = "/tmp/deltakv-partition-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::vector<std::string> names = {"pa", "pb", "pc"};
  const std::vector<std::string> ips = {"127.0.0.2", "127.0.0.3", "127.0.0.4"};
  const uint16_t repl = 7100;  // our own namespace: every port is free
  std::vector<std::unique_ptr<ServerProcess>> servers;
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (size_t i = 0; i < 3; ++i) {
    std::vector<std::string> args = {"--region",
                                     names[i],
                                     "--repl",
                                     ips[i] + ":" + std::to_string(repl),
                                     "--insecure-replication",
                                     "--repl-heartbeat-ms",
                                     "200"};
    for (size_t j = 0; j < 3; ++j) {
      if (j == i) continue;
      args.push_back("--peer");
      args.push_back(names[j] + "=" + ips[j] + ":" + std::to_string(repl));
    }
    std::filesystem::create_directories(dir + "/" + names[i]);
    servers.push_back(
        std::make_unique<ServerProcess>(args, dir + "/" + names[i], ips[i]));
    REQUIRE_FALSE(servers.back()->url().empty());
    clients.push_back(
        std::move(HttpClient::Create(servers.back()->url()).value()));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  // Cut C (127.0.0.4) off from A and B, both directions.
  for (const char* other : {"127.0.0.2", "127.0.0.3"}) {
    REQUIRE(Run(std::string("iptables -A INPUT -s 127.0.0.4 -d ") + other +
                " -j DROP") == 0);
    REQUIRE(Run(std::string("iptables -A INPUT -s ") + other +
                " -d 127.0.0.4 -j DROP") == 0);
  }

  std::atomic<int64_t> acked{0};
  std::vector<std::set<std::string>> members(3);
  std::vector<std::thread> writers;
  for (size_t i = 0; i < 3; ++i) {
    writers.emplace_back([&, i] {
      for (int n = 0; n < 150; ++n) {
        auto r = clients[i]->Request("POST", "/v1/counter/total/incr",
                                     R"({"by":1})");
        if (r.ok() && r->status == 200) ++acked;
        std::string m = names[i] + "-" + std::to_string(n);
        auto s = clients[i]->Request("POST", "/v1/set/m/add",
                                     json{{"members", {m}}}.dump());
        if (s.ok() && s->status == 200) members[i].insert(m);
      }
    });
  }
  for (auto& w : writers) w.join();
  // During the partition C sees only its own writes.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  json c_view = Get(*clients[2], "/v1/counter/total");
  REQUIRE(c_view.is_object());
  CHECK(c_view["value"].get<int64_t>() == 150);
  json status = Get(*clients[2], "/v1/status");
  for (auto& p : status["peers"]) CHECK(p["connected"] == false);

  REQUIRE(Run("iptables -F INPUT") == 0);  // heal

  bool converged = false;
  for (int t = 0; t < 150 && !converged; ++t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    converged = true;
    for (auto& c : clients) {
      json v = Get(*c, "/v1/counter/total");
      json s = Get(*c, "/v1/set/m");
      if (!v.is_object() || v["value"] != acked.load() || !s.is_object() ||
          s["size"] != 450) {
        converged = false;
      }
    }
  }
  if (!converged) {
    for (auto& c : clients) {
      UNSCOPED_INFO(Get(*c, "/v1/status").dump());
      UNSCOPED_INFO(Get(*c, "/v1/counter/total").dump());
    }
  }
  CHECK(converged);
  CHECK(acked.load() == 450);
  for (size_t i = 0; i < 3; ++i) {
    json s = Get(*clients[i], "/v1/set/m");
    std::set<std::string> got(s["members"].begin(), s["members"].end());
    for (auto& list : members) {
      for (auto& m : list) CHECK(got.count(m) == 1);
    }
  }
  servers.clear();
  std::filesystem::remove_all(dir);
}
