// DelayProxy: a TCP forwarder on 127.0.0.1 for the replication benchmark.
// It stands between two regions (one per replication port), adds a fixed
// one-way delay to every byte in both directions, counts the bytes it
// forwards and can cut the link (a partition) and heal it.
//
// Each accepted connection gets a connection to the target port and two
// pipes; a pipe is a reader thread that stamps each chunk with its arrival
// time and a writer thread that releases it `delay` later, in order. So
// the delay is added once per direction, whatever the load (no Nagle, no
// batching beyond what the kernel hands over in one read).
//
// Cut() closes every forwarded connection; connections accepted while cut
// are held open without forwarding a byte (like a silent network), and
// Heal() closes them so that the peers reconnect through the proxy.
//
// Thread-safety: all methods may be called from any thread.
#ifndef DELTAKV_BENCH_REPLICATION_PROXY_H_
#define DELTAKV_BENCH_REPLICATION_PROXY_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace deltakv::bench {

class DelayProxy {
 public:
  // Listens on 127.0.0.1:listen_port and forwards to 127.0.0.1:target_port.
  // Returns nullptr when the port cannot be bound.
  static std::unique_ptr<DelayProxy> Open(uint16_t listen_port,
                                          uint16_t target_port,
                                          std::chrono::microseconds delay);
  // Closes every connection and joins every thread.
  ~DelayProxy();

  DelayProxy(const DelayProxy&) = delete;
  DelayProxy& operator=(const DelayProxy&) = delete;

  // Applies to chunks that arrive from now on.
  void SetDelay(std::chrono::microseconds delay) { delay_us_ = delay.count(); }
  void Cut();
  void Heal();

  // Bytes written to the target (client -> target) and back to the client
  // (target -> client) so far: TCP payload, ZMTP framing included.
  uint64_t bytes_to_target() const { return to_target_; }
  uint64_t bytes_to_client() const { return to_client_; }

  struct Connection;

 private:
  DelayProxy(int listen_fd, uint16_t target_port,
             std::chrono::microseconds delay);
  void AcceptLoop();
  void CloseAll(std::list<std::unique_ptr<Connection>>* conns);

  const int listen_fd_;
  const uint16_t target_port_;
  std::atomic<int64_t> delay_us_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> to_target_{0}, to_client_{0};
  std::mutex mu_;
  bool cut_ = false;                             // guarded by mu_
  std::list<std::unique_ptr<Connection>> live_;  // guarded by mu_
  std::vector<int> held_;                        // guarded by mu_
  std::thread acceptor_;
};

}  // namespace deltakv::bench

#endif  // DELTAKV_BENCH_REPLICATION_PROXY_H_
