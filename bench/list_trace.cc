// bench/list_trace: replays the automerge-paper editing trace (259,778 edits)
// into a List as local edits, then sends the whole history as one delta to an
// empty replica (the remote merge path). Prints one JSON object; run it
// through scripts/bench-list, which runs Yjs on the same trace beside it.
//
//   build-release/bench/list_trace [TRACE.json.gz] [--runs N]
//
// Time: median of N runs (default 5) of each phase, steady clock, the trace
// already parsed into memory. Memory comes from one more, untimed replay and
// is measured the same way on the Yjs side (bench/yjs/trace.js):
// - peak_heap_bytes: the highest heap in use (malloc'd bytes; V8 heapUsed
//   for Yjs, garbage included) sampled every 1,000 edits, minus before;
// - retained_heap_bytes: heap in use after the replay minus before (Yjs:
//   after a full GC);
// - local_peak_rss_kb: VmHWM after the replay minus VmRSS before it, the
//   high-water mark reset through /proc/self/clear_refs (the memory freed by
//   the trace parser is returned first with malloc_trim; V8 keeps its freed
//   heap, which makes this figure near zero for Yjs: see docs/list.md).
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "bench/list_trace_loader.h"
#include "crdt/list.h"
#include "crdt/list_codec.h"

namespace crdt = deltakv::crdt;
namespace bench = deltakv::bench;

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// A field of /proc/self/status in KiB ("VmRSS", "VmHWM").
long StatusKb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
    }
  }
  return -1;
}

void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

size_t HeapInUse() { return mallinfo2().uordblks; }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "list_trace: %s\n", what.c_str());
  std::exit(1);
}

// Replays the trace as local edits. With `peak_heap`, samples the heap in
// use every 1,000 edits and keeps the highest figure.
crdt::List Replay(const bench::Trace& trace, size_t* peak_heap = nullptr) {
  const deltakv::ReplicaId me(1);
  crdt::List list;
  size_t n = 0;
  for (const bench::TracePatch& p : trace.patches) {
    if (p.del > 0 && !list.Delete(p.pos, p.del).ok()) Fail("delete failed");
    if (!p.text.empty() && !list.InsertText(me, p.pos, p.text).ok()) {
      Fail("insert failed");
    }
    if (peak_heap != nullptr && ++n % 1000 == 0) {
      *peak_heap = std::max(*peak_heap, HeapInUse());
    }
  }
  return list;
}

// The floor no CRDT can beat: the same patches on a plain gap buffer of
// code points (no ids, no history), the UTF-8 of each insert decoded as
// InsertText does.
class GapBuffer {
 public:
  void Insert(size_t pos, const std::string& utf8) {
    const std::u32string cps = bench::DecodeUtf8(utf8);
    MoveGap(pos);
    if (gap_end_ - gap_start_ < cps.size()) Grow(cps.size());
    std::copy(cps.begin(), cps.end(), buf_.begin() + gap_start_);
    gap_start_ += cps.size();
  }
  void Delete(size_t pos, size_t n) {
    MoveGap(pos);
    gap_end_ += n;
  }
  std::string Text() const {
    std::u32string s(buf_.begin(), buf_.begin() + gap_start_);
    s.append(buf_.begin() + gap_end_, buf_.end());
    return bench::EncodeUtf8(s);
  }

 private:
  void MoveGap(size_t pos) {
    if (pos < gap_start_) {
      const size_t n = gap_start_ - pos;
      std::move_backward(buf_.begin() + pos, buf_.begin() + gap_start_,
                         buf_.begin() + gap_end_);
      gap_start_ -= n;
      gap_end_ -= n;
    } else if (pos > gap_start_) {
      const size_t n = pos - gap_start_;
      std::move(buf_.begin() + gap_end_, buf_.begin() + gap_end_ + n,
                buf_.begin() + gap_start_);
      gap_start_ += n;
      gap_end_ += n;
    }
  }
  void Grow(size_t need) {
    const size_t tail = buf_.size() - gap_end_;
    const size_t size = std::max(buf_.size() * 2, buf_.size() + need + 64);
    std::vector<char32_t> next(size);
    std::copy(buf_.begin(), buf_.begin() + gap_start_, next.begin());
    std::copy(buf_.end() - tail, buf_.end(), next.end() - tail);
    buf_.swap(next);
    gap_end_ = size - tail;
  }

  std::vector<char32_t> buf_;
  size_t gap_start_ = 0, gap_end_ = 0;
};

