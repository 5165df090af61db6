#include "replication/streams.h"

#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "crdt/list_codec.h"
#include "replication/streams_internal.h"

namespace deltakv::replication {

namespace {

// Joins two codec blobs of one type (a delta group); on any decoding
// trouble keeps both apart by returning false.
bool JoinBlobs(crdt::CrdtType type, const std::string& a, const std::string& b,
               std::string* out) {
  auto join = [&](auto x, auto y) {
    if (!crdt::Decode(a, &x).ok() || !crdt::Decode(b, &y).ok()) return false;
    x.Join(y);
    *out = crdt::Encode(x);
    return true;
  };
  switch (type) {
    case crdt::CrdtType::kCounter:
      return join(crdt::PNCounter(), crdt::PNCounter());
    case crdt::CrdtType::kRegister:
      return join(crdt::ORRegister(), crdt::ORRegister());
    case crdt::CrdtType::kSet:
      return join(crdt::AWORSet(), crdt::AWORSet());
    case crdt::CrdtType::kList:
      return join(crdt::List(), crdt::List());
    default:
      return false;
  }
}

// Groups consecutive log entries per key (one joined delta per key), in
// order of first appearance.
std::vector<wire::Entry> Group(const std::vector<LoggedDelta>& log) {
  std::vector<wire::Entry> out;
  std::map<std::pair<std::string, uint8_t>, size_t> where;
  for (const LoggedDelta& d : log) {
    auto k = std::make_pair(d.key, static_cast<uint8_t>(d.type));
    auto it = where.find(k);
    std::string joined;
    if (it != where.end() &&
        JoinBlobs(d.type, out[it->second].blob, d.delta, &joined)) {
      out[it->second].blob = std::move(joined);
      continue;
    }
    where[k] = out.size();
    out.push_back(wire::Entry{d.key, d.type, d.delta});
  }
  return out;
}

std::vector<LoggedDelta> ToLogged(std::vector<wire::Entry> entries) {
  std::vector<LoggedDelta> out;
  out.reserve(entries.size());
  for (auto& e : entries) {
    LoggedDelta d;
    d.key = std::move(e.key);
    d.type = e.type;
    d.delta = std::move(e.blob);
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace

// ZMTP heartbeats: a connection whose peer stays silent (a partition, a
// dead host) is dropped and reconnected instead of waiting for TCP's
// retransmission backoff.
void Streams::Impl::SetLiveness(zmq::socket_t& s) {
  const int ivl = static_cast<int>(std::max<uint32_t>(opt.heartbeat_ms, 100));
  s.set(zmq::sockopt::heartbeat_ivl, ivl);
  s.set(zmq::sockopt::heartbeat_timeout, 3 * ivl);
  s.set(zmq::sockopt::heartbeat_ttl, 3 * ivl);
}

void Streams::Impl::Secure(zmq::socket_t& s, bool server,
                           const std::string& peer_key) {
  if (opt.insecure) return;
  if (server) {
    s.set(zmq::sockopt::curve_server, 1);
    s.set(zmq::sockopt::curve_secretkey, opt.keys.secret_key);
    s.set(zmq::sockopt::zap_domain, "deltakv");
  } else {
    s.set(zmq::sockopt::curve_serverkey, peer_key);
    s.set(zmq::sockopt::curve_publickey, opt.keys.public_key);
    s.set(zmq::sockopt::curve_secretkey, opt.keys.secret_key);
  }
}

Status Streams::Impl::OpenPeer(Peer& p) {
  std::string key;
  if (!opt.insecure) {
    auto it = opt.keys.peer_keys.find(p.spec.region);
    if (it == opt.keys.peer_keys.end()) {
      return Status::InvalidArgument("no public key for peer " + p.spec.region +
                                     " in --curve-peer-keys-dir");
    }
    key = it->second;
  }
  try {
    p.sub = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::sub);
    p.dealer = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
    for (zmq::socket_t* s : {p.sub.get(), p.dealer.get()}) {
      s->set(zmq::sockopt::linger, 0);
      s->set(zmq::sockopt::rcvhwm, opt.hwm);
      s->set(zmq::sockopt::sndhwm, opt.hwm);
      s->set(zmq::sockopt::maxmsgsize,
             static_cast<int64_t>(wire::kMaxFrameBytes));
      s->set(zmq::sockopt::reconnect_ivl, 100);
      s->set(zmq::sockopt::reconnect_ivl_max, 2000);
      // A connect stuck in SYN retries (partition) is abandoned and retried.
      s->set(zmq::sockopt::connect_timeout, 1000);
      SetLiveness(*s);
      Secure(*s, false, key);
    }
    p.sub->set(zmq::sockopt::subscribe, "");
    // Connections leave from our replication address when it is a specific
    // one (so firewalls can tell regions apart).
    const bool any = opt.bind_host == "0.0.0.0" || opt.bind_host == "*";
    const std::string src = any ? "" : opt.bind_host + ":0;";
    p.sub->connect("tcp://" + src + p.spec.host + ":" +
                   std::to_string(p.spec.port));
    p.dealer->connect("tcp://" + src + p.spec.host + ":" +
                      std::to_string(p.spec.port + 1));
  } catch (const zmq::error_t& e) {
    return Status::InvalidArgument("peer " + p.spec.region + " (" +
                                   p.spec.host + "): " + e.what());
  }
  auto applied = replica->AppliedVector();
  if (applied.ok()) {
    for (auto& [r, s] : *applied) {
      if (r == p.spec.region) p.applied = s;
    }
  }
  auto known = replica->PeerReplica(p.spec.region);
  if (known.ok()) p.replica = *known;
  // A store that started empty bootstraps from every peer's state; an
  // interrupted transfer resumes where it stopped.
  auto progress = replica->TransferFrom(p.spec.region);
  p.needs_state = replica->NeedsStateFrom(p.spec.region) ||
                  (progress.ok() && progress->has_value());
  return Status::OK();
}

Peer* Streams::Impl::FindPeer(std::string_view region) {
  for (auto& p : peers) {
    if (p->spec.region == region) return p.get();
  }
  return nullptr;
}

Status Streams::Impl::Setup() {
  if (!opt.insecure) {
    DELTAKV_RETURN_IF_ERROR(CheckCurveAvailable());
    DELTAKV_ASSIGN_OR_RETURN(zap, ZapHandler::Start(&ctx, opt.keys.peer_keys));
  }
  try {
    pub = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::pub);
    router = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::router);
    for (zmq::socket_t* s : {pub.get(), router.get()}) {
      s->set(zmq::sockopt::linger, 0);
      s->set(zmq::sockopt::sndhwm, opt.hwm);
      s->set(zmq::sockopt::rcvhwm, opt.hwm);
      s->set(zmq::sockopt::maxmsgsize,
             static_cast<int64_t>(wire::kMaxFrameBytes));
      SetLiveness(*s);
      Secure(*s, true, "");
    }
    const std::string host = opt.bind_host == "0.0.0.0" ? "*" : opt.bind_host;
    pub->bind("tcp://" + host + ":" + std::to_string(opt.port));
    router->bind("tcp://" + host + ":" + std::to_string(opt.port + 1));
    wake_pull = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::pull);
    wake_pull->bind("inproc://deltakv-wake");
    wake_push = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::push);
    wake_push->set(zmq::sockopt::linger, 0);
    wake_push->set(zmq::sockopt::sndhwm, 1);
    wake_push->connect("inproc://deltakv-wake");
  } catch (const zmq::error_t& e) {
    return Status::IOError("replication: cannot bind " + opt.bind_host + ":" +
                           std::to_string(opt.port) + "/" +
                           std::to_string(opt.port + 1) + ": " + e.what());
  }
  for (const PeerSpec& spec : opt.peers) {
    auto p = std::make_unique<Peer>();
    p->spec = spec;
    DELTAKV_RETURN_IF_ERROR(OpenPeer(*p));
    peers.push_back(std::move(p));
  }
  published = replica->DurableSequence();
  return Status::OK();
}

