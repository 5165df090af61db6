#include "gateway/metrics.h"

#include <cstdio>

#include "replication/replica.h"
#include "replication/streams.h"

namespace deltakv::gateway {

namespace {
constexpr int kStatuses[] = {200, 400, 401, 404, 405, 408, 409, 413,
                             414, 415, 431, 499, 500, 503, 504, 0};
}

size_t Metrics::StatusSlot(int status) {
  for (size_t i = 0; i < kStatusSlots; ++i) {
    if (kStatuses[i] == status) return i;
  }
  return kStatusSlots - 1;  // other
}

void Metrics::Observe(const RouteSpec* route, int status, double seconds) {
  size_t r = route == nullptr ? kRoutes - 1 : static_cast<size_t>(route->route);
  if (r >= kRoutes) r = kRoutes - 1;
  requests_[r][StatusSlot(status)].fetch_add(1, std::memory_order_relaxed);
  size_t b = 0;
  while (b < kBucketsSeconds.size() && seconds > kBucketsSeconds[b]) ++b;
  buckets_[b].fetch_add(1, std::memory_order_relaxed);
  latency_count_.fetch_add(1, std::memory_order_relaxed);
  latency_sum_micros_.fetch_add(static_cast<uint64_t>(seconds * 1e6),
                                std::memory_order_relaxed);
}

void Metrics::CountRefused(int status, std::string_view reason) {
  size_t i = 0;
  while (i + 1 < kReasons.size() && reason != kReasons[i]) ++i;
  refused_[i].fetch_add(1, std::memory_order_relaxed);
  (void)status;  // each reason has one status (docs/api.md)
}

std::string Metrics::Render(const replication::Replica& replica,
                            const replication::Streams* streams, size_t parked,
                            uint64_t parked_refused) const {
  std::string out;
  char line[1024];
  std::snprintf(line, sizeof line,
                "# HELP deltakv_http_parked_requests Requests parked on a "
                "causal token or on wait_regions.\n"
                "# TYPE deltakv_http_parked_requests gauge\n"
                "deltakv_http_parked_requests %zu\n"
                "# HELP deltakv_http_parked_refused_total Requests refused "
                "(503) because --max-parked-requests were parked.\n"
                "# TYPE deltakv_http_parked_refused_total counter\n"
                "deltakv_http_parked_refused_total %llu\n",
                parked, static_cast<unsigned long long>(parked_refused));
  out += line;
  auto status_label = [](size_t slot) {
    return kStatuses[slot] == 0 ? std::string("other")
                                : std::to_string(kStatuses[slot]);
  };
  out +=
      "# HELP deltakv_http_requests_total HTTP requests by route and status.\n";
  out += "# TYPE deltakv_http_requests_total counter\n";
  const auto& table = RouteTable();
  for (size_t r = 0; r < kRoutes; ++r) {
    const char* name = r < table.size() ? table[r].name : "unmatched";
    if (r >= table.size() && r != kRoutes - 1) continue;
    for (size_t s = 0; s < kStatusSlots; ++s) {
      uint64_t n = requests_[r][s].load(std::memory_order_relaxed);
      if (n == 0) continue;
      std::snprintf(line, sizeof line,
                    "deltakv_http_requests_total{route=\"%s\",status=\"%s\"} "
                    "%llu\n",
                    name, status_label(s).c_str(),
                    static_cast<unsigned long long>(n));
      out += line;
    }
  }
  out +=
      "# HELP deltakv_http_refused_total Requests and connections refused "
      "or closed by the HTTP layer before routing, by reason.\n";
  out += "# TYPE deltakv_http_refused_total counter\n";
  for (size_t i = 0; i < kReasons.size(); ++i) {
    std::snprintf(line, sizeof line,
                  "deltakv_http_refused_total{reason=\"%s\"} %llu\n",
                  kReasons[i],
                  static_cast<unsigned long long>(
                      refused_[i].load(std::memory_order_relaxed)));
    out += line;
  }
  std::snprintf(line, sizeof line,
                "# HELP deltakv_http_open_connections Open HTTP connections "
                "by listener.\n"
                "# TYPE deltakv_http_open_connections gauge\n"
                "deltakv_http_open_connections{listener=\"api\"} %zu\n"
                "deltakv_http_open_connections{listener=\"admin\"} %zu\n",
                api_connections_ ? api_connections_() : size_t{0},
                admin_connections_ ? admin_connections_() : size_t{0});
  out += line;
  out += "# HELP deltakv_http_request_duration_seconds Request latency.\n";
  out += "# TYPE deltakv_http_request_duration_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t b = 0; b <= kBucketsSeconds.size(); ++b) {
    cumulative += buckets_[b].load(std::memory_order_relaxed);
    if (b < kBucketsSeconds.size()) {
      std::snprintf(line, sizeof line,
                    "deltakv_http_request_duration_seconds_bucket{le=\"%g\"} "
                    "%llu\n",
                    kBucketsSeconds[b],
                    static_cast<unsigned long long>(cumulative));
    } else {
      std::snprintf(line, sizeof line,
                    "deltakv_http_request_duration_seconds_bucket{le=\"+Inf\"}"
                    " %llu\n",
                    static_cast<unsigned long long>(cumulative));
    }
    out += line;
  }
  std::snprintf(line, sizeof line,
                "deltakv_http_request_duration_seconds_sum %.6f\n"
                "deltakv_http_request_duration_seconds_count %llu\n",
                static_cast<double>(latency_sum_micros_.load()) / 1e6,
                static_cast<unsigned long long>(latency_count_.load()));
  out += line;

