// EtcdProcess: a real etcd (Debian's etcd-server) for a test, on free
// loopback ports with its own data folder; it dies with the test
// (PR_SET_PDEATHSIG), starts within a bounded wait, and can be stopped and
// started again on the same ports and data (a restart).
#ifndef DELTAKV_TESTS_ETCD_HARNESS_H_
#define DELTAKV_TESTS_ETCD_HARNESS_H_

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/server_harness.h"

namespace deltakv::testing {

// The etcd binary: $DELTAKV_ETCD_BIN, or etcd on the PATH's usual places.
inline std::string EtcdBinary() {
  if (const char* e = std::getenv("DELTAKV_ETCD_BIN")) return e;
  for (const char* p : {"/usr/bin/etcd", "/usr/local/bin/etcd"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return {};
}

class EtcdProcess {
 public:
  EtcdProcess() {
    char tmpl[] = "/tmp/deltakv-etcd-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    port_ = FreePortPair();  // client port, peer port + 1
    Start();
  }
  ~EtcdProcess() {
    Stop();
    std::filesystem::remove_all(dir_);
  }

  // True once it answers /health (bounded wait).
  bool Start() {
    const std::string bin = EtcdBinary();
    if (bin.empty()) {
      error_ =
          "no etcd binary (install etcd-server: scripts/setup, or set "
          "DELTAKV_ETCD_BIN)";
      return false;
    }
    if (port_ == 0) {
      error_ = "no free port pair for etcd";
      return false;
    }
    const std::string client = "http://127.0.0.1:" + std::to_string(port_);
    const std::string peer = "http://127.0.0.1:" + std::to_string(port_ + 1);
    std::vector<std::string> args = {bin,
                                     "--name",
                                     "test",
                                     "--data-dir",
                                     dir_ + "/data",
                                     "--listen-client-urls",
                                     client,
                                     "--advertise-client-urls",
                                     client,
                                     "--listen-peer-urls",
                                     peer,
                                     "--initial-advertise-peer-urls",
                                     peer,
                                     "--initial-cluster",
                                     "test=" + peer,
                                     "--logger",
                                     "zap",
                                     "--log-level",
                                     "error"};
    const std::string log = dir_ + "/etcd.log";
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    const std::string probe =
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string raw = RawExchange(std::to_string(port_), probe,
                                          std::chrono::seconds(2), false);
      if (StatusOf(raw) == 200 && raw.find("true") != std::string::npos) {
        error_.clear();
        return ready_ = true;
      }
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "etcd exited at start; see " + log;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    error_ = "etcd did not answer /health within 30 s; see " + log;
    return false;
  }

  // SIGTERM (SIGKILL after 10 s); the data stays for a restart.
  void Stop() {
    ready_ = false;
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
  }

  bool ready() const { return ready_; }
  // Why the last Start failed ("" when it did not).
  const std::string& error() const { return error_; }
  std::string endpoint() const {
    return "http://127.0.0.1:" + std::to_string(port_);
  }
  uint16_t port() const { return port_; }

 private:
  std::string dir_, error_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  bool ready_ = false;
};

}  // namespace deltakv::testing

#endif  // DELTAKV_TESTS_ETCD_HARNESS_H_
