#include "cluster/coordinator.h"

#include <xxhash.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cluster/membership.h"
#include "core/ids.h"
#include "replication/replica.h"

namespace deltakv::cluster {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The digest of a key's state as a replica holds it (0: not held).
uint64_t Digest(const std::optional<replication::LoggedDelta>& s) {
  if (!s) return 0;
  // The type seeds the hash: equal bytes of two types differ.
  const uint64_t h = XXH3_64bits_withSeed(s->delta.data(), s->delta.size(),
                                          static_cast<uint64_t>(s->type));
  return h == 0 ? 1 : h;
}

// What a hint costs in memory: its bytes and the deque entry around them.
size_t HintBytes(const wire::KeyBlob& b) {
  return b.key.size() + b.blob.size() + 96;
}

wire::KeyBlob ToBlob(const replication::LoggedDelta& d) {
  return wire::KeyBlob{d.key, static_cast<uint8_t>(d.type), d.delta};
}

replication::LoggedDelta FromBlob(const wire::KeyBlob& b) {
  replication::LoggedDelta d;
  d.key = b.key;
  d.type = static_cast<crdt::CrdtType>(b.type);
  d.delta = b.blob;
  return d;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// Answers a forwarded request with `field` of the reply set from the
// result, or with its error.
template <typename T>
std::function<void(Result<T>)> ReplyWith(NodeTransport::Respond respond,
                                         T wire::Frame::*field) {
  return [respond = std::move(respond), field](Result<T> r) {
    wire::Frame reply;
    if (r.ok()) {
      reply.*field = std::move(r).value();
    } else {
      reply.status = r.status();
    }
    respond(std::move(reply));
  };
}

}  // namespace

Result<std::unique_ptr<Coordinator>> Coordinator::Start(
    replication::Replica* replica, Service* local, CoordinatorOptions options) {
  std::unique_ptr<Coordinator> c(
      new Coordinator(replica, local, std::move(options)));
  Coordinator* raw = c.get();
  DELTAKV_ASSIGN_OR_RETURN(
      c->transport_,
      NodeTransport::Start(c->options_.transport,
                           [raw](wire::Frame f, NodeTransport::Respond r) {
                             raw->Serve(std::move(f), std::move(r));
                           }));
  c->LoadRing();
  c->maintenance_ = std::thread([raw] { raw->MaintenanceLoop(); });
  return c;
}

Coordinator::Coordinator(replication::Replica* replica, Service* local,
                         CoordinatorOptions options)
    : replica_(replica), local_(local), options_(std::move(options)) {}

Coordinator::~Coordinator() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    membership_ = nullptr;
  }
  cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  if (transport_) {
    // Calls fail at once from here on, pending ones answer Unavailable;
    // the object stays valid for callbacks still to come.
    transport_->Stop();
  }
  // Operations queued on the replica call back into this object: wait for
  // them (the writer runs until the replica closes, after this).
  {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return in_flight_ == 0; });
  }
  transport_.reset();
}

std::shared_ptr<void> Coordinator::Hold() {
  {
    std::lock_guard<std::mutex> l(mu_);
    ++in_flight_;
  }
  return std::shared_ptr<void>(nullptr, [this](void*) {
    // Notified under the lock: the destructor may return (and cv_ go) as
    // soon as it sees zero.
    std::lock_guard<std::mutex> l(mu_);
    --in_flight_;
    cv_.notify_all();
  });
}

void Coordinator::SetMembership(Membership* membership) {
  {
    // Waits for a Refresh that still uses the membership being replaced.
    std::lock_guard<std::mutex> r(refresh_mu_);
    std::lock_guard<std::mutex> l(mu_);
    membership_ = membership;
  }
  Refresh();
}

// ------------------------------------------------------------- placement

void Coordinator::Refresh() {
  std::lock_guard<std::mutex> r(refresh_mu_);
  Membership* m;
  int64_t revision;
  {
    std::lock_guard<std::mutex> l(mu_);
    m = membership_;
    revision = view_.revision;
  }
  if (m == nullptr) return;
  const ClusterView cv = m->View();
  // Not read from etcd since start: keep the ring of the last run (the
  // cache), if any.
  if (cv.ring_revision == 0) return;
  std::shared_ptr<const Ring> ring;
  if (cv.ring_revision != revision) {
    ring = std::make_shared<const Ring>(m->ring());
    if (!ring->empty()) SaveRing(*ring);
  }
  std::map<std::string, NodeInfo> nodes;
  for (const ClusterNodeView& n : cv.nodes) {
    nodes[n.id] = NodeInfo{n.internal, n.up};
  }
  std::vector<std::string> connect;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (ring) {
      view_.ring = std::move(ring);
      view_.revision = cv.ring_revision;
    }
    for (const auto& [id, n] : nodes) {
      if (id != options_.node_id && !view_.nodes.contains(id) &&
          !n.internal.empty()) {
        connect.push_back(n.internal);
      }
    }
    view_.nodes = std::move(nodes);
  }
  for (const std::string& a : connect) transport_->Connect(a);
}