  replication::ReplicaStats st = replica.Stats();
  storage::MapUsage u = replica.Usage();
  std::snprintf(
      line, sizeof line,
      "# HELP deltakv_list_cache_bytes Estimated memory of the lists the "
      "writer keeps decoded (--list-cache-bytes bounds it).\n"
      "# TYPE deltakv_list_cache_bytes gauge\n"
      "deltakv_list_cache_bytes %llu\n"
      "# HELP deltakv_list_cache_lookups_total List edits by whether the list "
      "was found decoded (hit) or decoded again (miss).\n"
      "# TYPE deltakv_list_cache_lookups_total counter\n"
      "deltakv_list_cache_lookups_total{result=\"hit\"} %llu\n"
      "deltakv_list_cache_lookups_total{result=\"miss\"} %llu\n"
      "# HELP deltakv_list_cache_evictions_total Lists dropped from the "
      "cache, least recently used first.\n"
      "# TYPE deltakv_list_cache_evictions_total counter\n"
      "deltakv_list_cache_evictions_total %llu\n",
      static_cast<unsigned long long>(st.list_cache_bytes),
      static_cast<unsigned long long>(st.list_cache_hits),
      static_cast<unsigned long long>(st.list_cache_misses),
      static_cast<unsigned long long>(st.list_cache_evictions));
  out += line;
  std::snprintf(
      line, sizeof line,
      "# HELP deltakv_commit_batches_total Committed write transactions.\n"
      "# TYPE deltakv_commit_batches_total counter\n"
      "deltakv_commit_batches_total %llu\n",
      static_cast<unsigned long long>(st.batches));
  out += line;
  std::snprintf(
      line, sizeof line,
      "# HELP deltakv_commit_ops_total Operations in committed batches.\n"
      "# TYPE deltakv_commit_ops_total counter\n"
      "deltakv_commit_ops_total %llu\n",
      static_cast<unsigned long long>(st.ops));
  out += line;
  std::snprintf(
      line, sizeof line,
      "# HELP deltakv_commit_seconds_total Time spent committing (fsync "
      "included).\n# TYPE deltakv_commit_seconds_total counter\n"
      "deltakv_commit_seconds_total %.6f\n",
      static_cast<double>(st.commit_micros) / 1e6);
  out += line;
  std::snprintf(
      line, sizeof line,
      "# HELP deltakv_map_bytes LMDB map: used, current size and maximum.\n"
      "# TYPE deltakv_map_bytes gauge\n"
      "deltakv_map_bytes{kind=\"used\"} %llu\n"
      "deltakv_map_bytes{kind=\"size\"} %llu\n"
      "deltakv_map_bytes{kind=\"max\"} %llu\n",
      static_cast<unsigned long long>(u.used_bytes),
      static_cast<unsigned long long>(u.map_bytes),
      static_cast<unsigned long long>(u.max_bytes));
  out += line;
  std::snprintf(line, sizeof line,
                "# HELP deltakv_local_sequence Last local delta sequence.\n"
                "# TYPE deltakv_local_sequence gauge\n"
                "deltakv_local_sequence %llu\n",
                static_cast<unsigned long long>(replica.LastSequence()));
  out += line;
  std::snprintf(line, sizeof line,
                "# HELP deltakv_delta_log_entries Entries in the delta log.\n"
                "# TYPE deltakv_delta_log_entries gauge\n"
                "deltakv_delta_log_entries %llu\n",
                static_cast<unsigned long long>(replica.LastSequence() + 1 -
                                                replica.LogStart()));
  out += line;
  if (streams == nullptr) return out;
  struct Family {
    const char* name;
    const char* type;
    const char* help;
  };
  const Family families[] = {
      {"deltakv_peer_connected", "gauge",
       "1 when the peer was heard from "
       "within three heartbeats."},
      {"deltakv_peer_last_heard_seconds", "gauge",
       "Seconds since the last frame from the peer."},
      {"deltakv_peer_applied_sequence", "gauge",
       "The peer's sequence applied here."},
      {"deltakv_peer_lag_deltas", "gauge",
       "Peer sequence numbers not yet applied here."},
      {"deltakv_peer_lag_seconds", "gauge",
       "How long this region has been behind the peer."},
      {"deltakv_peer_bytes_in_total", "counter",
       "Bytes received from the peer."},
      {"deltakv_peer_catchups_total", "counter", "Catch-up requests sent."},
      {"deltakv_peer_state_transfers_total", "counter",
       "State transfers completed."},
      {"deltakv_peer_dropped_frames_total", "counter",
       "Malformed or foreign frames dropped."},
      {"deltakv_peer_apply_failures_total", "counter",
       "Batches or state chunks from the peer that failed to apply (nothing "
       "past them is acknowledged; the link retries)."},
      {"deltakv_peer_transfer_retries_total", "counter",
       "State transfer requests asked again after a deadline."},
      {"deltakv_peer_transferring", "gauge",
       "1 while a state transfer from the peer is running."},
  };
  auto peers = streams->Peers();
  for (size_t f = 0; f < sizeof families / sizeof families[0]; ++f) {
    out += std::string("# HELP ") + families[f].name + " " + families[f].help +
           "\n# TYPE " + families[f].name + " " + families[f].type + "\n";
    for (const auto& p : peers) {
      double v = 0;
      switch (f) {
        case 0:
          v = p.connected;
          break;
        case 1:
          v = p.last_heard_s;
          break;
        case 2:
          v = static_cast<double>(p.applied);
          break;
        case 3:
          v = static_cast<double>(p.lag);
          break;
        case 4:
          v = p.lag_seconds;
          break;
        case 5:
          v = static_cast<double>(p.bytes_in);
          break;
        case 6:
          v = static_cast<double>(p.catchups);
          break;
        case 7:
          v = static_cast<double>(p.state_transfers);
          break;
        case 8:
          v = static_cast<double>(p.dropped_frames);
          break;
        case 9:
          v = static_cast<double>(p.apply_failures);
          break;
        case 10:
          v = static_cast<double>(p.transfer_retries);
          break;
        default:
          v = p.transferring ? 1 : 0;
      }
      std::snprintf(line, sizeof line, "%s{peer=\"%s\"} %.6g\n",
                    families[f].name, p.region.c_str(), v);
      out += line;
    }
  }
  std::snprintf(line, sizeof line,
                "# HELP deltakv_replication_bytes_out_total Bytes sent to "
                "peers.\n# TYPE deltakv_replication_bytes_out_total counter\n"
                "deltakv_replication_bytes_out_total %llu\n"
                "# HELP deltakv_replication_dropped_frames_total Frames "
                "dropped (malformed, oversized, foreign).\n"
                "# TYPE deltakv_replication_dropped_frames_total counter\n"
                "deltakv_replication_dropped_frames_total %llu\n"
                "# HELP deltakv_curve_refused_total Peer connections refused "
                "by the key allowlist.\n"
                "# TYPE deltakv_curve_refused_total counter\n"
                "deltakv_curve_refused_total %llu\n",
                static_cast<unsigned long long>(
                    peers.empty() ? 0 : peers.front().bytes_out),
                static_cast<unsigned long long>(streams->dropped_frames()),
                static_cast<unsigned long long>(streams->curve_refused()));
  out += line;
  return out;
}

}  // namespace deltakv::gateway

