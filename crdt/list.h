// List: the sequence CRDT of deltakv (an ordered list of string values; text
// is one value per character), edited concurrently in every region.
//
// Algorithm: FugueMax, implemented as the YjsMod integration rule (origin
// left + origin right, Weidner & Kleppmann "The Art of the Fugue", 2023).
// Concurrent inserts at one position never interleave, in either direction.
// docs/list.md explains the choice and the concurrent cases.
//
// Every element has a unique id (replica, counter); a replica allocates
// counters in runs, so typing "hello" is one run of five ids and one delta.
// A delete turns elements into tombstones (hidden from reads, kept for the
// order). Deleted values are dropped; only ids and origins stay.
//
// Delta-state: every mutator applies to *this and returns a delta that is a
// List too, carrying new runs (ids, origins, values) and/or deleted id
// ranges. Join is the only merge; it accepts deltas and full states, in any
// order and with duplicates. A run whose origin is not known yet, or a delete
// of unknown ids, is held (pending) inside the state and applied as soon as
// what it depends on arrives; it is never dropped.
//
// Cost: index -> element and id -> element are amortised O(log n) (a splay
// tree over runs plus a per-replica map from counter to run); a local edit
// next to the previous one is close to O(1). Join costs O(|delta| log n)
// plus the concurrent runs it must order against; joining into an empty
// list adopts the other state in O(n).
//
// Thread-safety: a value, but not safe for concurrent use at all: even const
// reads reorganise the internal tree (splaying). One thread at a time.
#ifndef DELTAKV_CRDT_LIST_H_
#define DELTAKV_CRDT_LIST_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/ids.h"
#include "crdt/list_run_tree.h"
#include "deltakv/status.h"

namespace deltakv::crdt {

class List {
 public:
  // Counters stay below this, so counter + len never overflows anywhere.
  static constexpr uint64_t kMaxCounter = uint64_t{1} << 62;

  List() = default;
  List(const List& other);
  List& operator=(const List& other);
  List(List&& other) noexcept;             // leaves `other` empty
  List& operator=(List&& other) noexcept;  // leaves `other` empty
  ~List() = default;

  // ---------------------------------------------------------------- mutators
  // Each applies to *this and returns the delta.

  // Inserts `values` so that the first lands at `index` (0..size()), as
  // `replica`. Errors: InvalidArgument when index > size() or the replica
  // id is 0; TooLarge when the replica's counters would pass kMaxCounter.
  // Inserting nothing is not an error (the delta is empty).
  Result<List> Insert(ReplicaId replica, uint64_t index,
                      const std::vector<std::string>& values);

  // Inserts each UTF-8 code point of `text` as one value. Errors as Insert,
  // plus InvalidArgument when `text` is not valid UTF-8.
  Result<List> InsertText(ReplicaId replica, uint64_t index,
                          std::string_view text);

  Result<List> PushBack(ReplicaId replica,
                        const std::vector<std::string>& values) {
    return Insert(replica, size(), values);
  }
  Result<List> PushFront(ReplicaId replica,
                         const std::vector<std::string>& values) {
    return Insert(replica, 0, values);
  }

  // Deletes `count` values starting at `index`. Errors: InvalidArgument when
  // index + count > size(). Deleting zero values is not an error.
  Result<List> Delete(uint64_t index, uint64_t count);

  // Deletes every value this state has seen (delete key): the visible ones
  // and those of runs held until their origins arrive, which become
  // tombstones when they are placed. The delta carries the deleted ranges.
  List Clear();

  // ------------------------------------------------------------------- merge

  // Joins a delta or a state. Commutative, associative and idempotent in the
  // observable value; never fails: what cannot be applied yet is held.
  void Join(const List& other);
  void Join(List&& other);

  // ------------------------------------------------------------------- reads

  uint64_t size() const { return tree_.visible(); }
  bool empty() const { return size() == 0; }

  // Up to `count` values from `index`; fewer when the list ends first.
  // Errors: InvalidArgument when index > size().
  Result<std::vector<std::string>> Read(uint64_t index, uint64_t count) const;

  std::vector<std::string> Values() const;
  // Every value concatenated (the text, for a list of characters).
  std::string Text() const;

  // ------------------------------------------------------------- inspection

  // Runs in the document, tombstones included (a measure of fragmentation).
  size_t run_count() const { return run_count_; }
  // Elements in the document, tombstones included.
  uint64_t total_elements() const { return tree_.total(); }
  // Runs held until an origin arrives, and deleted ranges of unknown ids.
  size_t pending_run_count() const { return pending_.size(); }
  size_t pending_delete_count() const;
  bool has_pending() const {
    return !pending_.empty() || !pending_deletes_.empty();
  }
  // True when the element `id` is in the document (deleted or not).
  bool Contains(const Dot& id) const { return FindRun(id) != nullptr; }

