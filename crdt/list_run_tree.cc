#include "crdt/list_run_tree.h"

#include <cassert>
#include <utility>

namespace deltakv::crdt::list_internal {

namespace {

// Builds a balanced subtree of runs[lo, hi) and returns its root.
ListRun* Build(const std::vector<ListRun*>& runs, size_t lo, size_t hi,
               ListRun* parent) {
  if (lo >= hi) return nullptr;
  const size_t mid = lo + (hi - lo) / 2;
  ListRun* x = runs[mid];
  x->parent = parent;
  x->left = Build(runs, lo, mid, x);
  x->right = Build(runs, mid + 1, hi, x);
  x->sub_all = x->len + (x->left ? x->left->sub_all : 0) +
               (x->right ? x->right->sub_all : 0);
  x->sub_vis = x->visible() + (x->left ? x->left->sub_vis : 0) +
               (x->right ? x->right->sub_vis : 0);
  x->sub_chunks = (x->starts_chunk ? 1 : 0) +
                  (x->left ? x->left->sub_chunks : 0) +
                  (x->right ? x->right->sub_chunks : 0);
  return x;
}

}  // namespace

RunTree::RunTree(const RunTree& other) {
  std::vector<ListRun*> copies;
  for (ListRun* r = other.First(); r != nullptr; r = Next(r)) {
    auto* c = new ListRun(*r);
    c->left = c->right = c->parent = nullptr;
    copies.push_back(c);
  }
  Assign(copies);
}

RunTree& RunTree::operator=(const RunTree& other) {
  if (this != &other) {
    RunTree copy(other);
    *this = std::move(copy);
  }
  return *this;
}

RunTree::RunTree(RunTree&& other) noexcept
    : root_(std::exchange(other.root_, nullptr)) {}

RunTree& RunTree::operator=(RunTree&& other) noexcept {
  if (this != &other) {
    Clear();
    root_ = std::exchange(other.root_, nullptr);
  }
  return *this;
}

RunTree::~RunTree() { Clear(); }

void RunTree::Clear() {
  // Rotates left children up so that no recursion (a splay tree can be a
  // path) and no extra memory is needed.
  ListRun* x = root_;
  while (x != nullptr) {
    if (x->left != nullptr) {
      ListRun* l = x->left;
      x->left = l->right;
      l->right = x;
      x = l;
    } else {
      ListRun* r = x->right;
      delete x;
      x = r;
    }
  }
  root_ = nullptr;
}

void RunTree::Assign(const std::vector<ListRun*>& runs) {
  Clear();
  if (!runs.empty()) runs.front()->starts_chunk = true;
  root_ = Build(runs, 0, runs.size(), nullptr);
}

void RunTree::Update(ListRun* x) {
  uint64_t all = x->len;
  uint64_t vis = x->visible();
  uint64_t chunks = x->starts_chunk ? 1 : 0;
  if (x->left != nullptr) {
    all += x->left->sub_all;
    vis += x->left->sub_vis;
    chunks += x->left->sub_chunks;
  }
  if (x->right != nullptr) {
    all += x->right->sub_all;
    vis += x->right->sub_vis;
    chunks += x->right->sub_chunks;
  }
  x->sub_all = all;
  x->sub_vis = vis;
  x->sub_chunks = chunks;
}

void RunTree::Rotate(ListRun* x) {
  ListRun* p = x->parent;
  ListRun* g = p->parent;
  if (p->left == x) {
    p->left = x->right;
    if (x->right != nullptr) x->right->parent = p;
    x->right = p;
  } else {
    p->right = x->left;
    if (x->left != nullptr) x->left->parent = p;
    x->left = p;
  }
  p->parent = x;
  x->parent = g;
  if (g != nullptr) {
    if (g->left == p) {
      g->left = x;
    } else {
      g->right = x;
    }
  }
  Update(p);
  Update(x);
}

void RunTree::Splay(ListRun* x) {
  while (x->parent != nullptr) {
    ListRun* p = x->parent;
    ListRun* g = p->parent;
    if (g != nullptr) {
      Rotate((g->left == p) == (p->left == x) ? p : x);
    }
    Rotate(x);
  }
  root_ = x;
}

ListRun* RunTree::FindVisible(uint64_t index, uint64_t* offset) {
  assert(index < visible());
  ListRun* x = root_;
  while (true) {
    const uint64_t lv = x->left != nullptr ? x->left->sub_vis : 0;
    if (index < lv) {
      x = x->left;
      continue;
    }
    index -= lv;
    if (index < x->visible()) break;
    index -= x->visible();
    x = x->right;
  }
  Splay(x);
  *offset = index;
  return x;
}

uint64_t RunTree::PositionOf(ListRun* run) {
  Splay(run);
  return run->left != nullptr ? run->left->sub_all : 0;
}

ListRun* RunTree::ChunkStart(uint64_t k) {
  assert(k < chunks());
  ListRun* x = root_;
  while (true) {
    const uint64_t lc = x->left != nullptr ? x->left->sub_chunks : 0;
    if (k < lc) {
      x = x->left;
      continue;
    }
    k -= lc;
    if (x->starts_chunk) {
      if (k == 0) break;
      --k;
    }
    x = x->right;
  }
  Splay(x);
  return x;
}

uint64_t RunTree::ChunkOf(ListRun* run) {
  Splay(run);
  const uint64_t before = run->left != nullptr ? run->left->sub_chunks : 0;
  return before + (run->starts_chunk ? 1 : 0) - 1;
}

void RunTree::SetChunkStart(ListRun* run, bool starts) {
  run->starts_chunk = starts;
  Refresh(run);
}

void RunTree::InsertAfter(ListRun* prev, ListRun* run) {
  run->left = run->right = run->parent = nullptr;
  if (prev == nullptr) {
    ListRun* old_first = First();
    run->starts_chunk = true;
    if (old_first != nullptr && old_first->starts_chunk) {
      old_first->starts_chunk = false;
      Refresh(old_first);
    }
    run->right = root_;
    if (root_ != nullptr) root_->parent = run;
    Update(run);
    root_ = run;
    return;
  }
  Splay(prev);
  run->starts_chunk = false;
  run->right = prev->right;
  if (run->right != nullptr) run->right->parent = run;
  prev->right = run;
  run->parent = prev;
  Update(run);
  Update(prev);
}

void RunTree::InsertBefore(ListRun* next, ListRun* run) {
  run->left = run->right = run->parent = nullptr;
  if (next == nullptr) {
    run->starts_chunk = root_ == nullptr;
    run->left = root_;
    if (root_ != nullptr) root_->parent = run;
    Update(run);
    root_ = run;
    return;
  }
  Splay(next);
  run->starts_chunk = false;
  if (next->left == nullptr) {
    // The new front run joins chunk 0.
    run->starts_chunk = true;
    next->starts_chunk = false;
  }
  run->left = next->left;
  if (run->left != nullptr) run->left->parent = run;
  next->left = run;
  run->parent = next;
  Update(run);
  Update(next);
}

ListRun* RunTree::Unlink(ListRun* run) {
  Splay(run);
  ListRun* l = run->left;
  ListRun* r = run->right;
  if (l != nullptr) l->parent = nullptr;
  if (r != nullptr) r->parent = nullptr;
  if (l == nullptr) {
    root_ = r;
  } else {
    ListRun* m = l;
    while (m->right != nullptr) m = m->right;
    Splay(m);  // root of the detached left subtree; sets root_ = m
    m->right = r;
    if (r != nullptr) r->parent = m;
    Update(m);
  }
  run->left = run->right = run->parent = nullptr;
  return run;
}

void RunTree::Refresh(ListRun* run) {
  Splay(run);
  Update(run);
}

ListRun* RunTree::First() const {
  ListRun* x = root_;
  if (x == nullptr) return nullptr;
  while (x->left != nullptr) x = x->left;
  return x;
}

ListRun* RunTree::Last() const {
  ListRun* x = root_;
  if (x == nullptr) return nullptr;
  while (x->right != nullptr) x = x->right;
  return x;
}

ListRun* RunTree::Next(const ListRun* run) {
  if (run->right != nullptr) {
    ListRun* x = run->right;
    while (x->left != nullptr) x = x->left;
    return x;
  }
  while (run->parent != nullptr && run->parent->right == run) {
    run = run->parent;
  }
  return run->parent;
}

ListRun* RunTree::Prev(const ListRun* run) {
  if (run->left != nullptr) {
    ListRun* x = run->left;
    while (x->right != nullptr) x = x->right;
    return x;
  }
  while (run->parent != nullptr && run->parent->left == run) {
    run = run->parent;
  }
  return run->parent;
}

}  // namespace deltakv::crdt::list_internal
