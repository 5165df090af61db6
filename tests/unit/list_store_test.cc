// The chunked list layout: chunk tracking in the CRDT (every chunk an edit
// changes is reported, no other), cutting and merging chunks, and the
// replica's records (an edit of a long list rewrites only the records
// around it, page reads, reopen, migration of a format 2 store).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "bench/list_trace_loader.h"
#include "crdt/list.h"
#include "crdt/list_codec.h"
#include "replication/list_store.h"
#include "replication/records.h"
#include "replication/replica.h"
#include "storage/environment.h"
#include "storage/keys.h"

using deltakv::Code;
using deltakv::ReplicaId;
using deltakv::crdt::List;
using deltakv::replication::Op;
using deltakv::replication::OpKind;
using deltakv::replication::Replica;
using deltakv::replication::ReplicaOptions;
using deltakv::storage::Table;
namespace crdt = deltakv::crdt;
namespace replication = deltakv::replication;
namespace storage = deltakv::storage;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/deltakv-list-store-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::string Value(std::mt19937_64& rng) {
  if (rng() % 2 == 0)
    return std::string(1, static_cast<char>('a' + rng() % 26));
  return "value-" + std::to_string(rng() % 100000);
}

// Encodes every chunk of `list`.
std::vector<std::string> AllChunks(const List& list) {
  std::vector<std::string> out;
  for (uint64_t k = 0; k < list.chunk_count(); ++k) {
    crdt::ListChunkInfo info;
    out.push_back(crdt::EncodeChunk(list, k, &info));
  }
  return out;
}

std::unique_ptr<Replica> Open(const std::string& path) {
  ReplicaOptions o;
  o.path = path;
  o.region = "us-east";
  o.durability = replication::Durability::kPeriodic;
  o.max_list_length = 0;
  auto r = Replica::Open(o);
  REQUIRE(r.ok());
  return std::move(r).value();
}

Op ListOp(OpKind kind, std::vector<std::string> values, uint64_t index = 0,
          uint64_t count = 0) {
  Op op;
  op.kind = kind;
  op.key = "doc";
  op.members = std::move(values);
  op.index = index;
  op.count = count;
  return op;
}

std::unique_ptr<storage::Environment> OpenEnv(const std::string& path) {
  storage::EnvOptions o;
  o.path = path;
  auto env = storage::Environment::Open(o);
  REQUIRE(env.ok());
  return std::move(env).value();
}

// Every record of table kRecords.
std::map<std::string, std::string> Records(const std::string& path) {
  auto env = OpenEnv(path);
  auto txn = env->BeginRead();
  REQUIRE(txn.ok());
  auto cur = txn->OpenCursor(Table::kRecords);
  REQUIRE(cur.ok());
  std::map<std::string, std::string> out;
  for (bool ok = cur->Seek(""); ok; ok = cur->Next()) {
    out.emplace(std::string(cur->key()), std::string(cur->value()));
  }
  return out;
}

}  // namespace

TEST_CASE("an edit reports every chunk it changes and no encoding is stale") {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    std::mt19937_64 rng(seed);
    List a, b;  // a is stored in chunks; b is another region
    a.TrackChunks(true);
    std::vector<std::string> stored;
    std::vector<List> in_flight;  // b's deltas, delivered out of order
    for (int step = 0; step < 600; ++step) {
      const int what = static_cast<int>(rng() % 10);
      if (what < 4) {
        std::vector<std::string> values(1 + rng() % 4);
        for (std::string& v : values) v = Value(rng);
        REQUIRE(a.Insert(ReplicaId(1), rng() % (a.size() + 1), values).ok());
      } else if (what < 6 && a.size() > 0) {
        const uint64_t at = rng() % a.size();
        REQUIRE(a.Delete(at, 1 + rng() % std::min<uint64_t>(3, a.size() - at))
                    .ok());
      } else if (what < 8) {
        auto d = rng() % 3 == 0 && b.size() > 0
                     ? b.Delete(rng() % b.size(), 1)
                     : b.Insert(ReplicaId(2), rng() % (b.size() + 1),
                                {Value(rng), Value(rng)});
        REQUIRE(d.ok());
        in_flight.push_back(std::move(d).value());
        if (rng() % 4 == 0) b.Join(a);
      } else if (!in_flight.empty()) {
        // Out of order: some runs and deletes are held until their turn.
        const size_t i = rng() % in_flight.size();
        a.Join(in_flight[i]);
        in_flight.erase(in_flight.begin() + static_cast<ptrdiff_t>(i));
      }
      if (rng() % 25 == 0 && a.chunk_count() > 0) {
        const uint64_t k = rng() % a.chunk_count();
        if (rng() % 2 == 0) {
          a.SplitChunk(k, 16 + rng() % 64);
        } else if (k + 1 < a.chunk_count()) {
          a.MergeChunks(k);
        }
        bool all = false;
        a.TakeTouched(&all);
        stored = AllChunks(a);  // the layout changed: the store rebuilds
        continue;
      }
      bool all = false;
      const std::vector<uint64_t> touched = a.TakeTouched(&all);
      if (all || stored.size() != a.chunk_count()) {
        stored = AllChunks(a);
      } else {
        for (uint64_t k : touched) {
          REQUIRE(k < stored.size());
          crdt::ListChunkInfo info;
          stored[k] = crdt::EncodeChunk(a, k, &info);
        }
      }
      // What was not re-encoded must still be what the chunk encodes to.
      REQUIRE(stored == AllChunks(a));
      if (step % 20 == 0) {
        List c;
        std::vector<std::string_view> views(stored.begin(), stored.end());
        const std::string held = crdt::EncodeHeld(a);
        REQUIRE(crdt::DecodeChunks(views, held, &c).ok());
        REQUIRE(c.Values() == a.Values());
        REQUIRE(crdt::Encode(c) == crdt::Encode(a));
        REQUIRE(c.chunk_count() == a.chunk_count());
      }
    }
  }
}