  // --------------------------------------------------------- storage chunks
  // The store keeps a list as chunks of consecutive runs, one record each
  // (replication/list_store.h), so that an edit rewrites only the chunks it
  // touches. The chunks are part of the state's shape, not of its value:
  // Join, equality of values and the blob codec ignore them.

  uint64_t chunk_count() const { return tree_.chunks(); }
  // Starts (or stops) recording which chunks the mutators touch, with
  // nothing touched yet.
  void TrackChunks(bool on);
  // The chunks touched since the last call, sorted and unique; *all is set
  // when every chunk may have changed (the whole state was replaced).
  std::vector<uint64_t> TakeTouched(bool* all);
  // Cuts chunk `k` (< chunk_count()) into about `pieces` pieces of equal
  // size (value bytes plus a few bytes per run), splitting runs where
  // needed. Returns the number of pieces made (1: nothing was cut, e.g. a
  // chunk of one element); they are chunks k .. k+made-1.
  uint64_t SplitChunk(uint64_t k, uint64_t pieces);
  // Joins chunk k+1 into chunk k (k + 1 < chunk_count()).
  void MergeChunks(uint64_t k);

 private:
  friend class ListCodec;
  using ListRun = list_internal::ListRun;

  // A run carried by a delta or held until its origins are known.
  struct PendingRun {
    uint64_t len = 0;
    Dot origin_left;
    Dot origin_right;
    bool deleted = false;
    std::string values;  // value buffer; empty when deleted
  };
  // A run on its way into the document.
  struct Incoming {
    Dot id;
    PendingRun run;
  };
  using RunIndex = std::map<uint64_t, ListRun*>;  // first counter -> run
  using Ranges = std::map<uint64_t, uint64_t>;    // start -> end, disjoint

  // Local edits.
  Result<List> InsertBuffer(ReplicaId replica, uint64_t index,
                            std::string values, uint64_t n);
  Status ReserveCounters(ReplicaId replica, uint64_t n, uint64_t* first);

  // Join machinery (list_join.cc).
  bool IsPristine() const;
  void Settle();
  void Process(Incoming in);
  void Integrate(const Dot& id, PendingRun run);
  void Hold(Incoming in);
  void Wake(ReplicaId replica, uint64_t start, uint64_t end,
            std::vector<Incoming>* work);
  void DropPendingRange(ReplicaId replica, uint64_t start, uint64_t end,
                        std::vector<Incoming>* work);
  void ApplyDelete(ReplicaId replica, uint64_t start, uint64_t end);
  void ApplyPendingDeletes(ReplicaId replica, uint64_t start, uint64_t end);
  void AddPendingDelete(ReplicaId replica, uint64_t start, uint64_t end);
  void NoteCounter(ReplicaId replica, uint64_t last);

  // Run surgery (list.cc).
  ListRun* FindRun(const Dot& id) const;
  uint64_t NextKnownStart(ReplicaId replica, uint64_t counter) const;
  bool Known(const Dot& id) const {
    return id.counter == 0 || FindRun(id) != nullptr;
  }
  // Raw position of element `id`; -1 for the start (counter 0), total() for
  // an unknown id used as a right origin.
  int64_t LeftPosition(const Dot& id) const;
  int64_t RightPosition(const Dot& id) const;
  // Splits `run` before its element k (0 < k < len); returns the second part.
  ListRun* Split(ListRun* run, uint64_t k);
  // Split with the byte offset of element k in run->values given.
  ListRun* SplitAt(ListRun* run, uint64_t k, size_t at);
  // Records that `run`'s chunk changed (when tracking).
  void Touch(ListRun* run) {
    if (track_) touched_.push_back(tree_.ChunkOf(run));
  }
  void MarkDeleted(ListRun* run);
  // Merges `run` with neighbours that continue it; returns the survivor.
  ListRun* Coalesce(ListRun* run);
  static bool Continues(const ListRun* a, const ListRun* b);
  void IndexRun(ListRun* run);
  void RebuildIndex();

  // Splayed even by const reads.
  mutable list_internal::RunTree tree_;
  std::unordered_map<ReplicaId, RunIndex> index_;
  size_t run_count_ = 0;
  std::map<Dot, PendingRun> pending_;  // disjoint id ranges, keyed by start
  std::multimap<Dot, Dot> waiting_;    // missing origin -> pending run key
  std::map<ReplicaId, Ranges> pending_deletes_;    // ids not known yet
  std::unordered_map<ReplicaId, uint64_t> clock_;  // highest counter seen
  // Chunk tracking (TrackChunks); not copied.
  bool track_ = false;
  bool all_touched_ = false;
  std::vector<uint64_t> touched_;
};

}  // namespace deltakv::crdt

#endif  // DELTAKV_CRDT_LIST_H_
