// The etcd client: its validation of etcd's answers (malformed JSON,
// base64 and numbers are errors, never crashes), and its calls against a
// real etcd on loopback (range, put, transactions on revisions, leases,
// watches, failover past a dead endpoint, a bounded wait on a silent one).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cluster/etcd.h"
#include "tests/etcd_harness.h"

using deltakv::Code;
using deltakv::cluster::EtcdClient;
using deltakv::cluster::EtcdCompare;
using deltakv::cluster::EtcdOp;
using deltakv::cluster::EtcdOptions;
using deltakv::cluster::EtcdWatchBatch;
namespace ej = deltakv::cluster::etcd_json;

TEST_CASE("base64 round-trips every byte and refuses what is not base64") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n < all.size(); n += 7) {
    const std::string s = all.substr(0, n);
    auto back = ej::Base64Decode(ej::Base64Encode(s));
    REQUIRE(back.ok());
    CHECK(*back == s);
  }
  CHECK(ej::Base64Encode("hello") == "aGVsbG8=");
  for (const char* bad : {"a", "abc", "ab=c", "a===", "====", "ab!d", "YQ=\n",
                          "=YQ=", "YQ==YQ==", "YR==", "YWJ="}) {
    CHECK(!ej::Base64Decode(bad).ok());
  }
}

TEST_CASE("malformed etcd answers are errors") {
  const std::vector<std::string> bodies = {
      "",
      "not json",
      "[]",
      "42",
      R"({"header":"x"})",
      R"({"header":{"revision":"abc"}})",
      R"({"header":{"revision":"-3"}})",
      R"({"header":{"revision":{}}})",
      R"({"header":{"revision":"99999999999999999999"}})",
      R"({"kvs":{}})",
      R"({"kvs":[1]})",
      R"({"kvs":[{"key":"!!!"}]})",
      R"({"kvs":[{"key":"YQ==","value":5}]})",
      R"({"kvs":[{"key":"YQ==","mod_revision":"1x"}]})",
      R"({"error":"etcdserver: no leader","code":14})",
  };
  for (const auto& b : bodies) {
    INFO(b);
    CHECK(!ej::ParseRange(b).ok());
  }
  CHECK(!ej::ParseTxn(R"({"succeeded":"yes"})").ok());
  CHECK(!ej::ParseTxn(R"({"responses":[{"response_range":[]}]})").ok());
  CHECK(!ej::ParseTxn(R"({"responses":[7]})").ok());
  CHECK(!ej::ParseLeaseGrant(R"({"ID":"0","TTL":"5"})").ok());
  CHECK(!ej::ParseLeaseGrant(R"({"ID":"12"})").ok());
  CHECK(ej::ParseLeaseKeepAlive(R"({"result":{"ID":"12"}})").status().code() ==
        Code::kNotFound);
  CHECK(!ej::ParseLeaseKeepAlive(R"({"result":5})").ok());
  CHECK(ej::ParseLeaseGrant(R"({"error":"requested lease not found"})")
            .status()
            .code() == Code::kNotFound);
  CHECK(!ej::ParseWatchMessage(R"({"result":{"events":[{"type":"BOOM"}]}})")
             .ok());
  CHECK(!ej::ParseWatchMessage(R"({"result":{"events":[{"kv":[]}]}})").ok());
  CHECK(ej::ParseWatchMessage(R"({"result":{"compact_revision":"7"}})")
            .status()
            .code() == Code::kNotFound);
  CHECK(!ej::ParseWatchMessage(R"({"result":{"canceled":true}})").ok());
}

