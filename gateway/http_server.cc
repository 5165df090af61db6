// <utility> before Asio: Boost 1.74's awaitable.hpp needs it with GCC 12 in
// C++20.
#include <utility>

#include "gateway/http_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>

namespace deltakv::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// What the server's registry of sheddable connections sees of a session.
class HttpSessionBase {
 public:
  virtual ~HttpSessionBase() = default;
  // Closes the connection (from any thread).
  virtual void Close() = 0;
  // A strong reference, or null when the session is being destroyed.
  virtual std::shared_ptr<HttpSessionBase> Lock() = 0;
  // Starts watching for the client leaving while request number `request`
  // is with the handler (from any thread; see ClientGone).
  virtual void ArmDisconnectWatch(uint64_t request) = 0;

  // The registry of sheddable connections (HttpServer::Impl::idle): an
  // intrusive list per class, so a request's state changes cost a few
  // pointer moves under the registry's lock, never an allocation.
  // Guarded by the registry's lock.
  HttpSessionBase* idle_prev = nullptr;
  HttpSessionBase* idle_next = nullptr;
  int idle_class = -1;  // -1: not in the registry
  bool shed = false;    // chosen to be shed: closes instead of going on
};

void ClientGone::OnGone(std::function<void()> fn) {
  bool arm = false;
  bool gone_already = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (gone_) {
      gone_already = true;
    } else {
      fn_ = std::move(fn);
      if (!armed_) {
        armed_ = true;
        arm = true;
      }
    }
  }
  if (gone_already) return fn();
  if (!arm) return;
  if (auto session = session_.lock()) session->ArmDisconnectWatch(request_);
}

void ClientGone::Clear() {
  std::function<void()> old;
  std::lock_guard<std::mutex> l(mu_);
  old.swap(fn_);
}

void ClientGone::Fire() {
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (gone_) return;
    gone_ = true;
    fn.swap(fn_);
  }
  if (fn) fn();
}

namespace {

std::string ErrorBody(std::string_view code, std::string_view message) {
  std::string out = R"({"error":{"code":")";
  out += code;
  out += R"(","message":")";
  out += message;  // fixed ASCII texts only
  out += R"("}})";
  return out;
}

// Sheddable classes, in the order they are shed.
enum IdleClass { kKeepAliveIdle = 0, kNewIdle = 1, kReadingHeader = 2 };
constexpr int kIdleClasses = 3;

// Connections of one class, in the order they entered it (oldest first).
class IdleList {
 public:
  HttpSessionBase* front() const { return head_; }
  void PushBack(HttpSessionBase* s) {
    s->idle_prev = tail_;
    s->idle_next = nullptr;
    (tail_ ? tail_->idle_next : head_) = s;
    tail_ = s;
  }
  void Remove(HttpSessionBase* s) {
    (s->idle_prev ? s->idle_prev->idle_next : head_) = s->idle_next;
    (s->idle_next ? s->idle_next->idle_prev : tail_) = s->idle_prev;
    s->idle_prev = s->idle_next = nullptr;
  }

 private:
  HttpSessionBase* head_ = nullptr;
  HttpSessionBase* tail_ = nullptr;
};

}  // namespace

