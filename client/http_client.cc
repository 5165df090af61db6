// <utility> before Asio (Boost 1.74 + GCC 12 in C++20).
#include <utility>

#include "client/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <vector>

namespace deltakv {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpClient::Impl {
  std::string host, port, token;
  std::chrono::milliseconds timeout;
  asio::io_context ioc;  // used only for resolving and socket creation
  std::mutex mu;
  std::vector<std::unique_ptr<beast::tcp_stream>> idle;  // guarded by mu

  std::unique_ptr<beast::tcp_stream> Take() {
    std::lock_guard<std::mutex> l(mu);
    if (idle.empty()) return nullptr;
    auto s = std::move(idle.back());
    idle.pop_back();
    return s;
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
      stream->socket().open(tcp::v4(), ec);
      ec = {};
      asio::connect(stream->socket(), endpoints, ec);
      if (ec) {
        return Status::Unavailable("cannot connect to " + impl_->host + ":" +
                                   impl_->port + ": " + ec.message());
      }
      stream->socket().set_option(tcp::no_delay(true), ec);
    }
    // Blocking I/O with a deadline: SO_RCVTIMEO/SO_SNDTIMEO.
    struct timeval tv;
    tv.tv_sec = static_cast<long>(impl_->timeout.count() / 1000);
    tv.tv_usec = static_cast<long>((impl_->timeout.count() % 1000) * 1000);
    setsockopt(stream->socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv,
               sizeof tv);
    setsockopt(stream->socket().native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv,
               sizeof tv);
    http::write(stream->socket(), req, ec);
    if (ec) {
      if (reused) continue;
      return Status::Unavailable("send failed: " + ec.message());
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256ull << 20);
    http::read(stream->socket(), buffer, parser, ec);
    if (ec) {
      if (reused &&
          (ec == http::error::end_of_stream ||
           ec == asio::error::connection_reset || ec == asio::error::eof)) {
        continue;
      }
      if (ec == asio::error::would_block || ec == asio::error::try_again ||
          ec == asio::error::timed_out) {
        return Status::Timeout("no answer from the server in time");
      }
      return Status::Unavailable("receive failed: " + ec.message());
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
