// <utility> before Asio (Boost 1.74 + GCC 12 in C++20).
#include <utility>

#include "client/http_client.h"

#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <climits>
#include <mutex>
#include <vector>

namespace deltakv {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Waits until `fd` is ready for `events` (or has an error, which the next
// operation reports) or `deadline` passes. Sockets are non-blocking and
// every operation waits here first: Asio's blocking calls ignore
// SO_RCVTIMEO (they poll without a limit after EAGAIN).
bool WaitReady(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - Clock::now())
                          .count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int n =
        ::poll(&p, 1, static_cast<int>(std::min<long long>(left, INT_MAX)));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return true;
  }
}

// A kept-alive connection the server has closed (or that holds bytes no
// request asked for) is not reused.
bool Stale(beast::tcp_stream& s) {
  pollfd p{s.socket().native_handle(), POLLIN, 0};
  return ::poll(&p, 1, 0) != 0;
}

bool Idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" ||
         method == "DELETE";
}

}  // namespace

struct HttpClient::Impl {
  std::string host, port, token;
  std::chrono::milliseconds timeout;
  asio::io_context ioc;  // used only for resolving and socket creation
  std::mutex mu;
  std::vector<std::unique_ptr<beast::tcp_stream>> idle;  // guarded by mu

  std::unique_ptr<beast::tcp_stream> Take() {
    std::lock_guard<std::mutex> l(mu);
    while (!idle.empty()) {
      auto s = std::move(idle.back());
      idle.pop_back();
      if (!Stale(*s)) return s;
    }
    return nullptr;
  }
  void Give(std::unique_ptr<beast::tcp_stream> s) {
    std::lock_guard<std::mutex> l(mu);
    if (idle.size() < 64) idle.push_back(std::move(s));
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Create(
    std::string_view url, std::string token,
    std::chrono::milliseconds timeout) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return Status::InvalidArgument("URL must start with http://: " +
                                   std::string(url));
  }
  std::string_view rest = url.substr(kScheme.size());
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0 ||
      rest.find('/') != std::string_view::npos) {
    return Status::InvalidArgument("URL must be http://HOST:PORT: " +
                                   std::string(url));
  }
  auto impl = std::make_unique<Impl>();
  impl->host = std::string(rest.substr(0, colon));
  impl->port = std::string(rest.substr(colon + 1));
  impl->token = std::move(token);
  impl->timeout = timeout;
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

Result<HttpResult> HttpClient::Request(std::string_view method,
                                       std::string_view target,
                                       std::string_view body) {
  http::request<http::string_body> req;
  req.method(
      http::string_to_verb(beast::string_view(method.data(), method.size())));
  req.target(beast::string_view(target.data(), target.size()));
  req.version(11);
  req.set(http::field::host, impl_->host);
  req.set(http::field::user_agent, "deltakv-client");
  if (!impl_->token.empty()) {
    req.set(http::field::authorization, "Bearer " + impl_->token);
  }
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::string(body);
  }
  req.keep_alive(true);
  req.prepare_payload();

  const auto deadline = Clock::now() + impl_->timeout;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto stream = attempt == 0 ? impl_->Take() : nullptr;
    const bool reused = stream != nullptr;
    beast::error_code ec;
    if (!stream) {
      tcp::resolver resolver(impl_->ioc);
      auto endpoints = resolver.resolve(impl_->host, impl_->port, ec);
      if (ec) {
        return Status::Unavailable("cannot resolve " + impl_->host + ": " +
                                   ec.message());
      }
      stream = std::make_unique<beast::tcp_stream>(impl_->ioc);
      bool connected = false;
      for (const auto& entry : endpoints) {
        tcp::socket& sock = stream->socket();
        if (sock.is_open()) sock.close(ec);
        sock.open(entry.endpoint().protocol(), ec);
        if (ec) continue;
        sock.non_blocking(true, ec);
        sock.connect(entry.endpoint(), ec);
        if (ec == asio::error::would_block || ec == asio::error::in_progress) {
          if (!WaitReady(sock.native_handle(), POLLOUT, deadline)) {
            return Status::Timeout("cannot connect to " + impl_->host + ":" +
                                   impl_->port + " in time");
          }
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(sock.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len);
          ec = err == 0
                   ? beast::error_code()
                   : beast::error_code(err, asio::error::get_system_category());
        }
        if (!ec) {
          connected = true;
          break;
        }
      }
      if (!connected) {
        return Status::Unavailable("cannot connect to " + impl_->host + ":" +
                                   impl_->port + ": " + ec.message());
      }
      stream->socket().set_option(tcp::no_delay(true), ec);
    }
    const int fd = stream->socket().native_handle();
    http::serializer<true, http::string_body> sr{req};
    while (!sr.is_done()) {
      http::write_some(stream->socket(), sr, ec);
      if (ec == asio::error::would_block) {
        ec = {};
        if (!WaitReady(fd, POLLOUT, deadline)) {
          return Status::Timeout("could not send the request in time");
        }
        continue;
      }
      if (ec) break;
    }
    if (ec) {
      // Nothing reached a server that had closed the connection: a fresh
      // connection may try again.
      if (reused) continue;
      return Status::Unavailable("send failed: " + ec.message());
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256ull << 20);
    size_t received = 0;
    // Parse what the buffer holds before waiting for more.
    while (!parser.is_done()) {
      received += http::read_some(stream->socket(), buffer, parser, ec);
      if (ec == asio::error::would_block) {
        ec = {};
        if (!WaitReady(fd, POLLIN, deadline)) {
          return Status::Timeout(
              "no answer from the server in time (a write may still have been "
              "applied)");
        }
        continue;
      }
      if (ec) break;
    }
    if (ec) {
      // A kept-alive connection closed under us before any answer: the
      // request is sent again only when repeating it is harmless (a
      // POST such as a counter increment may have been applied).
      if (reused && received == 0 && Idempotent(method) &&
          (ec == http::error::end_of_stream ||
           ec == asio::error::connection_reset || ec == asio::error::eof)) {
        continue;
      }
      return Status::Unavailable(
          "receive failed: " + ec.message() +
          (Idempotent(method) ? "" : " (the request may have been applied)"));
    }
    auto res = parser.release();
    HttpResult out;
    out.status = static_cast<int>(res.result_int());
    out.content_type = std::string(res[http::field::content_type]);
    out.body = std::move(res.body());
    if (res.keep_alive()) impl_->Give(std::move(stream));
    return out;
  }
  return Status::Unavailable("connection closed by the server");
}

}  // namespace deltakv
