// Named behaviours of the list CRDT: local edits and errors, the concurrent
// cases of docs/list.md (interleaving, held dependencies, delete/delete,
// insert beside a deleted element), run-length ids, and the codec against
// hostile bytes.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "crdt/list.h"
#include "crdt/list_codec.h"

namespace crdt = deltakv::crdt;
using deltakv::Code;
using deltakv::ReplicaId;
using Values = std::vector<std::string>;

namespace {

const ReplicaId kA(1), kB(2), kC(3);

// Applies a local edit that must succeed and returns its delta.
template <typename T>
T Ok(deltakv::Result<T> r) {
  REQUIRE(r.ok());
  return std::move(r).value();
}

crdt::List Typed(ReplicaId who, const std::string& text) {
  crdt::List l;
  for (char c : text) (void)Ok(l.InsertText(who, l.size(), std::string(1, c)));
  return l;
}

}  // namespace

TEST_CASE("Insert, delete and push edit the list like a vector") {
  crdt::List l;
  (void)Ok(l.Insert(kA, 0, {"b", "c"}));
  (void)Ok(l.PushFront(kA, {"a"}));
  (void)Ok(l.PushBack(kA, {"d", "e"}));
  CHECK(l.Values() == Values{"a", "b", "c", "d", "e"});
  (void)Ok(l.Delete(1, 3));
  CHECK(l.Values() == Values{"a", "e"});
  (void)Ok(l.Insert(kB, 1, {"multi byte é", ""}));
  CHECK(l.Values() == Values{"a", "multi byte é", "", "e"});
  CHECK(l.size() == 4);
  CHECK(Ok(l.Read(1, 2)) == Values{"multi byte é", ""});
  CHECK(Ok(l.Read(3, 100)) == Values{"e"});
  CHECK(Ok(l.Read(4, 1)).empty());
}

TEST_CASE("Out-of-range index or count is InvalidArgument, not a crash") {
  crdt::List l;
  (void)Ok(l.InsertText(kA, 0, "abc"));
  CHECK(l.Insert(kA, 4, {"x"}).status().code() == Code::kInvalidArgument);
  CHECK(l.Delete(2, 2).status().code() == Code::kInvalidArgument);
  CHECK(l.Delete(4, 0).status().code() == Code::kInvalidArgument);
  CHECK(l.Delete(1, UINT64_MAX).status().code() == Code::kInvalidArgument);
  CHECK(l.Read(4, 1).status().code() == Code::kInvalidArgument);
  CHECK(l.InsertText(kA, 0, "\xff").status().code() == Code::kInvalidArgument);
  CHECK(l.Insert(ReplicaId(), 0, {"x"}).status().code() ==
        Code::kInvalidArgument);
  CHECK(l.Text() == "abc");
  CHECK(Ok(l.Delete(3, 0)).has_pending() == false);
}

TEST_CASE("Concurrent runs typed at one position never interleave") {
  crdt::List base = Typed(kA, "[]");
  crdt::List a = base, b = base;
  std::vector<crdt::List> da, db;
  for (char c : std::string("abc")) {
    da.push_back(Ok(a.InsertText(kA, a.size() - 1, std::string(1, c))));
  }
  for (char c : std::string("xyz")) {
    db.push_back(Ok(b.InsertText(kB, b.size() - 1, std::string(1, c))));
  }
  // Three replicas receive the six deltas in different orders.
  crdt::List r1 = base, r2 = base, r3 = base;
  for (const auto* d : {&da[0], &db[0], &da[1], &db[1], &da[2], &db[2]}) {
    r1.Join(*d);
  }
  for (const auto* d : {&db[2], &db[1], &db[0], &da[2], &da[1], &da[0]}) {
    r2.Join(*d);
  }
  r3.Join(b);
  r3.Join(a);
  a.Join(b);
  b.Join(a);
  const std::string text = r1.Text();
  CHECK((text == "[abcxyz]" || text == "[xyzabc]"));
  for (const crdt::List* r : {&r2, &r3, &a, &b}) CHECK(r->Text() == text);
}

TEST_CASE(
    "Concurrent inserts typed backwards at one position never interleave") {
  crdt::List base = Typed(kA, "[]");
  crdt::List a = base, b = base;
  for (char c : std::string("cba")) {
    (void)Ok(a.InsertText(kA, 1, std::string(1, c)));
  }
  for (char c : std::string("zyx")) {
    (void)Ok(b.InsertText(kB, 1, std::string(1, c)));
  }
  crdt::List ab = a, ba = b;
  ab.Join(b);
  ba.Join(a);
  CHECK((ab.Text() == "[abcxyz]" || ab.Text() == "[xyzabc]"));
  CHECK(ab.Text() == ba.Text());
}

