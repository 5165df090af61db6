// Black-box tests of the bounds on work per key and per answer: per-key
// caps on local writes (never on deltas from other regions), set and list
// pages, the answer byte budget, and the read threads that keep probes
// answering under heavy reads. Real servers on loopback ports.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/http_client.h"
#include "deltakv/db.h"
#include "tests/region_cluster.h"
#include "tests/server_harness.h"

using deltakv::Code;
using deltakv::HttpClient;
using deltakv::testing::Cluster;
using deltakv::testing::ServerProcess;
using nlohmann::json;

namespace {

std::unique_ptr<HttpClient> Client(const ServerProcess& s) {
  REQUIRE_FALSE(s.url().empty());
  auto c = HttpClient::Create(s.url(), "", std::chrono::seconds(60));
  REQUIRE(c.ok());
  return std::move(c).value();
}

struct Answer {
  int status = 0;
  json body;
  size_t bytes = 0;  // of the body as sent
};

Answer Send(HttpClient& c, const char* method, const std::string& target,
            const json& body = nullptr) {
  auto r = c.Request(method, target, body.is_null() ? "" : body.dump());
  REQUIRE(r.ok());
  return Answer{r->status, json::parse(r->body, nullptr, false),
                r->body.size()};
}

std::string Message(const Answer& a) {
  if (!a.body.is_object() || !a.body.contains("error")) return "";
  return a.body["error"].value("message", "");
}

std::string Code413(const Answer& a) {
  if (a.status != 413 || !a.body.contains("error")) return "";
  return a.body["error"].value("code", "");
}

uint64_t Sequence(HttpClient& c) {
  return Send(c, "GET", "/v1/status").body["sequence"].get<uint64_t>();
}

// Adds `members` in requests of at most 5,000.
void AddAll(HttpClient& c, const std::string& key,
            const std::vector<std::string>& members) {
  for (size_t i = 0; i < members.size(); i += 5000) {
    std::vector<std::string> part(
        members.begin() + static_cast<ptrdiff_t>(i),
        members.begin() +
            static_cast<ptrdiff_t>(std::min(members.size(), i + 5000)));
    REQUIRE(Send(c, "POST", "/v1/set/" + key + "/add", {{"members", part}})
                .status == 200);
  }
}

void PushAll(HttpClient& c, const std::string& key,
             const std::vector<std::string>& values) {
  for (size_t i = 0; i < values.size(); i += 4000) {
    std::vector<std::string> part(
        values.begin() + static_cast<ptrdiff_t>(i),
        values.begin() +
            static_cast<ptrdiff_t>(std::min(values.size(), i + 4000)));
    REQUIRE(Send(c, "POST", "/v1/list/" + key + "/push", {{"values", part}})
                .status == 200);
  }
}

std::vector<std::string> Numbered(const std::string& prefix, int n,
                                  size_t pad = 0) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string v = prefix + std::to_string(i);
    if (v.size() < pad) v += std::string(pad - v.size(), '.');
    out.push_back(std::move(v));
  }
  return out;
}

// Reads a whole set by its cursor; fails on a page that repeats a member.
std::multiset<std::string> ReadSetPages(HttpClient& c, const std::string& key,
                                        const std::string& limit,
                                        size_t* pages = nullptr,
                                        size_t max_bytes = 0) {
  std::multiset<std::string> seen;
  std::string cursor;
  size_t n = 0;
  for (; n < 100000; ++n) {
    std::string target = "/v1/set/" + key + "?limit=" + limit;
    if (!cursor.empty()) target += "&cursor=" + cursor;
    Answer a = Send(c, "GET", target);
    REQUIRE(a.status == 200);
    if (max_bytes) REQUIRE(a.bytes <= max_bytes);
    REQUIRE_FALSE(a.body["members"].empty());
    for (const auto& m : a.body["members"]) seen.insert(m.get<std::string>());
    if (a.body["cursor"].is_null()) break;
    cursor = a.body["cursor"].get<std::string>();
  }
  if (pages) *pages = n + 1;
  return seen;
}

int Cli(const ServerProcess& s, const std::string& args, std::string* out) {
  std::string cmd = std::string(DELTAKV_CLI_BIN) + " --url " + s.url() + " " +
                    args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  out->clear();
  char buf[4096];
  while (fgets(buf, sizeof buf, p)) *out += buf;
  return WEXITSTATUS(pclose(p));
}

}  // namespace

