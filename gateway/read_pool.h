// ReadPool: a few threads that run the API's reads, so that a heavy read
// (a large set or list, a long key scan) never holds an HTTP I/O thread
// that other connections, probes included, share. The queue of reads
// waiting for a thread is bounded: Post refuses beyond it, and the caller
// answers 503.
//
// Thread-safety: Post and queued() from any thread; Stop from one
// controlling thread (also run by the destructor). Tasks run on the pool's
// threads and must not call Stop.
#ifndef DELTAKV_GATEWAY_READ_POOL_H_
#define DELTAKV_GATEWAY_READ_POOL_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace deltakv::gateway {

class ReadPool {
 public:
  // `threads` >= 1 run the tasks; at most `max_queued` wait for one.
  ReadPool(size_t threads, size_t max_queued);
  ~ReadPool();
  ReadPool(const ReadPool&) = delete;
  ReadPool& operator=(const ReadPool&) = delete;

  // Queues `task`. False, with `task` dropped unrun, when `max_queued`
  // tasks wait already or the pool is stopping.
  bool Post(std::function<void()> task);
  // Refuses new tasks, runs those queued, and joins the threads. Not an
  // error to call twice.
  void Stop();
  // Tasks waiting for a thread now.
  size_t queued() const;

 private:
  void Loop();

  const size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace deltakv::gateway

#endif  // DELTAKV_GATEWAY_READ_POOL_H_