void Coordinator::SaveRing(const Ring& ring) {
  if (options_.ring_cache.empty()) return;
  const std::string tmp = options_.ring_cache + ".tmp";
  const std::string text = Membership::EncodeRing(ring.nodes());
  auto fail = [this](const std::string& what) {
    if (options_.log) {
      options_.log(
          true, "cannot keep the ring in " + options_.ring_cache + ": " + what);
    }
  };
  // Written, synced, renamed, and the folder synced: after a crash the
  // cache is the old ring or the new one, never a torn file.
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return fail(std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return fail(std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return fail(std::strerror(errno));
  }
  ::close(fd);
  if (std::rename(tmp.c_str(), options_.ring_cache.c_str()) != 0) {
    return fail(std::strerror(errno));
  }
  const std::string folder =
      options_.ring_cache.substr(0, options_.ring_cache.rfind('/') + 1);
  const int dir = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

void Coordinator::LoadRing() {
  if (options_.ring_cache.empty()) return;
  std::ifstream f(options_.ring_cache);
  if (!f) return;
  std::stringstream text;
  text << f.rdbuf();
  auto nodes = Membership::DecodeRing(text.str());
  if (!nodes.ok()) {
    if (options_.log) {
      options_.log(true,
                   options_.ring_cache + ": " + nodes.status().ToString());
    }
    return;
  }
  auto ring = Ring::Build(*nodes);
  if (!ring.ok() || ring->empty()) return;
  std::lock_guard<std::mutex> l(mu_);
  // Every node counts as up until etcd says otherwise; calls that fail
  // make it suspect.
  for (const RingNode& n : ring->nodes()) {
    view_.nodes[n.id] = NodeInfo{n.internal, true};
    if (n.id != options_.node_id && !n.internal.empty()) {
      transport_->Connect(n.internal);
    }
  }
  view_.ring = std::make_shared<const Ring>(std::move(ring).value());
  view_.revision = 0;
  if (options_.log) {
    options_.log(false, "serving with the ring of the last run (" +
                            options_.ring_cache + ") until etcd answers");
  }
}

bool Coordinator::Usable(const std::string& id, const View& v) const {
  if (id == options_.node_id) return true;
  auto it = v.nodes.find(id);
  if (it == v.nodes.end() || !it->second.up || it->second.internal.empty()) {
    return false;
  }
  auto s = suspect_until_.find(id);
  return s == suspect_until_.end() || s->second <= Clock::now();
}

Coordinator::Placement Coordinator::Place(const std::string& key) const {
  Placement p;
  std::lock_guard<std::mutex> l(mu_);
  const Ring* ring = view_.ring.get();
  if (ring == nullptr || ring->empty()) {
    // Where keys live is not known yet (etcd not reached since start).
    p.no_ring = true;
    return p;
  }
  const std::vector<std::string> strict =
      ring->PreferenceList(key, options_.replicas);
  p.n = strict.size();
  for (const std::string& id : strict) {
    if (Usable(id, view_)) {
      p.targets.push_back(id);
    } else {
      p.missing.push_back(id);
    }
  }
  if (!p.missing.empty()) {
    // Sloppy quorum: the next live nodes clockwise stand in.
    const std::vector<std::string> live = ring->PreferenceList(
        key, ring->nodes().size(),
        [this](const RingNode& n) { return Usable(n.id, view_); });
    for (const std::string& id : live) {
      if (p.targets.size() >= p.n) break;
      if (std::find(strict.begin(), strict.end(), id) == strict.end()) {
        p.targets.push_back(id);
      }
    }
  }
  return p;
}

Coordinator::Placement Coordinator::PlaceHere(const std::string& key) const {
  Placement p = Place(key);
  if (std::find(p.targets.begin(), p.targets.end(), options_.node_id) ==
      p.targets.end()) {
    p.targets.insert(p.targets.begin(), options_.node_id);
  }
  return p;
}

std::vector<std::string> Coordinator::Targets(const std::string& key) const {
  return Place(key).targets;
}

Result<size_t> Coordinator::Quorum(uint32_t asked, uint32_t dflt, size_t n,
                                   const char* name) const {
  const uint32_t v = asked == 0 ? dflt : asked;
  if (v == kAllReplicas) return n;
  if (v == kQuorum) return n / 2 + 1;
  if (v > options_.replicas) {
    return Status::InvalidArgument(
        std::string(name) + " is " + std::to_string(v) +
        " but the region keeps " + std::to_string(options_.replicas) +
        " replicas of each key");
  }
  // N is capped by the nodes placed: so is every quorum.
  return std::max<size_t>(1, std::min<size_t>(v, n));
}

Result<size_t> Coordinator::ReadQuorum(uint32_t asked,
                                       const Placement& p) const {
  if (asked == kAllLive) return std::max<size_t>(1, p.targets.size());
  return Quorum(asked, options_.read_quorum, p.n, "r");
}

std::string Coordinator::AddressOf(const std::string& id) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = view_.nodes.find(id);
  return it == view_.nodes.end() ? std::string() : it->second.internal;
}

void Coordinator::Succeeded(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  suspect_until_.erase(id);
  auto it = peers_.find(id);
  if (it != peers_.end()) it->second.backoff = milliseconds(0);
}

void Coordinator::Failed(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  Peer& p = peers_[id];
  p.backoff = std::clamp(p.backoff * 2, milliseconds(250), milliseconds(5000));
  suspect_until_[id] = Clock::now() + p.backoff;
  p.retry_at = Clock::now() + p.backoff;
}

// ----------------------------------------------------------------- hints

void Coordinator::AddHint(const std::string& id, const wire::KeyBlob& blob) {
  std::lock_guard<std::mutex> l(mu_);
  Peer& p = peers_[id];
  p.hints.emplace_back(p.next_hint++, blob);
  p.hint_bytes += HintBytes(blob);
  ++hints_queued_;
  while (p.hint_bytes > options_.max_hint_bytes && p.hints.size() > 1) {
    p.hint_bytes -= HintBytes(p.hints.front().second);
    p.hints.pop_front();
    ++hints_dropped_;
  }
}

Coordinator::Delivery Coordinator::Classify(const std::string& id,
                                            const Result<wire::Frame>& reply) {
  if (!reply.ok()) {
    Failed(id);
    return Delivery::kRetry;
  }
  const Status& s = reply->status;
  if (s.ok() || s.code() == Code::kWrongType) {
    // WrongType: the node holds the key with another type (two
    // coordinators created it concurrently); the rest was joined.
    Succeeded(id);
    return s.ok() ? Delivery::kTaken : Delivery::kRefused;
  }
  if (s.code() == Code::kUnavailable || s.code() == Code::kIOError) {
    Failed(id);  // its storage is full or closing: later
    return Delivery::kRetry;
  }
  // A delta the node cannot take (it cannot decode it, it is too large):
  // sending it again would not help.
  if (options_.log) {
    options_.log(true, "node " + id + " refused a delta: " + s.ToString());
  }
  Succeeded(id);
  return Delivery::kRefused;
}

void Coordinator::PumpHints() {
  struct Send {
    std::string id, address;
    std::vector<wire::KeyBlob> blobs;
    uint64_t through = 0;  // the last hint number sent
  };
  std::vector<Send> sends;
  {
    std::lock_guard<std::mutex> l(mu_);
    const auto now = Clock::now();
    for (auto& [id, p] : peers_) {
      if (p.hints.empty() || p.in_flight || p.retry_at > now) continue;
      auto n = view_.nodes.find(id);
      if (n == view_.nodes.end() && view_.ring && view_.revision > 0 &&
          view_.ring->Find(id) == nullptr) {
        // The node left the ring: no one will take its hints.
        hints_dropped_ += p.hints.size();
        p.hints.clear();
        p.hint_bytes = 0;
        continue;
      }
      if (n == view_.nodes.end() || !n->second.up ||
          n->second.internal.empty()) {
        continue;
      }
      Send s{id, n->second.internal, {}, 0};
      size_t bytes = 0;
      for (const auto& [number, b] : p.hints) {
        if (s.blobs.size() >= 512 || bytes >= (1u << 20)) break;
        s.blobs.push_back(b);
        s.through = number;
        bytes += b.key.size() + b.blob.size();
      }
      p.in_flight = true;
      sends.push_back(std::move(s));
    }
  }
  for (Send& s : sends) {
    wire::Frame f;
    f.kind = wire::Kind::kApply;
    f.blobs = std::move(s.blobs);
    transport_->Call(
        s.address, std::move(f), options_.node_timeout,
        [this, id = s.id, through = s.through](Result<wire::Frame> r) {
          const Delivery d = Classify(id, r);
          {
            std::lock_guard<std::mutex> l(mu_);
            Peer& p = peers_[id];
            p.in_flight = false;
            if (d != Delivery::kRetry) {
              // Only the hints sent go (others may have been added behind
              // them, or dropped from the front meanwhile).
              while (!p.hints.empty() && p.hints.front().first <= through) {
                p.hint_bytes -= HintBytes(p.hints.front().second);
                p.hints.pop_front();
                ++(d == Delivery::kTaken ? hints_delivered_ : hints_dropped_);
              }
            }
          }
          if (d != Delivery::kRetry) cv_.notify_all();  // more may wait
        });
  }
}

void Coordinator::MaintenanceLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    cv_.wait_for(l, milliseconds(200));
    if (stop_) break;
    l.unlock();
    Refresh();
    PumpHints();
    l.lock();
  }
}

