// Per-key caps of the replica (max_set_members, max_list_length,
// max_key_bytes): a local write that would pass one fails TooLarge with
// nothing applied; remote deltas are always joined; set pages.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "replication/replica.h"

using deltakv::Code;
using deltakv::replication::Op;
using deltakv::replication::OpKind;
using deltakv::replication::Replica;
using deltakv::replication::ReplicaOptions;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/deltakv-caps-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

struct Caps {
  uint64_t members = 0, length = 0, bytes = 0;
};

std::unique_ptr<Replica> OpenReplica(const std::string& path, Caps caps,
                                     const std::string& region = "us-east") {
  ReplicaOptions o;
  o.path = path;
  o.region = region;
  o.max_set_members = caps.members;
  o.max_list_length = caps.length;
  o.max_key_bytes = caps.bytes;
  auto r = Replica::Open(o);
  REQUIRE(r.ok());
  return std::move(r).value();
}

Op MakeOp(OpKind kind, std::string key, std::vector<std::string> items) {
  Op op;
  op.kind = kind;
  op.key = std::move(key);
  op.members = std::move(items);
  return op;
}

std::vector<std::string> Members(const Replica& r, const std::string& key) {
  auto m = r.SetMembers(key);
  REQUIRE(m.ok());
  return *m;
}

std::vector<std::string> Values(const Replica& r, const std::string& key) {
  auto p = r.ListRange(key, 0, 0);
  REQUIRE(p.ok());
  return p->values;
}

}  // namespace

TEST_CASE("a set add past max_set_members is refused and changes nothing") {
  TempDir d;
  auto r = OpenReplica(d.path, Caps{.members = 3});
  REQUIRE(r->Apply(MakeOp(OpKind::kSetAdd, "s", {"a", "b"})).ok());
  const uint64_t seq = r->LastSequence();
  auto refused = r->Apply(MakeOp(OpKind::kSetAdd, "s", {"c", "d"}));
  REQUIRE(refused.status().code() == Code::kTooLarge);
  CHECK(refused.status().message().find("max_set_members (3)") !=
        std::string::npos);
  CHECK(Members(*r, "s") == std::vector<std::string>{"a", "b"});
  CHECK(r->LastSequence() == seq);  // no delta logged
  // Members already there, and duplicates, do not count twice.
  CHECK(r->Apply(MakeOp(OpKind::kSetAdd, "s", {"a", "b", "c", "c"})).ok());
  CHECK(r->Apply(MakeOp(OpKind::kSetAdd, "s", {"a"})).ok());
  CHECK(r->Apply(MakeOp(OpKind::kSetAdd, "s", {"x"})).status().code() ==
        Code::kTooLarge);
  // A remove makes room again.
  REQUIRE(r->Apply(MakeOp(OpKind::kSetRemove, "s", {"a"})).ok());
  CHECK(r->Apply(MakeOp(OpKind::kSetAdd, "s", {"x"})).ok());
  CHECK(Members(*r, "s") == std::vector<std::string>{"b", "c", "x"});
}

TEST_CASE("a new set larger than max_set_members is not created") {
  TempDir d;
  auto r = OpenReplica(d.path, Caps{.members = 2});
  auto refused = r->Apply(MakeOp(OpKind::kSetAdd, "s", {"a", "b", "c"}));
  CHECK(refused.status().code() == Code::kTooLarge);
  CHECK(r->TypeOf("s").status().code() == Code::kNotFound);
}

TEST_CASE(
    "set member bytes are counted against max_key_bytes, across "
    "removes, deletes and a reopen") {
  TempDir d;
  const std::string big(600, 'x'), other(600, 'y'), third(600, 'z');
  {
    auto r = OpenReplica(d.path, Caps{.bytes = 1500});
    REQUIRE(r->Apply(MakeOp(OpKind::kSetAdd, "s", {big, other})).ok());
    auto refused = r->Apply(MakeOp(OpKind::kSetAdd, "s", {third}));
    REQUIRE(refused.status().code() == Code::kTooLarge);
    CHECK(refused.status().message().find("1800 bytes, over max_key_bytes "
                                          "(1500)") != std::string::npos);
    CHECK(Members(*r, "s").size() == 2);
    REQUIRE(r->Apply(MakeOp(OpKind::kSetRemove, "s", {big})).ok());
    REQUIRE(r->Apply(MakeOp(OpKind::kSetAdd, "s", {third})).ok());
  }
  // The count is stored: after a reopen the set still holds 1200 bytes.
  auto r = OpenReplica(d.path, Caps{.bytes = 1500});
  CHECK(r->Apply(MakeOp(OpKind::kSetAdd, "s", {big})).status().code() ==
        Code::kTooLarge);
  CHECK(r->Apply(MakeOp(OpKind::kSetAdd, "s", {"small"})).ok());
  Op del;
  del.kind = OpKind::kDelete;
  del.key = "s";
  REQUIRE(r->Apply(del).ok());
  CHECK(r->Apply(MakeOp(OpKind::kSetAdd, "s", {big, other})).ok());
}

