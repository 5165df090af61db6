// <utility> before Asio: Boost 1.74's awaitable.hpp needs it with GCC 12 in
// C++20.
#include <utility>

#include "resp/server.h"

#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "resp/commands.h"
#include "resp/reply.h"

namespace deltakv::resp {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

// What the registry of sheddable connections sees of a session.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void Close() = 0;     // from any thread
  virtual void MarkShed() = 0;  // under the registry's lock
};

constexpr size_t kReadChunk = 16 << 10;
constexpr size_t kLingerBytes = 1 << 20;
constexpr auto kLingerTimeout = std::chrono::milliseconds(1000);

}  // namespace

struct RespServer::Impl {
  // Declared first, destroyed last: handlers still queued in `ioc` when it
  // is destroyed release Sessions, which touch these.
  std::atomic<size_t> connections{0};
  std::atomic<size_t> in_flight{0};  // commands running
  std::atomic<uint64_t> shed{0};
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> next_client_id{1};
  RespServerOptions options;
  Commands* commands = nullptr;
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>>
      work;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  uint16_t port = 0;
  std::mutex mu;
  std::condition_variable idle_cv;  // in_flight reached 0
  std::set<std::weak_ptr<SessionBase>,
           std::owner_less<std::weak_ptr<SessionBase>>>
      sessions;  // guarded by mu
  bool shut_down = false;
  asio::steady_timer accept_backoff{ioc};
  std::chrono::milliseconds backoff{0};

  // Idle connections, in the order they became idle (oldest first).
  std::mutex idle_mu;
  std::map<uint64_t, std::weak_ptr<SessionBase>> idle;  // guarded by idle_mu
  uint64_t idle_order = 0;                              // guarded by idle_mu

  void Accept();
  void OnAccept(error_code ec, tcp::socket s);
  bool ShedOne();
  void Refused(std::string_view reason) {
    if (options.on_refused) options.on_refused(reason);
  }
  void CommandStarted() { in_flight.fetch_add(1); }
  void CommandDone() {
    if (in_flight.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> l(mu);
      idle_cv.notify_all();
    }
  }
};

