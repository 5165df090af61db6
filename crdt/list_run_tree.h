// RunTree: the document order of a list CRDT as a splay tree of runs.
// Internal to crdt/list*.
//
// A ListRun is a maximal piece of consecutive ids of one replica that sit
// next to each other in the document: elements (replica, counter ..
// counter+len-1). Its first element has the origins stored in the run; every
// later element has the previous element as its left origin and shares the
// run's right origin. Every node keeps the total and the visible (not
// deleted) element count of its subtree, so the run holding a visible index,
// and the raw position of a run, are found in amortised O(log n). Splaying
// keeps the runs around the cursor near the root, which makes typing (each
// edit next to the last) close to O(1).
//
// Thread-safety: not safe for concurrent use; every lookup restructures the
// tree.
#ifndef DELTAKV_CRDT_LIST_RUN_TREE_H_
#define DELTAKV_CRDT_LIST_RUN_TREE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/ids.h"

namespace deltakv::crdt::list_internal {

struct ListRun {
  ListRun* left = nullptr;
  ListRun* right = nullptr;
  ListRun* parent = nullptr;
  uint64_t sub_all = 0;     // elements in this subtree, tombstones included
  uint64_t sub_vis = 0;     // visible elements in this subtree
  uint64_t sub_chunks = 0;  // chunk starts in this subtree

  // The run begins a storage chunk (replication/list_store.h): a chunk is a
  // flagged run and the runs after it up to the next flagged one. The first
  // run of a tree is always flagged; runs never coalesce across a flag.
  bool starts_chunk = false;

  Dot id;                // the first element
  uint64_t len = 0;      // >= 1
  Dot origin_left;       // of the first element; counter 0: list start
  Dot origin_right;      // of every element; counter 0: list end
  bool deleted = false;  // every element of the run is a tombstone
  std::string values;    // value buffer (list_values.h); empty when deleted

  uint64_t visible() const { return deleted ? 0 : len; }
  uint64_t end() const { return id.counter + len; }  // one past the last
  Dot last() const { return Dot{id.replica, id.counter + len - 1}; }
};

class RunTree {
 public:
  RunTree() = default;
  RunTree(const RunTree& other);
  RunTree& operator=(const RunTree& other);
  RunTree(RunTree&& other) noexcept;
  RunTree& operator=(RunTree&& other) noexcept;
  ~RunTree();

  bool empty() const { return root_ == nullptr; }
  uint64_t total() const { return root_ ? root_->sub_all : 0; }
  uint64_t visible() const { return root_ ? root_->sub_vis : 0; }

  // The run holding visible element `index` (< visible()), and the offset of
  // that element inside the run. Splays the run.
  ListRun* FindVisible(uint64_t index, uint64_t* offset);

  // The raw position (tombstones counted) of `run`'s first element.
  uint64_t PositionOf(ListRun* run);

  // Links `run` (a new, unlinked node) right after `prev`, or at the front
  // when `prev` is null. Takes ownership. A run linked at the front takes
  // the chunk-start flag of the run it precedes (it joins chunk 0).
  void InsertAfter(ListRun* prev, ListRun* run);
  // Links `run` right before `next`, or at the end when `next` is null.
  void InsertBefore(ListRun* next, ListRun* run);

  // Unlinks `run` and returns it; the caller owns it.
  ListRun* Unlink(ListRun* run);

  // Recomputes the counts after `run`'s len or deleted changed.
  void Refresh(ListRun* run);

  // Replaces the content with `runs` (in document order), as a balanced
  // tree, keeping their chunk flags (the first run's is set). Takes
  // ownership.
  void Assign(const std::vector<ListRun*>& runs);

  // Storage chunks (see ListRun::starts_chunk).
  uint64_t chunks() const { return root_ ? root_->sub_chunks : 0; }
  // The first run of chunk `k` (< chunks()). Splays it.
  ListRun* ChunkStart(uint64_t k);
  // The chunk `run` belongs to. Splays it.
  uint64_t ChunkOf(ListRun* run);
  // Flags or unflags `run` as a chunk start (never the first run's flag).
  void SetChunkStart(ListRun* run, bool starts);

  ListRun* First() const;
  ListRun* Last() const;
  // In-order neighbours; they do not splay (a full walk is O(n)).
  static ListRun* Next(const ListRun* run);
  static ListRun* Prev(const ListRun* run);

 private:
  static void Update(ListRun* x);
  void Rotate(ListRun* x);
  void Splay(ListRun* x);
  void Clear();

  ListRun* root_ = nullptr;
};

}  // namespace deltakv::crdt::list_internal

#endif  // DELTAKV_CRDT_LIST_RUN_TREE_H_
