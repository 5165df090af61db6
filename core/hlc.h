// Hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014).
//
// A timestamp packs physical milliseconds since the Unix epoch (high 48 bits)
// and a logical counter (low 16 bits) into one uint64, so timestamps compare
// as integers and encode as one varint. The clock never goes backwards: when
// the wall clock steps back, the logical part (and, when it overflows, the
// millisecond part) keeps counting up from the last value handed out.
//
// Thread-safety: HybridClock is safe for concurrent use (lock-free CAS).
#ifndef DELTAKV_CORE_HLC_H_
#define DELTAKV_CORE_HLC_H_

#include <atomic>
#include <compare>
#include <cstdint>
#include <functional>
#include <string>

#include "deltakv/status.h"

namespace deltakv {

class HlcTimestamp {
 public:
  static constexpr int kLogicalBits = 16;
  static constexpr uint64_t kLogicalMask = (uint64_t{1} << kLogicalBits) - 1;
  static constexpr uint64_t kMaxWallMs = (uint64_t{1} << 48) - 1;

  constexpr HlcTimestamp() = default;
  constexpr explicit HlcTimestamp(uint64_t packed) : packed_(packed) {}
  // `wall_ms` above kMaxWallMs saturates; logical is truncated to 16 bits.
  static constexpr HlcTimestamp FromParts(uint64_t wall_ms, uint32_t logical) {
    if (wall_ms > kMaxWallMs) wall_ms = kMaxWallMs;
    return HlcTimestamp((wall_ms << kLogicalBits) | (logical & kLogicalMask));
  }

  constexpr uint64_t packed() const { return packed_; }
  constexpr uint64_t wall_ms() const { return packed_ >> kLogicalBits; }
  constexpr uint32_t logical() const {
    return static_cast<uint32_t>(packed_ & kLogicalMask);
  }
  constexpr bool is_zero() const { return packed_ == 0; }

  // RFC 3339 UTC with milliseconds plus the logical part,
  // e.g. "2026-11-22T01:43:41.123Z+3".
  std::string ToString() const;

  constexpr auto operator<=>(const HlcTimestamp&) const = default;
  constexpr bool operator==(const HlcTimestamp&) const = default;

 private:
  uint64_t packed_ = 0;
};

class HybridClock {
 public:
  // Milliseconds since the Unix epoch; tests inject a clock that jumps.
  using PhysicalClock = std::function<uint64_t()>;

  // Remote timestamps more than this far ahead of the physical clock are not
  // adopted by Update() (a peer with a broken clock must not drag ours years
  // ahead).
  static constexpr uint64_t kDefaultMaxForwardDriftMs = 60 * 60 * 1000;

  HybridClock();
  explicit HybridClock(PhysicalClock physical, uint64_t max_forward_drift_ms =
                                                   kDefaultMaxForwardDriftMs);

  HybridClock(const HybridClock&) = delete;
  HybridClock& operator=(const HybridClock&) = delete;

  // A timestamp strictly greater than every timestamp this clock returned or
  // observed before.
  HlcTimestamp Now();

  // Observes a timestamp from elsewhere (a remote delta): afterwards Now()
  // returns something greater than `remote`. Returns InvalidArgument, and
  // does not adopt `remote`, when it is more than the allowed drift ahead of
  // the physical clock. Not an error when `remote` is in the past.
  Status Update(HlcTimestamp remote);

  // The largest timestamp handed out or observed so far (for persisting a
  // high-water mark).
  HlcTimestamp Last() const;

  // Restores a persisted high-water mark after a restart; never moves the
  // clock backwards.
  void Restore(HlcTimestamp high_water);

  static uint64_t SystemMillis();

 private:
  void AdvanceTo(uint64_t at_least);

  PhysicalClock physical_;
  uint64_t max_forward_drift_ms_;
  std::atomic<uint64_t> last_{0};
};

}  // namespace deltakv

#endif  // DELTAKV_CORE_HLC_H_
