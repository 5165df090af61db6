#include "replication/list_store.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "core/varint.h"
#include "crdt/list_codec.h"
#include "replication/records.h"
#include "storage/keys.h"

namespace deltakv::replication {

using storage::Table;

namespace {

Status Bad(const std::string& what) {
  return Status::Corruption("list records: " + what);
}

bool GetAll(std::string_view in, size_t* pos,
            std::initializer_list<uint64_t*> outs) {
  for (uint64_t* o : outs) {
    if (!GetVarint(in, pos, o)) return false;
  }
  return true;
}

void Sum(ListPageMeta* page) {
  page->count = page->chunks.size();
  page->total = page->visible = page->bytes = 0;
  for (const ListChunkMeta& c : page->chunks) {
    page->total += c.total;
    page->visible += c.visible;
    page->bytes += c.bytes;
  }
}

Status ReadPage(const storage::ReadTxn& txn, uint64_t key_id, uint64_t next_id,
                ListPageMeta* page) {
  std::string_view bytes;
  Status s =
      txn.Get(Table::kRecords, ListRecordKey(key_id, 'p', page->id), &bytes);
  if (s.IsNotFound()) return Bad("directory page missing");
  DELTAKV_RETURN_IF_ERROR(s);
  ListPageMeta read;
  DELTAKV_RETURN_IF_ERROR(DecodeListPage(bytes, &read));
  for (const ListChunkMeta& c : read.chunks) {
    // Ids come from next_id: a larger one would be handed out again.
    if (c.id >= next_id) return Bad("chunk id beyond the next id");
  }
  Sum(&read);
  if (read.count != page->count || read.total != page->total ||
      read.visible != page->visible || read.bytes != page->bytes) {
    return Bad("directory page does not match the top level");
  }
  page->chunks = std::move(read.chunks);
  return Status::OK();
}

Status ReadChunk(const storage::ReadTxn& txn, uint64_t key_id,
                 const ListChunkMeta& c, std::string_view* out) {
  Status s = txn.Get(Table::kRecords, ListRecordKey(key_id, 'c', c.id), out);
  if (s.IsNotFound()) return Bad("chunk missing");
  DELTAKV_RETURN_IF_ERROR(s);
  if (out->size() != c.bytes) return Bad("chunk size does not match");
  return Status::OK();
}

// The writer's view of the chunks across pages, by chunk index.
class Chunks {
 public:
  explicit Chunks(ListLayout* layout) : layout_(layout) {}

  uint64_t size() const { return layout_->chunk_count(); }
  ListChunkMeta& at(uint64_t k) {
    auto [p, i] = Find(k);
    return layout_->pages[p].chunks[i];
  }
  void Set(uint64_t k, const ListChunkMeta& meta) {
    auto [p, i] = Find(k);
    layout_->pages[p].chunks[i] = meta;
    layout_->pages[p].dirty = true;
  }
  void InsertAfter(uint64_t k, const ListChunkMeta& meta) {
    auto [p, i] = Find(k);
    ListPageMeta& page = layout_->pages[p];
    page.chunks.insert(page.chunks.begin() + static_cast<ptrdiff_t>(i) + 1,
                       meta);
    page.count = page.chunks.size();
    page.dirty = true;
  }
  void Erase(uint64_t k) {
    auto [p, i] = Find(k);
    ListPageMeta& page = layout_->pages[p];
    page.chunks.erase(page.chunks.begin() + static_cast<ptrdiff_t>(i));
    page.count = page.chunks.size();
    page.dirty = true;
  }

 private:
  // (page, index in page) of chunk k; pages are few (chunks / kPageMax).
  std::pair<size_t, size_t> Find(uint64_t k) const {
    for (size_t p = 0; p < layout_->pages.size(); ++p) {
      const size_t n = layout_->pages[p].chunks.size();
      if (k < n) return {p, static_cast<size_t>(k)};
      k -= n;
    }
    return {layout_->pages.size() - 1, layout_->pages.back().chunks.size()};
  }
  ListLayout* layout_;
};

// The record changes of one store, applied only once it is accepted.
struct Changes {
  std::map<std::string, std::string> puts;
  std::vector<std::string> deletes;
  void Put(std::string key, std::string value) {
    puts[std::move(key)] = std::move(value);
  }
  void Delete(std::string key) {
    puts.erase(key);
    deletes.push_back(std::move(key));
  }
};

class Storer {
 public:
  Storer(uint64_t key_id, crdt::List* list, ListLayout* layout)
      : key_id_(key_id), list_(list), layout_(layout), chunks_(layout) {}