void Streams::Impl::Send(zmq::socket_t& s, const wire::Frame& frame) {
  wire::Frame f = frame;
  f.replica = replica->replica_id().value();
  std::string bytes = wire::Encode(f);
  bytes_out += bytes.size();
  try {
    (void)s.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
  }
}

void Streams::Impl::Publish() {
  pending = false;
  // Only what is on disk: after an OS crash a region must not reuse a
  // sequence number (or the dots in it) that a peer has seen.
  const uint64_t latest = replica->DurableSequence();
  while (published < latest && !stop) {
    uint64_t from = std::max(published + 1, replica->LogStart());
    wire::Frame f;
    if (!LogFrame(wire::Kind::kDeltas, from, latest, opt.batch_max_bytes, &f)) {
      break;
    }
    Send(*pub, f);
    published = f.last;
  }
}

bool Streams::Impl::LogFrame(wire::Kind kind, uint64_t from, uint64_t through,
                             size_t max_bytes, wire::Frame* f) {
  if (from > through) return false;
  auto log_or = replica->ReadLog(
      from, static_cast<size_t>(std::min<uint64_t>(8192, through - from + 1)));
  if (!log_or.ok() || log_or->empty()) return false;
  std::vector<LoggedDelta> batch;
  size_t bytes = 0;
  for (auto& d : *log_or) {
    if (d.seq > through) break;
    bytes += d.key.size() + d.delta.size();
    batch.push_back(std::move(d));
    if (bytes >= max_bytes) break;
  }
  if (batch.empty()) return false;
  f->kind = kind;
  f->region = replica->region();
  f->first = batch.front().seq;
  f->last = batch.back().seq;
  f->entries = Group(batch);
  return true;
}

