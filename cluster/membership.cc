#include "cluster/membership.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>

#include "core/ids.h"

namespace deltakv::cluster {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::chrono::milliseconds kMinBackoff{200};
constexpr std::chrono::milliseconds kMaxBackoff{5000};
constexpr int kJoinAttempts = 50;

json NodeJson(const RingNode& n) {
  return {{"id", n.id},
          {"vnodes", n.vnodes},
          {"zone", n.zone},
          {"http", n.http},
          {"internal", n.internal},
          {"state", std::string(NodeStateName(n.state))}};
}

std::chrono::milliseconds Jitter(std::chrono::milliseconds d) {
  thread_local std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int64_t> dist(0, d.count() / 2);
  return d + std::chrono::milliseconds(dist(rng));
}

}  // namespace

std::string Membership::Prefix(const std::string& region) {
  return "/deltakv/" + region + "/";
}
std::string Membership::RingKey(const std::string& region) {
  return Prefix(region) + "ring";
}
std::string Membership::NodeKey(const std::string& region,
                                const std::string& id) {
  return Prefix(region) + "nodes/" + id;
}

std::string Membership::EncodeRing(const std::vector<RingNode>& nodes) {
  json list = json::array();
  for (const RingNode& n : nodes) list.push_back(NodeJson(n));
  return json({{"version", 1}, {"nodes", list}}).dump();
}

Result<std::vector<RingNode>> Membership::DecodeRing(std::string_view value) {
  auto bad = [](const std::string& what) {
    return Status::InvalidArgument("malformed ring: " + what);
  };
  json j = json::parse(value.begin(), value.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  auto v = j.find("version");
  if (v == j.end() || !v->is_number_unsigned() || v->get<uint64_t>() != 1) {
    return bad("unknown version");
  }
  auto list = j.find("nodes");
  if (list == j.end() || !list->is_array()) return bad("no node list");
  std::vector<RingNode> out;
  for (const json& n : *list) {
    if (!n.is_object()) return bad("a node is not an object");
    RingNode node;
    auto str = [&](const char* field, std::string* to) {
      auto it = n.find(field);
      if (it == n.end()) return true;
      if (!it->is_string()) return false;
      *to = it->get<std::string>();
      return true;
    };
    std::string state = "normal";
    if (!str("id", &node.id) || !str("zone", &node.zone) ||
        !str("http", &node.http) || !str("internal", &node.internal) ||
        !str("state", &state)) {
      return bad("a node field is not a string");
    }
    auto parsed = ParseNodeState(state);
    if (!parsed) return bad("unknown state '" + state + "'");
    node.state = *parsed;
    auto vn = n.find("vnodes");
    if (vn == n.end() || !vn->is_number_unsigned() ||
        vn->get<uint64_t>() > Ring::kMaxVnodes) {
      return bad("node '" + node.id + "': vnodes missing or out of range");
    }
    node.vnodes = static_cast<uint32_t>(vn->get<uint64_t>());
    out.push_back(std::move(node));
  }
  // The ring's own rules (ids, duplicates, weights).
  auto ring = Ring::Build(out);
  if (!ring.ok()) return bad(ring.status().message());
  return ring->nodes();
}

Result<std::unique_ptr<Membership>> Membership::Start(MembershipOptions options,
                                                      OnRing on_ring) {
  if (!RegionId::Parse(options.region).ok()) {
    return Status::InvalidArgument("bad region '" + options.region + "'");
  }
  if (!Ring::ValidNodeId(options.self.id)) {
    return Status::InvalidArgument(
        "node id must be 1-64 bytes of [A-Za-z0-9._-], got '" +
        options.self.id + "'");
  }
  if (options.self.vnodes == 0 || options.self.vnodes > Ring::kMaxVnodes) {
    return Status::InvalidArgument("vnodes must be 1-" +
                                   std::to_string(Ring::kMaxVnodes));
  }
  if (options.lease_ttl.count() < 1 || options.lease_ttl.count() > 3600) {
    return Status::InvalidArgument("the lease TTL must be 1-3600 s");
  }
  auto etcd = EtcdClient::Create(options.etcd);
  if (!etcd.ok()) return etcd.status();
  std::unique_ptr<Membership> m(new Membership(
      std::move(options), std::move(etcd).value(), std::move(on_ring)));
  m->lease_thread_ = std::thread([p = m.get()] { p->LeaseLoop(); });
  m->watch_thread_ = std::thread([p = m.get()] { p->WatchLoop(); });
  return m;
}

Membership::Membership(MembershipOptions options, EtcdClient etcd,
                       OnRing on_ring)
    : options_(std::move(options)),
      etcd_(std::move(etcd)),
      on_ring_(std::move(on_ring)) {
  options_.self.state = NodeState::kNormal;
}

Membership::~Membership() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (lease_thread_.joinable()) lease_thread_.join();
  if (watch_thread_.joinable()) watch_thread_.join();
  int64_t lease = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    lease = lease_;
  }
  // The others see this node down now rather than after the TTL.
  if (lease != 0) (void)etcd_.LeaseRevoke(lease);
}

