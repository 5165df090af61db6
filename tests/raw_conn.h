// RawConn: a raw loopback TCP connection for black-box tests of the HTTP
// server (Catch2 assertions inside).
#ifndef DELTAKV_TESTS_RAW_CONN_H_
#define DELTAKV_TESTS_RAW_CONN_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <string>

namespace deltakv::testing {

// A non-blocking connection to 127.0.0.1:port for tests that interleave
// writes and reads as a plain client would. `small_send_buffer` keeps the
// kernel from absorbing a large body: writes then progress only as fast as
// the server reads.
class RawConn {
 public:
  explicit RawConn(const std::string& port, bool small_send_buffer = false) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    if (small_send_buffer) {
      int bytes = 16 << 10;
      setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(std::stoi(port)));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    REQUIRE(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~RawConn() { close(fd_); }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  // Writes all of `bytes` without reading; 0 when all were written, else
  // the errno of the write that failed (ETIMEDOUT: not all within
  // `timeout`).
  int Send(const std::string& bytes,
           std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n =
          send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return errno;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return ETIMEDOUT;
      pollfd p{fd_, POLLOUT, 0};
      poll(&p, 1, static_cast<int>(left.count()));
    }
    return 0;
  }

  // Reads until `until` has arrived, the server closes, or `timeout`
  // passes; read_errno() tells a reset from an orderly close.
  std::string Read(std::chrono::milliseconds timeout,
                   const std::string& until = {}) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string out;
    char buf[16384];
    for (;;) {
      if (!until.empty() && out.find(until) != std::string::npos) break;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (n < 0) read_errno_ = errno;
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  int read_errno() const { return read_errno_; }

  // True when the server closes (or resets) the connection within
  // `timeout`; bytes it sends meanwhile are skipped.
  bool ClosedWithin(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n == 0) return true;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return true;
    }
  }

 private:
  int fd_ = -1;
  int read_errno_ = 0;
};

}  // namespace deltakv::testing

#endif  // DELTAKV_TESTS_RAW_CONN_H_