void Streams::Impl::Heartbeat() {
  wire::Frame f;
  f.kind = wire::Kind::kHeartbeat;
  f.region = replica->region();
  f.last = published;
  f.log_start = replica->LogStart();
  auto marks = replica->AppliedMarks(/*durable_only=*/true);
  if (marks.ok()) {
    for (auto& m : *marks) {
      f.applied.push_back(wire::AppliedEntry{m.region, m.replica, m.seq});
    }
  }
  // What we applied of stores that are gone, so that a peer that missed
  // some of their writes takes them from us.
  auto earlier = replica->IncarnationMarks();
  if (earlier.ok()) {
    for (auto& m : *earlier) {
      if (f.applied.size() >= wire::kMaxApplied) break;
      f.applied.push_back(wire::AppliedEntry{m.region, m.replica, m.seq});
    }
  }
  Send(*pub, f);
}

void Streams::Impl::RequestCatchup(Peer& p) {
  if (p.transfer.active) return;
  auto now = Clock::now();
  if (now < p.retry_at) return;  // a failed batch waits for its backoff
  if (p.needs_state) {
    StartTransfer(p, "bootstrap");
    return;
  }
  if (p.catchup_inflight && now - p.catchup_sent < std::chrono::seconds(2)) {
    return;
  }
  wire::Frame f;
  f.kind = wire::Kind::kCatchupRequest;
  f.region = replica->region();
  f.first = p.applied + 1;
  Send(*p.dealer, f);
  p.catchup_inflight = true;
  p.catchup_sent = now;
  ++p.catchups;
}

void Streams::Impl::LinkFailed(Peer& p, const std::string& what,
                               const Status& s) {
  ++p.apply_failures;
  p.error = what + ": " + s.ToString();
  p.backoff = std::min<std::chrono::milliseconds>(
      std::chrono::seconds(30),
      std::max<std::chrono::milliseconds>(std::chrono::milliseconds(500),
                                          p.backoff * 2));
  p.retry_at = Clock::now() + p.backoff;
  log->error(
      "replication: {} from {}: {}; nothing past it is acknowledged, "
      "retrying in {} ms",
      what, p.spec.region, s.ToString(), p.backoff.count());
}

