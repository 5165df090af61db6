#include <rapidcheck/catch.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "core/hlc.h"

using deltakv::HlcTimestamp;
using deltakv::HybridClock;

TEST_CASE("timestamps order by wall time, then logical counter") {
  auto a = HlcTimestamp::FromParts(1000, 5);
  auto b = HlcTimestamp::FromParts(1001, 0);
  CHECK(a < b);
  CHECK(a.wall_ms() == 1000);
  CHECK(a.logical() == 5);
  CHECK(HlcTimestamp::FromParts(1000, 6) > a);
}

TEST_CASE("the clock follows the wall clock when it moves forward") {
  uint64_t wall = 5000;
  HybridClock clock([&] { return wall; });
  auto t1 = clock.Now();
  CHECK(t1 == HlcTimestamp::FromParts(5000, 0));
  wall = 6000;
  CHECK(clock.Now() == HlcTimestamp::FromParts(6000, 0));
}

TEST_CASE("the clock stays monotonic when the wall clock jumps back") {
  rc::prop("every Now() is larger than the previous one", [] {
    auto steps = *rc::gen::container<std::vector<int>>(
        rc::gen::inRange(-100000, 100000));
    uint64_t wall = 1'700'000'000'000ULL;
    HybridClock clock([&] { return wall; });
    HlcTimestamp prev = clock.Now();
    for (int step : steps) {
      wall = static_cast<uint64_t>(static_cast<int64_t>(wall) + step);
      HlcTimestamp next = clock.Now();
      RC_ASSERT(next > prev);
      prev = next;
    }
  });
}

TEST_CASE("the logical counter carries into milliseconds on overflow") {
  HybridClock clock([] { return uint64_t{10}; });
  HlcTimestamp prev = clock.Now();
  for (int i = 0; i < 70000; ++i) {
    HlcTimestamp next = clock.Now();
    REQUIRE(next > prev);
    prev = next;
  }
  CHECK(prev.wall_ms() == 11);
}

TEST_CASE("Update makes later local timestamps exceed the remote one") {
  uint64_t wall = 1000;
  HybridClock clock([&] { return wall; });
  auto remote = HlcTimestamp::FromParts(5000, 7);
  REQUIRE(clock.Update(remote).ok());
  CHECK(clock.Now() > remote);
  // A remote timestamp in the past changes nothing and is not an error.
  REQUIRE(clock.Update(HlcTimestamp::FromParts(1, 0)).ok());
  CHECK(clock.Now() > remote);
}

TEST_CASE("Update refuses a remote timestamp far beyond the drift bound") {
  uint64_t wall = 1000;
  HybridClock clock([&] { return wall; }, /*max_forward_drift_ms=*/500);
  auto far = HlcTimestamp::FromParts(10'000, 0);
  auto s = clock.Update(far);
  CHECK(s.code() == deltakv::Code::kInvalidArgument);
  CHECK(clock.Now() < far);
}

TEST_CASE("Restore never moves the clock back") {
  HybridClock clock([] { return uint64_t{100}; });
  clock.Restore(HlcTimestamp::FromParts(900, 3));
  CHECK(clock.Now() > HlcTimestamp::FromParts(900, 3));
  clock.Restore(HlcTimestamp::FromParts(1, 0));
  CHECK(clock.Last() > HlcTimestamp::FromParts(900, 3));
}

TEST_CASE("concurrent Now() calls never return the same timestamp") {
  HybridClock clock;
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::vector<uint64_t>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) seen[t].push_back(clock.Now().packed());
    });
  }
  for (auto& th : threads) th.join();
  std::vector<uint64_t> all;
  for (auto& v : seen) {
    for (size_t i = 1; i < v.size(); ++i) REQUIRE(v[i] > v[i - 1]);
    all.insert(all.end(), v.begin(), v.end());
  }
  std::sort(all.begin(), all.end());
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
}

TEST_CASE("timestamps print as RFC 3339 with the logical part") {
  CHECK(HlcTimestamp::FromParts(1'700'000'000'123ULL, 4).ToString() ==
        "2023-11-14T22:13:20.123Z+4");
}