TEST_CASE(
    "each per-key cap refuses a write with its name and leaves the key "
    "unchanged") {
  ServerProcess server({"--max-set-members", "5", "--max-list-length", "5",
                        "--max-key-bytes", "2048"});
  auto c = Client(server);

  // Set members.
  REQUIRE(Send(*c, "POST", "/v1/set/s/add",
               {{"members", {"a", "b", "c", "d", "e"}}})
              .status == 200);
  uint64_t seq = Sequence(*c);
  Answer a = Send(*c, "POST", "/v1/set/s/add", {{"members", {"a", "x"}}});
  CHECK(Code413(a) == "too_large");
  CHECK(Message(a).find("max_set_members (5)") != std::string::npos);
  CHECK(Send(*c, "GET", "/v1/set/s").body["members"] ==
        json{"a", "b", "c", "d", "e"});
  CHECK(Sequence(*c) == seq);
  // A re-add of members it holds does not grow the set.
  CHECK(Send(*c, "POST", "/v1/set/s/add", {{"members", {"a", "b"}}}).status ==
        200);

  // List length.
  REQUIRE(
      Send(*c, "POST", "/v1/list/l/push", {{"values", {"1", "2", "3", "4"}}})
          .status == 200);
  seq = Sequence(*c);
  a = Send(*c, "POST", "/v1/list/l/insert",
           {{"index", 1}, {"values", {"x", "y"}}});
  CHECK(Code413(a) == "too_large");
  CHECK(Message(a).find("max_list_length (5)") != std::string::npos);
  a = Send(*c, "GET", "/v1/list/l");
  CHECK(a.body["values"] == json{"1", "2", "3", "4"});
  CHECK(a.body["length"] == 4);
  CHECK(Sequence(*c) == seq);

  // Bytes per key: a set's members, a list's state, a register's value.
  const std::string v800(800, 'm');
  REQUIRE(
      Send(*c, "POST", "/v1/set/b/add", {{"members", {v800 + "1", v800 + "2"}}})
          .status == 200);
  a = Send(*c, "POST", "/v1/set/b/add", {{"members", {v800 + "3"}}});
  CHECK(Code413(a) == "too_large");
  CHECK(Message(a).find("max_key_bytes (2048)") != std::string::npos);
  CHECK(Send(*c, "GET", "/v1/set/b").body["size"] == 2);

  REQUIRE(Send(*c, "POST", "/v1/list/bl/push",
               {{"values", {std::string(1500, 'v')}}})
              .status == 200);
  a = Send(*c, "POST", "/v1/list/bl/push",
           {{"values", {std::string(1000, 'w')}}});
  CHECK(Code413(a) == "too_large");
  CHECK(Message(a).find("max_key_bytes (2048)") != std::string::npos);
  CHECK(Send(*c, "GET", "/v1/list/bl").body["values"] ==
        json{std::string(1500, 'v')});

  REQUIRE(Send(*c, "PUT", "/v1/register/r", {{"value", "small"}}).status ==
          200);
  a = Send(*c, "PUT", "/v1/register/r", {{"value", std::string(3000, 'r')}});
  CHECK(Code413(a) == "too_large");
  CHECK(Message(a).find("max_key_bytes (2048)") != std::string::npos);
  CHECK(Send(*c, "GET", "/v1/register/r").body["value"] == "small");

  // The typed client sees TooLarge.
  auto db = deltakv::Db::Connect(server.url());
  REQUIRE(db.ok());
  CHECK((*db)->Set("s").Add({"y"}).status().code() == Code::kTooLarge);
  CHECK((*db)->List("l").PushBack({"5", "6"}).status().code() ==
        Code::kTooLarge);
}