void Streams::Impl::Ack(Peer& p) {
  wire::Frame ack;
  ack.kind = wire::Kind::kAck;
  ack.region = replica->region();
  // Only what reached our disk (periodic durability), of this incarnation.
  uint64_t seq = 0;
  auto marks = replica->AppliedMarks(/*durable_only=*/true);
  if (marks.ok()) {
    for (auto& m : *marks) {
      if (m.region == p.spec.region && m.replica == p.replica) {
        seq = std::min(p.applied, m.seq);
      }
    }
  }
  ack.applied.push_back(wire::AppliedEntry{p.spec.region, p.replica, seq});
  Send(*p.dealer, ack);
}

void Streams::Impl::ApplyDeltas(Peer& p, wire::Frame& f, bool catchup_reply) {
  if (catchup_reply) p.catchup_inflight = false;
  if (f.last <= p.applied) return;  // duplicate
  if (f.first > p.applied + 1) {    // gap: something was lost
    RequestCatchup(p);
    return;
  }
  if (Clock::now() < p.retry_at) return;  // backing off after a failure
  RemoteBatch b;
  b.origin = p.spec.region;
  b.first = f.first;
  b.last = f.last;
  b.deltas = ToLogged(std::move(f.entries));
  Status s = replica->ApplyRemote(std::move(b));
  if (!s.ok() && s.code() != Code::kWrongType) {
    // Nothing of the batch was applied: the watermark stays and nothing is
    // acknowledged; a later catch-up retries from the watermark.
    if (s.code() == Code::kInvalidArgument &&
        s.message().find("does not follow") != std::string::npos) {
      RequestCatchup(p);  // the stored watermark is behind ours: re-sync
      return;
    }
    LinkFailed(
        p,
        "applying " + std::to_string(f.first) + ".." + std::to_string(f.last),
        s);
    return;
  }
  if (!s.ok()) {
    log->warn("replication: {}'s {}..{}: {} (entry skipped)", p.spec.region,
              f.first, f.last, s.ToString());
  }
  p.error.clear();
  p.backoff = std::chrono::milliseconds(0);
  p.applied = f.last;
  Ack(p);
  if (catchup_reply && p.applied < p.latest) RequestCatchup(p);
}

void Streams::Impl::TakeAcks(Peer& p, const wire::AppliedVector& entries) {
  bool progress = false;
  for (const auto& e : entries) {
    if (e.region != replica->region()) continue;
    // An ack of an earlier incarnation of ours says nothing about this one.
    if (e.replica != replica->replica_id().value()) continue;
    const uint64_t seq = std::min(e.seq, published);
    if (seq > p.acked) {
      p.acked = seq;
      progress = true;
    }
    // A transfer it acknowledged needs the log no longer.
    auto it = serving.find(p.spec.region);
    if (it != serving.end() && e.seq >= it->second.transfer_seq &&
        it->second.position.empty()) {
      replica->PinLog(p.spec.region, 0);
      serving.erase(it);
    }
  }
  if (!progress) return;
  {
    std::lock_guard<std::mutex> l(status_mu);
    uint64_t& a = acked[p.spec.region];
    a = std::max(a, p.acked);
  }
  if (on_progress) on_progress();
}

void Streams::Impl::TakeClaims(Peer& p, const wire::AppliedVector& entries) {
  for (const auto& e : entries) {
    if (e.region == replica->region() || e.region == p.spec.region ||
        e.replica == 0) {
      continue;
    }
    // Only incarnations we knew and that are gone: the current one serves
    // its own log, and one we never heard of is not ours to repair.
    Peer* origin = FindPeer(e.region);
    if (origin != nullptr && origin->replica == e.replica) continue;
    auto current = replica->PeerReplica(e.region);
    if (!current.ok() || *current == e.replica) continue;
    auto have = replica->AppliedOf(e.region, e.replica);
    if (!have.ok() || *have >= e.seq) continue;
    bool known = false;
    for (auto& c : p.claims) {
      if (c.region == e.region && c.replica == e.replica) {
        c.seq = std::max(c.seq, e.seq);
        known = true;
      }
    }
    if (!known) p.claims.push_back(e);
  }
  if (!p.claims.empty() && !p.transfer.active && Clock::now() >= p.retry_at) {
    StartTransfer(p, "it applied more of a lost store than we did");
  }
}

