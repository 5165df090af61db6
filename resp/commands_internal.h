// What commands.cc (the table, dispatch and server commands) and
// data_commands.cc (the typed commands) share. Internal to resp/.
#ifndef DELTAKV_RESP_COMMANDS_INTERNAL_H_
#define DELTAKV_RESP_COMMANDS_INTERNAL_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "resp/commands.h"
#include "resp/reply.h"
#include "resp/values.h"

namespace deltakv::resp {

struct Commands::Call {
  std::vector<std::string> args;
  std::string name;  // lower case
  int protocol = 2;
  Client* client = nullptr;  // valid during Run only
  std::shared_ptr<cluster::Cancellation> gone;
  Done done;
  // For the metrics: the command's index in CommandTable() (its size:
  // unknown) and when it arrived.
  RespMetrics* metrics = nullptr;
  size_t command = 0;
  std::chrono::steady_clock::time_point start;

  Reply NewReply() const { return Reply(protocol); }
  void Send(Reply& r, uint64_t write_seq = 0, bool close = false) {
    Outcome out{r.Take(), write_seq, close};
    if (metrics != nullptr) {
      const bool error =
          !out.reply.empty() && (out.reply[0] == '-' || out.reply[0] == '!');
      metrics->Observe(command, error,
                       std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - start)
                           .count());
    }
    done(std::move(out));
  }
  void Fail(std::string_view text) {
    Reply r(protocol);
    r.Error(text);
    Send(r);
  }
  void Ok() {
    Reply r(protocol);
    r.Simple("OK");
    Send(r);
  }
  void Int(int64_t v, uint64_t write_seq = 0) {
    Reply r(protocol);
    r.Integer(v);
    Send(r, write_seq);
  }
  void SyntaxError() { Fail("ERR syntax error"); }
  void WrongArgs() {
    Fail("ERR wrong number of arguments for '" + name + "' command");
  }
};

struct Commands::Spec {
  const char* name;   // lower case
  int arity;          // > 0: exactly; < 0: at least -arity (name included)
  const char* flags;  // Redis command flags, space-separated
  int first_key, last_key, step;
  const char* group;
  const char* summary;
  void (Commands::*handler)(const std::shared_ptr<Call>&);
  // Set for commands deltakv refuses: why they do not fit a CRDT store.
  const char* refusal = nullptr;
};

// The command table (commands.cc), in alphabetical order.
const std::vector<Commands::Spec>& CommandTable();
const Commands::Spec* FindCommand(std::string_view lower_name);

// The RESP error for a Status of the service: WRONGTYPE for a type clash,
// TIMEOUT, UNAVAILABLE, else ERR.
std::string ErrorText(const Status& s);

// An error when `key` cannot be a deltakv key (1 to 1024 bytes of UTF-8).
std::optional<std::string> CheckKey(std::string_view key);
// An error when a set member or list value is not UTF-8.
std::optional<std::string> CheckText(std::string_view value);

// Collects the answers of several service calls made for one command and
// finishes once the last one is in. Thread-safe.
template <class T>
class Gather {
 public:
  using Finish = std::function<void(std::vector<Result<T>>&)>;
  Gather(size_t n, Finish finish) : left_(n), finish_(std::move(finish)) {
    results_.reserve(n);
    for (size_t i = 0; i < n; ++i)
      results_.emplace_back(Status::Unavailable(""));
  }
  void Put(size_t i, Result<T> r) {
    results_[i] = std::move(r);
    if (left_.fetch_sub(1) == 1) finish_(results_);
  }

 private:
  std::vector<Result<T>> results_;  // slot i written once, before the
                                    // fetch_sub that publishes it
  std::atomic<size_t> left_;
  Finish finish_;
};

}  // namespace deltakv::resp

#endif  // DELTAKV_RESP_COMMANDS_INTERNAL_H_
