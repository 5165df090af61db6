// The embedded typed API end to end: every operation and every error,
// through deltakv::Db on a real LMDB store in a temporary folder.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "deltakv/db.h"

using deltakv::Code;
using deltakv::Db;
using deltakv::KeyType;
using deltakv::Options;

namespace {

// A temporary data folder removed at the end of the test.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/deltakv-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::unique_ptr<Db> OpenDb(const std::string& path, Options o = {}) {
  o.path = path;
  auto db = Db::Open(o);
  REQUIRE(db.ok());
  return std::move(db).value();
}

}  // namespace

TEST_CASE("counters increment, decrement and persist across reopen") {
  TempDir dir;
  {
    auto db = OpenDb(dir.path);
    CHECK(*db->Counter("c").Increment(5) == 5);
    CHECK(*db->Counter("c").Increment(-7) == -2);
    CHECK(*db->Counter("c").Value() == -2);
  }
  auto db = OpenDb(dir.path);
  CHECK(*db->Counter("c").Value() == -2);
  CHECK(*db->Counter("c").Increment() == -1);
}

TEST_CASE("counter overflow is InvalidArgument and changes nothing") {
  TempDir dir;
  auto db = OpenDb(dir.path);
  REQUIRE(db->Counter("c").Increment(INT64_MAX).ok());
  auto r = db->Counter("c").Increment(1);
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK(*db->Counter("c").Value() == INT64_MAX);
}

TEST_CASE("registers keep the last write and its origin region") {
  TempDir dir;
  Options o;
  o.region = "eu-west";
  auto db = OpenDb(dir.path, o);
  REQUIRE(db->Register("r").Set("\"one\"").ok());
  REQUIRE(db->Register("r").Set("{\"two\":2}").ok());
  auto v = db->Register("r").Get();
  REQUIRE(v.ok());
  CHECK(v->value == "{\"two\":2}");
  CHECK(v->origin == "eu-west");
  CHECK_FALSE(v->updated_at.empty());
}

TEST_CASE("sets add, remove, contain and list members in order") {
  TempDir dir;
  auto db = OpenDb(dir.path);
  CHECK(*db->Set("s").Add({"b", "a", "c", "a"}) == 3);
  CHECK(*db->Set("s").Remove({"b", "zz"}) == 2);
  CHECK(*db->Set("s").Members() == std::vector<std::string>{"a", "c"});
  CHECK(*db->Set("s").Contains("a"));
  CHECK_FALSE(*db->Set("s").Contains("b"));
  // Long members (over the storage key limit) round trip.
  std::string long_member(2000, 'x');
  long_member.back() = 'y';
  CHECK(*db->Set("s").Add({long_member}) == 3);
  CHECK(*db->Set("s").Contains(long_member));
  CHECK_FALSE(*db->Set("s").Contains(std::string(2000, 'x')));
  CHECK(db->Set("s").Members()->back() == long_member);
}

TEST_CASE("a key's type is fixed by its first write") {
  TempDir dir;
  auto db = OpenDb(dir.path);
  REQUIRE(db->Counter("k").Increment(1).ok());
  CHECK(db->Set("k").Add({"x"}).status().code() == Code::kWrongType);
  CHECK(db->Register("k").Set("1").code() == Code::kWrongType);
  CHECK(db->Register("k").Get().status().code() == Code::kWrongType);
  CHECK(*db->TypeOf("k") == KeyType::kCounter);
}

TEST_CASE("missing keys are NotFound and bad keys InvalidArgument") {
  TempDir dir;
  auto db = OpenDb(dir.path);
  CHECK(db->Counter("nope").Value().status().code() == Code::kNotFound);
  CHECK(db->Register("nope").Get().status().code() == Code::kNotFound);
  CHECK(db->Set("nope").Members().status().code() == Code::kNotFound);
  CHECK(db->TypeOf("nope").status().code() == Code::kNotFound);
  CHECK(db->Counter("").Increment().status().code() == Code::kInvalidArgument);
  CHECK(db->Counter(std::string(1025, 'k')).Increment().status().code() ==
        Code::kInvalidArgument);
  CHECK(db->Counter(std::string(1024, 'k')).Increment().ok());
}

