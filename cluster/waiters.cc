#include "cluster/waiters.h"

#include <vector>

namespace deltakv::cluster {

Waiters::Waiters(std::function<Levels()> read, size_t max_parked)
    : read_(std::move(read)),
      max_parked_(max_parked),
      thread_([this] { DeadlineLoop(); }) {}

size_t Waiters::parked() const {
  std::lock_guard<std::mutex> l(mu_);
  return entries_.size();
}

Waiters::~Waiters() {
  std::vector<Done> left;
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    for (auto& [id, e] : entries_) left.push_back(std::move(e.done));
    entries_.clear();
    index_.clear();
    deadlines_.clear();
  }
  cv_.notify_all();
  thread_.join();
  for (Done& d : left) d(Outcome::kCancelled);
}

void Waiters::IndexLocked(uint64_t id, Entry* e) {
  e->at = index_[e->level.name].emplace(e->level.at, id);
}

void Waiters::UnindexLocked(const Entry& e) {
  auto it = index_.find(e.level.name);
  if (it == index_.end()) return;
  it->second.erase(e.at);
  if (it->second.empty()) index_.erase(it);
}

uint64_t Waiters::Wait(Check check, std::chrono::milliseconds timeout,
                       Done done) {
  Outcome now;
  uint64_t id;
  {
    // Checked under the lock Notify holds while it reads the levels and
    // wakes waiters: a commit between this check and parking cannot be
    // missed.
    std::lock_guard<std::mutex> l(mu_);
    id = next_id_++;
    if (stop_) {
      now = Outcome::kCancelled;
    } else if (auto level = check(read_())) {
      if (entries_.size() >= max_parked_) return 0;
      Entry& e = entries_[id];
      e.check = std::move(check);
      e.done = std::move(done);
      e.level = std::move(*level);
      IndexLocked(id, &e);
      e.deadline =
          deadlines_.emplace(std::chrono::steady_clock::now() + timeout, id);
      if (e.deadline == deadlines_.begin()) cv_.notify_all();
      return id;
    } else {
      now = Outcome::kReady;
    }
  }
  done(now);
  return id;
}

void Waiters::Cancel(uint64_t id) {
  Done done;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    UnindexLocked(it->second);
    deadlines_.erase(it->second.deadline);
    done = std::move(it->second.done);
    entries_.erase(it);
  }
  done(Outcome::kCancelled);
}

void Waiters::Notify() {
  std::vector<Done> ready;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (entries_.empty()) return;
    const Levels levels = read_();
    // Every waiter whose level is reached, by name: O(names + woken).
    std::vector<uint64_t> woken;
    for (auto name = index_.begin(); name != index_.end();) {
      auto have = levels.find(name->first);
      const uint64_t level = have == levels.end() ? 0 : have->second;
      auto& by_at = name->second;
      auto end = by_at.upper_bound(level);
      for (auto it = by_at.begin(); it != end; ++it)
        woken.push_back(it->second);
      by_at.erase(by_at.begin(), end);
      name = by_at.empty() ? index_.erase(name) : std::next(name);
    }
    // A woken condition may wait for a further level (a token naming
    // several origins): index it again, else it is done.
    for (uint64_t id : woken) {
      auto it = entries_.find(id);
      Entry& e = it->second;
      if (auto next = e.check(levels)) {
        e.level = std::move(*next);
        IndexLocked(id, &e);
        continue;
      }
      deadlines_.erase(e.deadline);
      ready.push_back(std::move(e.done));
      entries_.erase(it);
    }
  }
  for (Done& d : ready) d(Outcome::kReady);
}

void Waiters::DeadlineLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    if (deadlines_.empty()) {
      cv_.wait(l);
    } else {
      // A copy: the node may be erased while this thread waits.
      const auto until = deadlines_.begin()->first;
      cv_.wait_until(l, until);
    }
    const auto now = std::chrono::steady_clock::now();
    std::vector<Done> expired;
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      auto it = entries_.find(deadlines_.begin()->second);
      deadlines_.erase(deadlines_.begin());
      UnindexLocked(it->second);
      expired.push_back(std::move(it->second.done));
      entries_.erase(it);
    }
    if (!expired.empty()) {
      l.unlock();
      for (Done& d : expired) d(Outcome::kTimeout);
      l.lock();
    }
  }
}

}  // namespace deltakv::cluster