TEST_CASE(
    "deltas from another region are applied past a cap; local growth "
    "past it is still refused") {
  Cluster cl({"us-east", "eu-west"});
  REQUIRE(deltakv::testing::Post(cl.client(0), "/v1/set/s/add",
                                 {{"members", {"a", "b", "c", "d"}}}) == 200);
  REQUIRE(cl.Converge());
  // eu-west comes back with a cap of 3 members and 2 list values.
  cl.Stop(1);
  cl.Start(1, {"--max-set-members", "3", "--max-list-length", "2"});
  REQUIRE(deltakv::testing::Post(cl.client(0), "/v1/set/s/add",
                                 {{"members", {"e"}}}) == 200);
  REQUIRE(deltakv::testing::Post(cl.client(0), "/v1/list/l/push",
                                 {{"values", {"1", "2", "3"}}}) == 200);
  REQUIRE(cl.Converge());
  Answer s = Send(cl.client(1), "GET", "/v1/set/s");
  CHECK(s.body["size"] == 5);
  CHECK(Send(cl.client(1), "GET", "/v1/list/l").body["length"] == 3);
  json out;
  CHECK(deltakv::testing::Post(cl.client(1), "/v1/set/s/add",
                               {{"members", {"z"}}}, &out) == 413);
  CHECK(out["error"]["message"].get<std::string>().find("max_set_members") !=
        std::string::npos);
  CHECK(deltakv::testing::Post(cl.client(1), "/v1/set/s/add",
                               {{"members", {"a"}}}) == 200);
  CHECK(deltakv::testing::Post(cl.client(1), "/v1/list/l/push",
                               {{"values", {"4"}}}) == 413);
  // Removes are never refused.
  CHECK(deltakv::testing::Post(cl.client(1), "/v1/set/s/remove",
                               {{"members", {"a"}}}) == 200);
}

TEST_CASE(
    "set pages: every member once across pages, a stable cursor, and "
    "a bad cursor is 400") {
  ServerProcess server;
  auto c = Client(server);
  std::vector<std::string> members = Numbered("member-", 2500);
  members.push_back("");                           // the empty member
  members.push_back(std::string(700, 'L') + "1");  // long, stored hashed
  members.push_back(std::string(700, 'L') + "2");
  AddAll(*c, "s", members);
  const std::multiset<std::string> all(members.begin(), members.end());
  size_t pages = 0;
  CHECK(ReadSetPages(*c, "s", "7", &pages) == all);
  CHECK(pages == (all.size() + 6) / 7);
  CHECK(ReadSetPages(*c, "s", "1000") == all);
  // limit=1: the empty member ends a page and its cursor still continues.
  Answer first = Send(*c, "GET", "/v1/set/s?limit=1");
  REQUIRE(first.body["members"] == json{""});
  Answer second = Send(
      *c, "GET",
      "/v1/set/s?limit=1&cursor=" + first.body["cursor"].get<std::string>());
  REQUIRE(second.body["members"].size() == 1);
  CHECK(second.body["members"][0] != "");
  CHECK(second.body["size"] == all.size());

  for (const char* bad : {"zz", "0", "02ab", "01z", "01abc", "%FF"}) {
    INFO(bad);
    Answer a = Send(*c, "GET", std::string("/v1/set/s?cursor=") + bad);
    CHECK(a.status == 400);
    CHECK(Message(a) == "malformed cursor");
  }
  CHECK(Send(*c, "GET", "/v1/set/s?limit=100001").status == 400);
  CHECK(Send(*c, "GET", "/v1/set/s?limit=x").status == 400);
}

TEST_CASE("set and list reads without a limit answer a default page") {
  ServerProcess server;
  auto c = Client(server);
  AddAll(*c, "s", Numbered("m", 1500));
  Answer a = Send(*c, "GET", "/v1/set/s");
  CHECK(a.body["members"].size() == 1000);
  CHECK(a.body["size"] == 1500);
  CHECK(a.body["cursor"].is_string());
  // The same page through /v1/keys/{key}, and limit=0.
  CHECK(Send(*c, "GET", "/v1/keys/s").body["members"].size() == 1000);
  CHECK(Send(*c, "GET", "/v1/set/s?limit=0").body["members"].size() == 1000);

  PushAll(*c, "l", Numbered("v", 1500));
  a = Send(*c, "GET", "/v1/list/l");
  REQUIRE(a.body["values"].size() == 1000);
  CHECK(a.body["values"][0] == "v0");
  CHECK(a.body["length"] == 1500);
  a = Send(*c, "GET", "/v1/list/l?offset=1000");
  REQUIRE(a.body["values"].size() == 500);
  CHECK(a.body["values"][0] == "v1000");
  CHECK(Send(*c, "GET", "/v1/keys/l").body["values"].size() == 1000);
  // Paging by offset round-trips the list.
  std::vector<std::string> got;
  for (uint64_t off = 0; off < 1500;) {
    a = Send(*c, "GET", "/v1/list/l?limit=333&offset=" + std::to_string(off));
    REQUIRE(a.status == 200);
    REQUIRE_FALSE(a.body["values"].empty());
    for (const auto& v : a.body["values"]) got.push_back(v);
    off += a.body["values"].size();
  }
  CHECK(got == Numbered("v", 1500));
}