struct HttpServer::Impl {
  // Declared first, destroyed last: handlers still queued in `ioc` when it
  // is destroyed release Sessions, which touch these.
  std::atomic<size_t> connections{0};
  std::atomic<size_t> in_flight{0};
  std::atomic<size_t> buffered{0};  // body bytes reserved (all connections)
  std::atomic<bool> stopping{false};
  HttpServerOptions options;
  Handler handler;
  std::optional<ssl::context> tls;  // set: the listener speaks TLS only
  // Connections that may be shed, by class (see IdleClass), each oldest
  // first: idle ones by when they became idle, ones reading a header by
  // when their header began.
  std::mutex idle_mu;
  IdleList idle[kIdleClasses];  // guarded by idle_mu
  std::atomic<uint64_t> shed{0};
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>>
      work;
  // The acceptor and its backoff timer run on one strand: StopAccepting
  // closes the acceptor from another thread.
  asio::strand<asio::io_context::executor_type> accept_strand{
      asio::make_strand(ioc)};
  tcp::acceptor acceptor{accept_strand};
  std::vector<std::thread> threads;
  uint16_t port = 0;
  std::mutex mu;
  std::condition_variable idle_cv;  // in_flight reached 0
  std::set<std::weak_ptr<HttpSessionBase>,
           std::owner_less<std::weak_ptr<HttpSessionBase>>>
      sessions;  // guarded by mu
  bool shut_down = false;
  asio::steady_timer accept_backoff{accept_strand};
  std::chrono::milliseconds backoff{0};

  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket s);
  // Closes the connection idle longest; false when none is idle.
  bool ShedOne(std::string_view why);
  void Refused(int status, std::string_view reason) {
    if (options.on_refused) options.on_refused(status, reason);
  }
  // Reserves `n` body bytes within max_buffered_body_bytes; false (and
  // nothing reserved) when they do not fit.
  bool Reserve(size_t n) {
    const size_t limit = options.max_buffered_body_bytes;
    size_t cur = buffered.load(std::memory_order_relaxed);
    do {
      if (cur > limit || n > limit - cur) return false;
    } while (!buffered.compare_exchange_weak(cur, cur + n,
                                             std::memory_order_relaxed));
    return true;
  }
  void RequestDone() {
    if (in_flight.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> l(mu);
      idle_cv.notify_all();
    }
  }
};

namespace {

// One connection. `Stream` is beast::tcp_stream, or an ssl_stream over one.
template <class Stream>
class Session : public HttpSessionBase,
                public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  using std::enable_shared_from_this<Session<Stream>>::shared_from_this;

