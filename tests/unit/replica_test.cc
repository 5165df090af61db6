// Replica engine: remote deltas, watermarks, the delta log and its commit
// notification, on real LMDB stores.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>

#include "core/hlc.h"
#include "crdt/codec.h"
#include "replication/records.h"
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
    char tmpl[] = "/tmp/deltakv-replica-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::unique_ptr<Replica> OpenReplica(const std::string& path,
                                     const std::string& region) {
  ReplicaOptions o;
  o.path = path;
  o.region = region;
  auto r = Replica::Open(o);
  REQUIRE(r.ok());
  return std::move(r).value();
}

Op Incr(std::string key, int64_t by) {
  Op op;
  op.kind = OpKind::kCounterIncrement;
  op.key = std::move(key);
  op.by = by;
  return op;
}

Op SetOp(OpKind kind, std::string key, std::vector<std::string> members) {
  Op op;
  op.kind = kind;
  op.key = std::move(key);
  op.members = std::move(members);
  return op;
}

Op Put(std::string key, std::string value) {
  Op op;
  op.kind = OpKind::kRegisterSet;
  op.key = std::move(key);
  op.value = std::move(value);
  return op;
}

Op Del(std::string key) {
  Op op;
  op.kind = OpKind::kDelete;
  op.key = std::move(key);
  return op;
}

// Ships every logged delta of `from` to `to`.
void Ship(Replica& from, Replica& to) {
  auto log = from.ReadLog(1, 1'000'000);
  REQUIRE(log.ok());
  REQUIRE(to.ApplyRemote(from.region(), *log).ok());
}

}  // namespace

TEST_CASE("two regions exchanging their delta logs converge") {
  TempDir a_dir, b_dir;
  auto a = OpenReplica(a_dir.path, "us-east");
  auto b = OpenReplica(b_dir.path, "eu-west");
  REQUIRE(a->Apply(Incr("c", 5)).ok());
  REQUIRE(b->Apply(Incr("c", -2)).ok());
  REQUIRE(a->Apply(SetOp(OpKind::kSetAdd, "s", {"x", "y"})).ok());
  REQUIRE(b->Apply(SetOp(OpKind::kSetAdd, "s", {"z"})).ok());
  Ship(*a, *b);
  Ship(*b, *a);
  // Concurrent remove (a) and re-add (b) of one member: the add wins.
  REQUIRE(a->Apply(SetOp(OpKind::kSetRemove, "s", {"x", "z"})).ok());
  REQUIRE(b->Apply(SetOp(OpKind::kSetAdd, "s", {"x"})).ok());
  Ship(*a, *b);
  Ship(*b, *a);
  for (Replica* r : {a.get(), b.get()}) {
    CHECK(*r->CounterValue("c") == 3);
    CHECK(*r->SetMembers("s") == std::vector<std::string>{"x", "y"});
  }
}

TEST_CASE("applying the same remote batch twice changes nothing") {
  TempDir a_dir, b_dir;
  auto a = OpenReplica(a_dir.path, "us-east");
  auto b = OpenReplica(b_dir.path, "eu-west");
  for (int i = 0; i < 10; ++i) REQUIRE(a->Apply(Incr("c", 1)).ok());
  auto log = a->ReadLog(1, 100);
  REQUIRE(log.ok());
  REQUIRE(log->size() == 10);
  REQUIRE(b->ApplyRemote("us-east", *log).ok());
  REQUIRE(b->ApplyRemote("us-east", *log).ok());
  CHECK(*b->CounterValue("c") == 10);
  auto applied = b->AppliedVector();
  REQUIRE(applied.ok());
  bool found = false;
  for (auto& [region, seq] : *applied) {
    if (region == "us-east") {
      CHECK(seq == 10);
      found = true;
    }
  }
  CHECK(found);
}