double GapBufferMs(const bench::Trace& trace, int runs) {
  std::vector<double> ms;
  for (int r = 0; r < runs; ++r) {
    GapBuffer g;
    const auto t0 = Clock::now();
    for (const bench::TracePatch& p : trace.patches) {
      if (p.del > 0) g.Delete(p.pos, p.del);
      if (!p.text.empty()) g.Insert(p.pos, p.text);
    }
    ms.push_back(Ms(t0, Clock::now()));
    if (g.Text() != trace.end_content) Fail("gap buffer text != endContent");
  }
  return Median(ms);
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = bench::DefaultTracePath(DELTAKV_SOURCE_DIR);
  int runs = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else {
      path = arg;
    }
  }
  bench::Trace trace;
  const deltakv::Status loaded = bench::LoadTrace(path, &trace);
  if (!loaded.ok()) Fail(loaded.ToString());
  // Give the JSON parser's freed memory back to the system, so that the
  // replay's peak shows in the resident set instead of reusing it.
  malloc_trim(0);

  // Memory run (untimed): peak resident set growth, peak heap in use during
  // the replay (sampled every 1,000 edits) and heap retained after it.
  long peak_rss_kb = 0;
  size_t peak_heap = 0;
  size_t retained = 0;
  {
    ResetPeakRss();
    const long rss0 = StatusKb("VmRSS");
    const size_t heap0 = HeapInUse();
    peak_heap = heap0;
    crdt::List measured = Replay(trace, &peak_heap);
    peak_rss_kb = StatusKb("VmHWM") - rss0;
    retained = HeapInUse() - heap0;
    peak_heap -= heap0;
  }
  // Timed runs.
  std::vector<double> local_ms;
  crdt::List list;
  for (int r = 0; r < runs; ++r) {
    list = crdt::List();
    const auto t0 = Clock::now();
    list = Replay(trace);
    local_ms.push_back(Ms(t0, Clock::now()));
  }
  if (list.Text() != trace.end_content) Fail("local text != endContent");

  // The whole history as one delta.
  std::vector<double> encode_ms;
  std::string bytes;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = Clock::now();
    bytes = crdt::Encode(list);
    encode_ms.push_back(Ms(t0, Clock::now()));
  }

  // Remote merge: decode and join into an empty replica.
  std::vector<double> remote_ms;
  long remote_peak_kb = 0;
  for (int r = 0; r < runs; ++r) {
    ResetPeakRss();
    const long rss0 = StatusKb("VmRSS");
    const auto t0 = Clock::now();
    crdt::List delta;
    if (!crdt::Decode(bytes, &delta).ok()) Fail("decode failed");
    crdt::List replica;
    replica.Join(std::move(delta));
    const auto t1 = Clock::now();
    remote_ms.push_back(Ms(t0, t1));
    if (r == 0) remote_peak_kb = StatusKb("VmHWM") - rss0;
    if (replica.Text() != trace.end_content) Fail("remote text differs");
  }

  // The same delta into a replica that already holds an unrelated edit, so
  // every run goes through the FugueMax integration (no adoption shortcut).
  std::vector<double> integrate_ms;
  for (int r = 0; r < runs; ++r) {
    crdt::List replica;
    if (!replica.InsertText(deltakv::ReplicaId(2), 0, "#").ok()) Fail("#");
    const auto t0 = Clock::now();
    crdt::List delta;
    if (!crdt::Decode(bytes, &delta).ok()) Fail("decode failed");
    replica.Join(delta);
    const auto t1 = Clock::now();
    integrate_ms.push_back(Ms(t0, t1));
    if (replica.size() != trace.end_content.size() + 1) Fail("integrate");
  }

  std::printf(
      "{\"impl\":\"deltakv\",\"edits\":%zu,\"runs\":%d,"
      "\"local_ms\":%.2f,\"encode_ms\":%.2f,\"remote_ms\":%.2f,"
      "\"remote_integrate_ms\":%.2f,\"encoded_bytes\":%zu,"
      "\"local_peak_rss_kb\":%ld,\"remote_peak_rss_kb\":%ld,"
      "\"peak_heap_bytes\":%zu,\"retained_heap_bytes\":%zu,\"doc_runs\":%zu,"
      "\"doc_elements\":%llu,\"gap_buffer_ms\":%.2f}\n",
      trace.patches.size(), runs, Median(local_ms), Median(encode_ms),
      Median(remote_ms), Median(integrate_ms), bytes.size(), peak_rss_kb,
      remote_peak_kb, peak_heap, retained, list.run_count(),
      static_cast<unsigned long long>(list.total_elements()),
      GapBufferMs(trace, runs));
  return 0;
}
