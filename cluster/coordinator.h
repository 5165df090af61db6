// Coordinator: the request path of a region cluster (docs/cluster.md,
// "The request path"). Any node accepts any request; for each key the
// coordinator works out its replicas from the ring and:
//
// - Write: a node that is one of the key's replicas applies the write
//   (which makes the delta), sends the delta to the other replicas and
//   answers once W of them (itself included) have it durably. A node that
//   is not forwards the write to one that is.
// - Read: the coordinating replica asks R-1 others for a digest of their
//   state of the key; when they differ it fetches their states, joins them
//   (the CRDT join resolves every conflict) and sends the joined state to
//   the replicas that were behind (read repair), then answers from the
//   joined state.
// - Sloppy quorum: a replica seen down (its etcd lease gone, or calls to it
//   failing) is replaced by the next live node clockwise, and the deltas it
//   missed are kept as hints for it and sent when it is back.
//
// Thread-safety: every method is safe to call from any thread.
#ifndef DELTAKV_CLUSTER_COORDINATOR_H_
#define DELTAKV_CLUSTER_COORDINATOR_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster/node_transport.h"
#include "cluster/ring.h"
#include "cluster/service.h"

namespace deltakv::replication {
class Replica;
}

namespace deltakv::cluster {

class Membership;

struct CoordinatorOptions {
  std::string node_id;
  uint32_t replicas = 3;      // N
  uint32_t write_quorum = 2;  // default W
  uint32_t read_quorum = 2;   // default R
  // Bound of one call to another node (a forwarded write also waits for
  // its own quorum: twice this).
  std::chrono::milliseconds node_timeout{2000};
  // Hints kept for one node that is down, in bytes; past it the oldest go
  // (counted in hints_dropped).
  size_t max_hint_bytes = 64ull << 20;
  NodeTransportOptions transport;
  // Where the last ring read from etcd is kept (in the data folder), so a
  // node restarted while etcd is down still knows where keys live; "":
  // none.
  std::string ring_cache;
  std::function<void(bool error, const std::string&)> log;
};

struct CoordinatorStats {
  uint64_t forwarded = 0;  // requests sent to another node to serve
  uint64_t coordinated_writes = 0, coordinated_reads = 0;
  uint64_t unavailable = 0;   // answered 503: too few replicas in time
  uint64_t read_repairs = 0;  // replicas sent a joined state
  uint64_t hints_queued = 0, hints_delivered = 0, hints_dropped = 0;
  uint64_t hints_pending = 0;  // now
  NodeTransportStats transport;
};

class Coordinator {
 public:
  // Binds --internal and starts the threads. `replica` and `local` (the
  // node's LocalService) must outlive it.
  static Result<std::unique_ptr<Coordinator>> Start(
      replication::Replica* replica, Service* local,
      CoordinatorOptions options);
  ~Coordinator();

  // The membership to follow (set once it runs; null: stop following).
  void SetMembership(Membership* membership);
  // The membership saw a new ring: take it now (from its callback).
  void RingChanged() { Refresh(); }

  void Write(Service* local, WriteOp op, WriteOptions options,
             Service::WriteDone done);
  void Read(Service* local, ReadOp op, ReadOptions options,
            Service::ReadDone done);
  void Scan(Service* local, std::string prefix, std::string after, size_t limit,
            Service::ScanDone done);

  int internal_port() const { return transport_->port(); }
  CoordinatorStats Stats() const;
  // Renders the coordinator's metrics (Prometheus text).
  std::string RenderMetrics() const;

  // Whether this node knows where keys live (a ring read from etcd, or the
  // one kept from its last run): until then it answers 503.
  bool KnowsRing() const {
    std::lock_guard<std::mutex> l(mu_);
    return view_.ring && !view_.ring->empty();
  }
  // The nodes that would hold `key` now (its targets), in order.
  std::vector<std::string> Targets(const std::string& key) const;

 private:
  struct NodeInfo {
    std::string internal;
    bool up = false;
  };
  struct View {
    std::shared_ptr<const Ring> ring;
    int64_t revision = -1;
    std::map<std::string, NodeInfo> nodes;  // by id
  };
  struct Placement {
    std::vector<std::string> targets;  // live replicas and fallbacks
    std::vector<std::string> missing;  // strict replicas seen down
    size_t n = 1;                      // N capped by the nodes placed
    bool no_ring = false;              // the ring is not known yet
  };
  // Per node that is down or failing: its hints and its backoff.
  struct Peer {
    std::deque<std::pair<uint64_t, wire::KeyBlob>> hints;  // by number
    uint64_t next_hint = 1;
    size_t hint_bytes = 0;
    bool in_flight = false;
    std::chrono::steady_clock::time_point retry_at{};
    std::chrono::milliseconds backoff{0};
  };

