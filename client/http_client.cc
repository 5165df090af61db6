// <utility> before Asio (Boost 1.74 + GCC 12 in C++20).
#include <utility>

#include "client/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <limits>
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

bool Idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" ||
         method == "DELETE";
}

beast::error_code SystemError(int err) {
  return beast::error_code(err, asio::error::get_system_category());
}

// The reasons OpenSSL queued on this thread (oldest first), cleared.
std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    if (!out.empty()) out += "; ";
    out += reason ? reason : "error " + std::to_string(ERR_GET_REASON(e));
  }
  return out;
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

// How a TLS connection failed, for the Status the caller gets.
enum class TlsFailure {
  kNone,
  kServerCertificate,  // the server's certificate does not verify
  kClientRefused,      // the server refused (or wanted) our certificate
  kOther,              // protocol error, e.g. the server speaks plain HTTP
};

// ---------------------------------------------------------------------------
// Connection: one non-blocking TCP socket, optionally with TLS. TLS runs on
// memory BIOs, so every byte still goes through send/recv here (no SIGPIPE,
// the same poll deadlines as plain HTTP). Meets Beast's SyncReadStream and
// SyncWriteStream: each call waits at most until `deadline`, then fails
// with timed_out.

class Connection {
 public:
  explicit Connection(asio::io_context& ioc) : socket_(ioc) {}
  ~Connection() {
    if (ssl_ == nullptr) return;
    if (failure_ == TlsFailure::kNone && socket_.is_open()) {
      // Best effort close_notify, never waiting.
      SSL_shutdown(ssl_);
      std::string out;
      TakeTlsOutput(&out);
      if (!out.empty()) {
        ::send(fd(), out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      }
    }
    SSL_free(ssl_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  tcp::socket& socket() { return socket_; }
  int fd() { return socket_.native_handle(); }

  // Starts a request's exchange: the deadline of every call until the
  // next Begin, and counters of what came back.
  void Begin(Clock::time_point deadline) {
    deadline_ = deadline;
    received_ = 0;
    first_byte_ = -1;
  }
  size_t received() const { return received_; }   // response bytes so far
  int first_byte() const { return first_byte_; }  // of the response, or -1

  // TLS client handshake with `host` over the connected socket; verifies
  // the server's certificate (chain and name). On failure the returned
  // error is set and tls_failure()/tls_error() say why.
  beast::error_code Handshake(SSL_CTX* ctx, const std::string& host) {
    ssl_ = SSL_new(ctx);
    BIO* rbio = BIO_new(BIO_s_mem());
    BIO* wbio = BIO_new(BIO_s_mem());
    if (ssl_ == nullptr || rbio == nullptr || wbio == nullptr) {
      BIO_free(rbio);
      BIO_free(wbio);
      return Fail(TlsFailure::kOther,
                  "cannot allocate a TLS session: " + OpenSslErrors());
    }
    SSL_set_bio(ssl_, rbio, wbio);
    rbio_ = rbio;
    wbio_ = wbio;
    SSL_set_connect_state(ssl_);
    if (IsIpLiteral(host)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
    } else {
      // SSL_set_tlsext_host_name without its C cast.
      SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(host.c_str()));
      SSL_set1_host(ssl_, host.c_str());
    }
    beast::error_code ec;
    for (;;) {
      ERR_clear_error();
      const int r = SSL_do_handshake(ssl_);
      const int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
      if (!FlushTls(ec)) return ec;
      if (err == SSL_ERROR_NONE) return {};
      if (err == SSL_ERROR_WANT_READ) {
        if (!FillTls(ec)) {
          if (ec == asio::error::eof || ec == asio::error::connection_reset) {
            return Fail(TlsFailure::kOther,
                        "the server closed the connection during the TLS "
                        "handshake (" +
                            ec.message() + ")");
          }
          return ec;
        }
        continue;
      }
      return SslFailure(err);
    }
  }

  TlsFailure tls_failure() const { return failure_; }
  long verify_result() const { return verify_result_; }
  const std::string& tls_error() const { return tls_error_; }

  // A kept-alive connection the server has closed (or that holds bytes no
  // request asked for) is not reused. TLS records that carry no data (a
  // session ticket) do not count.
  bool Stale() {
    if (ssl_ == nullptr) {
      pollfd p{fd(), POLLIN, 0};
      return ::poll(&p, 1, 0) != 0;
    }
    if (SSL_pending(ssl_) > 0) return true;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd(), buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0) return true;
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return true;
      }
      BIO_write(rbio_, buf, static_cast<int>(n));
    }
    if (BIO_ctrl_pending(rbio_) == 0) return false;
    char c;
    ERR_clear_error();
    const int n = SSL_peek(ssl_, &c, 1);
    if (n > 0) return true;
    const bool stale = SSL_get_error(ssl_, n) != SSL_ERROR_WANT_READ;
    ERR_clear_error();
    return stale;
  }

  template <class MutableBuffers>
  size_t read_some(const MutableBuffers& buffers, beast::error_code& ec) {
    ec = {};
    const asio::mutable_buffer b = beast::buffers_front(buffers);
    if (b.size() == 0) return 0;
    const size_t n = ssl_ ? ReadTls(b, ec) : ReadPlain(b, ec);
    if (n > 0) {
      if (received_ == 0)
        first_byte_ = static_cast<unsigned char*>(b.data())[0];
      received_ += n;
    }
    return n;
  }
  template <class MutableBuffers>
  size_t read_some(const MutableBuffers& buffers) {
    beast::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

  template <class ConstBuffers>
  size_t write_some(const ConstBuffers& buffers, beast::error_code& ec) {
    ec = {};
    if (ssl_ == nullptr) return WritePlain(buffers, ec);
    // Encrypt up to 256 KiB into the memory BIO, then send all of it.
    size_t n = 0;
    for (auto it = asio::buffer_sequence_begin(buffers);
         it != asio::buffer_sequence_end(buffers) && n < (256u << 10); ++it) {
      asio::const_buffer b = *it;
      while (b.size() > 0) {
        const int len =
            static_cast<int>(std::min<size_t>(b.size(), 256u << 10));
        ERR_clear_error();
        const int w = SSL_write(ssl_, b.data(), len);
        if (w <= 0) {
          ec = SslFailure(SSL_get_error(ssl_, w));
          return 0;
        }
        n += static_cast<size_t>(w);
        b += static_cast<size_t>(w);
      }
    }
    if (!FlushTls(ec)) return 0;
    return n;
  }
  template <class ConstBuffers>
  size_t write_some(const ConstBuffers& buffers) {
    beast::error_code ec;
    const size_t n = write_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

 private:
  beast::error_code Fail(TlsFailure kind, std::string message) {
    failure_ = kind;
    tls_error_ = std::move(message);
    return beast::error_code(
        make_error_code(boost::system::errc::protocol_error));
  }

  // Classifies a failed SSL call.
  beast::error_code SslFailure(int err) {
    const long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      ERR_clear_error();
      verify_result_ = verify;
      return Fail(TlsFailure::kServerCertificate,
                  X509_verify_cert_error_string(verify));
    }
    const unsigned long e = ERR_peek_last_error();
    const int reason = ERR_GET_REASON(e);
    std::string text = OpenSslErrors();
    if (text.empty()) {
      text = err == SSL_ERROR_ZERO_RETURN ? "the server closed TLS"
                                          : "TLS error " + std::to_string(err);
    }
    switch (reason) {
      case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
      case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
      case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
      case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
      case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
      case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
      case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
        return Fail(TlsFailure::kClientRefused, text);
      default:
        return Fail(TlsFailure::kOther, text);
    }
  }

  // Moves what OpenSSL wrote into the memory BIO to *out.
  void TakeTlsOutput(std::string* out) {
    char buf[16384];
    while (BIO_ctrl_pending(wbio_) > 0) {
      const int n = BIO_read(wbio_, buf, sizeof buf);
      if (n <= 0) break;
      out->append(buf, static_cast<size_t>(n));
    }
  }

  // Sends every byte OpenSSL produced.
  bool FlushTls(beast::error_code& ec) {
    std::string out;
    TakeTlsOutput(&out);
    size_t sent = 0;
    while (sent < out.size()) {
      const ssize_t n = ::send(fd(), out.data() + sent, out.size() - sent,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ec = SystemError(errno);
        return false;
      }
      if (!WaitReady(fd(), POLLOUT, deadline_)) {
        ec = asio::error::timed_out;
        return false;
      }
    }
    return true;
  }

  // Reads what the socket holds (waiting for at least one byte) into the
  // TLS input BIO.
  bool FillTls(beast::error_code& ec) {
    char buf[16384];
    const size_t n = RecvSome(buf, sizeof buf, ec);
    if (n == 0) return false;
    BIO_write(rbio_, buf, static_cast<int>(n));
    return true;
  }

  size_t RecvSome(void* p, size_t len, beast::error_code& ec) {
    for (;;) {
      const ssize_t n = ::recv(fd(), p, len, MSG_DONTWAIT);
      if (n > 0) return static_cast<size_t>(n);
      if (n == 0) {
        ec = asio::error::eof;
        return 0;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ec = SystemError(errno);
        return 0;
      }
      if (!WaitReady(fd(), POLLIN, deadline_)) {
        ec = asio::error::timed_out;
        return 0;
      }
    }
  }

  size_t ReadPlain(asio::mutable_buffer b, beast::error_code& ec) {
    return RecvSome(b.data(), b.size(), ec);
  }

  size_t ReadTls(asio::mutable_buffer b, beast::error_code& ec) {
    for (;;) {
      ERR_clear_error();
      const int n =
          SSL_read(ssl_, b.data(),
                   static_cast<int>(std::min<size_t>(b.size(), INT_MAX)));
      if (n > 0) return static_cast<size_t>(n);
      const int err = SSL_get_error(ssl_, n);
      // Reading may have produced records to send (a key update).
      if (!FlushTls(ec)) return 0;
      if (err == SSL_ERROR_WANT_READ) {
        if (!FillTls(ec)) return 0;
        continue;
      }
      if (err == SSL_ERROR_ZERO_RETURN) {
        ec = asio::error::eof;  // close_notify: the server closed
        return 0;
      }
      ec = SslFailure(err);
      return 0;
    }
  }

  template <class ConstBuffers>
  size_t WritePlain(const ConstBuffers& buffers, beast::error_code& ec) {
    for (;;) {
      const size_t n = socket_.write_some(buffers, ec);
      if (ec != asio::error::would_block) return n;
      ec = {};
      if (!WaitReady(fd(), POLLOUT, deadline_)) {
        ec = asio::error::timed_out;
        return 0;
      }
    }
  }

  tcp::socket socket_;
  SSL* ssl_ = nullptr;   // null: plain HTTP
  BIO* rbio_ = nullptr;  // owned by ssl_: bytes received, for OpenSSL
  BIO* wbio_ = nullptr;  // owned by ssl_: bytes OpenSSL wants sent
  Clock::time_point deadline_{};
  size_t received_ = 0;
  int first_byte_ = -1;
  TlsFailure failure_ = TlsFailure::kNone;
  long verify_result_ = X509_V_OK;
  std::string tls_error_;
};

