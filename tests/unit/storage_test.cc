// storage/: the environment's map usage during growth, and the stored form
// of names (no aliasing between inline and long names, slots for long names
// whose prefix and hash collide), on real LMDB environments.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "storage/environment.h"
#include "storage/keys.h"

using deltakv::Code;
using deltakv::Result;
using deltakv::Status;
using deltakv::storage::Environment;
using deltakv::storage::EnvOptions;
using deltakv::storage::NameSlot;
using deltakv::storage::Table;
namespace storage = deltakv::storage;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/deltakv-storage-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::unique_ptr<Environment> OpenEnv(const std::string& path,
                                     uint64_t initial = 1ull << 20,
                                     uint64_t max = 1ull << 30) {
  EnvOptions o;
  o.path = path;
  o.initial_map_bytes = initial;
  o.max_map_bytes = max;
  auto env = Environment::Open(o);
  REQUIRE(env.ok());
  return std::move(env).value();
}

// Records in these tests hold the full name as their value.
storage::NameMatcher Holds(std::string_view name) {
  return [name](std::string_view value) -> Result<bool> {
    return value == name;
  };
}

}  // namespace

TEST_CASE("Usage() while the map grows never reads an unmapped map") {
  // Each Grow() unmaps and maps the environment again; Usage() on another
  // thread must never look at the meta pages in between.
  for (int round = 0; round < 8; ++round) {
    TempDir dir;
    auto env = OpenEnv(dir.path, 1ull << 20, 1ull << 36);
    std::atomic<bool> done{false};
    std::atomic<uint64_t> reads{0}, bad{0};
    std::thread reader([&] {
      // Catch2 assertions are not thread-safe: count, check on this thread.
      while (!done.load()) {
        storage::MapUsage u = env->Usage();
        if (u.used_bytes > u.map_bytes || u.map_bytes > u.max_bytes ||
            u.map_bytes < (1ull << 20)) {
          bad.fetch_add(1);
        }
        reads.fetch_add(1);
      }
    });
    // Each grow waits until the reader has read since the last one, so the
    // two threads really interleave.
    auto reader_moved = [&](uint64_t since) {
      for (int spin = 0; spin < 1'000'000 && reads.load() == since; ++spin) {
        std::this_thread::yield();
      }
    };
    int grown = 0;
    for (;;) {
      reader_moved(reads.load());
      if (!env->Grow().ok()) break;
      ++grown;
    }
    done = true;
    reader.join();
    CHECK(grown == 16);
    CHECK(env->Usage().map_bytes == (1ull << 36));
    CHECK(reads.load() > 0);
    CHECK(bad.load() == 0);
  }
}

TEST_CASE("an inline name and a long name never share a stored form") {
  TempDir dir;
  auto env = OpenEnv(dir.path);
  const std::string long_name(450, 'x');
  // The 400-byte name equal to the long name's prefix and hash (what format
  // 1 stored it as).
  const std::string alias = storage::HashedNameBase(long_name);
  REQUIRE(alias.size() == storage::kMaxInlineName);
  auto txn = env->BeginWrite();
  REQUIRE(txn.ok());
  NameSlot slot;
  REQUIRE(
      LocateName(*txn, Table::kKeys, "", long_name, Holds(long_name), &slot)
          .ok());
  CHECK_FALSE(slot.found);
  CHECK(slot.key.size() == storage::kHashedNameBytes);
  REQUIRE(txn->Put(Table::kKeys, slot.key, long_name).ok());
  REQUIRE(LocateName(*txn, Table::kKeys, "", alias, Holds(alias), &slot).ok());
  CHECK_FALSE(slot.found);
  CHECK(slot.key == alias);
  REQUIRE(txn->Put(Table::kKeys, slot.key, alias).ok());
  // Each finds its own record.
  REQUIRE(
      LocateName(*txn, Table::kKeys, "", long_name, Holds(long_name), &slot)
          .ok());
  CHECK(slot.found);
  CHECK(slot.value == long_name);
  REQUIRE(LocateName(*txn, Table::kKeys, "", alias, Holds(alias), &slot).ok());
  CHECK(slot.found);
  CHECK(slot.value == alias);
}

TEST_CASE("long names whose prefix and hash collide take separate slots") {
  TempDir dir;
  auto env = OpenEnv(dir.path);
  // Distinct names that share a base, as a crafted XXH3 collision would.
  const std::string base(storage::kHashedNameBase, 'b');
  const std::string scope = "scope---";
  auto txn = env->BeginWrite();
  REQUIRE(txn.ok());
  auto locate = [&](const std::string& name, NameSlot* slot,
                    const std::set<std::string, std::less<>>* claimed =
                        nullptr) {
    return LocateHashedName(*txn, Table::kRecords, scope, base, Holds(name),
                            slot, claimed);
  };
  NameSlot a, b, c;
  REQUIRE(locate("name-a", &a).ok());
  CHECK_FALSE(a.found);
  REQUIRE(txn->Put(Table::kRecords, a.key, "name-a").ok());
  REQUIRE(locate("name-b", &b).ok());
  CHECK_FALSE(b.found);
  CHECK(b.key != a.key);
  REQUIRE(txn->Put(Table::kRecords, b.key, "name-b").ok());
  REQUIRE(locate("name-a", &c).ok());
  CHECK(c.found);
  CHECK(c.key == a.key);
  // A hole left by a deleted record does not hide the names after it.
  REQUIRE(txn->Delete(Table::kRecords, a.key).ok());
  REQUIRE(locate("name-b", &c).ok());
  CHECK(c.found);
  CHECK(c.key == b.key);
  // A key the caller is about to write is not handed out twice.
  std::set<std::string, std::less<>> claimed{a.key};
  REQUIRE(locate("name-c", &c, &claimed).ok());
  CHECK_FALSE(c.found);
  CHECK(c.key != a.key);
  CHECK(c.key != b.key);
}

TEST_CASE("a name is refused when every slot of its base is taken") {
  TempDir dir;
  auto env = OpenEnv(dir.path);
  const std::string base(storage::kHashedNameBase, 'b');
  auto txn = env->BeginWrite();
  REQUIRE(txn.ok());
  for (size_t i = 0; i < storage::kNameSlots; ++i) {
    const std::string name = "name-" + std::to_string(i);
    NameSlot slot;
    REQUIRE(
        LocateHashedName(*txn, Table::kKeys, "", base, Holds(name), &slot)
            .ok());
    REQUIRE_FALSE(slot.found);
    REQUIRE(txn->Put(Table::kKeys, slot.key, name).ok());
  }
  NameSlot slot;
  Status s =
      LocateHashedName(*txn, Table::kKeys, "", base, Holds("one more"), &slot);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("cannot be stored") != std::string::npos);
  // The names stored are all still found.
  REQUIRE(
      LocateHashedName(*txn, Table::kKeys, "", base, Holds("name-255"), &slot)
          .ok());
  CHECK(slot.found);
}
