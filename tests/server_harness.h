// ServerProcess: starts a real deltakv-server for a test on a free loopback
// port (the server binds port 0 and reports the port through --ready-file),
// with its own temporary data folder; stops it with SIGTERM (SIGKILL after
// a bounded wait) and removes the folder.
#ifndef DELTAKV_TESTS_SERVER_HARNESS_H_
#define DELTAKV_TESTS_SERVER_HARNESS_H_

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace deltakv::testing {

class ServerProcess {
 public:
  // Starts the server with `extra` flags; `data_dir` empty: a new temporary
  // folder (removed at destruction).
  explicit ServerProcess(std::vector<std::string> extra = {},
                         std::string data_dir = {},
                         std::string http_host = "127.0.0.1")
      : http_host_(std::move(http_host)) {
    if (data_dir.empty()) {
      char tmpl[] = "/tmp/deltakv-server-test-XXXXXX";
      data_dir_ = mkdtemp(tmpl);
      owns_dir_ = true;
    } else {
      data_dir_ = data_dir;
    }
    Start(std::move(extra));
  }

  ~ServerProcess() {
    Stop();
    if (owns_dir_) std::filesystem::remove_all(data_dir_);
  }

  void Start(std::vector<std::string> extra) {
    ready_file_ = data_dir_ + "/ready";
    std::filesystem::remove(ready_file_);
    std::vector<std::string> args = {
        DELTAKV_SERVER_BIN, "--data-dir",   data_dir_ + "/data",
        "--http",           "127.0.0.1:0",  "--ready-file",
        ready_file_,        "--access-log", "false",
        "--log-level",      "warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = fork();
    if (pid_ == 0) {
      // Dies with the test: a test that aborts leaves no server behind.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    // Wait (bounded) for the ready file.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      // Line 1: the API listener; then the admin listener (untagged) and
      // "resp HOST:PORT" (with --resp), when present.
      std::ifstream f(ready_file_);
      std::string addr;
      if (std::getline(f, addr) && !addr.empty()) {
        url_ = "http://" + addr;
        port_ = addr.substr(addr.rfind(':') + 1);
        std::string line;
        while (std::getline(f, line)) {
          if (line.rfind("resp ", 0) == 0) {
            resp_port_ = line.substr(line.rfind(':') + 1);
          } else if (!line.empty()) {
            admin_url_ = "http://" + line;
          }
        }
        return;
      }
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;  // died: url() stays empty
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // SIGTERM, then SIGKILL after `wait`. Returns the exit status.
  int Stop(std::chrono::milliseconds wait = std::chrono::seconds(20)) {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    return Reap(wait);
  }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    Reap(std::chrono::seconds(10));
  }

  const std::string& url() const { return url_; }
  const std::string& port() const { return port_; }
  // With --admin-http: the admin listener (health, readiness, metrics).
  const std::string& admin_url() const { return admin_url_; }
  // With --resp HOST:0: the Redis protocol listener's port.
  const std::string& resp_port() const { return resp_port_; }
  const std::string& data_dir() const { return data_dir_; }
  pid_t pid() const { return pid_; }

 private:
  int Reap(std::chrono::milliseconds wait) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
    url_.clear();
    return status;
  }

  std::string http_host_, data_dir_, ready_file_, url_, port_, admin_url_,
      resp_port_;
  bool owns_dir_ = false;
  pid_t pid_ = -1;
};

// A port P on 127.0.0.1 such that P and P+1 are both free right now (for a
// replication PUB + ROUTER pair). Ports are handed out once per process.
uint16_t FreePortPair();

// Sends raw bytes to 127.0.0.1:port and returns what comes back until the
// server closes the connection or `timeout` passes. With `half_close` the
// sending side is shut down after the bytes (the server sees EOF).
std::string RawExchange(
    const std::string& port, const std::string& bytes,
    std::chrono::milliseconds timeout = std::chrono::seconds(5),
    bool half_close = true);
// The status code of the first response in `raw` (0 if none).
int StatusOf(const std::string& raw);

}  // namespace deltakv::testing

#endif  // DELTAKV_TESTS_SERVER_HARNESS_H_