  // Re-encodes chunk k: cuts it when too big, merges it with a neighbour
  // when too small.
  void Chunk(uint64_t k) {
    crdt::ListChunkInfo info;
    std::string blob = crdt::EncodeChunk(*list_, k, &info);
    if (blob.size() > kListChunkMax && info.total > 1) {
      const uint64_t pieces = list_->SplitChunk(
          k, (blob.size() + kListChunkTarget - 1) / kListChunkTarget);
      if (pieces > 1) {
        for (uint64_t i = 1; i < pieces; ++i) {
          chunks_.InsertAfter(k + i - 1, ListChunkMeta{NewId(), 0, 0, 0});
        }
        for (uint64_t i = pieces; i-- > 0;) Chunk(k + i);
        return;
      }
    }
    if (blob.size() < kListChunkMin && chunks_.size() > 1) {
      const uint64_t j = k + 1 < chunks_.size() ? k + 1 : k - 1;
      if (chunks_.at(j).bytes + blob.size() <= kListChunkTarget) {
        const uint64_t lo = std::min(k, j);
        list_->MergeChunks(lo);
        changes.Delete(ListRecordKey(key_id_, 'c', chunks_.at(lo + 1).id));
        chunks_.Erase(lo + 1);
        blob = crdt::EncodeChunk(*list_, lo, &info);
        k = lo;
      }
    }
    const uint64_t id = chunks_.at(k).id;
    chunks_.Set(k, ListChunkMeta{id, info.total, info.visible, blob.size()});
    changes.Put(ListRecordKey(key_id_, 'c', id), std::move(blob));
  }

  // Starts over: every old record goes, every chunk is new.
  void Rebuild() {
    for (const ListPageMeta& page : layout_->pages) {
      changes.Delete(ListRecordKey(key_id_, 'p', page.id));
      for (const ListChunkMeta& c : page.chunks) {
        changes.Delete(ListRecordKey(key_id_, 'c', c.id));
      }
    }
    layout_->pages.clear();
    const uint64_t n = list_->chunk_count();
    if (n == 0) return;
    ListPageMeta page;
    page.id = NewId();
    page.dirty = true;
    for (uint64_t k = 0; k < n; ++k) {
      page.chunks.push_back(ListChunkMeta{NewId(), 0, 0, 0});
    }
    page.count = n;
    layout_->pages.push_back(std::move(page));
    for (uint64_t k = n; k-- > 0;) Chunk(k);
  }

  // Splits pages past kListPageMax, merges small ones, writes the changed
  // ones.
  void Pages() {
    std::vector<ListPageMeta>& pages = layout_->pages;
    for (size_t p = 0; p < pages.size(); ++p) {
      if (!pages[p].dirty) continue;
      while (pages[p].chunks.size() > kListPageMax) {
        ListPageMeta tail;
        tail.id = NewId();
        tail.dirty = true;
        const size_t keep = kListPageMax / 2;
        tail.chunks.assign(pages[p].chunks.begin() + keep,
                           pages[p].chunks.end());
        pages[p].chunks.resize(keep);
        pages.insert(pages.begin() + static_cast<ptrdiff_t>(p) + 1,
                     std::move(tail));
        ++p;
      }
    }
    for (size_t p = 0; p < pages.size();) {
      const bool small = pages[p].chunks.size() < kListPageMin;
      if (pages[p].dirty && (small || pages[p].chunks.empty()) &&
          pages.size() > 1) {
        const size_t q = p + 1 < pages.size() ? p + 1 : p - 1;
        if (pages[p].chunks.empty() ||
            pages[p].chunks.size() + pages[q].chunks.size() <= kListPageMax) {
          const size_t lo = std::min(p, q);
          ListPageMeta& keep = pages[lo];
          ListPageMeta& gone = pages[lo + 1];
          keep.chunks.insert(keep.chunks.end(), gone.chunks.begin(),
                             gone.chunks.end());
          keep.dirty = true;
          changes.Delete(ListRecordKey(key_id_, 'p', gone.id));
          pages.erase(pages.begin() + static_cast<ptrdiff_t>(lo) + 1);
          p = lo;
          continue;
        }
      }
      ++p;
    }
    if (pages.size() == 1 && pages[0].chunks.empty()) {
      changes.Delete(ListRecordKey(key_id_, 'p', pages[0].id));
      pages.clear();
    }
    for (ListPageMeta& page : pages) {
      if (!page.dirty) continue;
      Sum(&page);
      changes.Put(ListRecordKey(key_id_, 'p', page.id), EncodeListPage(page));
      page.dirty = false;
    }
  }

