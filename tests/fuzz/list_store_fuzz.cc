// libFuzzer target for a list's storage records (replication/list_store.h):
// the first byte picks the decoder (directory top level, directory page,
// chunks plus held record, values of a chunk); the rest is its input. A
// chunk set that decodes must re-encode to chunks that decode to the same
// values and chunks.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "crdt/list.h"
#include "crdt/list_codec.h"
#include "replication/list_store.h"

namespace crdt = deltakv::crdt;
namespace replication = deltakv::replication;

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

// [u16 length][bytes] repeated; the last piece is the held record.
std::vector<std::string_view> Pieces(std::string_view in) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos + 2 <= in.size() && out.size() < 64) {
    const size_t n = (static_cast<uint8_t>(in[pos]) << 8) |
                     static_cast<uint8_t>(in[pos + 1]);
    pos += 2;
    out.push_back(in.substr(pos, n));
    pos += std::min(n, in.size() - pos);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      replication::ListLayout layout;
      if (!replication::DecodeListTop(in, &layout).ok()) return 0;
      replication::ListLayout again;
      Check(
          replication::DecodeListTop(replication::EncodeListTop(layout), &again)
              .ok());
      Check(again.pages.size() == layout.pages.size() &&
            again.bytes() == layout.bytes());
      return 0;
    }
    case 1: {
      replication::ListPageMeta page;
      if (!replication::DecodeListPage(in, &page).ok()) return 0;
      replication::ListPageMeta again;
      Check(
          replication::DecodeListPage(replication::EncodeListPage(page), &again)
              .ok());
      Check(again.chunks.size() == page.chunks.size());
      return 0;
    }
    case 2: {
      std::vector<std::string_view> pieces = Pieces(in);
      if (pieces.empty()) return 0;
      const std::string_view held = pieces.back();
      pieces.pop_back();
      crdt::List list;
      if (!crdt::DecodeChunks(pieces, held, &list).ok()) return 0;
      Check(list.chunk_count() == pieces.size());
      std::vector<std::string> chunks;
      for (uint64_t k = 0; k < list.chunk_count(); ++k) {
        crdt::ListChunkInfo info;
        chunks.push_back(crdt::EncodeChunk(list, k, &info));
      }
      const std::vector<std::string_view> views(chunks.begin(), chunks.end());
      crdt::List again;
      Check(crdt::DecodeChunks(views, crdt::EncodeHeld(list), &again).ok());
      Check(again.Values() == list.Values());
      Check(again.chunk_count() == list.chunk_count());
      (void)list.InsertText(deltakv::ReplicaId(9), list.size() / 2, "z");
      return 0;
    }
    default: {
      if (in.size() < 2) return 0;
      std::vector<std::string> values;
      (void)crdt::ChunkValues(in.substr(2), static_cast<uint8_t>(in[0]),
                              static_cast<uint8_t>(in[1]), &values);
      Check(values.size() <= static_cast<uint8_t>(in[1]));
      return 0;
    }
  }
}
