// Loads the automerge-paper editing trace (../shared/traces/, see its
// README) for bench/list_trace and the trace replay test.
//
// Thread-safety: free functions without shared state.
#ifndef DELTAKV_BENCH_LIST_TRACE_LOADER_H_
#define DELTAKV_BENCH_LIST_TRACE_LOADER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "deltakv/status.h"

namespace deltakv::bench {

// One patch: like JavaScript Array.splice at `pos` (in code points), delete
// `del` code points, then insert `text` (UTF-8).
struct TracePatch {
  uint64_t pos = 0;
  uint64_t del = 0;
  std::string text;
};

struct Trace {
  std::vector<TracePatch> patches;  // every transaction's patches, in order
  std::string end_content;          // UTF-8
};

// Reads a gzip-compressed trace JSON file. Errors: IOError when the file
// cannot be read, Corruption when it is not a trace.
Status LoadTrace(const std::string& path, Trace* out);

// ../shared/traces/automerge-paper.json.gz beside `source_dir`.
std::string DefaultTracePath(const std::string& source_dir);

// Decodes UTF-8 into code points (invalid bytes become U+FFFD).
std::u32string DecodeUtf8(const std::string& s);
std::string EncodeUtf8(const std::u32string& s);

}  // namespace deltakv::bench

#endif  // DELTAKV_BENCH_LIST_TRACE_LOADER_H_
