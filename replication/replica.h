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
#include <map>
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
  // Per-key caps, checked on local writes only (0: no cap). A write that
  // would pass one fails TooLarge with nothing applied; deltas from other
  // regions are always joined, whatever they make a key hold (convergence
  // wins over the cap).
  uint64_t max_set_members = 1'000'000;  // members of one set
  uint64_t max_list_length = 1'000'000;  // values of one list
  // Bytes one key holds (not its name): a set's members, a list's stored
  // state, a register's value.
  uint64_t max_key_bytes = 64ull << 20;
  // Decoded lists the writer keeps between edits, in estimated bytes of
  // memory; the least recently used go beyond (the list being edited
  // always stays).
  uint64_t list_cache_bytes = 256ull << 20;
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
  // Fill OpResult::delta and type (a region cluster's coordinator ships
  // the delta to the key's other replicas).
  bool want_delta = false;
};

struct OpResult {
  int64_t value = 0;     // counter: value after the operation
  uint64_t size = 0;     // set: members after the operation
  uint64_t changed = 0;  // set add/remove: members added or removed
  bool deleted = false;  // delete: the key held something
  uint64_t seq = 0;      // local sequence number of the delta (0: no delta)
  // With Op::want_delta: the operation's delta (codec bytes; empty when it
  // changed nothing) and the key's type.
  std::string delta;
  crdt::CrdtType type = crdt::CrdtType::kCounter;
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
  // The writer's list cache: lists found decoded, decoded again, evicted;
  // its estimated bytes and entries now.
  uint64_t list_cache_hits = 0, list_cache_misses = 0;
  uint64_t list_cache_evictions = 0;
  uint64_t list_cache_bytes = 0, list_cache_entries = 0;
};

struct ListPage {
  std::vector<std::string> values;
  uint64_t length = 0;  // the whole list's length
};

// A page of a set's members, in storage order: by their bytes, except
// that members over storage::kMaxInlineName bytes sort by their first
// storage::kHashedNamePrefix bytes and then by a hash.
struct SetPage {
  std::vector<std::string> members;
  std::vector<std::string> positions;  // each member's storage position
  uint64_t size = 0;                   // members of the whole set
  bool more = false;                   // members follow the page
};

struct KeyInfo {
  std::string key;
  crdt::CrdtType type;
};

struct ScanPage {
  std::vector<KeyInfo> keys;
  std::vector<std::string> positions;  // each key's storage position
  std::optional<std::string> next;     // pass as `after` for the next page
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
  // State transfer chunks: the transfer's sequence and the position after
  // this chunk, stored in the same transaction so that a restarted transfer
  // resumes there. The final chunk (transfer_done) clears it, marks the
  // origin as bootstrapped and moves the watermark to transfer_seq.
  bool transfer = false;
  bool transfer_done = false;
  uint64_t transfer_seq = 0;
  std::string transfer_cursor;
  std::vector<LoggedDelta> deltas;
};

// An origin's applied watermark and the incarnation (replica id) it counts.
struct AppliedMark {
  std::string region;
  uint64_t replica = 0;  // 0: not known yet
  uint64_t seq = 0;
};

// Where an interrupted state transfer from a peer stands.
struct TransferProgress {
  uint64_t seq = 0;    // the snapshot's sequence (the final watermark)
  std::string cursor;  // position after the last applied chunk
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
  // Installs a backup (a file Backup wrote) as the store of
  // options.path, which must not hold a store yet, under a new replica id:
  // a new incarnation of the region, so that its new deltas and dots never
  // reuse the numbers the old one gave out after the backup was taken, and
  // its peers offer it everything it lacks. InvalidArgument when the
  // folder holds a store or the backup belongs to another region,
  // Corruption when the file is not a deltakv store.
  struct Restored {
    uint64_t old_replica = 0, new_replica = 0;
    uint64_t seq = 0;  // the region's sequence in the backup
  };
  static Result<Restored> Restore(const std::string& backup_file,
                                  const ReplicaOptions& options);
  // Stops accepting, finishes queued operations, syncs and closes LMDB.
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // Queues an operation; `done` runs on the writer thread once the batch is
  // durable (or with the error). Errors: InvalidArgument (empty or too long
  // key, counter overflow), TooLarge (value or member over
  // max_value_bytes; a key that would pass max_set_members,
  // max_list_length or max_key_bytes), WrongType, Unavailable (storage full
  // or closing).
  void Submit(Op op, Callback done);
  // Submit and wait.
  Result<OpResult> Apply(Op op);