 public:
  template <class... Args>
  Session(tcp::socket socket, HttpServer::Impl* server, Args&&... args)
      : stream_(std::move(socket), std::forward<Args>(args)...),
        idle_timer_(stream_.get_executor()),
        // Bounded: a header, or a chunk-size line, never grows it past the
        // header limit (Beast answers buffer_overflow, a 400).
        buffer_(server->options.max_header_bytes + kBufferSlack),
        server_(server) {
    beast::error_code ec;
    auto ep = Socket().remote_endpoint(ec);
    if (!ec)
      remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  ~Session() override {
    Unregister();
    ReleaseBody();
    server_->connections.fetch_sub(1);
  }

  void Start() {
    asio::dispatch(stream_.get_executor(),
                   [self = shared_from_this()] { self->Begin(); });
  }

  void Close() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->closed_ = true;
      self->idle_timer_.cancel();
      self->Socket().shutdown(tcp::socket::shutdown_both, ec);
      self->Lowest().close();
    });
  }

 private:
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }
  tcp::socket& Socket() { return Lowest().socket(); }

  void Begin() {
    if constexpr (kTls) {
      // The handshake is part of sending the first header.
      Register(kNewIdle);
      Lowest().expires_after(server_->options.header_timeout);
      stream_.async_handshake(
          ssl::stream_base::server,
          [self = shared_from_this()](beast::error_code ec) {
            if (ec) {
              if (!self->closed_) self->server_->Refused(0, "tls_handshake");
              return self->Finish();
            }
            self->Lowest().expires_never();
            self->WaitForRequest();
          });
    } else {
      WaitForRequest();
    }
  }

  std::shared_ptr<HttpSessionBase> Lock() override {
    return this->weak_from_this().lock();
  }

  // The registry of sheddable connections (see HttpServer::Impl::idle).
  void Register(IdleClass cls) {
    std::lock_guard<std::mutex> l(server_->idle_mu);
    if (shed) return;
    if (idle_class == cls) return;  // already there, in its place
    if (idle_class >= 0) server_->idle[idle_class].Remove(this);
    idle_class = cls;
    server_->idle[cls].PushBack(this);
  }
  // Leaves the registry; false when the connection was chosen to be shed
  // (it is closing).
  bool Unregister() {
    std::lock_guard<std::mutex> l(server_->idle_mu);
    if (idle_class >= 0) server_->idle[idle_class].Remove(this);
    idle_class = -1;
    return !shed;
  }

  // Idle phase: wait for the first byte of the next request.
  void WaitForRequest() {
    if (server_->stopping) return Finish();
    Register(served_ ? kKeepAliveIdle : kNewIdle);
    if (buffer_.size() > 0) return ReadHeader();
    if constexpr (kTls) {
      // TLS may hold decrypted bytes the socket no longer signals: read.
      Lowest().expires_after(server_->options.idle_timeout);
      stream_.async_read_some(
          buffer_.prepare(kReadChunk),
          [self = shared_from_this()](beast::error_code ec, std::size_t n) {
            if (ec) return self->Finish();
            self->buffer_.commit(n);
            self->ReadHeader();
          });
    } else {
      idle_timer_.expires_after(server_->options.idle_timeout);
      idle_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec) self->Lowest().close();  // idle too long
      });
      Socket().async_wait(tcp::socket::wait_read,
                          [self = shared_from_this()](beast::error_code ec) {
                            self->idle_timer_.cancel();
                            if (ec) return self->Finish();
                            self->ReadHeader();
                          });
    }
  }

  void ReadHeader() {
    Register(kReadingHeader);
    parser_.emplace();
    parser_->header_limit(
        static_cast<std::uint32_t>(server_->options.max_header_bytes));
    // No body limit while the header is read: the parser would refuse a
    // large Content-Length before OnHeader checks the token. OnHeader sets
    // it before the body is read.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    parser_->on_chunk_header(chunk_budget_);
    over_budget_ = false;
    Lowest().expires_after(server_->options.header_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t n) {
          self->OnHeader(ec, n);
        });
  }

  // The header is read, no body byte yet (beyond what arrived with the
  // header): refuse here whatever can be refused without the body.
  void OnHeader(beast::error_code ec, std::size_t) {
    if (!Unregister()) return Finish();  // shed meanwhile
    if (ec) return OnReadError(ec);
    const auto& req = parser_->get();
    const auto& options = server_->options;
    const std::string_view target(req.target().data(), req.target().size());
    if (target.size() > options.max_url_bytes) {
      return Refuse(414, "url_too_long", "too_large", "URL too long");
    }
    // A Transfer-Encoding whose last coding is not chunked leaves the body
    // length unknown: 400, as for any malformed request (RFC 9112 6.3).
    if (req.count(http::field::transfer_encoding) != 0 && !parser_->chunked()) {
      return Refuse(400, "malformed", "bad_request", "malformed HTTP request");
    }
    if (!options.only_paths.empty()) {
      const std::string_view path = target.substr(0, target.find('?'));
      bool listed = false;
      for (const auto& p : options.only_paths) listed = listed || p == path;
      if (!listed) {
        return Refuse(404, "not_served", "not_found",
                      "this listener serves only the health, readiness and "
                      "metrics endpoints");
      }
    }
    if (options.authorize &&
        !options.authorize(
            std::string_view(req.method_string().data(),
                             req.method_string().size()),
            target,
            std::string_view(req[http::field::authorization].data(),
                             req[http::field::authorization].size()))) {
      return Refuse(401, "unauthorized", "unauthorized",
                    "missing or wrong bearer token",
                    {"WWW-Authenticate", "Bearer"});
    }
    // Only /v1 routes take a body: the health, readiness and metrics
    // endpoints must not let a client without a token hold the body budget.
    const bool v1 = target == "/v1" || target.starts_with("/v1/") ||
                    target.starts_with("/v1?");
    if (!v1 &&
        (parser_->chunked() || parser_->content_length().value_or(0) > 0)) {
      return Refuse(413, "body_not_allowed", "too_large",
                    "this endpoint takes no request body");
    }
    // The parser has validated Content-Length (digits, no overflow).
    if (auto len = parser_->content_length()) {
      if (*len > options.max_body_bytes) {
        return Refuse(413, "body_too_large", "too_large",
                      "request body too large");
      }
      if (*len > 0 && !ReserveBody(static_cast<size_t>(*len))) {
        return RefuseBusy();
      }
    }
    parser_->body_limit(options.max_body_bytes);  // chunked bodies too
    Lowest().expires_after(options.body_timeout);
    const auto expect = req[http::field::expect];
    if (req.version() >= 11 && !parser_->is_done() &&
        beast::iequals(expect, "100-continue")) {
      static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      return asio::async_write(
          stream_, asio::const_buffer(kContinue, sizeof kContinue - 1),
          [self = shared_from_this()](beast::error_code wec, std::size_t) {
            if (wec) return self->Finish();
            self->ReadBody();
          });
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t n) {
          self->OnBody(ec, n);
        });
  }

  bool ReserveBody(size_t n) {
    if (!server_->Reserve(n)) return false;
    reserved_ += n;
    return true;
  }
  void ReleaseBody() {
    if (reserved_ == 0) return;
    server_->buffered.fetch_sub(reserved_, std::memory_order_relaxed);
    reserved_ = 0;
  }
  void RefuseBusy() {
    Refuse(503, "body_budget", "unavailable",
           "the server is buffering too many request bodies; retry",
           {"Retry-After", "1"});
  }

  // Chunked bodies reserve their bytes chunk by chunk, as they arrive.
  struct ChunkBudget {
    Session* session;
    void operator()(std::uint64_t size, beast::string_view,
                    beast::error_code& ec) {
      if (size == 0) return;
      // The parser's body limit bounds the sum; a single chunk size beyond
      // it is refused by the limit check as well.
      if (size > session->server_->options.max_body_bytes) {
        ec = http::error::body_limit;
        return;
      }
      if (!session->ReserveBody(static_cast<size_t>(size))) {
        session->over_budget_ = true;
        ec = asio::error::no_buffer_space;
      }
    }
  };

  void OnReadError(beast::error_code ec) {
    if (over_budget_) return RefuseBusy();
    if (ec == http::error::body_limit) {
      return Refuse(413, "body_too_large", "too_large",
                    "request body too large");
    }
    if (ec == http::error::header_limit) {
      return Refuse(431, "headers_too_large", "bad_request",
                    "request headers too large");
    }
    if (closed_) return Finish();  // shed, or shut down
    if (ec == beast::error::timeout) {
      server_->Refused(408, "timeout");
      return Finish();
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted ||
        ec == ssl::error::stream_truncated) {
      return Finish();
    }
    Refuse(400, "malformed", "bad_request", "malformed HTTP request");
  }

  void OnBody(beast::error_code ec, std::size_t) {
    if (ec) return OnReadError(ec);
    Lowest().expires_never();
    auto& req = parser_->get();
    HttpRequest r;
    r.head = req.method() == http::verb::head;
    r.method = r.head ? std::string("GET") : std::string(req.method_string());
    r.target = std::string(req.target());
    r.authorization = std::string(req[http::field::authorization]);
    r.content_type = std::string(req[http::field::content_type]);
    r.body = std::move(req.body());
    r.remote = remote_;
    // The disconnect watch starts only when the handler asks (a parked
    // request); the request number tells a late arming from an earlier
    // request's.
    r.gone = std::make_shared<ClientGone>(this->weak_from_this(), ++requests_);
    answered_ = false;
    watching_ = false;
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    head_ = r.head;
    served_ = true;
    gone_ = r.gone;
    server_->in_flight.fetch_add(1);
    auto self = shared_from_this();
    server_->handler(std::move(r), [self](HttpResponse resp) {
      asio::post(self->stream_.get_executor(),
                 [self, resp = std::move(resp)]() mutable {
                   self->ReleaseBody();  // the request is done with it
                   self->answered_ = true;
                   if (self->gone_) self->gone_->Clear();
                   self->gone_.reset();
                   if (self->watching_) {  // end the disconnect watch
                     beast::error_code ignored;
                     self->Socket().cancel(ignored);
                     self->watching_ = false;
                   }
                   self->Write(std::move(resp), self->keep_alive_);
                   self->server_->RequestDone();
                 });
    });
  }

  // While the handler works on a request, notice a client that closes its
  // connection: the socket turns readable and a peek finds the end of the
  // stream (or an error). Bytes of a pipelined request end the watch.
  void ArmDisconnectWatch(uint64_t request) override {
    asio::post(stream_.get_executor(), [self = shared_from_this(), request] {
      if (self->requests_ == request && !self->answered_) {
        self->WatchForDisconnect();
      }
    });
  }

  void WatchForDisconnect() {
    if (buffer_.size() > 0 || watching_) return;  // pipelined bytes here
    watching_ = true;
    Socket().async_wait(tcp::socket::wait_read, [self = shared_from_this()](
                                                    beast::error_code ec) {
      self->watching_ = false;
      if (self->answered_ || ec == asio::error::operation_aborted) return;
      char byte;
      const ssize_t n = ::recv(self->Socket().native_handle(), &byte, 1,
                               MSG_PEEK | MSG_DONTWAIT);
      // Bytes, then the end of the stream: with TLS, a client that closes
      // sends close_notify first; a peer that shut its side is gone.
      bool hung_up = false;
      if (n > 0) {
        pollfd p{self->Socket().native_handle(), POLLRDHUP, 0};
        hung_up = ::poll(&p, 1, 0) == 1 && (p.revents & POLLRDHUP) != 0;
      }
      if (ec || n == 0 || hung_up ||
          (n < 0 && errno != EAGAIN && errno != EINTR)) {
        if (self->gone_) self->gone_->Fire();
      } else if (n < 0) {
        self->WatchForDisconnect();  // spurious wake-up
      }
    });
  }

  // Answers a request refused before its body was (fully) read, then
  // closes with a linger (see LingeringClose).
  void Refuse(int status, std::string_view reason, std::string_view code,
              std::string_view message,
              std::pair<std::string, std::string> header = {}) {
    ReleaseBody();
    server_->Refused(status, reason);
    HttpResponse resp;
    resp.status = status;
    resp.body = ErrorBody(code, message);
    if (!header.first.empty()) resp.headers.push_back(std::move(header));
    version_ = 11;
    // A refused HEAD gets the status and length of the answer, no body:
    // its client would read the body as the start of the next response.
    head_ = parser_ && parser_->is_header_done() &&
            parser_->get().method() == http::verb::head;
    Write(std::move(resp), false, /*linger=*/true);
  }

  // Closing a socket with unread input makes the kernel send a reset, and
  // a reset makes the client drop the answer it has not read yet (and fail
  // its pending writes). So: stop sending (the client sees the end of the
  // answer), read and discard what the client still sends, up to a bound
  // in bytes and time, then close.
  void LingeringClose() {
    beast::error_code ec;
    Socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Finish();
    buffer_.consume(buffer_.size());
    lingered_ = 0;
    Lowest().expires_after(server_->options.linger_timeout);
    Discard();
  }
  void Discard() {
    // The raw socket: after a TLS answer, what follows is discarded
    // undecrypted.
    Lowest().async_read_some(
        buffer_.prepare(kDiscardChunk),
        [self = shared_from_this()](beast::error_code ec, std::size_t n) {
          self->lingered_ += n;
          if (ec || self->lingered_ >= self->server_->options.linger_bytes) {
            return self->Finish();
          }
          self->Discard();
        });
  }

  // A file's content as the body (HttpResponse::file): streamed by Beast
  // in pieces, the file removed once open (nothing is left behind if the
  // client or the server goes away mid-way).
  void WriteFile(HttpResponse resp, bool keep_alive) {
    auto res = std::make_shared<http::response<http::file_body>>(
        static_cast<http::status>(resp.status), version_);
    beast::error_code ec;
    res->body().open(resp.file.c_str(), beast::file_mode::scan, ec);
    ::unlink(resp.file.c_str());
    if (ec) {
      HttpResponse err;
      err.status = 500;
      err.body = ErrorBody("internal", "the file to send could not be opened");
      return Write(std::move(err), false);
    }
    res->set(http::field::server, "deltakv");
    res->set(http::field::content_type, resp.content_type);
    for (auto& [k, v] : resp.headers) res->set(k, v);
    keep_alive = keep_alive && !server_->stopping;
    res->keep_alive(keep_alive);
    res->prepare_payload();
    if (head_) {
      // The header a GET would send, no body (a file_body serializer needs
      // an open file).
      auto hr = std::make_shared<http::response<http::empty_body>>(
          res->result(), res->version());
      for (const auto& field : *res) {
        hr->set(field.name_string(), field.value());
      }
      hr->keep_alive(keep_alive);
      hr->content_length(res->body().size());
      res->body().close();
      auto hsr =
          std::make_shared<http::response_serializer<http::empty_body>>(*hr);
      return WriteFilePiece(hr, hsr, keep_alive);
    }
    // A large file takes long: the timeout bounds each piece's progress.
    auto sr =
        std::make_shared<http::response_serializer<http::file_body>>(*res);
    WriteFilePiece(res, sr, keep_alive);
  }
  template <class Res, class Sr>
  void WriteFilePiece(Res res, Sr sr, bool keep_alive) {
    Lowest().expires_after(server_->options.body_timeout);
    auto next = [self = shared_from_this(), res, sr, keep_alive](
                    beast::error_code ec, std::size_t) {
      if (ec) return self->Finish();
      if (!sr->is_done() && !(self->head_ && sr->is_header_done())) {
        return self->WriteFilePiece(res, sr, keep_alive);
      }
      if (!keep_alive) return self->CloseTls();
      self->Lowest().expires_never();
      self->WaitForRequest();
    };
    if (head_) {
      http::async_write_header(stream_, *sr, std::move(next));
    } else {
      http::async_write_some(stream_, *sr, std::move(next));
    }
  }

  void Write(HttpResponse resp, bool keep_alive, bool linger = false) {
    if (!resp.file.empty()) return WriteFile(std::move(resp), keep_alive);
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(resp.status), version_);
    res->set(http::field::server, "deltakv");
    res->set(http::field::content_type, resp.content_type);
    for (auto& [k, v] : resp.headers) res->set(k, v);
    res->body() = std::move(resp.body);
    keep_alive = keep_alive && !server_->stopping;
    res->keep_alive(keep_alive);
    res->prepare_payload();
    if (head_) {
      // The length a GET would answer, no body.
      const size_t length = res->body().size();
      res->body().clear();
      res->content_length(length);
    }
    Lowest().expires_after(server_->options.body_timeout);
    auto sr =
        std::make_shared<http::response_serializer<http::string_body>>(*res);
    if (head_) sr->split(true);
    auto done = [self = shared_from_this(), res, sr, keep_alive, linger](
                    beast::error_code ec, std::size_t) {
      if (!ec && linger) return self->LingeringClose();
      if (ec) return self->Finish();
      if (!keep_alive) return self->CloseTls();
      self->Lowest().expires_never();
      self->WaitForRequest();
    };
    if (head_) {
      http::async_write_header(stream_, *sr, std::move(done));
    } else {
      http::async_write(stream_, *sr, std::move(done));
    }
  }

  // Ends a TLS connection with close_notify (a client that gets the end of
  // the stream without it may take the answer for truncated), bounded by
  // the linger timeout; a plain connection just finishes.
  void CloseTls() {
    if constexpr (kTls) {
      Lowest().expires_after(server_->options.linger_timeout);
      stream_.async_shutdown(
          [self = shared_from_this()](beast::error_code) { self->Finish(); });
    } else {
      Finish();
    }
  }

  void Finish() {
    beast::error_code ec;
    Unregister();
    idle_timer_.cancel();
    Socket().shutdown(tcp::socket::shutdown_send, ec);
    Lowest().close();
  }

  static constexpr size_t kDiscardChunk = 16 << 10;
  static constexpr size_t kReadChunk = 16 << 10;
  static constexpr size_t kBufferSlack = 64 << 10;

  Stream stream_;
  asio::steady_timer idle_timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpServer::Impl* server_;
  std::string remote_;
  bool keep_alive_ = true;
  bool head_ = false;  // the request being answered is a HEAD
  unsigned version_ = 11;
  size_t reserved_ = 0;       // body bytes reserved in server_->buffered
  bool over_budget_ = false;  // a chunk did not fit the budget
  size_t lingered_ = 0;       // bytes discarded while lingering
  bool served_ = false;       // answered a request: keep-alive idle now
  bool closed_ = false;       // Close() ran
  bool answered_ = true;      // no request with the handler
  bool watching_ = false;     // the disconnect watch is pending
  uint64_t requests_ = 0;     // requests handed to the handler
  std::shared_ptr<ClientGone> gone_;  // of the request with the handler
  ChunkBudget chunk_budget_{this};
};

}  // namespace

