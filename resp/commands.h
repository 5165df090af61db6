// Commands: the Redis commands deltakv answers, mapped onto the CRDT of
// each key through the protocol-neutral cluster::Service (docs/resp.md has
// the table). Counters: INCR INCRBY DECR DECRBY GET. Registers: SET GET
// MGET MSET. Sets: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SSCAN.
// Lists: LPUSH RPUSH LINSERT LRANGE LLEN LINDEX. Keys: DEL UNLINK EXISTS
// TYPE SCAN. Server: PING ECHO SELECT INFO CLIENT COMMAND CONFIG QUIT HELLO
// AUTH WAIT. Commands that need coordination between regions (LPOP,
// SETNX, MULTI, EVAL, FLUSHALL, ...) answer an error that says why.
//
// Register values: a value that is UTF-8 is stored as a JSON string (so
// the REST API reads the same text); other bytes are stored as they are
// and read back exactly through RESP.
//
// Thread-safety: Run may be called from any number of threads, each with
// its own Client; SetAuth at any time.
#ifndef DELTAKV_RESP_COMMANDS_H_
#define DELTAKV_RESP_COMMANDS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cluster/auth.h"
#include "cluster/service.h"
#include "resp/metrics.h"

namespace deltakv::resp {

// One connection's state. Touched by Run (on the connection's thread)
// only.
struct Client {
  uint64_t id = 0;
  std::string name;
  std::string remote;                 // address:port
  std::string lib_name, lib_version;  // CLIENT SETINFO
  int protocol = 2;                   // 2 or 3 (HELLO)
  bool authenticated = false;
  std::string password;  // the token it authenticated with
  // The tokens `password` was last checked against: when the tokens are
  // reloaded, the password is checked again.
  std::shared_ptr<const cluster::Auth> checked;
  uint64_t last_write_seq = 0;  // for WAIT
  std::chrono::steady_clock::time_point since =
      std::chrono::steady_clock::now();
  // Cancelled when the connection closes: frees a parked WAIT.
  std::shared_ptr<cluster::Cancellation> gone =
      std::make_shared<cluster::Cancellation>();
};

// What a command answered.
struct Outcome {
  std::string reply;       // RESP bytes
  uint64_t write_seq = 0;  // the highest sequence of the writes it made
  bool close = false;      // close the connection once the reply is sent
};

struct CommandsOptions {
  cluster::Auth auth;
  std::string durability = "sync";  // for INFO and CONFIG GET
  std::string version;              // deltakv's version
  size_t max_connections = 0;       // for INFO
  // Connections open now (for INFO clients).
  std::function<size_t()> connected_clients;
};

class Commands {
 public:
  using Done = std::function<void(Outcome)>;

  Commands(cluster::Service* service, CommandsOptions options);
  ~Commands();

  // Runs one command (args[0] is its name, any case) for `client` and
  // answers through `done` exactly once: maybe before Run returns, maybe
  // later on another thread. `client` is read and changed during Run only.
  void Run(Client& client, std::vector<std::string> args, Done done);

  // True for commands that only write (INCR, SET, SADD, LPUSH, DEL, ...):
  // they may start while earlier writes of the same connection are still
  // being applied (writes are applied in the order they are submitted).
  // Every other command starts once everything before it has answered.
  static bool Pipelinable(const std::vector<std::string>& args);

  // Replaces the API tokens (configuration reload). A connection
  // authenticated with a token that is gone answers NOAUTH from its next
  // command on.
  void SetAuth(cluster::Auth auth);
  // The listener's port, for INFO (known once it is bound).
  void SetPort(uint16_t port) { port_.store(port); }

  // A connection refused or closed by the listener's limits (the reasons
  // of RespServerOptions::on_refused), for the metrics.
  void CountRefused(std::string_view reason) { metrics_.CountRefused(reason); }
  // The Prometheus text of the listener's metrics.
  std::string RenderMetrics() const;

  struct Call;
  struct Spec;
  // Every command deltakv knows, answered or refused, by name.
  static const std::vector<Spec>& Table();

 private:
  // The SCAN cursors handed out: a cursor is a number (as clients expect),
  // standing for a storage position kept here.
  uint64_t SaveCursor(std::string position);
  bool LoadCursor(uint64_t id, std::string* position);

  void Dispatch(const std::shared_ptr<Call>& call, const Spec& spec);
  // Keyspace count for INFO: live keys, counted up to a bound.
  void CountKeys(std::function<void(uint64_t, bool)> done);

  // Handlers (commands.cc, data_commands.cc).
  void Ping(const std::shared_ptr<Call>& c);
  void Echo(const std::shared_ptr<Call>& c);
  void Select(const std::shared_ptr<Call>& c);
  void Info(const std::shared_ptr<Call>& c);
  void DbSize(const std::shared_ptr<Call>& c);
  void ClientCmd(const std::shared_ptr<Call>& c);
  void CommandCmd(const std::shared_ptr<Call>& c);
  void Config(const std::shared_ptr<Call>& c);
  void Quit(const std::shared_ptr<Call>& c);
  void Hello(const std::shared_ptr<Call>& c);
  void AuthCmd(const std::shared_ptr<Call>& c);
  void Wait(const std::shared_ptr<Call>& c);
  void Incr(const std::shared_ptr<Call>& c);
  void Get(const std::shared_ptr<Call>& c);
  void Set(const std::shared_ptr<Call>& c);
  void MGet(const std::shared_ptr<Call>& c);
  void MSet(const std::shared_ptr<Call>& c);
  void SAdd(const std::shared_ptr<Call>& c);
  void SMembers(const std::shared_ptr<Call>& c);
  void SIsMember(const std::shared_ptr<Call>& c);
  void SCard(const std::shared_ptr<Call>& c);
  void SScan(const std::shared_ptr<Call>& c);
  void Push(const std::shared_ptr<Call>& c);
  void LInsert(const std::shared_ptr<Call>& c);
  void LRange(const std::shared_ptr<Call>& c);
  void LLen(const std::shared_ptr<Call>& c);
  void LIndex(const std::shared_ptr<Call>& c);
  void Del(const std::shared_ptr<Call>& c);
  void Exists(const std::shared_ptr<Call>& c);
  void Type(const std::shared_ptr<Call>& c);
  void Scan(const std::shared_ptr<Call>& c);

  cluster::Service* service_;
  CommandsOptions options_;
  std::shared_ptr<const cluster::Auth> auth_;  // atomic load/store only
  const std::chrono::steady_clock::time_point start_;
  std::atomic<uint16_t> port_{0};
  RespMetrics metrics_;

  std::mutex cursor_mu_;
  std::unordered_map<uint64_t, std::string> cursors_;  // guarded
  std::deque<uint64_t> cursor_order_;                  // guarded
  uint64_t next_cursor_;                               // guarded
};

}  // namespace deltakv::resp

#endif  // DELTAKV_RESP_COMMANDS_H_
