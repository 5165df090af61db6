// Prometheus metrics of the Redis-protocol listener: commands by name and
// result, their latency, open connections and connections refused by the
// listener's limits. Rendered into the server's /metrics by the wiring in
// the server (the HTTP gateway does not know RESP). Thread-safe.
#ifndef DELTAKV_RESP_METRICS_H_
#define DELTAKV_RESP_METRICS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace deltakv::resp {

class RespMetrics {
 public:
  static constexpr std::array<double, 12> kBucketsSeconds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
      0.01,   0.025,   0.05,   0.1,   0.5,    2.5};
  // The reasons RespServerOptions::on_refused reports; anything else
  // counts as "other".
  static constexpr std::array<std::string_view, 7> kReasons = {
      "too_many_connections",
      "idle_shed",
      "idle_timeout",
      "command_timeout",
      "write_timeout",
      "protocol_error",
      "other"};

  // `commands`: the names of the commands, by index; index
  // commands.size() counts unknown commands.
  explicit RespMetrics(std::vector<std::string> commands);

  void Observe(size_t command, bool error, double seconds);
  void CountRefused(std::string_view reason);
  std::string Render(size_t open_connections) const;

 private:
  std::vector<std::string> names_;
  // [command][0: ok, 1: error]
  std::unique_ptr<std::array<std::atomic<uint64_t>, 2>[]> commands_;
  std::array<std::atomic<uint64_t>, kBucketsSeconds.size() + 1> buckets_{};
  std::atomic<uint64_t> latency_count_{0};
  std::atomic<uint64_t> latency_sum_micros_{0};
  std::array<std::atomic<uint64_t>, kReasons.size()> refused_{};
};

}  // namespace deltakv::resp

#endif  // DELTAKV_RESP_METRICS_H_