TEST_CASE("well-formed etcd answers parse, zero values left out") {
  auto r = ej::ParseRange(
      R"({"header":{"revision":"9"},"kvs":[{"key":"YQ==","value":"Yg==",)"
      R"("create_revision":"2","mod_revision":"9","version":"3"}],"count":"1"})");
  REQUIRE(r.ok());
  CHECK(r->revision == 9);
  REQUIRE(r->kvs.size() == 1);
  CHECK(r->kvs[0].key == "a");
  CHECK(r->kvs[0].value == "b");
  CHECK(r->kvs[0].mod_revision == 9);
  CHECK(r->kvs[0].version == 3);
  CHECK(r->kvs[0].lease == 0);
  auto empty = ej::ParseRange(R"({"header":{"revision":"4"}})");
  REQUIRE(empty.ok());
  CHECK(empty->kvs.empty());
  auto txn = ej::ParseTxn(R"({"header":{"revision":"5"},"responses":[{}]})");
  REQUIRE(txn.ok());
  CHECK(!txn->succeeded);
  auto w = ej::ParseWatchMessage(
      R"({"result":{"header":{"revision":"8"},"events":[{"type":"DELETE",)"
      R"("kv":{"key":"YQ==","mod_revision":"8"}},{"kv":{"key":"Yg=="}}]}})");
  REQUIRE(w.ok());
  REQUIRE(w->events.size() == 2);
  CHECK(w->events[0].deleted);
  CHECK(!w->events[1].deleted);
  CHECK(w->events[1].kv.key == "b");
}

TEST_CASE("a watch stream is cut into whole JSON objects") {
  std::string buf = R"({"a":"}{\"x"} {"b":[1,{"c":2}]})"
                    "\n"
                    R"({"d":)";
  std::vector<std::string> out;
  REQUIRE(ej::SplitObjects(&buf, &out).ok());
  REQUIRE(out.size() == 2);
  CHECK(out[0] == R"({"a":"}{\"x"})");
  CHECK(out[1] == R"({"b":[1,{"c":2}]})");
  CHECK(buf == R"({"d":)");
  std::string junk = "xyz";
  CHECK(!ej::SplitObjects(&junk, &out).ok());
  std::string big(100, '{');
  CHECK(!ej::SplitObjects(&big, &out, 50).ok());
}

TEST_CASE("random and mutated answers never crash the parsers") {
  std::mt19937 rng(12345);
  const std::vector<std::string> seeds = {
      R"({"header":{"revision":"9"},"kvs":[{"key":"YQ==","value":"Yg=="}]})",
      R"({"header":{"revision":"5"},"succeeded":true,"responses":[{"response_range":{"kvs":[]}}]})",
      R"({"result":{"header":{"revision":"8"},"events":[{"type":"DELETE","kv":{"key":"YQ=="}}]}})",
      R"({"ID":"7","TTL":"10"})",
  };
  for (int i = 0; i < 20000; ++i) {
    std::string s = seeds[static_cast<size_t>(i) % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t at = rng() % s.size();
      switch (rng() % 3) {
        case 0:
          s[at] = static_cast<char>(rng() % 256);
          break;
        case 1:
          s.erase(at, 1 + rng() % 3);
          break;
        default:
          s.insert(at, 1, "{}[]\",:0=A"[rng() % 10]);
      }
    }
    (void)ej::ParseRange(s);
    (void)ej::ParseTxn(s);
    (void)ej::ParseLeaseGrant(s);
    (void)ej::ParseLeaseKeepAlive(s);
    (void)ej::ParseWatchMessage(s);
    std::string buf = s;
    std::vector<std::string> out;
    (void)ej::SplitObjects(&buf, &out);
  }
  SUCCEED();
}

TEST_CASE("endpoints must be http://HOST:PORT") {
  for (const char* bad : {"", "127.0.0.1:2379", "https://a:2379", "http://a",
                          "http://a:", "http://:2379", "http://a:99999",
                          "http://a:12x", "http://a/b:1"}) {
    INFO(bad);
    EtcdOptions o;
    o.endpoints = {bad};
    CHECK(!EtcdClient::Create(o).ok());
  }
  CHECK(!EtcdClient::Create(EtcdOptions{}).ok());
  auto list = EtcdClient::ParseEndpoints("http://a:1, http://b:2,");
  REQUIRE(list.ok());
  CHECK(*list == std::vector<std::string>{"http://a:1", "http://b:2"});
  CHECK(!EtcdClient::ParseEndpoints(" , ").ok());
  CHECK(EtcdClient::PrefixEnd("/a/") == "/a0");
}

