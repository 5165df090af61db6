// The pieces of a region cluster's request path below the coordinator:
// the node-to-node frames (round trips, and malformed bytes refused), the
// join of deltas that several coordinators made (in any order, duplicated:
// every replica ends with the same state), and the transport between two
// nodes (replies, a node that is not there, garbage, CurveZMQ keys).
#include <rapidcheck/catch.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <random>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "cluster/node_transport.h"
#include "cluster/node_wire.h"
#include "replication/curve.h"
#include "replication/replica.h"

namespace wire = deltakv::cluster::wire;
using deltakv::Code;
using deltakv::Result;
using deltakv::Status;
using deltakv::cluster::NodeTransport;
using deltakv::cluster::NodeTransportOptions;
using deltakv::replication::LoggedDelta;
using deltakv::replication::Op;
using deltakv::replication::OpKind;
using deltakv::replication::Replica;

namespace {

std::vector<wire::Frame> SampleFrames() {
  std::vector<wire::Frame> out;
  wire::Frame apply;
  apply.kind = wire::Kind::kApply;
  apply.id = 7;
  apply.blobs = {{"k", 1, std::string("\x00\x01\xff", 3)}, {"k2", 3, ""}};
  out.push_back(apply);
  wire::Frame digest;
  digest.kind = wire::Kind::kDigest;
  digest.id = UINT64_MAX;
  digest.key = "some key";
  out.push_back(digest);
  wire::Frame write;
  write.kind = wire::Kind::kWrite;
  write.write.kind = deltakv::cluster::WriteKind::kListInsert;
  write.write.key = "list";
  write.write.by = -42;
  write.write.values = {"a", "", "ccc"};
  write.write.index = 3;
  write.write.front = true;
  write.w = deltakv::cluster::kAllReplicas;
  write.timeout_ms = 2000;
  out.push_back(write);
  wire::Frame read;
  read.kind = wire::Kind::kRead;
  read.read.kind = deltakv::cluster::ReadKind::kSetPage;
  read.read.key = "set";
  read.read.limit = 10;
  read.read.position = std::string("\x00pos", 4);
  read.r = 2;
  out.push_back(read);
  wire::Frame scan;
  scan.kind = wire::Kind::kScan;
  scan.prefix = "p";
  scan.after = "q";
  scan.limit = 100;
  out.push_back(scan);
  wire::Frame reply;
  reply.kind = wire::Kind::kReply;
  reply.request = wire::Kind::kRead;
  reply.read_result.type = deltakv::cluster::KeyType::kSet;
  reply.read_result.counter = INT64_MIN;
  reply.read_result.values = {"x", "y"};
  reply.read_result.contains = {true, false, true};
  reply.read_result.positions = {"1", "2"};
  reply.read_result.more = true;
  out.push_back(reply);
  wire::Frame scan_reply;
  scan_reply.kind = wire::Kind::kReply;
  scan_reply.request = wire::Kind::kScan;
  scan_reply.scan_result.keys = {
      {"a", deltakv::cluster::KeyType::kCounter, "a"}};
  scan_reply.scan_result.next = "a";
  out.push_back(scan_reply);
  wire::Frame error;
  error.kind = wire::Kind::kReply;
  error.request = wire::Kind::kWrite;
  error.status = Status::Unavailable("the write is on 1 of 2 replicas");
  out.push_back(error);
  wire::Frame state;
  state.kind = wire::Kind::kReply;
  state.request = wire::Kind::kState;
  state.blobs = {{"k", 4, "state"}};
  out.push_back(state);
  return out;
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/deltakv-node-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::unique_ptr<Replica> OpenAt(const std::string& path) {
  deltakv::replication::ReplicaOptions o;
  o.path = path;
  o.durability = deltakv::replication::Durability::kPeriodic;
  auto r = Replica::Open(o);
  REQUIRE(r.ok());
  return std::move(r).value();
}

Status Join(Replica& r, std::vector<LoggedDelta> states) {
  std::promise<Status> p;
  auto f = p.get_future();
  r.SubmitJoin(std::move(states),
               [&p](Result<deltakv::replication::OpResult> res) {
                 p.set_value(res.status());
               });
  return f.get();
}

Result<wire::Frame> CallAndWait(NodeTransport& t, const std::string& address,
                                wire::Frame f, std::chrono::milliseconds ms) {
  std::promise<Result<wire::Frame>> p;
  auto fut = p.get_future();
  t.Call(address, std::move(f), ms,
         [&p](Result<wire::Frame> r) { p.set_value(std::move(r)); });
  return fut.get();
}

}  // namespace

TEST_CASE("node frames round trip") {
  for (const wire::Frame& f : SampleFrames()) {
    const std::string bytes = wire::Encode(f);
    auto back = wire::Decode(bytes);
    REQUIRE(back.ok());
    CHECK(wire::Encode(*back) == bytes);
    CHECK(back->id == f.id);
    CHECK(back->kind == f.kind);
  }
  auto w = wire::Decode(wire::Encode(SampleFrames()[2]));
  REQUIRE(w.ok());
  CHECK(w->write.by == -42);
  CHECK(w->write.values == std::vector<std::string>{"a", "", "ccc"});
  CHECK(w->w == deltakv::cluster::kAllReplicas);
  auto e = wire::Decode(wire::Encode(SampleFrames()[7]));
  REQUIRE(e.ok());
  CHECK(e->status.code() == Code::kUnavailable);
  CHECK(e->status.message() == "the write is on 1 of 2 replicas");
}

TEST_CASE("malformed node frames are refused, never trusted") {
  for (const wire::Frame& f : SampleFrames()) {
    const std::string bytes = wire::Encode(f);
    // Every truncation, and one byte more.
    for (size_t n = 0; n < bytes.size(); ++n) {
      CHECK(wire::Decode(bytes.substr(0, n)).status().code() ==
            Code::kCorruption);
    }
    CHECK(!wire::Decode(bytes + "x").ok());
  }
  std::string bad = wire::Encode(SampleFrames()[0]);
  bad[0] = 0;
  CHECK(!wire::Decode(bad).ok());  // magic
  bad = wire::Encode(SampleFrames()[0]);
  bad[1] = 9;
  CHECK(wire::Decode(bad).status().message().find("version") !=
        std::string::npos);
  bad = wire::Encode(SampleFrames()[0]);
  bad[2] = 99;
  CHECK(!wire::Decode(bad).ok());  // kind
  // A count far beyond the bytes that follow allocates nothing.
  std::string huge = wire::Encode(SampleFrames()[0]).substr(0, 11);
  huge += std::string("\xff\xff\xff\xff\x0f", 5);
  CHECK(!wire::Decode(huge).ok());
  // An unknown crdt type in an apply.
  wire::Frame f;
  f.kind = wire::Kind::kApply;
  f.blobs = {{"k", 9, "x"}};
  CHECK(!wire::Decode(wire::Encode(f)).ok());
  // A varint longer than 64 bits.
  std::string scan = wire::Encode(SampleFrames()[4]);
  std::string over =
      scan.substr(0, scan.size() - 1) +
      std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10);
  CHECK(!wire::Decode(over).ok());
}

