// Streams: the replication links of one region over ZeroMQ (docs/
// replication.md).
//
//   PUB    bound at repl host:port     our deltas (batched, grouped per key,
//                                      zstd above 256 B) and heartbeats
//   ROUTER bound at repl host:port+1   catch-up and snapshot requests from
//                                      peers; their acks
//   SUB    connected to each peer PUB
//   DEALER connected to each peer ROUTER
//
// PUB/SUB drops messages (slow joiners, high-water marks); loss is repaired
// as in the zguide Clone pattern: a gap in a peer's sequence, a heartbeat
// announcing more than we applied, or a silent peer coming back triggers a
// catch-up request served from the peer's delta log; a range the peer has
// trimmed is replaced by a chunked state transfer, then normal streaming.
// Every frame is validated; malformed ones are counted and dropped.
//
// With CurveZMQ (the default) every link is encrypted and a ZAP handler
// admits only the configured peer public keys.
//
// Thread-safety: one internal thread owns every socket. Public methods are
// safe from any thread.
#ifndef DELTAKV_REPLICATION_STREAMS_H_
#define DELTAKV_REPLICATION_STREAMS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "deltakv/status.h"
#include "replication/curve.h"

namespace spdlog {
class logger;
}

namespace deltakv::replication {

class Replica;

struct PeerSpec {
  std::string region;
  std::string host;
  uint16_t port = 0;  // the peer's PUB port; its ROUTER is port + 1
};

struct StreamsOptions {
  std::string bind_host = "0.0.0.0";
  uint16_t port = 7100;  // PUB; ROUTER on port + 1
  std::vector<PeerSpec> peers;
  bool insecure = false;               // plaintext (development only)
  CurveKeys keys;                      // when !insecure
  uint32_t batch_interval_ms = 2;      // a batch closes after this long...
  size_t batch_max_bytes = 256 << 10;  // ...or this size
  uint32_t heartbeat_ms = 1000;
  int hwm = 10000;  // ZeroMQ send/receive high-water marks
  size_t catchup_max_bytes = 1 << 20;
  size_t snapshot_chunk_bytes = 1 << 20;
  uint32_t transfer_window = 4;         // snapshot chunks in flight
  uint32_t transfer_timeout_ms = 5000;  // first deadline for a chunk
  double debug_drop_rate = 0;           // fault injection: drop received frames
};

struct PeerStatus {
  std::string region;
  bool connected = false;    // heard from within 3 heartbeats
  double last_heard_s = -1;  // seconds since the last frame (-1: never)
  uint64_t applied = 0;      // its sequence applied here
  uint64_t latest = 0;       // its latest sequence (from heartbeats)
  uint64_t lag = 0;          // latest - applied
  double lag_seconds = 0;    // how long we have been behind it
  uint64_t acked = 0;        // our sequence it has applied
  uint64_t bytes_in = 0, bytes_out = 0;
  uint64_t catchups = 0, state_transfers = 0, dropped_frames = 0;
  uint64_t apply_failures = 0;    // batches refused (nothing acknowledged)
  uint64_t transfer_retries = 0;  // snapshot requests asked again
  bool transferring = false;      // a state transfer from it is running
  std::string error;              // the link's last failure ("" when fine)
};

class Streams {
 public:
  // Binds, connects and starts the thread. `on_progress` runs (on the
  // streams thread) whenever a peer acknowledges our deltas.
  static Result<std::unique_ptr<Streams>> Start(
      Replica* replica, StreamsOptions options,
      std::shared_ptr<spdlog::logger> log, std::function<void()> on_progress);
  ~Streams();  // Stop()
  void Stop();

  // Wakes the publisher (call on every local commit).
  void Notify();
  // Replaces the peer set (configuration reload); links to removed peers
  // close, new ones open and catch up.
  void SetPeers(std::vector<PeerSpec> peers);

  std::vector<PeerStatus> Peers() const;
  // The regions of the configured peers (as last set), before the streams
  // thread has published their status.
  std::vector<std::string> ConfiguredPeers() const;
  // Regions (this one included) that have applied our sequence `seq`.
  size_t RegionsCovering(uint64_t seq) const;
  // Per peer, the highest of our sequences it has applied (acknowledged).
  std::vector<uint64_t> PeerAcks() const;
  size_t RegionCount() const;
  uint64_t dropped_frames() const { return dropped_.load(); }
  uint64_t curve_refused() const;

  struct Impl;

 private:
  explicit Streams(std::unique_ptr<Impl> impl);
  friend struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace deltakv::replication

#endif  // DELTAKV_REPLICATION_STREAMS_H_