TEST_CASE("A delta whose origin is unknown is held until the origin arrives") {
  crdt::List a;
  crdt::List d1 = Ok(a.InsertText(kA, 0, "a"));
  crdt::List d2 = Ok(a.InsertText(kA, 1, "b"));
  crdt::List d3 = Ok(a.InsertText(kA, 0, "_"));
  crdt::List b;
  (void)Ok(b.InsertText(kB, 0, "B"));
  b.Join(d3);  // origin right "a" unknown
  b.Join(d2);  // origin left "a" unknown
  CHECK(b.Text() == "B");
  CHECK(b.has_pending());
  CHECK(b.pending_run_count() == 2);
  b.Join(d2);  // a duplicate is held once
  CHECK(b.pending_run_count() == 2);
  b.Join(d1);
  CHECK_FALSE(b.has_pending());
  a.Join(b);
  CHECK(b.Text() == a.Text());
  CHECK(b.Values().size() == 4);
  CHECK(Ok(b.Read(0, 4)) == a.Values());
}

TEST_CASE(
    "A delete of ids not known yet is held and applied when they arrive") {
  crdt::List a;
  crdt::List ins = Ok(a.InsertText(kA, 0, "hello"));
  crdt::List del = Ok(a.Delete(1, 3));
  crdt::List b;
  b.Join(del);
  CHECK(b.pending_delete_count() == 1);
  CHECK(b.empty());
  b.Join(ins);
  CHECK(b.Text() == "ho");
  CHECK_FALSE(b.has_pending());
}

TEST_CASE("Concurrent deletes of one element delete exactly that element") {
  crdt::List a = Typed(kA, "abc");
  crdt::List b = a;
  crdt::List da = Ok(a.Delete(1, 1));
  crdt::List db = Ok(b.Delete(1, 1));
  a.Join(db);
  b.Join(da);
  a.Join(da);  // duplicates change nothing
  CHECK(a.Text() == "ac");
  CHECK(b.Text() == "ac");
  CHECK(crdt::Encode(a) == crdt::Encode(b));
}

TEST_CASE("An insert beside a concurrently deleted element keeps its place") {
  crdt::List a = Typed(kA, "abc");
  crdt::List b = a, c = a;
  crdt::List del = Ok(a.Delete(1, 1));               // deletes "b"
  crdt::List after = Ok(b.InsertText(kB, 2, "X"));   // right after "b"
  crdt::List before = Ok(c.InsertText(kC, 1, "Y"));  // right before "b"
  for (crdt::List* r : {&a, &b, &c}) {
    r->Join(del);
    r->Join(after);
    r->Join(before);
  }
  CHECK(a.Text() == "aYXc");
  CHECK(b.Text() == a.Text());
  CHECK(c.Text() == a.Text());
}

TEST_CASE("Consecutive typing is one run and consecutive deletes one range") {
  crdt::List l;
  for (char c : std::string("hello world")) {
    crdt::List d = Ok(l.InsertText(kA, l.size(), std::string(1, c)));
    CHECK(d.pending_run_count() == 1);
  }
  CHECK(l.run_count() == 1);
  crdt::List range = Ok(l.Delete(2, 6));
  CHECK(range.pending_delete_count() == 1);
  // Backspacing char by char, then joining the deltas, leaves one range.
  crdt::List deltas;
  for (int i = 0; i < 3; ++i) deltas.Join(Ok(l.Delete(l.size() - 1, 1)));
  CHECK(deltas.pending_delete_count() == 1);
  CHECK(l.Text() == "he");
  CHECK(l.run_count() == 2);  // "he" and one tombstone run
}

TEST_CASE("Joining a state adopts it when empty and integrates it otherwise") {
  crdt::List a = Typed(kA, "shared text");
  (void)Ok(a.Delete(0, 7));
  crdt::List empty;
  empty.Join(a);
  CHECK(empty.Text() == "text");
  CHECK(crdt::Encode(empty) == crdt::Encode(a));
  crdt::List b;
  (void)Ok(b.InsertText(kB, 0, "!"));
  crdt::List ab = b;
  ab.Join(a);
  crdt::List ba = a;
  ba.Join(b);
  CHECK(ab.Text() == ba.Text());
  CHECK(crdt::Encode(ab) == crdt::Encode(ba));
  CHECK(ab.size() == 5);
}

