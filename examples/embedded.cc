// embedded: deltakv as a library. Opens (or reopens) a region store in
// ./data (or the folder given), writes every type durably and reads it back.
// Run it twice: the counter keeps counting across runs.
#include <cstdio>
#include <string>

#include "deltakv/db.h"

int main(int argc, char** argv) {
  deltakv::Options options;
  options.path = argc > 1 ? argv[1] : "./data";
  options.region = "us-east";
  auto db = deltakv::Db::Open(options);
  if (!db.ok()) {
    std::fprintf(stderr, "open: %s\n", db.status().ToString().c_str());
    return 1;
  }
  deltakv::Db& kv = *db.value();

  auto runs = kv.Counter("example:runs").Increment(1);
  auto set = kv.Register("example:motto").Set("\"converge, lose nothing\"");
  auto tags = kv.Set("example:tags").Add({"crdt", "lmdb", "geo"});
  if (!runs.ok() || !set.ok() || !tags.ok()) {
    std::fprintf(stderr, "write failed\n");
    return 1;
  }
  auto motto = kv.Register("example:motto").Get();
  auto members = kv.Set("example:tags").Members();
  std::printf("runs so far: %lld\n", static_cast<long long>(*runs));
  std::printf("motto: %s (written in %s at %s)\n", motto->value.c_str(),
              motto->origin.c_str(), motto->updated_at.c_str());
  std::printf("tags:");
  for (const auto& m : *members) std::printf(" %s", m.c_str());
  std::printf("\n");

  // Errors are values, never exceptions.
  auto wrong = kv.Set("example:runs").Add({"x"});
  std::printf("adding to a counter: %s\n", wrong.status().ToString().c_str());

  auto page = kv.Scan("example:");
  std::printf("keys:");
  for (const auto& k : page->keys) {
    std::printf(" %s(%s)", k.key.c_str(),
                std::string(deltakv::KeyTypeName(k.type)).c_str());
  }
  std::printf("\n");
  return 0;
}
