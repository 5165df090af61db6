// Waiters: parked conditions indexed by level, deadlines, cancellation and
// the parking cap.
#include "cluster/waiters.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

using deltakv::cluster::Waiters;
using Outcome = Waiters::Outcome;
using namespace std::chrono_literals;

namespace {

// Levels the test sets; Waiters reads them under its lock.
struct FakeLevels {
  std::mutex mu;
  Waiters::Levels levels;
  std::atomic<int> reads{0};
  Waiters::Levels Read() {
    ++reads;
    std::lock_guard<std::mutex> l(mu);
    return levels;
  }
  void Set(const std::string& name, uint64_t v) {
    std::lock_guard<std::mutex> l(mu);
    levels[name] = v;
  }
};

// A condition wanting each (name, value) in turn, counting its calls.
Waiters::Check Wants(std::vector<Waiters::Level> wanted,
                     std::atomic<int>* calls) {
  return [wanted = std::move(wanted), calls](
             const Waiters::Levels& levels) -> std::optional<Waiters::Level> {
    ++*calls;
    for (const auto& w : wanted) {
      auto it = levels.find(w.name);
      if (it == levels.end() || it->second < w.at) return w;
    }
    return std::nullopt;
  };
}

}  // namespace

TEST_CASE("a commit re-checks only the waiters whose level it reached") {
  // Before: every Notify re-checked every parked waiter, each with its own
  // read, so 2,000 reads parked on an unreachable token slowed every write.
  FakeLevels f;
  Waiters w([&] { return f.Read(); }, 10000);
  std::atomic<int> calls{0};
  std::atomic<int> ready{0};
  for (int i = 0; i < 2000; ++i) {
    REQUIRE(w.Wait(Wants({{"o/far", 1000000}}, &calls), 60s,
                   [&](Outcome o) { ready += o == Outcome::kReady; }) != 0);
  }
  REQUIRE(w.Wait(Wants({{"o/near", 5}}, &calls), 60s,
                 [&](Outcome o) { ready += o == Outcome::kReady; }) != 0);
  REQUIRE(w.parked() == 2001);
  calls = 0;
  const int reads_before = f.reads;
  for (uint64_t v = 1; v <= 10; ++v) {
    f.Set("o/near", v);
    f.Set("o/far", v);
    w.Notify();
  }
  CHECK(ready == 1);  // the near one, once its level reached 5
  CHECK(calls == 1);  // and no other condition was evaluated
  CHECK(f.reads - reads_before == 10);  // one read of the levels per commit
  CHECK(w.parked() == 2000);
}

TEST_CASE("a condition on several levels waits for each in turn") {
  FakeLevels f;
  Waiters w([&] { return f.Read(); });
  std::atomic<int> calls{0};
  std::atomic<int> outcome{-1};
  REQUIRE(w.Wait(Wants({{"o/a", 3}, {"o/b", 7}}, &calls), 60s,
                 [&](Outcome o) { outcome = static_cast<int>(o); }) != 0);
  f.Set("o/b", 7);  // not the level it waits on yet: no wake-up
  w.Notify();
  CHECK(outcome == -1);
  f.Set("o/a", 3);
  w.Notify();
  CHECK(outcome == static_cast<int>(Outcome::kReady));
  CHECK(w.parked() == 0);
}

TEST_CASE("a condition that holds already runs at once and parks nothing") {
  FakeLevels f;
  f.Set("o/a", 10);
  Waiters w([&] { return f.Read(); }, 0);  // no room to park at all
  std::atomic<int> calls{0};
  bool ran = false;
  CHECK(w.Wait(Wants({{"o/a", 10}}, &calls), 1s,
               [&](Outcome o) { ran = o == Outcome::kReady; }) != 0);
  CHECK(ran);
  CHECK(w.parked() == 0);
}

TEST_CASE("waiters beyond the cap are refused without a callback") {
  FakeLevels f;
  Waiters w([&] { return f.Read(); }, 2);
  std::atomic<int> calls{0};
  std::atomic<int> done{0};
  auto count = [&](Outcome) { ++done; };
  CHECK(w.Wait(Wants({{"o/a", 1}}, &calls), 60s, count) != 0);
  CHECK(w.Wait(Wants({{"o/a", 1}}, &calls), 60s, count) != 0);
  CHECK(w.Wait(Wants({{"o/a", 1}}, &calls), 60s, count) == 0);
  CHECK(done == 0);
  f.Set("o/a", 1);
  w.Notify();
  CHECK(done == 2);
}

TEST_CASE("a parked waiter times out, or is cancelled, exactly once") {
  FakeLevels f;
  Waiters w([&] { return f.Read(); });
  std::atomic<int> calls{0};
  std::atomic<int> timeouts{0}, cancelled{0}, other{0};
  auto tally = [&](Outcome o) {
    if (o == Outcome::kTimeout) {
      ++timeouts;
    } else if (o == Outcome::kCancelled) {
      ++cancelled;
    } else {
      ++other;
    }
  };
  w.Wait(Wants({{"o/a", 1}}, &calls), 20ms, tally);
  const uint64_t id = w.Wait(Wants({{"o/a", 1}}, &calls), 60s, tally);
  REQUIRE(id != 0);
  w.Cancel(id);
  w.Cancel(id);  // a second cancel finds nothing
  CHECK(cancelled == 1);
  for (int i = 0; i < 500 && timeouts == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(timeouts == 1);
  f.Set("o/a", 1);
  w.Notify();
  CHECK(other == 0);
  CHECK(w.parked() == 0);
}

TEST_CASE("waiters still parked at destruction are cancelled") {
  FakeLevels f;
  std::atomic<int> cancelled{0};
  {
    Waiters w([&] { return f.Read(); });
    std::atomic<int> calls{0};
    for (int i = 0; i < 3; ++i) {
      w.Wait(Wants({{"o/a", 1}}, &calls), 60s,
             [&](Outcome o) { cancelled += o == Outcome::kCancelled; });
    }
  }
  CHECK(cancelled == 3);
}

TEST_CASE("no wake-up is missed while waiters park and levels rise") {
  FakeLevels f;
  Waiters w([&] { return f.Read(); }, 100000);
  std::atomic<int> calls{0};
  std::atomic<int> ready{0}, late{0};
  constexpr int kWaiters = 2000;
  std::thread raiser([&] {
    for (uint64_t v = 1; v <= kWaiters; ++v) {
      f.Set("o/a", v);
      w.Notify();
    }
  });
  for (int i = 1; i <= kWaiters; ++i) {
    w.Wait(Wants({{"o/a", static_cast<uint64_t>(i)}}, &calls), 30s,
           [&](Outcome o) {
             if (o == Outcome::kReady) {
               ++ready;
             } else {
               ++late;
             }
           });
  }
  raiser.join();
  // Every level was reached and a Notify followed it: all are ready.
  CHECK(ready == kWaiters);
  CHECK(late == 0);
  CHECK(w.parked() == 0);
}
