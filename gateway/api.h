// Api: the REST API of one region (docs/api.md), on top of the region's
// protocol-neutral Service (cluster/service.h). Routes a request, checks
// the bearer token, maps it onto a Service call and the answer onto JSON
// and an HTTP status; runs reads on a small pool of read threads (they
// never wait for the writer, and never hold an HTTP I/O thread; /healthz,
// /readyz, /metrics and the console page's files under /ui, built in by
// gateway/ui_assets.h and open without a token, are answered inline); logs
// one access line per request. Reads of sets, lists and key scans answer a
// page, cut to max_response_bytes. A request parked on a causal token or on
// wait_regions is cancelled when its client disconnects.
//
// Thread-safety: Handle may be called from any number of threads.
#ifndef DELTAKV_GATEWAY_API_H_
#define DELTAKV_GATEWAY_API_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cluster/cluster_view.h"
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

namespace deltakv::cluster {
class Service;
enum class KeyType : uint8_t;
}  // namespace deltakv::cluster

namespace deltakv::gateway {

struct ApiOptions {
  MapLimits limits;
  Auth auth;
  bool access_log = true;
  bool json_log = false;
  // For /metrics only: the replication figures (null: a single region).
  replication::Streams* streams = nullptr;
  // A read's answer: pages are cut to it; an answer that cannot be cut
  // (one value larger than it) is 413.
  size_t max_response_bytes = size_t{16} << 20;
  // Where GET /v1/backup writes its copy before sending it (the data
  // folder: the same file system, removed once sent). Empty: no backups.
  std::string backup_dir;
  size_t read_threads = 4;         // threads running reads
  size_t max_queued_reads = 1024;  // reads waiting for one (503 beyond)
  // GET /v1/cluster and the cluster metrics (null: not served).
  cluster::ClusterViewSource cluster_view;
  // GET /v1/cluster?key=K: the nodes that hold K now, in order (null: a
  // one-node region, the node itself).
  std::function<std::vector<std::string>(const std::string& key)> key_replicas;
  // GET /readyz: why this node cannot serve yet ("" when it can; null:
  // always can), e.g. a cluster node that has not read its ring.
  std::function<std::string()> not_ready;
};

class Api {
 public:
  // Every /v1 operation goes through `service`; `replica` only feeds
  // /metrics. Both must outlive the Api.
  Api(cluster::Service* service, const replication::Replica* replica,
      ApiOptions options, std::shared_ptr<spdlog::logger> log);
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
  // Replaces the API tokens (configuration reload); safe while requests
  // run.
  void SetAuth(Auth auth);
  // Text appended to /metrics (another listener's metrics, in Prometheus
  // text format); null: none. Safe while requests run; what `render`
  // reads must stay alive while requests can still come.
  void SetExtraMetrics(std::function<std::string()> render);

 private:
  struct Call;
  // `io_thread`: called on an HTTP I/O thread (cheap reads run there).
  void Dispatch(std::shared_ptr<Call> call, bool io_thread);
  void Read(const std::shared_ptr<Call>& call);
  void ReadKey(const std::shared_ptr<Call>& call);
  // ReadKey once the key's type is known.
  void ReadTyped(const std::shared_ptr<Call>& call, cluster::KeyType type);
  // Answers 200 with `body`, or 413 when it passes max_response_bytes.
  void Backup(const std::shared_ptr<Call>& call);
  void Answer(const std::shared_ptr<Call>& call, std::string body);
  // 413 for one item of `bytes` that no page of max_response_bytes holds.
  void TooLargeToPage(const std::shared_ptr<Call>& call, const char* what,
                      size_t bytes);
  void Write(const std::shared_ptr<Call>& call);
  void Batch(const std::shared_ptr<Call>& call);
  void Finish(const std::shared_ptr<Call>& call, int status, std::string body,
              std::string content_type = "application/json",
              std::vector<std::pair<std::string, std::string>> headers = {});
  // Counts, logs and sends an answer (Finish builds one).
  void Respond(const std::shared_ptr<Call>& call, HttpResponse resp);
  void Fail(const std::shared_ptr<Call>& call, const Status& s);
  // Fail for an operation that may have parked: 499 when its client went
  // away, 504 with `timeout_message` on Timeout.
  void FailParked(const std::shared_ptr<Call>& call, const Status& s,
                  const std::string& timeout_message);
  void FailApi(const std::shared_ptr<Call>& call, const ApiError& e);

  cluster::Service* service_;
  const replication::Replica* replica_;  // for /metrics
  ApiOptions options_;
  // The tokens in force (options_.auth at start, replaced by SetAuth).
  std::atomic<bool> backup_running_{false};  // one copy at a time
  std::shared_ptr<const Auth> auth_;         // atomic load/store only
  std::shared_ptr<const std::function<std::string()>>
      extra_metrics_;  // atomic load/store only
  std::shared_ptr<spdlog::logger> log_;
  Metrics metrics_;
  std::atomic<bool> ready_{true};
  ReadPool reads_;  // last: its threads stop before the rest goes
};

}  // namespace deltakv::gateway

#endif  // DELTAKV_GATEWAY_API_H_
