// libFuzzer target for the frames one node of a region cluster receives
// from another (cluster/node_wire.h): any bytes either decode or are
// refused, never crash; what decodes encodes to bytes that decode to the
// same encoding again (a stable round trip).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cluster/node_wire.h"

namespace wire = deltakv::cluster::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto f = wire::Decode(bytes);
  if (!f.ok()) return 0;
  const std::string once = wire::Encode(*f);
  auto again = wire::Decode(once);
  if (!again.ok() || wire::Encode(*again) != once) std::abort();
  return 0;
}
