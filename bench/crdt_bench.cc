// CRDT micro-benchmarks: delta creation, join of a delta into a state, and
// encode/decode, for every type at 10, 10,000 and 1,000,000 elements.
//
// "Elements" per type: counter = replica entries; set = members; LWW
// register = value bytes; MV register = concurrent values (10 and 10,000
// only: a write covers every value it replaces, so a million concurrent
// values is not a workload anyone has).
//
// Reproduce: ./scripts/bench-crdt   (Release build; prints the set join
// ratio 1,000,000 vs 10 members at the end)
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "crdt/codec.h"

namespace crdt = deltakv::crdt;
using deltakv::HlcTimestamp;
using deltakv::ReplicaId;

namespace {

const ReplicaId kLocal(1), kRemote(2);

std::string Member(int64_t i) { return "member:" + std::to_string(i); }

crdt::AWORSet MakeSet(int64_t n) {
  crdt::AWORSet s;
  for (int64_t i = 0; i < n; ++i)
    s.Add(ReplicaId(uint64_t(i % 3) + 10), Member(i));
  return s;
}

crdt::PNCounter MakeCounter(int64_t n) {
  crdt::PNCounter c;
  for (int64_t i = 0; i < n; ++i) {
    (void)c.Increment(ReplicaId(uint64_t(i) + 10), 1);
  }
  return c;
}

crdt::MVRegister MakeMv(int64_t n) {
  crdt::MVRegister all;
  for (int64_t i = 0; i < n; ++i) {
    crdt::MVRegister one;
    all.Join(one.Write(ReplicaId(uint64_t(i) + 10), "v" + std::to_string(i)));
  }
  return all;
}

// ------------------------------------------------------------ delta creation

void BM_SetAddRemoveDelta(benchmark::State& state) {
  crdt::AWORSet s = MakeSet(state.range(0));
  int64_t i = 0;
  for (auto _ : state) {
    std::string m = "new:" + std::to_string(i++);
    benchmark::DoNotOptimize(s.Add(kLocal, m));
    benchmark::DoNotOptimize(s.Remove(m));
  }
  state.SetLabel("add+remove pair");
}

void BM_CounterIncrementDelta(benchmark::State& state) {
  crdt::PNCounter c = MakeCounter(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(c.Increment(kLocal, 1));
}

void BM_LwwSetDelta(benchmark::State& state) {
  crdt::LWWRegister r;
  const std::string value(static_cast<size_t>(state.range(0)), 'v');
  uint64_t ts = 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(r.Set(HlcTimestamp(ts++), kLocal, value));
  }
}

void BM_MvWriteDelta(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    crdt::MVRegister r = MakeMv(state.range(0));
    state.ResumeTiming();
    benchmark::DoNotOptimize(r.Write(kLocal, "x"));
  }
}

// ------------------------------------------------- join a delta into a state

// Joins a remote add delta and then its remove delta (the state keeps its
// size); reports time per join.
void BM_SetJoinDelta(benchmark::State& state) {
  crdt::AWORSet s = MakeSet(state.range(0));
  constexpr int kPairs = 1 << 14;
  std::vector<crdt::AWORSet> deltas;
  crdt::AWORSet remote;  // keeps the dots of kRemote increasing
  int64_t next = 0;
  auto refill = [&] {
    deltas.clear();
    for (int i = 0; i < kPairs; ++i) {
      std::string m = "remote:" + std::to_string(next++);
      deltas.push_back(remote.Add(kRemote, m));
      deltas.push_back(remote.Remove(m));
    }
  };
  refill();
  size_t k = 0;
  for (auto _ : state) {
    if (k == deltas.size()) {
      state.PauseTiming();
      refill();
      k = 0;
      state.ResumeTiming();
    }
    s.Join(deltas[k++]);
  }
  benchmark::DoNotOptimize(s.size());
  state.SetLabel("one-member delta");
}

void BM_CounterJoinDelta(benchmark::State& state) {
  crdt::PNCounter c = MakeCounter(state.range(0));
  crdt::PNCounter remote;
  std::vector<crdt::PNCounter> deltas;
  for (int i = 0; i < 1 << 16; ++i)
    deltas.push_back(*remote.Increment(kRemote, 1));
  size_t k = 0;
  for (auto _ : state) {
    c.Join(deltas[k]);
    k = (k + 1) & ((1 << 16) - 1);
  }
}

