// Api: the REST API of one region (docs/api.md), on top of the Replica.
// Routes a request, checks the bearer token, runs reads on a small pool of
// read threads (they never wait for the writer, and never hold an HTTP I/O
// thread; /healthz, /readyz and /metrics are answered inline) and writes
// through Replica::Submit, answering when the replica acknowledges; logs
// one access line per request. Reads of sets, lists and key scans answer a
// page, cut to max_response_bytes.
//
// Thread-safety: Handle may be called from any number of threads.
#ifndef DELTAKV_GATEWAY_API_H_
#define DELTAKV_GATEWAY_API_H_

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cluster/waiters.h"
#include "gateway/auth.h"
#include "gateway/http_server.h"
#include "gateway/metrics.h"
#include "gateway/read_pool.h"
#include "gateway/request_map.h"

namespace spdlog {
class logger;
}

namespace deltakv::replication {
class Replica;
class Streams;
}  // namespace deltakv::replication

namespace deltakv::gateway {

using cluster::Waiters;

struct ApiOptions {
  MapLimits limits;
  Auth auth;
  bool access_log = true;
  bool json_log = false;
  replication::Streams* streams = nullptr;  // null: a single region
  size_t max_parked = 10000;  // requests waiting on tokens or regions
  // A read's answer: pages are cut to it; an answer that cannot be cut
  // (one value larger than it) is 413.
  size_t max_response_bytes = size_t{16} << 20;
  size_t read_threads = 4;         // threads running reads
  size_t max_queued_reads = 1024;  // reads waiting for one (503 beyond)
};

class Api {
 public:
  Api(replication::Replica* replica, ApiOptions options,
      std::shared_ptr<spdlog::logger> log);
  ~Api();

  void Handle(HttpRequest request, Responder respond);
  // The token rule of Handle, for a request whose header alone is known:
  // /v1 routes need a configured bearer token when tokens are configured.
  bool Authorized(std::string_view target,
                  std::string_view authorization) const;
  // Authorized, counting a refusal (401) under the request's route.
  bool AuthorizeHeader(std::string_view method, std::string_view target,
                       std::string_view authorization);
  // Answers the reads queued, then stops the read threads; later reads are
  // answered 503. Call before the replica closes.
  void StopReads() { reads_.Stop(); }
  // Readiness: false once shutdown started.
  void SetReady(bool ready) { ready_ = ready; }
  Metrics& metrics() { return metrics_; }
  // Call on every commit (local or remote).
  void OnCommit() { waiters_.Notify(); }
  // Replaces the API tokens (configuration reload); safe while requests
  // run.
  void SetAuth(Auth auth);

 private:
  struct Call;
  void Dispatch(std::shared_ptr<Call> call);
  void Read(const std::shared_ptr<Call>& call);
  void ReadKey(const std::shared_ptr<Call>& call);
  // Answers 200 with `body`, or 413 when it passes max_response_bytes.
  void Answer(const std::shared_ptr<Call>& call, std::string body);
  // 413 for one item of `bytes` that no page of max_response_bytes holds.
  void TooLargeToPage(const std::shared_ptr<Call>& call, const char* what,
                      size_t bytes);
  void Write(const std::shared_ptr<Call>& call);
  void Finish(const std::shared_ptr<Call>& call, int status, std::string body,
              std::string content_type = "application/json",
              std::vector<std::pair<std::string, std::string>> headers = {});
  void Fail(const std::shared_ptr<Call>& call, const Status& s);
  void FailApi(const std::shared_ptr<Call>& call, const ApiError& e);
  // The causal token of this region now: "region:replica:seq,...".
  std::string Token() const;
  // One origin's part of a causal token.
  struct Wanted {
    std::string level;  // "o/REGION/REPLICA" (see ReadLevels)
    uint64_t seq;
  };
  // Parses a causal token: InvalidArgument when malformed, or when it names
  // a region this one can never reach.
  Status ParseToken(const std::string& token, std::vector<Wanted>* out) const;
  // The levels parked requests wait on (Waiters): "o/REGION/REPLICA", the
  // sequence of that incarnation applied here, and "w/N", the highest of
  // our sequences N regions (this one included) have applied.
  Waiters::Levels ReadLevels() const;
  // Parks `call` on `check`; `ready` runs once it holds. 503 when too many
  // are parked; 504 with `timeout_message` at the deadline.
  void Park(const std::shared_ptr<Call>& call, Waiters::Check check,
            std::function<void()> ready, std::string timeout_message);

  replication::Replica* replica_;
  ApiOptions options_;
  // The tokens in force (options_.auth at start, replaced by SetAuth).
  std::shared_ptr<const Auth> auth_;  // atomic load/store only
  std::shared_ptr<spdlog::logger> log_;
  Metrics metrics_;
  Waiters waiters_;
  std::atomic<bool> ready_{true};
  ReadPool reads_;  // last: its threads stop before the rest goes
};

}  // namespace deltakv::gateway

#endif  // DELTAKV_GATEWAY_API_H_
