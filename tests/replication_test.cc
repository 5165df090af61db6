// Geo-replication end to end: real deltakv-server processes (one per
// region) on loopback, replicating over ZeroMQ; workloads in every region,
// faults (loss, SIGKILL, trimmed logs, foreign keys), then convergence and
// the values checked against models.
#include <signal.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "client/http_client.h"
#include "tests/region_cluster.h"
#include "tests/server_harness.h"

using deltakv::HttpClient;
using deltakv::testing::FreePortPair;
using deltakv::testing::Cluster;
using deltakv::testing::Counter;
using deltakv::testing::Post;
using deltakv::testing::ServerProcess;
using nlohmann::json;

namespace {

// The model of a random workload, shared by the region threads.
struct Model {
  std::mutex mu;
  int64_t acked = 0, attempted = 0;  // counter "total"
  // Members added (acknowledged) and members whose removal was attempted.
  std::set<std::string> added, remove_tried;
};

// Random operations of every type against region `i` for `duration`.
void Workload(Cluster& cl, size_t i, std::chrono::milliseconds duration,
              Model& model, uint32_t seed) {
  std::mt19937 rng(seed);
  HttpClient& http = cl.client(i);
  const std::string region = cl.spec(i).name;
  auto end = std::chrono::steady_clock::now() + duration;
  int n = 0;
  while (std::chrono::steady_clock::now() < end) {
    ++n;
    switch (rng() % 5) {
      case 0: {
        int64_t by = static_cast<int64_t>(rng() % 11) - 3;
        {
          std::lock_guard<std::mutex> l(model.mu);
          model.attempted += by;  // by may be negative: track both bounds
        }
        if (Post(http, "/v1/counter/total/incr", {{"by", by}}) == 200) {
          std::lock_guard<std::mutex> l(model.mu);
          model.acked += by;
        }
        break;
      }
      case 1: {
        std::string m = region + "-" + std::to_string(n);
        if (Post(http, "/v1/set/members/add", {{"members", {m}}}) == 200) {
          std::lock_guard<std::mutex> l(model.mu);
          model.added.insert(m);
        }
        break;
      }
      case 2: {
        std::string m = "shared-" + std::to_string(rng() % 5);
        if (rng() % 2) {
          {
            std::lock_guard<std::mutex> l(model.mu);
            model.remove_tried.insert(m);
          }
          Post(http, "/v1/set/members/remove", {{"members", {m}}});
        } else {
          Post(http, "/v1/set/members/add", {{"members", {m}}});
        }
        break;
      }
      case 3: {
        auto r =
            http.Request("PUT", "/v1/register/reg",
                         json{{"value", {{"from", region}, {"n", n}}}}.dump());
        (void)r;
        break;
      }
      default: {
        json out;
        auto r = http.Request("GET", "/v1/list/doc?limit=1");
        uint64_t len = 0;
        if (r.ok() && r->status == 200) {
          len = json::parse(r->body)["length"].get<uint64_t>();
        }
        if (len > 3 && rng() % 3 == 0) {
          Post(http, "/v1/list/doc/delete",
               {{"index", rng() % len}, {"count", 1}});
        } else {
          Post(http, "/v1/list/doc/insert",
               {{"index", len == 0 ? 0 : rng() % (len + 1)},
                {"values", {region.substr(0, 1), std::to_string(n % 10)}}});
        }
      }
    }
  }
}

void CheckModel(Cluster& cl, Model& model, int64_t acked_extra = 0) {
  json digest = cl.Digest(0);
  REQUIRE(digest.is_object());
  int64_t total =
      digest.contains("total") ? digest["total"]["value"].get<int64_t>() : 0;
  // Jepsen's counter check with negative increments: the value lies
  // between what was acknowledged and what was attempted, in the direction
  // of each unacknowledged increment.
  std::lock_guard<std::mutex> l(model.mu);
  int64_t lo = std::min(model.acked, model.attempted) - std::abs(acked_extra);
  int64_t hi = std::max(model.acked, model.attempted) + std::abs(acked_extra);
  CHECK(total >= lo);
  CHECK(total <= hi);
  std::set<std::string> members;
  if (digest.contains("members")) {
    for (auto& m : digest["members"]["members"]) members.insert(m);
  }
  for (const std::string& m : model.added) {
    if (model.remove_tried.count(m)) continue;
    INFO("member " << m);
    CHECK(members.count(m) == 1);
  }
}

}  // namespace

