#include "core/hlc.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace deltakv {

std::string HlcTimestamp::ToString() const {
  uint64_t ms = wall_ms();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ+%u",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<unsigned>(ms % 1000),
                static_cast<unsigned>(logical()));
  return buf;
}

uint64_t HybridClock::SystemMillis() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
  return ms < 0 ? 0 : static_cast<uint64_t>(ms);
}

HybridClock::HybridClock() : HybridClock(&HybridClock::SystemMillis) {}

HybridClock::HybridClock(PhysicalClock physical, uint64_t max_forward_drift_ms)
    : physical_(std::move(physical)),
      max_forward_drift_ms_(max_forward_drift_ms) {}

void HybridClock::AdvanceTo(uint64_t at_least) {
  uint64_t cur = last_.load(std::memory_order_relaxed);
  while (cur < at_least && !last_.compare_exchange_weak(
                               cur, at_least, std::memory_order_acq_rel)) {
  }
}

HlcTimestamp HybridClock::Now() {
  uint64_t physical = HlcTimestamp::FromParts(physical_(), 0).packed();
  uint64_t cur = last_.load(std::memory_order_relaxed);
  for (;;) {
    // Packed arithmetic: +1 bumps the logical part and carries into the
    // millisecond part when it overflows, so the result is always larger.
    uint64_t next = cur == UINT64_MAX ? cur : cur + 1;
    if (physical > next) next = physical;
    if (last_.compare_exchange_weak(cur, next, std::memory_order_acq_rel)) {
      return HlcTimestamp(next);
    }
  }
}

Status HybridClock::Update(HlcTimestamp remote) {
  uint64_t physical_ms = physical_();
  if (remote.wall_ms() > physical_ms &&
      remote.wall_ms() - physical_ms > max_forward_drift_ms_) {
    return Status::InvalidArgument("remote timestamp " + remote.ToString() +
                                   " is more than " +
                                   std::to_string(max_forward_drift_ms_) +
                                   " ms ahead of the local clock; not adopted");
  }
  AdvanceTo(remote.packed());
  return Status::OK();
}

HlcTimestamp HybridClock::Last() const {
  return HlcTimestamp(last_.load(std::memory_order_acquire));
}

void HybridClock::Restore(HlcTimestamp high_water) {
  AdvanceTo(high_water.packed());
}

}  // namespace deltakv