// Deltas made by several coordinators (each its own replica id), delivered
// to every other replica in any order and any number of times: every
// replica ends with the same state of every key.
TEST_CASE("replicas joining deltas from several coordinators converge") {
  rc::prop("any delivery order, with duplicates", [] {
    TempDir d[3];
    std::unique_ptr<Replica> r[3] = {OpenAt(d[0].path), OpenAt(d[1].path),
                                     OpenAt(d[2].path)};
    const int ops = *rc::gen::inRange(1, 40);
    std::vector<std::vector<LoggedDelta>> inbox(3);
    for (int i = 0; i < ops; ++i) {
      const int at = *rc::gen::inRange(0, 3);
      Op op;
      op.want_delta = true;
      const int kind = *rc::gen::inRange(0, 5);
      const std::string m = std::to_string(*rc::gen::inRange(0, 4));
      switch (kind) {
        case 0:
          op.kind = OpKind::kCounterIncrement;
          op.key = "c";
          op.by = *rc::gen::inRange(-5, 6);
          break;
        case 1:
          op.kind = OpKind::kRegisterSet;
          op.key = "r";
          op.value = "v" + m;
          break;
        case 2:
          op.kind = OpKind::kSetAdd;
          op.key = "s";
          op.members = {m};
          break;
        case 3:
          op.kind = OpKind::kSetRemove;
          op.key = "s";
          op.members = {m};
          break;
        default:
          op.kind = OpKind::kListPush;
          op.key = "l";
          op.members = {m};
          op.front = m == "0";
          break;
      }
      const std::string key = op.key;
      auto res = r[at]->Apply(std::move(op));
      RC_ASSERT(res.ok());
      if (res->delta.empty()) continue;
      LoggedDelta dl{0, key, res->type, res->delta};
      for (int to = 0; to < 3; ++to) {
        if (to == at) continue;
        inbox[to].push_back(dl);
        if (*rc::gen::inRange(0, 4) == 0) inbox[to].push_back(dl);  // again
      }
      // Some deltas are joined at once, the rest later.
      for (int to = 0; to < 3; ++to) {
        if (inbox[to].empty() || *rc::gen::inRange(0, 3) != 0) continue;
        RC_ASSERT(Join(*r[to], {inbox[to].back()}).ok());
      }
    }
    for (int to = 0; to < 3; ++to) {
      auto& box = inbox[to];
      std::mt19937 rng(static_cast<unsigned>(*rc::gen::arbitrary<uint32_t>()));
      std::shuffle(box.begin(), box.end(), rng);
      for (const LoggedDelta& dl : box) RC_ASSERT(Join(*r[to], {dl}).ok());
    }
    for (const char* key : {"c", "r", "s", "l"}) {
      auto first = r[0]->KeyState(key);
      RC_ASSERT(first.ok());
      for (int i = 1; i < 3; ++i) {
        auto other = r[i]->KeyState(key);
        RC_ASSERT(other.ok());
        RC_ASSERT(first->has_value() == other->has_value());
        if (*first) RC_ASSERT((*first)->delta == (*other)->delta);
      }
    }
    // The same answers too.
    for (int i = 1; i < 3; ++i) {
      auto a = r[0]->CounterValue("c"), b = r[i]->CounterValue("c");
      RC_ASSERT(a.ok() == b.ok());
      if (a.ok()) RC_ASSERT(*a == *b);
      auto la = r[0]->ListRange("l", 0, 0), lb = r[i]->ListRange("l", 0, 0);
      RC_ASSERT(la.ok() == lb.ok());
      if (la.ok()) RC_ASSERT(la->values == lb->values);
      auto sa = r[0]->SetMembers("s"), sb = r[i]->SetMembers("s");
      RC_ASSERT(sa.ok() == sb.ok());
      if (sa.ok()) RC_ASSERT(*sa == *sb);
    }
  });
}

