// NodeTransport: request/reply between the nodes of a region cluster over
// ZeroMQ (DESIGN.md section 1: "internal (ZeroMQ)"). Each node binds a
// ROUTER on --internal and keeps one DEALER per other node; a request is
// one node_wire frame, its reply carries the request's id.
//
// Security: CurveZMQ with the region's key pair, which every node of the
// region holds: the ROUTER is a Curve server and admits (ZAP) only clients
// with the region's public key; plaintext only with insecure.
//
// Threads: one I/O thread owns every socket; incoming requests go to a
// small pool of handler threads (a request may read LMDB or wait for the
// writer), so a slow state read never stalls the replies of others.
// Callbacks of Call run on the I/O thread: keep them short.
//
// Thread-safety: every public method is safe to call from any thread.
#ifndef DELTAKV_CLUSTER_NODE_TRANSPORT_H_
#define DELTAKV_CLUSTER_NODE_TRANSPORT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cluster/node_wire.h"
#include "deltakv/status.h"

namespace deltakv::cluster {

struct NodeTransportOptions {
  std::string bind;  // HOST:PORT (port 0: any free port)
  bool insecure = false;
  std::string public_key, secret_key;  // Z85: the region's key pair
  size_t handler_threads = 2;
  // Called for frames refused (malformed, not ours), with the reason.
  std::function<void(const std::string&)> log;
};

struct NodeTransportStats {
  uint64_t requests_in = 0, requests_out = 0;
  uint64_t timeouts = 0, send_failures = 0, malformed = 0;
  uint64_t bytes_in = 0, bytes_out = 0;
  uint64_t busy = 0;  // requests refused: too many queued
};

class NodeTransport {
 public:
  // Answers a request: call exactly once, from any thread.
  using Respond = std::function<void(wire::Frame reply)>;
  // Serves a request (on a handler thread).
  using Handler = std::function<void(wire::Frame request, Respond respond)>;
  using ReplyFn = std::function<void(Result<wire::Frame> reply)>;

  // Binds and starts the threads. IOError when the address cannot be
  // bound; InvalidArgument for a malformed address.
  static Result<std::unique_ptr<NodeTransport>> Start(
      NodeTransportOptions options, Handler handler);
  // Stops the threads (Stop) and closes the sockets.
  ~NodeTransport();
  // Stops taking requests and calls: later calls answer Unavailable at
  // once, answers are dropped, requests still queued go unanswered,
  // handlers running finish, pending calls answer Unavailable. The object
  // stays usable (as stopped) until destroyed. Idempotent.
  void Stop();
  NodeTransport(const NodeTransport&) = delete;
  NodeTransport& operator=(const NodeTransport&) = delete;

  // Sends `request` (its id is assigned here) to the node listening on
  // `address` (HOST:PORT). `done` runs once, on the I/O thread: with the
  // reply, Timeout when none came within `timeout`, Unavailable when the
  // node is not connected or the transport stops.
  void Call(const std::string& address, wire::Frame request,
            std::chrono::milliseconds timeout, ReplyFn done);
  // Opens the connection to `address` ahead of the first call.
  void Connect(const std::string& address);

  int port() const;
  NodeTransportStats Stats() const;

 private:
  struct Impl;
  explicit NodeTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace deltakv::cluster

#endif  // DELTAKV_CLUSTER_NODE_TRANSPORT_H_
