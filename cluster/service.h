// Service: the protocol-neutral operations of one region, the interface the
// protocol adapters (gateway/ for REST, resp/ for the Redis protocol) call.
// In a one-node region it is LocalService (cluster/local_service.h), backed
// by the node's Replica; a region cluster's coordinator implements the same
// interface. Adapters map their protocol onto these calls and never touch
// the replica, the streams or each other.
//
// Operations answer through callbacks, which may run on any thread (the
// caller's, the writer's, or the deadline thread of a parked wait) and may
// run before the call returns: keep them short and never block in them.
// Writes one caller submits one after another are applied in that order.
//
// Thread-safety: every method is safe to call from any thread.
#ifndef DELTAKV_CLUSTER_SERVICE_H_
#define DELTAKV_CLUSTER_SERVICE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/hlc.h"
#include "deltakv/status.h"

namespace deltakv::cluster {

// The CRDT a key holds; fixed by the key's first write.
enum class KeyType : uint8_t { kCounter, kRegister, kSet, kList, kOther };
// "counter", "register", "set", "list", "mvregister".
std::string_view KeyTypeName(KeyType type);

// Lets a caller abandon an operation that waits (its client went away):
// the operation answers Unavailable at once and frees what it holds.
// Thread-safe.
class Cancellation {
 public:
  // Runs `fn` once when cancelled (at once if cancelled already); replaces
  // an earlier callback that has not run.
  void OnCancel(std::function<void()> fn);
  // Drops the callback (the operation is over).
  void Clear();
  void Cancel();
  bool cancelled() const;

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;
  std::function<void()> fn_;
};

// ---------------------------------------------------------------- writes

enum class WriteKind {
  kCounterIncrement,  // by
  kRegisterSet,       // value (the stored bytes: JSON text for REST)
  kSetAdd,            // values: members
  kSetRemove,         // values: members
  kDelete,            // the whole key, whatever its type
  kListInsert,        // index, values
  kListDelete,        // index, count
  kListPush,          // values, front
};

struct WriteOp {
  WriteKind kind = WriteKind::kCounterIncrement;
  std::string key;
  int64_t by = 0;
  std::string value;
  std::vector<std::string> values;
  uint64_t index = 0;
  uint64_t count = 0;
  bool front = false;  // list push: at the front, in the given order
  // Internal (a region cluster's coordinator): fill WriteResult::delta.
  bool want_delta = false;
};

// Replicas asked to have a write (w) or to answer a read (r) in a region
// cluster (DESIGN.md section 9): 0 the node's default (--write-quorum,
// --read-quorum), kQuorum a majority of N, kAllReplicas every replica, or
// a number from 1 to N. A one-node region has N = 1.
inline constexpr uint32_t kQuorum = 0xFFFFFFFEu;
inline constexpr uint32_t kAllReplicas = 0xFFFFFFFFu;
// Reads only: every replica that is up now (a read with a causal token).
inline constexpr uint32_t kAllLive = 0xFFFFFFFDu;

struct WriteOptions {
  // Answer once this many regions (this one included) applied the write;
  // 0 or 1: once it is applied here.
  uint32_t wait_regions = 0;
  bool want_token = true;  // fill WriteResult::token (costs a read)
  std::chrono::milliseconds timeout{10000};  // for wait_regions
  std::shared_ptr<Cancellation> cancel;      // may be null
  uint32_t w = 0;                            // replicas (see kQuorum)
};

struct WriteResult {
  int64_t value = 0;     // counter: the value after the increment
  uint64_t size = 0;     // set: members after; list: length after
  uint64_t changed = 0;  // set: members added or removed by this write
  bool deleted = false;  // delete: the key held something
  // Where the write stands in this region's history (0: it changed
  // nothing); pass to WaitRegions.
  uint64_t seq = 0;
  std::string token;  // the causal token after the write
  // With WriteOp::want_delta: the write's delta (crdt codec bytes, empty
  // when it changed nothing) and its crdt::CrdtType.
  std::string delta;
  uint8_t delta_type = 0;
};

// ----------------------------------------------------------------- reads

enum class ReadKind {
  kType,         // the key's type only
  kCounter,      // counter
  kString,       // counter or register (WrongType for other types)
  kRegister,     // register
  kSetMembers,   // members, sorted by bytes
  kSetSize,      // size
  kSetContains,  // contains[i]: whether values[i] is a member
  kListRange,    // values from offset, at most limit (0: to the end); size
  kAny,          // whatever the key holds (a list whole)
  // A page of members in storage order, after `position` (none: from the
  // first), at most limit (0: InvalidArgument); size, positions, more.
  kSetPage,
};

struct ReadOp {
  ReadKind kind = ReadKind::kType;
  std::string key;
  std::vector<std::string> values;  // kSetContains: the members asked about
  uint64_t offset = 0;              // kListRange
  uint64_t limit = 0;               // kListRange, kSetPage
  // kSetPage: continue after this storage position (ReadResult::positions
  // of an earlier page); none: from the first member.
  std::optional<std::string> position;
};

struct ReadOptions {
  // A causal token: answer once this region applied what it names.
  std::string after;
  std::chrono::milliseconds timeout{10000};  // for `after`
  std::shared_ptr<Cancellation> cancel;      // may be null
  uint32_t r = 0;                            // replicas (see kQuorum)
};

struct ReadResult {
  KeyType type = KeyType::kOther;
  int64_t counter = 0;
  std::string value;                // register: the stored bytes
  HlcTimestamp updated_at;          // register
  std::string origin;               // register: the region that wrote it
  std::vector<std::string> values;  // set members, list values
  std::vector<bool> contains;       // kSetContains
  uint64_t size = 0;                // set size, whole list length
  // kSetPage: each member's storage position, and whether members follow.
  std::vector<std::string> positions;
  bool more = false;
};

struct KeyEntry {
  std::string key;
  KeyType type = KeyType::kOther;
  std::string position;  // its storage position: `after` to continue past it
};

struct ScanResult {
  std::vector<KeyEntry> keys;
  std::optional<std::string> next;  // pass as `after` for the next page
};

// ---------------------------------------------------------------- status

struct PeerInfo {
  std::string region;
  bool connected = false;
  double last_heard_s = -1;  // seconds since its last frame (-1: never)
  uint64_t applied = 0;      // its sequence applied here
  uint64_t latest = 0;       // its latest sequence
  uint64_t lag = 0;          // latest - applied
  double lag_seconds = 0;    // how long this region has been behind it
  uint64_t acked = 0;        // our sequence it has applied
  uint64_t bytes_in = 0, bytes_out = 0;
  uint64_t catchups = 0, state_transfers = 0, dropped_frames = 0;
  uint64_t apply_failures = 0;
  uint64_t transfer_retries = 0;
  bool transferring = false;
  std::string error;  // the link's last failure ("" when fine)
};

struct RegionStatus {
  std::string region;
  std::string replica_id;
  uint64_t sequence = 0;   // this region's last committed sequence
  uint64_t log_start = 0;  // oldest sequence still in the delta log
  std::vector<std::pair<std::string, uint64_t>> applied;  // by origin
  std::vector<PeerInfo> peers;
  size_t regions = 1;  // this one and its configured peers
  uint64_t map_used_bytes = 0, map_size_bytes = 0, map_max_bytes = 0;
  std::string token;  // the causal token now
};

class Service {
 public:
  using WriteDone = std::function<void(Result<WriteResult>)>;
  using ReadDone = std::function<void(Result<ReadResult>)>;
  using ScanDone = std::function<void(Result<ScanResult>)>;
  using WaitDone = std::function<void(Result<size_t>)>;