namespace {

class Session;
// The session whose Commands::Run is on this thread's stack: an answer
// given during Run is taken at once instead of being posted.
thread_local Session* running = nullptr;

class Session : public SessionBase,
                public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, RespServer::Impl* server)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        write_timer_(socket_.get_executor()),
        parser_(server->options.limits),
        server_(server) {
    client_.id = server->next_client_id.fetch_add(1);
    error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if (!ec) {
      client_.remote =
          ep.address().to_string() + ":" + std::to_string(ep.port());
    }
  }

  ~Session() override {
    Unregister();
    client_.gone->Cancel();
    for (size_t i = 0; i < in_flight_; ++i) server_->CommandDone();
    server_->connections.fetch_sub(1);
  }

  void Start() {
    asio::dispatch(socket_.get_executor(),
                   [self = shared_from_this()] { self->Progress(); });
  }

  void Close() override {
    asio::post(socket_.get_executor(),
               [self = shared_from_this()] { self->CloseNow(); });
  }

  void MarkShed() override {
    shed_ = true;
    idle_key_.reset();
  }

 private:
  struct Slot {
    bool ready = false;
    Outcome outcome;
  };

  // After any event: start what can start, send what is ready, read more
  // when there is room, set the right deadline, close when done.
  void Progress() {
    if (closed_) return;
    Pump();
    Flush();
    ReadMore();
    Arm();
    MaybeFinish();
  }

  void ReadMore() {
    if (reading_ || closed_ || read_eof_ || close_after_write_ ||
        protocol_error_ || server_->stopping) {
      return;
    }
    const auto& o = server_->options;
    if (slots_.size() >= o.max_pipeline || out_.size() >= o.max_output_bytes ||
        parser_.buffered() >= o.limits.max_command_bytes) {
      return;  // resumes once answers are sent
    }
    reading_ = true;
    socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](
                                                    error_code ec, size_t n) {
      self->OnRead(ec, n);
    });
  }

  void OnRead(error_code ec, size_t n) {
    reading_ = false;
    if (closed_) return;
    if (ec) {
      read_eof_ = true;
      if (ec != asio::error::eof) return CloseNow();  // reset: nobody reads
      // End of stream: the client may have only half-closed, so what it
      // sent is answered, then the connection closes; within the command
      // timeout, so that a WAIT of a client that left does not hold on.
      SetTimer(server_->options.command_timeout, "command_timeout");
    } else {
      parser_.Feed(std::string_view(buf_.data(), n));
    }
    Progress();
  }

  // Takes commands out of the parser and starts them, in order.
  void Pump() {
    while (!closed_ && !protocol_error_ && !close_after_write_ &&
           !server_->stopping) {
      if (!pending_) {
        if (slots_.size() >= server_->options.max_pipeline) return;
        std::vector<std::string> args;
        const Parser::Status st = parser_.Next(&args);
        if (st == Parser::Status::kNeedMore) return;
        if (st == Parser::Status::kError) {
          protocol_error_ = true;
          server_->Refused("protocol_error");
          Reply r(client_.protocol);
          r.Error("ERR " + parser_.error());
          Slot s;
          s.ready = true;
          s.outcome.reply = r.Take();
          s.outcome.close = true;
          slots_.push_back(std::move(s));
          return;
        }
        command_armed_ = false;  // the command arrived in full
        pending_ = std::move(args);
      }
      const bool pipelinable = Commands::Pipelinable(*pending_);
      if (in_flight_ > 0 && (!pipelinable || barrier_)) return;
      std::vector<std::string> args = std::move(*pending_);
      pending_.reset();
      StartCommand(std::move(args), pipelinable);
    }
  }

  void StartCommand(std::vector<std::string> args, bool pipelinable) {
    const uint64_t id = first_slot_ + slots_.size();
    slots_.emplace_back();
    ++in_flight_;
    if (!pipelinable) barrier_ = true;
    server_->CommandStarted();
    Session* const outer = running;
    running = this;
    server_->commands->Run(client_, std::move(args),
                           [self = shared_from_this(), id](Outcome o) {
                             if (running == self.get())
                               return self->Complete(id, std::move(o));
                             asio::post(self->socket_.get_executor(),
                                        [self, id, o = std::move(o)]() mutable {
                                          self->Complete(id, std::move(o));
                                          self->Progress();
                                        });
                           });
    running = outer;
  }

  void Complete(uint64_t id, Outcome o) {
    if (id < first_slot_ || id - first_slot_ >= slots_.size()) return;
    Slot& s = slots_[id - first_slot_];
    if (s.ready) return;
    s.ready = true;
    client_.last_write_seq = std::max(client_.last_write_seq, o.write_seq);
    s.outcome = std::move(o);
    --in_flight_;
    if (in_flight_ == 0) barrier_ = false;
    server_->CommandDone();
  }

  // Sends the answers that are ready, in order.
  void Flush() {
    if (writing_ || closed_) return;
    std::string out;
    while (!slots_.empty() && slots_.front().ready) {
      Slot& s = slots_.front();
      out += s.outcome.reply;
      const bool close = s.outcome.close;
      slots_.pop_front();
      ++first_slot_;
      if (close) {
        close_after_write_ = true;
        break;
      }
    }
    if (out.empty()) return;
    out_ = std::move(out);
    writing_ = true;
    const uint64_t gen = ++write_gen_;
    write_timer_.expires_after(server_->options.write_timeout);
    write_timer_.async_wait([self = shared_from_this(), gen](error_code ec) {
      if (ec || gen != self->write_gen_ || !self->writing_) return;
      self->server_->Refused("write_timeout");
      self->CloseNow();
    });
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](error_code ec, size_t) {
                        self->writing_ = false;
                        ++self->write_gen_;
                        self->write_timer_.cancel();
                        self->out_.clear();
                        if (self->closed_) return;
                        if (ec) return self->CloseNow();
                        self->Progress();
                      });
  }

  void MaybeFinish() {
    if (closed_ || writing_ || !slots_.empty() || pending_) return;
    if (close_after_write_ || read_eof_) LingerClose();
  }

  // The deadline that applies now: none while commands run, the command
  // timeout while one is arriving, else the idle timeout.
  void Arm() {
    if (closed_) return;
    const auto& o = server_->options;
    if (read_eof_) {  // the end-of-stream deadline stands
      Unregister();
      return;
    }
    const bool busy = !slots_.empty() || pending_ || writing_;
    if (busy) {
      Unregister();
      Disarm();
      return;
    }
    if (parser_.started()) {
      if (!Unregister()) return CloseNow();  // chosen to be shed
      if (command_armed_) return;
      command_armed_ = true;
      SetTimer(o.command_timeout, "command_timeout");
      return;
    }
    command_armed_ = false;
    if (!Register()) return CloseNow();
    if (o.idle_timeout.count() > 0) {
      SetTimer(o.idle_timeout, "idle_timeout");
    } else {
      Disarm();
    }
  }

  void SetTimer(std::chrono::milliseconds after, const char* why) {
    const uint64_t gen = ++timer_gen_;
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this(), gen, why](error_code ec) {
      if (ec || gen != self->timer_gen_ || self->closed_) return;
      self->server_->Refused(why);
      self->CloseNow();
    });
  }
  void Disarm() {
    ++timer_gen_;
    timer_.cancel();
  }

  // The registry of idle connections (RespServer::Impl::idle). Register
  // returns false when this connection was chosen to be shed.
  bool Register() {
    std::lock_guard<std::mutex> l(server_->idle_mu);
    if (shed_) return false;
    if (idle_key_) return true;  // idle already: keeps its place
    idle_key_ = ++server_->idle_order;
    server_->idle.emplace(*idle_key_, weak_from_this());
    return true;
  }
  bool Unregister() {
    std::lock_guard<std::mutex> l(server_->idle_mu);
    if (idle_key_) server_->idle.erase(*idle_key_);
    idle_key_.reset();
    return !shed_;
  }

  // Stops sending, reads and drops what the client still sends (bounded),
  // then closes: a client still writing then sees our last answer rather
  // than a reset.
  void LingerClose() {
    if (closed_) return;
    closed_ = true;
    Unregister();
    Disarm();
    client_.gone->Cancel();
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec || read_eof_) return Shut();
    SetLingerTimer();
    Discard();
  }
  void SetLingerTimer() {
    timer_.expires_after(kLingerTimeout);
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->Shut();
    });
  }
  void Discard() {
    socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](
                                                    error_code ec, size_t n) {
      self->lingered_ += n;
      if (ec || self->lingered_ >= kLingerBytes) return self->Shut();
      self->Discard();
    });
  }

  void CloseNow() {
    if (!closed_) {
      closed_ = true;
      Unregister();
      client_.gone->Cancel();
    }
    Shut();
  }
  void Shut() {
    error_code ec;
    timer_.cancel();
    write_timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  asio::steady_timer write_timer_;
  std::array<char, kReadChunk> buf_;
  Parser parser_;
  RespServer::Impl* server_;
  Client client_;
  std::deque<Slot> slots_;  // answers in order; front is first_slot_
  uint64_t first_slot_ = 0;
  size_t in_flight_ = 0;  // commands started and not answered
  bool barrier_ = false;  // a non-pipelinable command is in flight
  std::optional<std::vector<std::string>> pending_;  // waits to start
  std::string out_;                                  // being written
  bool reading_ = false, writing_ = false;
  bool read_eof_ = false;
  bool protocol_error_ = false;
  bool close_after_write_ = false;
  bool closed_ = false;
  bool command_armed_ = false;
  uint64_t timer_gen_ = 0, write_gen_ = 0;
  size_t lingered_ = 0;
  // Registry state, guarded by server_->idle_mu.
  std::optional<uint64_t> idle_key_;
  bool shed_ = false;
};

}  // namespace