TEST_CASE("a join from another node neither logs nor moves a watermark") {
  TempDir d0, d1;
  auto a = OpenAt(d0.path);
  auto b = OpenAt(d1.path);
  Op op;
  op.kind = OpKind::kCounterIncrement;
  op.key = "c";
  op.by = 3;
  op.want_delta = true;
  auto res = a->Apply(op);
  REQUIRE(res.ok());
  REQUIRE(!res->delta.empty());
  REQUIRE(res->type == deltakv::crdt::CrdtType::kCounter);
  REQUIRE(Join(*b, {LoggedDelta{0, "c", res->type, res->delta}}).ok());
  CHECK(*b->CounterValue("c") == 3);
  CHECK(b->LastSequence() == 0);  // nothing in b's own log
  auto applied = b->AppliedVector();
  REQUIRE(applied.ok());
  for (const auto& [origin, seq] : *applied) CHECK(!origin.empty());
  // A delta that does not decode: refused, nothing applied.
  CHECK(Join(*b, {LoggedDelta{0, "d", res->type, "garbage"}}).code() ==
        Code::kCorruption);
  CHECK(b->CounterValue("d").status().code() == Code::kNotFound);
  // Without want_delta no copy is made.
  op.want_delta = false;
  auto plain = a->Apply(op);
  REQUIRE(plain.ok());
  CHECK(plain->delta.empty());
}