bool Membership::Sleep(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stop_.load(); });
  return !stop_.load();
}

void Membership::Reached() {
  bool recovered = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    recovered = !reachable_ && ever_reached_;
    reachable_ = true;
    ever_reached_ = true;
    error_.clear();
    last_contact_ = Clock::now();
  }
  if (recovered && options_.log) options_.log(false, "etcd reachable again");
}

void Membership::Failed(const Status& s) {
  bool was = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A malformed answer or a refused request still means etcd answered.
    if (s.code() == Code::kUnavailable || s.code() == Code::kTimeout) {
      was = reachable_;
      reachable_ = false;
      if (was) ++watch_epoch_;
    }
    error_ = s.message();
  }
  if (options_.log && (was || s.code() != Code::kUnavailable)) {
    options_.log(true, s.message() + (was ? " (keeping the last ring)" : ""));
  }
}

Status Membership::Register() {
  auto lease = etcd_.LeaseGrant(options_.lease_ttl.count());
  if (!lease.ok()) return lease.status();
  RingNode self = options_.self;
  auto put = etcd_.Put(NodeKey(options_.region, self.id), NodeJson(self).dump(),
                       lease->id);
  if (!put.ok()) {
    (void)etcd_.LeaseRevoke(lease->id);
    return put.status();
  }
  std::lock_guard<std::mutex> lock(mu_);
  lease_ = lease->id;
  return Status::OK();
}

Status Membership::JoinRing() {
  const std::string key = RingKey(options_.region);
  for (int attempt = 0; attempt < kJoinAttempts && !stop_; ++attempt) {
    auto current = etcd_.Range(key);
    if (!current.ok()) return current.status();
    std::vector<RingNode> nodes;
    int64_t mod = 0;
    if (!current->kvs.empty()) {
      mod = current->kvs[0].mod_revision;
      auto decoded = DecodeRing(current->kvs[0].value);
      if (!decoded.ok()) return decoded.status();  // never overwrite it
      nodes = std::move(decoded).value();
    }
    auto it = std::find_if(nodes.begin(), nodes.end(), [&](const RingNode& n) {
      return n.id == options_.self.id;
    });
    RingNode want = options_.self;
    if (it != nodes.end()) {
      // Known: keep a leaving state; otherwise normal, with this start's
      // addresses and weight.
      if (it->state == NodeState::kLeaving) want.state = NodeState::kLeaving;
      if (*it == want) return Status::OK();
      // joining -> normal, or new addresses.
      *it = want;
    } else {
      want.state = NodeState::kJoining;
      nodes.push_back(want);
    }
    std::vector<EtcdCompare> cmp;
    if (current->kvs.empty()) {
      cmp.push_back({key, EtcdCompare::Target::kVersion, 0});
    } else {
      cmp.push_back({key, EtcdCompare::Target::kModRevision, mod});
    }
    EtcdOp put;
    put.kind = EtcdOp::Kind::kPut;
    put.key = key;
    auto built = Ring::Build(nodes);
    if (!built.ok()) return built.status();
    put.value = EncodeRing(built->nodes());
    auto txn = etcd_.Txn(cmp, {put}, {});
    if (!txn.ok()) return txn.status();
    // Conflict or the joining step done: read again and go on.
    if (!txn->succeeded) {
      if (!Sleep(Jitter(std::chrono::milliseconds(20)))) break;
    }
  }
  if (stop_) return Status::OK();
  return Status::Unavailable("could not join the ring: too many conflicts");
}

