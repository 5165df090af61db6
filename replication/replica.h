// Replica: the engine of one region. Turns typed operations into CRDT
// deltas, joins them into the state stored in LMDB, and appends them to the
// delta log, all in one write transaction; joins remote deltas the same way.
//
// Writes go through one writer thread that drains a queue and commits
// concurrent operations in one transaction (group commit); each operation is
// acknowledged only after its batch committed (and, in sync mode, reached
// disk). Reads use their own LMDB read transactions and never wait for the
// writer.
//
// Thread-safety: every public method is safe to call from any thread.
// Callbacks passed to Submit run on the writer thread: keep them short.
#ifndef DELTAKV_REPLICATION_REPLICA_H_
#define DELTAKV_REPLICATION_REPLICA_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/hlc.h"
#include "core/ids.h"
#include "crdt/codec.h"
#include "deltakv/status.h"
#include "storage/environment.h"

namespace deltakv::crdt {
class List;
}

namespace deltakv::replication {

enum class Durability { kSync, kPeriodic };

struct ListCache;  // replication/txn_apply.h
class TxnApply;    // replication/txn_apply.h

struct ReplicaOptions {
  std::string path;              // data directory
  std::string region = "local";  // RegionId syntax
  Durability durability = Durability::kSync;
  uint32_t sync_interval_ms = 100;  // periodic mode: fsync every N ms
  uint64_t initial_map_bytes = 64ull << 20;
  uint64_t max_map_bytes = 64ull << 30;
  size_t max_value_bytes = 64 * 1024;    // register values, set members
  size_t max_batch = 1024;               // operations per transaction
  uint64_t max_log_entries = 1'000'000;  // the delta log never holds more
};

inline constexpr size_t kMaxKeyBytes = 1024;

enum class OpKind {
  kCounterIncrement,
  kRegisterSet,
  kSetAdd,
  kSetRemove,
  kDelete,
  kListInsert,
  kListDelete,
  kListPush,
};

struct Op {
  OpKind kind = OpKind::kCounterIncrement;
  std::string key;
  int64_t by = 0;                    // counter increment
  std::string value;                 // register value
  std::vector<std::string> members;  // set add/remove; list values
  uint64_t index = 0;                // list insert/delete
  uint64_t count = 0;                // list delete
  bool front = false;                // list push: front instead of back
};

struct OpResult {
  int64_t value = 0;     // counter: value after the operation
  uint64_t size = 0;     // set: members after the operation
  bool deleted = false;  // delete: the key held something
  uint64_t seq = 0;      // local sequence number of the delta (0: no delta)
};

struct RegisterValue {
  std::string value;
  HlcTimestamp updated_at;
  std::string origin;  // region that wrote it
};

// Counters of the writer since Open (for metrics and benchmarks).
struct ReplicaStats {
  uint64_t batches = 0;           // committed write transactions
  uint64_t ops = 0;               // operations and remote batches in them
  uint64_t commit_micros = 0;     // total time in commit (incl. fsync)
  uint64_t map_full_retries = 0;  // batches retried after growing the map
};

struct ListPage {
  std::vector<std::string> values;
  uint64_t length = 0;  // the whole list's length
};

struct KeyInfo {
  std::string key;
  crdt::CrdtType type;
};

struct ScanPage {
  std::vector<KeyInfo> keys;
  std::optional<std::string> next;  // pass as `after` for the next page
};

// One entry of the delta log: the delta of one operation.
struct LoggedDelta {
  uint64_t seq = 0;
  std::string key;
  crdt::CrdtType type = crdt::CrdtType::kCounter;
  std::string delta;  // crdt codec bytes
};

// A batch of another region's deltas (or, for a snapshot, full states).
struct RemoteBatch {
  std::string origin;
  uint64_t first = 0;  // origin sequence numbers the batch covers
  uint64_t last = 0;
  // Snapshot chunk: entries are states, joined whatever the watermark;
  // the watermark moves to `last` only if `last` is set (the final chunk).
  bool snapshot = false;
  std::vector<LoggedDelta> deltas;
};

// One chunk of a state snapshot: full states of consecutive keys.
struct SnapshotChunk {
  std::vector<LoggedDelta> states;  // seq unused
  std::string next;  // cursor for the next chunk; empty when done
};

class Replica {
 public:
  using Callback = std::function<void(Result<OpResult>)>;

  // Opens (or creates) the store at options.path. InvalidArgument for bad
  // options or a store that belongs to another region; Corruption for an
  // unknown format version.
  static Result<std::unique_ptr<Replica>> Open(const ReplicaOptions& options);
  // Stops accepting, finishes queued operations, syncs and closes LMDB.
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // Queues an operation; `done` runs on the writer thread once the batch is
  // durable (or with the error). Errors: InvalidArgument (empty or too long
  // key, counter overflow), TooLarge (value or member over
  // max_value_bytes), WrongType, Unavailable (storage full or closing).
  void Submit(Op op, Callback done);
  // Submit and wait.
  Result<OpResult> Apply(Op op);