void HttpServer::Impl::Accept() {
  acceptor.async_accept(asio::make_strand(ioc),
                        [this](beast::error_code ec, tcp::socket s) {
                          OnAccept(ec, std::move(s));
                        });
}

bool HttpServer::Impl::ShedOne(std::string_view why) {
  std::shared_ptr<HttpSessionBase> victim;
  {
    std::lock_guard<std::mutex> l(idle_mu);
    for (int cls = 0; cls < kIdleClasses && !victim; ++cls) {
      while (!victim && idle[cls].front() != nullptr) {
        HttpSessionBase* s = idle[cls].front();
        idle[cls].Remove(s);
        s->idle_class = -1;
        // Null when it is being destroyed (its destructor waits for this
        // lock to leave the registry, and finds itself gone).
        victim = s->Lock();
        // Marked under the lock: the session, about to leave the idle
        // state, sees it and closes instead of going on.
        if (victim) victim->shed = true;
      }
    }
  }
  if (!victim) return false;
  victim->Close();
  shed.fetch_add(1, std::memory_order_relaxed);
  Refused(0, why);
  return true;
}

void HttpServer::Impl::OnAccept(beast::error_code ec, tcp::socket s) {
  if (ec) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    // Out of file descriptors (or kernel memory): free one by shedding an
    // idle connection, and back off instead of spinning on accept.
    Refused(0, "accept_error");
    ShedOne("idle_shed");
    backoff = std::min(std::chrono::milliseconds(1000),
                       std::max(std::chrono::milliseconds(10), backoff * 2));
    accept_backoff.expires_after(backoff);
    accept_backoff.async_wait([this](beast::error_code wec) {
      if (!wec) Accept();
    });
    return;
  }
  backoff = std::chrono::milliseconds(0);
  if (connections.load() >= options.max_connections && !ShedOne("idle_shed")) {
    beast::error_code ignored;
    s.close(ignored);
    Refused(503, "too_many_connections");
    return Accept();
  }
  connections.fetch_add(1);
  std::shared_ptr<HttpSessionBase> base;
  if (tls) {
    auto session =
        std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
            std::move(s), this, *tls);
    session->Start();
    base = std::move(session);
  } else {
    auto session =
        std::make_shared<Session<beast::tcp_stream>>(std::move(s), this);
    session->Start();
    base = std::move(session);
  }
  {
    std::lock_guard<std::mutex> l(mu);
    for (auto it = sessions.begin(); it != sessions.end();) {
      it = it->expired() ? sessions.erase(it) : std::next(it);
    }
    sessions.insert(base);
  }
  Accept();
}