// ---------------------------------------------------------------- writes

void Coordinator::Write(Service* local, WriteOp op, WriteOptions options,
                        Service::WriteDone done) {
  Placement p = Place(op.key);
  auto w = Quorum(options.w, options_.write_quorum, p.n, "w");
  if (!w.ok()) return done(w.status());
  if (p.no_ring) {
    ++unavailable_;
    return done(Status::Unavailable(
        "this node has not read its region's ring from etcd yet; nothing "
        "was written"));
  }
  if (std::find(p.targets.begin(), p.targets.end(), options_.node_id) ==
      p.targets.end()) {
    if (p.targets.empty()) {
      ++unavailable_;
      return done(Status::Unavailable("no replica of the key is up (" +
                                      Join(p.missing) +
                                      " down); nothing was written"));
    }
    return ForwardWrite(std::move(p.targets), 0, std::move(op),
                        std::move(options), std::move(done));
  }
  Coordinate(local, std::move(op), std::move(options), std::move(p), *w,
             std::move(done));
}

void Coordinator::Coordinate(Service* local, WriteOp op, WriteOptions options,
                             Placement p, size_t w, Service::WriteDone done) {
  ++writes_;
  options.w = 0;
  op.want_delta = true;
  const std::string key = op.key;
  local->Write(
      std::move(op), std::move(options),
      [this, key, p = std::move(p), w, hold = Hold(),
       done = std::move(done)](Result<WriteResult> r) mutable {
        if (!r.ok()) return done(r.status());
        wire::KeyBlob blob{key, r->delta_type, std::move(r->delta)};
        r->delta.clear();
        // Replicas that are down get the delta as a hint (a write that
        // changed nothing has none).
        if (!blob.blob.empty()) {
          for (const std::string& id : p.missing) AddHint(id, blob);
        }
        std::vector<std::string> others;
        for (const std::string& id : p.targets) {
          if (id != options_.node_id) others.push_back(id);
        }
        if (blob.blob.empty() || others.empty()) {
          // Nothing to send (the write changed nothing), or no one to send
          // it to.
          if (!blob.blob.empty() && w > 1) {
            ++unavailable_;
            return done(Status::Unavailable(
                "the write is on 1 of " + std::to_string(w) +
                " replicas asked (w); it will still replicate"));
          }
          return done(std::move(r).value());
        }
        struct State {
          std::mutex mu;
          size_t acks = 1, answers = 0, expected = 0, needed = 0;
          bool answered = false;
          WriteResult result;
          Service::WriteDone done;
        };
        auto st = std::make_shared<State>();
        st->needed = w;
        st->expected = others.size();
        st->result = std::move(r).value();
        st->done = std::move(done);
        if (w <= 1) {
          st->answered = true;
          st->done(st->result);
        }
        for (const std::string& id : others) {
          const std::string address = AddressOf(id);
          wire::Frame f;
          f.kind = wire::Kind::kApply;
          f.blobs = {blob};
          transport_->Call(
              address, std::move(f), options_.node_timeout,
              [this, st, id, blob](Result<wire::Frame> reply) {
                const Delivery d = Classify(id, reply);
                const bool ok = d == Delivery::kTaken;
                if (d == Delivery::kRetry) AddHint(id, blob);  // kept
                Service::WriteDone answer;
                Result<WriteResult> out = Status::OK();
                {
                  std::lock_guard<std::mutex> l(st->mu);
                  ++st->answers;
                  if (ok) ++st->acks;
                  if (st->answered) return;
                  if (st->acks >= st->needed) {
                    out = st->result;
                  } else if (st->answers == st->expected) {
                    out = Status::Unavailable(
                        "the write is on " + std::to_string(st->acks) + " of " +
                        std::to_string(st->needed) +
                        " replicas asked (w); it will still replicate");
                    ++unavailable_;
                  } else {
                    return;
                  }
                  st->answered = true;
                  answer = std::move(st->done);
                }
                answer(std::move(out));
              });
        }
      });
}