void Streams::Impl::NewIncarnation(Peer& p, uint64_t replica_id) {
  const bool restart = p.replica != 0;
  if (restart) {
    log->warn(
        "replication: {} came back as a new replica ({:016x}, was "
        "{:016x}); starting over its sequence",
        p.spec.region, replica_id, p.replica);
  }
  Status st = replica->SetPeerReplica(p.spec.region, replica_id, restart);
  if (!st.ok()) {
    log->warn("replication: recording {}'s replica id: {}", p.spec.region,
              st.ToString());
    return;
  }
  p.replica = replica_id;
  if (!restart) return;
  // Its old watermark, acks and any transfer from the old incarnation mean
  // nothing now.
  p.applied = 0;
  p.latest = 0;
  p.acked = 0;
  p.catchup_inflight = false;
  p.transfer = Transfer();
  p.error.clear();
  p.retry_at = Clock::time_point();
  {
    std::lock_guard<std::mutex> l(status_mu);
    acked.erase(p.spec.region);
    for (auto& peer_status : status) {
      if (peer_status.region == p.spec.region) peer_status.acked = 0;
    }
  }
  // We hold what the old incarnation wrote (and what it had from others):
  // offer it, so a region that lost its disk gets everything back.
  wire::Frame offer;
  offer.kind = wire::Kind::kStateOffer;
  offer.region = replica->region();
  Send(*p.dealer, offer);
}

void Streams::Impl::HandlePeerFrame(Peer& p, const zmq::message_t& m,
                                    bool from_dealer) {
  p.bytes_in += m.size();
  if (!from_dealer && opt.debug_drop_rate > 0 &&
      std::uniform_real_distribution<double>(0, 1)(rng) < opt.debug_drop_rate) {
    ++p.dropped;
    return;
  }
  wire::Frame f;
  Status s = wire::Decode(m.to_string_view(), &f);
  if (!s.ok() || f.region != p.spec.region) {
    ++p.dropped;
    owner_dropped();
    log->warn("replication: dropped a frame from {}: {}", p.spec.region,
              s.ok() ? "origin does not match the link" : s.ToString());
    return;
  }
  // A new replica id under a known region name: the region lost or
  // replaced its store and starts its sequence over.
  if (f.replica != 0 && f.replica != p.replica) {
    NewIncarnation(p, f.replica);
    if (f.replica != p.replica) return;  // not recorded: drop the frame
  }
  const auto now = Clock::now();
  if (p.silent && p.heard) RequestCatchup(p);  // back after silence
  p.heard = true;
  p.silent = false;
  p.last_heard = now;
  switch (f.kind) {
    case wire::Kind::kDeltas:
      if (from_dealer) break;
      p.latest = std::max(p.latest, f.last);
      ApplyDeltas(p, f, false);
      break;
    case wire::Kind::kHeartbeat:
      p.latest = std::max(p.latest, f.last);
      TakeAcks(p, f.applied);
      TakeClaims(p, f.applied);
      if (p.latest > p.applied) RequestCatchup(p);
      break;
    case wire::Kind::kCatchupReply:
      ApplyDeltas(p, f, true);
      break;
    case wire::Kind::kNeedSnapshot:
      p.catchup_inflight = false;
      StartTransfer(p, "its log was trimmed past our position");
      break;
    case wire::Kind::kSnapshotReply:
      HandleSnapshotReply(p, f);
      break;
    default:
      ++p.dropped;
      owner_dropped();
  }
}

