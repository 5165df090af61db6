// HttpClient: a small blocking HTTP/1.1 client with keep-alive connection
// reuse, for the remote transport, the CLI and tests. Speaks HTTPS for
// https:// URLs (OpenSSL; the server's certificate is always verified,
// with an optional client certificate for mutual TLS). Beast and OpenSSL
// stay inside http_client.cc.
//
// Thread-safety: safe for concurrent use; each call takes an idle
// connection from a pool (or opens one) and returns it afterwards.
#ifndef DELTAKV_CLIENT_HTTP_CLIENT_H_
#define DELTAKV_CLIENT_HTTP_CLIENT_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "deltakv/db.h"
#include "deltakv/status.h"

namespace deltakv {

struct HttpResult {
  int status = 0;
  std::string body;
  std::string content_type;
};

class HttpClient {
 public:
  // `url` is http://HOST:PORT or https://HOST:PORT (no path; the port may
  // be left out: 80 and 443; an IPv6 address goes in brackets). `tls`
  // applies to https:// only (InvalidArgument with http://, so that a CA
  // or client certificate given for a plain URL is not silently unused).
  // An https:// connection verifies the server's certificate against
  // tls.ca_file (or the system's CA store when empty) and its name (the
  // URL's host name or IP address); TLS 1.2 or newer.
  // Errors: InvalidArgument for a malformed URL, a CA file, certificate or
  // key that cannot be loaded, a key that does not match the certificate,
  // or one of cert_file/key_file without the other. Nothing is sent.
  static Result<std::unique_ptr<HttpClient>> Create(
      std::string_view url, std::string token = {},
      std::chrono::milliseconds timeout = std::chrono::seconds(30),
      const TlsOptions& tls = {});
  ~HttpClient();

  // Sends one request within the client's timeout (connect, TLS handshake,
  // send and answer together). A kept-alive connection the server closed
  // is not reused; one that closes under the request is retried once on a
  // fresh connection only when nothing reached the server, or when the
  // method is idempotent (GET, HEAD, PUT, DELETE): a POST such as a
  // counter increment is never sent twice. Unavailable when the server
  // cannot be reached or the connection broke (the message says when a
  // POST may have been applied), Timeout when it does not answer in time,
  // Unauthorized when the server's certificate does not verify or the
  // server refuses this client's certificate (the message says why).
  Result<HttpResult> Request(std::string_view method, std::string_view target,
                             std::string_view body = {});

  // GET `target` on a fresh connection, handing the body to `sink` piece
  // by piece as it arrives (for answers too large to hold: a backup), and
  // `progress` the bytes so far and the total (0 when unknown). The
  // client's timeout bounds each step (connect, every piece), not the
  // whole transfer; `header_timeout` (0: the client's timeout) bounds the
  // wait for the answer's header (a server preparing a backup first). A status
  // other than 200 comes back with its (small) body in the result, nothing
  // passed to `sink`. A `sink` error ends the transfer with that error.
  Result<HttpResult> Download(
      std::string_view target,
      const std::function<Status(std::string_view)>& sink,
      const std::function<void(uint64_t, uint64_t)>& progress = {},
      std::chrono::milliseconds header_timeout = {});

  struct Impl;

 private:
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace deltakv

#endif  // DELTAKV_CLIENT_HTTP_CLIENT_H_