void Coordinator::ForwardWrite(std::vector<std::string> targets, size_t next,
                               WriteOp op, WriteOptions options,
                               Service::WriteDone done) {
  ++forwarded_;
  const std::string id = targets[next];
  wire::Frame f;
  f.kind = wire::Kind::kWrite;
  f.write = op;
  f.w = options.w;
  f.timeout_ms = static_cast<uint32_t>(options_.node_timeout.count());
  transport_->Call(AddressOf(id), std::move(f), 2 * options_.node_timeout,
                   [this, targets = std::move(targets), next, id,
                    op = std::move(op), options = std::move(options),
                    done = std::move(done)](Result<wire::Frame> r) mutable {
                     if (r.ok()) {
                       Succeeded(id);
                       if (!r->status.ok()) return done(r->status);
                       return done(std::move(r->write_result));
                     }
                     // Too large to send: nothing was sent, and another
                     // node would not take it either.
                     if (r.status().code() == Code::kTooLarge) {
                       return done(r.status());
                     }
                     Failed(id);
                     // Not sent (not connected): nothing was applied, another
                     // replica may take it. Sent and unanswered: the outcome is
                     // unknown.
                     if (r.status().code() == Code::kUnavailable &&
                         next + 1 < targets.size()) {
                       return ForwardWrite(std::move(targets), next + 1,
                                           std::move(op), std::move(options),
                                           std::move(done));
                     }
                     ++unavailable_;
                     done(Status::Unavailable(
                         "forwarded to node " + id +
                         ", which did not answer (" + r.status().message() +
                         "); the write may or may not have been applied"));
                   });
}

