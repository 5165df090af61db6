#include "cluster/local_service.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <set>

#include "core/ids.h"
#include "replication/replica.h"
#include "replication/streams.h"

namespace deltakv::cluster {

using replication::Op;
using replication::OpKind;

// ------------------------------------------------------------ small types

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kCounter:
      return "counter";
    case KeyType::kRegister:
      return "register";
    case KeyType::kSet:
      return "set";
    case KeyType::kList:
      return "list";
    default:
      return "mvregister";
  }
}

void Cancellation::OnCancel(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!cancelled_) {
      fn_ = std::move(fn);
      return;
    }
  }
  fn();
}

void Cancellation::Clear() {
  std::function<void()> old;
  std::lock_guard<std::mutex> l(mu_);
  old.swap(fn_);
}

void Cancellation::Cancel() {
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (cancelled_) return;
    cancelled_ = true;
    fn.swap(fn_);
  }
  if (fn) fn();
}

bool Cancellation::cancelled() const {
  std::lock_guard<std::mutex> l(mu_);
  return cancelled_;
}

namespace {

KeyType TypeOf(crdt::CrdtType t) {
  switch (t) {
    case crdt::CrdtType::kCounter:
      return KeyType::kCounter;
    case crdt::CrdtType::kRegister:
      return KeyType::kRegister;
    case crdt::CrdtType::kSet:
      return KeyType::kSet;
    case crdt::CrdtType::kList:
      return KeyType::kList;
    default:
      return KeyType::kOther;
  }
}

OpKind KindOf(WriteKind k) {
  switch (k) {
    case WriteKind::kCounterIncrement:
      return OpKind::kCounterIncrement;
    case WriteKind::kRegisterSet:
      return OpKind::kRegisterSet;
    case WriteKind::kSetAdd:
      return OpKind::kSetAdd;
    case WriteKind::kSetRemove:
      return OpKind::kSetRemove;
    case WriteKind::kDelete:
      return OpKind::kDelete;
    case WriteKind::kListInsert:
      return OpKind::kListInsert;
    case WriteKind::kListDelete:
      return OpKind::kListDelete;
    case WriteKind::kListPush:
      return OpKind::kListPush;
  }
  return OpKind::kDelete;
}

Status Stopping(const std::shared_ptr<Cancellation>& cancel) {
  if (cancel && cancel->cancelled()) {
    return Status::Unavailable("cancelled: the client went away");
  }
  return Status::Unavailable("the server is stopping");
}

}  // namespace

// --------------------------------------------------------------- service

LocalService::LocalService(replication::Replica* replica,
                           LocalServiceOptions options)
    : replica_(replica),
      options_(options),
      waiters_([this] { return ReadLevels(); }, options.max_parked) {}

LocalService::~LocalService() = default;

size_t LocalService::RegionCount() const {
  return options_.streams ? options_.streams->RegionCount() : 1;
}

bool LocalService::Park(Waiters::Check check, std::chrono::milliseconds timeout,
                        const std::shared_ptr<Cancellation>& cancel,
                        std::function<void(Waiters::Outcome)> done) {
  if (cancel && cancel->cancelled()) {
    done(Waiters::Outcome::kCancelled);
    return true;
  }
  const uint64_t id =
      waiters_.Wait(std::move(check), timeout,
                    [cancel, done = std::move(done)](Waiters::Outcome o) {
                      if (cancel) cancel->Clear();
                      done(o);
                    });
  if (id == 0) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (cancel) cancel->OnCancel([this, id] { waiters_.Cancel(id); });
  return true;
}

namespace {

// A one-node region keeps one replica of each key.
Status CheckOneReplica(uint32_t n, const char* name) {
  if (n == 0 || n == 1 || n == kQuorum || n == kAllReplicas || n == kAllLive) {
    return Status::OK();
  }
  return Status::InvalidArgument(
      std::string(name) + " is " + std::to_string(n) +
      " but this region keeps 1 replica of each key");
}

}  // namespace