namespace {

// A loopback port that accepts connections (the kernel's backlog) but
// never answers.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 16);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { close(fd_); }
  std::string endpoint() const {
    return "http://127.0.0.1:" + std::to_string(port_);
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// An endpoint nothing listens on.
std::string DeadEndpoint() {
  SilentListener l;
  return l.endpoint();  // closed when l goes
}

}  // namespace

TEST_CASE("a silent etcd answers Timeout within the bound") {
  SilentListener silent;
  EtcdOptions o;
  o.endpoints = {silent.endpoint()};
  o.timeout = std::chrono::milliseconds(300);
  auto c = EtcdClient::Create(o);
  REQUIRE(c.ok());
  auto r = c->Range("k");
  REQUIRE(!r.ok());
  CHECK(r.status().code() == Code::kTimeout);
  auto dead = EtcdClient::Create({{DeadEndpoint()}, std::chrono::seconds(2)});
  REQUIRE(dead.ok());
  CHECK(dead->Range("k").status().code() == Code::kUnavailable);
}

TEST_CASE("the client speaks to a real etcd") {
  deltakv::testing::EtcdProcess etcd;
  INFO(etcd.error());
  REQUIRE(etcd.ready());
  // A dead endpoint first: the client fails over to the live one.
  EtcdOptions o;
  o.endpoints = {DeadEndpoint(), etcd.endpoint()};
  auto made = EtcdClient::Create(o);
  REQUIRE(made.ok());
  const EtcdClient& c = *made;

  auto put = c.Put("/t/a", std::string("v\0\xff", 3));
  REQUIRE(put.ok());
  auto got = c.Range("/t/a");
  REQUIRE(got.ok());
  REQUIRE(got->kvs.size() == 1);
  CHECK(got->kvs[0].value == std::string("v\0\xff", 3));
  const int64_t mod = got->kvs[0].mod_revision;
  REQUIRE(c.Put("/t/b", "2").ok());
  auto prefix = c.RangePrefix("/t/");
  REQUIRE(prefix.ok());
  CHECK(prefix->kvs.size() == 2);

  // A transaction on the mod_revision: the second one loses.
  EtcdOp op;
  op.key = "/t/a";
  op.value = "new";
  auto first =
      c.Txn({{"/t/a", EtcdCompare::Target::kModRevision, mod}}, {op}, {});
  REQUIRE(first.ok());
  CHECK(first->succeeded);
  EtcdOp read;
  read.kind = EtcdOp::Kind::kRange;
  read.key = "/t/a";
  auto second =
      c.Txn({{"/t/a", EtcdCompare::Target::kModRevision, mod}}, {op}, {read});
  REQUIRE(second.ok());
  CHECK(!second->succeeded);
  REQUIRE(second->ranges.size() == 1);
  REQUIRE(second->ranges[0].kvs.size() == 1);
  CHECK(second->ranges[0].kvs[0].value == "new");
  // A missing key has version 0.
  auto create = c.Txn({{"/t/none", EtcdCompare::Target::kVersion, 0}},
                      {EtcdOp{EtcdOp::Kind::kPut, "/t/none", "x", 0, ""}}, {});
  REQUIRE(create.ok());
  CHECK(create->succeeded);

  // Leases: a key under a lease goes with it.
  auto lease = c.LeaseGrant(5);
  REQUIRE(lease.ok());
  REQUIRE(c.Put("/t/leased", "x", lease->id).ok());
  auto alive = c.LeaseKeepAlive(lease->id);
  REQUIRE(alive.ok());
  CHECK(alive->ttl_seconds > 0);
  REQUIRE(c.LeaseRevoke(lease->id).ok());
  CHECK(c.Range("/t/leased")->kvs.empty());
  CHECK(c.LeaseKeepAlive(lease->id).status().code() == Code::kNotFound);

  // A watch sees a put made after it started.
  std::atomic<bool> stop{false};
  std::atomic<bool> seen{false};
  const int64_t from = c.Range("/t/a")->revision + 1;
  std::thread watcher([&] {
    deltakv::Status s = c.Watch(
        "/t/", EtcdClient::PrefixEnd("/t/"), from,
        [&](const EtcdWatchBatch& b) {
          for (const auto& e : b.events) {
            if (e.kv.key == "/t/w" && e.kv.value == "1") seen = true;
          }
          return !seen.load();
        },
        [&] { return stop.load(); });
    CHECK(s.ok());
  });
  REQUIRE(c.Put("/t/w", "1").ok());
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop = true;
  watcher.join();
  CHECK(seen);

  // Deleting a range.
  auto deleted = c.Delete("/t/", EtcdClient::PrefixEnd("/t/"));
  REQUIRE(deleted.ok());
  CHECK(*deleted == 4);  // a, b, none, w
}
