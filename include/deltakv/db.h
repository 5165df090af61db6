// deltakv::Db — the typed client API.
//
//   auto db = deltakv::Db::Open({.path = "./data", .region = "us-east"});
//   db.value()->Counter("visits").Increment(1);
//   db.value()->Set("tags").Add({"crdt", "lmdb"});
//
// Db::Open embeds a region replica in the process (LMDB in `path`);
// Db::Connect talks to a deltakv-server over its REST API (HTTP or HTTPS):
//
//   auto db = deltakv::Db::Connect("https://deltakv.example.net:8443",
//                                  {.token = "...", .tls = {.ca_file =
//                                  "ca.pem"}});
//
// Every call
// returns the same Result types and Status codes either way (a remote call
// can also fail Unavailable or Timeout when the server cannot be reached).
//
// Thread-safety: a Db and its handles are safe for concurrent use from any
// number of threads. Handles are cheap values that name a key; they do not
// outlive their Db.
#ifndef DELTAKV_INCLUDE_DELTAKV_DB_H_
#define DELTAKV_INCLUDE_DELTAKV_DB_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "deltakv/status.h"

namespace deltakv {

enum class Durability {
  kSync,      // acknowledged after fsync (default)
  kPeriodic,  // acknowledged after commit; fsync every sync_interval_ms
};

struct Options {
  std::string path;              // data directory (created if missing)
  std::string region = "local";  // this region's id
  Durability durability = Durability::kSync;
  uint32_t sync_interval_ms = 100;  // periodic mode only
  uint64_t initial_map_bytes = 64ull << 20;
  uint64_t max_map_bytes = 64ull << 30;  // writes fail Unavailable beyond it
  size_t max_value_bytes = 64 * 1024;    // register values and set members
  // Per-key caps: a write that would pass one fails TooLarge and changes
  // nothing (0: no cap). Deltas from other regions are never refused.
  uint64_t max_set_members = 1'000'000;
  uint64_t max_list_length = 1'000'000;
  uint64_t max_key_bytes = 64ull << 20;  // bytes a key holds, not its name
};

// TLS of an https:// connection (PEM files). The server's certificate is
// always verified, and must name the URL's host (DNS name or IP address).
// Every member has a default, so designated initializers may name any of
// them.
struct TlsOptions {
  std::string ca_file = {};    // CAs that may sign the server's certificate;
                               // empty: the system's CA store
  std::string cert_file = {};  // mutual TLS: this client's certificate
                               // (chain)
  std::string key_file = {};   // and its private key; both or neither
};

// How Db::Connect reaches a server.
struct ConnectOptions {
  std::string token = {};       // API bearer token; empty: none sent
  TlsOptions tls = {};          // https:// only
  uint32_t timeout_ms = 30000;  // per call: connect, send and answer
};

enum class KeyType { kCounter, kRegister, kSet, kList };
std::string_view KeyTypeName(KeyType type);

struct RegisterValue {
  std::string value;
  std::string updated_at;  // hybrid logical clock timestamp, RFC 3339
  std::string origin;      // region of the winning write
};

struct KeyEntry {
  std::string key;
  KeyType type;
};

struct ScanResult {
  std::vector<KeyEntry> keys;
  std::optional<std::string> cursor;  // pass to Scan for the next page
};

class Transport;  // internal: embedded replica or remote HTTP

class Db;

// A counter key. Errors: InvalidArgument (bad key, overflow), WrongType,
// NotFound (reads of a missing key), Unavailable (storage full or closed).
class CounterHandle {
 public:
  // Adds `by` (may be negative); returns the new value.
  Result<int64_t> Increment(int64_t by = 1);
  Result<int64_t> Value() const;

 private:
  friend class Db;
  CounterHandle(Transport* t, std::string key) : t_(t), key_(std::move(key)) {}
  Transport* t_;
  std::string key_;
};

// A last-writer-wins register key. Set errors add TooLarge.
class RegisterHandle {
 public:
  Status Set(std::string_view value);
  Result<RegisterValue> Get() const;