TEST_CASE("cutting a long run into chunks keeps every value and order") {
  List a;
  std::vector<std::string> values;
  for (int i = 0; i < 100000; ++i) values.push_back("v" + std::to_string(i));
  REQUIRE(a.PushBack(ReplicaId(1), values).ok());
  REQUIRE(a.chunk_count() == 1);
  const uint64_t pieces = a.SplitChunk(0, 200);
  CHECK(pieces == a.chunk_count());
  CHECK(pieces >= 190);
  uint64_t largest = 0;
  for (const std::string& c : AllChunks(a)) {
    largest = std::max<uint64_t>(largest, c.size());
  }
  CHECK(largest < 4096 + 64);
  CHECK(a.Values() == values);
  // Typing at a chunk's end, deleting everything: runs never merge across
  // chunks, so the chunks stay.
  REQUIRE(a.Insert(ReplicaId(1), 50000, {"x"}).ok());
  REQUIRE(a.Delete(0, a.size()).ok());
  CHECK(a.chunk_count() == pieces);
  CHECK(a.size() == 0);
  // Merging every chunk back gives one chunk holding everything.
  while (a.chunk_count() > 1) a.MergeChunks(0);
  List b;
  const std::vector<std::string> one = AllChunks(a);
  std::vector<std::string_view> views(one.begin(), one.end());
  REQUIRE(crdt::DecodeChunks(views, "", &b).ok());
  CHECK(b.total_elements() == 100001);
}

TEST_CASE("malformed chunk records are refused, never trusted") {
  List a;
  REQUIRE(a.InsertText(ReplicaId(1), 0, "hello world").ok());
  const std::string blob = crdt::Encode(a);
  List out;
  // A chunk must hold runs and nothing held; the held record no runs.
  CHECK(crdt::DecodeChunks({}, blob, &out).code() == Code::kCorruption);
  List empty;
  CHECK(crdt::DecodeChunks({crdt::Encode(empty)}, "", &out).code() ==
        Code::kCorruption);
  // A second chunk whose origins are in no chunk.
  List b;
  b.Join(a);
  REQUIRE(b.InsertText(ReplicaId(2), 5, "XY").ok());
  b.SplitChunk(0, 4);
  REQUIRE(b.chunk_count() >= 2);
  const std::vector<std::string> chunks = AllChunks(b);
  CHECK(crdt::DecodeChunks({chunks.back()}, "", &out).code() ==
        Code::kCorruption);
  // Truncations.
  for (size_t n = 0; n < chunks[0].size(); ++n) {
    CHECK_FALSE(
        crdt::DecodeChunks({std::string_view(chunks[0]).substr(0, n)}, "", &out)
            .ok());
  }
  // A held record holding a run that can be placed (no stored list is
  // unsettled): refused, not settled into a chunk no directory names.
  List fresh;
  const std::string placeable =
      crdt::EncodeHeld(fresh.InsertText(ReplicaId(3), 0, "z").value());
  REQUIRE_FALSE(placeable.empty());
  CHECK(crdt::DecodeChunks({}, placeable, &out).code() == Code::kCorruption);
  // One whose origin is missing stays held, as stored.
  const std::string held =
      crdt::EncodeHeld(a.InsertText(ReplicaId(3), 0, "z").value());
  REQUIRE(crdt::DecodeChunks({}, held, &out).ok());
  CHECK(out.pending_run_count() == 1);
  replication::ListLayout layout;
  CHECK(replication::DecodeListTop("\x02", &layout).code() ==
        Code::kCorruption);
  CHECK(replication::DecodeListTop(std::string("\x01\x00\x05\x00\x7f", 5),
                                   &layout)
            .code() == Code::kCorruption);
  replication::ListPageMeta page;
  CHECK(replication::DecodeListPage(std::string("\x01\x03\x01", 3), &page)
            .code() == Code::kCorruption);
}

