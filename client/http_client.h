// HttpClient: a small blocking HTTP/1.1 client with keep-alive connection
// reuse, for the remote transport, the CLI and tests. Beast stays inside
// http_client.cc.
//
// Thread-safety: safe for concurrent use; each call takes an idle
// connection from a pool (or opens one) and returns it afterwards.
#ifndef DELTAKV_CLIENT_HTTP_CLIENT_H_
#define DELTAKV_CLIENT_HTTP_CLIENT_H_

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "deltakv/status.h"

namespace deltakv {

struct HttpResult {
  int status = 0;
  std::string body;
  std::string content_type;
};

class HttpClient {
 public:
  // `url` is http://HOST:PORT (no path). InvalidArgument otherwise.
  static Result<std::unique_ptr<HttpClient>> Create(
      std::string_view url, std::string token = {},
      std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~HttpClient();

  // Sends one request within the client's timeout (connect, send and
  // answer together). A kept-alive connection the server closed is not
  // reused; one that closes under the request is retried once on a fresh
  // connection only when nothing reached the server, or when the method is
  // idempotent (GET, HEAD, PUT, DELETE): a POST such as a counter increment
  // is never sent twice. Unavailable when the server cannot be reached or
  // the connection broke (the message says when a POST may have been
  // applied), Timeout when it does not answer in time.
  Result<HttpResult> Request(std::string_view method, std::string_view target,
                             std::string_view body = {});

  struct Impl;

 private:
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace deltakv

#endif  // DELTAKV_CLIENT_HTTP_CLIENT_H_