TEST_CASE(
    "pages are cut to --max-response-bytes and continue from their "
    "cursor or offset") {
  const size_t budget = 128 << 10;
  ServerProcess server({"--max-value-bytes", "4096", "--max-response-bytes",
                        std::to_string(budget)});
  auto c = Client(server);
  // 400 members of 1,000 bytes: about 400 KB, three pages or more.
  std::vector<std::string> members = Numbered("m", 400, 1000);
  AddAll(*c, "s", members);
  size_t pages = 0;
  CHECK(ReadSetPages(*c, "s", "1000", &pages, budget) ==
        std::multiset<std::string>(members.begin(), members.end()));
  CHECK(pages >= 4);

  // A list: fewer values than asked for, `length` the whole list.
  PushAll(*c, "l", Numbered("v", 400, 1000));
  Answer a = Send(*c, "GET", "/v1/list/l?limit=400");
  REQUIRE(a.status == 200);
  CHECK(a.bytes <= budget);
  CHECK(a.body["values"].size() < 400);
  CHECK_FALSE(a.body["values"].empty());
  CHECK(a.body["length"] == 400);

  // Values full of characters JSON escapes take six bytes each.
  const std::string control(600, '\x01');
  REQUIRE(Send(*c, "POST", "/v1/list/esc/push",
               {{"values", std::vector<std::string>(60, control)}})
              .status == 200);
  a = Send(*c, "GET", "/v1/list/esc");
  REQUIRE(a.status == 200);
  CHECK(a.bytes <= budget);
  CHECK(a.body["values"].size() < 60);

  // A key scan: 150 keys of 1,000 bytes.
  for (int i = 0; i < 150; ++i) {
    std::string key = "k" + std::to_string(1000 + i) + std::string(995, 'k');
    REQUIRE(Send(*c, "POST", "/v1/counter/" + key + "/incr").status == 200);
  }
  std::set<std::string> keys;
  std::string cursor;
  size_t scans = 0;
  for (; scans < 100; ++scans) {
    std::string target = "/v1/keys?prefix=k&limit=1000";
    if (!cursor.empty()) target += "&cursor=" + cursor;
    a = Send(*c, "GET", target);
    REQUIRE(a.status == 200);
    CHECK(a.bytes <= budget);
    for (const auto& k : a.body["keys"]) {
      CHECK(keys.insert(k["key"].get<std::string>()).second);
    }
    if (a.body["cursor"].is_null()) break;
    cursor = a.body["cursor"].get<std::string>();
  }
  CHECK(keys.size() == 150);
  CHECK(scans >= 1);

  // The typed client and the CLI still read the whole set and list.
  auto db = deltakv::Db::Connect(server.url());
  REQUIRE(db.ok());
  auto got = (*db)->Set("s").Members();
  REQUIRE(got.ok());
  std::vector<std::string> sorted = members;
  std::sort(sorted.begin(), sorted.end());
  CHECK(*got == sorted);
  auto range = (*db)->List("l").Range();
  REQUIRE(range.ok());
  CHECK(range->values == Numbered("v", 400, 1000));
  CHECK(range->length == 400);
  auto part = (*db)->List("l").Range(10, 300);
  REQUIRE(part.ok());
  CHECK(part->values.size() == 300);
  CHECK(part->values[0] == Numbered("v", 11, 1000)[10]);
  std::string out;
  CHECK(Cli(server, "set members s", &out) == 0);
  CHECK(std::count(out.begin(), out.end(), '\n') == 400);
  CHECK(Cli(server, "--json list get l", &out) == 0);
  CHECK(json::parse(out)["values"].size() == 400);
}

