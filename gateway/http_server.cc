// <utility> before Asio: Boost 1.74's awaitable.hpp needs it with GCC 12 in
// C++20.
#include <utility>

#include "gateway/http_server.h"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

namespace deltakv::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string ErrorBody(std::string_view code, std::string_view message) {
  std::string out = R"({"error":{"code":")";
  out += code;
  out += R"(","message":")";
  out += message;  // fixed ASCII texts only
  out += R"("}})";
  return out;
}

class Session;

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
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>>
      work;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  uint16_t port = 0;
  std::mutex mu;
  std::condition_variable idle_cv;  // in_flight reached 0
  std::set<std::weak_ptr<Session>, std::owner_less<std::weak_ptr<Session>>>
      sessions;  // guarded by mu
  bool shut_down = false;

  void Accept();
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

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl* server)
      : stream_(std::move(socket)),
        idle_timer_(stream_.get_executor()),
        // Bounded: a header, or a chunk-size line, never grows it past the
        // header limit (Beast answers buffer_overflow, a 400).
        buffer_(server->options.max_header_bytes + kBufferSlack),
        server_(server) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec)
      remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  ~Session() {
    ReleaseBody();
    server_->connections.fetch_sub(1);
  }

  void Start() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::WaitForRequest,
                                             shared_from_this()));
  }

  // Closes the connection (from any thread).
  void Close() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->idle_timer_.cancel();
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      self->stream_.close();
    });
  }

 private:
  // Idle phase: wait for the first byte of the next request.
  void WaitForRequest() {
    if (server_->stopping) return Finish();
    if (buffer_.size() > 0) return ReadHeader();
    idle_timer_.expires_after(server_->options.idle_timeout);
    idle_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->stream_.close();  // idle too long
    });
    stream_.socket().async_wait(
        tcp::socket::wait_read,
        [self = shared_from_this()](beast::error_code ec) {
          self->idle_timer_.cancel();
          if (ec) return self->Finish();
          self->ReadHeader();
        });
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(
        static_cast<std::uint32_t>(server_->options.max_header_bytes));
    // No body limit while the header is read: the parser would refuse a
    // large Content-Length before OnHeader checks the token. OnHeader sets
    // it before the body is read.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    parser_->on_chunk_header(chunk_budget_);
    over_budget_ = false;
    stream_.expires_after(server_->options.header_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  // The header is read, no body byte yet (beyond what arrived with the
  // header): refuse here whatever can be refused without the body.
  void OnHeader(beast::error_code ec, std::size_t) {
    if (ec) return OnReadError(ec);
    const auto& req = parser_->get();
    const auto& options = server_->options;
    if (req.target().size() > options.max_url_bytes) {
      return Refuse(414, "too_large", "URL too long");
    }
    if (options.authorize &&
        !options.authorize(
            std::string_view(req.target().data(), req.target().size()),
            std::string_view(req[http::field::authorization].data(),
                             req[http::field::authorization].size()))) {
      return Refuse(401, "unauthorized", "missing or wrong bearer token",
                    {"WWW-Authenticate", "Bearer"});
    }
    // Only /v1 routes take a body: the health, readiness and metrics
    // endpoints must not let a client without a token hold the body budget.
    const std::string_view target(req.target().data(), req.target().size());
    const bool v1 = target == "/v1" || target.starts_with("/v1/") ||
                    target.starts_with("/v1?");
    if (!v1 &&
        (parser_->chunked() || parser_->content_length().value_or(0) > 0)) {
      return Refuse(413, "too_large", "this endpoint takes no request body");
    }
    // The parser has validated Content-Length (digits, no overflow).
    if (auto len = parser_->content_length()) {
      if (*len > options.max_body_bytes) {
        return Refuse(413, "too_large", "request body too large");
      }
      if (*len > 0 && !ReserveBody(static_cast<size_t>(*len))) {
        return RefuseBusy();
      }
    }
    parser_->body_limit(options.max_body_bytes);  // chunked bodies too
    stream_.expires_after(options.body_timeout);
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
        beast::bind_front_handler(&Session::OnBody, shared_from_this()));
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
    Refuse(503, "unavailable",
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
      return Refuse(413, "too_large", "request body too large");
    }
    if (ec == http::error::header_limit) {
      return Refuse(431, "bad_request", "request headers too large");
    }
    if (ec == beast::error::timeout) {
      if (server_->options.on_refused)
        server_->options.on_refused(408, "timeout");
      return Finish();
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted) {
      return Finish();
    }
    Refuse(400, "bad_request", "malformed HTTP request");
  }

  void OnBody(beast::error_code ec, std::size_t) {
    if (ec) return OnReadError(ec);
    stream_.expires_never();
    auto& req = parser_->get();
    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.authorization = std::string(req[http::field::authorization]);
    r.content_type = std::string(req[http::field::content_type]);
    r.body = std::move(req.body());
    r.remote = remote_;
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    server_->in_flight.fetch_add(1);
    auto self = shared_from_this();
    server_->handler(std::move(r), [self](HttpResponse resp) {
      asio::post(self->stream_.get_executor(),
                 [self, resp = std::move(resp)]() mutable {
                   self->ReleaseBody();  // the request is done with it
                   self->Write(std::move(resp), self->keep_alive_);
                   self->server_->RequestDone();
                 });
    });
  }

  // Answers a request refused before its body was (fully) read, then
  // closes with a linger (see LingeringClose).
  void Refuse(int status, std::string_view code, std::string_view message,
              std::pair<std::string, std::string> header = {}) {
    ReleaseBody();
    if (server_->options.on_refused) {
      server_->options.on_refused(status, std::string(message));
    }
    HttpResponse resp;
    resp.status = status;
    resp.body = ErrorBody(code, message);
    if (!header.first.empty()) resp.headers.push_back(std::move(header));
    version_ = 11;
    Write(std::move(resp), false, /*linger=*/true);
  }

  // Closing a socket with unread input makes the kernel send a reset, and
  // a reset makes the client drop the answer it has not read yet (and fail
  // its pending writes). So: stop sending (the client sees the end of the
  // answer), read and discard what the client still sends, up to a bound
  // in bytes and time, then close.
  void LingeringClose() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Finish();
    buffer_.consume(buffer_.size());
    lingered_ = 0;
    stream_.expires_after(server_->options.linger_timeout);
    Discard();
  }
  void Discard() {
    stream_.async_read_some(
        buffer_.prepare(kDiscardChunk),
        [self = shared_from_this()](beast::error_code ec, std::size_t n) {
          self->lingered_ += n;
          if (ec || self->lingered_ >= self->server_->options.linger_bytes) {
            return self->Finish();
          }
          self->Discard();
        });
  }

  void Write(HttpResponse resp, bool keep_alive, bool linger = false) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(resp.status), version_);
    res->set(http::field::server, "deltakv");
    res->set(http::field::content_type, resp.content_type);
    for (auto& [k, v] : resp.headers) res->set(k, v);
    res->body() = std::move(resp.body);
    keep_alive = keep_alive && !server_->stopping;
    res->keep_alive(keep_alive);
    res->prepare_payload();
    stream_.expires_after(server_->options.body_timeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep_alive, linger](
                          beast::error_code ec, std::size_t) {
                        if (!ec && linger) return self->LingeringClose();
                        if (ec || !keep_alive) return self->Finish();
                        self->stream_.expires_never();
                        self->WaitForRequest();
                      });
  }

  void Finish() {
    beast::error_code ec;
    idle_timer_.cancel();
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  static constexpr size_t kDiscardChunk = 16 << 10;
  static constexpr size_t kBufferSlack = 64 << 10;

  beast::tcp_stream stream_;
  asio::steady_timer idle_timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpServer::Impl* server_;
  std::string remote_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
  size_t reserved_ = 0;       // body bytes reserved in server_->buffered
  bool over_budget_ = false;  // a chunk did not fit the budget
  size_t lingered_ = 0;       // bytes discarded while lingering
  ChunkBudget chunk_budget_{this};
};

}  // namespace

void HttpServer::Impl::Accept() {
  acceptor.async_accept(
      asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
        if (ec) {
          if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
            return;
          }
          return Accept();  // e.g. EMFILE: keep serving the others
        }
        if (connections.load() >= options.max_connections) {
          beast::error_code ignored;
          s.close(ignored);
          if (options.on_refused)
            options.on_refused(503, "too many connections");
        } else {
          connections.fetch_add(1);
          auto session = std::make_shared<Session>(std::move(s), this);
          {
            std::lock_guard<std::mutex> l(mu);
            for (auto it = sessions.begin(); it != sessions.end();) {
              it = it->expired() ? sessions.erase(it) : std::next(it);
            }
            sessions.insert(session);
          }
          session->Start();
        }
        Accept();
      });
}

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
size_t HttpServer::active_connections() const {
  return impl_->connections.load();
}
size_t HttpServer::in_flight() const { return impl_->in_flight.load(); }
size_t HttpServer::buffered_body_bytes() const {
  return impl_->buffered.load();
}

void HttpServer::StopAccepting() {
  asio::post(impl_->ioc, [p = impl_.get()] {
    beast::error_code ec;
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
}

}  // namespace deltakv::gateway
