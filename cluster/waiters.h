// Waiters: requests parked until a condition holds (a causal token is
// covered, N regions applied a write), their deadline passes, or they are
// cancelled (the client went away).
//
// A condition is a function of "levels": named counters that only grow,
// such as the sequence of an origin this region applied ("o/REGION/ID")
// or the highest sequence N regions acknowledged ("w/N"). It answers
// either "satisfied" or the next level it waits for (a name and a value).
// Parked waiters are indexed by that level, so a Notify reads the levels
// once and costs O(distinct names + waiters woken), not O(parked): a
// thousand reads parked on a token that is never reached do not slow the
// commits that call Notify. One thread handles deadlines.
//
// Thread-safety: all methods are safe from any thread. Conditions run
// under the lock (they must be cheap and must not call back into
// Waiters); callbacks run on the calling thread or the deadline thread,
// never under the lock.
#ifndef DELTAKV_CLUSTER_WAITERS_H_
#define DELTAKV_CLUSTER_WAITERS_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

namespace deltakv::cluster {

class Waiters {
 public:
  using Levels = std::unordered_map<std::string, uint64_t>;
  // A level a condition waits for: satisfied once levels[name] >= at.
  struct Level {
    std::string name;
    uint64_t at = 0;
  };
  // nullopt: the condition holds; otherwise the level to wait for.
  using Check = std::function<std::optional<Level>(const Levels&)>;
  enum class Outcome { kReady, kTimeout, kCancelled };
  using Done = std::function<void(Outcome)>;

  // `read` returns the levels now (called under the lock, once per Wait
  // and per Notify that has waiters). At most `max_parked` waiters are
  // parked at once.
  explicit Waiters(std::function<Levels()> read, size_t max_parked = 10000);
  ~Waiters();  // every waiter still parked gets kCancelled

  // Runs done(kReady) now if the condition holds, else parks it until it
  // holds, `timeout` passes (kTimeout) or Cancel (kCancelled). Returns the
  // waiter's id (for Cancel), or 0 without calling `done` when it would
  // park and max_parked waiters are parked already.
  uint64_t Wait(Check check, std::chrono::milliseconds timeout, Done done);
  // Ends a parked waiter with kCancelled; nothing if it is not parked.
  void Cancel(uint64_t id);
  // Waiters parked now.
  size_t parked() const;
  // Reads the levels and wakes the waiters whose conditions now hold.
  void Notify();

 private:
  struct Entry {
    Check check;
    Done done;
    Level level;
    std::multimap<uint64_t, uint64_t>::iterator at;  // in index_[level.name]
    std::multimap<std::chrono::steady_clock::time_point, uint64_t>::iterator
        deadline;  // in deadlines_
  };
  void IndexLocked(uint64_t id, Entry* e);
  void UnindexLocked(const Entry& e);
  void DeadlineLoop();

  const std::function<Levels()> read_;
  const size_t max_parked_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_.
  std::unordered_map<uint64_t, Entry> entries_;
  // By level name, the waiters' wanted values (value -> id).
  std::unordered_map<std::string, std::multimap<uint64_t, uint64_t>> index_;
  std::multimap<std::chrono::steady_clock::time_point, uint64_t> deadlines_;
  uint64_t next_id_ = 1;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace deltakv::cluster

#endif  // DELTAKV_CLUSTER_WAITERS_H_
