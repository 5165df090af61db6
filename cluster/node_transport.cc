#include "cluster/node_transport.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "replication/curve.h"

namespace deltakv::cluster {

namespace {

using Clock = std::chrono::steady_clock;

// Requests waiting for their reply, by id.
struct PendingCall {
  Clock::time_point deadline;
  NodeTransport::ReplyFn done;
};

// A frame for the I/O thread to send: a request to a node (address) or a
// reply to a ROUTER peer (routing id).
struct Outgoing {
  std::string address;     // request
  std::string routing_id;  // reply
  std::string bytes;
  uint64_t id = 0;  // request: its id (pending_)
};

// A request received, for the handler pool.
struct Incoming {
  std::string routing_id;
  std::string bytes;
};

// Requests, and their bytes, waiting for the handler threads at most;
// beyond, a request is answered Unavailable at once, so a flood from one
// node cannot grow memory without bound.
constexpr size_t kMaxQueuedRequests = 16384;
constexpr size_t kMaxQueuedBytes = size_t{256} << 20;

// The error reply to the request `bytes`, when its id can be read.
std::optional<std::string> ErrorReply(std::string_view bytes, Status s) {
  if (bytes.size() < wire::kHeaderBytes) return std::nullopt;
  wire::Frame reply;
  reply.kind = wire::Kind::kReply;
  for (int i = 0; i < 8; ++i) {
    reply.id |= uint64_t{static_cast<uint8_t>(bytes[3 + i])} << (8 * i);
  }
  const uint8_t kind = static_cast<uint8_t>(bytes[2]);
  reply.request = kind >= 1 && kind < wire::kMaxKind
                      ? static_cast<wire::Kind>(kind)
                      : wire::Kind::kApply;
  reply.status = std::move(s);
  return wire::Encode(reply);
}

}  // namespace

struct NodeTransport::Impl {
  NodeTransportOptions opt;
  Handler handler;
  zmq::context_t ctx{1};
  std::unique_ptr<replication::ZapHandler> zap;
  std::unique_ptr<zmq::socket_t> router, wake_pull, wake_push;
  std::map<std::string, std::unique_ptr<zmq::socket_t>> dealers;  // I/O
  std::map<std::string, Clock::time_point> dealer_born;           // I/O
  // Requests to a connection still being set up, sent again next turn.
  std::deque<Outgoing> held;  // I/O thread
  int port = 0;

  std::mutex mu;
  std::deque<Outgoing> out;                 // guarded by mu
  std::vector<std::string> connects;        // guarded by mu
  std::map<uint64_t, PendingCall> pending;  // guarded by mu
  uint64_t next_id = 1;                     // guarded by mu
  bool stopped = false;                     // guarded by mu

  // One queue per handler thread; the requests of one peer all go to the
  // same one, so they are served in the order that peer sent them (its
  // writes to a key are applied in order).
  struct Worker {
    std::deque<Incoming> queue;  // guarded by work_mu
    std::condition_variable cv;
    std::thread thread;
  };
  std::mutex work_mu;
  std::vector<std::unique_ptr<Worker>> workers;
  size_t queued = 0, queued_bytes = 0;  // guarded by work_mu
  bool work_stop = false;               // guarded by work_mu
  std::mutex stop_mu;                   // Stop runs once
  bool stop_done = false;               // guarded by stop_mu

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> requests_in{0}, requests_out{0}, timeouts{0},
      send_failures{0}, malformed{0}, bytes_in{0}, bytes_out{0}, busy{0};
  std::thread io;

  Status Setup();
  void Wake();
  void Configure(zmq::socket_t& s) {
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::sndhwm, 100000);
    s.set(zmq::sockopt::rcvhwm, 100000);
    s.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(wire::kMaxFrameBytes));
    // ZMTP heartbeats drop a connection whose peer went silent.
    s.set(zmq::sockopt::heartbeat_ivl, 500);
    s.set(zmq::sockopt::heartbeat_timeout, 1500);
    s.set(zmq::sockopt::heartbeat_ttl, 1500);
  }
  zmq::socket_t* Dealer(const std::string& address);
  void Loop();
  void WorkerLoop(Worker* w);
  void Stop();
  void HandleRouter();
  void HandleDealer(zmq::socket_t& s);
  void Expire();
  void Fail(uint64_t id, Status s);
};

