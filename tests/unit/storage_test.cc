// storage/: the environment's map usage during growth, on real LMDB
// environments.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "storage/environment.h"

using deltakv::storage::Environment;
using deltakv::storage::EnvOptions;
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