// A file that cannot be opened, named with the OS's reason.
Status Unreadable(const char* what, const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    return Status::OK();
  }
  return Status::InvalidArgument(std::string(what) + " " + path + ": " +
                                 std::strerror(errno));
}

// The client side of TLS: TLS 1.2 or newer, the server's certificate
// verified against `tls.ca_file` or the system's store, and the client's
// certificate for mutual TLS.
Result<std::unique_ptr<SSL_CTX, SslCtxFree>> NewClientContext(
    const TlsOptions& tls) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return Status::InvalidArgument(
        "a client certificate needs both its certificate file and its key "
        "file");
  }
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    return Status::IOError("cannot create a TLS context: " + OpenSslErrors());
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (tls.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      return Status::IOError("cannot load the system's CA certificates: " +
                             OpenSslErrors());
    }
  } else {
    DELTAKV_RETURN_IF_ERROR(Unreadable("cannot read CA file", tls.ca_file));
    if (SSL_CTX_load_verify_locations(ctx.get(), tls.ca_file.c_str(),
                                      nullptr) != 1) {
      return Status::InvalidArgument(
          "CA file " + tls.ca_file +
          " holds no usable PEM certificate: " + OpenSslErrors());
    }
  }
  if (!tls.cert_file.empty()) {
    DELTAKV_RETURN_IF_ERROR(
        Unreadable("cannot read certificate file", tls.cert_file));
    DELTAKV_RETURN_IF_ERROR(Unreadable("cannot read key file", tls.key_file));
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert_file.c_str()) !=
        1) {
      return Status::InvalidArgument(
          "certificate file " + tls.cert_file +
          " holds no usable PEM certificate: " + OpenSslErrors());
    }
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key_file.c_str(),
                                    SSL_FILETYPE_PEM) != 1 &&
        ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
      return Status::InvalidArgument(
          "key file " + tls.key_file +
          " holds no usable PEM private key: " + OpenSslErrors());
    }
    if (SSL_CTX_check_private_key(ctx.get()) != 1) {
      ERR_clear_error();
      return Status::InvalidArgument("key file " + tls.key_file +
                                     " does not match certificate file " +
                                     tls.cert_file);
    }
  }
  return ctx;
}

}  // namespace

