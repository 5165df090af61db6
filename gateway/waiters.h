// Waiters: requests parked until a condition holds (a causal token is
// covered, N regions applied a write) or their deadline passes. Conditions
// are re-checked whenever Notify() is called (on every commit, local or
// remote); one thread handles deadlines. No polling.
//
// Thread-safety: all methods are safe from any thread. Callbacks run on the
// notifying thread or the deadline thread, never under the lock.
#ifndef DELTAKV_GATEWAY_WAITERS_H_
#define DELTAKV_GATEWAY_WAITERS_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace deltakv::gateway {

class Waiters {
 public:
  using Check = std::function<bool()>;
  using Done = std::function<void(bool satisfied)>;

  // At most `max_parked` waiters are parked at once.
  explicit Waiters(size_t max_parked = 10000);
  ~Waiters();  // fails every waiter still parked (satisfied = false)

  // Runs done(true) now if check() holds, else parks until it holds or
  // `timeout` passes (done(false)). Returns false, without calling `done`,
  // when it would park and max_parked waiters are parked already.
  bool Wait(Check check, std::chrono::milliseconds timeout, Done done);
  // Waiters parked now.
  size_t parked() const;
  // Re-checks every parked waiter.
  void Notify();

 private:
  struct Entry {
    Check check;
    Done done;
    std::chrono::steady_clock::time_point deadline;
  };
  void DeadlineLoop();

  const size_t max_parked_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::list<Entry> entries_;  // guarded by mu_
  bool stop_ = false;         // guarded by mu_
  std::thread thread_;
};

}  // namespace deltakv::gateway

#endif  // DELTAKV_GATEWAY_WAITERS_H_
