// Replication frames: round trips, compression, and hostile bytes.
#include <rapidcheck/catch.h>
#include <catch2/catch.hpp>

#include "replication/wire.h"

namespace wire = deltakv::replication::wire;
using deltakv::Code;

namespace {
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
  std::string bomb("\xD7\x01\x01\x01\xff\xff\xff\xff", 8);
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