void BM_LwwJoinDelta(benchmark::State& state) {
  crdt::LWWRegister r;
  const std::string value(static_cast<size_t>(state.range(0)), 'v');
  std::vector<crdt::LWWRegister> deltas;
  for (uint64_t i = 1; i <= 64; ++i)
    deltas.emplace_back(HlcTimestamp(i), kRemote, value);
  uint64_t ts = 64;
  size_t k = 0;
  for (auto _ : state) {
    r.Join(deltas[k]);
    if (++k == deltas.size()) {
      state.PauseTiming();
      for (auto& d : deltas)
        d = crdt::LWWRegister(HlcTimestamp(++ts), kRemote, value);
      k = 0;
      state.ResumeTiming();
    }
  }
}

void BM_MvJoinDelta(benchmark::State& state) {
  crdt::MVRegister r = MakeMv(state.range(0));
  uint64_t id = 1 << 30;
  for (auto _ : state) {
    state.PauseTiming();
    crdt::MVRegister other;
    crdt::MVRegister d = other.Write(ReplicaId(id++), "concurrent");
    state.ResumeTiming();
    r.Join(d);
  }
}

// ------------------------------------------------------------- encode/decode

template <typename T, T (*Make)(int64_t)>
void BM_Encode(benchmark::State& state) {
  T s = Make(state.range(0));
  size_t bytes = 0;
  for (auto _ : state) {
    std::string b = crdt::Encode(s);
    bytes = b.size();
    benchmark::DoNotOptimize(b);
  }
  state.SetBytesProcessed(int64_t(bytes) * state.iterations());
  state.counters["bytes"] = double(bytes);
}

template <typename T, T (*Make)(int64_t)>
void BM_Decode(benchmark::State& state) {
  const std::string b = crdt::Encode(Make(state.range(0)));
  for (auto _ : state) {
    T out;
    if (!crdt::Decode(b, &out).ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(int64_t(b.size()) * state.iterations());
}

crdt::LWWRegister MakeLww(int64_t n) {
  return crdt::LWWRegister(HlcTimestamp(1), kLocal,
                           std::string(static_cast<size_t>(n), 'v'));
}

#define SIZES Arg(10)->Arg(10000)->Arg(1000000)
BENCHMARK(BM_CounterIncrementDelta)->SIZES;
BENCHMARK(BM_CounterJoinDelta)->SIZES;
BENCHMARK_TEMPLATE(BM_Encode, crdt::PNCounter, MakeCounter)->SIZES;
BENCHMARK_TEMPLATE(BM_Decode, crdt::PNCounter, MakeCounter)->SIZES;
BENCHMARK(BM_LwwSetDelta)->SIZES;
BENCHMARK(BM_LwwJoinDelta)->SIZES;
BENCHMARK_TEMPLATE(BM_Encode, crdt::LWWRegister, MakeLww)->SIZES;
BENCHMARK_TEMPLATE(BM_Decode, crdt::LWWRegister, MakeLww)->SIZES;
BENCHMARK(BM_MvWriteDelta)->Arg(10)->Arg(10000);
BENCHMARK(BM_MvJoinDelta)->Arg(10)->Arg(10000);
BENCHMARK_TEMPLATE(BM_Encode, crdt::MVRegister, MakeMv)->Arg(10)->Arg(10000);
BENCHMARK_TEMPLATE(BM_Decode, crdt::MVRegister, MakeMv)->Arg(10)->Arg(10000);
BENCHMARK(BM_SetAddRemoveDelta)->SIZES;
BENCHMARK(BM_SetJoinDelta)->SIZES;
BENCHMARK_TEMPLATE(BM_Encode, crdt::AWORSet, MakeSet)->SIZES;
BENCHMARK_TEMPLATE(BM_Decode, crdt::AWORSet, MakeSet)->SIZES;

// Console output plus the set join ratio (goal: at most 3).
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type == Run::RT_Iteration && !r.error_occurred) {
        times_[r.benchmark_name()] = r.GetAdjustedRealTime();
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    auto small = times_.find("BM_SetJoinDelta/10");
    auto big = times_.find("BM_SetJoinDelta/1000000");
    if (small != times_.end() && big != times_.end() && small->second > 0) {
      std::printf(
          "\nset join of a one-member delta: 1,000,000 members %.1f ns, 10 "
          "members %.1f ns, ratio %.2f (goal <= 3)\n",
          big->second, small->second, big->second / small->second);
    }
  }

 private:
  std::map<std::string, double> times_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