TEST_CASE("values over max_value_bytes are TooLarge") {
  TempDir dir;
  Options o;
  o.max_value_bytes = 100;
  auto db = OpenDb(dir.path, o);
  CHECK(db->Register("r").Set(std::string(101, 'v')).code() == Code::kTooLarge);
  CHECK(db->Set("s").Add({std::string(101, 'm')}).status().code() ==
        Code::kTooLarge);
  CHECK(db->Register("r").Set(std::string(100, 'v')).ok());
}

TEST_CASE("delete removes what was observed and keeps the type") {
  TempDir dir;
  auto db = OpenDb(dir.path);
  REQUIRE(db->Counter("c").Increment(3).ok());
  REQUIRE(db->Register("r").Set("1").ok());
  REQUIRE(db->Set("s").Add({"a", "b"}).ok());
  for (const char* k : {"c", "r", "s"}) {
    CHECK(*db->Delete(k));
    CHECK(db->TypeOf(k).status().code() == Code::kNotFound);
    CHECK_FALSE(*db->Delete(k));
  }
  CHECK(db->Counter("c").Value().status().code() == Code::kNotFound);
  CHECK(db->Set("s").Add({"x"}).ok());
  CHECK(*db->Set("s").Members() == std::vector<std::string>{"x"});
  CHECK(db->Counter("s").Increment().status().code() == Code::kWrongType);
  CHECK(*db->Counter("c").Increment(2) == 2);
  CHECK_FALSE(*db->Delete("never-written"));
}

TEST_CASE("scan pages through keys by prefix") {
  TempDir dir;
  auto db = OpenDb(dir.path);
  for (int i = 0; i < 25; ++i) {
    REQUIRE(db->Counter("user:" + std::to_string(100 + i)).Increment().ok());
  }
  REQUIRE(db->Set("other").Add({"x"}).ok());
  REQUIRE(db->Delete("user:105").ok());
  std::vector<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    auto r = db->Scan("user:", cursor, 10);
    REQUIRE(r.ok());
    for (auto& k : r->keys) {
      CHECK(k.type == KeyType::kCounter);
      seen.push_back(k.key);
    }
    if (!r->cursor) break;
    cursor = *r->cursor;
  }
  CHECK(seen.size() == 24);
  CHECK(std::is_sorted(seen.begin(), seen.end()));
  CHECK(std::find(seen.begin(), seen.end(), "user:105") == seen.end());
}

TEST_CASE("a data folder belongs to one region") {
  TempDir dir;
  { OpenDb(dir.path); }
  Options o;
  o.path = dir.path;
  o.region = "elsewhere";
  auto db = Db::Open(o);
  CHECK(db.status().code() == Code::kInvalidArgument);
  o.region = "Bad Region";
  CHECK(Db::Open(o).status().code() == Code::kInvalidArgument);
}

TEST_CASE("a data folder is used by one store at a time") {
  TempDir dir;
  auto db = OpenDb(dir.path);
  Options o;
  o.path = dir.path;
  CHECK(Db::Open(o).status().code() == Code::kUnavailable);
  db.reset();
  CHECK(Db::Open(o).ok());
}

TEST_CASE("a full map fails writes with Unavailable and reads keep working") {
  TempDir dir;
  Options o;
  o.initial_map_bytes = 1 << 20;
  o.max_map_bytes = 4 << 20;
  auto db = OpenDb(dir.path, o);
  REQUIRE(db->Counter("first").Increment(1).ok());
  deltakv::Status last;
  for (int i = 0; i < 100000 && last.ok(); ++i) {
    last = db->Register("r" + std::to_string(i)).Set(std::string(2000, 'v'));
  }
  CHECK(last.code() == Code::kUnavailable);
  CHECK(last.message().find("max_map_bytes") != std::string::npos);
  CHECK(*db->Counter("first").Value() == 1);
}

