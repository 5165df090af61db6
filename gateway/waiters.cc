#include "gateway/waiters.h"

#include <vector>

namespace deltakv::gateway {

Waiters::Waiters(size_t max_parked)
    : max_parked_(max_parked), thread_([this] { DeadlineLoop(); }) {}

size_t Waiters::parked() const {
  std::lock_guard<std::mutex> l(mu_);
  return entries_.size();
}

Waiters::~Waiters() {
  std::list<Entry> left;
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    left.swap(entries_);
  }
  cv_.notify_all();
  thread_.join();
  for (Entry& e : left) e.done(false);
}

bool Waiters::Wait(Check check, std::chrono::milliseconds timeout, Done done) {
  if (check()) {
    done(true);
    return true;
  }
  bool ready = false, stopped = false;
  {
    // Checked again under the lock Notify holds while it checks: a commit
    // between the first check and parking cannot be missed.
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) {
      stopped = true;
    } else if (check()) {
      ready = true;
    } else if (entries_.size() >= max_parked_) {
      return false;
    } else {
      entries_.push_back(Entry{std::move(check), std::move(done),
                               std::chrono::steady_clock::now() + timeout});
      cv_.notify_all();
      return true;
    }
  }
  if (ready) done(true);
  if (stopped) done(false);
  return true;
}

void Waiters::Notify() {
  std::vector<Done> ready;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->check()) {
        ready.push_back(std::move(it->done));
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Done& d : ready) d(true);
}

void Waiters::DeadlineLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    auto next = std::chrono::steady_clock::time_point::max();
    for (const Entry& e : entries_) next = std::min(next, e.deadline);
    if (next == std::chrono::steady_clock::time_point::max()) {
      cv_.wait(l);
    } else {
      cv_.wait_until(l, next);
    }
    auto now = std::chrono::steady_clock::now();
    std::vector<Done> expired;
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->deadline <= now) {
        expired.push_back(std::move(it->done));
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    if (!expired.empty()) {
      l.unlock();
      for (Done& d : expired) d(false);
      l.lock();
    }
  }
}

}  // namespace deltakv::gateway
