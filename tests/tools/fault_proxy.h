// FaultProxy: a TCP forwarder for ZeroMQ links (ZMTP 3.x, NULL mechanism,
// i.e. --insecure-replication) that drops or duplicates whole messages at
// given rates, for fault tests. It parses the framing of each direction
// (64-byte greeting, then frames: a flags byte, a 1- or 8-byte size, the
// body; flag 0x01 MORE, 0x02 LONG, 0x04 COMMAND) and acts on complete
// messages only (every frame up to the one without MORE), never on command
// frames (handshake, PING/PONG, SUBSCRIBE) and never on partial bytes, so
// both ends keep seeing a well-formed stream.
//
// A peer that does not greet with ZMTP 3 or later (or sends a frame with
// reserved flag bits, or a size beyond kMaxFrameBytes) is forwarded
// untouched or cut off, respectively: never faulted half-parsed.
//
// Outgoing connections leave from a given source address, so firewall
// rules between the regions' addresses (iptables) also cut the proxied
// links. A connect to the target times out after one second.
//
// Thread-safety: ZmtpFilter is not thread-safe (one per direction of one
// connection). FaultProxy methods may be called from any thread; it runs
// an accept thread and two threads per forwarded connection.
#ifndef DELTAKV_TESTS_TOOLS_FAULT_PROXY_H_
#define DELTAKV_TESTS_TOOLS_FAULT_PROXY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>

#include "deltakv/status.h"

namespace deltakv::testing {

// One direction of a ZMTP 3.x connection.
class ZmtpFilter {
 public:
  static constexpr size_t kGreetingBytes = 64;
  static constexpr uint64_t kMaxFrameBytes = uint64_t{256} << 20;

  // `copies` is asked once per complete message how many times to forward
  // it: 0 (drop), 1, or 2 (duplicate). Null: always 1.
  explicit ZmtpFilter(std::function<int()> copies = nullptr)
      : copies_(std::move(copies)) {}

  // Consumes `in` and appends to `out` what is to be forwarded now.
  // InvalidArgument on framing that is not ZMTP (reserved flag bits set, a
  // frame larger than kMaxFrameBytes); the connection should then be
  // closed. Bytes of an incomplete frame or message are held back.
  Status Feed(std::string_view in, std::string* out);

  struct Counts {
    uint64_t messages = 0;  // messages begun (their first frame seen)
    uint64_t commands = 0;  // command frames
    uint64_t dropped = 0, duplicated = 0;
  };
  const Counts& counts() const { return counts_; }
  bool passthrough() const { return passthrough_; }  // not ZMTP 3: no faults

 private:
  std::function<int()> copies_;
  std::string greeting_;   // the greeting bytes seen so far
  std::string pending_;    // bytes not yet parsed into a whole frame
  std::string message_;    // frames of a message to duplicate, so far
  bool passthrough_ = false;
  int fate_ = -1;  // copies of the message being assembled; -1: none begun
  Counts counts_;
};

struct FaultProxyOptions {
  std::string listen_host;  // listens on listen_host:listen_port
  uint16_t listen_port = 0;
  std::string source_host;  // outgoing connections are bound to this address
  std::string target_host;
  uint16_t target_port = 0;
  bool fault_to_target = false;  // fault client -> target messages
  bool fault_to_client = true;   // fault target -> client messages
  uint64_t seed = 1;
};

class FaultProxy {
 public:
  // Binds and starts accepting. IOError when the address cannot be bound.
  static Result<std::unique_ptr<FaultProxy>> Open(FaultProxyOptions options);
  // Closes every connection and joins every thread.
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  // Probabilities in [0, 1] (clamped) applied to each complete message of a
  // faulted direction from now on: dropped with `drop`, else sent twice with
  // `duplicate`.
  void SetRates(double drop, double duplicate);

  struct Counts {
    uint64_t connections = 0, messages = 0, commands = 0;
    uint64_t dropped = 0, duplicated = 0;
  };
  Counts counts() const;

  struct Connection;

 private:
  FaultProxy(int listen_fd, FaultProxyOptions options);
  void AcceptLoop();
  void Serve(Connection* c);
  void Pump(Connection* c, bool to_target);
  int Copies(std::mt19937_64* rng);

  const int listen_fd_;
  const FaultProxyOptions options_;
  std::atomic<uint32_t> drop_ppm_{0}, dup_ppm_{0};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> connections_{0}, messages_{0}, commands_{0};
  std::atomic<uint64_t> dropped_{0}, duplicated_{0}, next_seed_{0};
  std::mutex mu_;
  std::list<std::unique_ptr<Connection>> live_;  // guarded by mu_
  std::thread acceptor_;
};

}  // namespace deltakv::testing

#endif  // DELTAKV_TESTS_TOOLS_FAULT_PROXY_H_