Status NodeTransport::Impl::Setup() {
  const size_t colon = opt.bind.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Status::InvalidArgument("--internal must be HOST:PORT, not '" +
                                   opt.bind + "'");
  }
  std::string host = opt.bind.substr(0, colon);
  if (host == "0.0.0.0") host = "*";
  if (!opt.insecure) {
    DELTAKV_RETURN_IF_ERROR(replication::CheckCurveAvailable());
    // Every node of the region holds the region's key pair: the ROUTER
    // admits that key only.
    DELTAKV_ASSIGN_OR_RETURN(zap, replication::ZapHandler::Start(
                                      &ctx, {{"region", opt.public_key}}));
  }
  try {
    router = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::router);
    Configure(*router);
    if (!opt.insecure) {
      router->set(zmq::sockopt::curve_server, 1);
      router->set(zmq::sockopt::curve_secretkey, opt.secret_key);
      router->set(zmq::sockopt::zap_domain, "deltakv-internal");
    }
    router->bind("tcp://" + host + ":" + opt.bind.substr(colon + 1));
    const std::string ep = router->get(zmq::sockopt::last_endpoint);
    port = std::stoi(ep.substr(ep.rfind(':') + 1));
    wake_pull = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::pull);
    wake_pull->bind("inproc://deltakv-node-wake");
    wake_push = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::push);
    wake_push->set(zmq::sockopt::linger, 0);
    wake_push->set(zmq::sockopt::sndhwm, 1);
    wake_push->connect("inproc://deltakv-node-wake");
  } catch (const zmq::error_t& e) {
    return Status::IOError("--internal: cannot bind " + opt.bind + ": " +
                           e.what());
  }
  return Status::OK();
}

