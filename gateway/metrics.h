// Metrics: request counters and latency histogram, rendered with the
// replica's figures in the Prometheus text format (version 0.0.4).
//
// Thread-safety: Observe is lock-free and safe from any thread; Render may
// run concurrently with it.
#ifndef DELTAKV_GATEWAY_METRICS_H_
#define DELTAKV_GATEWAY_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "cluster/cluster_view.h"
#include "gateway/request_map.h"

namespace deltakv::replication {
class Replica;
class Streams;
}  // namespace deltakv::replication

namespace deltakv::gateway {

class Metrics {
 public:
  static constexpr std::array<double, 12> kBucketsSeconds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
      0.01,   0.025,   0.05,   0.1,   0.5,    2.5};

  // `route` is nullptr for requests that matched no route.
  void Observe(const RouteSpec* route, int status, double seconds);
  // A request or connection refused or closed by the HTTP layer before
  // routing: its status (0: none sent) and reason label.
  void CountRefused(int status, std::string_view reason);
  // Open connections, per listener, read at render time.
  void SetConnectionGauges(std::function<size_t()> api,
                           std::function<size_t()> admin) {
    api_connections_ = std::move(api);
    admin_connections_ = std::move(admin);
  }
  // `parked`: requests parked now (tokens, regions); `parked_refused`:
  // those refused since start because too many were parked.
  std::string Render(const replication::Replica& replica,
                     const replication::Streams* streams, size_t parked = 0,
                     uint64_t parked_refused = 0) const;
  // The region cluster's gauges: etcd reachable, the ring revision, nodes
  // by state and by up.
  static std::string RenderCluster(const cluster::ClusterView& view);

 private:
  // At least RouteTable()'s size + 1 ("unmatched", the last slot).
  static constexpr size_t kRoutes = 32;
  static_assert(static_cast<size_t>(Route::kUiStyle) + 2 <= kRoutes,
                "Metrics::kRoutes must be at least RouteTable().size() + 1");
  static constexpr size_t kStatusSlots = 16;
  static size_t StatusSlot(int status);

  std::array<std::array<std::atomic<uint64_t>, kStatusSlots>, kRoutes>
      requests_{};
  std::array<std::atomic<uint64_t>, kBucketsSeconds.size() + 1> buckets_{};
  std::atomic<uint64_t> latency_count_{0};
  std::atomic<uint64_t> latency_sum_micros_{0};
  static constexpr std::array<const char*, 14> kReasons = {
      "url_too_long",         "not_served",     "unauthorized",
      "body_not_allowed",     "body_too_large", "body_budget",
      "headers_too_large",    "malformed",      "timeout",
      "too_many_connections", "idle_shed",      "accept_error",
      "tls_handshake",        "other"};
  std::array<std::atomic<uint64_t>, kReasons.size()> refused_{};
  std::function<size_t()> api_connections_;
  std::function<size_t()> admin_connections_;
};

}  // namespace deltakv::gateway

#endif  // DELTAKV_GATEWAY_METRICS_H_
