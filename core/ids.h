// Identifiers: RegionId, ReplicaId and Dot.
//
// A RegionId names a region ("us-east"); a ReplicaId names one replica, the
// unit that mints dots and sequence numbers. In phase 1 a region has exactly
// one replica, but the two are distinct types so that a region can later
// become a cluster. A Dot (replica, counter) names one event of one replica;
// counters start at 1.
//
// Thread-safety: plain values.
#ifndef DELTAKV_CORE_IDS_H_
#define DELTAKV_CORE_IDS_H_

#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "deltakv/status.h"

namespace deltakv {

class RegionId {
 public:
  RegionId() = default;
  // Accepts 1..64 characters of [a-z0-9-_.]; anything else is
  // InvalidArgument.
  static Result<RegionId> Parse(std::string_view name);

  const std::string& name() const { return name_; }
  bool empty() const { return name_.empty(); }

  auto operator<=>(const RegionId&) const = default;
  bool operator==(const RegionId&) const = default;

 private:
  explicit RegionId(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

class ReplicaId {
 public:
  constexpr ReplicaId() = default;
  constexpr explicit ReplicaId(uint64_t value) : value_(value) {}

  // A fresh random non-zero id (from the OS entropy source).
  static ReplicaId Random();
  // Parses the 16-hex-digit form produced by ToString().
  static Result<ReplicaId> Parse(std::string_view text);

  constexpr uint64_t value() const { return value_; }
  constexpr bool valid() const { return value_ != 0; }
  std::string ToString() const;  // 16 lowercase hex digits

  constexpr auto operator<=>(const ReplicaId&) const = default;
  constexpr bool operator==(const ReplicaId&) const = default;

 private:
  uint64_t value_ = 0;
};

struct Dot {
  ReplicaId replica;
  uint64_t counter = 0;  // >= 1 for a real dot

  constexpr auto operator<=>(const Dot&) const = default;
  constexpr bool operator==(const Dot&) const = default;
  std::string ToString() const;  // "<replica>:<counter>"
};

}  // namespace deltakv

template <>
struct std::hash<deltakv::ReplicaId> {
  size_t operator()(const deltakv::ReplicaId& id) const noexcept {
    // splitmix64 finaliser: ids are random already, but tests use small ones.
    uint64_t x = id.value() + 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<size_t>(x ^ (x >> 31));
  }
};

template <>
struct std::hash<deltakv::Dot> {
  size_t operator()(const deltakv::Dot& d) const noexcept {
    size_t h = std::hash<deltakv::ReplicaId>()(d.replica);
    return h ^ (std::hash<uint64_t>()(d.counter) + 0x9e3779b97f4a7c15ULL +
                (h << 6) + (h >> 2));
  }
};

template <>
struct std::hash<deltakv::RegionId> {
  size_t operator()(const deltakv::RegionId& r) const noexcept {
    return std::hash<std::string>()(r.name());
  }
};

#endif  // DELTAKV_CORE_IDS_H_
