// HttpServer: HTTP/1.1 on Boost.Beast/Asio, kept out of every other header.
//
// Keep-alive connections, several I/O threads, optional TLS (OpenSSL, kept
// inside http_server.cc), limits on URL, headers and body, and three
// timeouts: idle (waiting for the next request on a
// keep-alive connection), header read, and body read. Once the header is
// read, and before any body byte is, a request is checked: URL length,
// authorization (the `authorize` hook), declared body size, and a global
// budget of body bytes buffered across all connections; `Expect:
// 100-continue` is answered with 100 only when the request passes. A
// request refused at that point, or while its header or body is read, is
// answered with `Connection: close` and a lingering close: the sending side
// is shut down, and what the client still sends is read and discarded (up
// to a bound) so that a client that writes its whole body before reading
// sees the status instead of a reset. At max_connections, a new connection
// is admitted by closing the connection idle longest (keep-alive idle
// first, then connections that sent nothing, then ones still sending their
// header); when no connection is idle it is refused. When accept fails
// for lack of file descriptors, the server sheds an idle connection and
// backs off instead of spinning. HEAD is answered for every GET route (the
// handler sees a GET with `head` set). A request is handed to
// the Handler once fully read; the handler answers through the Responder,
// from any thread and at any later time (handlers never block I/O threads
// on the writer). Requests on one connection are answered in order, one at
// a time.
//
// Thread-safety: Start/StopAccepting/Shutdown from one controlling thread;
// Responders from any thread.
#ifndef DELTAKV_GATEWAY_HTTP_SERVER_H_
#define DELTAKV_GATEWAY_HTTP_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "deltakv/status.h"

namespace deltakv::gateway {

// Tells a handler that the client went away while its request was being
// handled (a request parked on a causal token, say), so that it can free
// what the request holds. Seen when the client closes its connection
// without sending more; a client that pipelines another request is not
// watched further. Thread-safe.
class HttpSessionBase;

class ClientGone {
 public:
  ClientGone() = default;
  // Of request number `request` of `session` (the server's side).
  ClientGone(std::weak_ptr<HttpSessionBase> session, uint64_t request)
      : session_(std::move(session)), request_(request) {}

  // Runs `fn` once, when the client is gone (at once if it is already).
  // Replaces an earlier callback that has not run. The connection is
  // watched only from the first call on (a request answered at once costs
  // nothing).
  void OnGone(std::function<void()> fn);
  // Drops the callback (the request is answered).
  void Clear();
  // The server's side: reports the client gone.
  void Fire();

 private:
  const std::weak_ptr<HttpSessionBase> session_;  // watched from OnGone on
  const uint64_t request_ = 0;
  std::mutex mu_;
  bool gone_ = false;
  bool armed_ = false;
  std::function<void()> fn_;
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...; a HEAD request arrives as GET
  bool head = false;   // ... with this set: the answer's body is not sent
  std::string target;  // path and query, as sent
  std::string authorization;
  std::string content_type;
  std::string body;
  std::string remote;                // peer address:port
  std::shared_ptr<ClientGone> gone;  // never null
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set: the body is this file's content instead (streamed, with its
  // length), and the file is removed once opened.
  std::string file;
};

// Call exactly once.
using Responder = std::function<void(HttpResponse)>;
using Handler = std::function<void(HttpRequest, Responder)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (see HttpServer::port)
  int io_threads = 2;
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  size_t max_url_bytes = 8 << 10;
  size_t max_connections = 10000;
  // Only these paths are served (others 404); empty: every path. The admin
  // listener serves {"/healthz", "/readyz", "/metrics"}.
  std::vector<std::string> only_paths;
  // TLS (PEM files): with a certificate and key the listener speaks HTTPS
  // only; with a client CA too, a client must present a certificate that
  // CA signed. Unreadable or mismatched files fail Start.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // Body bytes being buffered across all connections, reserved when the
  // header declares a Content-Length (or as chunks arrive) and released
  // when the request is answered or its connection dies. A request that
  // would exceed it is answered 503 before its body is read.
  size_t max_buffered_body_bytes = size_t{256} << 20;
  // Linger after an early refusal: discard at most this many bytes, for at
  // most this long, before closing.
  size_t linger_bytes = size_t{1} << 20;
  std::chrono::milliseconds linger_timeout{2000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  // Called with (method, target, Authorization header) once a request's
  // header is read; false answers 401 without reading the body. Unset:
  // every request is authorized here (the handler may still refuse it).
  std::function<bool(std::string_view, std::string_view, std::string_view)>
      authorize;
  // Called for requests and connections refused or closed before they
  // reach the handler (limits, malformed HTTP, timeouts, shedding), for
  // metrics: (HTTP status, or 0 when none was sent; a short reason label
  // such as "body_too_large" or "idle_shed").
  std::function<void(int, std::string_view)> on_refused;
};

class HttpServer {
 public:
  // Binds and starts serving. IOError/InvalidArgument when the address
  // cannot be bound.
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options,
                                                   Handler handler);
  ~HttpServer();  // Shutdown(0) if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;
  // Stops accepting new connections; existing ones keep working.
  void StopAccepting();
  // Stops accepting, waits up to `grace` for in-flight requests to be
  // answered, closes every connection and joins the I/O threads.
  void Shutdown(std::chrono::milliseconds grace);

  size_t active_connections() const;
  // Idle connections closed to admit new ones near max_connections.
  uint64_t shed_connections() const;
  size_t in_flight() const;
  // Body bytes reserved right now (see max_buffered_body_bytes).
  size_t buffered_body_bytes() const;

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace deltakv::gateway

#endif  // DELTAKV_GATEWAY_HTTP_SERVER_H_