TEST_CASE("a list edit past max_list_length is refused and changes nothing") {
  TempDir d;
  auto r = OpenReplica(d.path, Caps{.length = 4});
  REQUIRE(r->Apply(MakeOp(OpKind::kListPush, "l", {"1", "2", "3"})).ok());
  auto refused = r->Apply(MakeOp(OpKind::kListPush, "l", {"4", "5"}));
  REQUIRE(refused.status().code() == Code::kTooLarge);
  CHECK(refused.status().message().find("max_list_length (4)") !=
        std::string::npos);
  Op insert = MakeOp(OpKind::kListInsert, "l", {"a", "b"});
  insert.index = 1;
  CHECK(r->Apply(insert).status().code() == Code::kTooLarge);
  CHECK(Values(*r, "l") == std::vector<std::string>{"1", "2", "3"});
  CHECK(r->Apply(MakeOp(OpKind::kListPush, "l", {"4"})).ok());
  Op del = MakeOp(OpKind::kListDelete, "l", {});
  del.index = 0;
  del.count = 1;
  CHECK(r->Apply(del).ok());  // shrinking is never refused
  CHECK(Values(*r, "l") == std::vector<std::string>{"2", "3", "4"});
}

TEST_CASE(
    "a list edit past max_key_bytes is refused and the next edit sees "
    "the list as stored") {
  TempDir d;
  auto r = OpenReplica(d.path, Caps{.bytes = 2048});
  REQUIRE(
      r->Apply(MakeOp(OpKind::kListPush, "l", {std::string(1000, 'a')})).ok());
  const uint64_t seq = r->LastSequence();
  auto refused =
      r->Apply(MakeOp(OpKind::kListPush, "l", {std::string(1500, 'b')}));
  REQUIRE(refused.status().code() == Code::kTooLarge);
  CHECK(refused.status().message().find("over max_key_bytes (2048)") !=
        std::string::npos);
  CHECK(r->LastSequence() == seq);
  // The writer edited its decoded copy before refusing: the next edit must
  // not carry the refused values along.
  REQUIRE(r->Apply(MakeOp(OpKind::kListPush, "l", {"c"})).ok());
  CHECK(Values(*r, "l") ==
        std::vector<std::string>{std::string(1000, 'a'), "c"});
}

TEST_CASE("a register value past max_key_bytes is refused") {
  TempDir d;
  auto r = OpenReplica(d.path, Caps{.bytes = 1024});
  Op put;
  put.kind = OpKind::kRegisterSet;
  put.key = "r";
  put.value = "\"old\"";
  REQUIRE(r->Apply(put).ok());
  put.value = std::string(1100, '1');
  auto refused = r->Apply(put);
  REQUIRE(refused.status().code() == Code::kTooLarge);
  CHECK(refused.status().message().find("max_key_bytes (1024)") !=
        std::string::npos);
  auto v = r->RegisterGet("r");
  REQUIRE(v.ok());
  CHECK(v->value == "\"old\"");
}

TEST_CASE(
    "remote deltas are joined whatever the caps; local growth past "
    "them stays refused") {
  TempDir da, db;
  auto a = OpenReplica(da.path, Caps{}, "us-east");  // no caps
  auto b = OpenReplica(db.path, Caps{.members = 2, .length = 2, .bytes = 4096},
                       "eu-west");
  REQUIRE(
      a->Apply(MakeOp(OpKind::kSetAdd, "s", {"1", "2", "3", "4", "5"})).ok());
  REQUIRE(a->Apply(MakeOp(OpKind::kListPush, "l", {"1", "2", "3"})).ok());
  REQUIRE(a->Apply(MakeOp(OpKind::kSetAdd, "big",
                          {std::string(3000, 'a'), std::string(3000, 'b')}))
              .ok());
  auto log = a->ReadLog(1, 100);
  REQUIRE(log.ok());
  REQUIRE(b->ApplyRemote("us-east", *log).ok());
  CHECK(Members(*b, "s").size() == 5);
  CHECK(Values(*b, "l").size() == 3);
  CHECK(Members(*b, "big").size() == 2);
  // Re-adding what is there does not grow the set; a new member does.
  CHECK(b->Apply(MakeOp(OpKind::kSetAdd, "s", {"1"})).ok());
  CHECK(b->Apply(MakeOp(OpKind::kSetAdd, "s", {"6"})).status().code() ==
        Code::kTooLarge);
  CHECK(b->Apply(MakeOp(OpKind::kListPush, "l", {"4"})).status().code() ==
        Code::kTooLarge);
  // The bytes of remote members are counted too.
  CHECK(b->Apply(MakeOp(OpKind::kSetAdd, "big", {"c"})).status().code() ==
        Code::kTooLarge);
}

TEST_CASE("set pages list every member once, in storage order") {
  TempDir d;
  auto r = OpenReplica(d.path, Caps{});
  std::vector<std::string> all = {"", "a", "b", std::string(500, 'l') + "1",
                                  std::string(500, 'l') + "2"};
  for (int i = 0; i < 40; ++i) all.push_back("m" + std::to_string(i));
  REQUIRE(r->Apply(MakeOp(OpKind::kSetAdd, "s", all)).ok());
  std::multiset<std::string> seen;
  std::optional<std::string> after;
  for (int pages = 0; pages < 100; ++pages) {
    auto page = r->SetRange(
        "s", after ? std::optional<std::string_view>(*after) : std::nullopt, 3);
    REQUIRE(page.ok());
    CHECK(page->size == all.size());
    REQUIRE(page->members.size() == page->positions.size());
    seen.insert(page->members.begin(), page->members.end());
    if (!page->more) break;
    after = page->positions.back();
  }
  CHECK(seen == std::multiset<std::string>(all.begin(), all.end()));
  CHECK(r->SetRange("s", std::nullopt, 0).status().code() ==
        Code::kInvalidArgument);
  CHECK(r->SetRange("none", std::nullopt, 3).status().code() ==
        Code::kNotFound);
}
