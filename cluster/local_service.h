// LocalService: the Service of a one-node region, backed by the node's
// Replica (writes through Replica::Submit, reads in their own LMDB read
// transactions) and its replication Streams (peers, what each peer
// acknowledged). Waits on causal tokens and on regions are parked in a
// Waiters; call OnCommit on every commit, local or remote, so they wake.
//
// Thread-safety: every method is safe to call from any thread. The
// replica and the streams must outlive the service; destroying it answers
// every parked wait with Unavailable.
#ifndef DELTAKV_CLUSTER_LOCAL_SERVICE_H_
#define DELTAKV_CLUSTER_LOCAL_SERVICE_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "cluster/service.h"
#include "cluster/waiters.h"

namespace deltakv::replication {
class Replica;
class Streams;
}  // namespace deltakv::replication

namespace deltakv::cluster {

struct LocalServiceOptions {
  replication::Streams* streams = nullptr;  // null: a single region
  size_t max_parked = 10000;  // waits parked at once (Unavailable beyond)
};

class LocalService final : public Service {
 public:
  LocalService(replication::Replica* replica, LocalServiceOptions options);
  ~LocalService() override;

  void Write(WriteOp op, WriteOptions options, WriteDone done) override;
  void Read(ReadOp op, ReadOptions options, ReadDone done) override;
  void Scan(std::string prefix, std::string after, size_t limit,
            ScanDone done) override;
  void WaitRegions(uint64_t seq, uint32_t regions,
                   std::chrono::milliseconds timeout,
                   std::shared_ptr<Cancellation> cancel,
                   WaitDone done) override;
  void AwaitToken(std::string token, std::chrono::milliseconds timeout,
                  std::shared_ptr<Cancellation> cancel,
                  std::function<void(Status)> done) override;
  RegionStatus Region() const override;
  std::string Token() const override;
  size_t RegionCount() const override;
  size_t parked() const override { return waiters_.parked(); }
  uint64_t parked_refused() const override { return refused_.load(); }
  Status Backup(int fd) const override;

  // Wakes the waits whose conditions now hold (call on every commit).
  void OnCommit() { waiters_.Notify(); }

 private:
  struct Wanted {
    std::string level;  // "o/REGION/REPLICA"
    uint64_t seq;
  };
  Status ParseToken(const std::string& token, std::vector<Wanted>* out) const;
  // "o/REGION/REPLICA": that incarnation's sequence applied here; "w/N":
  // the highest of our sequences N regions (this one included) applied.
  Waiters::Levels ReadLevels() const;
  // Parks `check`; `done` gets kReady, kTimeout or kCancelled. False (and
  // `done` never runs) when too many waits are parked.
  bool Park(Waiters::Check check, std::chrono::milliseconds timeout,
            const std::shared_ptr<Cancellation>& cancel,
            std::function<void(Waiters::Outcome)> done);
  Result<ReadResult> ReadNow(const ReadOp& op) const;

  replication::Replica* replica_;
  LocalServiceOptions options_;
  std::atomic<uint64_t> refused_{0};
  Waiters waiters_;  // last: destroyed (answering its waits) first
};

}  // namespace deltakv::cluster

#endif  // DELTAKV_CLUSTER_LOCAL_SERVICE_H_