TEST_CASE("two nodes talk; a missing node, garbage and a wrong key fail fast") {
  auto keys = deltakv::replication::GenerateKeyPair();
  REQUIRE(keys.ok());
  auto make = [](NodeTransportOptions o) {
    o.bind = "127.0.0.1:0";
    return NodeTransport::Start(
        std::move(o), [](wire::Frame f, NodeTransport::Respond respond) {
          wire::Frame reply;
          if (f.kind == wire::Kind::kDigest) {
            reply.digest = f.key.size();
            reply.blobs = {{f.key, 1, ""}};
          } else {
            reply.status = Status::InvalidArgument("only digests here");
          }
          respond(std::move(reply));
        });
  };
  NodeTransportOptions secure;
  secure.public_key = keys->first;
  secure.secret_key = keys->second;
  auto a = make(secure);
  auto b = make(secure);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  const std::string b_addr = "127.0.0.1:" + std::to_string((*b)->port());
  wire::Frame ask;
  ask.kind = wire::Kind::kDigest;
  ask.key = "four";
  (*a)->Connect(b_addr);
  auto r = CallAndWait(**a, b_addr, ask, std::chrono::seconds(5));
  REQUIRE(r.ok());
  CHECK(r->status.ok());
  CHECK(r->digest == 4);
  wire::Frame scan;
  scan.kind = wire::Kind::kScan;
  scan.limit = 1;
  r = CallAndWait(**a, b_addr, scan, std::chrono::seconds(5));
  REQUIRE(r.ok());
  CHECK(r->status.code() == Code::kInvalidArgument);

  // A node that is not there: the answer comes within the deadline.
  const auto t0 = std::chrono::steady_clock::now();
  r = CallAndWait(**a, "127.0.0.1:1", ask, std::chrono::milliseconds(1500));
  CHECK(!r.ok());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));

  // A client without the region's key is refused by the Curve server.
  auto other = deltakv::replication::GenerateKeyPair();
  REQUIRE(other.ok());
  NodeTransportOptions stranger;
  stranger.public_key = other->first;
  stranger.secret_key = other->second;
  auto c = make(stranger);
  REQUIRE(c.ok());
  r = CallAndWait(**c, b_addr, ask, std::chrono::milliseconds(1500));
  CHECK(!r.ok());

  // Garbage on a plaintext node's port: refused, answered, no crash.
  NodeTransportOptions plain;
  plain.insecure = true;
  auto p = make(plain);
  REQUIRE(p.ok());
  zmq::context_t ctx;
  zmq::socket_t raw(ctx, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect("tcp://127.0.0.1:" + std::to_string((*p)->port()));
  std::string junk = wire::Encode(ask);
  junk[11] = '\x7f';  // the key's length now lies
  raw.send(zmq::buffer(junk));
  raw.send(zmq::buffer(std::string("short")));
  raw.set(zmq::sockopt::rcvtimeo, 3000);
  zmq::message_t m;
  REQUIRE(raw.recv(m));
  auto refused = wire::Decode(std::string_view(m.data<char>(), m.size()));
  REQUIRE(refused.ok());
  CHECK(refused->status.code() == Code::kCorruption);
  CHECK((*p)->Stats().malformed >= 1);
  // And it still serves.
  const std::string p_addr = "127.0.0.1:" + std::to_string((*p)->port());
  NodeTransportOptions plain_client;
  plain_client.insecure = true;
  auto q = make(plain_client);
  REQUIRE(q.ok());
  r = CallAndWait(**q, p_addr, ask, std::chrono::seconds(5));
  REQUIRE(r.ok());
  CHECK(r->digest == 4);
}
