// Engine benchmark: the replica's write and read rates against raw LMDB,
// large-set behaviour and restart time. Plain program; prints a Markdown
// table. Reproduce: ./scripts/bench-engine [--quick]
//
// 1. Ops/s for counter increments, set adds and register sets with 1, 8 and
//    64 writer threads, in sync and periodic durability, and reads/s. For
//    each write run, raw LMDB then performs the same number of puts (64-byte
//    values) in transactions of the same average size, with the same sync
//    policy; we report ours / raw.
// 2. Set add into a 1,000,000-member set vs a 100-member set: time per add
//    and bytes written per add (from /proc/self/io write_bytes, sync mode).
// 4. (before 3 in the output) Per-edit time and bytes written for lists of
//    1,000, 100,000 and 1,000,000 values; `--lists` runs this part alone.
// 3. Time from Open to the first served read of a store holding 10 million
//    keys (5 million with --quick... see the printed line).
#include <lmdb.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "replication/replica.h"

using deltakv::replication::Durability;
using deltakv::replication::Op;
using deltakv::replication::OpKind;
using deltakv::replication::Replica;
using deltakv::replication::ReplicaOptions;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::string TempDir(const char* tag) {
  std::string tmpl = std::string("/tmp/deltakv-bench-") + tag + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  return mkdtemp(buf.data());
}

// A counter of /proc/self/io: "write_bytes" (what reached the block layer,
// file system metadata and journal included) or "wchar" (bytes handed to
// write calls: for LMDB, the pages it writes).
uint64_t IoCounter(const char* name) {
  std::ifstream io("/proc/self/io");
  std::string k;
  uint64_t v;
  while (io >> k >> v) {
    if (k == name) return v;
  }
  return 0;
}
uint64_t WriteBytes() { return IoCounter("write_bytes:"); }