void Membership::LeaseLoop() {
  std::chrono::milliseconds backoff = kMinBackoff;
  bool joined = false;  // this node is in the ring, not joining
  const auto every = std::chrono::duration_cast<std::chrono::milliseconds>(
                         options_.lease_ttl) /
                     3;
  while (!stop_) {
    int64_t lease = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      lease = lease_;
    }
    Status s;
    if (lease == 0) {
      s = Register();
      if (s.ok() && options_.log) {
        options_.log(false, "registered in etcd as " + options_.self.id);
      }
    } else if (!joined) {
      s = JoinRing();
      joined = s.ok();
    } else {
      auto alive = etcd_.LeaseKeepAlive(lease);
      s = alive.status();
      if (s.code() == Code::kNotFound) {
        // Expired (etcd was away longer than the TTL, or lost its data):
        // register again, and make sure the ring still holds this node.
        std::lock_guard<std::mutex> lock(mu_);
        lease_ = 0;
        joined = false;
      }
    }
    if (s.ok()) {
      Reached();
      backoff = kMinBackoff;
      if (lease == 0 || !joined) continue;  // join (or keep alive) at once
      if (!Sleep(every)) break;
      continue;
    }
    Failed(s);
    if (s.code() == Code::kNotFound) continue;
    if (!Sleep(std::min(Jitter(backoff), every))) break;
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

Result<int64_t> Membership::Refresh() {
  auto all = etcd_.RangePrefix(Prefix(options_.region));
  if (!all.ok()) return all.status();
  const std::string ring_key = RingKey(options_.region);
  const std::string nodes_prefix = Prefix(options_.region) + "nodes/";
  std::set<std::string> up;
  std::optional<std::vector<RingNode>> nodes;
  int64_t ring_rev = 0;
  for (const EtcdKeyValue& kv : all->kvs) {
    if (kv.key == ring_key) {
      auto decoded = DecodeRing(kv.value);
      if (!decoded.ok()) {
        Failed(decoded.status());  // keep the last ring
        continue;
      }
      nodes = std::move(decoded).value();
      ring_rev = kv.mod_revision;
    } else if (kv.key.rfind(nodes_prefix, 0) == 0) {
      up.insert(kv.key.substr(nodes_prefix.size()));
    }
  }
  std::optional<Ring> fresh;
  if (nodes) {
    auto built = Ring::Build(std::move(*nodes));
    if (built.ok()) fresh = std::move(built).value();
  }
  bool changed = false;
  Ring copy;
  {
    std::lock_guard<std::mutex> lock(mu_);
    up_ = std::move(up);
    if (fresh && ring_rev != ring_revision_) {
      ring_ = std::move(*fresh);
      ring_revision_ = ring_rev;
      changed = true;
      copy = ring_;
    }
  }
  if (changed && on_ring_) on_ring_(copy, ring_rev);
  return all->revision;
}

void Membership::WatchLoop() {
  std::chrono::milliseconds backoff = kMinBackoff;
  const std::string prefix = Prefix(options_.region);
  const std::string end = EtcdClient::PrefixEnd(prefix);
  while (!stop_) {
    auto rev = Refresh();
    if (!rev.ok()) {
      Failed(rev.status());
      if (!Sleep(Jitter(backoff))) break;
      backoff = std::min(backoff * 2, kMaxBackoff);
      continue;
    }
    Reached();
    backoff = kMinBackoff;
    // Follow changes from the revision read; each batch re-reads the
    // region (a few keys), so a missed event cannot leave a stale view.
    Status failure;
    const uint64_t epoch = watch_epoch_.load();
    Status s = etcd_.Watch(
        prefix, end, *rev + 1,
        [&](const EtcdWatchBatch& batch) {
          if (batch.created && batch.events.empty()) return true;
          auto r = Refresh();
          if (!r.ok()) {
            failure = r.status();
            return false;
          }
          Reached();
          return true;
        },
        [this, epoch] { return stop_.load() || watch_epoch_.load() != epoch; });
    if (stop_) break;
    if (!failure.ok()) s = failure;
    if (!s.ok()) {
      Failed(s);
      if (!Sleep(Jitter(backoff))) break;
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
  }
}

Ring Membership::ring() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ring_;
}

ClusterView Membership::View() const {
  ClusterView v;
  v.region = options_.region;
  v.node_id = options_.self.id;
  v.etcd = true;
  v.etcd_endpoints = etcd_.endpoints();
  std::lock_guard<std::mutex> lock(mu_);
  v.ring_revision = ring_revision_;
  v.etcd_reachable = reachable_;
  v.etcd_error = error_;
  v.registered = lease_ != 0;
  if (ever_reached_) {
    v.etcd_last_contact_s =
        std::chrono::duration<double>(Clock::now() - last_contact_).count();
  }
  for (const RingNode& n : ring_.nodes()) {
    ClusterNodeView nv;
    nv.id = n.id;
    nv.up = up_.count(n.id) > 0;
    nv.state = std::string(NodeStateName(n.state));
    nv.http = n.http;
    nv.internal = n.internal;
    nv.zone = n.zone;
    nv.vnodes = n.vnodes;
    v.nodes.push_back(std::move(nv));
  }
  return v;
}

}  // namespace deltakv::cluster
