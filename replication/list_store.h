// ListStore: how a list is kept in LMDB so that one edit costs
// O(log n + size of the edit) in CPU and in bytes written (docs/formats.md,
// "List records"; docs/list.md). Internal to replication/.
//
// The document is cut into chunks of consecutive runs (List::chunk_count();
// about kChunkTarget bytes each, never more than kChunkMax unless a single
// value is larger), each one record. A two-level directory names them in
// order with their element counts: directory pages of up to kPageMax chunk
// entries, and the top level (the key header's payload) listing the pages.
// An edit re-encodes only the chunks it touched, rewrites their page and the
// top level; a page read fetches only the pages and chunks holding the
// values it returns. Held runs and deletes (origins not seen yet) are one
// more record.
//
// Records (table kRecords, under the key's id): [key id][kind][u64 id],
// kind 'c' a chunk (a list blob holding the chunk's runs), 'p' a directory
// page, 'h' the held blob (id 0).
//
// Thread-safety: stateless functions; each uses the caller's transaction.
#ifndef DELTAKV_REPLICATION_LIST_STORE_H_
#define DELTAKV_REPLICATION_LIST_STORE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crdt/list.h"
#include "deltakv/status.h"
#include "storage/environment.h"

namespace deltakv::replication {

inline constexpr uint8_t kListLayoutVersion = 1;
// Chunks and pages stay under LMDB's largest in-page value (about 2 KiB
// with 4 KiB pages): a larger record goes to overflow pages, which need a
// contiguous run of free pages on every rewrite.
inline constexpr size_t kListChunkTarget = 1280;  // bytes a chunk is cut to
inline constexpr size_t kListChunkMax = 1900;     // cut above this
inline constexpr size_t kListChunkMin = 320;      // merged below this
inline constexpr size_t kListPageMax = 128;       // chunk entries per page
inline constexpr size_t kListPageMin = 16;        // merged below this

struct ListChunkMeta {
  uint64_t id = 0;
  uint64_t total = 0;    // elements, tombstones included
  uint64_t visible = 0;  // values
  uint64_t bytes = 0;    // of the record
};

struct ListPageMeta {
  uint64_t id = 0;
  // The sums over its chunks (kept in the top level).
  uint64_t count = 0, total = 0, visible = 0, bytes = 0;
  std::vector<ListChunkMeta> chunks;  // empty until the page is read
  bool dirty = false;                 // writer: to be written
};

// A list's directory as the writer keeps it between edits (with the
// decoded list, in the writer's cache).
struct ListLayout {
  uint64_t gen = 0;      // bumped by every store (the payload always changes)
  uint64_t next_id = 1;  // for new chunks and pages
  uint64_t held_bytes = 0;
  std::vector<ListPageMeta> pages;
  std::string held;  // writer: the held blob as stored

  uint64_t chunk_count() const;
  uint64_t bytes() const;  // every record's bytes
};

// The top level (a key header's payload) and a page record. Decoding checks
// every count against the bytes present: Corruption otherwise.
std::string EncodeListTop(const ListLayout& layout);
Status DecodeListTop(std::string_view payload, ListLayout* out);
std::string EncodeListPage(const ListPageMeta& page);
Status DecodeListPage(std::string_view bytes, ListPageMeta* out);
std::string ListRecordKey(uint64_t key_id, char kind, uint64_t id);

// Reads the layout and the whole state of the list stored under `key_id`
// with header payload `payload` (empty: an empty list).
Status LoadStoredList(const storage::ReadTxn& txn, uint64_t key_id,
                      std::string_view payload, crdt::List* list,
                      ListLayout* layout);
// The state as one blob (crdt::Encode): state transfer, read repair.
Status ReadListState(const storage::ReadTxn& txn, uint64_t key_id,
                     std::string_view payload, std::string* blob);
// Up to `limit` values from `offset` (limit 0: to the end) and the length,
// reading only the directory pages and chunks that hold them.
// InvalidArgument when offset is past the end.
Status ReadListValues(const storage::ReadTxn& txn, uint64_t key_id,
                      std::string_view payload, uint64_t offset, uint64_t limit,
                      uint64_t* length, std::vector<std::string>* values);

// Writes what changed in `list` since `layout` was stored (the chunks the
// list recorded as touched; everything when it says so or the layout does
// not match it) and sets *payload to the new top level. The list must be
// tracking its chunks (List::TrackChunks). TooLarge, with nothing written,
// when the records would take more than `max_bytes` (0: no limit); list and
// layout are then out of step with the store and must be dropped.
Status StoreList(storage::WriteTxn* txn, uint64_t key_id, crdt::List* list,
                 ListLayout* layout, uint64_t max_bytes, std::string* payload);

// Store format 2 kept a list as its whole blob cut into content-defined
// chunks named by hash, the payload being [u32 n][n x u64 hash]. Rewrites
// every list of the store in the layout above (in `txn`); sets *lists to
// the number rewritten.
Status MigrateLegacyLists(storage::WriteTxn* txn, uint64_t* lists);

}  // namespace deltakv::replication

#endif  // DELTAKV_REPLICATION_LIST_STORE_H_