void Streams::Impl::HandleRouter() {
  for (int n = 0; n < 64; ++n) {
    zmq::message_t id, body;
    try {
      if (!router->recv(id, zmq::recv_flags::dontwait)) return;
      if (!id.more() || !router->recv(body, zmq::recv_flags::dontwait)) {
        continue;
      }
      while (body.more()) {  // extra frames: drain and refuse
        zmq::message_t extra;
        if (!router->recv(extra, zmq::recv_flags::dontwait)) break;
        body = std::move(extra);
      }
    } catch (const zmq::error_t&) {
      return;
    }
    wire::Frame f;
    Status s = wire::Decode(body.to_string_view(), &f);
    if (!s.ok()) {
      owner_dropped();
      log->warn("replication: dropped a request: {}", s.ToString());
      continue;
    }
    // A peer speaks only for the region its Curve key belongs to.
    if (!FrameFromRegion(body, f.region, opt.insecure)) {
      owner_dropped();
      log->warn(
          "replication: refused a frame claiming region {} from the key of "
          "region {}",
          f.region, AuthenticatedRegion(body));
      continue;
    }
    auto reply = [&](const wire::Frame& frame) {
      wire::Frame r = frame;
      r.replica = replica->replica_id().value();
      std::string bytes = wire::Encode(r);
      bytes_out += bytes.size();
      try {
        // send() consumes a message: copy the identity, a request may
        // have several replies.
        zmq::message_t to(id.data(), id.size());
        router->send(to, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
        router->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
      } catch (const zmq::error_t&) {
      }
    };
    switch (f.kind) {
      case wire::Kind::kCatchupRequest: {
        wire::Frame r;
        r.region = replica->region();
        if (f.first < replica->LogStart()) {
          r.kind = wire::Kind::kNeedSnapshot;
          r.log_start = replica->LogStart();
          reply(r);
          break;
        }
        if (!LogFrame(wire::Kind::kCatchupReply, f.first, published,
                      opt.catchup_max_bytes, &r)) {
          break;
        }
        reply(r);
        break;
      }
      case wire::Kind::kSnapshotRequest:
        ServeSnapshot(f, reply);
        break;
      case wire::Kind::kAck: {
        Peer* p = FindPeer(f.region);
        if (p == nullptr || f.replica == 0) break;
        // A peer not heard on its stream yet: its ack tells its identity.
        if (p->replica == 0) NewIncarnation(*p, f.replica);
        // Only from the incarnation of the peer we know: a late ack of its
        // previous store must not count for the new one.
        if (f.replica != p->replica) break;
        TakeAcks(*p, f.applied);
        break;
      }
      case wire::Kind::kStateOffer: {
        Peer* p = FindPeer(f.region);
        // A store created empty bootstraps from every peer anyway.
        if (p == nullptr || replica->started_empty()) break;
        StartTransfer(*p, "it holds what an earlier store of ours wrote");
        break;
      }
      default:
        owner_dropped();
    }
  }
}

void Streams::Impl::CheckPeers() {
  const auto now = Clock::now();
  const auto silence = std::chrono::milliseconds(3 * opt.heartbeat_ms);
  uint64_t min_acked = UINT64_MAX;
  for (auto& p : peers) {
    if (p->heard && now - p->last_heard > silence) p->silent = true;
    if (!p->heard) {
      RequestCatchup(*p);  // also the first contact after (re)start
    } else if (p->latest > p->applied) {
      RequestCatchup(*p);
    }
    const bool behind = p->applied < p->latest;
    if (behind && !p->behind) p->behind_since = now;
    p->behind = behind;
    min_acked = std::min(min_acked, p->heard ? p->acked : 0);
  }
  CheckTransfers();
  ExpireServing();
  // Trim what every peer has applied.
  if (!peers.empty() && min_acked != UINT64_MAX &&
      min_acked > trimmed_through && min_acked >= replica->LogStart()) {
    Status s = replica->TrimLog(min_acked);
    if (s.ok()) trimmed_through = min_acked;
  }
}

void Streams::Impl::PublishStatus() {
  const auto now = Clock::now();
  std::vector<PeerStatus> out;
  for (auto& p : peers) {
    PeerStatus s;
    s.region = p->spec.region;
    s.connected = p->heard && !p->silent;
    s.last_heard_s =
        p->heard ? std::chrono::duration<double>(now - p->last_heard).count()
                 : -1;
    s.applied = p->applied;
    s.latest = std::max(p->latest, p->applied);
    s.lag = s.latest - s.applied;
    s.lag_seconds =
        p->behind ? std::chrono::duration<double>(now - p->behind_since).count()
                  : 0;
    s.acked = p->acked;
    s.bytes_in = p->bytes_in;
    s.bytes_out = bytes_out;
    s.catchups = p->catchups;
    s.state_transfers = p->state_transfers;
    s.dropped_frames = p->dropped;
    s.apply_failures = p->apply_failures;
    s.transfer_retries = p->transfer_retries;
    s.transferring = p->transfer.active;
    s.error = p->error;
    out.push_back(std::move(s));
  }
  std::lock_guard<std::mutex> l(status_mu);
  status = std::move(out);
}

void Streams::Impl::ApplyPeerChange() {
  std::vector<PeerSpec> specs;
  {
    std::lock_guard<std::mutex> l(status_mu);
    if (!peers_changed) return;
    peers_changed = false;
    specs = new_peers;
  }
  std::vector<std::unique_ptr<Peer>> next;
  for (const PeerSpec& spec : specs) {
    std::unique_ptr<Peer> keep;
    for (auto& p : peers) {
      if (p && p->spec.region == spec.region && p->spec.host == spec.host &&
          p->spec.port == spec.port) {
        keep = std::move(p);
      }
    }
    if (!keep) {
      keep = std::make_unique<Peer>();
      keep->spec = spec;
      Status s = OpenPeer(*keep);
      if (!s.ok()) {
        log->error("replication: cannot add peer {}: {}", spec.region,
                   s.ToString());
        continue;
      }
      log->info("replication: peer {} added ({}:{})", spec.region, spec.host,
                spec.port);
    }
    next.push_back(std::move(keep));
  }
  for (auto& p : peers) {
    if (p) log->info("replication: peer {} removed", p->spec.region);
  }
  peers = std::move(next);
}

void Streams::Impl::Loop() {
  next_heartbeat = Clock::now();
  while (!stop) {
    ApplyPeerChange();
    const auto now = Clock::now();
    auto deadline = next_heartbeat;
    if (pending) {
      deadline = std::min(deadline, pending_since + std::chrono::milliseconds(
                                                        opt.batch_interval_ms));
    }
    auto timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    timeout = std::max(timeout, std::chrono::milliseconds(0));
    timeout = std::min(timeout, std::chrono::milliseconds(100));

    std::vector<zmq::pollitem_t> items;
    items.push_back({wake_pull->handle(), 0, ZMQ_POLLIN, 0});
    items.push_back({router->handle(), 0, ZMQ_POLLIN, 0});
    for (auto& p : peers) {
      items.push_back({p->sub->handle(), 0, ZMQ_POLLIN, 0});
      items.push_back({p->dealer->handle(), 0, ZMQ_POLLIN, 0});
    }
    try {
      zmq::poll(items.data(), items.size(), timeout);
    } catch (const zmq::error_t& e) {
      if (stop) break;
      continue;
    }
    if (items[0].revents & ZMQ_POLLIN) {
      zmq::message_t m;
      while (wake_pull->recv(m, zmq::recv_flags::dontwait)) {
      }
    }
    if (!pending && replica->DurableSequence() > published) {
      pending = true;
      pending_since = Clock::now();
    }
    if (items[1].revents & ZMQ_POLLIN) HandleRouter();
    for (size_t i = 0; i < peers.size(); ++i) {
      for (int which = 0; which < 2; ++which) {
        if (!(items[2 + 2 * i + static_cast<size_t>(which)].revents &
              ZMQ_POLLIN)) {
          continue;
        }
        zmq::socket_t& s = which == 0 ? *peers[i]->sub : *peers[i]->dealer;
        for (int n = 0; n < 64; ++n) {
          zmq::message_t m;
          try {
            if (!s.recv(m, zmq::recv_flags::dontwait)) break;
          } catch (const zmq::error_t&) {
            break;
          }
          if (m.more()) {  // multi-part frames are not ours: drain, drop
            zmq::message_t rest;
            while (m.more() && s.recv(rest, zmq::recv_flags::dontwait)) {
              m = std::move(rest);
            }
            ++peers[i]->dropped;
            owner_dropped();
            continue;
          }
          HandlePeerFrame(*peers[i], m, which == 1);
        }
      }
    }
    const auto after = Clock::now();
    if (pending && after >= pending_since + std::chrono::milliseconds(
                                                opt.batch_interval_ms)) {
      Publish();
    }
    if (after >= next_heartbeat) {
      Heartbeat();
      CheckPeers();
      next_heartbeat = after + std::chrono::milliseconds(opt.heartbeat_ms);
    }
    PublishStatus();
  }
}

Streams::Streams(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Streams>> Streams::Start(
    Replica* replica, StreamsOptions options,
    std::shared_ptr<spdlog::logger> log, std::function<void()> on_progress) {
  auto impl = std::make_unique<Impl>();
  impl->replica = replica;
  impl->opt = std::move(options);
  impl->log = log ? std::move(log) : spdlog::default_logger();
  impl->on_progress = std::move(on_progress);
  impl->configured = impl->opt.peers;
  DELTAKV_RETURN_IF_ERROR(impl->Setup());
  std::unique_ptr<Streams> s(new Streams(std::move(impl)));
  s->impl_->owner = s.get();
  s->impl_->thread = std::thread([p = s->impl_.get()] { p->Loop(); });
  return s;
}

Streams::~Streams() { Stop(); }

void Streams::Stop() {
  if (!impl_ || impl_->stop.exchange(true)) return;
  Notify();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->peers.clear();
  impl_->pub.reset();
  impl_->router.reset();
  impl_->wake_pull.reset();
  {
    std::lock_guard<std::mutex> l(impl_->wake_mu);
    impl_->wake_push.reset();
  }
  impl_->zap.reset();
}

void Streams::Notify() {
  std::lock_guard<std::mutex> l(impl_->wake_mu);
  if (!impl_->wake_push) return;
  try {
    (void)impl_->wake_push->send(zmq::str_buffer("w"),
                                 zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
  }
}

void Streams::SetPeers(std::vector<PeerSpec> peers) {
  {
    std::lock_guard<std::mutex> l(impl_->status_mu);
    impl_->configured = peers;
    impl_->new_peers = std::move(peers);
    impl_->peers_changed = true;
  }
  Notify();
}

std::vector<std::string> Streams::ConfiguredPeers() const {
  std::lock_guard<std::mutex> l(impl_->status_mu);
  std::vector<std::string> out;
  for (const auto& p :
       impl_->peers_changed ? impl_->new_peers : impl_->configured) {
    out.push_back(p.region);
  }
  return out;
}

std::vector<PeerStatus> Streams::Peers() const {
  std::lock_guard<std::mutex> l(impl_->status_mu);
  return impl_->status;
}

size_t Streams::RegionsCovering(uint64_t seq) const {
  std::lock_guard<std::mutex> l(impl_->status_mu);
  size_t n = 1;
  for (const auto& p : impl_->status) {
    auto it = impl_->acked.find(p.region);
    uint64_t a = std::max(p.acked, it == impl_->acked.end() ? 0 : it->second);
    if (a >= seq) ++n;
  }
  return n;
}

std::vector<uint64_t> Streams::PeerAcks() const {
  std::lock_guard<std::mutex> l(impl_->status_mu);
  std::vector<uint64_t> out;
  for (const auto& p : impl_->status) {
    auto it = impl_->acked.find(p.region);
    out.push_back(std::max(p.acked, it == impl_->acked.end() ? 0 : it->second));
  }
  return out;
}

size_t Streams::RegionCount() const {
  std::lock_guard<std::mutex> l(impl_->status_mu);
  return 1 + impl_->status.size();
}

uint64_t Streams::curve_refused() const {
  return impl_->zap ? impl_->zap->refused() : 0;
}

}  // namespace deltakv::replication