TEST_CASE("an edit of a long list rewrites only the records around it") {
  TempDir dir;
  std::vector<std::string> model;
  {
    auto r = Open(dir.path);
    for (int paste = 0; paste < 20; ++paste) {
      std::vector<std::string> values;
      for (int i = 0; i < 10000; ++i) {
        values.push_back("v" + std::to_string(paste * 10000 + i));
      }
      model.insert(model.end(), values.begin(), values.end());
      REQUIRE(r->Apply(ListOp(OpKind::kListPush, values)).ok());
    }
  }
  const auto before = Records(dir.path);
  size_t largest = 0;
  for (const auto& [k, v] : before) largest = std::max(largest, v.size());
  CHECK(before.size() > 300);  // the list is in many records
  CHECK(largest <= replication::kListChunkMax);
  {
    auto r = Open(dir.path);  // a cold cache: the edit reads the chunks
    REQUIRE(r->Apply(ListOp(OpKind::kListInsert, {"mid"}, 100000)).ok());
    model.insert(model.begin() + 100000, "mid");
  }
  const auto after = Records(dir.path);
  size_t changed = 0;
  for (const auto& [k, v] : after) {
    auto it = before.find(k);
    if (it == before.end() || it->second != v) ++changed;
  }
  for (const auto& [k, v] : before) changed += after.count(k) == 0 ? 1 : 0;
  // The chunk (maybe cut in two) and its directory page.
  CHECK(changed >= 2);
  CHECK(changed <= 4);

  // Random edits against a model, across reopens; pages read only what
  // they return, and agree with the model.
  std::mt19937_64 rng(7);
  for (int round = 0; round < 4; ++round) {
    auto r = Open(dir.path);
    for (int i = 0; i < 300; ++i) {
      const uint64_t at = rng() % (model.size() + 1);
      if (rng() % 3 == 0 && at < model.size()) {
        const uint64_t n =
            std::min<uint64_t>(1 + rng() % 2000, model.size() - at);
        REQUIRE(r->Apply(ListOp(OpKind::kListDelete, {}, at, n)).ok());
        model.erase(model.begin() + static_cast<ptrdiff_t>(at),
                    model.begin() + static_cast<ptrdiff_t>(at + n));
      } else {
        std::vector<std::string> values(1 + rng() % 3, "n" + std::to_string(i));
        REQUIRE(r->Apply(ListOp(OpKind::kListInsert, values, at)).ok());
        model.insert(model.begin() + static_cast<ptrdiff_t>(at), values.begin(),
                     values.end());
      }
    }
    for (int i = 0; i < 20; ++i) {
      const uint64_t off = rng() % (model.size() + 1);
      const uint64_t limit = rng() % 500;
      auto page = r->ListRange("doc", off, limit);
      REQUIRE(page.ok());
      CHECK(page->length == model.size());
      const uint64_t end = limit == 0
                               ? model.size()
                               : std::min<uint64_t>(model.size(), off + limit);
      CHECK(page->values == std::vector<std::string>(
                                model.begin() + static_cast<ptrdiff_t>(off),
                                model.begin() + static_cast<ptrdiff_t>(end)));
    }
    auto past = r->ListRange("doc", model.size() + 1, 1);
    CHECK(past.status().code() == Code::kInvalidArgument);
  }
  auto r = Open(dir.path);
  auto whole = r->ListRange("doc", 0, 0);
  REQUIRE(whole.ok());
  CHECK(whole->values == model);
  // The state as one blob (state transfer) decodes to the same values.
  auto state = r->KeyState("doc");
  REQUIRE(state.ok());
  REQUIRE(state->has_value());
  List decoded;
  REQUIRE(crdt::Decode((*state)->delta, &decoded).ok());
  CHECK(decoded.Values() == model);
}