TEST_CASE("three regions under concurrent workloads converge to the model") {
  Cluster cl({"us-east", "eu-west", "ap-south"});
  Model model;
  std::vector<std::thread> ts;
  for (size_t i = 0; i < cl.size(); ++i) {
    ts.emplace_back([&, i] {
      Workload(cl, i, std::chrono::milliseconds(2500), model,
               static_cast<uint32_t>(100 + i));
    });
  }
  for (auto& t : ts) t.join();
  REQUIRE(cl.Converge());
  CheckModel(cl, model);
  // The acknowledged counter increments are exact when nothing failed.
  CHECK(model.acked == model.attempted);
  CHECK(Counter(cl.client(1), "total") == model.acked);
}

TEST_CASE("tiny high-water marks and dropped frames still converge") {
  Cluster cl({"r1", "r2", "r3"},
             {"--repl-hwm", "2", "--repl-debug-drop-rate", "0.3"});
  Model model;
  std::vector<std::thread> ts;
  for (size_t i = 0; i < cl.size(); ++i) {
    ts.emplace_back([&, i] {
      Workload(cl, i, std::chrono::milliseconds(2000), model,
               static_cast<uint32_t>(7 + i));
    });
  }
  for (auto& t : ts) t.join();
  REQUIRE(cl.Converge(std::chrono::seconds(60)));
  CheckModel(cl, model);
  auto s = cl.client(0).Request("GET", "/v1/status");
  REQUIRE(s.ok());
  uint64_t catchups = 0;
  INFO(s->body);
  const json status = json::parse(s->body);
  for (auto& p : status["peers"]) catchups += p["catchups"].get<uint64_t>();
  CHECK(catchups > 0);  // loss was repaired by catch-up, not luck
}

