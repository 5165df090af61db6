// List: the join machinery. Incoming runs (from a delta or a state) are cut
// into the parts this list does not know yet; a part whose origins are known
// is placed by the FugueMax rule (Integrate), otherwise it is held in
// pending_ and woken when the missing origin arrives. Deletes of unknown ids
// are held in pending_deletes_ and applied when the ids arrive.
#include <algorithm>
#include <cassert>
#include <utility>

#include "crdt/list.h"
#include "crdt/list_values.h"

namespace deltakv::crdt {

using list_internal::ListRun;
using list_internal::RunTree;
using list_internal::ValueOffset;

namespace {

// The values of elements [from, to) of a run whose buffer starts at element
// 0; empty for a deleted run (it has no values).
std::string Slice(const std::string& values, bool deleted, uint64_t from,
                  uint64_t to) {
  if (deleted) return {};
  const size_t a = ValueOffset(values, from);
  const size_t b =
      a + ValueOffset(std::string_view(values).substr(a), to - from);
  return values.substr(a, b - a);
}

}  // namespace

bool List::IsPristine() const {
  return tree_.empty() && pending_.empty() && pending_deletes_.empty();
}

void List::Join(const List& other) {
  if (this == &other) return;
  if (IsPristine()) {
    const bool track = track_;
    *this = other;
    TrackChunks(track);
    all_touched_ = track;  // every chunk is new
    Settle();
    return;
  }
  std::vector<Incoming> incoming;
  incoming.reserve(other.run_count_ + other.pending_.size());
  for (ListRun* r = other.tree_.First(); r != nullptr; r = RunTree::Next(r)) {
    incoming.push_back(
        Incoming{r->id, PendingRun{r->len, r->origin_left, r->origin_right,
                                   r->deleted, r->values}});
  }
  for (const auto& [id, run] : other.pending_) {
    incoming.push_back(Incoming{id, run});
  }
  // Id order is a causal order for the runs of one replica, so a state
  // built by few replicas integrates with few runs held on the way.
  std::sort(incoming.begin(), incoming.end(),
            [](const Incoming& a, const Incoming& b) { return a.id < b.id; });
  std::vector<Incoming> deleted;
  for (Incoming& in : incoming) {
    if (in.run.deleted) {
      deleted.push_back(
          Incoming{in.id, PendingRun{in.run.len, {}, {}, true, {}}});
    }
    Process(std::move(in));
  }
  for (const Incoming& d : deleted) {
    ApplyDelete(d.id.replica, d.id.counter, d.id.counter + d.run.len);
  }
  for (const auto& [replica, ranges] : other.pending_deletes_) {
    for (const auto& [start, end] : ranges) ApplyDelete(replica, start, end);
  }
}

void List::Join(List&& other) {
  if (this == &other) return;
  if (IsPristine()) {
    const bool track = track_;
    *this = std::move(other);
    TrackChunks(track);
    all_touched_ = track;  // every chunk is new
    Settle();
    return;
  }
  Join(static_cast<const List&>(other));
}

void List::Settle() {
  if (!has_pending()) return;
  std::map<Dot, PendingRun> held = std::move(pending_);
  pending_.clear();
  waiting_.clear();
  for (auto& [id, run] : held) Process(Incoming{id, std::move(run)});
  std::map<ReplicaId, Ranges> deletes = std::move(pending_deletes_);
  pending_deletes_.clear();
  for (const auto& [replica, ranges] : deletes) {
    for (const auto& [start, end] : ranges) ApplyDelete(replica, start, end);
  }
}

void List::NoteCounter(ReplicaId replica, uint64_t last) {
  uint64_t& c = clock_[replica];
  c = std::max(c, last);
}

void List::Process(Incoming first) {
  std::vector<Incoming> work;
  work.push_back(std::move(first));
  while (!work.empty()) {
    Incoming in = std::move(work.back());
    work.pop_back();
    const ReplicaId r = in.id.replica;
    const uint64_t start = in.id.counter;
    const uint64_t end = start + in.run.len;
    NoteCounter(r, end - 1);
    uint64_t c = start;
    while (c < end) {
      if (const ListRun* known = FindRun(Dot{r, c})) {
        c = std::min(end, known->end());
        continue;
      }
      const uint64_t part_end = std::min(end, NextKnownStart(r, c));
      const Dot origin_left = c == start ? in.run.origin_left : Dot{r, c - 1};
      Dot missing;
      if (!Known(origin_left)) {
        missing = origin_left;
      } else if (!Known(in.run.origin_right)) {
        missing = in.run.origin_right;
      }
      if (missing.counter != 0) {
        Hold(Incoming{Dot{r, c}, PendingRun{end - c, origin_left,
                                            in.run.origin_right, in.run.deleted,
                                            Slice(in.run.values, in.run.deleted,
                                                  c - start, end - start)}});
        break;
      }
      Integrate(Dot{r, c}, PendingRun{part_end - c, origin_left,
                                      in.run.origin_right, in.run.deleted,
                                      Slice(in.run.values, in.run.deleted,
                                            c - start, part_end - start)});
      if (!pending_deletes_.empty()) ApplyPendingDeletes(r, c, part_end);
      if (!pending_.empty()) {
        DropPendingRange(r, c, part_end, &work);
        Wake(r, c, part_end, &work);
      }
      c = part_end;
    }
  }
}

void List::Hold(Incoming in) {
  const ReplicaId r = in.id.replica;
  const uint64_t start = in.id.counter;
  const uint64_t end = start + in.run.len;
  uint64_t c = start;
  while (c < end) {
    // Skip what is held already (a duplicate delta).
    auto it = pending_.upper_bound(Dot{r, c});
    if (it != pending_.begin()) {
      auto prev = std::prev(it);
      if (prev->first.replica == r &&
          c < prev->first.counter + prev->second.len) {
        c = prev->first.counter + prev->second.len;
        continue;
      }
    }
    uint64_t part_end = end;
    if (it != pending_.end() && it->first.replica == r) {
      part_end = std::min(end, it->first.counter);
    }
    const Dot origin_left = c == start ? in.run.origin_left : Dot{r, c - 1};
    const Dot wait_for =
        !Known(origin_left) ? origin_left : in.run.origin_right;
    pending_.emplace(Dot{r, c}, PendingRun{part_end - c, origin_left,
                                           in.run.origin_right, in.run.deleted,
                                           Slice(in.run.values, in.run.deleted,
                                                 c - start, part_end - start)});
    waiting_.emplace(wait_for, Dot{r, c});
    c = part_end;
  }
}

void List::Wake(ReplicaId replica, uint64_t start, uint64_t end,
                std::vector<Incoming>* work) {
  const auto lo = waiting_.lower_bound(Dot{replica, start});
  const auto hi = waiting_.lower_bound(Dot{replica, end});
  std::vector<Dot> keys;
  for (auto it = lo; it != hi; ++it) keys.push_back(it->second);
  waiting_.erase(lo, hi);
  for (const Dot& key : keys) {
    const auto it = pending_.find(key);
    if (it == pending_.end()) continue;  // integrated or re-cut meanwhile
    work->push_back(Incoming{key, std::move(it->second)});
    pending_.erase(it);
  }
}

void List::DropPendingRange(ReplicaId replica, uint64_t start, uint64_t end,
                            std::vector<Incoming>* work) {
  // Held runs overlapping ids that just became known are cut; the parts
  // outside go back to the work list (their origins may be known now).
  std::vector<Incoming> cut;
  auto it = pending_.upper_bound(Dot{replica, start});
  if (it != pending_.begin()) --it;
  while (it != pending_.end() && it->first.replica == replica &&
         it->first.counter < end) {
    const uint64_t s = it->first.counter;
    const uint64_t e = s + it->second.len;
    if (e <= start) {
      ++it;
      continue;
    }
    cut.push_back(Incoming{it->first, std::move(it->second)});
    it = pending_.erase(it);
  }
  for (Incoming& in : cut) {
    const uint64_t s = in.id.counter;
    const uint64_t e = s + in.run.len;
    if (s < start) {
      work->push_back(Incoming{
          in.id,
          PendingRun{start - s, in.run.origin_left, in.run.origin_right,
                     in.run.deleted,
                     Slice(in.run.values, in.run.deleted, 0, start - s)}});
    }
    if (e > end) {
      work->push_back(Incoming{
          Dot{replica, end},
          PendingRun{e - end, Dot{replica, end - 1}, in.run.origin_right,
                     in.run.deleted,
                     Slice(in.run.values, in.run.deleted, end - s, e - s)}});
    }
  }
}

// FugueMax placement (the YjsMod rule of reference-crdts): start right after
// the left origin and scan the runs up to the right origin. A run whose left
// origin lies before ours ends the scan; one with the same left origin is
// ordered by its right origin (further right first), then by replica id.
void List::Integrate(const Dot& id, PendingRun run) {
  ListRun* left = nullptr;
  int64_t left_pos = -1;
  if (run.origin_left.counter != 0) {
    left = FindRun(run.origin_left);
    if (run.origin_left.counter + 1 < left->end()) {
      Split(left, run.origin_left.counter + 1 - left->id.counter);
    }
    left_pos = LeftPosition(run.origin_left);
  }
  ListRun* right = nullptr;
  if (run.origin_right.counter != 0) {
    right = FindRun(run.origin_right);
    if (run.origin_right.counter > right->id.counter) {
      right = Split(right, run.origin_right.counter - right->id.counter);
    }
  }
  const int64_t right_pos = RightPosition(run.origin_right);

  ListRun* cur = left != nullptr ? RunTree::Next(left) : tree_.First();
  ListRun* dest = cur;
  bool scanning = false;
  while (true) {
    if (!scanning) dest = cur;
    if (cur == nullptr || cur == right) break;
    const int64_t other_left = LeftPosition(cur->origin_left);
    if (other_left < left_pos) break;
    if (other_left == left_pos) {
      const int64_t other_right = RightPosition(cur->origin_right);
      if (other_right < right_pos) {
        scanning = true;
      } else if (other_right == right_pos) {
        if (id.replica < cur->id.replica) break;
        scanning = false;
      } else {
        scanning = false;
      }
    }
    cur = RunTree::Next(cur);
  }

  auto* node = new ListRun;
  node->id = id;
  node->len = run.len;
  node->origin_left = run.origin_left;
  node->origin_right = run.origin_right;
  node->deleted = run.deleted;
  node->values = std::move(run.values);
  tree_.InsertBefore(dest, node);
  IndexRun(node);
  Touch(node);
  Coalesce(node);
}

// ------------------------------------------------------------------ deletes

void List::ApplyDelete(ReplicaId replica, uint64_t start, uint64_t end) {
  uint64_t c = start;
  while (c < end) {
    ListRun* run = FindRun(Dot{replica, c});
    if (run == nullptr) {
      const uint64_t gap_end = std::min(end, NextKnownStart(replica, c));
      AddPendingDelete(replica, c, gap_end);
      NoteCounter(replica, gap_end - 1);
      c = gap_end;
      continue;
    }
    if (run->deleted) {
      c = run->end();
      continue;
    }
    if (c > run->id.counter) run = Split(run, c - run->id.counter);
    if (run->len > end - c) Split(run, end - c);
    c = run->end();
    MarkDeleted(run);
    Touch(run);
    Coalesce(run);
  }
}

void List::ApplyPendingDeletes(ReplicaId replica, uint64_t start,
                               uint64_t end) {
  const auto found = pending_deletes_.find(replica);
  if (found == pending_deletes_.end()) return;
  Ranges& ranges = found->second;
  std::vector<std::pair<uint64_t, uint64_t>> now;
  auto it = ranges.upper_bound(start);
  if (it != ranges.begin()) --it;
  while (it != ranges.end() && it->first < end) {
    const uint64_t s = it->first;
    const uint64_t e = it->second;
    if (e <= start) {
      ++it;
      continue;
    }
    it = ranges.erase(it);
    if (s < start) ranges.emplace(s, start);
    if (e > end) ranges.emplace(end, e);
    now.emplace_back(std::max(s, start), std::min(e, end));
  }
  if (ranges.empty()) pending_deletes_.erase(found);
  for (const auto& [s, e] : now) ApplyDelete(replica, s, e);
}

void List::AddPendingDelete(ReplicaId replica, uint64_t start, uint64_t end) {
  Ranges& ranges = pending_deletes_[replica];
  auto it = ranges.upper_bound(start);
  if (it != ranges.begin() && std::prev(it)->second >= start) {
    --it;
    start = it->first;
    end = std::max(end, it->second);
    it = ranges.erase(it);
  }
  while (it != ranges.end() && it->first <= end) {
    end = std::max(end, it->second);
    it = ranges.erase(it);
  }
  ranges.emplace(start, end);
}

}  // namespace deltakv::crdt
