// Crash safety: a child process writes continuously through the embedded
// API and reports every acknowledged operation to the parent over a pipe;
// the parent SIGKILLs it at a random moment, reopens the store and checks
// that every acknowledged operation is present and the store is consistent.
// 20 rounds on the same store, each reopening what the last one crashed.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "deltakv/db.h"

namespace {

constexpr int kThreads = 4;
constexpr int kRounds = 20;

struct Ack {
  int32_t thread;
  int32_t kind;  // 0 counter value, 1 set member index, 2 register value
  int64_t value;
};

// The child: never returns.
[[noreturn]] void Writer(const std::string& path, int fd) {
  deltakv::Options o;
  o.path = path;
  o.region = "crash";
  auto db = deltakv::Db::Open(o);
  if (!db.ok()) _exit(3);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string counter = "counter:" + std::to_string(t);
      const std::string set = "set:" + std::to_string(t);
      const std::string reg = "register:" + std::to_string(t);
      for (int64_t i = 0;; ++i) {
        Ack ack{t, 0, 0};
        auto v = db.value()->Counter(counter).Increment(1);
        if (!v.ok()) _exit(4);
        ack.value = *v;
        if (write(fd, &ack, sizeof ack) != sizeof ack) _exit(5);
        // Set members and register values are the counter value, so each
        // round continues where the store left off.
        if (!db.value()->Set(set).Add({std::to_string(*v)}).ok()) _exit(6);
        ack = Ack{t, 1, *v};
        if (write(fd, &ack, sizeof ack) != sizeof ack) _exit(5);
        if (!db.value()->Register(reg).Set(std::to_string(*v)).ok()) _exit(7);
        ack = Ack{t, 2, *v};
        if (write(fd, &ack, sizeof ack) != sizeof ack) _exit(5);
      }
    });
  }
  for (auto& th : threads) th.join();
  _exit(0);
}

}  // namespace

TEST_CASE("every acknowledged write survives SIGKILL, over 20 crash rounds") {
  char tmpl[] = "/tmp/deltakv-crash-XXXXXX";
  const std::string path = mkdtemp(tmpl);
  std::mt19937 rng(std::random_device{}());
  std::array<int64_t, kThreads> acked_counter{}, acked_reg{};
  std::array<std::set<int64_t>, kThreads> acked_members;

  for (int round = 0; round < kRounds; ++round) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      Writer(path, fds[1]);
    }
    close(fds[1]);
    // Let it run 20..200 ms after its first acknowledgement, then kill it.
    Ack ack;
    bool started = read(fds[0], &ack, sizeof ack) == sizeof ack;
    REQUIRE(started);
    auto apply = [&](const Ack& a) {
      REQUIRE(a.thread >= 0);
      REQUIRE(a.thread < kThreads);
      if (a.kind == 1) {
        acked_members[a.thread].insert(a.value);
        return;
      }
      auto& slot = a.kind == 0 ? acked_counter[a.thread] : acked_reg[a.thread];
      slot = std::max(slot, a.value);
    };
    apply(ack);
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 180));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    // Everything acknowledged before the kill is in the pipe.
    while (read(fds[0], &ack, sizeof ack) == sizeof ack) apply(ack);
    close(fds[0]);

    deltakv::Options o;
    o.path = path;
    o.region = "crash";
    auto db = deltakv::Db::Open(o);
    REQUIRE(db.ok());
    for (int t = 0; t < kThreads; ++t) {
      const std::string ts = std::to_string(t);
      auto value = db.value()->Counter("counter:" + ts).Value();
      REQUIRE(value.ok());
      // Acknowledged increments are all there; at most the one in flight
      // when the kill came was committed without its acknowledgement.
      CHECK(*value >= acked_counter[t]);
      CHECK(*value <= acked_counter[t] + 1);
      auto members = db.value()->Set("set:" + ts).Members();
      if (!acked_members[t].empty()) {
        REQUIRE(members.ok());
        for (int64_t m : acked_members[t]) {
          CHECK(*db.value()->Set("set:" + ts).Contains(std::to_string(m)));
        }
        // Consistent: no member beyond what the counter reached.
        CHECK(static_cast<int64_t>(members->size()) <= *value);
      }
      if (acked_reg[t] > 0) {
        auto reg = db.value()->Register("register:" + ts).Get();
        REQUIRE(reg.ok());
        int64_t r = std::stoll(reg->value);
        CHECK(r >= acked_reg[t]);
        CHECK(r <= *value);
      }
      acked_counter[t] = *value;  // the next round continues from here
    }
  }
  std::filesystem::remove_all(path);
}