// ----------------------------------------------------------------- reads

void Coordinator::Read(Service* local, ReadOp op, ReadOptions options,
                       Service::ReadDone done) {
  Placement p = Place(op.key);
  if (!options.after.empty()) {
    // A causal token from a write through another node: read every live
    // replica, so a node that has the write answers (docs/cluster.md).
    options.after = ClusterService::OwnPart(options.after, replica_->region(),
                                            replica_->replica_id().ToString());
    options.r = kAllLive;
  }
  auto r = ReadQuorum(options.r, p);
  if (!r.ok()) return done(r.status());
  if (p.no_ring) {
    ++unavailable_;
    return done(Status::Unavailable(
        "this node has not read its region's ring from etcd yet"));
  }
  if (std::find(p.targets.begin(), p.targets.end(), options_.node_id) ==
      p.targets.end()) {
    if (p.targets.empty()) {
      ++unavailable_;
      return done(Status::Unavailable("no replica of the key is up (" +
                                      Join(p.missing) + " down)"));
    }
    return ForwardRead(std::move(p.targets), 0, std::move(op),
                       std::move(options), std::move(done));
  }
  CoordinateRead(local, std::move(op), std::move(options), std::move(p), *r,
                 std::move(done));
}

void Coordinator::CoordinateRead(Service* local, ReadOp op, ReadOptions options,
                                 Placement p, size_t r,
                                 Service::ReadDone done) {
  ++reads_;
  options.r = 0;
  std::vector<std::string> others;
  for (const std::string& id : p.targets) {
    if (id != options_.node_id) others.push_back(id);
  }
  if (r <= 1) {
    return local->Read(std::move(op), std::move(options), std::move(done));
  }
  if (others.size() + 1 < r) {
    ++unavailable_;
    return done(Status::Unavailable(
        std::to_string(others.size() + 1) + " of the " + std::to_string(r) +
        " replicas asked (r) are up" +
        (p.missing.empty() ? "" : " (" + Join(p.missing) + " down)")));
  }
  auto own = replica_->KeyState(op.key);
  if (!own.ok()) return done(own.status());
  struct State {
    std::mutex mu;
    size_t needed = 0, answers = 0, expected = 0;
    bool decided = false;
    uint64_t own_digest = 0;
    std::vector<std::pair<std::string, uint64_t>> digests;  // id, digest
    Service* local;
    ReadOp op;
    ReadOptions options;
    Service::ReadDone done;
  };
  auto st = std::make_shared<State>();
  st->needed = r - 1;
  st->expected = others.size();
  st->own_digest = Digest(*own);
  st->local = local;
  st->op = std::move(op);
  st->options = std::move(options);
  st->done = std::move(done);
  const std::string key = st->op.key;
  for (const std::string& id : others) {
    wire::Frame f;
    f.kind = wire::Kind::kDigest;
    f.key = key;
    transport_->Call(
        AddressOf(id), std::move(f), options_.node_timeout,
        [this, st, id, key](Result<wire::Frame> reply) {
          const bool ok = reply.ok() && reply->status.ok();
          if (ok) {
            Succeeded(id);
          } else if (!reply.ok()) {
            Failed(id);
          }
          std::vector<std::pair<std::string, uint64_t>> digests;
          Service::ReadDone failed;
          std::string why;
          {
            std::lock_guard<std::mutex> l(st->mu);
            ++st->answers;
            if (st->decided) return;
            if (ok) {
              st->digests.emplace_back(
                  id, reply->blobs.empty() ? 0 : reply->digest);
            }
            if (st->digests.size() < st->needed) {
              if (st->answers < st->expected) return;
              st->decided = true;
              failed = std::move(st->done);
              why = std::to_string(st->digests.size() + 1) + " of the " +
                    std::to_string(st->needed + 1) +
                    " replicas asked (r) answered in time";
            } else {
              st->decided = true;
              digests = st->digests;
            }
          }
          if (failed) {
            ++unavailable_;
            return failed(Status::Unavailable(why));
          }
          std::vector<std::string> behind;
          for (const auto& [node, digest] : digests) {
            if (digest != st->own_digest) behind.push_back(node);
          }
          if (behind.empty()) {
            return st->local->Read(std::move(st->op), std::move(st->options),
                                   std::move(st->done));
          }
          // They differ: fetch their states, join them here, then send
          // the joined state to each of them (read repair).
          struct Fetch {
            std::mutex mu;
            size_t left = 0;
            bool failed = false;
            std::vector<replication::LoggedDelta> states;
          };
          auto fetch = std::make_shared<Fetch>();
          fetch->left = behind.size();
          for (const std::string& node : behind) {
            wire::Frame g;
            g.kind = wire::Kind::kState;
            g.key = key;
            transport_->Call(
                AddressOf(node), std::move(g), options_.node_timeout,
                [this, st, fetch, behind, key](Result<wire::Frame> s) {
                  bool last;
                  {
                    std::lock_guard<std::mutex> l(fetch->mu);
                    if (!s.ok() || !s->status.ok() ||
                        (!s->blobs.empty() && s->blobs[0].key != key)) {
                      // Its digest counted towards R: without its state
                      // the answer could miss a write it holds.
                      fetch->failed = true;
                    } else if (!s->blobs.empty()) {
                      fetch->states.push_back(FromBlob(s->blobs[0]));
                    }
                    last = --fetch->left == 0;
                  }
                  if (!last) return;
                  if (fetch->failed) {
                    ++unavailable_;
                    return st->done(Status::Unavailable(
                        "a replica whose state differs did not send it in "
                        "time; retry the read"));
                  }
                  auto answer = [this, st, behind, key, hold = Hold()](
                                    Result<replication::OpResult> j) {
                    if (!j.ok()) return st->done(j.status());
                    auto joined = replica_->KeyState(key);
                    if (joined.ok() && *joined) {
                      for (const std::string& stale : behind) {
                        wire::Frame a;
                        a.kind = wire::Kind::kApply;
                        a.blobs = {ToBlob(**joined)};
                        ++repairs_;
                        transport_->Call(AddressOf(stale), std::move(a),
                                         options_.node_timeout,
                                         [](Result<wire::Frame>) {});
                      }
                    }
                    st->local->Read(std::move(st->op), std::move(st->options),
                                    std::move(st->done));
                  };
                  if (fetch->states.empty()) {
                    return answer(replication::OpResult{});
                  }
                  replica_->SubmitJoin(std::move(fetch->states),
                                       std::move(answer));
                });
          }
        });
  }
}