// A store written before the chunked layout (format 2: the whole blob cut
// into hash-named chunks) is migrated on open, its lists intact.
TEST_CASE("a format 2 store's lists are migrated on open") {
  TempDir dir;
  std::vector<std::string> model;
  {
    auto r = Open(dir.path);
    for (int i = 0; i < 5000; ++i) model.push_back("m" + std::to_string(i));
    REQUIRE(r->Apply(ListOp(OpKind::kListPush, model)).ok());
    REQUIRE(r->Apply(ListOp(OpKind::kListDelete, {}, 10, 5)).ok());
    model.erase(model.begin() + 10, model.begin() + 15);
  }
  {
    // Rewrite the list as format 2 stored it.
    auto env = OpenEnv(dir.path);
    auto txn = env->BeginWrite();
    REQUIRE(txn.ok());
    storage::NameSlot slot;
    REQUIRE(replication::LocateKey(*txn, "doc", &slot).ok());
    REQUIRE(slot.found);
    replication::KeyHeader h;
    REQUIRE(replication::DecodeHeader(slot.key, slot.value, &h).ok());
    std::string blob;
    REQUIRE(replication::ReadListState(*txn, h.key_id, h.payload, &blob).ok());
    std::vector<std::string> stale;
    {
      auto cur = txn->OpenCursor(Table::kRecords);
      REQUIRE(cur.ok());
      for (bool ok = cur->Seek(""); ok; ok = cur->Next()) {
        stale.emplace_back(cur->key());
      }
    }
    for (const std::string& k : stale) {
      REQUIRE(txn->Delete(Table::kRecords, k).ok());
    }
    std::string dir_bytes;
    storage::AppendU32(&dir_bytes, 2);
    const size_t half = blob.size() / 2;
    const std::string parts[2] = {blob.substr(0, half), blob.substr(half)};
    for (uint64_t i = 0; i < 2; ++i) {
      const uint64_t name = 0x1234 + i;
      storage::AppendU64(&dir_bytes, name);
      REQUIRE(txn->Put(Table::kRecords,
                       replication::ListChunkKey(h.key_id, name), parts[i])
                  .ok());
    }
    h.payload = dir_bytes;
    REQUIRE(
        txn->Put(Table::kKeys, slot.key, replication::EncodeHeader(h, false))
            .ok());
    std::string two;
    storage::AppendU64(&two, 2);
    REQUIRE(txn->Put(Table::kMeta, replication::kMetaFormat, two).ok());
    REQUIRE(txn->Commit().ok());
  }
  {
    auto r = Open(dir.path);
    auto page = r->ListRange("doc", 0, 0);
    REQUIRE(page.ok());
    CHECK(page->values == model);
    REQUIRE(r->Apply(ListOp(OpKind::kListInsert, {"after"}, 3)).ok());
    model.insert(model.begin() + 3, "after");
  }
  for (const auto& [k, v] : Records(dir.path)) {
    CHECK(k.size() == 17);  // [key id][kind][id]: no format 2 chunk is left
  }
  auto r = Open(dir.path);
  auto page = r->ListRange("doc", 0, 0);
  REQUIRE(page.ok());
  CHECK(page->values == model);
}

// The automerge-paper trace (../shared/traces) replayed through the
// replica, one operation per edit as the REST text API applies them, with
// reopens (cold caches) on the way: the stored text equals the trace's
// after every stretch and at the end.
TEST_CASE(
    "the editing trace replayed through the replica's chunks stays exact") {
  deltakv::bench::Trace trace;
  REQUIRE(deltakv::bench::LoadTrace(
              deltakv::bench::DefaultTracePath(DELTAKV_SOURCE_DIR), &trace)
              .ok());
  TempDir dir;
  std::u32string expected;
  auto r = Open(dir.path);
  size_t n = 0;
  const auto check = [&] {
    auto page = r->ListRange("doc", 0, 0);
    REQUIRE(page.ok());
    std::string got;
    for (const std::string& v : page->values) got += v;
    REQUIRE(got == deltakv::bench::EncodeUtf8(expected));
  };
  // Under the sanitizers (ten times slower) the first 60,000 patches.
  size_t patches = trace.patches.size();
#if defined(__SANITIZE_ADDRESS__)
  patches = std::min<size_t>(patches, 60000);
#endif
  for (size_t i = 0; i < patches; ++i) {
    const deltakv::bench::TracePatch& p = trace.patches[i];
    if (p.del > 0) {
      REQUIRE(r->Apply(ListOp(OpKind::kListDelete, {}, p.pos, p.del)).ok());
      expected.erase(p.pos, p.del);
    }
    if (!p.text.empty()) {
      const std::u32string cps = deltakv::bench::DecodeUtf8(p.text);
      std::vector<std::string> values;
      for (char32_t c : cps) {
        values.push_back(deltakv::bench::EncodeUtf8(std::u32string(1, c)));
      }
      REQUIRE(r->Apply(ListOp(OpKind::kListInsert, values, p.pos)).ok());
      expected.insert(p.pos, cps);
    }
    if (++n % 25000 == 0) {
      check();
      r.reset();
      r = Open(dir.path);
    }
  }
  check();
  if (patches == trace.patches.size()) {
    CHECK(deltakv::bench::EncodeUtf8(expected) == trace.end_content);
  }
}
