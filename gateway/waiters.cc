#include "gateway/waiters.h"

#include <vector>

namespace deltakv::gateway {

Waiters::Waiters() : thread_([this] { DeadlineLoop(); }) {}

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

void Waiters::Wait(Check check, std::chrono::milliseconds timeout, Done done) {
  if (check()) return done(true);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!stop_) {
      entries_.push_back(Entry{std::move(check), std::move(done),
                               std::chrono::steady_clock::now() + timeout});
      cv_.notify_all();
      return;
    }
  }
  done(false);
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