TEST_CASE(
    "the typed client and the CLI read sets and lists longer than a "
    "page") {
  ServerProcess server;
  auto c = Client(server);
  std::vector<std::string> members = Numbered("member-", 25000);
  AddAll(*c, "s", members);
  PushAll(*c, "l", Numbered("v", 12000));
  auto db = deltakv::Db::Connect(server.url());
  REQUIRE(db.ok());
  auto got = (*db)->Set("s").Members();
  REQUIRE(got.ok());
  std::sort(members.begin(), members.end());
  CHECK(*got == members);
  auto range = (*db)->List("l").Range();
  REQUIRE(range.ok());
  CHECK(range->values == Numbered("v", 12000));
  CHECK(*(*db)->List("l").Length() == 12000);
  CHECK(*(*db)->TypeOf("s") == deltakv::KeyType::kSet);
  std::string out;
  CHECK(Cli(server, "set members s", &out) == 0);
  CHECK(std::count(out.begin(), out.end(), '\n') == 25000);
  CHECK(Cli(server, "list get l", &out) == 0);
  CHECK(std::count(out.begin(), out.end(), '\n') == 12000);
}

namespace {

// A list of 200,000 values of 50 bytes (10 MB). A page read touches only
// the chunks holding its values, so the heavy read is the largest page:
// 100,000 values (about 3,000 chunks decoded and a 5 MB answer encoded on
// the read thread).
void FillHeavyList(HttpClient& c) {
  PushAll(c, "heavy", Numbered("value-", 200000, 50));
}
constexpr const char* kHeavyRead = "/v1/list/heavy?offset=50000&limit=100000";

}  // namespace

TEST_CASE("health probes keep answering while heavy reads run") {
  // One I/O thread: a read run on it would hold every other connection.
  ServerProcess server({"--io-threads", "1", "--read-threads", "1"});
  auto c = Client(server);
  FillHeavyList(*c);
  constexpr int kReaders = 4, kReadsEach = 5;
  std::atomic<int> reads_done{0}, read_failures{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < kReaders; ++i) {
    readers.emplace_back([&] {
      auto rc = HttpClient::Create(server.url(), "", std::chrono::seconds(120));
      if (!rc.ok()) {
        ++read_failures;
        return;
      }
      for (int k = 0; k < kReadsEach; ++k) {
        auto r = (*rc)->Request("GET", kHeavyRead);
        if (!r.ok() || r->status != 200) ++read_failures;
        ++reads_done;
      }
    });
  }
  // Probe, one after the other, until the reads are done. A probe stuck
  // behind reads on a shared thread would answer at most once per read.
  auto probe = Client(server);
  int probes = 0, probe_failures = 0;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (reads_done.load() < kReaders * kReadsEach &&
         std::chrono::steady_clock::now() < deadline) {
    auto r = probe->Request("GET", "/healthz");
    if (!r.ok() || r->status != 200) {
      ++probe_failures;
      continue;
    }
    if (reads_done.load() < kReaders * kReadsEach) ++probes;
  }
  for (auto& t : readers) t.join();
  CHECK(read_failures == 0);
  CHECK(probe_failures == 0);
  INFO("probes answered while " << kReaders * kReadsEach
                                << " heavy reads ran: " << probes);
  CHECK(probes > 4 * kReaders * kReadsEach);
}

TEST_CASE("reads beyond --max-queued-reads are refused 503") {
  ServerProcess server({"--read-threads", "1", "--max-queued-reads", "1"});
  auto c = Client(server);
  FillHeavyList(*c);
  constexpr int kReaders = 8;
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < kReaders; ++i) {
    readers.emplace_back([&] {
      auto rc = HttpClient::Create(server.url(), "", std::chrono::seconds(120));
      if (!rc.ok()) {
        ++other;
        return;
      }
      auto r = (*rc)->Request("GET", kHeavyRead);
      if (!r.ok()) {
        ++other;
      } else if (r->status == 200) {
        ++ok;
      } else if (r->status == 503 &&
                 json::parse(r->body)["error"]["code"] == "unavailable") {
        ++refused;
      } else {
        ++other;
      }
    });
  }
  for (auto& t : readers) t.join();
  CHECK(other == 0);
  CHECK(ok >= 1);
  CHECK(refused >= 1);
  // Probes are answered inline, whatever the queue holds.
  CHECK(Send(*c, "GET", "/healthz").status == 200);
}