  Coordinator(replication::Replica* replica, Service* local,
              CoordinatorOptions options);
  Placement Place(const std::string& key) const;
  // Place, with this node among the targets (a request forwarded here is
  // coordinated here even when the rings of the two nodes differ).
  Placement PlaceHere(const std::string& key) const;
  // Resolves w/r (0, kQuorum, kAllReplicas, a number) against N.
  Result<size_t> Quorum(uint32_t asked, uint32_t dflt, size_t n,
                        const char* name) const;
  // R for a read: Quorum, or every live target for kAllLive.
  Result<size_t> ReadQuorum(uint32_t asked, const Placement& p) const;
  std::string AddressOf(const std::string& id) const;
  bool Usable(const std::string& id, const View& v) const;
  void Succeeded(const std::string& id);
  void Failed(const std::string& id);
  void AddHint(const std::string& id, const wire::KeyBlob& blob);
  // What an apply's answer means for its delta: taken (joined, or refused
  // for good, e.g. a key of another type there), or to be sent again
  // (no answer, or the node's storage is full or closing).
  enum class Delivery { kTaken, kRefused, kRetry };
  Delivery Classify(const std::string& id, const Result<wire::Frame>& reply);
  void PumpHints();
  // Counts an operation queued on the replica whose callback uses this
  // object, until the returned handle goes: the destructor waits for none.
  std::shared_ptr<void> Hold();
  void Refresh();
  void SaveRing(const Ring& ring);
  void LoadRing();
  void MaintenanceLoop();
  void Serve(wire::Frame request, NodeTransport::Respond respond);

  void Coordinate(Service* local, WriteOp op, WriteOptions options, Placement p,
                  size_t w, Service::WriteDone done);
  void CoordinateRead(Service* local, ReadOp op, ReadOptions options,
                      Placement p, size_t r, Service::ReadDone done);
  void ForwardWrite(std::vector<std::string> targets, size_t next, WriteOp op,
                    WriteOptions options, Service::WriteDone done);
  void ForwardRead(std::vector<std::string> targets, size_t next, ReadOp op,
                   ReadOptions options, Service::ReadDone done);

  replication::Replica* replica_;
  Service* local_;
  CoordinatorOptions options_;
  std::unique_ptr<NodeTransport> transport_;

  mutable std::mutex mu_;
  View view_;                          // guarded by mu_
  Membership* membership_ = nullptr;   // guarded by mu_
  std::map<std::string, Peer> peers_;  // guarded by mu_
  std::map<std::string, std::chrono::steady_clock::time_point>
      suspect_until_;  // guarded by mu_
  std::condition_variable cv_;
  bool stop_ = false;      // guarded by mu_
  size_t in_flight_ = 0;   // guarded by mu_: replica operations of ours
  std::mutex refresh_mu_;  // held by Refresh (and SetMembership)

  std::atomic<uint64_t> forwarded_{0}, writes_{0}, reads_{0}, unavailable_{0},
      repairs_{0}, hints_queued_{0}, hints_delivered_{0}, hints_dropped_{0};
  std::thread maintenance_;
};

// The Service of a node of a region cluster: writes, reads and scans go
// through the coordinator; waits, status and backups are the node's own.
class ClusterService final : public Service {
 public:
  ClusterService(Coordinator* coordinator, Service* local)
      : coordinator_(coordinator), local_(local) {}
  void Write(WriteOp op, WriteOptions options, WriteDone done) override {
    coordinator_->Write(local_, std::move(op), std::move(options),
                        std::move(done));
  }
  void Read(ReadOp op, ReadOptions options, ReadDone done) override {
    coordinator_->Read(local_, std::move(op), std::move(options),
                       std::move(done));
  }
  void Scan(std::string prefix, std::string after, size_t limit,
            ScanDone done) override {
    coordinator_->Scan(local_, std::move(prefix), std::move(after), limit,
                       std::move(done));
  }
  void WaitRegions(uint64_t seq, uint32_t regions,
                   std::chrono::milliseconds timeout,
                   std::shared_ptr<Cancellation> cancel,
                   WaitDone done) override {
    local_->WaitRegions(seq, regions, timeout, std::move(cancel),
                        std::move(done));
  }
  void AwaitToken(std::string token, std::chrono::milliseconds timeout,
                  std::shared_ptr<Cancellation> cancel,
                  std::function<void(Status)> done) override;
  RegionStatus Region() const override { return local_->Region(); }
  std::string Token() const override { return local_->Token(); }
  size_t RegionCount() const override { return local_->RegionCount(); }
  size_t parked() const override { return local_->parked(); }
  uint64_t parked_refused() const override { return local_->parked_refused(); }
  Status Backup(int fd) const override { return local_->Backup(fd); }

  // The part of a causal token this node can wait for: entries of other
  // nodes of this region (`region` with another replica id than
  // `replica`) are dropped.
  static std::string OwnPart(const std::string& token,
                             const std::string& region,
                             const std::string& replica);

 private:
  Coordinator* coordinator_;
  Service* local_;
};

}  // namespace deltakv::cluster

#endif  // DELTAKV_CLUSTER_COORDINATOR_H_
