// The cluster of the nemesis test (tests/nemesis_test.cc): three regions,
// each a deltakv-server on its own loopback address (127.0.0.2-4) inside
// the test's network namespace, restartable on the same data folder, with
// a libfaketime offset file for clock jumps; bounded HTTP calls; and a gate
// that holds a region's writers. Header-only, like server_harness.h.
//
// Thread-safety: Region and Gate are safe for concurrent use (each guards
// itself with a mutex); Call() is reentrant.
#ifndef DELTAKV_TESTS_NEMESIS_CLUSTER_H_
#define DELTAKV_TESTS_NEMESIS_CLUSTER_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace deltakv::nemesis {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr int kRegions = 3;
inline const char* const kNames[kRegions] = {"na", "nb", "nc"};
inline const char* const kIps[kRegions] = {"127.0.0.2", "127.0.0.3", "127.0.0.4"};
constexpr uint16_t kReplPort = 7100;  // our own namespace: every port is free
// The proxy on region i's address that leads to region j's PUB (ROUTER on
// the next port).
inline uint16_t ProxyPort(int origin) {
  return static_cast<uint16_t>(7200 + 10 * origin);
}
inline const char* const kFaketimeLib =
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

inline int64_t Nanos(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             t.time_since_epoch())
      .count();
}

inline int Run(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str());
}

inline std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

// The answer to one HTTP request.
struct Reply {
  int status = 0;  // 0: no answer (refused, timed out, cut off)
  std::string body;
};

// One request on a fresh connection ("Connection: close"), bounded by
// `timeout` as a whole. Deliberately not HttpClient: it retries a request
// once when a reused connection turns out closed (which could apply a
// write twice across a SIGKILL), and its blocking reads do not time out
// on a server that accepted the connection but is stopped.
inline Reply Call(const std::string& url, const std::string& method,
           const std::string& target, const std::string& body = {},
           std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
  Reply reply;
  const std::string prefix = "http://";
  const size_t colon = url.rfind(':');
  if (url.rfind(prefix, 0) != 0 || colon == std::string::npos) return reply;
  const std::string host = url.substr(prefix.size(), colon - prefix.size());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(url.substr(colon + 1))));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return reply;
  const auto deadline = Clock::now() + timeout;
  auto left_ms = [&] {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - Clock::now())
                  .count();
    return static_cast<int>(std::max<int64_t>(ms, 0));
  };
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return reply;
  // From 127.0.0.1, which no partition rule names.
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &from.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
    close(fd);
    return reply;
  }
  std::string out = method + " " + target + " HTTP/1.1\r\nHost: " + host +
                    "\r\nConnection: close\r\n";
  if (!body.empty()) {
    out += "Content-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n";
  }
  out += "\r\n" + body;
  std::string in;
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ||
            errno == EINPROGRESS;
  size_t sent = 0;
  while (ok && sent < out.size()) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, left_ms()) != 1) {
      ok = false;
      break;
    }
    ssize_t n = send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) ok = false;
    if (n > 0) sent += static_cast<size_t>(n);
  }
  char buf[64 * 1024];
  bool eof = false;
  while (ok && !eof) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, left_ms()) != 1) {
      ok = false;
      break;
    }
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) ok = false;
    if (n == 0) eof = true;
    if (n > 0) in.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  const size_t head_end = in.find("\r\n\r\n");
  if (!ok || in.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) {
    return reply;
  }
  std::string head = in.substr(0, head_end);
  for (char& c : head) c = static_cast<char>(std::tolower(c));
  std::string rest = in.substr(head_end + 4);
  if (head.find("transfer-encoding: chunked") != std::string::npos) {
    std::string decoded;
    size_t pos = 0;
    for (;;) {
      const size_t eol = rest.find("\r\n", pos);
      if (eol == std::string::npos) return reply;
      const size_t size = std::stoul(rest.substr(pos, eol - pos), nullptr, 16);
      if (size == 0) break;
      if (eol + 2 + size > rest.size()) return reply;
      decoded += rest.substr(eol + 2, size);
      pos = eol + 2 + size + 2;
    }
    rest = std::move(decoded);
  } else if (size_t cl = head.find("content-length: "); cl != std::string::npos) {
    const size_t len = std::stoul(head.substr(cl + 16));
    if (rest.size() < len) return reply;  // cut off
    rest.resize(len);
  }
  reply.status = std::atoi(in.c_str() + 9);
  reply.body = std::move(rest);
  return reply;
}

inline json Parse(const Reply& r) {
  if (r.status != 200) return json();
  return json::parse(r.body, nullptr, false);
}

inline std::string Tail(const std::string& path, size_t lines) {
  std::ifstream f(path);
  std::vector<std::string> all;
  for (std::string l; std::getline(f, l);) all.push_back(l);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size();
       ++i) {
    out += "    " + all[i] + "\n";
  }
  return out;
}

// ----------------------------------------------------------------------------
// A region: one server process on its own address, restartable on the same
// data folder, with a libfaketime offset file for clock jumps.

class Region {
 public:
  Region(int index, std::string root, bool faketime, std::string max_log)
      : index_(index),
        root_(std::move(root)),
        faketime_(faketime),
        max_log_(std::move(max_log)) {
    std::filesystem::create_directories(root_);
    SetClockOffset(0);
  }
  ~Region() { Kill(); }