  // Reads. NotFound when the key does not exist (or was deleted), WrongType
  // when it holds another type.
  Result<int64_t> CounterValue(std::string_view key) const;
  Result<RegisterValue> RegisterGet(std::string_view key) const;
  Result<std::vector<std::string>> SetMembers(std::string_view key) const;
  // Up to `limit` members (at least 1) after the storage position `after`
  // (a position of an earlier page; nullopt: from the first), with the
  // size of the whole set, in one read transaction. InvalidArgument for a
  // zero limit.
  Result<SetPage> SetRange(std::string_view key,
                           std::optional<std::string_view> after,
                           size_t limit) const;
  Result<bool> SetContains(std::string_view key, std::string_view member) const;
  // The number of members, without reading them.
  Result<uint64_t> SetSize(std::string_view key) const;
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
  // Errors: InvalidArgument when the batch does not start at or below the
  // watermark + 1 (a gap: nothing is applied), Corruption or TooLarge when
  // an entry cannot be joined (nothing of the batch is applied and the
  // watermark stays), Unavailable/IOError for storage failures. A WrongType
  // entry (two regions created the key with different types) is skipped,
  // reported, and the rest applied.
  Status ApplyRemote(RemoteBatch batch);

  // Queues states or deltas from another node of this region (a region
  // cluster's coordinator, a read repair, a hint): each is joined into its
  // key, no watermark moves, nothing is logged; `done` runs on the writer
  // thread once they are durable. Corruption/TooLarge: nothing of the call
  // is applied; a WrongType entry is skipped and reported after the rest
  // is applied.
  void SubmitJoin(std::vector<LoggedDelta> states, Callback done);
  // The full state of one key (a deleted key's tombstone included), or
  // nullopt when the key was never written here.
  Result<std::optional<LoggedDelta>> KeyState(std::string_view key) const;

  // The replica id last seen for region `origin` (0: never).
  Result<uint64_t> PeerReplica(const std::string& origin) const;
  // Records `replica` as the identity of region `origin`. With `restart`,
  // the region came back as a new incarnation (its store was lost or
  // replaced): its applied watermark starts over at 0, in the same
  // transaction, so its new sequence numbers are not taken for duplicates.
  // The previous incarnation's watermark is kept (AppliedOf).
  Status SetPeerReplica(const std::string& origin, uint64_t replica,
                        bool restart);
  // The highest sequence of incarnation `replica` of region `origin`
  // applied here (the current incarnation or an earlier one); 0 when that
  // incarnation is unknown. For this region: its committed sequence when
  // `replica` is its own id, else 0.
  Result<uint64_t> AppliedOf(const std::string& origin, uint64_t replica) const;

  // True when this store started empty and has not yet completed a state
  // transfer from `peer` (a new disk or a new region bootstraps from every
  // peer's state).
  bool NeedsStateFrom(const std::string& peer) const;
  // True when this store was created empty (it bootstraps from its peers).
  bool started_empty() const { return fresh_; }
  // An interrupted state transfer from `peer`, if any.
  Result<std::optional<TransferProgress>> TransferFrom(
      const std::string& peer) const;

  // The final watermarks of earlier incarnations of other regions (what
  // this region applied of stores that are gone).
  Result<std::vector<AppliedMark>> IncarnationMarks() const;
  // Raises the final watermark kept for incarnation `replica` of `origin`
  // to `seq` (a state transfer from a peer that had applied more of it).
  Status RaiseIncarnationMark(const std::string& origin, uint64_t replica,
                              uint64_t seq);
  // Forces what is committed to disk now (periodic mode; a no-op in sync
  // mode).
  Status SyncNow();
  // True when a key is stored after storage position `position`.
  Result<bool> HasKeyAfter(std::string_view position) const;

  // Keeps local log entries from `from` on while a state transfer to
  // `requester` is running (the size bound yields to it, up to 4 x
  // max_log_entries, so a transfer slower than the log fills does not
  // loop); from == 0 removes it.
  void PinLog(const std::string& requester, uint64_t from);