namespace deltakv::gateway {

std::string Metrics::RenderCluster(const cluster::ClusterView& view) {
  std::string out;
  if (view.etcd) {
    out +=
        "# HELP deltakv_cluster_etcd_reachable Whether etcd answered this "
        "node's last call (0: serving with the last ring seen).\n"
        "# TYPE deltakv_cluster_etcd_reachable gauge\n"
        "deltakv_cluster_etcd_reachable " +
        std::string(view.etcd_reachable ? "1" : "0") + "\n";
  }
  out +=
      "# HELP deltakv_cluster_ring_revision etcd revision of the ring this "
      "node acts on (0: none).\n"
      "# TYPE deltakv_cluster_ring_revision gauge\n"
      "deltakv_cluster_ring_revision " +
      std::to_string(view.ring_revision) + "\n";
  size_t joining = 0, normal = 0, leaving = 0, up = 0, down = 0;
  for (const auto& n : view.nodes) {
    if (n.state == "joining") ++joining;
    if (n.state == "normal") ++normal;
    if (n.state == "leaving") ++leaving;
    ++(n.up ? up : down);
  }
  out +=
      "# HELP deltakv_cluster_nodes Nodes of the ring by state.\n"
      "# TYPE deltakv_cluster_nodes gauge\n"
      "deltakv_cluster_nodes{state=\"joining\"} " +
      std::to_string(joining) +
      "\n"
      "deltakv_cluster_nodes{state=\"normal\"} " +
      std::to_string(normal) +
      "\n"
      "deltakv_cluster_nodes{state=\"leaving\"} " +
      std::to_string(leaving) +
      "\n"
      "# HELP deltakv_cluster_nodes_up Nodes of the ring by liveness (their "
      "etcd lease).\n"
      "# TYPE deltakv_cluster_nodes_up gauge\n"
      "deltakv_cluster_nodes_up{up=\"true\"} " +
      std::to_string(up) +
      "\n"
      "deltakv_cluster_nodes_up{up=\"false\"} " +
      std::to_string(down) + "\n";
  return out;
}

}  // namespace deltakv::gateway