void LocalService::Write(WriteOp w, WriteOptions options, WriteDone done) {
  if (Status s = CheckOneReplica(options.w, "w"); !s.ok()) return done(s);
  const size_t regions = RegionCount();
  if (options.wait_regions > regions) {
    return done(Status::InvalidArgument(
        "wait_regions is " + std::to_string(options.wait_regions) +
        " but only " + std::to_string(regions) + " region(s) are configured"));
  }
  Op op;
  op.kind = KindOf(w.kind);
  op.key = std::move(w.key);
  op.by = w.by;
  op.value = std::move(w.value);
  op.members = std::move(w.values);
  op.index = w.index;
  op.count = w.count;
  op.front = w.front;
  op.want_delta = w.want_delta;
  replica_->Submit(std::move(op), [this, options = std::move(options),
                                   done = std::move(done)](
                                      Result<replication::OpResult> r) {
    if (!r.ok()) return done(r.status());
    WriteResult out;
    out.value = r->value;
    out.size = r->size;
    out.changed = r->changed;
    out.deleted = r->deleted;
    out.seq = r->seq;
    out.delta = std::move(r->delta);
    out.delta_type = static_cast<uint8_t>(r->type);
    if (options.want_token) out.token = Token();
    const uint32_t wait = options.wait_regions;
    if (wait <= 1 || out.seq == 0 || !options_.streams) return done(out);
    // Answer once `wait` regions applied it.
    const std::string level = "w/" + std::to_string(wait);
    const uint64_t seq = out.seq;
    auto shared = std::make_shared<WriteResult>(std::move(out));
    const bool parked = Park(
        [level,
         seq](const Waiters::Levels& levels) -> std::optional<Waiters::Level> {
          auto it = levels.find(level);
          if (it != levels.end() && it->second >= seq) return std::nullopt;
          return Waiters::Level{level, seq};
        },
        options.timeout, options.cancel,
        [shared, done, wait, cancel = options.cancel](Waiters::Outcome o) {
          switch (o) {
            case Waiters::Outcome::kReady:
              return done(*shared);
            case Waiters::Outcome::kTimeout:
              return done(Status::Timeout(
                  "fewer than " + std::to_string(wait) +
                  " regions applied the write in time; it is applied "
                  "locally and will still replicate"));
            case Waiters::Outcome::kCancelled:
              return done(Stopping(cancel));
          }
        });
    if (!parked) {
      done(Status::Unavailable(
          "too many requests are waiting for causal tokens or regions; retry "
          "later (the write is applied locally and will still replicate)"));
    }
  });
}

Status LocalService::Backup(int fd) const { return replica_->Backup(fd); }

void LocalService::Read(ReadOp op, ReadOptions options, ReadDone done) {
  if (Status s = CheckOneReplica(options.r, "r"); !s.ok()) return done(s);
  if (options.after.empty()) return done(ReadNow(op));
  std::string after = std::move(options.after);
  AwaitToken(std::move(after), options.timeout, std::move(options.cancel),
             [this, op = std::move(op), done = std::move(done)](Status s) {
               if (!s.ok()) return done(s);
               done(ReadNow(op));
             });
}

Result<ReadResult> LocalService::ReadNow(const ReadOp& op) const {
  ReadResult out;
  crdt::CrdtType type;
  switch (op.kind) {
    case ReadKind::kCounter:
      type = crdt::CrdtType::kCounter;
      break;
    case ReadKind::kRegister:
      type = crdt::CrdtType::kRegister;
      break;
    case ReadKind::kSetMembers:
    case ReadKind::kSetSize:
    case ReadKind::kSetContains:
    case ReadKind::kSetPage:
      type = crdt::CrdtType::kSet;
      break;
    case ReadKind::kListRange:
      type = crdt::CrdtType::kList;
      break;
    case ReadKind::kType:
    case ReadKind::kString:
    case ReadKind::kAny:
    default: {
      auto t = replica_->TypeOf(op.key);
      if (!t.ok()) return t.status();
      type = *t;
      if (op.kind == ReadKind::kType) {
        out.type = TypeOf(type);
        return out;
      }
      if (op.kind == ReadKind::kString && type != crdt::CrdtType::kCounter &&
          type != crdt::CrdtType::kRegister) {
        return Status::WrongType("the key holds a " +
                                 std::string(crdt::CrdtTypeName(type)));
      }
    }
  }
  out.type = TypeOf(type);
  switch (type) {
    case crdt::CrdtType::kCounter: {
      auto v = replica_->CounterValue(op.key);
      if (!v.ok()) return v.status();
      out.counter = *v;
      return out;
    }
    case crdt::CrdtType::kRegister: {
      auto v = replica_->RegisterGet(op.key);
      if (!v.ok()) return v.status();
      out.value = std::move(v->value);
      out.updated_at = v->updated_at;
      out.origin = std::move(v->origin);
      return out;
    }
    case crdt::CrdtType::kSet: {
      if (op.kind == ReadKind::kSetSize) {
        auto n = replica_->SetSize(op.key);
        if (!n.ok()) return n.status();
        out.size = *n;
        return out;
      }
      if (op.kind == ReadKind::kSetContains) {
        for (const std::string& m : op.values) {
          auto c = replica_->SetContains(op.key, m);
          if (!c.ok()) return c.status();
          out.contains.push_back(*c);
        }
        return out;
      }
      if (op.kind == ReadKind::kSetPage) {
        auto page = replica_->SetRange(
            op.key,
            op.position ? std::optional<std::string_view>(*op.position)
                        : std::nullopt,
            static_cast<size_t>(op.limit));
        if (!page.ok()) return page.status();
        out.values = std::move(page->members);
        out.positions = std::move(page->positions);
        out.size = page->size;
        out.more = page->more;
        return out;
      }
      auto v = replica_->SetMembers(op.key);
      if (!v.ok()) return v.status();
      out.values = std::move(v).value();
      out.size = out.values.size();
      return out;
    }
    case crdt::CrdtType::kList: {
      const bool range = op.kind == ReadKind::kListRange;
      auto v = replica_->ListRange(op.key, range ? op.offset : 0,
                                   range ? op.limit : 0);
      if (!v.ok()) return v.status();
      out.values = std::move(v->values);
      out.size = v->length;
      return out;
    }
    default:
      return Status::WrongType("unsupported key type");
  }
}

