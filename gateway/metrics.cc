#include "gateway/metrics.h"

#include <cstdio>

#include "replication/replica.h"

namespace deltakv::gateway {

namespace {
constexpr int kStatuses[] = {200, 400, 401, 404, 405, 408, 409, 413,
                             414, 415, 431, 500, 503, 504, 0,   0};
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

void Metrics::CountRefused(int status) {
  refused_[StatusSlot(status)].fetch_add(1, std::memory_order_relaxed);
}

std::string Metrics::Render(const replication::Replica& replica) const {
  std::string out;
  char line[256];
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
      "# HELP deltakv_http_refused_total Requests refused before routing "
      "(limits, malformed HTTP, timeouts).\n";
  out += "# TYPE deltakv_http_refused_total counter\n";
  for (size_t s = 0; s < kStatusSlots; ++s) {
    uint64_t n = refused_[s].load(std::memory_order_relaxed);
    if (n == 0) continue;
    std::snprintf(line, sizeof line,
                  "deltakv_http_refused_total{status=\"%s\"} %llu\n",
                  status_label(s).c_str(), static_cast<unsigned long long>(n));
    out += line;
  }
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
  return out;
}

}  // namespace deltakv::gateway