void Coordinator::ForwardRead(std::vector<std::string> targets, size_t next,
                              ReadOp op, ReadOptions options,
                              Service::ReadDone done) {
  ++forwarded_;
  const std::string id = targets[next];
  wire::Frame f;
  f.kind = wire::Kind::kRead;
  f.read = op;
  f.r = options.r;
  f.timeout_ms = static_cast<uint32_t>(options_.node_timeout.count());
  transport_->Call(
      AddressOf(id), std::move(f), 2 * options_.node_timeout,
      [this, targets = std::move(targets), next, id, op = std::move(op),
       options = std::move(options),
       done = std::move(done)](Result<wire::Frame> r) mutable {
        if (r.ok()) {
          Succeeded(id);
          if (!r->status.ok()) return done(r->status);
          return done(std::move(r->read_result));
        }
        Failed(id);
        // Reads change nothing: any other replica may answer.
        if (next + 1 < targets.size()) {
          return ForwardRead(std::move(targets), next + 1, std::move(op),
                             std::move(options), std::move(done));
        }
        ++unavailable_;
        done(Status::Unavailable("no replica of the key answered (" +
                                 r.status().message() + ")"));
      });
}

// ------------------------------------------------------------------ scans

void Coordinator::Scan(Service* local, std::string prefix, std::string after,
                       size_t limit, Service::ScanDone done) {
  std::vector<std::string> addresses;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [id, n] : view_.nodes) {
      if (id != options_.node_id && Usable(id, view_)) {
        addresses.push_back(n.internal);
      }
    }
  }
  struct State {
    std::mutex mu;
    size_t left = 0;
    std::vector<ScanResult> pages;
    size_t limit = 0;
    Status local_error;  // this node's own scan failed: the answer
    Service::ScanDone done;
  };
  auto st = std::make_shared<State>();
  st->left = addresses.size() + 1;
  st->limit = limit;
  st->done = std::move(done);
  // Merges the pages: keys are complete up to the smallest position a node
  // stopped at; duplicates (replicas) are one key.
  auto finish = [st] {
    if (!st->local_error.ok()) return st->done(st->local_error);
    std::map<std::string, KeyEntry> merged;  // by position
    std::optional<std::string> bound;
    for (ScanResult& page : st->pages) {
      if (page.next && (!bound || *page.next < *bound)) bound = page.next;
      for (KeyEntry& e : page.keys) merged.emplace(e.position, std::move(e));
    }
    ScanResult out;
    for (auto& [position, e] : merged) {
      if (bound && position > *bound) break;
      if (out.keys.size() == st->limit) {
        out.next = out.keys.back().position;
        break;
      }
      out.keys.push_back(std::move(e));
    }
    if (!out.next && bound) out.next = bound;
    st->done(std::move(out));
  };
  auto add = [st, finish](Result<ScanResult> page) {
    bool last;
    {
      std::lock_guard<std::mutex> l(st->mu);
      if (page.ok()) st->pages.push_back(std::move(page).value());
      last = --st->left == 0;
    }
    if (last) finish();
  };
  for (const std::string& a : addresses) {
    wire::Frame f;
    f.kind = wire::Kind::kScan;
    f.prefix = prefix;
    f.after = after;
    // Bounded so that a page of long keys fits a frame; the merge stops
    // where the shortest page did.
    f.limit = std::min<size_t>(limit, 10000);
    transport_->Call(a, std::move(f), options_.node_timeout,
                     [add](Result<wire::Frame> r) {
                       if (!r.ok()) return add(r.status());
                       if (!r->status.ok()) return add(r->status);
                       add(std::move(r->scan_result));
                     });
  }
  local->Scan(std::move(prefix), std::move(after), limit,
              [add, st](Result<ScanResult> page) {
                if (!page.ok()) {
                  // This node's own failure (a bad argument, its storage)
                  // is the answer; another node's is skipped (its keys
                  // have replicas elsewhere).
                  std::lock_guard<std::mutex> l(st->mu);
                  st->local_error = page.status();
                }
                add(std::move(page));
              });
}

