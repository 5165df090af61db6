// List: local mutators, reads and run surgery. The join machinery (pending
// runs, integration, deletes of remote ids) is in list_join.cc.
#include "crdt/list.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "crdt/list_values.h"

namespace deltakv::crdt {

using list_internal::AppendValue;
using list_internal::ListRun;
using list_internal::NextValue;
using list_internal::RunTree;
using list_internal::Utf8CodePointLength;
using list_internal::ValueOffset;

List::List(const List& other)
    : tree_(other.tree_),
      run_count_(other.run_count_),
      pending_(other.pending_),
      waiting_(other.waiting_),
      pending_deletes_(other.pending_deletes_),
      clock_(other.clock_) {
  RebuildIndex();
}

List& List::operator=(const List& other) {
  if (this != &other) {
    List copy(other);
    *this = std::move(copy);
  }
  return *this;
}

List::List(List&& other) noexcept { *this = std::move(other); }

List& List::operator=(List&& other) noexcept {
  if (this != &other) {
    tree_ = std::move(other.tree_);
    index_ = std::exchange(other.index_, {});
    run_count_ = std::exchange(other.run_count_, 0);
    pending_ = std::exchange(other.pending_, {});
    waiting_ = std::exchange(other.waiting_, {});
    pending_deletes_ = std::exchange(other.pending_deletes_, {});
    clock_ = std::exchange(other.clock_, {});
    track_ = std::exchange(other.track_, false);
    all_touched_ = std::exchange(other.all_touched_, false);
    touched_ = std::exchange(other.touched_, {});
  }
  return *this;
}

size_t List::pending_delete_count() const {
  size_t n = 0;
  for (const auto& [replica, ranges] : pending_deletes_) n += ranges.size();
  return n;
}

// ------------------------------------------------------------- local edits

Status List::ReserveCounters(ReplicaId replica, uint64_t n, uint64_t* first) {
  if (!replica.valid()) return Status::InvalidArgument("replica id 0");
  const auto it = clock_.find(replica);
  const uint64_t last = it == clock_.end() ? 0 : it->second;
  if (n > kMaxCounter - 1 - last) {
    return Status::TooLarge("list: replica counters exhausted");
  }
  *first = last + 1;
  return Status::OK();
}

Result<List> List::Insert(ReplicaId replica, uint64_t index,
                          const std::vector<std::string>& values) {
  std::string buffer;
  size_t bytes = 0;
  for (const std::string& v : values) bytes += v.size() + 1;
  buffer.reserve(bytes);
  for (const std::string& v : values) AppendValue(&buffer, v);
  return InsertBuffer(replica, index, std::move(buffer), values.size());
}

Result<List> List::InsertText(ReplicaId replica, uint64_t index,
                              std::string_view text) {
  std::string buffer;
  buffer.reserve(text.size() * 2);
  uint64_t n = 0;
  for (size_t pos = 0; pos < text.size(); ++n) {
    const size_t len = Utf8CodePointLength(text, pos);
    if (len == 0) return Status::InvalidArgument("list: text is not UTF-8");
    buffer.push_back(static_cast<char>(len));
    buffer.append(text.substr(pos, len));
    pos += len;
  }
  return InsertBuffer(replica, index, std::move(buffer), n);
}

Result<List> List::InsertBuffer(ReplicaId replica, uint64_t index,
                                std::string values, uint64_t n) {
  if (index > size()) {
    return Status::InvalidArgument("list: insert index " +
                                   std::to_string(index) + " past length " +
                                   std::to_string(size()));
  }
  uint64_t first = 0;
  DELTAKV_RETURN_IF_ERROR(ReserveCounters(replica, n, &first));
  List delta;
  if (n == 0) return delta;

  // The origins are the raw neighbours of the gap: the element before the
  // index-th visible one (possibly a tombstone) and that visible element.
  ListRun* next = nullptr;
  ListRun* prev = nullptr;
  if (index < size()) {
    uint64_t offset = 0;
    next = tree_.FindVisible(index, &offset);
    if (offset > 0) next = Split(next, offset);
    prev = RunTree::Prev(next);
  } else {
    prev = tree_.Last();
  }
  const Dot origin_left = prev != nullptr ? prev->last() : Dot{};
  const Dot origin_right = next != nullptr ? next->id : Dot{};
  clock_[replica] = first + n - 1;

  PendingRun carried{n, origin_left, origin_right, false, values};
  delta.pending_.emplace(Dot{replica, first}, std::move(carried));
  delta.clock_[replica] = first + n - 1;

  if (prev != nullptr && prev->id.replica == replica && prev->end() == first &&
      !prev->deleted && prev->origin_right == origin_right) {
    // Typing on: the new values continue the run before them.
    prev->len += n;
    prev->values.append(values);
    tree_.Refresh(prev);
    Touch(prev);
    return delta;
  }
  auto* run = new ListRun;
  run->id = Dot{replica, first};
  run->len = n;
  run->origin_left = origin_left;
  run->origin_right = origin_right;
  run->values = std::move(values);
  tree_.InsertBefore(next, run);
  IndexRun(run);
  Touch(run);
  return delta;
}

Result<List> List::Delete(uint64_t index, uint64_t count) {
  if (index > size() || count > size() - index) {
    return Status::InvalidArgument("list: delete of " + std::to_string(count) +
                                   " at " + std::to_string(index) +
                                   " past length " + std::to_string(size()));
  }
  List delta;
  uint64_t remaining = count;
  while (remaining > 0) {
    // The element now at `index` is the next one to delete.
    uint64_t offset = 0;
    ListRun* run = tree_.FindVisible(index, &offset);
    if (offset > 0) run = Split(run, offset);
    if (run->len > remaining) Split(run, remaining);
    delta.AddPendingDelete(run->id.replica, run->id.counter, run->end());
    remaining -= run->len;
    MarkDeleted(run);
    Touch(run);
    Coalesce(run);
  }
  return delta;
}

List List::Clear() {
  Result<List> visible = Delete(0, size());
  List delta = visible.ok() ? std::move(visible).value() : List();
  for (auto& [id, run] : pending_) {
    if (run.deleted) continue;
    delta.AddPendingDelete(id.replica, id.counter, id.counter + run.len);
    run.deleted = true;
    run.values.clear();
  }
  return delta;
}

// ------------------------------------------------------------------- reads

Result<std::vector<std::string>> List::Read(uint64_t index,
                                            uint64_t count) const {
  if (index > size()) {
    return Status::InvalidArgument("list: read index " + std::to_string(index) +
                                   " past length " + std::to_string(size()));
  }
  count = std::min(count, size() - index);
  std::vector<std::string> out;
  out.reserve(count);
  if (count == 0) return out;
  uint64_t offset = 0;
  ListRun* run = tree_.FindVisible(index, &offset);
  size_t pos = ValueOffset(run->values, offset);
  while (out.size() < count) {
    if (pos >= run->values.size()) {
      do {
        run = RunTree::Next(run);
      } while (run->deleted);
      pos = 0;
      continue;
    }
    out.emplace_back(NextValue(run->values, &pos));
  }
  return out;
}

std::vector<std::string> List::Values() const {
  std::vector<std::string> out;
  out.reserve(size());
  for (ListRun* run = tree_.First(); run != nullptr; run = RunTree::Next(run)) {
    for (size_t pos = 0; pos < run->values.size();) {
      out.emplace_back(NextValue(run->values, &pos));
    }
  }
  return out;
}

std::string List::Text() const {
  std::string out;
  for (ListRun* run = tree_.First(); run != nullptr; run = RunTree::Next(run)) {
    for (size_t pos = 0; pos < run->values.size();) {
      out.append(NextValue(run->values, &pos));
    }
  }
  return out;
}

// -------------------------------------------------------------- run surgery

ListRun* List::FindRun(const Dot& id) const {
  const auto idx = index_.find(id.replica);
  if (idx == index_.end()) return nullptr;
  auto it = idx->second.upper_bound(id.counter);
  if (it == idx->second.begin()) return nullptr;
  --it;
  return id.counter < it->second->end() ? it->second : nullptr;
}

uint64_t List::NextKnownStart(ReplicaId replica, uint64_t counter) const {
  const auto idx = index_.find(replica);
  if (idx == index_.end()) return UINT64_MAX;
  const auto it = idx->second.upper_bound(counter);
  return it == idx->second.end() ? UINT64_MAX : it->first;
}

int64_t List::LeftPosition(const Dot& id) const {
  if (id.counter == 0) return -1;
  ListRun* run = FindRun(id);
  if (run == nullptr) return -1;  // not reached: origins are known
  return static_cast<int64_t>(tree_.PositionOf(run) +
                              (id.counter - run->id.counter));
}

int64_t List::RightPosition(const Dot& id) const {
  ListRun* run = id.counter == 0 ? nullptr : FindRun(id);
  if (run == nullptr) return static_cast<int64_t>(tree_.total());
  return static_cast<int64_t>(tree_.PositionOf(run) +
                              (id.counter - run->id.counter));
}

ListRun* List::Split(ListRun* run, uint64_t k) {
  return SplitAt(run, k, run->deleted ? 0 : ValueOffset(run->values, k));
}

ListRun* List::SplitAt(ListRun* run, uint64_t k, size_t at) {
  assert(k > 0 && k < run->len);
  auto* second = new ListRun;
  second->id = Dot{run->id.replica, run->id.counter + k};
  second->len = run->len - k;
  second->origin_left = Dot{run->id.replica, run->id.counter + k - 1};
  second->origin_right = run->origin_right;
  second->deleted = run->deleted;
  if (!run->deleted) {
    second->values.assign(run->values, at);
    run->values.resize(at);
  }
  run->len = k;
  tree_.InsertAfter(run, second);
  IndexRun(second);
  return second;
}

void List::MarkDeleted(ListRun* run) {
  run->deleted = true;
  std::string().swap(run->values);
  tree_.Refresh(run);
}

bool List::Continues(const ListRun* a, const ListRun* b) {
  return a->id.replica == b->id.replica && a->end() == b->id.counter &&
         b->origin_left == a->last() && a->origin_right == b->origin_right &&
         a->deleted == b->deleted;
}

ListRun* List::Coalesce(ListRun* run) {
  for (int side = 0; side < 2; ++side) {
    ListRun* a = side == 0 ? RunTree::Prev(run) : run;
    ListRun* b = side == 0 ? run : RunTree::Next(run);
    // Chunks keep their runs: a run never spans two chunks.
    if (a == nullptr || b == nullptr || b->starts_chunk || !Continues(a, b)) {
      continue;
    }
    tree_.Unlink(b);
    index_[b->id.replica].erase(b->id.counter);
    a->len += b->len;
    a->values.append(b->values);
    delete b;
    --run_count_;
    tree_.Refresh(a);
    run = a;
  }
  return run;
}

// ---------------------------------------------------------- storage chunks

void List::TrackChunks(bool on) {
  track_ = on;
  all_touched_ = false;
  touched_.clear();
}

std::vector<uint64_t> List::TakeTouched(bool* all) {
  *all = all_touched_;
  all_touched_ = false;
  std::vector<uint64_t> out = std::exchange(touched_, {});
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

uint64_t List::SplitChunk(uint64_t k, uint64_t pieces) {
  assert(k < chunk_count());
  if (pieces < 2) return 1;
  // Where the pieces start: (run, element in it, byte offset in its values).
  struct Cut {
    ListRun* run;
    uint64_t element;
    size_t at;
  };
  std::vector<Cut> cuts;
  ListRun* first = tree_.ChunkStart(k);
  const auto in_chunk = [first](const ListRun* r) {
    return r != nullptr && (r == first || !r->starts_chunk);
  };
  constexpr size_t kRecordBytes = 8;  // a run record, roughly
  // The size to cut at: the chunk's estimated size over `pieces`, so that
  // errors of the estimate change the proportions, not whether it is cut.
  size_t estimate = 0;
  for (ListRun* r = first; in_chunk(r); r = RunTree::Next(r)) {
    estimate += kRecordBytes + r->values.size();
  }
  const size_t target_bytes =
      std::max<size_t>(1, (estimate + pieces - 1) / pieces);
  size_t filled = 0;  // estimated bytes of the current piece
  for (ListRun* r = first; in_chunk(r); r = RunTree::Next(r)) {
    if (r != first && filled >= target_bytes) {
      cuts.push_back(Cut{r, 0, 0});
      filled = 0;
    }
    filled += kRecordBytes;
    if (r->deleted) continue;
    // Cut inside the run where its values pass the target.
    if (filled + r->values.size() < target_bytes) {
      filled += r->values.size();
      continue;
    }
    uint64_t element = 0;
    for (size_t pos = 0; pos < r->values.size();) {
      if (filled >= target_bytes && element > 0) {
        cuts.push_back(Cut{r, element, pos});
        filled = 0;
      }
      const size_t before = pos;
      NextValue(r->values, &pos);
      filled += pos - before;
      ++element;
    }
  }
  // From the last cut back, so that each split copies only its tail.
  for (auto it = cuts.rbegin(); it != cuts.rend(); ++it) {
    ListRun* start =
        it->element == 0 ? it->run : SplitAt(it->run, it->element, it->at);
    tree_.SetChunkStart(start, true);
  }
  return cuts.size() + 1;
}

void List::MergeChunks(uint64_t k) {
  assert(k + 1 < chunk_count());
  tree_.SetChunkStart(tree_.ChunkStart(k + 1), false);
}

void List::IndexRun(ListRun* run) {
  index_[run->id.replica].emplace(run->id.counter, run);
  ++run_count_;
}

void List::RebuildIndex() {
  index_.clear();
  run_count_ = 0;
  for (ListRun* run = tree_.First(); run != nullptr; run = RunTree::Next(run)) {
    IndexRun(run);
  }
}

}  // namespace deltakv::crdt
