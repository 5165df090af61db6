#include "resp/metrics.h"

#include <cstdio>

namespace deltakv::resp {

RespMetrics::RespMetrics(std::vector<std::string> commands)
    : names_(std::move(commands)),
      commands_(new std::array<std::atomic<uint64_t>, 2>[names_.size() + 1]) {
  for (size_t i = 0; i <= names_.size(); ++i) {
    commands_[i][0].store(0, std::memory_order_relaxed);
    commands_[i][1].store(0, std::memory_order_relaxed);
  }
}

void RespMetrics::Observe(size_t command, bool error, double seconds) {
  if (command > names_.size()) command = names_.size();
  commands_[command][error ? 1 : 0].fetch_add(1, std::memory_order_relaxed);
  size_t b = 0;
  while (b < kBucketsSeconds.size() && seconds > kBucketsSeconds[b]) ++b;
  buckets_[b].fetch_add(1, std::memory_order_relaxed);
  latency_count_.fetch_add(1, std::memory_order_relaxed);
  latency_sum_micros_.fetch_add(static_cast<uint64_t>(seconds * 1e6),
                                std::memory_order_relaxed);
}

void RespMetrics::CountRefused(std::string_view reason) {
  size_t i = 0;
  while (i + 1 < kReasons.size() && reason != kReasons[i]) ++i;
  refused_[i].fetch_add(1, std::memory_order_relaxed);
}

std::string RespMetrics::Render(size_t open_connections) const {
  std::string out;
  char line[512];
  out +=
      "# HELP deltakv_resp_commands_total Redis-protocol commands answered, "
      "by command and result (error: an error reply).\n"
      "# TYPE deltakv_resp_commands_total counter\n";
  for (size_t c = 0; c <= names_.size(); ++c) {
    const char* name = c < names_.size() ? names_[c].c_str() : "unknown";
    for (int e = 0; e < 2; ++e) {
      const uint64_t n = commands_[c][e].load(std::memory_order_relaxed);
      if (n == 0) continue;
      std::snprintf(line, sizeof line,
                    "deltakv_resp_commands_total{command=\"%s\",result=\"%s\"}"
                    " %llu\n",
                    name, e ? "error" : "ok",
                    static_cast<unsigned long long>(n));
      out += line;
    }
  }
  out +=
      "# HELP deltakv_resp_command_duration_seconds Time from a command's "
      "arrival to its reply, all commands.\n"
      "# TYPE deltakv_resp_command_duration_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t b = 0; b <= kBucketsSeconds.size(); ++b) {
    cumulative += buckets_[b].load(std::memory_order_relaxed);
    if (b < kBucketsSeconds.size()) {
      std::snprintf(line, sizeof line,
                    "deltakv_resp_command_duration_seconds_bucket{le=\"%g\"} "
                    "%llu\n",
                    kBucketsSeconds[b],
                    static_cast<unsigned long long>(cumulative));
    } else {
      std::snprintf(line, sizeof line,
                    "deltakv_resp_command_duration_seconds_bucket{le=\"+Inf\"}"
                    " %llu\n",
                    static_cast<unsigned long long>(cumulative));
    }
    out += line;
  }
  std::snprintf(
      line, sizeof line,
      "deltakv_resp_command_duration_seconds_sum %.6f\n"
      "deltakv_resp_command_duration_seconds_count %llu\n",
      static_cast<double>(latency_sum_micros_.load(std::memory_order_relaxed)) /
          1e6,
      static_cast<unsigned long long>(
          latency_count_.load(std::memory_order_relaxed)));
  out += line;
  out +=
      "# HELP deltakv_resp_refused_total Redis-protocol connections refused "
      "or closed by the listener's limits, by reason.\n"
      "# TYPE deltakv_resp_refused_total counter\n";
  for (size_t i = 0; i < kReasons.size(); ++i) {
    std::snprintf(line, sizeof line,
                  "deltakv_resp_refused_total{reason=\"%.*s\"} %llu\n",
                  static_cast<int>(kReasons[i].size()), kReasons[i].data(),
                  static_cast<unsigned long long>(
                      refused_[i].load(std::memory_order_relaxed)));
    out += line;
  }
  std::snprintf(line, sizeof line,
                "# HELP deltakv_resp_open_connections Open Redis-protocol "
                "connections.\n"
                "# TYPE deltakv_resp_open_connections gauge\n"
                "deltakv_resp_open_connections %zu\n",
                open_connections);
  out += line;
  return out;
}

}  // namespace deltakv::resp