void LocalService::Scan(std::string prefix, std::string after, size_t limit,
                        ScanDone done) {
  auto page = replica_->Scan(prefix, after, limit);
  if (!page.ok()) return done(page.status());
  ScanResult out;
  out.keys.reserve(page->keys.size());
  for (size_t i = 0; i < page->keys.size(); ++i) {
    auto& k = page->keys[i];
    out.keys.push_back(KeyEntry{std::move(k.key), TypeOf(k.type),
                                i < page->positions.size()
                                    ? std::move(page->positions[i])
                                    : std::string()});
  }
  out.next = std::move(page->next);
  done(std::move(out));
}

void LocalService::WaitRegions(uint64_t seq, uint32_t regions,
                               std::chrono::milliseconds timeout,
                               std::shared_ptr<Cancellation> cancel,
                               WaitDone done) {
  const size_t configured = RegionCount();
  if (regions > configured) {
    return done(Status::InvalidArgument(
        "asked for " + std::to_string(regions) + " regions but only " +
        std::to_string(configured) + " region(s) are configured"));
  }
  auto covering = [this, seq]() -> size_t {
    return options_.streams ? options_.streams->RegionsCovering(seq) : 1;
  };
  if (regions <= 1 || seq == 0 || !options_.streams) return done(covering());
  const std::string level = "w/" + std::to_string(regions);
  const bool parked = Park(
      [level,
       seq](const Waiters::Levels& levels) -> std::optional<Waiters::Level> {
        auto it = levels.find(level);
        if (it != levels.end() && it->second >= seq) return std::nullopt;
        return Waiters::Level{level, seq};
      },
      timeout, cancel,
      [done, covering, cancel](Waiters::Outcome o) {
        if (o == Waiters::Outcome::kCancelled) return done(Stopping(cancel));
        done(covering());
      });
  if (!parked) {
    done(Status::Unavailable(
        "too many requests are waiting for causal tokens or regions; retry "
        "later"));
  }
}

void LocalService::AwaitToken(std::string token,
                              std::chrono::milliseconds timeout,
                              std::shared_ptr<Cancellation> cancel,
                              std::function<void(Status)> done) {
  std::vector<Wanted> wanted;
  Status parsed = ParseToken(token, &wanted);
  if (!parsed.ok()) return done(parsed);
  const bool parked = Park(
      [wanted = std::move(wanted)](
          const Waiters::Levels& levels) -> std::optional<Waiters::Level> {
        for (const Wanted& w : wanted) {
          auto it = levels.find(w.level);
          if (it == levels.end() || it->second < w.seq) {
            return Waiters::Level{w.level, w.seq};
          }
        }
        return std::nullopt;
      },
      timeout, cancel,
      [done, cancel](Waiters::Outcome o) {
        switch (o) {
          case Waiters::Outcome::kReady:
            return done(Status::OK());
          case Waiters::Outcome::kTimeout:
            return done(Status::Timeout(
                "this region has not yet applied everything the token "
                "names; retry, or read without a token"));
          case Waiters::Outcome::kCancelled:
            return done(Stopping(cancel));
        }
      });
  if (!parked) {
    done(Status::Unavailable(
        "too many requests are waiting for causal tokens or regions; retry "
        "later"));
  }
}

// ------------------------------------------------------- tokens and levels

// A causal token names, per origin, an incarnation (replica id) and a
// sequence of it: "region:replica:seq,..." (docs/api.md). A region that
// lost its store starts a new incarnation, so a token of the old one is
// never taken for data of the new.
std::string LocalService::Token() const {
  auto marks = replica_->AppliedMarks(/*durable_only=*/false);
  std::string out;
  if (!marks.ok()) return out;
  for (const auto& m : *marks) {
    if (m.replica == 0) continue;  // an origin whose identity is unknown
    if (!out.empty()) out += ',';
    out += m.region + ":" + ReplicaId(m.replica).ToString() + ":" +
           std::to_string(m.seq);
  }
  return out;
}