// ---------------------------------------------- requests from other nodes

void Coordinator::Serve(wire::Frame request, NodeTransport::Respond respond) {
  auto status_only = [respond](Status s) {
    wire::Frame reply;
    reply.status = std::move(s);
    respond(std::move(reply));
  };
  switch (request.kind) {
    case wire::Kind::kApply: {
      // Each entry is joined on its own (in one commit batch): one that
      // cannot be taken (a bad key, bytes that do not decode, a key of
      // another type here) is refused alone and logged, and sending it
      // again would not help; the answer asks for a retry only when the
      // storage could not take them (full, closing).
      struct Joined {
        std::mutex mu;
        size_t left = 0;
        Status retry;    // the storage could not take them: send again
        Status refused;  // an entry refused for good (not acknowledged)
      };
      auto joined = std::make_shared<Joined>();
      std::vector<replication::LoggedDelta> states;
      for (const wire::KeyBlob& b : request.blobs) {
        if (b.key.empty() || b.key.size() > replication::kMaxKeyBytes ||
            b.blob.empty()) {
          if (options_.log) options_.log(true, "apply: bad entry refused");
          std::lock_guard<std::mutex> l(joined->mu);
          joined->refused = Status::InvalidArgument("bad entry in apply");
          continue;
        }
        states.push_back(FromBlob(b));
      }
      if (states.empty()) return status_only(joined->refused);
      joined->left = states.size();
      for (replication::LoggedDelta& d : states) {
        const std::string key = d.key;
        replica_->SubmitJoin(
            {std::move(d)}, [this, joined, key, status_only,
                             hold = Hold()](Result<replication::OpResult> r) {
              const Code c = r.ok() ? Code::kOk : r.status().code();
              if (!r.ok() && c != Code::kUnavailable && c != Code::kIOError &&
                  c != Code::kWrongType && options_.log) {
                options_.log(true, "apply of key '" + key +
                                       "' refused: " + r.status().ToString());
              }
              Status answer;
              {
                std::lock_guard<std::mutex> l(joined->mu);
                if (c == Code::kUnavailable || c == Code::kIOError) {
                  if (joined->retry.ok()) joined->retry = r.status();
                } else if (!r.ok() && joined->refused.ok()) {
                  joined->refused = r.status();
                }
                if (--joined->left != 0) return;
                // A retry first (the sender keeps the entries); else a
                // refusal, so the sender does not count this replica as
                // having the write.
                answer = !joined->retry.ok() ? joined->retry : joined->refused;
              }
              status_only(answer);
            });
      }
      return;
    }
    case wire::Kind::kDigest:
    case wire::Kind::kState: {
      auto s = replica_->KeyState(request.key);
      wire::Frame reply;
      if (!s.ok()) {
        reply.status = s.status();
      } else if (*s) {
        reply.digest = Digest(*s);
        reply.blobs.push_back(ToBlob(**s));
        if (request.kind == wire::Kind::kDigest) reply.blobs[0].blob.clear();
      }
      respond(std::move(reply));
      return;
    }
    case wire::Kind::kWrite: {
      // Coordinated here, even if this node's ring no longer names it.
      WriteOptions options;
      options.w = request.w;
      Placement p = PlaceHere(request.write.key);
      auto w = Quorum(options.w, options_.write_quorum, p.n, "w");
      if (!w.ok()) return status_only(w.status());
      Coordinate(local_, std::move(request.write), std::move(options),
                 std::move(p), *w,
                 ReplyWith(std::move(respond), &wire::Frame::write_result));
      return;
    }
    case wire::Kind::kRead: {
      ReadOptions options;
      options.r = request.r;
      Placement p = PlaceHere(request.read.key);
      auto r = ReadQuorum(options.r, p);
      if (!r.ok()) return status_only(r.status());
      CoordinateRead(local_, std::move(request.read), std::move(options),
                     std::move(p), *r,
                     ReplyWith(std::move(respond), &wire::Frame::read_result));
      return;
    }
    case wire::Kind::kScan:
      if (request.limit == 0 || request.limit > 100000) {
        return status_only(Status::InvalidArgument("scan limit out of range"));
      }
      return local_->Scan(
          request.prefix, request.after, static_cast<size_t>(request.limit),
          ReplyWith(std::move(respond), &wire::Frame::scan_result));
    case wire::Kind::kReply:
      return status_only(Status::InvalidArgument("not a request"));
  }
}