// ------------------------------------------------------------------ codec

TEST_CASE("A list round-trips through the codec") {
  crdt::List a = Typed(kA, "round trip");
  (void)Ok(a.Insert(kB, 3, {"not one char", "", "\xc3\xa9"}));
  (void)Ok(a.Delete(1, 2));
  crdt::List held;
  held.Join(Ok(a.InsertText(kA, 4, "zz")));  // origins unknown to `held`
  held.Join(Ok(a.Delete(0, 1)));
  for (const crdt::List* l : {&a, &held}) {
    const std::string bytes = crdt::Encode(*l);
    crdt::List back;
    REQUIRE(crdt::Decode(bytes, &back).ok());
    CHECK(back.Values() == l->Values());
    CHECK(back.pending_run_count() == l->pending_run_count());
    CHECK(back.pending_delete_count() == l->pending_delete_count());
    CHECK(crdt::Encode(back) == bytes);
  }
}

TEST_CASE(
    "Truncated or bit-flipped list bytes are rejected or decode validly") {
  crdt::List a = Typed(kA, "corrupt me");
  (void)Ok(a.Insert(kB, 2, {"long value", "x"}));
  (void)Ok(a.Delete(4, 3));
  const std::string bytes = crdt::Encode(a);
  for (size_t n = 0; n < bytes.size(); ++n) {
    crdt::List out;
    CHECK(crdt::Decode(bytes.substr(0, n), &out).code() == Code::kCorruption);
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = bytes;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      crdt::List out;
      const deltakv::Status s = crdt::Decode(bad, &out);
      if (!s.ok()) {
        CHECK(s.code() == Code::kCorruption);
        continue;
      }
      crdt::List again;  // whatever decoded is a valid list
      REQUIRE(crdt::Decode(crdt::Encode(out), &again).ok());
      CHECK(crdt::Encode(again) == crdt::Encode(out));
      crdt::List joined = a;
      joined.Join(out);
      (void)joined.Values();
    }
  }
}

TEST_CASE("A run length larger than the bytes present is Corruption") {
  // Hand-made body: one replica, one text run claiming 2^40 values with a
  // three-byte value string.
  auto varint = [](uint64_t v) {
    std::string s;
    while (v >= 0x80) {
      s.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    s.push_back(static_cast<char>(v));
    return s;
  };
  const std::string runs = std::string(1, static_cast<char>(0xc2)) + varint(0) +
                           varint(2) + varint(uint64_t{1} << 40);
  std::string blob("\x93\x01\x04\x97\x01\x91\x01\x01\x00", 9);
  blob.push_back(static_cast<char>(0xc4));
  blob.push_back(static_cast<char>(runs.size()));
  blob += runs;
  blob += std::string("\xc4\x03", 2) + "abc" + std::string("\xc4\x00", 2);
  crdt::List out;
  CHECK(crdt::Decode(blob, &out).code() == Code::kCorruption);
  // The same blob with a length of 3 is a valid three-letter list.
  const std::string ok_runs = std::string(1, static_cast<char>(0xc2)) +
                              varint(0) + varint(2) + varint(3);
  std::string good("\x93\x01\x04\x97\x01\x91\x01\x01\x00", 9);
  good.push_back(static_cast<char>(0xc4));
  good.push_back(static_cast<char>(ok_runs.size()));
  good += ok_runs;
  good += std::string("\xc4\x03", 2) + "abc" + std::string("\xc4\x00", 2);
  REQUIRE(crdt::Decode(good, &out).ok());
  CHECK(out.Text() == "abc");
}

TEST_CASE("Random bytes never decode into a crash") {
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (int i = 0; i < 20000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::string bytes = "\x93\x01\x04";
    const int n = static_cast<int>(x % 40);
    for (int k = 0; k < n; ++k) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      bytes.push_back(static_cast<char>(x));
    }
    crdt::List out;
    const deltakv::Status s = crdt::Decode(bytes, &out);
    CHECK((s.ok() || s.code() == Code::kCorruption));
  }
}

TEST_CASE("A moved-from list is empty and usable again") {
  crdt::List a = Typed(kA, "move");
  crdt::List b = std::move(a);
  CHECK(b.Text() == "move");
  CHECK(a.empty());  // NOLINT(bugprone-use-after-move): documented contract
  CHECK(a.run_count() == 0);
  CHECK_FALSE(a.has_pending());
  (void)Ok(a.InsertText(kA, 0, "again"));
  CHECK(a.Text() == "again");
}
