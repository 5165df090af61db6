// Replays a prefix of the automerge-paper editing trace into a List and
// into a plain code-point string; the texts must match at every checkpoint.
// The full trace is replayed by bench/list_trace.
#include <catch2/catch.hpp>

#include <string>

#include "bench/list_trace_loader.h"
#include "crdt/list.h"
#include "crdt/list_codec.h"

namespace crdt = deltakv::crdt;
namespace bench = deltakv::bench;

namespace {

const bench::Trace& LoadedTrace() {
  static const bench::Trace trace = [] {
    bench::Trace t;
    const deltakv::Status s =
        bench::LoadTrace(bench::DefaultTracePath(DELTAKV_SOURCE_DIR), &t);
    if (!s.ok()) FAIL("cannot load the trace: " << s.ToString());
    return t;
  }();
  return trace;
}

}  // namespace

TEST_CASE("Replaying the first 20000 trace edits gives the reference text") {
  const bench::Trace& trace = LoadedTrace();
  REQUIRE(trace.patches.size() == 259778);
  const deltakv::ReplicaId me(7);
  crdt::List list;
  std::u32string model;
  constexpr size_t kEdits = 20000;
  for (size_t i = 0; i < kEdits; ++i) {
    const bench::TracePatch& p = trace.patches[i];
    if (p.del > 0) {
      REQUIRE(list.Delete(p.pos, p.del).ok());
      model.erase(p.pos, p.del);
    }
    if (!p.text.empty()) {
      REQUIRE(list.InsertText(me, p.pos, p.text).ok());
      model.insert(p.pos, bench::DecodeUtf8(p.text));
    }
    if (i % 1000 == 999) {
      REQUIRE(list.size() == model.size());
      REQUIRE(list.Text() == bench::EncodeUtf8(model));
    }
  }
  CHECK(list.Text() == bench::EncodeUtf8(model));
  CHECK(list.run_count() < kEdits / 2);  // ids are allocated in runs

  // The whole history as one delta: into an empty replica, and into one
  // that must integrate it run by run.
  const std::string bytes = crdt::Encode(list);
  crdt::List decoded;
  REQUIRE(crdt::Decode(bytes, &decoded).ok());
  crdt::List empty;
  empty.Join(decoded);
  CHECK(empty.Text() == list.Text());
  crdt::List other;
  REQUIRE(other.InsertText(deltakv::ReplicaId(9), 0, "#").ok());
  other.Join(decoded);
  CHECK_FALSE(other.has_pending());
  CHECK(other.size() == list.size() + 1);
  std::string text = other.Text();
  const size_t hash = text.find('#');
  REQUIRE(hash != std::string::npos);
  text.erase(hash, 1);
  CHECK(text == list.Text());
}

TEST_CASE("The full trace ends with its endContent") {
  const bench::Trace& trace = LoadedTrace();
  crdt::List list;
  for (const bench::TracePatch& p : trace.patches) {
    if (p.del > 0) REQUIRE(list.Delete(p.pos, p.del).ok());
    if (!p.text.empty()) {
      REQUIRE(list.InsertText(deltakv::ReplicaId(7), p.pos, p.text).ok());
    }
  }
  CHECK(list.Text() == trace.end_content);
  CHECK(list.size() == 104852);
}