Status LocalService::ParseToken(const std::string& token,
                                std::vector<Wanted>* out) const {
  // Parse the whole token first: a malformed token is an error wherever the
  // bad part stands.
  const Status malformed = Status::InvalidArgument(
      "malformed causal token (expected region:replica:sequence,...)");
  std::vector<std::string> regions;
  out->clear();
  size_t start = 0;
  while (start <= token.size()) {
    size_t comma = token.find(',', start);
    std::string_view part(
        token.data() + start,
        (comma == std::string::npos ? token.size() : comma) - start);
    size_t c1 = part.find(':');
    size_t c2 = part.rfind(':');
    if (c1 == std::string_view::npos || c1 == c2 || c2 + 1 == part.size() ||
        part.size() - c2 - 1 > 19) {
      return malformed;
    }
    auto region = RegionId::Parse(part.substr(0, c1));
    auto replica = ReplicaId::Parse(part.substr(c1 + 1, c2 - c1 - 1));
    if (!region.ok() || !replica.ok()) return malformed;
    uint64_t seq = 0;
    for (char c : part.substr(c2 + 1)) {
      if (c < '0' || c > '9') return malformed;
      seq = seq * 10 + static_cast<uint64_t>(c - '0');
    }
    regions.emplace_back(part.substr(0, c1));
    out->push_back(
        Wanted{"o/" + regions.back() + "/" + replica->ToString(), seq});
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  // A region that is neither this one, a peer, nor one applied here can
  // never be reached: refuse the token instead of parking the request.
  std::set<std::string> known = {replica_->region()};
  if (options_.streams) {
    for (const auto& p : options_.streams->Peers()) known.insert(p.region);
    for (const auto& p : options_.streams->ConfiguredPeers()) known.insert(p);
  }
  if (auto applied = replica_->AppliedVector(); applied.ok()) {
    for (const auto& [region, seq] : *applied) known.insert(region);
  }
  for (const auto& r : regions) {
    if (!known.contains(r)) {
      return Status::InvalidArgument(
          "the causal token names region '" + r +
          "', which is neither this region nor one of its peers");
    }
  }
  return Status::OK();
}

Waiters::Levels LocalService::ReadLevels() const {
  Waiters::Levels levels;
  auto name = [](const replication::AppliedMark& m) {
    return "o/" + m.region + "/" + ReplicaId(m.replica).ToString();
  };
  // Earlier incarnations' final watermarks first: the current ones win.
  if (auto old = replica_->IncarnationMarks(); old.ok()) {
    for (const auto& m : *old) levels[name(m)] = m.seq;
  }
  if (auto marks = replica_->AppliedMarks(/*durable_only=*/false); marks.ok()) {
    for (const auto& m : *marks) {
      if (m.replica != 0) levels[name(m)] = m.seq;
    }
  }
  // This region always counts for wait_regions.
  levels["w/1"] = std::numeric_limits<uint64_t>::max();
  if (options_.streams) {
    auto acks = options_.streams->PeerAcks();
    std::sort(acks.begin(), acks.end(), std::greater<>());
    for (size_t i = 0; i < acks.size(); ++i) {
      levels["w/" + std::to_string(i + 2)] = acks[i];
    }
  }
  return levels;
}

// ---------------------------------------------------------------- status

RegionStatus LocalService::Region() const {
  RegionStatus s;
  s.region = replica_->region();
  s.replica_id = replica_->replica_id().ToString();
  s.sequence = replica_->LastSequence();
  s.log_start = replica_->LogStart();
  if (auto av = replica_->AppliedVector(); av.ok()) {
    for (const auto& [r, seq] : *av) {
      if (r != s.region) s.applied.emplace_back(r, seq);
    }
  }
  s.applied.emplace_back(s.region, s.sequence);
  std::sort(s.applied.begin(), s.applied.end());
  if (options_.streams) {
    for (const auto& p : options_.streams->Peers()) {
      PeerInfo i;
      i.region = p.region;
      i.connected = p.connected;
      i.last_heard_s = p.last_heard_s;
      i.applied = p.applied;
      i.latest = p.latest;
      i.lag = p.lag;
      i.lag_seconds = p.lag_seconds;
      i.acked = p.acked;
      i.bytes_in = p.bytes_in;
      i.bytes_out = p.bytes_out;
      i.catchups = p.catchups;
      i.state_transfers = p.state_transfers;
      i.dropped_frames = p.dropped_frames;
      i.apply_failures = p.apply_failures;
      i.transfer_retries = p.transfer_retries;
      i.transferring = p.transferring;
      i.error = p.error;
      s.peers.push_back(std::move(i));
    }
  }
  s.regions = RegionCount();
  auto u = replica_->Usage();
  s.map_used_bytes = u.used_bytes;
  s.map_size_bytes = u.map_bytes;
  s.map_max_bytes = u.max_bytes;
  s.token = Token();
  return s;
}

}  // namespace deltakv::cluster