  // Deletes local log entries up to and including `through` (all peers have
  // them). Not an error when they are gone already.
  Status TrimLog(uint64_t through);
  // The oldest local sequence number still in the delta log.
  uint64_t LogStart() const { return log_start_.load(); }
  // Full states of the keys (deleted ones included: their tombstones and
  // contexts must travel too) after `cursor` (storage order; at `cursor`
  // too with `inclusive`), about `max_bytes` of them; an empty `next`
  // means the snapshot is complete. `positions` receives each state's
  // storage position (usable as a cursor).
  Result<SnapshotChunk> ReadSnapshot(
      std::string_view cursor, size_t max_bytes, bool inclusive = false,
      std::vector<std::string>* positions = nullptr) const;

  // Local deltas with seq >= from, at most max_count.
  Result<std::vector<LoggedDelta>> ReadLog(uint64_t from,
                                           size_t max_count) const;
  // The highest local sequence number committed.
  uint64_t LastSequence() const { return committed_seq_.load(); }
  // The highest local sequence number on disk: LastSequence() in sync mode;
  // in periodic mode the one of the last fsync. Only these are published, so
  // a region never reuses a sequence number or dot a peer has seen, even
  // after an OS crash loses its unsynced tail.
  uint64_t DurableSequence() const;
  // Called on the writer thread after every commit with the last local
  // sequence number.
  void SetCommitListener(std::function<void(uint64_t)> listener);
  // The applied watermark of every origin, this region included.
  Result<std::vector<std::pair<std::string, uint64_t>>> AppliedVector() const;
  // The applied watermarks with the incarnations they count, this region
  // included (its own replica id and committed sequence). With
  // `durable_only`, as of the last fsync (periodic mode; what may be
  // acknowledged to peers).
  Result<std::vector<AppliedMark>> AppliedMarks(bool durable_only) const;

  ReplicaStats Stats() const;

  const std::string& region() const { return options_.region; }
  ReplicaId replica_id() const { return replica_id_; }
  storage::MapUsage Usage() const { return env_->Usage(); }
  // Writes a consistent compacted copy of the store to `fd` while writes go
  // on (see storage::Environment::CopyTo): a backup for Restore.
  Status Backup(int fd) const { return env_->CopyTo(fd); }

 private:
  struct Pending {
    Op op;
    bool is_remote = false;
    RemoteBatch remote;         // remote batches
    uint64_t trim_through = 0;  // log trimming (op unused)
    std::string peer;           // peer identity: region
    uint64_t peer_replica = 0;  // peer identity: replica id
    bool peer_restart = false;
    uint64_t mark_replica = 0;  // raise an earlier incarnation's mark
    uint64_t mark_seq = 0;
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
  // *storage_failure: the transaction must be abandoned (the storage
  // failed); *poisoned: the batch touched the transaction and was refused,
  // so the transaction is redone without it.
  Result<OpResult> ApplyRemoteInTxn(storage::WriteTxn& txn, TxnApply& apply,
                                    const RemoteBatch& b, bool* storage_failure,
                                    bool* poisoned);
  Status PeerReplicaInTxn(storage::WriteTxn& txn, const Pending& p);
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
  // The list cache's counters, published by the writer after each batch.
  std::atomic<uint64_t> stat_lc_hits_{0}, stat_lc_misses_{0},
      stat_lc_evictions_{0}, stat_lc_bytes_{0}, stat_lc_entries_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;    // guarded by mu_
  bool closing_ = false;         // guarded by mu_
  bool writer_waiting_ = false;  // guarded by mu_: the writer sleeps on cv_
  std::function<void(uint64_t)> listener_;  // guarded by mu_

  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  bool sync_stop_ = false;  // guarded by sync_mu_

  // Periodic mode: what the last fsync covered.
  mutable std::mutex durable_mu_;
  uint64_t durable_seq_ = 0;                // guarded by durable_mu_
  std::vector<AppliedMark> durable_marks_;  // guarded by durable_mu_

  mutable std::mutex pin_mu_;
  std::map<std::string, uint64_t> log_pins_;  // guarded by pin_mu_
  bool fresh_ = false;  // the store was created empty by this process or
                        // an earlier one and still bootstraps

  std::thread writer_;
  std::thread syncer_;
};

}  // namespace deltakv::replication

#endif  // DELTAKV_REPLICATION_REPLICA_H_