void NodeTransport::Impl::Wake() {
  // Under mu: the push socket is shared by the callers.
  try {
    zmq::message_t m(0);
    (void)wake_push->send(m, zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
  }
}

zmq::socket_t* NodeTransport::Impl::Dealer(const std::string& address) {
  auto it = dealers.find(address);
  if (it != dealers.end()) return it->second.get();
  try {
    auto s = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
    Configure(*s);
    // Queue only on a live connection: a request to a node that is down
    // fails at once instead of waiting for its timeout, and is never
    // delivered late.
    s->set(zmq::sockopt::immediate, 1);
    s->set(zmq::sockopt::reconnect_ivl, 100);
    s->set(zmq::sockopt::reconnect_ivl_max, 1000);
    s->set(zmq::sockopt::connect_timeout, 1000);
    if (!opt.insecure) {
      s->set(zmq::sockopt::curve_serverkey, opt.public_key);
      s->set(zmq::sockopt::curve_publickey, opt.public_key);
      s->set(zmq::sockopt::curve_secretkey, opt.secret_key);
    }
    s->connect("tcp://" + address);
    zmq::socket_t* raw = s.get();
    dealers.emplace(address, std::move(s));
    dealer_born[address] = Clock::now();
    return raw;
  } catch (const zmq::error_t& e) {
    if (opt.log) opt.log("cannot connect to node " + address + ": " + e.what());
    return nullptr;
  }
}

void NodeTransport::Impl::Fail(uint64_t id, Status s) {
  NodeTransport::ReplyFn done;
  {
    std::lock_guard<std::mutex> l(mu);
    auto it = pending.find(id);
    if (it == pending.end()) return;
    done = std::move(it->second.done);
    pending.erase(it);
  }
  done(std::move(s));
}

void NodeTransport::Impl::Expire() {
  std::vector<NodeTransport::ReplyFn> expired;
  {
    std::lock_guard<std::mutex> l(mu);
    const auto now = Clock::now();
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(std::move(it->second.done));
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
  }
  timeouts += expired.size();
  for (auto& done : expired) {
    done(Status::Timeout("no answer from the node in time"));
  }
}

void NodeTransport::Impl::HandleRouter() {
  for (int n = 0; n < 256; ++n) {
    std::vector<zmq::message_t> parts;
    try {
      zmq::message_t m;
      if (!router->recv(m, zmq::recv_flags::dontwait)) return;
      parts.push_back(std::move(m));
      while (parts.back().more()) {
        zmq::message_t more;
        if (!router->recv(more, zmq::recv_flags::dontwait)) break;
        parts.push_back(std::move(more));
      }
    } catch (const zmq::error_t&) {
      return;
    }
    if (parts.size() != 2) {
      ++malformed;
      continue;
    }
    ++requests_in;
    bytes_in += parts[1].size();
    Incoming in;
    in.routing_id.assign(parts[0].data<char>(), parts[0].size());
    in.bytes.assign(parts[1].data<char>(), parts[1].size());
    Worker* w =
        workers[std::hash<std::string>{}(in.routing_id) % workers.size()].get();
    bool taken = false;
    {
      std::lock_guard<std::mutex> l(work_mu);
      const size_t size = in.bytes.size();
      if (!work_stop && queued < kMaxQueuedRequests &&
          (queued == 0 || queued_bytes + size <= kMaxQueuedBytes)) {
        ++queued;
        queued_bytes += size;
        w->queue.push_back(std::move(in));
        taken = true;
      }
    }
    if (taken) {
      w->cv.notify_one();
      continue;
    }
    ++busy;
    auto reply = ErrorReply(
        in.bytes, Status::Unavailable("node busy: too many requests queued"));
    if (!reply) continue;
    try {
      zmq::message_t id(in.routing_id.data(), in.routing_id.size());
      zmq::message_t body(reply->data(), reply->size());
      if (router->send(id,
                       zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
        (void)router->send(body, zmq::send_flags::dontwait);
      }
    } catch (const zmq::error_t&) {
    }
  }
}

void NodeTransport::Impl::HandleDealer(zmq::socket_t& s) {
  for (int n = 0; n < 256; ++n) {
    zmq::message_t m;
    try {
      if (!s.recv(m, zmq::recv_flags::dontwait)) return;
    } catch (const zmq::error_t&) {
      return;
    }
    if (m.more()) {  // not ours: drain and drop
      zmq::message_t rest;
      while (m.more() && s.recv(rest, zmq::recv_flags::dontwait)) {
        m = std::move(rest);
      }
      ++malformed;
      continue;
    }
    bytes_in += m.size();
    auto f = wire::Decode(std::string_view(m.data<char>(), m.size()));
    if (!f.ok() || f->kind != wire::Kind::kReply) {
      ++malformed;
      if (opt.log) {
        opt.log("node reply refused: " +
                (f.ok() ? std::string("not a reply") : f.status().ToString()));
      }
      continue;
    }
    NodeTransport::ReplyFn done;
    {
      std::lock_guard<std::mutex> l(mu);
      auto it = pending.find(f->id);
      if (it == pending.end()) continue;  // timed out already
      done = std::move(it->second.done);
      pending.erase(it);
    }
    done(std::move(f).value());
  }
}

void NodeTransport::Impl::WorkerLoop(Worker* w) {
  for (;;) {
    Incoming in;
    {
      std::unique_lock<std::mutex> l(work_mu);
      w->cv.wait(l, [&] { return work_stop || !w->queue.empty(); });
      if (work_stop) return;  // what is left goes unanswered: callers time out
      in = std::move(w->queue.front());
      w->queue.pop_front();
      --queued;
      queued_bytes -= in.bytes.size();
    }
    auto f = wire::Decode(in.bytes);
    if (!f.ok() || f->kind == wire::Kind::kReply) {
      ++malformed;
      if (opt.log) {
        opt.log("node request refused: " +
                (f.ok() ? std::string("a reply") : f.status().ToString()));
      }
      // An id we could read gets an answer, so the caller need not wait.
      auto reply =
          ErrorReply(in.bytes, f.ok() ? Status::InvalidArgument("not a request")
                                      : f.status());
      if (reply) {
        Outgoing o;
        o.routing_id = std::move(in.routing_id);
        o.bytes = std::move(*reply);
        std::lock_guard<std::mutex> l(mu);
        if (stopped) continue;
        out.push_back(std::move(o));
        Wake();
      }
      continue;
    }
    const uint64_t id = f->id;
    const wire::Kind kind = f->kind;
    auto respond = [this, routing_id = std::move(in.routing_id), id,
                    kind](wire::Frame reply) {
      reply.kind = wire::Kind::kReply;
      reply.id = id;
      reply.request = kind;
      Outgoing o;
      o.routing_id = routing_id;
      o.bytes = wire::Encode(reply);
      if (o.bytes.size() > wire::kMaxFrameBytes) {
        // The peer would drop the connection for it: say so instead.
        wire::Frame too_large;
        too_large.kind = wire::Kind::kReply;
        too_large.id = id;
        too_large.request = kind;
        too_large.status =
            Status::TooLarge("the answer is over " +
                             std::to_string(wire::kMaxFrameBytes) + " bytes");
        o.bytes = wire::Encode(too_large);
      }
      std::lock_guard<std::mutex> l(mu);
      if (stopped) return;
      out.push_back(std::move(o));
      Wake();
    };
    handler(std::move(f).value(), std::move(respond));
  }
}

void NodeTransport::Impl::Loop() {
  while (!stop) {
    std::deque<Outgoing> batch;
    batch.swap(held);
    std::vector<std::string> to_connect;
    Clock::time_point next_deadline = Clock::now() + std::chrono::seconds(1);
    {
      std::lock_guard<std::mutex> l(mu);
      for (Outgoing& o : out) batch.push_back(std::move(o));
      out.clear();
      to_connect.swap(connects);
      for (const auto& [id, p] : pending) {
        next_deadline = std::min(next_deadline, p.deadline);
      }
    }
    for (const std::string& a : to_connect) Dealer(a);
    for (Outgoing& o : batch) {
      try {
        if (!o.routing_id.empty()) {
          zmq::message_t id(o.routing_id.data(), o.routing_id.size());
          zmq::message_t body(o.bytes.data(), o.bytes.size());
          // A reply to a peer that went away is dropped by the ROUTER.
          if (router->send(
                  id, zmq::send_flags::sndmore | zmq::send_flags::dontwait) &&
              router->send(body, zmq::send_flags::dontwait)) {
            bytes_out += o.bytes.size();
          }
          continue;
        }
        zmq::socket_t* s = Dealer(o.address);
        zmq::message_t body(o.bytes.data(), o.bytes.size());
        const bool sent = s != nullptr &&
                          s->send(body, zmq::send_flags::dontwait).has_value();
        if (!sent && s != nullptr &&
            Clock::now() - dealer_born[o.address] < std::chrono::seconds(1)) {
          // The connection is being set up: try again shortly (the call's
          // deadline still bounds it).
          bool waiting;
          {
            std::lock_guard<std::mutex> l(mu);
            waiting = pending.count(o.id) != 0;
          }
          if (waiting) held.push_back(std::move(o));
          continue;
        }
        if (!sent) {
          ++send_failures;
          Fail(o.id, Status::Unavailable("not connected to node " + o.address));
          continue;
        }
        bytes_out += o.bytes.size();
      } catch (const zmq::error_t& e) {
        ++send_failures;
        if (o.routing_id.empty()) {
          Fail(o.id, Status::Unavailable("cannot send to node " + o.address +
                                         ": " + e.what()));
        }
      }
    }
    std::vector<zmq::pollitem_t> items;
    items.push_back({wake_pull->handle(), 0, ZMQ_POLLIN, 0});
    items.push_back({router->handle(), 0, ZMQ_POLLIN, 0});
    std::vector<zmq::socket_t*> polled;
    for (auto& [address, s] : dealers) {
      items.push_back({s->handle(), 0, ZMQ_POLLIN, 0});
      polled.push_back(s.get());
    }
    auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        next_deadline - Clock::now());
    timeout = std::clamp(timeout, std::chrono::milliseconds(0),
                         std::chrono::milliseconds(held.empty() ? 1000 : 5));
    try {
      zmq::poll(items.data(), items.size(), timeout);
    } catch (const zmq::error_t&) {
      if (stop) break;
      continue;
    }
    if (items[0].revents & ZMQ_POLLIN) {
      zmq::message_t m;
      while (wake_pull->recv(m, zmq::recv_flags::dontwait)) {
      }
    }
    if (items[1].revents & ZMQ_POLLIN) HandleRouter();
    for (size_t i = 0; i < polled.size(); ++i) {
      if (items[2 + i].revents & ZMQ_POLLIN) HandleDealer(*polled[i]);
    }
    Expire();
  }
}

Result<std::unique_ptr<NodeTransport>> NodeTransport::Start(
    NodeTransportOptions options, Handler handler) {
  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(options);
  impl->handler = std::move(handler);
  DELTAKV_RETURN_IF_ERROR(impl->Setup());
  Impl* raw = impl.get();
  const size_t n = std::max<size_t>(1, raw->opt.handler_threads);
  for (size_t i = 0; i < n; ++i) {
    raw->workers.push_back(std::make_unique<Impl::Worker>());
  }
  for (auto& w : raw->workers) {
    w->thread = std::thread([raw, w = w.get()] { raw->WorkerLoop(w); });
  }
  raw->io = std::thread([raw] { raw->Loop(); });
  return std::unique_ptr<NodeTransport>(new NodeTransport(std::move(impl)));
}

NodeTransport::NodeTransport(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

void NodeTransport::Impl::Stop() {
  std::lock_guard<std::mutex> once(stop_mu);
  if (stop_done) return;
  stop_done = true;
  // New calls fail at once and answers are dropped from here on.
  {
    std::lock_guard<std::mutex> l(mu);
    stopped = true;
    stop = true;
    Wake();
  }
  io.join();  // nothing more comes in
  {
    std::lock_guard<std::mutex> l(work_mu);
    work_stop = true;
    for (auto& w : workers) w->queue.clear();
    queued = queued_bytes = 0;
  }
  for (auto& w : workers) w->cv.notify_all();
  for (auto& w : workers) w->thread.join();  // handlers running finish
  std::map<uint64_t, PendingCall> left;
  {
    std::lock_guard<std::mutex> l(mu);
    left.swap(pending);
  }
  for (auto& [id, p] : left) {
    p.done(Status::Unavailable("node transport stopped"));
  }
}

void NodeTransport::Stop() { impl_->Stop(); }

NodeTransport::~NodeTransport() {
  impl_->Stop();
  impl_->dealers.clear();
  impl_->router.reset();
  impl_->wake_pull.reset();
  impl_->wake_push.reset();
  impl_->zap.reset();
}

void NodeTransport::Call(const std::string& address, wire::Frame request,
                         std::chrono::milliseconds timeout, ReplyFn done) {
  std::unique_lock<std::mutex> l(impl_->mu);
  if (impl_->stopped) {
    l.unlock();
    done(Status::Unavailable("node transport stopped"));
    return;
  }
  request.id = impl_->next_id++;
  Outgoing o;
  o.address = address;
  o.id = request.id;
  o.bytes = wire::Encode(request);
  if (o.bytes.size() > wire::kMaxFrameBytes) {
    l.unlock();
    done(Status::TooLarge("node frame over " +
                          std::to_string(wire::kMaxFrameBytes) + " bytes"));
    return;
  }
  ++impl_->requests_out;
  impl_->pending[o.id] = PendingCall{Clock::now() + timeout, std::move(done)};
  impl_->out.push_back(std::move(o));
  impl_->Wake();
}

void NodeTransport::Connect(const std::string& address) {
  std::lock_guard<std::mutex> l(impl_->mu);
  if (impl_->stopped) return;
  impl_->connects.push_back(address);
  impl_->Wake();
}

int NodeTransport::port() const { return impl_->port; }

NodeTransportStats NodeTransport::Stats() const {
  NodeTransportStats s;
  s.requests_in = impl_->requests_in.load();
  s.requests_out = impl_->requests_out.load();
  s.timeouts = impl_->timeouts.load();
  s.send_failures = impl_->send_failures.load();
  s.malformed = impl_->malformed.load();
  s.bytes_in = impl_->bytes_in.load();
  s.bytes_out = impl_->bytes_out.load();
  s.busy = impl_->busy.load();
  return s;
}

}  // namespace deltakv::cluster