 private:
  friend class Db;
  RegisterHandle(Transport* t, std::string key) : t_(t), key_(std::move(key)) {}
  Transport* t_;
  std::string key_;
};

// An add-wins set key. Add/Remove return the size afterwards.
class SetHandle {
 public:
  Result<uint64_t> Add(const std::vector<std::string>& members);
  Result<uint64_t> Remove(const std::vector<std::string>& members);
  Result<bool> Contains(std::string_view member) const;
  // Every member, sorted by bytes. Over a remote connection the set is read
  // a page at a time, so it is not a snapshot: a member added or removed
  // meanwhile may or may not be listed; no member is listed twice.
  Result<std::vector<std::string>> Members() const;

 private:
  friend class Db;
  SetHandle(Transport* t, std::string key) : t_(t), key_(std::move(key)) {}
  Transport* t_;
  std::string key_;
};

struct ListRange {
  std::vector<std::string> values;
  uint64_t length = 0;  // the whole list's length
};

// A list key (non-interleaving concurrent inserts). Edits return the length
// afterwards. Errors add InvalidArgument for an index past the end.
class ListHandle {
 public:
  Result<uint64_t> Insert(uint64_t index,
                          const std::vector<std::string>& values);
  Result<uint64_t> Delete(uint64_t index, uint64_t count);
  Result<uint64_t> PushBack(const std::vector<std::string>& values);
  Result<uint64_t> PushFront(const std::vector<std::string>& values);
  // Up to `limit` values from `offset` (0: to the end). Over a remote
  // connection a long range is read a page at a time (not a snapshot:
  // `length` is the last page's).
  Result<ListRange> Range(uint64_t offset = 0, uint64_t limit = 0) const;
  Result<uint64_t> Length() const;
  // Text: each code point of `text` one value, inserted at `index`.
  // InvalidArgument for empty text or text that is not UTF-8.
  Result<uint64_t> InsertText(uint64_t index, std::string_view text);
  // The values from `offset`, at most `limit` (0: to the end), joined into
  // one string; WrongType when one of them is not a single code point.
  Result<std::string> Text(uint64_t offset = 0, uint64_t limit = 0) const;

 private:
  friend class Db;
  ListHandle(Transport* t, std::string key) : t_(t), key_(std::move(key)) {}
  Transport* t_;
  std::string key_;
};

class Db {
 public:
  // Opens an embedded region replica. InvalidArgument for bad options or a
  // data directory of another region; Corruption for an unknown format.
  static Result<std::unique_ptr<Db>> Open(const Options& options);
  // Connects to a deltakv-server at `url` (http://HOST:PORT or
  // https://HOST:PORT), with a bearer token when the server requires one.
  // Nothing is sent until the first call; a server that cannot be reached
  // makes calls fail Unavailable, a server certificate that does not verify
  // (or a client certificate the server refuses) Unauthorized.
  // InvalidArgument for a malformed URL, TLS files that cannot be loaded,
  // or TLS options with an http:// URL.
  static Result<std::unique_ptr<Db>> Connect(std::string_view url,
                                             std::string token = {});
  static Result<std::unique_ptr<Db>> Connect(std::string_view url,
                                             const ConnectOptions& options);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  CounterHandle Counter(std::string_view key) {
    return CounterHandle(t_.get(), std::string(key));
  }
  RegisterHandle Register(std::string_view key) {
    return RegisterHandle(t_.get(), std::string(key));
  }
  SetHandle Set(std::string_view key) {
    return SetHandle(t_.get(), std::string(key));
  }
  ListHandle List(std::string_view key) {
    return ListHandle(t_.get(), std::string(key));
  }

  // Observed-remove of the key: true if it held something. Not an error if
  // the key does not exist. The key keeps its type.
  Result<bool> Delete(std::string_view key);
  Result<KeyType> TypeOf(std::string_view key) const;
  // Keys starting with `prefix`, `limit` at a time; pass the returned cursor
  // to continue.
  Result<ScanResult> Scan(std::string_view prefix, std::string_view cursor = {},
                          size_t limit = 1000) const;

 private:
  explicit Db(std::unique_ptr<Transport> t);
  std::unique_ptr<Transport> t_;
};

}  // namespace deltakv

#endif  // DELTAKV_INCLUDE_DELTAKV_DB_H_