TEST_CASE(
    "a region killed with SIGKILL mid-stream restarts; no delta is "
    "applied twice") {
  Cluster cl({"k1", "k2", "k3"});
  std::atomic<bool> stop{false}, stop_victim{false};
  std::atomic<int64_t> acked{0}, attempted{0};
  std::vector<std::thread> ts;
  for (size_t i = 0; i < cl.size(); ++i) {
    ts.emplace_back([&, i] {
      // The victim (region 1) writes until just before it is killed; its
      // client object is replaced when it restarts.
      while (!stop && !(i == 1 && stop_victim)) {
        ++attempted;
        if (Post(cl.client(i), "/v1/counter/exact/incr", {{"by", 1}}) == 200) {
          ++acked;
        } else {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  stop_victim = true;
  ts[1].join();
  cl.Kill(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  cl.Start(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  stop = true;
  ts[0].join();
  ts[2].join();
  REQUIRE(cl.Converge());
  int64_t v = Counter(cl.client(0), "exact");
  CHECK(v >= acked.load());
  CHECK(v <= attempted.load());
  for (size_t i = 1; i < cl.size(); ++i)
    CHECK(Counter(cl.client(i), "exact") == v);
}

TEST_CASE(
    "a region started empty after the others trimmed their logs "
    "catches up by state transfer") {
  Cluster cl({"s1", "s2"}, {"--max-log-entries", "20"});
  for (int i = 0; i < 150; ++i) {
    REQUIRE(Post(cl.client(i % 2),
                 "/v1/counter/c" + std::to_string(i % 7) + "/incr",
                 {{"by", i}}) == 200);
    REQUIRE(Post(cl.client(i % 2), "/v1/set/s/add",
                 {{"members", {"m" + std::to_string(i)}}}) == 200);
  }
  REQUIRE(Post(cl.client(0), "/v1/list/l/push", {{"values", {"x", "y"}}}) ==
          200);
  REQUIRE(cl.Converge());
  cl.Stop(1);
  // More writes while s2 is down; s1's log keeps only the last 20
  // (--max-log-entries), so s2 cannot catch up from the log.
  for (int i = 0; i < 100; ++i) {
    REQUIRE(Post(cl.client(0), "/v1/set/s/remove",
                 {{"members", {"m" + std::to_string(i)}}}) == 200);
  }
  // s2 comes back with its data wiped: it needs a state transfer.
  std::filesystem::remove_all(cl.dir() + "/s2");
  cl.Start(1);
  REQUIRE(cl.Converge());
  // The data becomes visible with the last chunk; the counter moves a
  // moment later (after the watermark commits): poll for it, bounded.
  uint64_t transfers = 0;
  for (int i = 0; i < 100 && transfers == 0; ++i) {
    auto s = cl.client(1).Request("GET", "/v1/status");
    REQUIRE(s.ok());
    const json status = json::parse(s->body);
    transfers = status["peers"][0]["state_transfers"].get<uint64_t>();
    if (transfers == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  CHECK(transfers >= 1);
  auto set = cl.client(1).Request("GET", "/v1/set/s");
  CHECK(json::parse(set->body)["size"] == 50);
  // The wiped region is a new incarnation: its new writes, numbered from 1
  // again, must not be taken by s1 for duplicates of its old ones.
  REQUIRE(Post(cl.client(1), "/v1/counter/after-wipe/incr", {{"by", 4}}) ==
          200);
  REQUIRE(cl.Converge());
  CHECK(Counter(cl.client(0), "after-wipe") == 4);
}

TEST_CASE("with CurveZMQ, a peer whose key is not allowed is refused") {
  Cluster cl({"c1", "c2"}, {}, /*curve=*/true);
  REQUIRE(Post(cl.client(0), "/v1/counter/x/incr", {{"by", 5}}) == 200);
  REQUIRE(cl.Converge());
  // A rogue region with its own key pair, posing as c2, connects to c1.
  std::string rogue = cl.dir() + "/rogue";
  REQUIRE(std::system((std::string(DELTAKV_CLI_BIN) + " keygen c2 --out-dir " +
                       rogue + "/keys >/dev/null")
                          .c_str()) == 0);
  std::filesystem::create_directories(rogue + "/peers");
  std::filesystem::copy_file(cl.dir() + "/peers/c1.key",
                             rogue + "/peers/c1.key");
  uint16_t port = FreePortPair();
  ServerProcess impostor(
      {"--region", "c2", "--repl", "127.0.0.1:" + std::to_string(port),
       "--peer", "c1=127.0.0.1:" + std::to_string(cl.spec(0).repl),
       "--curve-secret-key-file", rogue + "/keys/c2.secret",
       "--curve-peer-keys-dir", rogue + "/peers", "--repl-heartbeat-ms", "200"},
      rogue);
  REQUIRE_FALSE(impostor.url().empty());
  auto ic = HttpClient::Create(impostor.url());
  REQUIRE(Post(**ic, "/v1/counter/x/incr", {{"by", 1000}}) == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(Counter(cl.client(0), "x") == 5);
  auto m = cl.client(0).Request("GET", "/metrics");
  REQUIRE(m.ok());
  const std::string name = "\ndeltakv_curve_refused_total ";
  auto pos = m->body.find(name);
  REQUIRE(pos != std::string::npos);
  CHECK(std::stoll(m->body.substr(pos + name.size())) > 0);
}

// The counter `name` in `/metrics` of region i.
uint64_t MetricValue(HttpClient& c, const std::string& name) {
  auto m = c.Request("GET", "/metrics");
  REQUIRE(m.ok());
  auto pos = m->body.find("\n" + name + " ");
  REQUIRE(pos != std::string::npos);
  return std::stoull(m->body.substr(pos + name.size() + 2));
}

TEST_CASE("with CurveZMQ, a peer cannot acknowledge as another region") {
  Cluster cl({"k1", "k2", "k3"}, {}, /*curve=*/true);
  // k3 goes away before any write, so that the impostor below can follow
  // k1's stream from its first delta and acknowledge it (no catch-up).
  cl.Stop(2);
  auto acked_by_k3 = [&] {
    auto s = cl.client(0).Request("GET", "/v1/status");
    REQUIRE(s.ok());
    const json status = json::parse(s->body);
    for (const json& p : status["peers"]) {
      if (p["region"] == "k3") return p["acked"].get<uint64_t>();
    }
    FAIL("k3 is not a peer of k1: " << s->body);
    return uint64_t{0};
  };
  const uint64_t acked_before = acked_by_k3();
  const uint64_t dropped_before =
      MetricValue(cl.client(0), "deltakv_replication_dropped_frames_total");
  // k2's key is allowed at k1, but a server holding it calls itself k3.
  std::string rogue = cl.dir() + "/as-k3";
  std::filesystem::create_directories(rogue + "/peers");
  std::filesystem::copy_file(cl.dir() + "/peers/k1.key",
                             rogue + "/peers/k1.key");
  uint16_t port = FreePortPair();
  ServerProcess impostor(
      {"--region", "k3", "--repl", "127.0.0.1:" + std::to_string(port),
       "--peer", "k1=127.0.0.1:" + std::to_string(cl.spec(0).repl),
       "--curve-secret-key-file", cl.dir() + "/keys/k2.secret",
       "--curve-peer-keys-dir", rogue + "/peers", "--repl-heartbeat-ms", "200"},
      rogue);
  REQUIRE_FALSE(impostor.url().empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // links up
  // Only k1 and k2 are real: acks as k3 from k2's key must not count.
  CHECK(Post(cl.client(0), "/v1/counter/x/incr?wait_regions=2&timeout_ms=5000",
             {{"by", 1}}) == 200);
  CHECK(Post(cl.client(0), "/v1/counter/x/incr?wait_regions=3&timeout_ms=2000",
             {{"by", 1}}) == 504);
  CHECK(Counter(cl.client(0), "x") == 2);
  CHECK(acked_by_k3() == acked_before);
  CHECK(MetricValue(cl.client(0), "deltakv_replication_dropped_frames_total") >
        dropped_before);
}

TEST_CASE("wait_regions and after= tokens across regions") {
  Cluster cl({"w1", "w2", "w3"});
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // links up
  json out;
  REQUIRE(Post(cl.client(0),
               "/v1/counter/w/incr?wait_regions=3&timeout_ms=5000", {{"by", 3}},
               &out) == 200);
  std::string token = out["token"];
  // Applied in all three already: a read anywhere with the token sees it.
  for (size_t i = 0; i < 3; ++i) {
    auto r = cl.client(i).Request(
        "GET", "/v1/counter/w?after=" + token + "&timeout_ms=5000");
    REQUIRE(r.ok());
    CHECK(r->status == 200);
    CHECK(json::parse(r->body)["value"] == 3);
  }
  // With w3 down, three regions cannot confirm in time: 504, yet applied.
  cl.Stop(2);
  int status =
      Post(cl.client(0), "/v1/counter/w/incr?wait_regions=3&timeout_ms=500",
           {{"by", 1}}, &out);
  CHECK(status == 504);
  CHECK(out["error"]["message"].get<std::string>().find("applied locally") !=
        std::string::npos);
  CHECK(Counter(cl.client(0), "w") == 4);
  CHECK(Post(cl.client(0), "/v1/counter/w/incr?wait_regions=2&timeout_ms=5000",
             {{"by", 1}}) == 200);
  CHECK(Post(cl.client(0), "/v1/counter/w/incr?wait_regions=4", {{"by", 1}}) ==
        400);
}

TEST_CASE("SIGHUP reloads the peer set without a restart") {
  char tmpl[] = "/tmp/deltakv-reload-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const uint16_t pa = FreePortPair(), pb = FreePortPair();
  const std::string conf = dir + "/a.toml";
  auto write_conf = [&](bool with_peer) {
    std::ofstream f(conf);
    f << "region = \"ra\"\nrepl = \"127.0.0.1:" << pa << "\"\n"
      << "insecure-replication = true\nrepl-heartbeat-ms = 200\n";
    if (with_peer) f << "peer = [\"rb=127.0.0.1:" << pb << "\"]\n";
  };
  write_conf(false);
  std::filesystem::create_directories(dir + "/a");
  std::filesystem::create_directories(dir + "/b");
  ServerProcess a({"--config", conf}, dir + "/a");
  ServerProcess b(
      {"--region", "rb", "--repl", "127.0.0.1:" + std::to_string(pb), "--peer",
       "ra=127.0.0.1:" + std::to_string(pa), "--insecure-replication",
       "--repl-heartbeat-ms", "200"},
      dir + "/b");
  REQUIRE_FALSE(a.url().empty());
  REQUIRE_FALSE(b.url().empty());
  auto ca = std::move(HttpClient::Create(a.url()).value());
  auto cb = std::move(HttpClient::Create(b.url()).value());
  REQUIRE(Post(*cb, "/v1/counter/h/incr", {{"by", 9}}) == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  CHECK(Counter(*ca, "h") == 0);  // a does not follow b yet
  write_conf(true);
  REQUIRE(kill(a.pid(), SIGHUP) == 0);
  bool seen = false;
  for (int i = 0; i < 100 && !seen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    seen = Counter(*ca, "h") == 9;
  }
  CHECK(seen);
  a.Stop();
  b.Stop();
  std::filesystem::remove_all(dir);
}