TEST_CASE("a remote delta that does not decode is reported, not applied") {
  TempDir dir;
  auto r = OpenReplica(dir.path, "us-east");
  deltakv::replication::LoggedDelta bad;
  bad.seq = 1;
  bad.key = "c";
  bad.type = deltakv::crdt::CrdtType::kCounter;
  bad.delta = "garbage";
  auto s = r->ApplyRemote("eu-west", {bad});
  CHECK(s.code() == Code::kCorruption);
  CHECK(r->CounterValue("c").status().code() == Code::kNotFound);
  CHECK(r->ApplyRemote("us-east", {}).code() == Code::kInvalidArgument);
}

TEST_CASE("the delta log numbers local deltas and notifies on commit") {
  TempDir dir;
  auto r = OpenReplica(dir.path, "us-east");
  std::mutex mu;
  std::condition_variable cv;
  uint64_t notified = 0;
  r->SetCommitListener([&](uint64_t seq) {
    std::lock_guard<std::mutex> l(mu);
    notified = seq;
    cv.notify_all();
  });
  auto res = r->Apply(Incr("c", 1));
  REQUIRE(res.ok());
  CHECK(res->seq == 1);
  // A rejected operation logs nothing.
  CHECK(r->Apply(Incr("", 1)).status().code() == Code::kInvalidArgument);
  res = r->Apply(SetOp(OpKind::kSetAdd, "s", {"m"}));
  CHECK(res->seq == 2);
  {
    std::unique_lock<std::mutex> l(mu);
    CHECK(
        cv.wait_for(l, std::chrono::seconds(5), [&] { return notified == 2; }));
  }
  auto log = r->ReadLog(2, 10);
  REQUIRE(log.ok());
  REQUIRE(log->size() == 1);
  CHECK((*log)[0].key == "s");
  CHECK(r->LastSequence() == 2);
}

TEST_CASE(
    "concurrent list edits in two regions converge without "
    "interleaving") {
  TempDir a_dir, b_dir;
  auto a = OpenReplica(a_dir.path, "us-east");
  auto b = OpenReplica(b_dir.path, "eu-west");
  Op base;
  base.kind = OpKind::kListPush;
  base.key = "doc";
  base.members = {"[", "]"};
  REQUIRE(a->Apply(base).ok());
  Ship(*a, *b);
  auto insert = [](std::vector<std::string> values) {
    Op op;
    op.kind = OpKind::kListInsert;
    op.key = "doc";
    op.index = 1;
    op.members = std::move(values);
    return op;
  };
  REQUIRE(a->Apply(insert({"a", "b", "c"})).ok());
  REQUIRE(b->Apply(insert({"x", "y", "z"})).ok());
  Ship(*a, *b);
  Ship(*b, *a);
  auto la = a->ListRange("doc", 0, 0);
  auto lb = b->ListRange("doc", 0, 0);
  REQUIRE(la.ok());
  REQUIRE(lb.ok());
  CHECK(la->values == lb->values);
  std::string joined;
  for (auto& v : la->values) joined += v;
  CHECK((joined == "[abcxyz]" || joined == "[xyzabc]"));
}

TEST_CASE("the delta log never holds more than max_log_entries") {
  TempDir dir;
  ReplicaOptions o;
  o.path = dir.path;
  o.region = "us-east";
  o.max_log_entries = 10;
  auto r = std::move(Replica::Open(o).value());
  for (int i = 0; i < 35; ++i) REQUIRE(r->Apply(Incr("c", 1)).ok());
  CHECK(r->LogStart() == 26);
  auto log = r->ReadLog(1, 100);
  REQUIRE(log.ok());
  REQUIRE(log->size() == 10);
  CHECK(log->front().seq == 26);
  CHECK(log->back().seq == 35);
  // Reopened, the bound and the start hold.
  r.reset();
  r = std::move(Replica::Open(o).value());
  CHECK(r->LogStart() == 26);
  CHECK(*r->CounterValue("c") == 35);
}

