// RespServer: the Redis protocol listener, on Boost.Asio (kept inside
// server.cc). Connections are read by a Parser and their commands run by
// Commands; answers go back in order. Pipelining: the writes a client
// pipelines (INCR, SET, SADD, LPUSH, DEL, ...) are submitted together, so
// they share group commits; any other command starts once everything
// before it on the connection has answered, so a read sees the writes the
// same connection made before it.
//
// Limits, as for HTTP: the parser's (bulk, array, inline and command
// sizes: a protocol error is answered and the connection closed), at most
// max_connections connections (at the cap, the connection idle longest is
// closed to admit a new one; with none idle the new one is told "max
// number of clients reached" and closed), an idle timeout, a deadline for
// a command whose first byte arrived, and one for writing answers to a
// client that does not read. A client that pipelines more than
// max_pipeline commands, or whose answers pile up past max_output_bytes,
// is not read from until it catches up.
//
// Thread-safety: Start/Shutdown from one controlling thread; the rest from
// any thread.
#ifndef DELTAKV_RESP_SERVER_H_
#define DELTAKV_RESP_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "deltakv/status.h"
#include "resp/parser.h"

namespace deltakv::resp {

class Commands;

struct RespServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 6380;  // 0: any free port (see port())
  int io_threads = 2;
  size_t max_connections = 10000;
  ParserLimits limits;
  // A connection with nothing in flight and nothing received closes after
  // this long (0: never).
  std::chrono::milliseconds idle_timeout{60000};
  // Once a command's first byte arrived, the rest must within this long.
  std::chrono::milliseconds command_timeout{10000};
  // Writing answers to a client must progress within this long.
  std::chrono::milliseconds write_timeout{30000};
  size_t max_pipeline = 1024;  // commands taken ahead of answers
  size_t max_output_bytes = size_t{64} << 20;  // answers waiting to be sent
  // Connections refused or closed by the server's limits, for metrics:
  // "too_many_connections", "idle_shed", "idle_timeout",
  // "command_timeout", "write_timeout", "protocol_error".
  std::function<void(std::string_view)> on_refused;
};

class RespServer {
 public:
  // Binds and starts serving. InvalidArgument for a bad address, IOError
  // when it cannot be bound. `commands` must outlive the server.
  static Result<std::unique_ptr<RespServer>> Start(RespServerOptions options,
                                                   Commands* commands);
  ~RespServer();  // Shutdown(0) if still running
  RespServer(const RespServer&) = delete;
  RespServer& operator=(const RespServer&) = delete;

  uint16_t port() const;
  // Stops accepting, waits up to `grace` for commands in flight to answer,
  // closes every connection and joins the I/O threads.
  void Shutdown(std::chrono::milliseconds grace);

  size_t active_connections() const;
  uint64_t shed_connections() const;

  struct Impl;

 private:
  explicit RespServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace deltakv::resp

#endif  // DELTAKV_RESP_SERVER_H_