  virtual ~Service() = default;

  // Applies a write. Errors: InvalidArgument (bad key, counter overflow,
  // list index out of range, wait_regions above the regions configured),
  // TooLarge (value or member over the limit), WrongType (the key holds
  // another type), Unavailable (storage full, closing, too many waits
  // parked, cancelled), Timeout (wait_regions not reached in time; the
  // write is applied here all the same and will still replicate).
  virtual void Write(WriteOp op, WriteOptions options, WriteDone done) = 0;

  // Reads a key. NotFound when it does not exist (or was deleted);
  // WrongType when it holds another type than the read asks for;
  // InvalidArgument for a bad key or a malformed or unreachable token;
  // Timeout when `after` is not reached in time.
  virtual void Read(ReadOp op, ReadOptions options, ReadDone done) = 0;

  // Live keys starting with `prefix`, after the position `after` (from a
  // previous page; "" to start), at most `limit`. An empty page with a
  // `next` is not an error: keep going.
  virtual void Scan(std::string prefix, std::string after, size_t limit,
                    ScanDone done) = 0;

  // Waits until `regions` regions (this one included) applied this
  // region's write `seq` (WriteResult::seq), or `timeout` passes; answers
  // the number of regions that have it then (fewer on timeout: that is
  // not an error). InvalidArgument when `regions` exceeds the regions
  // configured; Unavailable when too many waits are parked or cancelled.
  virtual void WaitRegions(uint64_t seq, uint32_t regions,
                           std::chrono::milliseconds timeout,
                           std::shared_ptr<Cancellation> cancel,
                           WaitDone done) = 0;

  // Waits until this region applied what the causal token `token` names.
  // InvalidArgument when the token is malformed or names a region this one
  // can never reach; Timeout; Unavailable as above.
  virtual void AwaitToken(std::string token, std::chrono::milliseconds timeout,
                          std::shared_ptr<Cancellation> cancel,
                          std::function<void(Status)> done) = 0;

  // The region's identity, replication state and storage use.
  virtual RegionStatus Region() const = 0;
  // The causal token now: "region:replica:seq,...".
  virtual std::string Token() const = 0;
  // Regions configured: this one and its peers.
  virtual size_t RegionCount() const = 0;
  // Operations parked on tokens or regions now, and those refused since
  // start because too many were parked.
  virtual size_t parked() const = 0;
  virtual uint64_t parked_refused() const = 0;
  // Writes a consistent compacted copy of this node's store to `fd` while
  // writes go on (blocking: call it off the I/O threads). What
  // `deltakv-server --restore` installs.
  virtual Status Backup(int fd) const = 0;
};

}  // namespace deltakv::cluster

#endif  // DELTAKV_CLUSTER_SERVICE_H_
