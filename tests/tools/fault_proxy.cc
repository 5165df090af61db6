#include "tests/tools/fault_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace deltakv::testing {

// ----------------------------------------------------------------------------
// ZmtpFilter

namespace {

constexpr uint8_t kMore = 0x01;
constexpr uint8_t kLong = 0x02;
constexpr uint8_t kCommand = 0x04;
constexpr uint8_t kReserved = 0xF8;

uint8_t Byte(const std::string& s, size_t i) {
  return static_cast<uint8_t>(s[i]);
}

}  // namespace

Status ZmtpFilter::Feed(std::string_view in, std::string* out) {
  if (passthrough_) {
    out->append(in);
    return Status::OK();
  }
  // The greeting is forwarded as it arrives: libzmq sends the signature
  // first and waits for the other side's before sending the rest.
  if (greeting_.size() < kGreetingBytes) {
    const size_t take = std::min(in.size(), kGreetingBytes - greeting_.size());
    greeting_.append(in.substr(0, take));
    out->append(in.substr(0, take));
    in.remove_prefix(take);
    // Signature 0xFF, 8 bytes of padding, 0x7F; then the major version.
    // Anything else is an older ZMTP (or not ZMTP): forwarded untouched.
    if (Byte(greeting_, 0) != 0xFF ||
        (greeting_.size() > 9 && (Byte(greeting_, 9) & 0x01) == 0) ||
        (greeting_.size() > 10 && Byte(greeting_, 10) < 3)) {
      passthrough_ = true;
      out->append(in);
      return Status::OK();
    }
    if (greeting_.size() < kGreetingBytes) return Status::OK();
  }
  pending_.append(in);
  size_t pos = 0;
  Status status;
  for (;;) {
    const size_t avail = pending_.size() - pos;
    if (avail < 2) break;
    const uint8_t flags = Byte(pending_, pos);
    if ((flags & kReserved) != 0) {
      status = Status::InvalidArgument(
          "ZMTP frame with reserved flag bits set (flags byte " +
          std::to_string(flags) + ")");
      break;
    }
    const size_t header = (flags & kLong) != 0 ? 9 : 2;
    if (avail < header) break;
    uint64_t size = 0;
    if ((flags & kLong) != 0) {
      for (size_t i = 1; i <= 8; ++i) size = (size << 8) | Byte(pending_, pos + i);
    } else {
      size = Byte(pending_, pos + 1);
    }
    if (size > kMaxFrameBytes) {
      status = Status::InvalidArgument("ZMTP frame of " + std::to_string(size) +
                                       " bytes exceeds the proxy's limit");
      break;
    }
    if (avail - header < size) break;
    const std::string_view frame(pending_.data() + pos, header + size);
    pos += header + size;
    if ((flags & kCommand) != 0) {  // never faulted, never held back
      ++counts_.commands;
      out->append(frame);
      continue;
    }
    // A message's fate is decided at its first frame; frames are
    // forwarded (or dropped) as they complete, and a duplicate is sent
    // whole after the original's last frame.
    if (fate_ < 0) {
      ++counts_.messages;
      fate_ = copies_ ? std::clamp(copies_(), 0, 2) : 1;
      if (fate_ == 0) ++counts_.dropped;
      if (fate_ == 2) ++counts_.duplicated;
    }
    if (fate_ >= 1) out->append(frame);
    if (fate_ == 2) message_.append(frame);
    if ((flags & kMore) == 0) {
      if (fate_ == 2) out->append(message_);
      message_.clear();
      fate_ = -1;
    }
  }
  pending_.erase(0, pos);
  return status;
}

// ----------------------------------------------------------------------------
// FaultProxy

namespace {

bool Address(const std::string& host, uint16_t port, sockaddr_in* addr) {
  std::memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_port = htons(port);
  return inet_pton(AF_INET, host.c_str(), &addr->sin_addr) == 1;
}

void NoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// A connection from `source` to `target`, or -1 after `timeout_ms`.
int ConnectFrom(const std::string& source, const std::string& host,
                uint16_t port, int timeout_ms) {
  sockaddr_in from{}, to{};
  if (!Address(source, 0, &from) || !Address(host, port, &to)) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
    close(fd);
    return -1;
  }
  int r = connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to);
  if (r != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    if (poll(&p, 1, timeout_ms) == 1 &&
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
      r = 0;
    }
  }
  if (r != 0) {
    close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  NoDelay(fd);
  return fd;
}

bool SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n =
        send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

struct FaultProxy::Connection {
  int client_fd = -1, server_fd = -1;
  std::atomic<bool> closed{false}, done{false};
  std::thread thread;

  void Shutdown() {
    closed = true;
    shutdown(client_fd, SHUT_RDWR);
    if (server_fd >= 0) shutdown(server_fd, SHUT_RDWR);
  }
  ~Connection() {
    if (thread.joinable()) thread.join();
    close(client_fd);
    if (server_fd >= 0) close(server_fd);
  }
};

