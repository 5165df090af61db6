// Replica engine: remote deltas, watermarks, the delta log and its commit
// notification, on real LMDB stores.
#include <catch2/catch.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>

#define XXH_INLINE_ALL
#include <xxhash.h>

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

// Ships every logged delta of `from` to `to`.
void Ship(Replica& from, Replica& to) {
  auto log = from.ReadLog(1, 1'000'000);
  REQUIRE(log.ok());
  REQUIRE(to.ApplyRemote(from.region(), *log).ok());
}

Op ListOp(OpKind kind, std::string key, std::vector<std::string> values,
          uint64_t index = 0, uint64_t count = 0) {
  Op op;
  op.kind = kind;
  op.key = std::move(key);
  op.members = std::move(values);
  op.index = index;
  op.count = count;
  return op;
}

Op Delete(std::string key) {
  Op op;
  op.kind = OpKind::kDelete;
  op.key = std::move(key);
  return op;
}

// A 400-byte name built to equal what format 1 stored for `long_name`: its
// first 384 bytes and its XXH3-128 hash, big-endian.
std::string CraftedAlias(const std::string& long_name) {
  std::string out = long_name.substr(0, 384);
  XXH128_hash_t h = XXH3_128bits(long_name.data(), long_name.size());
  for (uint64_t half : {h.high64, h.low64}) {
    for (int shift = 56; shift >= 0; shift -= 8) {
      out.push_back(static_cast<char>((half >> shift) & 0xff));
    }
  }
  return out;
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

// ------------------------------------------------ watermark regressions

namespace {

uint64_t Watermark(Replica& r, const std::string& origin) {
  auto applied = r.AppliedVector();
  REQUIRE(applied.ok());
  for (auto& [region, seq] : *applied) {
    if (region == origin) return seq;
  }
  return 0;
}

}  // namespace

TEST_CASE(
    "a remote batch with a corrupt entry moves neither data nor "
    "watermark") {
  TempDir a_dir, b_dir;
  auto a = OpenReplica(a_dir.path, "us-east");
  auto b = OpenReplica(b_dir.path, "eu-west");
  REQUIRE(a->Apply(Incr("good", 5)).ok());
  auto log = a->ReadLog(1, 10);
  REQUIRE(log.ok());
  deltakv::replication::LoggedDelta bad = log->front();
  bad.seq = 2;
  bad.key = "bad";
  bad.delta = "garbage";
  log->push_back(bad);
  // Before: the good entry was joined and the watermark moved to 2 although
  // seq 2 never applied, so a retransmission was taken for a duplicate.
  CHECK(b->ApplyRemote("us-east", *log).code() == Code::kCorruption);
  CHECK(Watermark(*b, "us-east") == 0);
  CHECK(b->CounterValue("good").status().code() == Code::kNotFound);
  // The good part alone applies.
  log->pop_back();
  REQUIRE(b->ApplyRemote("us-east", *log).ok());
  CHECK(*b->CounterValue("good") == 5);
  CHECK(Watermark(*b, "us-east") == 1);
}

TEST_CASE("a remote batch that skips sequence numbers is refused") {
  TempDir a_dir, b_dir;
  auto a = OpenReplica(a_dir.path, "us-east");
  auto b = OpenReplica(b_dir.path, "eu-west");
  for (int i = 0; i < 4; ++i) REQUIRE(a->Apply(Incr("c", 1)).ok());
  auto log = a->ReadLog(1, 10);
  REQUIRE(log.ok());
  REQUIRE(b->ApplyRemote("us-east", {(*log)[0]}).ok());
  // 3..4 does not follow watermark 1: nothing applies, the mark stays.
  auto s = b->ApplyRemote("us-east", {(*log)[2], (*log)[3]});
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(Watermark(*b, "us-east") == 1);
  CHECK(*b->CounterValue("c") == 1);
  REQUIRE(b->ApplyRemote("us-east", {(*log)[1], (*log)[2], (*log)[3]}).ok());
  CHECK(*b->CounterValue("c") == 4);
}

TEST_CASE("periodic durability publishes only what was synced") {
  TempDir dir;
  ReplicaOptions o;
  o.path = dir.path;
  o.region = "us-east";
  o.durability = deltakv::replication::Durability::kPeriodic;
  o.sync_interval_ms = 3'600'000;  // no fsync during the test
  auto r = Replica::Open(o);
  REQUIRE(r.ok());
  REQUIRE((*r)->Apply(Incr("c", 1)).ok());
  CHECK((*r)->LastSequence() == 1);
  // Not on disk yet: a peer must not see seq 1, which an OS crash could
  // make this region reuse for another delta.
  CHECK((*r)->DurableSequence() == 0);
  auto marks = (*r)->AppliedMarks(/*durable_only=*/true);
  REQUIRE(marks.ok());
  for (auto& m : *marks) {
    if (m.region == "us-east") CHECK(m.seq == 0);
  }
}

TEST_CASE("a store created empty bootstraps from each peer once") {
  TempDir dir;
  {
    auto r = OpenReplica(dir.path, "us-east");
    CHECK(r->NeedsStateFrom("eu-west"));
    deltakv::replication::RemoteBatch b;
    b.origin = "eu-west";
    b.snapshot = true;
    b.transfer = true;
    b.transfer_seq = 7;
    b.transfer_cursor = "Kx";
    REQUIRE(r->ApplyRemote(b).ok());
    auto progress = r->TransferFrom("eu-west");
    REQUIRE(progress.ok());
    REQUIRE(progress->has_value());
    CHECK((*progress)->seq == 7);
    CHECK((*progress)->cursor == "Kx");
    b.transfer_done = true;
    b.transfer_cursor.clear();
    REQUIRE(r->ApplyRemote(b).ok());
    CHECK_FALSE(r->NeedsStateFrom("eu-west"));
    CHECK(r->NeedsStateFrom("ap-south"));
    CHECK(Watermark(*r, "eu-west") == 7);
    progress = r->TransferFrom("eu-west");
    REQUIRE(progress.ok());
    CHECK_FALSE(progress->has_value());
  }
  auto again = OpenReplica(dir.path, "us-east");
  CHECK_FALSE(again->NeedsStateFrom("eu-west"));
}

TEST_CASE("a new incarnation keeps the old one's watermark for tokens") {
  TempDir dir;
  auto r = OpenReplica(dir.path, "us-east");
  REQUIRE(r->SetPeerReplica("eu-west", 0x11, false).ok());
  auto log_dir = TempDir();
  auto a = OpenReplica(log_dir.path, "eu-west");
  for (int i = 0; i < 3; ++i) REQUIRE(a->Apply(Incr("c", 1)).ok());
  auto log = a->ReadLog(1, 10);
  REQUIRE(log.ok());
  REQUIRE(r->ApplyRemote("eu-west", *log).ok());
  CHECK(*r->AppliedOf("eu-west", 0x11) == 3);
  REQUIRE(r->SetPeerReplica("eu-west", 0x22, true).ok());
  CHECK(*r->AppliedOf("eu-west", 0x11) == 3);  // what the old one reached
  CHECK(*r->AppliedOf("eu-west", 0x22) == 0);  // the new one starts over
  CHECK(*r->AppliedOf("eu-west", 0x33) == 0);  // unknown
  CHECK(*r->AppliedOf("us-east", r->replica_id().value()) == 0);
}

TEST_CASE("a 400-byte key does not alias a long key's storage") {
  TempDir dir;
  auto r = OpenReplica(dir.path, "us-east");
  const std::string long_key(500, 'k');
  const std::string alias = CraftedAlias(long_key);
  REQUIRE(alias.size() == 400);
  REQUIRE(r->Apply(Incr(long_key, 5)).ok());
  CHECK(r->CounterValue(alias).status().code() == Code::kNotFound);
  // The alias is a key of its own, of any type.
  REQUIRE(r->Apply(SetOp(OpKind::kSetAdd, alias, {"m"})).ok());
  CHECK(*r->CounterValue(long_key) == 5);
  CHECK(*r->SetMembers(alias) == std::vector<std::string>{"m"});
  auto page = r->Scan("kkk", "", 10);
  REQUIRE(page.ok());
  REQUIRE(page->keys.size() == 2);
  std::vector<std::string> names{page->keys[0].key, page->keys[1].key};
  std::vector<std::string> want{alias, long_key};
  std::sort(names.begin(), names.end());
  std::sort(want.begin(), want.end());
  CHECK(names == want);
  // Both survive a reopen and a state transfer to another region.
  r.reset();
  r = OpenReplica(dir.path, "us-east");
  CHECK(*r->CounterValue(long_key) == 5);
  auto chunk = r->ReadSnapshot("", 1 << 20);
  REQUIRE(chunk.ok());
  TempDir b_dir;
  auto b = OpenReplica(b_dir.path, "eu-west");
  deltakv::replication::RemoteBatch batch;
  batch.origin = "us-east";
  batch.snapshot = true;
  batch.deltas = chunk->states;
  REQUIRE(b->ApplyRemote(std::move(batch)).ok());
  CHECK(*b->CounterValue(long_key) == 5);
  CHECK(*b->SetMembers(alias) == std::vector<std::string>{"m"});
}

TEST_CASE("SetContains does not report a 400-byte member aliasing a long one") {
  TempDir dir;
  auto r = OpenReplica(dir.path, "us-east");
  const std::string long_member(700, 'm');
  const std::string alias = CraftedAlias(long_member);
  REQUIRE(r->Apply(SetOp(OpKind::kSetAdd, "s", {long_member})).ok());
  CHECK(*r->SetContains("s", long_member));
  CHECK_FALSE(*r->SetContains("s", alias));
  // Added, the alias is a member of its own; removing one keeps the other.
  REQUIRE(r->Apply(SetOp(OpKind::kSetAdd, "s", {alias})).ok());
  auto members = r->SetMembers("s");
  REQUIRE(members.ok());
  std::vector<std::string> both{alias, long_member};
  std::sort(both.begin(), both.end());  // members come in byte order
  CHECK(*members == both);
  auto res = r->Apply(SetOp(OpKind::kSetRemove, "s", {long_member}));
  REQUIRE(res.ok());
  CHECK(res->size == 1);
  CHECK_FALSE(*r->SetContains("s", long_member));
  CHECK(*r->SetContains("s", alias));
  CHECK(*r->SetMembers("s") == std::vector<std::string>{alias});
  // A remote remove of the alias (found through the dot index) removes it
  // and only it.
  TempDir b_dir;
  auto b = OpenReplica(b_dir.path, "eu-west");
  Ship(*r, *b);
  REQUIRE(b->Apply(SetOp(OpKind::kSetAdd, "s", {long_member})).ok());
  REQUIRE(b->Apply(SetOp(OpKind::kSetRemove, "s", {alias})).ok());
  Ship(*b, *r);
  CHECK(*r->SetMembers("s") == std::vector<std::string>{long_member});
}

TEST_CASE("incr by 0 on a new key creates nothing and logs nothing") {
  TempDir dir;
  auto r = OpenReplica(dir.path, "us-east");
  auto res = r->Apply(Incr("c", 0));
  REQUIRE(res.ok());
  CHECK(res->value == 0);
  CHECK(res->seq == 0);
  CHECK(r->LastSequence() == 0);
  CHECK(r->CounterValue("c").status().code() == Code::kNotFound);
  // The key was not created as a counter: another type may take it.
  CHECK(r->Apply(SetOp(OpKind::kSetAdd, "c", {"m"})).ok());
  CHECK(r->LastSequence() == 1);
}

TEST_CASE("a list delete of nothing creates nothing and logs nothing") {
  TempDir dir;
  auto r = OpenReplica(dir.path, "us-east");
  auto res = r->Apply(ListOp(OpKind::kListDelete, "l", {}, 0, 0));
  REQUIRE(res.ok());
  CHECK(res->seq == 0);
  CHECK(r->LastSequence() == 0);
  CHECK(r->ListRange("l", 0, 0).status().code() == Code::kNotFound);
  CHECK(r->Apply(Incr("l", 1)).ok());  // not taken as a list
  REQUIRE(r->Apply(ListOp(OpKind::kListPush, "doc", {"a"})).ok());
  const uint64_t seq = r->LastSequence();
  res = r->Apply(ListOp(OpKind::kListDelete, "doc", {}, 1, 0));
  REQUIRE(res.ok());
  CHECK(res->size == 1);
  CHECK(r->LastSequence() == seq);
}

TEST_CASE("deleting a counter that is not live logs nothing") {
  TempDir dir;
  auto r = OpenReplica(dir.path, "us-east");
  REQUIRE(r->Apply(Incr("c", 3)).ok());
  auto res = r->Apply(Delete("c"));
  REQUIRE(res.ok());
  CHECK(res->deleted);
  CHECK(r->LastSequence() == 2);
  res = r->Apply(Delete("c"));
  REQUIRE(res.ok());
  CHECK_FALSE(res->deleted);
  CHECK(res->seq == 0);
  CHECK(r->LastSequence() == 2);
  CHECK(r->CounterValue("c").status().code() == Code::kNotFound);
}

TEST_CASE("deleting a list removes its held runs too") {
  TempDir a_dir, b_dir;
  auto a = OpenReplica(a_dir.path, "us-east");
  auto b = OpenReplica(b_dir.path, "eu-west");
  REQUIRE(a->Apply(ListOp(OpKind::kListPush, "doc", {"a"})).ok());
  REQUIRE(a->Apply(ListOp(OpKind::kListPush, "doc", {"b"})).ok());
  auto log = a->ReadLog(1, 10);
  REQUIRE(log.ok());
  REQUIRE(log->size() == 2);
  // b receives the second push alone: its left origin ("a") is missing, so
  // the run is held, not visible.
  deltakv::replication::RemoteBatch early;
  early.origin = "us-east";
  early.snapshot = true;
  early.deltas = {(*log)[1]};
  REQUIRE(b->ApplyRemote(std::move(early)).ok());
  CHECK(b->ListRange("doc", 0, 0).status().code() == Code::kNotFound);
  // Deleting the key covers what b has seen of it, the held run included.
  REQUIRE(b->Apply(Delete("doc")).ok());
  CHECK(b->LastSequence() == 1);
  REQUIRE(b->ApplyRemote("us-east", *log).ok());
  auto lb = b->ListRange("doc", 0, 0);
  REQUIRE(lb.ok());
  CHECK(lb->values == std::vector<std::string>{"a"});
  // a, told of the delete, converges.
  Ship(*b, *a);
  auto la = a->ListRange("doc", 0, 0);
  REQUIRE(la.ok());
  CHECK(la->values == std::vector<std::string>{"a"});
}

TEST_CASE(
    "a register delete does not remove a concurrent write it did not "
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
  auto del = a->Apply(Delete("r"));
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
  REQUIRE(a->Apply(Delete("r")).ok());
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
        deltakv::replication::EncodeRegisterValue(present, "ap-south", value)));
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
  REQUIRE(a->Apply(Delete("k")).ok());
  REQUIRE(a->ApplyRemote("ap-south", {old_delta(4, now_ms - 1000, true, "2")})
              .ok());
  CHECK(a->RegisterGet("k").status().code() == Code::kNotFound);
}