TEST_CASE("a register delete does not remove a concurrent write it did not "
          "observe") {
  TempDir a_dir, b_dir;
  auto a = OpenReplica(a_dir.path, "us-east");
  auto b = OpenReplica(b_dir.path, "eu-west");
  // a writes the key; both regions see it.
  REQUIRE(a->Apply(Put("r", "\"first\"")).ok());
  Ship(*a, *b);
  REQUIRE(b->RegisterGet("r")->value == "\"first\"");

  // Then a's clock moves ten minutes ahead of b's: it joins a write stamped
  // in the future (a third region's, in the old register encoding) on
  // another key.
  const uint64_t now_ms = deltakv::HybridClock().Now().wall_ms();
  deltakv::replication::LoggedDelta ahead;
  ahead.seq = 1;
  ahead.key = "elsewhere";
  ahead.type = deltakv::crdt::CrdtType::kRegister;
  ahead.delta = deltakv::crdt::Encode(deltakv::crdt::LWWRegister(
      deltakv::HlcTimestamp::FromParts(now_ms + 600'000, 0),
      deltakv::ReplicaId(99),
      deltakv::replication::EncodeRegisterValue(true, "ap-south", "\"x\"")));
  REQUIRE(a->ApplyRemote("ap-south", {ahead}).ok());

  // Concurrently: b overwrites, a deletes without having seen b's write.
  REQUIRE(b->Apply(Put("r", "\"from-b\"")).ok());
  auto del = a->Apply(Del("r"));
  REQUIRE(del.ok());
  CHECK(del->deleted);
  CHECK(a->RegisterGet("r").status().code() == Code::kNotFound);
  // a's clock is ahead of b's: its stamps order after b's write.
  REQUIRE(a->Apply(Put("probe", "1")).ok());
  REQUIRE(a->RegisterGet("probe")->updated_at >
          b->RegisterGet("r")->updated_at);

  Ship(*a, *b);
  Ship(*b, *a);
  for (Replica* r : {a.get(), b.get()}) {
    auto got = r->RegisterGet("r");
    REQUIRE(got.ok());
    CHECK(got->value == "\"from-b\"");
    CHECK(got->origin == "eu-west");
  }
  // A delete that has seen b's write removes it everywhere.
  REQUIRE(a->Apply(Del("r")).ok());
  Ship(*a, *b);
  for (Replica* r : {a.get(), b.get()}) {
    CHECK(r->RegisterGet("r").status().code() == Code::kNotFound);
  }
}

TEST_CASE("register deltas in the old encoding join as legacy writes") {
  TempDir dir;
  auto a = OpenReplica(dir.path, "us-east");
  const uint64_t now_ms = deltakv::HybridClock().Now().wall_ms();
  auto old_delta = [&](uint64_t seq, uint64_t ms, bool present,
                       std::string value) {
    deltakv::replication::LoggedDelta d;
    d.seq = seq;
    d.key = "k";
    d.type = deltakv::crdt::CrdtType::kRegister;
    d.delta = deltakv::crdt::Encode(deltakv::crdt::LWWRegister(
        deltakv::HlcTimestamp::FromParts(ms, 0), deltakv::ReplicaId(99),
        deltakv::replication::EncodeRegisterValue(present, "ap-south",
                                                  value)));
    return d;
  };
  // A region running the previous release writes, a newer write replaces it.
  REQUIRE(a->ApplyRemote("ap-south", {old_delta(1, now_ms - 2000, true, "1")})
              .ok());
  REQUIRE(a->ApplyRemote("ap-south", {old_delta(2, now_ms - 1000, true, "2")})
              .ok());
  auto got = a->RegisterGet("k");
  REQUIRE(got.ok());
  CHECK(got->value == "2");
  CHECK(got->origin == "ap-south");
  // A local write observes the legacy write and supersedes it; an old
  // delete (a newer "deleted" value) hides no dotted write.
  REQUIRE(a->Apply(Put("k", "3")).ok());
  REQUIRE(a->ApplyRemote("ap-south", {old_delta(3, now_ms + 60'000, false, "")})
              .ok());
  got = a->RegisterGet("k");
  REQUIRE(got.ok());
  CHECK(got->value == "3");
  CHECK(got->origin == "us-east");
  // The old delete hides the older legacy value when that arrives again.
  REQUIRE(a->Apply(Del("k")).ok());
  REQUIRE(a->ApplyRemote("ap-south", {old_delta(4, now_ms - 1000, true, "2")})
              .ok());
  CHECK(a->RegisterGet("k").status().code() == Code::kNotFound);
}
