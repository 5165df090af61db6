// Replication frames: round trips, compression, hostile bytes and their
// memory; and the binding of a CurveZMQ key to its region (ZAP User-Id).
#include <rapidcheck/catch.h>
#include <zstd.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <thread>
#include <zmq.hpp>

#include "replication/curve.h"
#include "replication/wire.h"

namespace wire = deltakv::replication::wire;
using deltakv::Code;
using namespace std::string_literals;

// The largest single operator-new request while a LargestAllocation is
// alive: shows that a decoder refused a frame before allocating for it.
namespace {
std::atomic<bool> g_track{false};
std::atomic<size_t> g_largest{0};
}  // namespace

namespace {
void* Track(std::size_t n) noexcept {
  if (g_track.load(std::memory_order_relaxed)) {
    size_t seen = g_largest.load(std::memory_order_relaxed);
    while (n > seen && !g_largest.compare_exchange_weak(seen, n)) {
    }
  }
  return std::malloc(n == 0 ? 1 : n);
}
}  // namespace

// Every form is replaced (libraries use the nothrow and array forms), so
// that no pointer from one allocator reaches the other's delete (ASan
// checks that). Out of line, so that the compiler does not see free() meet
// a pointer from operator new at the call sites.
[[gnu::noinline]] void* operator new(std::size_t n) {
  void* p = Track(n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
[[gnu::noinline]] void* operator new[](std::size_t n) {
  void* p = Track(n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
[[gnu::noinline]] void* operator new(std::size_t n,
                                     const std::nothrow_t&) noexcept {
  return Track(n);
}
[[gnu::noinline]] void* operator new[](std::size_t n,
                                       const std::nothrow_t&) noexcept {
  return Track(n);
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p,
                                       const std::nothrow_t&) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p,
                                         const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace {

class LargestAllocation {
 public:
  LargestAllocation() {
    g_largest = 0;
    g_track = true;
  }
  ~LargestAllocation() { g_track = false; }
  size_t bytes() const { return g_largest.load(); }
};

// A frame of `kind` whose payload is the zstd frame `z` declaring `raw`.
std::string CompressedFrame(uint32_t raw, std::string_view z) {
  std::string out = {static_cast<char>(wire::kMagic),
                     static_cast<char>(wire::kVersion), '\x08', '\x01'};
  for (int s = 24; s >= 0; s -= 8) {
    out.push_back(static_cast<char>((raw >> s) & 0xff));
  }
  out.append(z);
  return out;
}

// One zstd frame of `raw`; with `declare_size` false its header omits the
// content size (as streaming compressors do).
std::string Zstd(std::string_view raw, bool declare_size = true) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, declare_size ? 1 : 0);
  std::string z(ZSTD_compressBound(raw.size()), '\0');
  size_t n = ZSTD_compress2(cctx, z.data(), z.size(), raw.data(), raw.size());
  ZSTD_freeCCtx(cctx);
  REQUIRE_FALSE(ZSTD_isError(n));
  z.resize(n);
  return z;
}

// The MessagePack payload of a frame (decompressed when Encode compressed).
std::string RawPayload(const wire::Frame& f) {
  std::string bytes = wire::Encode(f);
  if (bytes[3] == 0) return bytes.substr(4);
  std::string raw(ZSTD_getFrameContentSize(bytes.data() + 8, bytes.size() - 8),
                  '\0');
  size_t n = ZSTD_decompress(raw.data(), raw.size(), bytes.data() + 8,
                             bytes.size() - 8);
  REQUIRE(n == raw.size());
  return raw;
}

wire::Frame Sample(size_t entries) {
  wire::Frame f;
  f.kind = wire::Kind::kDeltas;
  f.region = "us-east";
  f.first = 5;
  f.last = 9;
  for (size_t i = 0; i < entries; ++i) {
    f.entries.push_back(
        wire::Entry{"key" + std::to_string(i), deltakv::crdt::CrdtType::kSet,
                    std::string(40, static_cast<char>('a' + i % 26))});
  }
  f.applied = {{"us-east", 0x1234, 9}, {"eu-west", 0x99, 3}};
  f.replica = 0x1234567890abcdefULL;
  return f;
}
}  // namespace

TEST_CASE("frames round-trip, compressed above the threshold") {
  for (size_t n : {size_t{0}, size_t{1}, size_t{200}}) {
    wire::Frame f = Sample(n);
    std::string bytes = wire::Encode(f);
    CHECK((bytes[3] == 1) == (n == 200));  // only the big one is zstd
    wire::Frame g;
    REQUIRE(wire::Decode(bytes, &g).ok());
    CHECK(g.region == f.region);
    CHECK(g.first == 5);
    CHECK(g.last == 9);
    CHECK(g.entries.size() == n);
    CHECK(g.applied == f.applied);
    CHECK(g.replica == f.replica);
    if (n > 0) CHECK(g.entries.back().blob == f.entries.back().blob);
  }
}

TEST_CASE("malformed frames are Corruption, never a crash") {
  wire::Frame g;
  CHECK(wire::Decode("", &g).code() == Code::kCorruption);
  CHECK(wire::Decode("\xD7\x02\x01\x00xx", &g).code() == Code::kCorruption);
  std::string ok = wire::Encode(Sample(3));
  CHECK(wire::Decode(ok.substr(0, ok.size() - 1), &g).code() ==
        Code::kCorruption);
  CHECK(wire::Decode(ok + "x", &g).code() == Code::kCorruption);
  // A compressed frame claiming a huge raw size.
  std::string bomb("\xD7\x02\x01\x01\xff\xff\xff\xff", 8);
  CHECK(wire::Decode(bomb, &g).code() == Code::kCorruption);
  // An invalid region id.
  wire::Frame bad = Sample(1);
  bad.region = "Not A Region";
  CHECK(wire::Decode(wire::Encode(bad), &g).code() == Code::kCorruption);
  // A delta range that runs backwards.
  bad = Sample(1);
  bad.first = 10;
  CHECK(wire::Decode(wire::Encode(bad), &g).code() == Code::kCorruption);
  rc::prop("random and bit-flipped bytes", [] {
    std::string bytes =
        *rc::gen::container<std::string>(rc::gen::arbitrary<char>());
    wire::Frame out;
    deltakv::Status s = wire::Decode(bytes, &out);
    RC_ASSERT(s.ok() || s.code() == Code::kCorruption);
    std::string good = wire::Encode(Sample(*rc::gen::inRange<size_t>(0, 60)));
    const auto at = *rc::gen::inRange<size_t>(0, good.size());
    good[at] = static_cast<char>(good[at] ^ (1 << *rc::gen::inRange(0, 8)));
    s = wire::Decode(good, &out);
    RC_ASSERT(s.ok() || s.code() == Code::kCorruption);
  });
}

TEST_CASE(
    "a frame declaring a huge decompressed size is refused before "
    "allocating") {
  const uint32_t huge = static_cast<uint32_t>(wire::kMaxFrameBytes);
  wire::Frame small;
  small.kind = wire::Kind::kAck;
  small.region = "us-east";
  const std::string payload = RawPayload(small);
  const std::string zeros(wire::kMaxFrameBytes, '\0');
  const std::vector<std::string> bombs = {
      // The u32 says 64 MiB; the zstd frame holds a few bytes.
      CompressedFrame(huge, Zstd(payload)),
      // The zstd frame really holds 64 MiB (of zeros) in a few KiB.
      CompressedFrame(huge, Zstd(zeros)),
      // The zstd frame does not say how much it holds.
      CompressedFrame(huge, Zstd(zeros, /*declare_size=*/false)),
  };
  for (const std::string& bomb : bombs) {
    CHECK(bomb.size() < 64 * 1024);
    wire::Frame g;
    LargestAllocation largest;
    CHECK(wire::Decode(bomb, &g).code() == Code::kCorruption);
    CHECK(largest.bytes() < 64 * 1024);
  }
}

TEST_CASE(
    "a compressed payload must be one zstd frame declaring the raw "
    "size") {
  wire::Frame f = Sample(20);
  const std::string payload = RawPayload(f);
  const uint32_t n = static_cast<uint32_t>(payload.size());
  wire::Frame g;
  // The well-formed case decodes...
  REQUIRE(wire::Decode(CompressedFrame(n, Zstd(payload)), &g).ok());
  CHECK(g.entries.size() == 20);
  // ...not without a declared content size, nor with another raw size, nor
  // with a second zstd frame after the first.
  CHECK(wire::Decode(CompressedFrame(n, Zstd(payload, false)), &g).code() ==
        Code::kCorruption);
  CHECK(wire::Decode(CompressedFrame(n - 1, Zstd(payload)), &g).code() ==
        Code::kCorruption);
  CHECK(wire::Decode(CompressedFrame(n, Zstd(payload) + Zstd(payload)), &g)
            .code() == Code::kCorruption);
}

TEST_CASE("a highly compressible frame round-trips within the ratio bound") {
  for (size_t blob : {size_t{512} << 10, size_t{4} << 20}) {
    wire::Frame f;
    f.kind = wire::Kind::kSnapshotReply;
    f.region = "eu-west";
    f.last = 7;
    f.entries.push_back(wire::Entry{"big", deltakv::crdt::CrdtType::kRegister,
                                    std::string(blob, 'a')});
    const std::string bytes = wire::Encode(f);
    if (blob < wire::kMinRawAllowance) {
      // Below the allowance any ratio is fine: compressed.
      CHECK(bytes[3] == 1);
      CHECK(bytes.size() < blob / 100);
    } else {
      // Above it, 4 MiB of one byte would compress beyond 64:1, which the
      // receiver refuses; the sender sends it as it is.
      CHECK(bytes[3] == 0);
      CHECK(bytes.size() > blob);
    }
    wire::Frame g;
    REQUIRE(wire::Decode(bytes, &g).ok());
    REQUIRE(g.entries.size() == 1);
    CHECK(g.entries[0].blob == f.entries[0].blob);
  }
}

TEST_CASE("encoded frames never exceed the ratio the decoder accepts") {
  rc::prop("random frames", [] {
    wire::Frame f;
    f.kind = wire::Kind::kDeltas;
    f.region = "r1";
    f.first = 1;
    f.last = 1;
    const auto n = *rc::gen::inRange<size_t>(0, 40);
    for (size_t i = 0; i < n; ++i) {
      // Long runs of one byte, or random bytes: both ends of the ratio.
      const auto len = *rc::gen::inRange<size_t>(0, 200000);
      std::string blob = *rc::gen::element(true, false)
                             ? std::string(len, 'x')
                             : *rc::gen::container<std::string>(
                                   *rc::gen::inRange<size_t>(0, 2000),
                                   rc::gen::arbitrary<char>());
      f.entries.push_back(wire::Entry{"k" + std::to_string(i),
                                      deltakv::crdt::CrdtType::kRegister,
                                      std::move(blob)});
    }
    const std::string bytes = wire::Encode(f);
    if (bytes[3] == 1) {
      uint32_t raw = 0;
      for (size_t i = 4; i < 8; ++i) {
        raw = (raw << 8) | static_cast<uint8_t>(bytes[i]);
      }
      RC_ASSERT(raw <= wire::MaxRawSize(bytes.size() - 8));
    }
    wire::Frame g;
    RC_ASSERT(wire::Decode(bytes, &g).ok());
    RC_ASSERT(g.entries.size() == n);
  });
}

TEST_CASE(
    "the MessagePack structure is held to the format's absolute "
    "limits") {
  wire::Frame g;
  // More entries than a frame may hold (each tiny: the old limits, which
  // grew with the payload, let a few MiB claim millions of objects).
  wire::Frame many;
  many.kind = wire::Kind::kDeltas;
  many.region = "r1";
  many.first = 1;
  many.last = 1;
  many.entries.assign(wire::kMaxEntries + 1,
                      wire::Entry{"k", deltakv::crdt::CrdtType::kCounter, ""});
  CHECK(wire::Decode(wire::Encode(many), &g).code() == Code::kCorruption);
  many.entries.clear();
  // More applied regions than a frame may hold.
  wire::Frame wide;
  wide.kind = wire::Kind::kHeartbeat;
  wide.region = "r1";
  for (size_t i = 0; i <= wire::kMaxApplied; ++i) {
    wide.applied.emplace_back("r" + std::to_string(i), i);
  }
  CHECK(wire::Decode(wire::Encode(wide), &g).code() == Code::kCorruption);
  wide.applied.resize(wire::kMaxApplied);
  CHECK(wire::Decode(wire::Encode(wide), &g).ok());
  // An array header claiming more elements than the bytes hold: refused
  // (the unpacker would reserve its objects on reading the header).
  std::string claim("\xD7\x02\x01\x00", 4);
  claim += "\x9A\xC4\x02r1\x01\x01\x00\xC4\x00"s;  // ["r1", 1, 1, 0, "",
  claim += "\xDD\x00\x2F\xFF\xFF"s;  // an array32 of 3145727 elements...
  CHECK(wire::Decode(claim, &g).code() == Code::kCorruption);
  // Nesting below the entries array, and maps, are not part of the format.
  std::string deep("\xD7\x02\x01\x00", 4);
  deep += "\x9A\xC4\x02r1\x01\x01\x00\xC4\x00\x91\x91\x90\x90\x00"s;
  CHECK(wire::Decode(deep, &g).code() == Code::kCorruption);
  std::string map("\xD7\x02\x01\x00", 4);
  map += "\x9A\xC4\x02r1\x01\x01\x00\x80\x90\x90\x00"s;
  CHECK(wire::Decode(map, &g).code() == Code::kCorruption);
}

namespace replication = deltakv::replication;

TEST_CASE(
    "a peer region is bound to its key: frames claiming another "
    "region are refused") {
  CHECK(replication::FrameFromRegion(std::string_view("b"), "b", false));
  CHECK_FALSE(replication::FrameFromRegion(std::string_view("b"), "c", false));
  CHECK_FALSE(replication::FrameFromRegion(std::string_view(""), "c", false));
  // Plaintext links carry no key: the peer is trusted.
  CHECK(replication::FrameFromRegion(std::string_view(""), "c", true));
  if (!replication::CheckCurveAvailable().ok()) return;

  auto server = replication::GenerateKeyPair();
  auto b = replication::GenerateKeyPair();
  auto c = replication::GenerateKeyPair();
  auto rogue = replication::GenerateKeyPair();
  REQUIRE((server.ok() && b.ok() && c.ok() && rogue.ok()));
  // One key for two regions would let it speak for both.
  zmq::context_t ctx(1);
  CHECK(replication::ZapHandler::Start(&ctx, {{"b", b->first}, {"c", b->first}})
            .status()
            .code() == Code::kInvalidArgument);
  auto zap =
      replication::ZapHandler::Start(&ctx, {{"b", b->first}, {"c", c->first}});
  REQUIRE(zap.ok());

  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::curve_server, 1);
  router.set(zmq::sockopt::curve_secretkey, server->second);
  router.set(zmq::sockopt::zap_domain, "deltakv");
  router.bind("tcp://127.0.0.1:*");
  const std::string endpoint = router.get(zmq::sockopt::last_endpoint);

  auto dealer = [&](const std::pair<std::string, std::string>& key) {
    auto d = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
    d->set(zmq::sockopt::linger, 0);
    d->set(zmq::sockopt::curve_serverkey, server->first);
    d->set(zmq::sockopt::curve_publickey, key.first);
    d->set(zmq::sockopt::curve_secretkey, key.second);
    d->connect(endpoint);
    return d;
  };
  // Receives one ROUTER message (identity, body) within 5 s.
  auto receive = [&](zmq::message_t* body) {
    zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(5000));
    if (!(item.revents & ZMQ_POLLIN)) return false;
    zmq::message_t id;
    if (!router.recv(id) || !id.more()) return false;
    return router.recv(*body).has_value();
  };

  // A peer holding b's key sends an ack that claims to come from c.
  wire::Frame ack;
  ack.kind = wire::Kind::kAck;
  ack.region = "c";
  ack.applied = {{"a", 100}};
  auto from_b = dealer(*b);
  from_b->send(zmq::buffer(wire::Encode(ack)));
  zmq::message_t body;
  REQUIRE(receive(&body));
  wire::Frame f;
  REQUIRE(wire::Decode(body.to_string_view(), &f).ok());
  CHECK(f.region == "c");
  CHECK(replication::AuthenticatedRegion(body) == "b");
  CHECK_FALSE(replication::FrameFromRegion(body, f.region, false));
  CHECK(replication::FrameFromRegion(body, "b", false));

  // A key that is not allowed never gets a frame through.
  auto from_rogue = dealer(*rogue);
  from_rogue->send(zmq::buffer(wire::Encode(ack)));
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while ((*zap)->refused() == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK((*zap)->refused() > 0);
  zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(200));
  CHECK_FALSE(item.revents & ZMQ_POLLIN);
}