// ---------------------------------------------------------------------------
// HttpClient

struct HttpClient::Impl {
  std::string host;  // for resolving and the certificate check
  std::string port;
  std::string host_header;  // HOST:PORT as in the URL
  std::string token;
  std::chrono::milliseconds timeout;
  std::unique_ptr<SSL_CTX, SslCtxFree> tls;  // null: plain HTTP
  asio::io_context ioc;  // used only for resolving and socket creation
  std::mutex mu;
  std::vector<std::unique_ptr<Connection>> idle;  // guarded by mu

  std::string where() const { return host_header; }

  std::unique_ptr<Connection> Take() {
    std::lock_guard<std::mutex> l(mu);
    while (!idle.empty()) {
      auto c = std::move(idle.back());
      idle.pop_back();
      if (!c->Stale()) return c;
    }
    return nullptr;
  }
  void Give(std::unique_ptr<Connection> c) {
    std::lock_guard<std::mutex> l(mu);
    if (idle.size() < 64) idle.push_back(std::move(c));
  }

  // A new connection (and TLS session), ready for a request.
  Result<std::unique_ptr<Connection>> Open(Clock::time_point deadline) {
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(host, port, ec);
    if (ec) {
      return Status::Unavailable("cannot resolve " + host + ": " +
                                 ec.message());
    }
    auto conn = std::make_unique<Connection>(ioc);
    bool connected = false;
    for (const auto& entry : endpoints) {
      tcp::socket& sock = conn->socket();
      if (sock.is_open()) sock.close(ec);
      sock.open(entry.endpoint().protocol(), ec);
      if (ec) continue;
      sock.non_blocking(true, ec);
      sock.connect(entry.endpoint(), ec);
      if (ec == asio::error::would_block || ec == asio::error::in_progress) {
        if (!WaitReady(sock.native_handle(), POLLOUT, deadline)) {
          return Status::Timeout("cannot connect to " + where() + " in time");
        }
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(sock.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len);
        ec = err == 0 ? beast::error_code() : SystemError(err);
      }
      if (!ec) {
        connected = true;
        break;
      }
    }
    if (!connected) {
      return Status::Unavailable("cannot connect to " + where() + ": " +
                                 ec.message());
    }
    conn->socket().set_option(tcp::no_delay(true), ec);
    if (tls) {
      conn->Begin(deadline);
      ec = conn->Handshake(tls.get(), host);
      if (ec == asio::error::timed_out) {
        return Status::Timeout("no TLS handshake with " + where() + " in time");
      }
      if (ec) return TlsStatus(*conn, ec, "handshake with ");
    }
    return conn;
  }

