// Black-box tests of backup and restore: `deltakv backup --out FILE` from
// a live server under load, `deltakv-server --restore FILE` into an empty
// folder, and the restored region converging with its peer with nothing
// lost, its new writes reaching the peer.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/region_cluster.h"

using deltakv::testing::Cluster;
using deltakv::testing::Counter;
using deltakv::testing::Post;
using nlohmann::json;

namespace {

// Runs a command line (bounded by `timeout`) and returns its exit status;
// *out gets its stdout and stderr.
int Shell(const std::string& cmd, std::string* out) {
  FILE* p = popen(("timeout 120 " + cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  out->clear();
  char buf[512];
  while (fgets(buf, sizeof buf, p)) *out += buf;
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ReplicaId(deltakv::HttpClient& c) {
  auto r = c.Request("GET", "/v1/status");
  REQUIRE(r.ok());
  return json::parse(r->body)["replica_id"].get<std::string>();
}

}  // namespace

TEST_CASE(
    "a backup taken under load, restored, converges with its peer with "
    "nothing lost") {
  // Before: the only restore was copying an old data.mdb back, which
  // reused the sequence numbers and dots the region had given out after
  // the copy: its peer took the new writes for ones it had, and the
  // restored region never got back what it wrote after the copy.
  Cluster cluster({"a", "b"});
  const std::string backup = cluster.dir() + "/a.mdb";
  std::atomic<bool> stop{false};
  std::atomic<int64_t> acked_a{0}, acked_b{0};
  std::atomic<int> members{0};
  std::thread load([&] {
    auto a = deltakv::HttpClient::Create(cluster.url(0));
    auto b = deltakv::HttpClient::Create(cluster.url(1));
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    for (int i = 0; !stop; ++i) {
      if (Post(**a, "/v1/counter/hits/incr", json{{"by", 1}}) == 200) {
        ++acked_a;
      }
      if (Post(**b, "/v1/counter/hits/incr", json{{"by", 1}}) == 200) {
        ++acked_b;
      }
      if (Post(**a, "/v1/set/seen/add",
               json{{"members", {"m" + std::to_string(i)}}}) == 200) {
        members = i + 1;
      }
    }
  });
  // Stops the load on every way out (a failed REQUIRE included).
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } joiner{stop, load};
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::string out;
  const int rc = Shell(std::string(DELTAKV_CLI_BIN) + " --url " +
                           cluster.url(0) + " backup --out " + backup,
                       &out);
  INFO(out);
  REQUIRE(rc == 0);
  CHECK(out.find(backup + ": ") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(backup + ".partial"));
  // Writes after the backup: the copy lacks them, the peer has them.
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  stop = true;
  load.join();
  REQUIRE(acked_a > 0);
  REQUIRE(cluster.Converge(std::chrono::seconds(60)));
  const int64_t total = acked_a + acked_b;
  REQUIRE(Counter(cluster.client(1), "hits") == total);
  const std::string old_id = ReplicaId(cluster.client(0));

  // Region a loses its disk; the backup goes back under it.
  cluster.Stop(0);
  const std::string data = cluster.dir() + "/a/data";
  std::filesystem::rename(data, cluster.dir() + "/a/lost");
  // The folder must be empty: restoring over a store is refused.
  std::filesystem::create_directories(data);
  std::filesystem::copy_file(cluster.dir() + "/a/lost/data.mdb",
                             data + "/data.mdb");
  const std::string restore = std::string(DELTAKV_SERVER_BIN) +
                              " --region a --data-dir " + data + " --restore " +
                              backup;
  CHECK(Shell(restore, &out) == 2);
  CHECK(out.find("already holds a store") != std::string::npos);
  std::filesystem::remove_all(data);
  // Another region's backup is refused.
  CHECK(Shell(std::string(DELTAKV_SERVER_BIN) + " --region b --data-dir " +
                  cluster.dir() + "/scratch --restore " + backup,
              &out) == 2);
  CHECK(out.find("belongs to region 'a'") != std::string::npos);
  REQUIRE(Shell(restore, &out) == 0);
  INFO(out);
  cluster.Start(0);
  // A new incarnation: new writes never reuse the old numbers.
  CHECK(ReplicaId(cluster.client(0)) != old_id);
  // It gets back from b what the copy lacked.
  REQUIRE(cluster.Converge(std::chrono::seconds(60)));
  CHECK(Counter(cluster.client(0), "hits") == total);
  auto set = cluster.client(0).Request("GET", "/v1/set/seen?limit=100000");
  REQUIRE(set.ok());
  CHECK(json::parse(set->body)["size"].get<int>() >= members.load());
  // Its new writes reach b.
  REQUIRE(Post(cluster.client(0), "/v1/counter/hits/incr", json{{"by", 5}}) ==
          200);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Counter(cluster.client(1), "hits") != total + 5 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(Counter(cluster.client(1), "hits") == total + 5);
  REQUIRE(cluster.Converge(std::chrono::seconds(30)));
}

TEST_CASE("a backup of a server with no tokens configured is a valid store") {
  // GET /v1/backup answers the copy with its length; HEAD does not send it.
  Cluster cluster({"solo"});
  REQUIRE(Post(cluster.client(0), "/v1/counter/k/incr", json{{"by", 3}}) ==
          200);
  auto head = cluster.client(0).Request("HEAD", "/v1/backup");
  REQUIRE(head.ok());
  CHECK(head->status == 200);
  CHECK(head->body.empty());
  std::string file = cluster.dir() + "/solo.mdb", out;
  REQUIRE(Shell(std::string(DELTAKV_CLI_BIN) + " --url " + cluster.url(0) +
                    " backup --quiet --out " + file,
                &out) == 0);
  CHECK(std::filesystem::file_size(file) > 0);
  // No copy is left in the data folder.
  for (const auto& e :
       std::filesystem::directory_iterator(cluster.dir() + "/solo/data")) {
    CHECK(e.path().filename().string().rfind("backup-", 0) != 0);
  }
  // A scratch server on the restored copy reads the data.
  const std::string scratch = cluster.dir() + "/scratch";
  REQUIRE(Shell(std::string(DELTAKV_SERVER_BIN) + " --region solo --data-dir " +
                    scratch + "/data" + " --restore " + file,
                &out) == 0);
  deltakv::testing::ServerProcess s({"--region", "solo"}, scratch);
  REQUIRE_FALSE(s.url().empty());
  auto c = deltakv::HttpClient::Create(s.url());
  REQUIRE(c.ok());
  CHECK(Counter(**c, "k") == 3);
}

TEST_CASE(
    "a restored region gets back its own writes made after the backup from a "
    "peer that writes nothing") {
  // Before: the restored store kept the records saying it had bootstrapped
  // from its peers, so it never pulled their state; its own writes made
  // after the backup lived only in the idle peer's state, not in any log,
  // and never came back.
  Cluster cluster({"a", "b"});
  for (int i = 0; i < 20; ++i) {
    REQUIRE(Post(cluster.client(0), "/v1/counter/mine/incr", json{{"by", 1}}) ==
            200);
  }
  REQUIRE(cluster.Converge(std::chrono::seconds(30)));
  const std::string backup = cluster.dir() + "/a.mdb";
  std::string out;
  REQUIRE(Shell(std::string(DELTAKV_CLI_BIN) + " --url " + cluster.url(0) +
                    " backup --quiet --out " + backup,
                &out) == 0);
  for (int i = 0; i < 30; ++i) {
    REQUIRE(Post(cluster.client(0), "/v1/counter/mine/incr", json{{"by", 1}}) ==
            200);
    REQUIRE(Post(cluster.client(0), "/v1/set/later/add",
                 json{{"members", {"m" + std::to_string(i)}}}) == 200);
  }
  REQUIRE(cluster.Converge(std::chrono::seconds(30)));
  REQUIRE(Counter(cluster.client(1), "mine") == 50);
  cluster.Stop(0);
  const std::string data = cluster.dir() + "/a/data";
  std::filesystem::remove_all(data);
  REQUIRE(Shell(std::string(DELTAKV_SERVER_BIN) + " --region a --data-dir " +
                    data + " --restore " + backup,
                &out) == 0);
  // Nothing of the staging folder is left.
  CHECK_FALSE(std::filesystem::exists(data + "/.restoring"));
  cluster.Start(0);
  REQUIRE(cluster.Converge(std::chrono::seconds(60)));
  CHECK(Counter(cluster.client(0), "mine") == 50);
  auto set = cluster.client(0).Request("GET", "/v1/set/later");
  REQUIRE(set.ok());
  REQUIRE(set->status == 200);
  CHECK(json::parse(set->body)["size"] == 30);
}