std::unique_ptr<Replica> Open(const std::string& path, Durability d) {
  ReplicaOptions o;
  o.path = path;
  o.region = "bench";
  o.durability = d;
  o.sync_interval_ms = 1000;
  o.max_list_length = 0;  // the list rows go past 1,000,000 values
  auto r = Replica::Open(o);
  if (!r.ok()) {
    std::fprintf(stderr, "open: %s\n", r.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

Op MakeOp(OpKind kind, int thread, uint64_t i) {
  Op op;
  op.kind = kind;
  switch (kind) {
    case OpKind::kCounterIncrement:
      op.key = "counter:" + std::to_string(i % 10000);
      op.by = 1;
      break;
    case OpKind::kSetAdd:
      op.key = "set:" + std::to_string(i % 100);
      op.members = {"m" + std::to_string(thread) + ":" + std::to_string(i)};
      break;
    default:
      op.kind = OpKind::kRegisterSet;
      op.key = "register:" + std::to_string(i % 10000);
      op.value = "{\"v\":" + std::to_string(i) + "}";
  }
  return op;
}

// Raw LMDB: `total` puts of 64 bytes in transactions of `per_txn` puts.
double RawLmdb(uint64_t total, double per_txn, bool no_sync) {
  std::string dir = TempDir("raw");
  MDB_env* env;
  mdb_env_create(&env);
  mdb_env_set_mapsize(env, 8ull << 30);
  mdb_env_open(env, dir.c_str(), no_sync ? MDB_NOSYNC : 0, 0644);
  MDB_txn* txn;
  MDB_dbi dbi;
  mdb_txn_begin(env, nullptr, 0, &txn);
  mdb_dbi_open(txn, nullptr, 0, &dbi);
  mdb_txn_commit(txn);
  char value[64];
  std::memset(value, 'v', sizeof value);
  auto t0 = Clock::now();
  uint64_t done = 0;
  double carry = 0;
  while (done < total) {
    carry += per_txn;
    uint64_t n = std::max<uint64_t>(1, static_cast<uint64_t>(carry));
    carry -= static_cast<double>(n);
    n = std::min(n, total - done);
    mdb_txn_begin(env, nullptr, 0, &txn);
    for (uint64_t i = 0; i < n; ++i, ++done) {
      std::string key = "counter:" + std::to_string(done % 10000);
      MDB_val k{key.size(), key.data()}, v{sizeof value, value};
      mdb_put(txn, dbi, &k, &v, 0);
    }
    mdb_txn_commit(txn);
  }
  double secs = Seconds(Clock::now() - t0);
  mdb_env_close(env);
  std::filesystem::remove_all(dir);
  return static_cast<double>(total) / secs;
}

struct WriteRun {
  double ops_per_sec;
  double ops_per_batch;
  uint64_t ops;
};

// `writers` operations in flight at all times, submitted asynchronously
// from one thread (the way the HTTP gateway drives the replica).
WriteRun RunAsyncWrites(OpKind kind, int writers, Durability d,
                        double seconds) {
  std::string dir = TempDir("engine");
  auto r = Open(dir, d);
  std::atomic<uint64_t> done{0};
  uint64_t submitted = 0;
  auto t0 = Clock::now();
  auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(seconds));
  while (Clock::now() < deadline) {
    while (submitted - done.load() >= static_cast<uint64_t>(writers)) {
      std::this_thread::yield();
    }
    r->Submit(MakeOp(kind, 0, submitted++),
              [&done](deltakv::Result<deltakv::replication::OpResult> res) {
                if (!res.ok()) std::abort();
                ++done;
              });
  }
  while (done.load() < submitted) std::this_thread::yield();
  double secs = Seconds(Clock::now() - t0);
  auto st = r->Stats();
  r.reset();
  std::filesystem::remove_all(dir);
  return WriteRun{static_cast<double>(submitted) / secs,
                  static_cast<double>(st.ops) /
                      static_cast<double>(std::max<uint64_t>(st.batches, 1)),
                  submitted};
}

WriteRun RunWrites(OpKind kind, int threads, Durability d, double seconds) {
  std::string dir = TempDir("engine");
  auto r = Open(dir, d);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ops{0};
  std::vector<std::thread> ts;
  auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (uint64_t i = static_cast<uint64_t>(t); !stop; i += 64) {
        if (!r->Apply(MakeOp(kind, t, i)).ok()) std::abort();
        ++ops;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : ts) th.join();
  double secs = Seconds(Clock::now() - t0);
  auto st = r->Stats();
  r.reset();
  std::filesystem::remove_all(dir);
  return WriteRun{static_cast<double>(ops) / secs,
                  static_cast<double>(st.ops) /
                      static_cast<double>(std::max<uint64_t>(st.batches, 1)),
                  ops.load()};
}

double RunReads(int threads, double seconds) {
  std::string dir = TempDir("reads");
  auto r = Open(dir, Durability::kPeriodic);
  for (int i = 0; i < 10000; ++i) {
    r->Submit(MakeOp(OpKind::kCounterIncrement, 0, uint64_t(i)), [](auto) {});
  }
  (void)r->Apply(MakeOp(OpKind::kCounterIncrement, 0, 0));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0};
  std::vector<std::thread> ts;
  auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (uint64_t i = uint64_t(t); !stop; i += 7) {
        if (!r->CounterValue("counter:" + std::to_string(i % 10000)).ok()) {
          std::abort();
        }
        ++reads;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : ts) th.join();
  double secs = Seconds(Clock::now() - t0);
  r.reset();
  std::filesystem::remove_all(dir);
  return static_cast<double>(reads) / secs;
}

// Fills `key` with n members, in operations of 1,000 members.
void FillSet(Replica& r, const std::string& key, int n) {
  for (int i = 0; i < n;) {
    Op op;
    op.kind = OpKind::kSetAdd;
    op.key = key;
    for (int j = 0; j < 1000 && i < n; ++j, ++i) {
      op.members.push_back("member:" + std::to_string(i));
    }
    if (!r.Apply(std::move(op)).ok()) std::abort();
  }
}

// Time per add is measured in periodic mode (fsync latency on this shared
// disk varies more than the work itself); bytes written per add in sync
// mode, where every commit reaches the disk.
void SetScaling(int big, int adds) {
  std::printf(
      "\n### Set add: %d-member set vs 100-member set\n\ntime per add: "
      "periodic durability, one add per operation; bytes: sync durability, "
      "/proc/self/io write_bytes\n\n",
      big);
  std::printf(
      "| set size | µs per add | bytes written per add |\n|---|---|---|\n");
  double per_op[2];
  int sizes[2] = {100, big};
  for (int s = 0; s < 2; ++s) {
    std::string dir = TempDir("set");
    auto add = [&](Replica& r, int i) {
      Op op;
      op.kind = OpKind::kSetAdd;
      op.key = "s";
      op.members = {"new:" + std::to_string(i)};
      if (!r.Apply(std::move(op)).ok()) std::abort();
    };
    auto r = Open(dir, Durability::kPeriodic);
    FillSet(*r, "s", sizes[s]);
    auto t0 = Clock::now();
    for (int i = 0; i < adds; ++i) add(*r, i);
    double secs = Seconds(Clock::now() - t0);
    r.reset();
    r = Open(dir, Durability::kSync);
    const int byte_adds = std::min(adds, 200);
    uint64_t w0 = WriteBytes();
    for (int i = 0; i < byte_adds; ++i) add(*r, adds + i);
    uint64_t w1 = WriteBytes();
    per_op[s] = secs / adds * 1e6;
    std::printf("| %d | %.1f | %.0f |\n", sizes[s], per_op[s],
                static_cast<double>(w1 - w0) / byte_adds);
    r.reset();
    std::filesystem::remove_all(dir);
  }
  std::printf("\nratio (large / small time per add): %.2f (goal <= 2)\n",
              per_op[1] / per_op[0]);
}

// Per-edit cost of a list by its length (issue: at most 2x from 1,000 to
// 1,000,000 values): one-character inserts in the middle and appends, as
// an editor types, time in periodic durability and bytes in sync.
void ListScaling(const std::vector<int>& sizes, int edits, bool text) {
  std::printf(
      "\n### List edit by list length (%s)\n\n"
      "time per edit: periodic durability, one insert of one value per "
      "operation at the middle, %d edits; bytes: sync durability, "
      "/proc/self/io wchar (what LMDB writes) and write_bytes (what reached "
      "the disk, file system included)\n\n| list length | µs per edit | "
      "bytes written per edit (wchar) | write_bytes per edit "
      "|\n|---|---|---|---|\n",
      text ? "text: one code point per value"
           : "short strings: values of 12 bytes",
      edits);
  // A value as typed or pasted.
  auto value = [text](int i) {
    if (text) return std::string(1, static_cast<char>('a' + i % 26));
    char buf[16];
    std::snprintf(buf, sizeof buf, "value-%06d", i % 1000000);
    return std::string(buf);
  };
  std::vector<double> per_op;
  for (int size : sizes) {
    std::string dir = TempDir("list");
    auto r = Open(dir, Durability::kPeriodic);
    // Filled in pastes of 10,000 values (a 100 KB paste each).
    for (int done = 0; done < size;) {
      const int n = std::min(10000, size - done);
      Op op;
      op.kind = OpKind::kListPush;
      op.key = "doc";
      op.members.clear();
      for (int i = 0; i < n; ++i) op.members.push_back(value(done + i));
      if (!r->Apply(std::move(op)).ok()) std::abort();
      done += n;
    }
    auto edit = [&](Replica& rep, int i) {
      Op op;
      op.kind = OpKind::kListInsert;
      op.key = "doc";
      op.index = static_cast<uint64_t>(size / 2 + i);
      op.members = {value(i)};
      if (!rep.Apply(std::move(op)).ok()) std::abort();
    };
    auto t0 = Clock::now();
    for (int i = 0; i < edits; ++i) edit(*r, i);
    const double secs = Seconds(Clock::now() - t0);
    r.reset();
    r = Open(dir, Durability::kSync);
    const int byte_edits = std::min(edits, 20);
    // The first edit decodes the list (a cold cache) and its sync flushes
    // what the periodic run left unsynced: not counted.
    edit(*r, edits + byte_edits);
    const uint64_t w0 = WriteBytes();
    const uint64_t c0 = IoCounter("wchar:");
    for (int i = 0; i < byte_edits; ++i) edit(*r, edits + i);
    const uint64_t c1 = IoCounter("wchar:");
    const uint64_t w1 = WriteBytes();
    per_op.push_back(secs / edits * 1e6);
    std::printf("| %d | %.1f | %.0f | %.0f |\n", size, per_op.back(),
                static_cast<double>(c1 - c0) / byte_edits,
                static_cast<double>(w1 - w0) / byte_edits);
    std::fflush(stdout);
    r.reset();
    std::filesystem::remove_all(dir);
  }
  std::printf("\nratio (longest / shortest time per edit): %.1f (goal <= 2)\n",
              per_op.back() / per_op.front());
}

void Restart(int keys) {
  std::string dir = TempDir("restart");
  {
    auto r = Open(dir, Durability::kPeriodic);
    std::atomic<int> next{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 32; ++t) {
      ts.emplace_back([&] {
        for (int i; (i = next++) < keys;) {
          Op op;
          op.kind = OpKind::kCounterIncrement;
          op.key = "key:" + std::to_string(i);
          op.by = 1;
          if (!r->Apply(std::move(op)).ok()) std::abort();
        }
      });
    }
    for (auto& th : ts) th.join();
  }
  auto t0 = Clock::now();
  auto r = Open(dir, Durability::kSync);
  auto v = r->CounterValue("key:" + std::to_string(keys / 2));
  double secs = Seconds(Clock::now() - t0);
  if (!v.ok() || *v != 1) std::abort();
  auto usage = r->Usage();
  std::printf(
      "\n### Restart\n\nstore with %d keys (%.0f MiB used): open + first read "
      "%.1f ms (goal < 1 s)\n",
      keys, static_cast<double>(usage.used_bytes) / (1 << 20), secs * 1e3);
  r.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  if (argc > 1 && std::string(argv[1]) == "--lists") {
    ListScaling({1000, 100000, 1000000}, 2000, true);
    ListScaling({1000, 100000, 1000000}, 2000, false);
    return 0;
  }
  const double secs = quick ? 0.5 : 2.0;
  std::printf("### Writes (ours vs raw LMDB, same puts, same batching)\n\n");
  std::printf(
      "writers = blocking client threads (`threads`) or operations kept in "
      "flight by one thread through the asynchronous Submit (`async`, the "
      "gateway's way)\n\n");
  std::printf(
      "| op | writers | durability | ops/s | ops per txn | raw LMDB puts/s "
      "| ratio |\n|---|---|---|---|---|---|---|\n");
  const OpKind kinds[] = {OpKind::kCounterIncrement, OpKind::kSetAdd,
                          OpKind::kRegisterSet};
  const char* names[] = {"counter incr", "set add", "register set"};
  for (Durability d : {Durability::kSync, Durability::kPeriodic}) {
    for (int k = 0; k < 3; ++k) {
      for (int threads : {1, 8, 64}) {
        for (bool async : {false, true}) {
          WriteRun w = async ? RunAsyncWrites(kinds[k], threads, d, secs)
                             : RunWrites(kinds[k], threads, d, secs);
          double raw =
              RawLmdb(w.ops, w.ops_per_batch, d == Durability::kPeriodic);
          std::printf("| %s | %d %s | %s | %.0f | %.1f | %.0f | %.2f |\n",
                      names[k], threads, async ? "async" : "threads",
                      d == Durability::kSync ? "sync" : "periodic",
                      w.ops_per_sec, w.ops_per_batch, raw, w.ops_per_sec / raw);
          std::fflush(stdout);
        }
      }
    }
  }
  std::printf("\n### Reads\n\n| threads | counter reads/s |\n|---|---|\n");
  for (int threads : {1, 2, 8}) {
    std::printf("| %d | %.0f |\n", threads, RunReads(threads, secs));
  }
  SetScaling(quick ? 100000 : 1000000, quick ? 2000 : 20000);
  for (bool text : {true, false}) {
    ListScaling(quick ? std::vector<int>{1000, 100000}
                      : std::vector<int>{1000, 100000, 1000000},
                quick ? 200 : 2000, text);
  }
  Restart(quick ? 1000000 : 10000000);
  return 0;
}