  // Reads. NotFound when the key does not exist (or was deleted), WrongType
  // when it holds another type.
  Result<int64_t> CounterValue(std::string_view key) const;
  Result<RegisterValue> RegisterGet(std::string_view key) const;
  Result<std::vector<std::string>> SetMembers(std::string_view key) const;
  Result<bool> SetContains(std::string_view key, std::string_view member) const;
  // Up to `limit` values from `offset` (limit 0: to the end).
  // InvalidArgument when offset > length.
  Result<ListPage> ListRange(std::string_view key, uint64_t offset,
                             uint64_t limit) const;
  Result<crdt::CrdtType> TypeOf(std::string_view key) const;
  // Live keys starting with `prefix`, in storage order, after the storage
  // position `after` (from a previous page), at most `limit`.
  Result<ScanPage> Scan(std::string_view prefix, std::string_view after,
                        size_t limit) const;

  // Joins deltas that `origin` logged under sequence numbers first..last
  // (one per entry, in order). Entries at or below the origin's applied
  // watermark are skipped, so applying a batch twice changes nothing. The
  // new watermark is stored in the same transaction.
  Status ApplyRemote(const std::string& origin,
                     std::vector<LoggedDelta> deltas);
  // Joins a batch: when batch.last is at or below the origin's watermark
  // the batch is a duplicate and changes nothing; otherwise every entry is
  // joined (joins are idempotent, so an overlap with what was applied is
  // harmless) and the watermark becomes batch.last, in one transaction.
  // Sequence gaps are the caller's business. Corruption/WrongType entries
  // are skipped and reported after the rest is applied.
  Status ApplyRemote(RemoteBatch batch);

  // The replica id last seen for region `origin` (0: never).
  Result<uint64_t> PeerReplica(const std::string& origin) const;
  // Records `replica` as the identity of region `origin`. With `restart`,
  // the region came back as a new incarnation (its store was lost or
  // replaced): its applied watermark starts over at 0, in the same
  // transaction, so its new sequence numbers are not taken for duplicates.
  Status SetPeerReplica(const std::string& origin, uint64_t replica,
                        bool restart);

  // Deletes local log entries up to and including `through` (all peers have
  // them). Not an error when they are gone already.
  Status TrimLog(uint64_t through);
  // The oldest local sequence number still in the delta log.
  uint64_t LogStart() const { return log_start_.load(); }
  // Full states of the live keys after `cursor` (storage order), about
  // `max_bytes` of them; an empty `next` means the snapshot is complete.
  Result<SnapshotChunk> ReadSnapshot(std::string_view cursor,
                                     size_t max_bytes) const;

  // Local deltas with seq >= from, at most max_count.
  Result<std::vector<LoggedDelta>> ReadLog(uint64_t from,
                                           size_t max_count) const;
  // The highest local sequence number committed.
  uint64_t LastSequence() const { return committed_seq_.load(); }
  // Called on the writer thread after every commit with the last local
  // sequence number.
  void SetCommitListener(std::function<void(uint64_t)> listener);
  // The applied watermark of every origin, this region included.
  Result<std::vector<std::pair<std::string, uint64_t>>> AppliedVector() const;

  ReplicaStats Stats() const;

  const std::string& region() const { return options_.region; }
  ReplicaId replica_id() const { return replica_id_; }
  storage::MapUsage Usage() const { return env_->Usage(); }

 private:
  struct Pending {
    Op op;
    bool is_remote = false;
    RemoteBatch remote;         // remote batches
    uint64_t trim_through = 0;  // log trimming (op unused)
    std::string peer;           // peer identity: region
    uint64_t peer_replica = 0;  // peer identity: replica id
    bool peer_restart = false;
    Callback done;
  };

  explicit Replica(const ReplicaOptions& options);
  Status LoadMetadata();
  void WriterLoop();
  void SyncLoop();
  // Runs one batch in one transaction; retries after growing the map.
  void CommitBatch(std::vector<Pending>& batch);
  // Queues `p` and waits for its result.
  Status RunBlocking(Pending p);
  Result<OpResult> ApplyRemoteInTxn(storage::WriteTxn& txn, TxnApply& apply,
                                    const RemoteBatch& b);
  Status TrimInTxn(storage::WriteTxn& txn, uint64_t through);

  ReplicaOptions options_;
  std::unique_ptr<storage::Environment> env_;
  ReplicaId replica_id_;
  HybridClock clock_;

  // Writer-thread state.
  uint64_t next_key_id_ = 1;
  // Decoded lists by key id, with the chunk directory they match; writer
  // thread only, cleared when a batch fails.
  std::unique_ptr<ListCache> list_cache_;
  uint64_t local_seq_ = 0;
  std::atomic<uint64_t> committed_seq_{0};
  std::atomic<uint64_t> log_start_{1};
  uint64_t log_start_pending_ = 1;  // writer: log start inside the batch
  std::atomic<uint64_t> stat_batches_{0}, stat_ops_{0}, stat_commit_us_{0},
      stat_retries_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;    // guarded by mu_
  bool closing_ = false;         // guarded by mu_
  bool writer_waiting_ = false;  // guarded by mu_: the writer sleeps on cv_
  std::function<void(uint64_t)> listener_;  // guarded by mu_

  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  bool sync_stop_ = false;  // guarded by sync_mu_

  std::thread writer_;
  std::thread syncer_;
};

}  // namespace deltakv::replication

#endif  // DELTAKV_REPLICATION_REPLICA_H_
