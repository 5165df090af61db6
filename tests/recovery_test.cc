// Recovery end to end: regions that lose their disk, state transfers that
// lose their sender mid-way, acknowledgements and causal tokens across a
// region's incarnations. Real deltakv-server processes on loopback.
#include <signal.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/region_cluster.h"

using deltakv::testing::Cluster;
using deltakv::testing::Counter;
using deltakv::testing::Post;
using nlohmann::json;

namespace {

json Status(Cluster& cl, size_t i) {
  auto r = cl.client(i).Request("GET", "/v1/status");
  if (!r.ok() || r->status != 200) return json();
  return json::parse(r->body, nullptr, false);
}

// Waits (bounded) until `pred` holds.
template <typename Pred>
bool WaitFor(Pred pred, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// Writes counters c-0..c-(n-1) (c-i incremented by i+1) at region i from
// four threads.
void WriteCounters(Cluster& cl, size_t region, int n, const std::string& p) {
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto c = deltakv::HttpClient::Create(cl.url(region));
      if (!c.ok()) {
        ++failed;
        return;
      }
      for (int i = next++; i < n; i = next++) {
        json body = {{"by", i + 1}};
        if (Post(**c, "/v1/counter/" + p + std::to_string(i) + "/incr", body) !=
            200) {
          ++failed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(failed == 0);
}

}  // namespace

TEST_CASE("a region whose disk is lost gets its data back from its peers") {
  Cluster cl({"la", "lb", "lc"});
  WriteCounters(cl, 0, 40, "c-");
  REQUIRE(Post(cl.client(0), "/v1/set/s/add", {{"members", {"x", "y"}}}) ==
          200);
  REQUIRE(cl.client(0)
              .Request("PUT", "/v1/register/r", R"({"value":{"v":1}})")
              ->status == 200);
  REQUIRE(Post(cl.client(0), "/v1/list/l/push", {{"values", {"1", "2"}}}) ==
          200);
  // Data that only a third region wrote, which will be offline.
  REQUIRE(Post(cl.client(2), "/v1/counter/from-c/incr", {{"by", 7}}) == 200);
  REQUIRE(cl.Converge());
  const json before = cl.Digest(1);

  cl.Stop(2);  // lc is offline: its data now lives only in lb's state
  cl.Kill(0);
  cl.Wipe(0);
  cl.Start(0);
  // Before: la asked lb for lb's own deltas (none) and stayed empty for
  // every key nobody wrote again.
  CHECK(WaitFor([&] { return cl.Digest(0) == before; },
                std::chrono::seconds(30)));
  CHECK(Counter(cl.client(0), "c-5") == 6);
  CHECK(Counter(cl.client(0), "from-c") == 7);
  // A new write of the new store replicates as usual.
  REQUIRE(Post(cl.client(0), "/v1/counter/c-5/incr", {{"by", 1}}) == 200);
  CHECK(WaitFor([&] { return Counter(cl.client(1), "c-5") == 7; },
                std::chrono::seconds(10)));
  // lc comes back and converges too (it gets la's new incarnation).
  cl.Start(2);
  CHECK(cl.Converge(std::chrono::seconds(30)));
}

TEST_CASE("a state transfer whose sender dies mid-way resumes and finishes") {
  // Small chunks, a short first deadline, a short log: the transfer is long
  // and state larger than a chunk travels in fragments.
  Cluster cl({"ta", "tb"},
             {"--max-log-entries", "100", "--repl-snapshot-chunk-bytes", "1024",
              "--repl-transfer-timeout-ms", "500"});
  cl.Stop(1);
  WriteCounters(cl, 0, 6000, "k-");
  std::vector<std::string> members;
  for (int i = 0; i < 600; ++i)
    members.push_back("member-" + std::to_string(i));
  REQUIRE(Post(cl.client(0), "/v1/set/big/add", {{"members", members}}) == 200);
  cl.Start(1);
  // Kill the sender while tb is receiving (before: the receiver waited for
  // the lost reply forever and never replicated from ta again).
  REQUIRE(WaitFor(
      [&] {
        auto r = cl.client(1).Request("GET", "/v1/keys?limit=1");
        return r.ok() && r->status == 200 &&
               !json::parse(r->body)["keys"].empty();
      },
      std::chrono::seconds(20)));
  cl.Kill(0);
  cl.Start(0);
  CHECK(cl.Converge(std::chrono::seconds(60)));
  auto r = cl.client(1).Request("GET", "/v1/set/big");
  REQUIRE(r.ok());
  REQUIRE(r->status == 200);
  CHECK(json::parse(r->body)["size"] == 600);
  CHECK(Counter(cl.client(1), "k-5999") == 6000);
  // The status is published by the streams thread a moment after the data.
  json st;
  const bool done = WaitFor(
      [&] {
        st = Status(cl, 1);
        return st["peers"].size() == 1 &&
               st["peers"][0]["state_transfers"].get<int>() >= 1 &&
               st["peers"][0]["transferring"] == false;
      },
      std::chrono::seconds(5));
  INFO(st.dump());
  CHECK(done);
}

TEST_CASE("acks of a lost store do not count for its new store") {
  Cluster cl({"wa", "wb"});
  for (int i = 0; i < 20; ++i) {
    REQUIRE(Post(cl.client(0), "/v1/counter/c/incr?wait_regions=2",
                 {{"by", 1}}) == 200);
  }
  cl.Kill(0);
  cl.Wipe(0);
  cl.Start(0);
  // Let wb's heartbeats (which acknowledged seq 20 of the old store) reach
  // the new one.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  REQUIRE(kill(cl.pid(1), SIGSTOP) == 0);
  // Before: wb's acks of the old store's seq 20 covered the new store's
  // seq 1..20, so wait_regions=2 answered 200 with wb stopped.
  auto r = cl.client(0).Request(
      "POST", "/v1/counter/fresh/incr?wait_regions=2&timeout_ms=1000",
      R"({"by":1})");
  REQUIRE(kill(cl.pid(1), SIGCONT) == 0);
  REQUIRE(r.ok());
  CHECK(r->status == 504);
  CHECK(WaitFor([&] { return Counter(cl.client(1), "fresh") == 1; },
                std::chrono::seconds(10)));
}

TEST_CASE("a causal token of a lost store is not satisfied by the new one") {
  Cluster cl({"ka", "kb"});
  json out;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(Post(cl.client(0), "/v1/counter/old/incr", {{"by", 1}}, &out) ==
            200);
  }
  const std::string token = out["token"];
  REQUIRE(WaitFor([&] { return Counter(cl.client(1), "old") == 5; },
                  std::chrono::seconds(10)));
  cl.Stop(1);  // no peer to bootstrap from
  cl.Kill(0);
  cl.Wipe(0);
  cl.Start(0);
  for (int i = 0; i < 5; ++i) {
    REQUIRE(Post(cl.client(0), "/v1/counter/new/incr", {{"by", 1}}) == 200);
  }
  // Before: "ka:5" was satisfied by the new store's own seq 5, and the read
  // answered 200 without the data the token names.
  auto r = cl.client(0).Request(
      "GET", "/v1/counter/old?timeout_ms=500&after=" + Cluster::Enc(token));
  REQUIRE(r.ok());
  CHECK(r->status == 504);
  // kb applied the old store: the token is satisfied there.
  cl.Start(1);
  r = cl.client(1).Request(
      "GET", "/v1/counter/old?timeout_ms=5000&after=" + Cluster::Enc(token));
  REQUIRE(r.ok());
  CHECK(r->status == 200);
}

TEST_CASE("a lost region's write that reached only one peer reaches all") {
  Cluster cl({"ma", "mb", "mc"});
  REQUIRE(cl.Converge());
  cl.Stop(0);  // ma misses what follows
  REQUIRE(Post(cl.client(2), "/v1/counter/only-b/incr", {{"by", 3}}) == 200);
  REQUIRE(WaitFor([&] { return Counter(cl.client(1), "only-b") == 3; },
                  std::chrono::seconds(10)));
  cl.Kill(2);  // mc's disk is lost before ma caught up from it
  cl.Wipe(2);
  cl.Start(0);
  cl.Start(2);
  // Before: mc's new store bootstrapped from mb, but ma, which catches up
  // only from each origin's own log, never got the write.
  CHECK(WaitFor([&] { return Counter(cl.client(0), "only-b") == 3; },
                std::chrono::seconds(30)));
  // mc's new store gets it from its bootstrap, which may still run.
  CHECK(WaitFor([&] { return Counter(cl.client(2), "only-b") == 3; },
                std::chrono::seconds(30)));
  CHECK(cl.Converge(std::chrono::seconds(30)));
}
