// Environment: the LMDB environment of one server, its tables, and RAII
// read and write transactions.
//
// Tables hold bytes only; what the bytes mean is the replica's business.
// The memory map grows by itself: when a write transaction hits MDB_MAP_FULL,
// the writer aborts it, calls Grow() (doubling up to max_map_bytes) and
// retries. LMDB allows resizing only while no transaction is active in the
// process, so every transaction holds a shared lock that Grow() takes
// exclusively; resizes are rare and short. At the maximum, Grow() returns
// Unavailable and reads keep working.
//
// Thread-safety: Environment is safe for concurrent use. Any number of
// ReadTxn at once, from any threads; at most one WriteTxn at a time (the
// replica's writer thread). A transaction is used by the thread that began
// it. Never use an Environment after fork().
#ifndef DELTAKV_STORAGE_ENVIRONMENT_H_
#define DELTAKV_STORAGE_ENVIRONMENT_H_

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "deltakv/status.h"

struct MDB_env;
struct MDB_txn;
struct MDB_cursor;

namespace deltakv::storage {

// The named databases. Keys and values are opaque bytes.
enum class Table : int {
  kKeys = 0,      // one header record per user key
  kRecords = 1,   // sub-records of a key (set members, list chunks)
  kIndex = 2,     // secondary index of a key's sub-records (set dot -> member)
  kDeltaLog = 3,  // (origin region, sequence) -> delta batch
  kMeta = 4,      // replica metadata
};
inline constexpr int kTableCount = 5;

struct EnvOptions {
  std::string path;                          // a directory; created if missing
  uint64_t initial_map_bytes = 64ull << 20;  // first map size
  uint64_t max_map_bytes = 64ull << 30;      // the map never grows past this
  unsigned max_readers = 256;
  bool no_sync = false;  // commits do not fsync; call Sync() (periodic mode)
};

struct MapUsage {
  uint64_t map_bytes = 0;   // current map size
  uint64_t used_bytes = 0;  // pages in use
  uint64_t max_bytes = 0;   // configured maximum
};

class Environment;

// A cursor over one table, valid while its transaction is.
class Cursor {
 public:
  Cursor(Cursor&& other) noexcept;
  Cursor& operator=(Cursor&&) = delete;
  ~Cursor();

  // Positions at the first key >= `key`. Returns false at the end.
  bool Seek(std::string_view key);
  bool First();
  bool Next();
  bool Valid() const { return valid_; }
  std::string_view key() const { return key_; }
  std::string_view value() const { return value_; }
  // OK unless LMDB failed (the cursor is then not valid).
  const Status& status() const { return status_; }

 private:
  friend class ReadTxn;
  explicit Cursor(MDB_cursor* cursor) : cursor_(cursor) {}
  bool Step(int op, std::string_view key);

  MDB_cursor* cursor_ = nullptr;
  bool valid_ = false;
  std::string_view key_, value_;
  Status status_;
};

class ReadTxn {
 public:
  ReadTxn(ReadTxn&& other) noexcept;
  ReadTxn& operator=(ReadTxn&&) = delete;
  virtual ~ReadTxn();

  // Sets *value to bytes valid until the transaction ends. NotFound (with an
  // empty message, cheaply) when the key is absent.
  Status Get(Table table, std::string_view key, std::string_view* value) const;
  Result<Cursor> OpenCursor(Table table) const;

 protected:
  friend class Environment;
  ReadTxn(Environment* env, MDB_txn* txn,
          std::shared_lock<std::shared_mutex> l);
  void Release();  // ends the transaction's hold on the resize lock

  Environment* env_;
  MDB_txn* txn_;
  std::shared_lock<std::shared_mutex> lock_;
};

class WriteTxn : public ReadTxn {
 public:
  WriteTxn(WriteTxn&&) noexcept = default;
  ~WriteTxn() override;  // aborts unless committed

  Status Put(Table table, std::string_view key, std::string_view value);
  // Not an error if the key does not exist.
  Status Delete(Table table, std::string_view key);
  // Commits; with no_sync the data reaches disk at the next Sync(). After
  // Commit (successful or not) the transaction is finished.
  Status Commit();
  void Abort();

 private:
  friend class Environment;
  using ReadTxn::ReadTxn;
};

class Environment {
 public:
  // Unavailable when another process has the folder open.
  static Result<std::unique_ptr<Environment>> Open(const EnvOptions& options);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  Result<ReadTxn> BeginRead();
  Result<WriteTxn> BeginWrite();

  // Doubles the map (capped at max_map_bytes). Unavailable when the map is
  // already at its maximum. The caller must hold no transaction.
  Status Grow();
  // Flushes committed data to disk (for no_sync / periodic mode).
  Status Sync();
  // Map size and pages in use. Safe during growth: waits for a resize in
  // progress (it takes the resize lock's shared side, as transactions do).
  MapUsage Usage() const;
  // Writes a consistent, compacted copy of the environment (what a new
  // data.mdb would hold: every committed transaction up to the moment the
  // copy starts, free pages left out) to `fd`, while writers go on. The
  // map cannot grow while a copy runs (a writer that needs it waits).
  Status CopyTo(int fd) const;
  // Clears reader slots left by dead processes; returns how many.
  int ClearStaleReaders();
  const EnvOptions& options() const { return options_; }

 private:
  friend class ReadTxn;
  friend class WriteTxn;
  Environment() = default;
  Status OpenTables();

  EnvOptions options_;
  MDB_env* env_ = nullptr;
  int lock_fd_ = -1;  // flock on <path>/deltakv.lock: one process per folder
  std::array<unsigned, kTableCount> dbi_{};
  mutable std::shared_mutex resize_mu_;  // shared: any txn; unique: resize
  uint64_t map_bytes_ = 0;               // guarded by resize_mu_ (unique)
};

}  // namespace deltakv::storage

#endif  // DELTAKV_STORAGE_ENVIRONMENT_H_
