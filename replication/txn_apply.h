// TxnApply: applies one operation or one remote delta inside the writer's
// LMDB write transaction. Internal to replication/.
//
// Every function checks what the caller got wrong (type, sizes, overflow)
// before it writes anything, so a failed operation leaves the transaction as
// it was and the other operations of the batch proceed. Storage failures
// (map full, I/O) are returned and abort the whole batch.
//
// Thread-safety: used by the writer thread only.
#ifndef DELTAKV_REPLICATION_TXN_APPLY_H_
#define DELTAKV_REPLICATION_TXN_APPLY_H_

#include <list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/hlc.h"
#include "crdt/aw_or_set.h"
#include "crdt/list.h"
#include "replication/list_store.h"
#include "replication/records.h"
#include "replication/replica.h"
#include "storage/environment.h"

namespace deltakv::replication {

// Lists decoded by the writer, so that consecutive edits of one list do not
// decode it again. An entry is used only while the key's stored chunk
// directory equals `directory`. Bounded by bytes (an estimate of each
// decoded list's memory: its encoded size times kMemoryFactor, plus
// kEntryOverhead); past the bound the least recently used lists go. The
// list being edited always stays, whatever its size.
struct ListCache {
  static constexpr size_t kMemoryFactor = 4;
  static constexpr size_t kEntryOverhead = 256;
  struct Entry {
    std::string directory;
    crdt::List list;  // tracking its chunks
    ListLayout layout;
    size_t bytes = 0;                    // estimated memory
    std::list<uint64_t>::iterator used;  // its place in `lru`
  };

  explicit ListCache(size_t max) : max_bytes(max) {}
  // The entry of `id`, marked as used now, or null.
  Entry* Find(uint64_t id);
  // Adds (or replaces) the entry of `id`, marked as used now, sized from
  // `encoded_bytes`; evicts others past the bound.
  Entry* Put(uint64_t id, std::string directory, crdt::List list,
             ListLayout layout);
  // Records a new encoded size for `id`'s entry and evicts past the bound.
  void Resize(uint64_t id, size_t encoded_bytes);
  void Erase(uint64_t id);
  void Clear();
  size_t bytes() const { return bytes_; }
  size_t size() const { return entries.size(); }

  size_t max_bytes;
  uint64_t hits = 0, misses = 0, evictions = 0;

 private:
  void EvictBut(uint64_t keep);
  std::map<uint64_t, Entry> entries;  // key id -> entry
  std::list<uint64_t> lru;            // most recently used first
  size_t bytes_ = 0;
};

class TxnApply {
 public:
  TxnApply(storage::WriteTxn* txn, const ReplicaOptions& options,
           ReplicaId replica, HybridClock* clock, uint64_t* next_key_id,
           ListCache* list_cache)
      : txn_(txn),
        options_(options),
        replica_(replica),
        clock_(clock),
        next_key_id_(next_key_id),
        list_cache_(list_cache) {}

  // Applies a local operation. On success sets *delta (codec bytes, empty
  // when the operation changed nothing) and *type. A rejected operation
  // returns its error with nothing written; after a storage failure
  // storage_failed() is true and the batch must be aborted.
  Result<OpResult> Local(const Op& op, std::string* delta,
                         crdt::CrdtType* type);

  // Joins a remote delta into the key. Corruption if the delta does not
  // decode (nothing written); WrongType if the key holds another type (the
  // delta is then dropped: types are fixed by the first write, and two
  // regions creating one key with different types concurrently is reported,
  // not merged).
  Status Remote(const std::string& key, crdt::CrdtType type,
                std::string_view delta);

  bool storage_failed() const { return storage_failed_; }

 private:
  struct Loaded {
    bool exists = false;
    bool hashed = false;
    std::string name_key;
    KeyHeader header;
  };
  // Finds the key's header (comparing the full key) or where it goes.
  Status Load(std::string_view key, Loaded* out);
  // The status of a storage::LocateName: LMDB errors are storage failures.
  Status Located(Status s);
  Status CheckType(const Loaded& k, crdt::CrdtType type) const;
  void Init(Loaded* k, crdt::CrdtType type);
  Status StoreHeader(const Loaded& k);

  Result<OpResult> Counter(Loaded& k, const Op& op, std::string* delta);
  Result<OpResult> Register(Loaded& k, const Op& op, std::string* delta);
  Result<OpResult> SetOp(Loaded& k, const Op& op, std::string* delta);
  Result<OpResult> Delete(Loaded& k, std::string* delta);
  Result<OpResult> ListOp(Loaded& k, const Op& op, std::string* delta);

  // List records (list_store.h): chunks and a directory; the header
  // payload is the directory's top level. The list returned is the cache's.
  Result<crdt::List*> LoadList(const Loaded& k);
  // Stores what changed in the list LoadList returned. `max_bytes` (0:
  // none): TooLarge, with nothing written and the list dropped from the
  // cache (it was edited in place), when the records would be larger.
  Status StoreList(Loaded& k, uint64_t max_bytes = 0);

  // Set records: the partial state holding the members named, the members
  // whose dots `cover` contains, and the key's context.
  using MemberDots = std::map<std::string, std::vector<Dot>, std::less<>>;
  Status LoadSet(const Loaded& k, const std::vector<std::string>& members,
                 const crdt::CausalContext* cover, crdt::AWORSet* partial,
                 MemberDots* before);
  Status LoadMember(const Loaded& k, std::string_view member,
                    crdt::AWORSet* partial, MemberDots* before);
  Status LoadAllMembers(const Loaded& k, crdt::AWORSet* partial,
                        MemberDots* before);
  // Writes back the members in `before` or `after`, the index, the member
  // bytes and the header. `bytes`: the set's member bytes before the
  // change, when the caller knows them (nullopt: StoredSetBytes).
  Status PersistSet(Loaded& k, const MemberDots& before,
                    const crdt::AWORSet& after,
                    std::optional<uint64_t> bytes = std::nullopt);
  // A set's member bytes (records.h, SetBytesKey): the stored record when
  // it counts the members the header counts, 0 for a set without members,
  // nullopt otherwise (a record missing or stale).
  Result<std::optional<uint64_t>> StoredSetBytes(const Loaded& k);
  // Counts them from the member records.
  Result<uint64_t> CountSetBytes(const Loaded& k);
  // The per-key caps of a local set add (ReplicaOptions): TooLarge when the
  // members `op` adds would pass one. Sets *bytes to the member bytes before
  // the add when it knows them.
  Status CheckSetCaps(const Loaded& k, const Op& op, const MemberDots& before,
                      std::optional<uint64_t>* bytes);

  storage::WriteTxn* txn_;
  const ReplicaOptions& options_;
  ReplicaId replica_;
  HybridClock* clock_;
  uint64_t* next_key_id_;
  ListCache* list_cache_;
  bool storage_failed_ = false;

  // Marks storage errors (anything but NotFound) as batch failures.
  Status Check(Status s) {
    if (!s.ok() && !s.IsNotFound()) storage_failed_ = true;
    return s;
  }
};

}  // namespace deltakv::replication

#endif  // DELTAKV_REPLICATION_TXN_APPLY_H_