namespace {

// The certificate chain, its key and (for mutual TLS) the client CA, with
// errors that name the file.
Result<ssl::context> MakeTlsContext(const HttpServerOptions& o) {
  ssl::context ctx(ssl::context::tls_server);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                  ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  auto readable = [](const std::string& path) {
    std::ifstream f(path);
    return f.good();
  };
  for (const std::string* f :
       {&o.tls_cert_file, &o.tls_key_file, &o.tls_client_ca_file}) {
    if (!f->empty() && !readable(*f)) {
      return Status::InvalidArgument("tls: cannot read " + *f);
    }
  }
  beast::error_code ec;
  ctx.use_certificate_chain_file(o.tls_cert_file, ec);
  if (ec) {
    return Status::InvalidArgument(
        "tls: " + o.tls_cert_file +
        " is not a PEM certificate chain: " + ec.message());
  }
  ctx.use_private_key_file(o.tls_key_file, ssl::context::pem, ec);
  if (ec) {
    return Status::InvalidArgument(
        "tls: " + o.tls_key_file + ": " + ec.message() +
        " (it must be the PEM private key of " + o.tls_cert_file + ")");
  }
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    return Status::InvalidArgument("tls: the key in " + o.tls_key_file +
                                   " does not match the certificate in " +
                                   o.tls_cert_file);
  }
  if (!o.tls_client_ca_file.empty()) {
    ctx.load_verify_file(o.tls_client_ca_file, ec);
    if (ec) {
      return Status::InvalidArgument(
          "tls: " + o.tls_client_ca_file +
          " holds no PEM CA certificate: " + ec.message());
    }
    ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  return ctx;
}

}  // namespace

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                      Handler handler) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->handler = std::move(handler);
  beast::error_code ec;
  auto address = asio::ip::make_address(impl->options.host, ec);
  if (ec) {
    return Status::InvalidArgument("http: bad address '" + impl->options.host +
                                   "': " + ec.message());
  }
  if (!impl->options.tls_cert_file.empty()) {
    auto tls = MakeTlsContext(impl->options);
    if (!tls.ok()) return tls.status();
    impl->tls.emplace(std::move(tls).value());
  }
  tcp::endpoint ep(address, impl->options.port);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec)
    impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::IOError("http: cannot listen on " + impl->options.host +
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
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::~HttpServer() {
  if (impl_ && !impl_->shut_down) Shutdown(std::chrono::milliseconds(0));
}

uint16_t HttpServer::port() const { return impl_->port; }
uint64_t HttpServer::shed_connections() const { return impl_->shed.load(); }
size_t HttpServer::active_connections() const {
  return impl_->connections.load();
}
size_t HttpServer::in_flight() const { return impl_->in_flight.load(); }
size_t HttpServer::buffered_body_bytes() const {
  return impl_->buffered.load();
}

void HttpServer::StopAccepting() {
  asio::post(impl_->accept_strand, [p = impl_.get()] {
    beast::error_code ec;
    p->accept_backoff.cancel();
    p->acceptor.close(ec);
  });
}

void HttpServer::Shutdown(std::chrono::milliseconds grace) {
  if (impl_->shut_down) return;
  impl_->shut_down = true;
  impl_->stopping = true;
  StopAccepting();
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
  // Give closes a moment to run, then stop the loop.
  asio::post(impl_->ioc, [p = impl_.get()] { p->ioc.stop(); });
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  // Handlers still queued (closes the loop stopped before, operations they
  // aborted) hold sessions, whose destructors use this Impl: run them now,
  // while it is whole, not in ~io_context after the members they touch.
  impl_->ioc.restart();
  impl_->ioc.poll();
}

}  // namespace deltakv::gateway