  void Held() {
    std::string held = crdt::EncodeHeld(*list_);
    if (held == layout_->held) return;
    if (held.empty()) {
      changes.Delete(ListRecordKey(key_id_, 'h', 0));
    } else {
      changes.Put(ListRecordKey(key_id_, 'h', 0), held);
    }
    layout_->held_bytes = held.size();
    layout_->held = std::move(held);
  }

  Changes changes;

 private:
  uint64_t NewId() { return layout_->next_id++; }

  uint64_t key_id_;
  crdt::List* list_;
  ListLayout* layout_;
  Chunks chunks_;
};

}  // namespace

uint64_t ListLayout::chunk_count() const {
  uint64_t n = 0;
  for (const ListPageMeta& p : pages) n += p.count;
  return n;
}

uint64_t ListLayout::bytes() const {
  uint64_t n = held_bytes;
  for (const ListPageMeta& p : pages) n += p.bytes;
  return n;
}

std::string ListRecordKey(uint64_t key_id, char kind, uint64_t id) {
  std::string out;
  storage::AppendU64(&out, key_id);
  out.push_back(kind);
  storage::AppendU64(&out, id);
  return out;
}

// [version][gen][next id][held bytes][pages] then per page
// [id][chunks][total][visible][bytes], all varints after the version byte.
std::string EncodeListTop(const ListLayout& layout) {
  std::string out(1, static_cast<char>(kListLayoutVersion));
  PutVarint(&out, layout.gen);
  PutVarint(&out, layout.next_id);
  PutVarint(&out, layout.held_bytes);
  PutVarint(&out, layout.pages.size());
  for (const ListPageMeta& p : layout.pages) {
    PutVarint(&out, p.id);
    PutVarint(&out, p.count);
    PutVarint(&out, p.total);
    PutVarint(&out, p.visible);
    PutVarint(&out, p.bytes);
  }
  return out;
}

Status DecodeListTop(std::string_view payload, ListLayout* out) {
  *out = ListLayout{};
  if (payload.empty()) return Status::OK();
  if (static_cast<uint8_t>(payload[0]) != kListLayoutVersion) {
    return Bad("unsupported layout version " +
               std::to_string(static_cast<uint8_t>(payload[0])));
  }
  size_t pos = 1;
  uint64_t n;
  if (!GetAll(payload, &pos,
              {&out->gen, &out->next_id, &out->held_bytes, &n})) {
    return Bad("top level truncated");
  }
  // A page entry takes at least five bytes.
  if (n > (payload.size() - pos) / 5) return Bad("page count exceeds bytes");
  out->pages.resize(n);
  for (ListPageMeta& p : out->pages) {
    if (!GetAll(payload, &pos,
                {&p.id, &p.count, &p.total, &p.visible, &p.bytes})) {
      return Bad("top level truncated");
    }
    if (p.id == 0 || p.id >= out->next_id || p.count == 0 ||
        p.visible > p.total || p.count > p.total) {
      return Bad("bad page entry");
    }
  }
  if (pos != payload.size()) return Bad("trailing bytes in the top level");
  return Status::OK();
}

std::string EncodeListPage(const ListPageMeta& page) {
  std::string out(1, static_cast<char>(kListLayoutVersion));
  PutVarint(&out, page.chunks.size());
  for (const ListChunkMeta& c : page.chunks) {
    PutVarint(&out, c.id);
    PutVarint(&out, c.total);
    PutVarint(&out, c.visible);
    PutVarint(&out, c.bytes);
  }
  return out;
}

Status DecodeListPage(std::string_view bytes, ListPageMeta* out) {
  out->chunks.clear();
  if (bytes.empty() || static_cast<uint8_t>(bytes[0]) != kListLayoutVersion) {
    return Bad("bad directory page version");
  }
  size_t pos = 1;
  uint64_t n;
  if (!GetVarint(bytes, &pos, &n)) return Bad("directory page truncated");
  if (n > (bytes.size() - pos) / 4) return Bad("chunk count exceeds bytes");
  out->chunks.resize(n);
  for (ListChunkMeta& c : out->chunks) {
    if (!GetAll(bytes, &pos, {&c.id, &c.total, &c.visible, &c.bytes})) {
      return Bad("directory page truncated");
    }
    if (c.id == 0 || c.total == 0 || c.visible > c.total || c.bytes == 0) {
      return Bad("bad chunk entry");
    }
  }
  if (pos != bytes.size()) return Bad("trailing bytes in a directory page");
  return Status::OK();
}

Status LoadStoredList(const storage::ReadTxn& txn, uint64_t key_id,
                      std::string_view payload, crdt::List* list,
                      ListLayout* layout) {
  DELTAKV_RETURN_IF_ERROR(DecodeListTop(payload, layout));
  std::vector<std::string_view> blobs;
  uint64_t total = 0, visible = 0;
  std::set<uint64_t> ids;  // every chunk and page id once
  for (ListPageMeta& page : layout->pages) {
    if (!ids.insert(page.id).second) return Bad("an id used twice");
    DELTAKV_RETURN_IF_ERROR(ReadPage(txn, key_id, layout->next_id, &page));
    for (const ListChunkMeta& c : page.chunks) {
      if (!ids.insert(c.id).second) return Bad("an id used twice");
      std::string_view blob;
      DELTAKV_RETURN_IF_ERROR(ReadChunk(txn, key_id, c, &blob));
      blobs.push_back(blob);
      total += c.total;
      visible += c.visible;
    }
  }
  std::string_view held;
  if (layout->held_bytes > 0) {
    Status s = txn.Get(Table::kRecords, ListRecordKey(key_id, 'h', 0), &held);
    if (s.IsNotFound()) return Bad("held record missing");
    DELTAKV_RETURN_IF_ERROR(s);
    if (held.size() != layout->held_bytes) return Bad("held size mismatch");
    layout->held.assign(held);
  }
  DELTAKV_RETURN_IF_ERROR(crdt::DecodeChunks(blobs, held, list));
  if (list->chunk_count() != blobs.size() || list->total_elements() != total ||
      list->size() != visible) {
    return Bad("the chunks do not match their directory");
  }
  return Status::OK();
}

Status ReadListState(const storage::ReadTxn& txn, uint64_t key_id,
                     std::string_view payload, std::string* blob) {
  blob->clear();
  if (payload.empty()) return Status::OK();
  crdt::List list;
  ListLayout layout;
  DELTAKV_RETURN_IF_ERROR(LoadStoredList(txn, key_id, payload, &list, &layout));
  *blob = crdt::Encode(list);
  return Status::OK();
}

Status ReadListValues(const storage::ReadTxn& txn, uint64_t key_id,
                      std::string_view payload, uint64_t offset, uint64_t limit,
                      uint64_t* length, std::vector<std::string>* values) {
  ListLayout layout;
  DELTAKV_RETURN_IF_ERROR(DecodeListTop(payload, &layout));
  *length = 0;
  for (const ListPageMeta& p : layout.pages) *length += p.visible;
  if (offset > *length) {
    return Status::InvalidArgument("offset " + std::to_string(offset) +
                                   " is past the end of the list (length " +
                                   std::to_string(*length) + ")");
  }
  uint64_t want =
      limit == 0 ? *length - offset : std::min(limit, *length - offset);
  values->clear();
  values->reserve(static_cast<size_t>(std::min<uint64_t>(want, 1 << 12)));
  uint64_t skip = offset;
  for (ListPageMeta& page : layout.pages) {
    if (want == 0) break;
    if (skip >= page.visible) {
      skip -= page.visible;
      continue;
    }
    DELTAKV_RETURN_IF_ERROR(ReadPage(txn, key_id, layout.next_id, &page));
    for (const ListChunkMeta& c : page.chunks) {
      if (want == 0) break;
      if (skip >= c.visible) {
        skip -= c.visible;
        continue;
      }
      std::string_view blob;
      DELTAKV_RETURN_IF_ERROR(ReadChunk(txn, key_id, c, &blob));
      const size_t before = values->size();
      DELTAKV_RETURN_IF_ERROR(crdt::ChunkValues(blob, skip, want, values));
      const uint64_t got = values->size() - before;
      if (got != std::min(want, c.visible - skip)) {
        return Bad("a chunk holds fewer values than its directory says");
      }
      want -= got;
      skip = 0;
    }
  }
  return Status::OK();
}

Status StoreList(storage::WriteTxn* txn, uint64_t key_id, crdt::List* list,
                 ListLayout* layout, uint64_t max_bytes, std::string* payload) {
  bool all = false;
  std::vector<uint64_t> touched = list->TakeTouched(&all);
  Storer storer(key_id, list, layout);
  if (all || layout->chunk_count() != list->chunk_count() ||
      (!touched.empty() && touched.back() >= list->chunk_count())) {
    storer.Rebuild();
  } else {
    // From the last, so that cutting a chunk does not move the ones left.
    for (auto it = touched.rbegin(); it != touched.rend(); ++it) {
      if (*it < layout->chunk_count()) storer.Chunk(*it);
    }
  }
  storer.Pages();
  storer.Held();
  if (max_bytes != 0 && layout->bytes() > max_bytes) {
    return Status::TooLarge(
        "the list would take " + std::to_string(layout->bytes()) +
        " bytes, over max_key_bytes (" + std::to_string(max_bytes) + ")");
  }
  for (const auto& [key, value] : storer.changes.puts) {
    DELTAKV_RETURN_IF_ERROR(txn->Put(Table::kRecords, key, value));
  }
  for (const std::string& key : storer.changes.deletes) {
    Status s = txn->Delete(Table::kRecords, key);
    if (!s.ok() && !s.IsNotFound()) return s;
  }
  ++layout->gen;
  *payload = EncodeListTop(*layout);
  return Status::OK();
}

Status MigrateLegacyLists(storage::WriteTxn* txn, uint64_t* lists) {
  *lists = 0;
  std::vector<std::pair<std::string, KeyHeader>> found;
  {
    DELTAKV_ASSIGN_OR_RETURN(storage::Cursor cur,
                             txn->OpenCursor(Table::kKeys));
    for (bool ok = cur.Seek(""); ok; ok = cur.Next()) {
      KeyHeader h;
      DELTAKV_RETURN_IF_ERROR(DecodeHeader(cur.key(), cur.value(), &h));
      if (h.type != crdt::CrdtType::kList) continue;
      found.emplace_back(std::string(cur.key()), std::move(h));
    }
    DELTAKV_RETURN_IF_ERROR(cur.status());
  }
  for (auto& [stored, h] : found) {
    std::string bytes;
    DELTAKV_RETURN_IF_ERROR(ReadListBytes(*txn, h.key_id, h.payload, &bytes));
    crdt::List list;
    if (!bytes.empty()) DELTAKV_RETURN_IF_ERROR(crdt::Decode(bytes, &list));
    // The old chunks go.
    size_t pos = 0;
    uint32_t n = 0;
    if (!h.payload.empty() && storage::ReadU32(h.payload, &pos, &n)) {
      for (uint32_t i = 0; i < n; ++i) {
        uint64_t hash;
        if (!storage::ReadU64(h.payload, &pos, &hash)) break;
        Status s = txn->Delete(Table::kRecords, ListChunkKey(h.key_id, hash));
        if (!s.ok() && !s.IsNotFound()) return s;
      }
    }
    list.TrackChunks(true);
    ListLayout layout;
    std::string payload;
    DELTAKV_RETURN_IF_ERROR(
        StoreList(txn, h.key_id, &list, &layout, 0, &payload));
    h.payload = std::move(payload);
    DELTAKV_RETURN_IF_ERROR(txn->Put(
        Table::kKeys, stored, EncodeHeader(h, storage::IsHashedForm(stored))));
    ++*lists;
  }
  return Status::OK();
}

}  // namespace deltakv::replication
