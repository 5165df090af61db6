// The state of the replication links behind Streams (replication/
// streams.h), shared by the files that implement it: streams.cc (sockets,
// delta streams, catch-up, acks) and state_transfer.cc (chunked state
// transfer, both sides). Internal to replication/.
//
// Thread-safety: everything here belongs to the streams thread except the
// members marked as guarded by a mutex.
#ifndef DELTAKV_REPLICATION_STREAMS_INTERNAL_H_
#define DELTAKV_REPLICATION_STREAMS_INTERNAL_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "replication/replica.h"
#include "replication/streams.h"
#include "replication/wire.h"

namespace deltakv::replication {

using Clock = std::chrono::steady_clock;

// Receiver side of a state transfer from one peer (docs/replication.md,
// "State transfer"). Chunks are requested `window` at a time from `pos`;
// each applied chunk moves `cursor` (stored with the chunk, so a restart
// resumes there). A reply that does not come before `deadline` is asked
// again, with a growing deadline.
struct Transfer {
  bool active = false;
  uint64_t seq = 0;  // the snapshot's sequence, once known
  bool seq_known = false;
  std::string cursor;  // position after the last applied chunk
  std::string pos;     // position to request from (may be inside a key)
  uint64_t tag = 0;    // the current request's tag
  uint64_t asked = 0;  // chunks asked for by the current request
  uint64_t got = 0;    // chunks of the current request received
  Clock::time_point deadline{};
  uint32_t attempts = 0;       // requests in a row that got no answer
  bool waiting_retry = false;  // a chunk failed to apply: ask again later
  // Earlier incarnations of other regions of which the sender had applied
  // more than we had: their marks are raised when the transfer completes.
  wire::AppliedVector claims;
  // A state arriving in fragments.
  std::string staged_key;
  crdt::CrdtType staged_type = crdt::CrdtType::kCounter;
  uint64_t staged_total = 0, staged_hash = 0;
  std::string staged;
  void ClearStaged() {
    staged_key.clear();
    staged.clear();
    staged.shrink_to_fit();
    staged_total = staged_hash = 0;
  }
};

// Sender side: the large state being sent in fragments to one requester,
// and the log pin that keeps what its transfer will need.
struct TransferServe {
  std::string position;  // storage position of the state in `blob`
  uint64_t seq = 0;
  LoggedDelta state;  // the whole state (delta = its bytes)
  uint64_t hash = 0;
  uint64_t transfer_seq = 0;  // the log is pinned from transfer_seq + 1
  Clock::time_point last_request{};
};

struct Peer {
  PeerSpec spec;
  std::unique_ptr<zmq::socket_t> sub, dealer;
  uint64_t applied = 0;  // its sequence applied here
  uint64_t latest = 0;   // from heartbeats
  uint64_t acked = 0;    // our sequence it applied (this incarnation of us)
  uint64_t replica = 0;  // its replica id (incarnation), 0 = unknown
  bool heard = false;
  bool silent = true;  // no frame for 3 heartbeats (or never)
  Clock::time_point last_heard{};
  bool catchup_inflight = false;
  Clock::time_point catchup_sent{};
  bool needs_state = false;  // bootstrap or resume a transfer at contact
  Transfer transfer;
  wire::AppliedVector claims;  // for the next transfer (see Transfer)
  bool behind = false;
  Clock::time_point behind_since{};
  // A batch that failed to apply: nothing is acknowledged past it, and the
  // link retries after `retry_at` (growing backoff).
  std::string error;
  Clock::time_point retry_at{};
  std::chrono::milliseconds backoff{0};
  uint64_t bytes_in = 0, catchups = 0, state_transfers = 0, dropped = 0;
  uint64_t apply_failures = 0, transfer_retries = 0;
};

struct Streams::Impl {
  Replica* replica = nullptr;
  StreamsOptions opt;
  std::shared_ptr<spdlog::logger> log;
  std::function<void()> on_progress;
  Streams* owner = nullptr;

  zmq::context_t ctx{1};
  std::unique_ptr<ZapHandler> zap;
  std::unique_ptr<zmq::socket_t> pub, router, wake_pull;
  std::mutex wake_mu;
  std::unique_ptr<zmq::socket_t> wake_push;      // guarded by wake_mu
  std::vector<std::unique_ptr<Peer>> peers;      // streams thread only
  std::map<std::string, TransferServe> serving;  // by requester region

  mutable std::mutex status_mu;
  std::vector<PeerStatus> status;         // guarded by status_mu
  std::map<std::string, uint64_t> acked;  // guarded by status_mu
  std::vector<PeerSpec> new_peers;        // guarded by status_mu
  std::vector<PeerSpec> configured;       // guarded by status_mu
  bool peers_changed = false;             // guarded by status_mu
  uint64_t bytes_out = 0;

  std::atomic<bool> stop{false};
  std::thread thread;
  uint64_t published = 0;
  bool pending = false;
  Clock::time_point pending_since{};
  Clock::time_point next_heartbeat{};
  uint64_t trimmed_through = 0;
  void owner_dropped() { owner->dropped_.fetch_add(1); }
  std::mt19937_64 rng{std::random_device{}()};

  // --- streams.cc
  Status Setup();
  void Secure(zmq::socket_t& s, bool server, const std::string& peer_key);
  void SetLiveness(zmq::socket_t& s);
  Status OpenPeer(Peer& p);
  Peer* FindPeer(std::string_view region);
  void Loop();
  void Publish();
  // Reads local log entries from `from` through `through` (about
  // `max_bytes` of them) into a frame of `kind`, grouped per key. False
  // when there is nothing to send.
  bool LogFrame(wire::Kind kind, uint64_t from, uint64_t through,
                size_t max_bytes, wire::Frame* f);
  void Heartbeat();
  void CheckPeers();
  void Send(zmq::socket_t& s, const wire::Frame& f);
  void HandleRouter();
  void HandlePeerFrame(Peer& p, const zmq::message_t& m, bool from_dealer);
  void NewIncarnation(Peer& p, uint64_t replica_id);
  void ApplyDeltas(Peer& p, wire::Frame& f, bool catchup_reply);
  void Ack(Peer& p);
  // Takes acknowledgements of our sequence from `entries` (an ack or a
  // heartbeat of `p`): only those that count this incarnation of us, capped
  // at what we published.
  void TakeAcks(Peer& p, const wire::AppliedVector& entries);
  // Heartbeat entries of `p` about earlier incarnations of other regions:
  // when `p` applied more of a store that is gone than we did, only `p`
  // (or another survivor) still holds those writes, so we take its state.
  void TakeClaims(Peer& p, const wire::AppliedVector& entries);
  void LinkFailed(Peer& p, const std::string& what, const Status& s);
  void RequestCatchup(Peer& p);
  void PublishStatus();
  void ApplyPeerChange();

  // --- state_transfer.cc
  void StartTransfer(Peer& p, const char* why);
  void RequestChunks(Peer& p);
  void HandleSnapshotReply(Peer& p, wire::Frame& f);
  // Drops a state half-received in fragments and asks for it again.
  void RestartState(Peer& p, const std::string& key, const char* why);
  void CheckTransfers();
  // Serves a snapshot request of `requester`; `reply` sends one frame.
  void ServeSnapshot(const wire::Frame& req,
                     const std::function<void(const wire::Frame&)>& reply);
  void ExpireServing();
};

}  // namespace deltakv::replication

#endif  // DELTAKV_REPLICATION_STREAMS_INTERNAL_H_