TEST_CASE(
    "concurrent writers on shared and distinct keys match the "
    "sequential model") {
  TempDir dir;
  auto db = OpenDb(dir.path);
  constexpr int kThreads = 8, kOps = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kOps; ++i) {
        REQUIRE(db->Counter("shared").Increment(1).ok());
        REQUIRE(db->Counter("own" + std::to_string(t)).Increment(2).ok());
        REQUIRE(db->Set("members")
                    .Add({std::to_string(t) + ":" + std::to_string(i)})
                    .ok());
        REQUIRE(db->Counter("shared").Value().ok());  // reads interleave
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(*db->Counter("shared").Value() == kThreads * kOps);
  for (int t = 0; t < kThreads; ++t) {
    CHECK(*db->Counter("own" + std::to_string(t)).Value() == 2 * kOps);
  }
  CHECK(db->Set("members").Members()->size() == size_t{kThreads * kOps});
}

TEST_CASE("lists insert, delete, push and read ranges durably") {
  TempDir dir;
  {
    auto db = OpenDb(dir.path);
    auto l = db->List("doc");
    CHECK(*l.Insert(0, {"h", "e", "l", "l", "o"}) == 5);
    CHECK(*l.PushBack({"!"}) == 6);
    CHECK(*l.PushFront({">"}) == 7);
    CHECK(*l.Delete(1, 1) == 6);
    CHECK(l.Range()->values ==
          std::vector<std::string>{">", "e", "l", "l", "o", "!"});
    auto part = l.Range(1, 3);
    REQUIRE(part.ok());
    CHECK(part->values == std::vector<std::string>{"e", "l", "l"});
    CHECK(part->length == 6);
    CHECK(l.Insert(99, {"x"}).status().code() == Code::kInvalidArgument);
    CHECK(l.Delete(5, 2).status().code() == Code::kInvalidArgument);
    CHECK(l.Range(7).status().code() == Code::kInvalidArgument);
    CHECK(db->Counter("doc").Increment().status().code() == Code::kWrongType);
    CHECK(*db->TypeOf("doc") == KeyType::kList);
  }
  auto db = OpenDb(dir.path);  // reopened: nothing lost
  CHECK(*db->List("doc").Length() == 6);
  CHECK(*db->Delete("doc"));
  CHECK(db->List("doc").Range().status().code() == Code::kNotFound);
  CHECK(*db->List("doc").PushBack({"again"}) == 1);
}

TEST_CASE("list text: InsertText splits code points, Text joins them") {
  TempDir dir;
  auto db = OpenDb(dir.path);
  auto l = db->List("doc");
  CHECK(*l.InsertText(0, "h\u00e9\U0001F600") == 3);
  CHECK(l.Range()->values ==
        std::vector<std::string>{"h", "\u00e9", "\U0001F600"});
  CHECK(*l.InsertText(1, "ey") == 5);
  CHECK(*l.Text() == "hey\u00e9\U0001F600");
  CHECK(*l.Text(3, 1) == "\u00e9");
  CHECK(l.InsertText(0, "").status().code() == Code::kInvalidArgument);
  CHECK(l.InsertText(0, "a\xff").status().code() == Code::kInvalidArgument);
  CHECK(l.InsertText(9, "a").status().code() == Code::kInvalidArgument);
  CHECK(*l.Length() == 5);
  REQUIRE(db->List("w").PushBack({"ab"}).ok());
  CHECK(db->List("w").Text().status().code() == Code::kWrongType);
}

TEST_CASE("a long list is stored in bounded chunks and survives many edits") {
  TempDir dir;
  auto db = OpenDb(dir.path);
  auto l = db->List("text");
  std::vector<std::string> model;
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    if (model.empty() || rng() % 4 != 0) {
      uint64_t at = rng() % (model.size() + 1);
      std::string v(1, static_cast<char>('a' + rng() % 26));
      REQUIRE(l.Insert(at, {v}).ok());
      model.insert(model.begin() + static_cast<int64_t>(at), v);
    } else {
      uint64_t at = rng() % model.size();
      REQUIRE(l.Delete(at, 1).ok());
      model.erase(model.begin() + static_cast<int64_t>(at));
    }
  }
  CHECK(l.Range()->values == model);
}
