// Membership: this node's place in its region's cluster, kept in etcd
// (docs/cluster.md holds the key layout).
//
// - The node registers under /deltakv/<region>/nodes/<node-id> with a lease
//   it keeps alive (a keepalive every TTL/3); a node whose lease expired
//   is down.
// - The ring (every node with its weight, zone, addresses and state) is one
//   key, /deltakv/<region>/ring, changed only by transactions comparing its
//   mod_revision. Joining adds this node as joining, then marks it normal
//   (no ranges move yet); a conflicting change retries.
// - A watch thread follows the region's prefix and hands every new ring,
//   with its revision, to the callback.
// - When etcd cannot be reached the last ring is kept (no membership
//   changes until it is back), View() says etcd_reachable=false, and
//   every call retries with backoff.
//
// Thread-safety: View() may be called from any thread. The callback runs
// on the watch thread; keep it short.
#ifndef DELTAKV_CLUSTER_MEMBERSHIP_H_
#define DELTAKV_CLUSTER_MEMBERSHIP_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "cluster/cluster_view.h"
#include "cluster/etcd.h"
#include "cluster/ring.h"

namespace deltakv::cluster {

struct MembershipOptions {
  std::string region;
  RingNode self;  // id, vnodes, zone, http, internal (state: ignored)
  EtcdOptions etcd;
  std::chrono::seconds lease_ttl{10};
  // Called on every failure and recovery worth a log line.
  std::function<void(bool error, const std::string& message)> log;
};

class Membership {
 public:
  using OnRing = std::function<void(const Ring& ring, int64_t revision)>;

  // Starts the lease and watch threads; never waits for etcd (an etcd down
  // at start is retried like one that went away). InvalidArgument: a bad
  // region or node id, endpoints that do not parse, a TTL outside 1-3600 s.
  static Result<std::unique_ptr<Membership>> Start(MembershipOptions options,
                                                   OnRing on_ring);
  // Stops the threads and revokes the lease (best effort, bounded), so the
  // others see this node down at once.
  ~Membership();

  // The ring, who is up, and etcd's reachability now. Fills region,
  // node_id, ring_revision, nodes and the etcd fields.
  ClusterView View() const;
  // The ring now (empty until first read).
  Ring ring() const;

  // The etcd keys of a region.
  static std::string Prefix(const std::string& region);
  static std::string RingKey(const std::string& region);
  static std::string NodeKey(const std::string& region, const std::string& id);

  // The ring key's value, and back. InvalidArgument on a malformed value.
  static std::string EncodeRing(const std::vector<RingNode>& nodes);
  static Result<std::vector<RingNode>> DecodeRing(std::string_view value);

 private:
  Membership(MembershipOptions options, EtcdClient etcd, OnRing on_ring);
  void LeaseLoop();
  void WatchLoop();
  // Registers under a new lease; JoinRing then joins the ring.
  Status Register();
  Status JoinRing();
  // Reads the ring and the nodes up; returns the store's revision.
  Result<int64_t> Refresh();
  void Reached();
  void Failed(const Status& s);
  // Sleeps up to `d`, or less when stopping; false when stopping.
  bool Sleep(std::chrono::milliseconds d);

  MembershipOptions options_;
  EtcdClient etcd_;
  OnRing on_ring_;

  mutable std::mutex mu_;
  Ring ring_;                                           // GUARDED_BY(mu_)
  int64_t ring_revision_ = 0;                           // GUARDED_BY(mu_)
  std::set<std::string> up_;                            // GUARDED_BY(mu_)
  bool reachable_ = false;                              // GUARDED_BY(mu_)
  bool ever_reached_ = false;                           // GUARDED_BY(mu_)
  std::string error_;                                   // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point last_contact_;  // GUARDED_BY(mu_)
  int64_t lease_ = 0;                                   // GUARDED_BY(mu_)
  std::condition_variable cv_;

  std::atomic<bool> stop_{false};
  // Bumped when etcd is seen unreachable: the watch starts over (a watch
  // connection may be half-open after a partition and never say so).
  std::atomic<uint64_t> watch_epoch_{0};
  std::thread lease_thread_, watch_thread_;
};

}  // namespace deltakv::cluster

#endif  // DELTAKV_CLUSTER_MEMBERSHIP_H_