  std::string VerifyHint(long verify) const {
    switch (verify) {
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return " (the certificate is not issued for " + host + ")";
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return " (no trusted CA signed it: give the CA that did as the CA "
               "file)";
      default:
        return "";
    }
  }

  // The Status of a connection whose TLS failed (or of another error).
  Status TlsStatus(const Connection& c, const beast::error_code& ec,
                   const char* what) const {
    switch (c.tls_failure()) {
      case TlsFailure::kNone:
        return Status::Unavailable(std::string("TLS ") + what + where() +
                                   " failed: " + ec.message());
      case TlsFailure::kServerCertificate:
        return Status::Unauthorized("TLS: the certificate of " + where() +
                                    " does not verify: " + c.tls_error() +
                                    VerifyHint(c.verify_result()));
      case TlsFailure::kClientRefused:
        return Status::Unauthorized(
            "TLS: " + where() + " refused the connection: " + c.tls_error() +
            " (the server requires a client certificate it trusts)");
      case TlsFailure::kOther:
        break;
    }
    return Status::Unavailable(
        std::string("TLS ") + what + where() + " failed: " + c.tls_error() +
        (c.tls_error().find("wrong version number") != std::string::npos
             ? " (does the server speak HTTPS on this port?)"
             : ""));
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Create(
    std::string_view url, std::string token, std::chrono::milliseconds timeout,
    const TlsOptions& tls) {
  bool https;
  std::string_view rest;
  if (url.substr(0, 7) == "http://") {
    https = false;
    rest = url.substr(7);
  } else if (url.substr(0, 8) == "https://") {
    https = true;
    rest = url.substr(8);
  } else {
    return Status::InvalidArgument("URL must start with http:// or https://: " +
                                   std::string(url));
  }
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const auto bad = [&] {
    return Status::InvalidArgument("URL must be http[s]://HOST[:PORT]: " +
                                   std::string(url));
  };
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos) {
    return bad();
  }
  std::string_view host = rest, port;
  if (rest.front() == '[') {  // [IPv6]:PORT
    const size_t close = rest.find(']');
    if (close == std::string_view::npos || close == 1) return bad();
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad();
      port = after.substr(1);
      if (port.empty()) return bad();
    }
  } else if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host.empty() || port.empty() ||
        host.find(':') != std::string_view::npos) {
      return bad();
    }
  }
  if (port.empty()) {
    port = https ? "443" : "80";
  } else {
    unsigned v = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || v > 65535) return bad();
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v == 0 || v > 65535) return bad();
  }
  if (timeout.count() <= 0) {
    return Status::InvalidArgument("the timeout must be positive");
  }
  auto impl = std::make_unique<Impl>();
  impl->host = std::string(host);
  impl->port = std::string(port);
  impl->host_header = rest.front() == '[' ? "[" + impl->host + "]:" + impl->port
                                          : impl->host + ":" + impl->port;
  impl->token = std::move(token);
  impl->timeout = timeout;
  if (https) {
    DELTAKV_ASSIGN_OR_RETURN(impl->tls, NewClientContext(tls));
  } else if (!tls.ca_file.empty() || !tls.cert_file.empty() ||
             !tls.key_file.empty()) {
    return Status::InvalidArgument(
        "a CA file or client certificate needs an https:// URL, not " +
        std::string(url));
  }
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
  req.set(http::field::host, impl_->host_header);
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
    auto conn = attempt == 0 ? impl_->Take() : nullptr;
    const bool reused = conn != nullptr;
    if (!conn) {
      DELTAKV_ASSIGN_OR_RETURN(conn, impl_->Open(deadline));
    }
    conn->Begin(deadline);
    beast::error_code ec;
    http::serializer<true, http::string_body> sr{req};
    http::write(*conn, sr, ec);
    if (ec == asio::error::timed_out) {
      return Status::Timeout("could not send the request in time");
    }
    if (ec && conn->tls_failure() != TlsFailure::kNone) {
      return impl_->TlsStatus(*conn, ec, "send to ");
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
    if (method == "HEAD") parser.skip(true);
    http::read(*conn, buffer, parser, ec);
    if (ec == asio::error::timed_out) {
      return Status::Timeout(
          "no answer from the server in time (a write may still have been "
          "applied)");
    }
    if (ec && conn->tls_failure() != TlsFailure::kNone) {
      return impl_->TlsStatus(*conn, ec, "receive from ");
    }
    if (ec) {
      // A kept-alive connection closed under us before any answer: the
      // request is sent again only when repeating it is harmless (a
      // POST such as a counter increment may have been applied).
      if (reused && conn->received() == 0 && Idempotent(method) &&
          (ec == http::error::end_of_stream ||
           ec == asio::error::connection_reset || ec == asio::error::eof)) {
        continue;
      }
      // TLS records (handshake 0x16, alert 0x15) where an HTTP answer
      // belongs: the server speaks HTTPS.
      if (!impl_->tls &&
          (conn->first_byte() == 0x15 || conn->first_byte() == 0x16)) {
        return Status::Unavailable("the server at " + impl_->where() +
                                   " answered with TLS: use an https:// URL");
      }
      // A fresh plain connection closed without a byte of answer: a TLS
      // listener does that to a plain request.
      const bool maybe_tls =
          !impl_->tls && !reused && conn->received() == 0 &&
          (ec == http::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::error::connection_reset);
      return Status::Unavailable(
          "receive failed: " + ec.message() +
          (maybe_tls ? " (the server closed the connection without an "
                       "answer; if it speaks HTTPS, use an https:// URL)"
                     : "") +
          (Idempotent(method) ? "" : " (the request may have been applied)"));
    }
    auto res = parser.release();
    HttpResult out;
    out.status = static_cast<int>(res.result_int());
    out.content_type = std::string(res[http::field::content_type]);
    out.body = std::move(res.body());
    if (res.keep_alive()) impl_->Give(std::move(conn));
    return out;
  }
  return Status::Unavailable("connection closed by the server");
}

