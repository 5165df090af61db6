#include "bench/replication_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <string>
#include <utility>

namespace deltakv::bench {

namespace {

using Clock = std::chrono::steady_clock;

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  return addr;
}

void NoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

// One direction of a connection: chunks read from `src`, released to `dst`
// `delay` after they arrived.
struct Pipe {
  int src = -1, dst = -1;
  std::atomic<uint64_t>* counter = nullptr;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<Clock::time_point, std::string>> queue;  // guarded by mu
  bool eof = false;                                             // guarded by mu
  std::thread reader, writer;
};

struct DelayProxy::Connection {
  int client_fd = -1, server_fd = -1;
  std::atomic<bool> closed{false};
  Pipe up, down;  // up: client -> target; down: target -> client

  void Shutdown() {
    closed = true;
    shutdown(client_fd, SHUT_RDWR);
    shutdown(server_fd, SHUT_RDWR);
    for (Pipe* p : {&up, &down}) {
      std::lock_guard<std::mutex> l(p->mu);
      p->cv.notify_all();
    }
  }
  void Join() {
    for (Pipe* p : {&up, &down}) {
      if (p->reader.joinable()) p->reader.join();
      if (p->writer.joinable()) p->writer.join();
    }
    close(client_fd);
    close(server_fd);
  }
};

namespace {

void ReadLoop(DelayProxy::Connection* c, Pipe* p,
              const std::atomic<int64_t>* delay_us) {
  std::string buf(64 * 1024, '\0');
  while (!c->closed) {
    pollfd pfd{p->src, POLLIN, 0};
    int r = poll(&pfd, 1, 200);
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    ssize_t n = recv(p->src, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    std::lock_guard<std::mutex> l(p->mu);
    if (n <= 0) {
      p->eof = true;
      p->cv.notify_all();
      return;
    }
    p->queue.emplace_back(Clock::now() + std::chrono::microseconds(*delay_us),
                          buf.substr(0, static_cast<size_t>(n)));
    p->cv.notify_all();
  }
  std::lock_guard<std::mutex> l(p->mu);
  p->eof = true;
  p->cv.notify_all();
}

void WriteLoop(DelayProxy::Connection* c, Pipe* p) {
  for (;;) {
    std::pair<Clock::time_point, std::string> chunk;
    {
      std::unique_lock<std::mutex> l(p->mu);
      p->cv.wait(l, [&] { return !p->queue.empty() || p->eof || c->closed; });
      if (c->closed) return;
      if (p->queue.empty()) {  // eof and nothing left: pass the half-close on
        shutdown(p->dst, SHUT_WR);
        return;
      }
      chunk = std::move(p->queue.front());
      p->queue.pop_front();
    }
    std::this_thread::sleep_until(chunk.first);
    size_t sent = 0;
    while (sent < chunk.second.size() && !c->closed) {
      ssize_t n = send(p->dst, chunk.second.data() + sent,
                       chunk.second.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        c->Shutdown();
        return;
      }
      sent += static_cast<size_t>(n);
      *p->counter += static_cast<uint64_t>(n);
    }
  }
}

}  // namespace

std::unique_ptr<DelayProxy> DelayProxy::Open(uint16_t listen_port,
                                             uint16_t target_port,
                                             std::chrono::microseconds delay) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return nullptr;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr = Loopback(listen_port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(fd, 64) != 0) {
    close(fd);
    return nullptr;
  }
  return std::unique_ptr<DelayProxy>(new DelayProxy(fd, target_port, delay));
}

DelayProxy::DelayProxy(int listen_fd, uint16_t target_port,
                       std::chrono::microseconds delay)
    : listen_fd_(listen_fd),
      target_port_(target_port),
      delay_us_(delay.count()) {
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

DelayProxy::~DelayProxy() {
  stop_ = true;
  acceptor_.join();
  close(listen_fd_);
  std::list<std::unique_ptr<Connection>> conns;
  std::vector<int> held;
  {
    std::lock_guard<std::mutex> l(mu_);
    conns.swap(live_);
    held.swap(held_);
  }
  CloseAll(&conns);
  for (int fd : held) close(fd);
}

void DelayProxy::AcceptLoop() {
  while (!stop_) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    int client = accept(listen_fd_, nullptr, nullptr);
    if (client < 0) continue;
    NoDelay(client);
    {
      std::lock_guard<std::mutex> l(mu_);
      if (cut_) {
        held_.push_back(client);
        continue;
      }
    }
    int server = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = Loopback(target_port_);
    if (server < 0 ||
        connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (server >= 0) close(server);
      close(client);
      continue;
    }
    NoDelay(server);
    auto c = std::make_unique<Connection>();
    c->client_fd = client;
    c->server_fd = server;
    c->up.src = client;
    c->up.dst = server;
    c->up.counter = &to_target_;
    c->down.src = server;
    c->down.dst = client;
    c->down.counter = &to_client_;
    Connection* raw = c.get();
    for (Pipe* p : {&raw->up, &raw->down}) {
      p->reader = std::thread(ReadLoop, raw, p, &delay_us_);
      p->writer = std::thread(WriteLoop, raw, p);
    }
    std::lock_guard<std::mutex> l(mu_);
    live_.push_back(std::move(c));
  }
}

void DelayProxy::CloseAll(std::list<std::unique_ptr<Connection>>* conns) {
  for (auto& c : *conns) c->Shutdown();
  for (auto& c : *conns) c->Join();
  conns->clear();
}

void DelayProxy::Cut() {
  std::list<std::unique_ptr<Connection>> conns;
  {
    std::lock_guard<std::mutex> l(mu_);
    cut_ = true;
    conns.swap(live_);
  }
  CloseAll(&conns);
}

void DelayProxy::Heal() {
  std::vector<int> held;
  {
    std::lock_guard<std::mutex> l(mu_);
    cut_ = false;
    held.swap(held_);
  }
  for (int fd : held) {
    shutdown(fd, SHUT_RDWR);
    close(fd);
  }
}

}  // namespace deltakv::bench
