// libFuzzer target for etcd's answers as the etcd client reads them: any
// bytes go through every parser (range, put, txn, leases, watch messages)
// and the watch stream splitter; none may crash, and what the splitter
// cuts must be whole objects it would cut the same way again, and what
// decodes as base64 must encode back to the same text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/etcd.h"

namespace ej = deltakv::cluster::etcd_json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)ej::ParseRange(bytes);
  (void)ej::ParsePut(bytes);
  (void)ej::ParseDeleteRange(bytes);
  (void)ej::ParseTxn(bytes);
  (void)ej::ParseLeaseGrant(bytes);
  (void)ej::ParseLeaseKeepAlive(bytes);
  (void)ej::ParseWatchMessage(bytes);
  auto decoded = ej::Base64Decode(bytes);
  if (decoded.ok() && ej::Base64Encode(*decoded) != bytes) std::abort();
  std::string buffer(bytes);
  std::vector<std::string> out;
  if (ej::SplitObjects(&buffer, &out, 1 << 16).ok()) {
    for (const std::string& one : out) {
      std::string again = one;
      std::vector<std::string> cut;
      if (!ej::SplitObjects(&again, &cut).ok() || cut.size() != 1 ||
          cut[0] != one || !again.empty()) {
        std::abort();
      }
    }
  }
  return 0;
}