Result<std::unique_ptr<FaultProxy>> FaultProxy::Open(
    FaultProxyOptions options) {
  sockaddr_in addr{};
  if (!Address(options.listen_host, options.listen_port, &addr) ||
      !Address(options.source_host, 0, &addr) ||
      !Address(options.target_host, options.target_port, &addr)) {
    return Status::InvalidArgument("fault proxy: addresses must be IPv4");
  }
  Address(options.listen_host, options.listen_port, &addr);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IOError("fault proxy: socket: " +
                                     std::string(std::strerror(errno)));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(fd, 64) != 0) {
    std::string why = std::strerror(errno);
    close(fd);
    return Status::IOError("fault proxy: cannot listen on " +
                           options.listen_host + ":" +
                           std::to_string(options.listen_port) + ": " + why);
  }
  return std::unique_ptr<FaultProxy>(new FaultProxy(fd, std::move(options)));
}

FaultProxy::FaultProxy(int listen_fd, FaultProxyOptions options)
    : listen_fd_(listen_fd), options_(std::move(options)) {
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FaultProxy::~FaultProxy() {
  stop_ = true;
  acceptor_.join();
  close(listen_fd_);
  std::list<std::unique_ptr<Connection>> conns;
  {
    std::lock_guard<std::mutex> l(mu_);
    conns.swap(live_);
  }
  for (auto& c : conns) c->Shutdown();
  conns.clear();  // joins and closes
}

void FaultProxy::SetRates(double drop, double duplicate) {
  auto ppm = [](double p) {
    return static_cast<uint32_t>(std::clamp(p, 0.0, 1.0) * 1e6);
  };
  drop_ppm_ = ppm(drop);
  dup_ppm_ = ppm(duplicate);
}

FaultProxy::Counts FaultProxy::counts() const {
  Counts c;
  c.connections = connections_;
  c.messages = messages_;
  c.commands = commands_;
  c.dropped = dropped_;
  c.duplicated = duplicated_;
  return c;
}

int FaultProxy::Copies(std::mt19937_64* rng) {
  const uint32_t r = static_cast<uint32_t>((*rng)() % 1000000);
  const uint32_t drop = drop_ppm_, dup = dup_ppm_;
  if (r < drop) return 0;
  if (r < drop + dup) return 2;
  return 1;
}

void FaultProxy::AcceptLoop() {
  while (!stop_) {
    {  // reap finished connections
      std::lock_guard<std::mutex> l(mu_);
      live_.remove_if([](const std::unique_ptr<Connection>& c) {
        return c->done.load();
      });
    }
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    NoDelay(client);
    ++connections_;
    auto c = std::make_unique<Connection>();
    c->client_fd = client;
    Connection* raw = c.get();
    std::lock_guard<std::mutex> l(mu_);
    live_.push_back(std::move(c));
    raw->thread = std::thread([this, raw] { Serve(raw); });
  }
}

void FaultProxy::Serve(Connection* c) {
  c->server_fd = ConnectFrom(options_.source_host, options_.target_host,
                             options_.target_port, 1000);
  if (c->server_fd >= 0 && !c->closed) {
    std::thread up([this, c] { Pump(c, /*to_target=*/true); });
    Pump(c, /*to_target=*/false);
    up.join();
  }
  c->Shutdown();
  c->done = true;
}

void FaultProxy::Pump(Connection* c, bool to_target) {
  const int src = to_target ? c->client_fd : c->server_fd;
  const int dst = to_target ? c->server_fd : c->client_fd;
  std::mt19937_64 rng(options_.seed ^
                      (0x9E3779B97F4A7C15ull * (next_seed_.fetch_add(1) + 1)));
  const bool faulted =
      to_target ? options_.fault_to_target : options_.fault_to_client;
  ZmtpFilter filter(faulted ? std::function<int()>([this, &rng] {
    return Copies(&rng);
  })
                            : nullptr);
  ZmtpFilter::Counts seen;
  std::string buf(64 * 1024, '\0'), out;
  while (!stop_ && !c->closed) {
    pollfd pfd{src, POLLIN, 0};
    int r = poll(&pfd, 1, 200);
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    ssize_t n = recv(src, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.clear();
    Status s = filter.Feed(std::string_view(buf.data(), static_cast<size_t>(n)),
                           &out);
    const ZmtpFilter::Counts& now = filter.counts();
    messages_ += now.messages - seen.messages;
    commands_ += now.commands - seen.commands;
    dropped_ += now.dropped - seen.dropped;
    duplicated_ += now.duplicated - seen.duplicated;
    seen = now;
    if (!SendAll(dst, out) || !s.ok()) break;
  }
  c->Shutdown();
}

}  // namespace deltakv::testing