void RespServer::Impl::Accept() {
  acceptor.async_accept(
      asio::make_strand(ioc),
      [this](error_code ec, tcp::socket s) { OnAccept(ec, std::move(s)); });
}

bool RespServer::Impl::ShedOne() {
  std::shared_ptr<SessionBase> victim;
  {
    std::lock_guard<std::mutex> l(idle_mu);
    while (!victim && !idle.empty()) {
      auto it = idle.begin();
      victim = it->second.lock();
      idle.erase(it);
      if (victim) victim->MarkShed();
    }
  }
  if (!victim) return false;
  victim->Close();
  shed.fetch_add(1, std::memory_order_relaxed);
  Refused("idle_shed");
  return true;
}

void RespServer::Impl::OnAccept(error_code ec, tcp::socket s) {
  if (ec) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    // Out of file descriptors: free one and back off instead of spinning.
    ShedOne();
    backoff = std::min(std::chrono::milliseconds(1000),
                       std::max(std::chrono::milliseconds(10), backoff * 2));
    accept_backoff.expires_after(backoff);
    accept_backoff.async_wait([this](error_code wec) {
      if (!wec) Accept();
    });
    return;
  }
  backoff = std::chrono::milliseconds(0);
  if (connections.load() >= options.max_connections && !ShedOne()) {
    error_code ignored;
    static constexpr std::string_view kFull =
        "-ERR max number of clients reached\r\n";
    s.write_some(asio::buffer(kFull.data(), kFull.size()), ignored);
    s.shutdown(tcp::socket::shutdown_both, ignored);
    s.close(ignored);
    Refused("too_many_connections");
    return Accept();
  }
  connections.fetch_add(1);
  error_code ignored;
  s.set_option(tcp::no_delay(true), ignored);
  auto session = std::make_shared<Session>(std::move(s), this);
  session->Start();
  {
    std::lock_guard<std::mutex> l(mu);
    for (auto it = sessions.begin(); it != sessions.end();) {
      it = it->expired() ? sessions.erase(it) : std::next(it);
    }
    sessions.insert(session);
  }
  Accept();
}

