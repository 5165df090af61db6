#include "core/ids.h"

#include <cstdio>
#include <random>

namespace deltakv {

Result<RegionId> RegionId::Parse(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return Status::InvalidArgument("region id must be 1 to 64 characters");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.';
    if (!ok) {
      return Status::InvalidArgument(
          "region id may contain only a-z, 0-9, '-', '_' and '.': '" +
          std::string(name) + "'");
    }
  }
  return RegionId(std::string(name));
}

ReplicaId ReplicaId::Random() {
  std::random_device rd;
  uint64_t v = 0;
  while (v == 0) {
    v = (static_cast<uint64_t>(rd()) << 32) ^ static_cast<uint64_t>(rd());
  }
  return ReplicaId(v);
}

Result<ReplicaId> ReplicaId::Parse(std::string_view text) {
  if (text.size() != 16) {
    return Status::InvalidArgument("replica id must be 16 hex digits");
  }
  uint64_t v = 0;
  for (char c : text) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return Status::InvalidArgument("replica id must be 16 hex digits");
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  if (v == 0) return Status::InvalidArgument("replica id must not be zero");
  return ReplicaId(v);
}

std::string ReplicaId::ToString() const {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(value_));
  return std::string(buf, 16);
}

std::string Dot::ToString() const {
  return replica.ToString() + ":" + std::to_string(counter);
}

}  // namespace deltakv