  // Starts the server and waits (bounded) until it serves. False when it
  // exited or was not ready within 20 s.
  bool Start() {
    // HTTP on the region's own address: a port freed by a killed region
    // can then never be taken by another region's restart, so a client
    // holding an old URL never reaches the wrong region.
    const std::string ready = root_ + "/ready";
    std::filesystem::remove(ready);
    std::vector<std::string> args = {
        DELTAKV_SERVER_BIN, "--region", kNames[index_], "--data-dir",
        root_ + "/data", "--http", std::string(kIps[index_]) + ":0",
        "--ready-file", ready,
        "--access-log", "false", "--log-level", "warn", "--repl",
        std::string(kIps[index_]) + ":" + std::to_string(kReplPort),
        "--insecure-replication", "--repl-heartbeat-ms", "200",
        "--max-log-entries", max_log_};
    for (int j = 0; j < kRegions; ++j) {
      if (j == index_) continue;
      args.push_back("--peer");
      args.push_back(std::string(kNames[j]) + "=" + kIps[index_] + ":" +
                     std::to_string(ProxyPort(j)));
    }
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string(*e).rfind("LD_PRELOAD=", 0) != 0) env.push_back(*e);
    }
    if (faketime_) {
      env.push_back(std::string("LD_PRELOAD=") + kFaketimeLib);
      env.push_back("FAKETIME_TIMESTAMP_FILE=" + root_ + "/clock");
      env.push_back("FAKETIME_CACHE_DURATION=1");  // re-read every second
      env.push_back("FAKETIME_DONT_FAKE_MONOTONIC=1");
    }
    const std::string log = root_ + "/server.log";
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      std::vector<char*> argv, envp;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      for (auto& e : env) envp.push_back(e.data());
      envp.push_back(nullptr);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      pid_ = pid;
    }
    auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline) {
      std::ifstream f(ready);
      std::string addr;
      if (f >> addr) {
        std::lock_guard<std::mutex> l(mu_);
        url_ = "http://" + addr;
        return true;
      }
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        std::lock_guard<std::mutex> l(mu_);
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // SIGKILL (works on a stopped process too) and reap. No-op when down.
  void Kill() {
    pid_t pid;
    {
      std::lock_guard<std::mutex> l(mu_);
      pid = pid_;
      pid_ = -1;
      url_.clear();
    }
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
  }

  void Signal(int sig) {
    std::lock_guard<std::mutex> l(mu_);
    if (pid_ > 0) kill(pid_, sig);
  }

  // Whether the process exited by itself; `why` says how.
  bool Exited(std::string* why) {
    std::lock_guard<std::mutex> l(mu_);
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
    *why = WIFSIGNALED(status)
               ? "killed by signal " + std::to_string(WTERMSIG(status))
               : "exited with status " + std::to_string(WEXITSTATUS(status));
    pid_ = -1;
    url_.clear();
    return true;
  }

  // The data folder removed (the server must be down).
  void Wipe() { std::filesystem::remove_all(root_ + "/data"); }

  // libfaketime offset of this region's wall clock (monotonic clocks are
  // left alone); read by the server within a second.
  void SetClockOffset(int seconds) {
    std::ofstream(root_ + "/clock.tmp")
        << (seconds >= 0 ? "+" : "") << seconds << "\n";
    std::filesystem::rename(root_ + "/clock.tmp", root_ + "/clock");
  }

  std::string url() {
    std::lock_guard<std::mutex> l(mu_);
    return url_;
  }
  std::string log() const { return root_ + "/server.log"; }

 private:
  const int index_;
  const std::string root_;
  const bool faketime_;
  const std::string max_log_;  // --max-log-entries
  std::mutex mu_;
  pid_t pid_ = -1;   // guarded by mu_
  std::string url_;  // guarded by mu_; empty while down
};

// Lets the nemesis hold a region's writers (for a wipe): Pause() waits for
// the operations in flight; the epoch counts the region's wipes.
class Gate {
 public:
  // False (after a short wait) while paused.
  bool Enter(int* epoch) {
    std::unique_lock<std::mutex> l(mu_);
    if (!cv_.wait_for(l, std::chrono::milliseconds(50),
                      [&] { return !paused_; })) {
      return false;
    }
    ++inflight_;
    *epoch = epoch_;
    return true;
  }
  void Leave() {
    std::lock_guard<std::mutex> l(mu_);
    --inflight_;
    cv_.notify_all();
  }
  void Pause() {
    std::unique_lock<std::mutex> l(mu_);
    paused_ = true;
    cv_.wait(l, [&] { return inflight_ == 0; });
  }
  void Resume(bool wiped) {
    std::lock_guard<std::mutex> l(mu_);
    paused_ = false;
    if (wiped) ++epoch_;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool paused_ = false;  // guarded by mu_
  int inflight_ = 0;     // guarded by mu_
  int epoch_ = 0;        // guarded by mu_
};

}  // namespace deltakv::nemesis

#endif  // DELTAKV_TESTS_NEMESIS_CLUSTER_H_