TEST_CASE(
    "set writes report the members they changed and SetSize counts "
    "without reading members") {
  TempDir dir;
  auto r = OpenReplica(dir.path, "us-east");
  auto res = r->Apply(SetOp(OpKind::kSetAdd, "s", {"a", "b", "a"}));
  REQUIRE(res.ok());
  CHECK(res->changed == 2);
  res = r->Apply(SetOp(OpKind::kSetAdd, "s", {"a", "c"}));
  CHECK(res->changed == 1);
  CHECK(*r->SetSize("s") == 3);
  res = r->Apply(SetOp(OpKind::kSetRemove, "s", {"a", "zz"}));
  CHECK(res->changed == 1);
  CHECK(*r->SetSize("s") == 2);
  res = r->Apply(SetOp(OpKind::kSetRemove, "missing", {"a"}));
  CHECK(res->changed == 0);
  CHECK(r->SetSize("missing").status().code() == Code::kNotFound);
  REQUIRE(r->Apply(Incr("c", 1)).ok());
  CHECK(r->SetSize("c").status().code() == Code::kWrongType);
}

// The writer keeps decoded lists between edits within a byte budget, the
// least recently used going first: a list edited all the time stays
// decoded while lists edited once pass through (the cache used to evict
// the list of the smallest key id and bound the number of lists, not
// their size).
TEST_CASE(
    "the writer's list cache is bounded by bytes and keeps the list "
    "edited most recently") {
  TempDir dir;
  ReplicaOptions o;
  o.path = dir.path;
  o.durability = deltakv::replication::Durability::kPeriodic;
  o.list_cache_bytes = 100 << 10;
  auto opened = Replica::Open(o);
  REQUIRE(opened.ok());
  auto& r = *opened;
  std::vector<std::string> values;
  for (int i = 0; i < 1000; ++i) values.push_back("v" + std::to_string(i));
  REQUIRE(r->Apply(ListOp(OpKind::kListPush, "hot", values)).ok());
  for (int i = 0; i < 30; ++i) {
    REQUIRE(r->Apply(ListOp(OpKind::kListPush, "hot", {"h"})).ok());
    REQUIRE(
        r->Apply(ListOp(OpKind::kListPush, "cold" + std::to_string(i), values))
            .ok());
  }
  REQUIRE(r->Apply(Incr("flush", 1)).ok());  // stats follow the batches
  const auto st = r->Stats();
  CHECK(st.list_cache_misses == 31);  // each list decoded once
  CHECK(st.list_cache_hits == 30);    // every later edit of "hot"
  CHECK(st.list_cache_evictions >= 25);
  CHECK(st.list_cache_bytes <= o.list_cache_bytes);
  CHECK(st.list_cache_entries >= 2);
  // Nothing is lost by evicting: the lists read back whole.
  auto hot = r->ListRange("hot", 0, 0);
  REQUIRE(hot.ok());
  CHECK(hot->length == 1030);
  auto cold = r->ListRange("cold0", 0, 0);
  REQUIRE(cold.ok());
  CHECK(cold->values == values);
  // Editing an evicted list decodes it again and keeps its state.
  REQUIRE(r->Apply(ListOp(OpKind::kListPush, "cold0", {"again"})).ok());
  cold = r->ListRange("cold0", 1000, 0);
  REQUIRE(cold.ok());
  CHECK(cold->values == std::vector<std::string>{"again"});
}