// ----------------------------------------------------------------- status

CoordinatorStats Coordinator::Stats() const {
  CoordinatorStats s;
  s.forwarded = forwarded_.load();
  s.coordinated_writes = writes_.load();
  s.coordinated_reads = reads_.load();
  s.unavailable = unavailable_.load();
  s.read_repairs = repairs_.load();
  s.hints_queued = hints_queued_.load();
  s.hints_delivered = hints_delivered_.load();
  s.hints_dropped = hints_dropped_.load();
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [id, p] : peers_) s.hints_pending += p.hints.size();
  }
  s.transport = transport_->Stats();
  return s;
}

std::string Coordinator::RenderMetrics() const {
  const CoordinatorStats s = Stats();
  std::string out;
  auto counter = [&out](const char* name, const char* help, uint64_t v,
                        const char* type = "counter") {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name +
           " " + type + "\n" + name + " " + std::to_string(v) + "\n";
  };
  counter("deltakv_cluster_forwarded_total",
          "Requests forwarded to a replica of their key.", s.forwarded);
  counter("deltakv_cluster_coordinated_writes_total",
          "Writes this node coordinated as a replica of their key.",
          s.coordinated_writes);
  counter("deltakv_cluster_coordinated_reads_total",
          "Reads this node coordinated as a replica of their key.",
          s.coordinated_reads);
  counter("deltakv_cluster_unavailable_total",
          "Requests answered 503: fewer replicas than asked in time.",
          s.unavailable);
  counter("deltakv_cluster_read_repairs_total",
          "Joined states sent to replicas that were behind.", s.read_repairs);
  counter("deltakv_cluster_hints_queued_total",
          "Deltas kept for a replica that was down or failing.",
          s.hints_queued);
  counter("deltakv_cluster_hints_delivered_total",
          "Hints a replica took once it was back.", s.hints_delivered);
  counter("deltakv_cluster_hints_dropped_total",
          "Hints dropped: past --max-hint-bytes, or refused for good by "
          "their node.",
          s.hints_dropped);
  counter("deltakv_cluster_hints_pending", "Hints waiting for their replica.",
          s.hints_pending, "gauge");
  counter("deltakv_cluster_node_requests_out_total",
          "Requests sent to other nodes.", s.transport.requests_out);
  counter("deltakv_cluster_node_requests_in_total",
          "Requests received from other nodes.", s.transport.requests_in);
  counter("deltakv_cluster_node_timeouts_total",
          "Requests to other nodes that got no answer in time.",
          s.transport.timeouts);
  counter("deltakv_cluster_node_send_failures_total",
          "Requests that could not be sent (node not connected).",
          s.transport.send_failures);
  counter("deltakv_cluster_node_malformed_total",
          "Node frames refused as malformed.", s.transport.malformed);
  counter("deltakv_cluster_node_busy_total",
          "Requests from other nodes refused: too many queued.",
          s.transport.busy);
  return out;
}

// ------------------------------------------------------------------ tokens

std::string ClusterService::OwnPart(const std::string& token,
                                    const std::string& region,
                                    const std::string& replica) {
  std::string out;
  size_t start = 0;
  while (start <= token.size()) {
    size_t comma = token.find(',', start);
    std::string_view part(
        token.data() + start,
        (comma == std::string::npos ? token.size() : comma) - start);
    const size_t c1 = part.find(':');
    const size_t c2 = part.rfind(':');
    const bool other_node = c1 != std::string_view::npos && c2 > c1 &&
                            part.substr(0, c1) == region &&
                            part.substr(c1 + 1, c2 - c1 - 1) != replica;
    if (!other_node) {
      if (!out.empty()) out += ',';
      out += part;
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

void ClusterService::AwaitToken(std::string token,
                                std::chrono::milliseconds timeout,
                                std::shared_ptr<Cancellation> cancel,
                                std::function<void(Status)> done) {
  // Entries of other nodes of this region: their writes are read through
  // every live replica (Read with after); what is left is this node's.
  const RegionStatus region = local_->Region();
  std::string own = OwnPart(token, region.region, region.replica_id);
  if (own.empty()) return done(Status::OK());
  local_->AwaitToken(std::move(own), timeout, std::move(cancel),
                     std::move(done));
}

}  // namespace deltakv::cluster