RespServer::RespServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<RespServer>> RespServer::Start(RespServerOptions options,
                                                      Commands* commands) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->commands = commands;
  error_code ec;
  auto address = asio::ip::make_address(impl->options.host, ec);
  if (ec) {
    return Status::InvalidArgument("resp: bad address '" + impl->options.host +
                                   "': " + ec.message());
  }
  tcp::endpoint ep(address, impl->options.port);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) {
    impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  }
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::IOError("resp: cannot listen on " + impl->options.host +
                           ":" + std::to_string(impl->options.port) + ": " +
                           ec.message());
  }
  impl->port = impl->acceptor.local_endpoint().port();
  impl->work.emplace(impl->ioc.get_executor());
  impl->Accept();
  const int n = std::max(1, impl->options.io_threads);
  for (int i = 0; i < n; ++i) {
    impl->threads.emplace_back([p = impl.get()] { p->ioc.run(); });
  }
  return std::unique_ptr<RespServer>(new RespServer(std::move(impl)));
}

RespServer::~RespServer() {
  if (impl_ && !impl_->shut_down) Shutdown(std::chrono::milliseconds(0));
}

uint16_t RespServer::port() const { return impl_->port; }
size_t RespServer::active_connections() const {
  return impl_->connections.load();
}
uint64_t RespServer::shed_connections() const { return impl_->shed.load(); }

void RespServer::Shutdown(std::chrono::milliseconds grace) {
  if (impl_->shut_down) return;
  impl_->shut_down = true;
  impl_->stopping = true;
  asio::post(impl_->ioc, [p = impl_.get()] {
    error_code ec;
    p->acceptor.close(ec);
    p->accept_backoff.cancel();
  });
  {
    std::unique_lock<std::mutex> l(impl_->mu);
    impl_->idle_cv.wait_for(l, grace,
                            [&] { return impl_->in_flight.load() == 0; });
    for (auto& w : impl_->sessions) {
      if (auto s = w.lock()) s->Close();
    }
    impl_->sessions.clear();
  }
  impl_->work.reset();
  asio::post(impl_->ioc, [p = impl_.get()] { p->ioc.stop(); });
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

}  // namespace deltakv::resp