Result<HttpResult> HttpClient::Download(
    std::string_view target,
    const std::function<Status(std::string_view)>& sink,
    const std::function<void(uint64_t, uint64_t)>& progress,
    std::chrono::milliseconds header_timeout) {
  http::request<http::empty_body> req;
  req.method(http::verb::get);
  req.target(beast::string_view(target.data(), target.size()));
  req.version(11);
  req.set(http::field::host, impl_->host_header);
  req.set(http::field::user_agent, "deltakv-client");
  if (!impl_->token.empty()) {
    req.set(http::field::authorization, "Bearer " + impl_->token);
  }
  req.keep_alive(false);
  auto step = [this] { return Clock::now() + impl_->timeout; };
  DELTAKV_ASSIGN_OR_RETURN(auto conn, impl_->Open(step()));
  conn->Begin(step());
  beast::error_code ec;
  http::write(*conn, req, ec);
  if (ec && conn->tls_failure() != TlsFailure::kNone) {
    return impl_->TlsStatus(*conn, ec, "send to ");
  }
  if (ec == asio::error::timed_out) {
    return Status::Timeout("could not send the request in time");
  }
  if (ec) return Status::Unavailable("send failed: " + ec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  conn->Begin(header_timeout.count() > 0 ? Clock::now() + header_timeout
                                         : step());
  http::read_header(*conn, buffer, parser, ec);
  if (ec && conn->tls_failure() != TlsFailure::kNone) {
    return impl_->TlsStatus(*conn, ec, "receive from ");
  }
  if (ec == asio::error::timed_out) {
    return Status::Timeout("no answer from the server in time");
  }
  if (ec) return Status::Unavailable("receive failed: " + ec.message());
  HttpResult out;
  out.status = static_cast<int>(parser.get().result_int());
  out.content_type = std::string(parser.get()[http::field::content_type]);
  const uint64_t total = parser.content_length() ? *parser.content_length() : 0;
  const bool ok = out.status == 200;
  std::string error_body;
  uint64_t done = 0;
  std::vector<char> piece(256 << 10);
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    conn->Begin(step());
    http::read(*conn, buffer, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec == asio::error::timed_out) {
      return Status::Timeout("the transfer stalled (no data in time)");
    }
    if (ec) return Status::Unavailable("receive failed: " + ec.message());
    const size_t n = piece.size() - parser.get().body().size;
    if (n == 0) continue;
    done += n;
    if (!ok) {
      if (error_body.size() < (64 << 10)) error_body.append(piece.data(), n);
      continue;
    }
    DELTAKV_RETURN_IF_ERROR(sink(std::string_view(piece.data(), n)));
    if (progress) progress(done, total);
  }
  out.body = std::move(error_body);
  return out;
}

}  // namespace deltakv