TEST_CASE("snapshot fragments round-trip and out-of-range ones are refused") {
  wire::Frame f;
  f.kind = wire::Kind::kSnapshotReply;
  f.region = "us-east";
  f.first = 1;
  f.last = 42;
  f.transfer = 99;
  f.window = 3;
  f.cursor = "Kk";
  wire::Entry e;
  e.key = "big";
  e.type = deltakv::crdt::CrdtType::kSet;
  e.blob = std::string(100, 'x');
  e.total = 1000;
  e.offset = 200;
  e.hash = 0xabcdef;
  f.entries.push_back(e);
  f.applied = {{"eu-west", 0x77, 5}};
  wire::Frame g;
  REQUIRE(wire::Decode(wire::Encode(f), &g).ok());
  REQUIRE(g.entries.size() == 1);
  CHECK(g.entries[0].blob == e.blob);
  CHECK(g.entries[0].total == 1000);
  CHECK(g.entries[0].offset == 200);
  CHECK(g.entries[0].hash == 0xabcdef);
  CHECK(g.entries[0].type == deltakv::crdt::CrdtType::kSet);
  CHECK(g.transfer == 99);
  CHECK(g.window == 3);
  CHECK(g.applied == f.applied);
  // Bytes beyond the declared total, or a fragment outside a snapshot.
  f.entries[0].offset = 950;
  CHECK(wire::Decode(wire::Encode(f), &g).code() == Code::kCorruption);
  f.entries[0].offset = 0;
  f.kind = wire::Kind::kDeltas;
  CHECK(wire::Decode(wire::Encode(f), &g).code() == Code::kCorruption);
}
