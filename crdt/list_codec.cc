// Encode/Decode of List. Body: [body_version, replicas, tree_runs,
// held_runs, runs, values, deletes]; see docs/list.md for every field.
#include "crdt/list_codec.h"

#include <algorithm>
#include <map>
#include <memory>
#include <vector>

#include "crdt/codec_internal.h"
#include "crdt/list_values.h"

namespace deltakv::crdt {

using codec_internal::Corrupt;
using codec_internal::GetArray;
using codec_internal::GetBytes;
using codec_internal::GetUint;
using list_internal::GetVarint;
using list_internal::ListRun;
using list_internal::NextValue;
using list_internal::PutVarint;
using list_internal::RunTree;
using list_internal::UnZigZag;
using list_internal::Utf8CodePointLength;
using list_internal::ZigZag;

namespace {

// Record flag bits (one byte per run record).
constexpr uint8_t kDeleted = 1 << 0;
constexpr uint8_t kText = 1 << 1;        // each value is one UTF-8 code point
constexpr int kLeftShift = 2;            // 2 bits: origin-left mode
constexpr int kRightShift = 4;           // 2 bits: origin-right mode
constexpr uint8_t kNewReplica = 1 << 6;  // replica index follows
constexpr uint8_t kNewCounter = 1 << 7;  // counter delta follows
// Origin modes.
constexpr uint8_t kOriginNone = 0;  // list start / end
constexpr uint8_t kOriginPrev = 1;  // left: (replica, counter - 1);
                                    // right: the previous record's right
constexpr uint8_t kOriginId = 2;    // replica index + counter delta follow

// A run as written: maybe several adjacent in-memory runs that continue
// each other.
struct Record {
  Dot id;
  uint64_t len = 0;
  Dot origin_left, origin_right;
  bool deleted = false;
  std::vector<std::string_view> values;  // value buffers, in order
};

bool IsText(const Record& r) {
  if (r.deleted) return false;
  for (std::string_view buf : r.values) {
    for (size_t pos = 0; pos < buf.size();) {
      std::string_view v = NextValue(buf, &pos);
      if (v.empty() || Utf8CodePointLength(v, 0) != v.size()) return false;
    }
  }
  return true;
}

class Writer {
 public:
  explicit Writer(const std::map<ReplicaId, uint64_t>& replicas)
      : replicas_(replicas) {}

  void Run(const Record& r) {
    const bool text = IsText(r);
    uint8_t flags = 0;
    if (r.deleted) flags |= kDeleted;
    if (text) flags |= kText;
    uint8_t left = kOriginId;
    if (r.origin_left.counter == 0) {
      left = kOriginNone;
    } else if (r.origin_left == Dot{r.id.replica, r.id.counter - 1}) {
      left = kOriginPrev;
    }
    uint8_t right = kOriginId;
    if (r.origin_right.counter == 0) {
      right = kOriginNone;
    } else if (r.origin_right == prev_right_) {
      right = kOriginPrev;
    }
    flags |= static_cast<uint8_t>(left << kLeftShift);
    flags |= static_cast<uint8_t>(right << kRightShift);
    if (!has_prev_ || r.id.replica != prev_replica_) flags |= kNewReplica;
    if (r.id.counter != prev_end_) flags |= kNewCounter;
    runs.push_back(static_cast<char>(flags));
    if (flags & kNewReplica) PutVarint(&runs, replicas_.at(r.id.replica));
    if (flags & kNewCounter) PutDelta(r.id.counter, prev_end_);
    PutVarint(&runs, r.len);
    if (left == kOriginId) PutOrigin(r.origin_left, r.id.counter);
    if (right == kOriginId) PutOrigin(r.origin_right, r.id.counter);
    for (std::string_view buf : r.values) {
      for (size_t pos = 0; pos < buf.size();) {
        std::string_view v = NextValue(buf, &pos);
        if (!text) PutVarint(&runs, v.size());
        values.append(v);
      }
    }
    has_prev_ = true;
    prev_replica_ = r.id.replica;
    prev_end_ = r.id.counter + r.len;
    prev_right_ = r.origin_right;
  }

  void Delete(ReplicaId replica, uint64_t start, uint64_t end) {
    PutVarint(&deletes, replicas_.at(replica));
    PutVarint(&deletes, ZigZag(static_cast<int64_t>(start) -
                               static_cast<int64_t>(prev_delete_end_)));
    PutVarint(&deletes, end - start);
    prev_delete_end_ = end;
  }

  std::string runs, values, deletes;

 private:
  void PutDelta(uint64_t value, uint64_t base) {
    PutVarint(&runs,
              ZigZag(static_cast<int64_t>(value) - static_cast<int64_t>(base)));
  }
  void PutOrigin(const Dot& origin, uint64_t counter) {
    PutVarint(&runs, replicas_.at(origin.replica));
    PutDelta(origin.counter, counter);
  }

  const std::map<ReplicaId, uint64_t>& replicas_;
  bool has_prev_ = false;
  ReplicaId prev_replica_;
  uint64_t prev_end_ = 0;
  Dot prev_right_;
  uint64_t prev_delete_end_ = 0;
};

}  // namespace

// Friend of List: reads and builds its private parts.
class ListCodec {
 public:
  // The blob of the runs from `first` (null: none) to the end of the
  // document, or only to the end of its chunk, plus the held runs and
  // deletes when `held`. Adds the element counts of the runs to *info.
  static std::string EncodeRuns(const List& list, ListRun* first,
                                bool one_chunk, bool held, ListChunkInfo* info);
  static Status Decode(const std::vector<std::string_view>& chunks,
                       std::string_view held, bool whole, List* out);
  static ListRun* ChunkStart(const List& list, uint64_t k) {
    return list.tree_.ChunkStart(k);
  }
  static ListRun* First(const List& list) { return list.tree_.First(); }
};

std::string ListCodec::EncodeRuns(const List& list, ListRun* first,
                                  bool one_chunk, bool held,
                                  ListChunkInfo* info) {
  const auto in_range = [&](const ListRun* r) {
    return r != nullptr && (r == first || !one_chunk || !r->starts_chunk);
  };
  // Replica table, sorted.
  std::map<ReplicaId, uint64_t> replicas;
  const auto note = [&](const Dot& d) {
    if (d.counter != 0) replicas.emplace(d.replica, 0);
  };
  for (ListRun* r = first; in_range(r); r = RunTree::Next(r)) {
    note(r->id);
    note(r->origin_left);
    note(r->origin_right);
    info->total += r->len;
    info->visible += r->visible();
  }
  if (held) {
    for (const auto& [id, run] : list.pending_) {
      note(id);
      note(run.origin_left);
      note(run.origin_right);
    }
    for (const auto& [replica, ranges] : list.pending_deletes_) {
      replicas.emplace(replica, 0);
    }
  }
  uint64_t next = 0;
  for (auto& [replica, index] : replicas) index = next++;

  Writer w(replicas);
  uint64_t tree_records = 0;
  Record rec;
  bool open = false;
  const ListRun* last = nullptr;
  for (ListRun* r = first; in_range(r); r = RunTree::Next(r)) {
    if (open && List::Continues(last, r)) {
      rec.len += r->len;
      rec.values.emplace_back(r->values);
    } else {
      if (open) {
        w.Run(rec);
        ++tree_records;
      }
      rec = Record{r->id,           r->len,     r->origin_left,
                   r->origin_right, r->deleted, {r->values}};
      open = true;
    }
    last = r;
  }
  if (open) {
    w.Run(rec);
    ++tree_records;
  }
  uint64_t held_records = 0;
  if (held) {
    for (const auto& [id, run] : list.pending_) {
      w.Run(Record{id,
                   run.len,
                   run.origin_left,
                   run.origin_right,
                   run.deleted,
                   {run.values}});
    }
    held_records = list.pending_.size();
    for (const auto& [replica, ranges] : list.pending_deletes_) {
      for (const auto& [start, end] : ranges) w.Delete(replica, start, end);
    }
  }

  msgpack::sbuffer buf;
  codec_internal::Packer pk(&buf);
  codec_internal::PackHeader(pk, CrdtType::kList);
  pk.pack_array(7);
  pk.pack_uint64(kListBodyVersion);
  pk.pack_array(static_cast<uint32_t>(replicas.size()));
  for (const auto& [replica, index] : replicas) pk.pack_uint64(replica.value());
  pk.pack_uint64(tree_records);
  pk.pack_uint64(held_records);
  codec_internal::PackBytes(pk, w.runs);
  codec_internal::PackBytes(pk, w.values);
  codec_internal::PackBytes(pk, w.deletes);
  return codec_internal::ToString(buf);
}

namespace {

// Reads run records and their values from the body's byte strings.
class Reader {
 public:
  Reader(const std::vector<ReplicaId>& replicas, std::string_view runs,
         std::string_view values)
      : replicas_(replicas), runs_(runs), values_(values) {}

  // One record; `buffer` receives its values in the in-memory format.
  Status Run(Record* r, std::string* buffer) {
    if (rpos_ >= runs_.size()) return Corrupt("list runs truncated");
    const uint8_t flags = static_cast<uint8_t>(runs_[rpos_++]);
    const uint8_t left = (flags >> kLeftShift) & 3;
    const uint8_t right = (flags >> kRightShift) & 3;
    if (left > kOriginId || right > kOriginId) {
      return Corrupt("list run: bad origin mode");
    }
    r->deleted = (flags & kDeleted) != 0;
    const bool text = (flags & kText) != 0;
    if (r->deleted && text) return Corrupt("list run: deleted text run");
    if (flags & kNewReplica) {
      DELTAKV_RETURN_IF_ERROR(Replica(&r->id.replica));
    } else if (!has_prev_) {
      return Corrupt("list run: first run names no replica");
    } else {
      r->id.replica = prev_replica_;
    }
    r->id.counter = prev_end_;
    if (flags & kNewCounter) {
      DELTAKV_RETURN_IF_ERROR(Counter(prev_end_, &r->id.counter));
    }
    if (r->id.counter == 0) return Corrupt("list run: counter 0");
    DELTAKV_RETURN_IF_ERROR(Varint(&r->len));
    if (r->len == 0 || r->len > List::kMaxCounter - r->id.counter) {
      return Corrupt("list run: bad length");
    }
    r->origin_left = Dot{};
    if (left == kOriginPrev) {
      if (r->id.counter < 2) return Corrupt("list run: no previous id");
      r->origin_left = Dot{r->id.replica, r->id.counter - 1};
    } else if (left == kOriginId) {
      DELTAKV_RETURN_IF_ERROR(Origin(r->id.counter, &r->origin_left));
    }
    r->origin_right = Dot{};
    if (right == kOriginPrev) {
      r->origin_right = prev_right_;
    } else if (right == kOriginId) {
      DELTAKV_RETURN_IF_ERROR(Origin(r->id.counter, &r->origin_right));
    }
    buffer->clear();
    if (!r->deleted) DELTAKV_RETURN_IF_ERROR(Values(*r, text, buffer));
    has_prev_ = true;
    prev_replica_ = r->id.replica;
    prev_end_ = r->id.counter + r->len;
    prev_right_ = r->origin_right;
    return Status::OK();
  }

  bool done() const { return rpos_ == runs_.size() && vpos_ == values_.size(); }

 private:
  Status Varint(uint64_t* out) {
    if (!GetVarint(runs_, &rpos_, out)) return Corrupt("list: bad varint");
    return Status::OK();
  }
  Status Replica(ReplicaId* out) {
    uint64_t i;
    DELTAKV_RETURN_IF_ERROR(Varint(&i));
    if (i >= replicas_.size()) return Corrupt("list: replica index");
    *out = replicas_[i];
    return Status::OK();
  }
  // base + a zigzag delta, which must land in [1, kMaxCounter).
  Status Counter(uint64_t base, uint64_t* out) {
    uint64_t z;
    DELTAKV_RETURN_IF_ERROR(Varint(&z));
    const int64_t delta = UnZigZag(z);
    constexpr auto kMax = static_cast<int64_t>(List::kMaxCounter);
    const auto b = static_cast<int64_t>(base);  // base <= kMaxCounter
    if (delta < 1 - b || delta >= kMax - b) {
      return Corrupt("list: counter out of range");
    }
    *out = static_cast<uint64_t>(b + delta);
    return Status::OK();
  }
  Status Origin(uint64_t counter, Dot* out) {
    DELTAKV_RETURN_IF_ERROR(Replica(&out->replica));
    return Counter(counter, &out->counter);
  }
  Status Values(const Record& r, bool text, std::string* buffer) {
    if (text) {
      // Every code point takes at least one byte.
      if (r.len > values_.size() - vpos_) return Corrupt("list: values");
      for (uint64_t i = 0; i < r.len; ++i) {
        const size_t n = Utf8CodePointLength(values_, vpos_);
        if (n == 0) return Corrupt("list: text run is not UTF-8");
        buffer->push_back(static_cast<char>(n));
        buffer->append(values_.substr(vpos_, n));
        vpos_ += n;
      }
      return Status::OK();
    }
    // Every length takes at least one byte of the runs.
    if (r.len > runs_.size() - rpos_) return Corrupt("list: value lengths");
    for (uint64_t i = 0; i < r.len; ++i) {
      uint64_t n;
      DELTAKV_RETURN_IF_ERROR(Varint(&n));
      if (n > values_.size() - vpos_) return Corrupt("list: value bytes");
      list_internal::AppendValue(buffer, values_.substr(vpos_, n));
      vpos_ += n;
    }
    return Status::OK();
  }

  const std::vector<ReplicaId>& replicas_;
  std::string_view runs_, values_;
  size_t rpos_ = 0, vpos_ = 0;
  bool has_prev_ = false;
  ReplicaId prev_replica_;
  uint64_t prev_end_ = 0;
  Dot prev_right_;
};

}  // namespace

namespace {

// The fields of one blob's body.
struct Body {
  std::vector<ReplicaId> replicas;
  uint64_t tree_count = 0, held_count = 0;
  std::string_view runs, values, deletes;
};

Status ReadBody(std::string_view bytes, codec_internal::Unpacked* u, Body* b) {
  DELTAKV_RETURN_IF_ERROR(codec_internal::Unpack(bytes, CrdtType::kList, u));
  const msgpack::object_array* body;
  DELTAKV_RETURN_IF_ERROR(GetArray(*u->body, "list body", &body));
  if (body->size != 7) return Corrupt("list body must have 7 fields");
  uint64_t version;
  DELTAKV_RETURN_IF_ERROR(GetUint(body->ptr[0], "list version", &version));
  if (version != kListBodyVersion) {
    return Corrupt("unsupported list version " + std::to_string(version));
  }
  const msgpack::object_array* table;
  DELTAKV_RETURN_IF_ERROR(GetArray(body->ptr[1], "list replicas", &table));
  b->replicas.reserve(table->size);
  for (uint32_t i = 0; i < table->size; ++i) {
    ReplicaId r;
    DELTAKV_RETURN_IF_ERROR(codec_internal::GetReplica(table->ptr[i], &r));
    if (!b->replicas.empty() && r <= b->replicas.back()) {
      return Corrupt("list replicas not increasing");
    }
    b->replicas.push_back(r);
  }
  DELTAKV_RETURN_IF_ERROR(GetUint(body->ptr[2], "list runs", &b->tree_count));
  DELTAKV_RETURN_IF_ERROR(GetUint(body->ptr[3], "list held", &b->held_count));
  DELTAKV_RETURN_IF_ERROR(GetBytes(body->ptr[4], "list runs", &b->runs));
  DELTAKV_RETURN_IF_ERROR(GetBytes(body->ptr[5], "list values", &b->values));
  DELTAKV_RETURN_IF_ERROR(GetBytes(body->ptr[6], "list deletes", &b->deletes));
  // A record takes at least two bytes (flags, length).
  const uint64_t max_records = b->runs.size() / 2;
  if (b->tree_count > max_records ||
      b->held_count > max_records - b->tree_count) {
    return Corrupt("list run counts exceed the bytes");
  }
  return Status::OK();
}

}  // namespace

// Decodes the blobs `chunks` (each a piece of the document, in order; the
// whole state when `whole`) and `held` (held runs and deletes; may be
// empty) into one state.
Status ListCodec::Decode(const std::vector<std::string_view>& chunks,
                         std::string_view held, bool whole, List* out) {
  List list;
  std::vector<std::unique_ptr<ListRun>> nodes;
  uint64_t position = 0;
  Record rec;
  std::string buffer;
  const size_t blobs = chunks.size() + (held.empty() ? 0 : 1);
  for (size_t blob = 0; blob < blobs; ++blob) {
    const bool is_held = blob == chunks.size();
    codec_internal::Unpacked u;
    Body b;
    DELTAKV_RETURN_IF_ERROR(ReadBody(is_held ? held : chunks[blob], &u, &b));
    if (!whole) {
      if (is_held && b.tree_count != 0) {
        return Corrupt("list held record holds document runs");
      }
      if (!is_held &&
          (b.tree_count == 0 || b.held_count != 0 || !b.deletes.empty())) {
        return Corrupt("list chunk without runs or with held ones");
      }
    }
    Reader reader(b.replicas, b.runs, b.values);
    for (uint64_t i = 0; i < b.tree_count + b.held_count; ++i) {
      DELTAKV_RETURN_IF_ERROR(reader.Run(&rec, &buffer));
      const Dot& id = rec.id;
      const uint64_t end = id.counter + rec.len;
      if (list.FindRun(id) != nullptr ||
          list.NextKnownStart(id.replica, id.counter) < end) {
        return Corrupt("list run ids overlap");
      }
      list.NoteCounter(id.replica, end - 1);
      if (i < b.tree_count) {
        auto node = std::make_unique<ListRun>();
        node->id = id;
        node->len = rec.len;
        node->origin_left = rec.origin_left;
        node->origin_right = rec.origin_right;
        node->deleted = rec.deleted;
        node->values = buffer;
        node->starts_chunk = i == 0;
        node->sub_all = position;  // until Assign: the raw position
        position += rec.len;
        if (position > List::kMaxCounter) return Corrupt("list too long");
        list.IndexRun(node.get());
        nodes.push_back(std::move(node));
        continue;
      }
      auto it = list.pending_.upper_bound(id);
      if ((it != list.pending_.end() && it->first.replica == id.replica &&
           it->first.counter < end) ||
          (it != list.pending_.begin() &&
           std::prev(it)->first.replica == id.replica &&
           std::prev(it)->first.counter + std::prev(it)->second.len >
               id.counter)) {
        return Corrupt("list held run ids overlap");
      }
      list.pending_.emplace(
          id, List::PendingRun{rec.len, rec.origin_left, rec.origin_right,
                               rec.deleted, buffer});
    }
    if (!reader.done()) return Corrupt("list: trailing run or value bytes");

    size_t dpos = 0;
    uint64_t prev_end = 0;
    while (dpos < b.deletes.size()) {
      uint64_t index, z, len;
      if (!GetVarint(b.deletes, &dpos, &index) ||
          !GetVarint(b.deletes, &dpos, &z) ||
          !GetVarint(b.deletes, &dpos, &len)) {
        return Corrupt("list deletes truncated");
      }
      if (index >= b.replicas.size()) return Corrupt("list delete: replica");
      const int64_t delta = UnZigZag(z);
      constexpr auto kMax = static_cast<int64_t>(List::kMaxCounter);
      const auto base = static_cast<int64_t>(prev_end);
      if (delta < 1 - base || delta >= kMax - base) {
        return Corrupt("list delete: counter out of range");
      }
      const auto start = static_cast<uint64_t>(base + delta);
      if (len == 0 || len > List::kMaxCounter - start) {
        return Corrupt("list delete: bad length");
      }
      list.AddPendingDelete(b.replicas[index], start, start + len);
      list.NoteCounter(b.replicas[index], start + len - 1);
      prev_end = start + len;
    }
  }

  // The document must be closed under origins, each on its side.
  for (const auto& node : nodes) {
    const uint64_t pos = node->sub_all;
    if (node->origin_left.counter != 0) {
      const ListRun* l = list.FindRun(node->origin_left);
      if (l == nullptr ||
          l->sub_all + (node->origin_left.counter - l->id.counter) >= pos) {
        return Corrupt("list run: left origin missing or misplaced");
      }
    }
    if (node->origin_right.counter != 0) {
      const ListRun* r = list.FindRun(node->origin_right);
      if (r == nullptr ||
          r->sub_all + (node->origin_right.counter - r->id.counter) <
              pos + node->len) {
        return Corrupt("list run: right origin missing or misplaced");
      }
    }
  }

  std::vector<ListRun*> order;
  order.reserve(nodes.size());
  for (auto& node : nodes) order.push_back(node.release());
  list.tree_.Assign(order);
  const uint64_t total = list.tree_.total(), visible = list.tree_.visible();
  const size_t held_runs = list.pending_.size();
  const size_t held_deletes = list.pending_delete_count();
  list.Settle();
  if (!whole &&
      (list.tree_.total() != total || list.tree_.visible() != visible ||
       list.pending_.size() != held_runs ||
       list.pending_delete_count() != held_deletes)) {
    // A store keeps its lists settled: what it holds cannot be placed.
    return Corrupt("list held record holds what is not held");
  }
  *out = std::move(list);
  return Status::OK();
}

std::string Encode(const List& list) {
  ListChunkInfo info;
  return ListCodec::EncodeRuns(list, ListCodec::First(list), false, true,
                               &info);
}

Status Decode(std::string_view bytes, List* out) {
  return ListCodec::Decode({bytes}, {}, true, out);
}

std::string EncodeChunk(const List& list, uint64_t k, ListChunkInfo* info) {
  *info = ListChunkInfo{};
  return ListCodec::EncodeRuns(list, ListCodec::ChunkStart(list, k), true,
                               false, info);
}

std::string EncodeHeld(const List& list) {
  if (!list.has_pending()) return {};
  ListChunkInfo info;
  return ListCodec::EncodeRuns(list, nullptr, false, true, &info);
}

Status DecodeChunks(const std::vector<std::string_view>& chunks,
                    std::string_view held, List* out) {
  return ListCodec::Decode(chunks, held, false, out);
}

Status ChunkValues(std::string_view chunk, uint64_t skip, uint64_t take,
                   std::vector<std::string>* out) {
  codec_internal::Unpacked u;
  Body b;
  DELTAKV_RETURN_IF_ERROR(ReadBody(chunk, &u, &b));
  if (b.held_count != 0 || !b.deletes.empty()) {
    return Corrupt("list chunk with held runs");
  }
  Reader reader(b.replicas, b.runs, b.values);
  Record rec;
  std::string buffer;
  for (uint64_t i = 0; i < b.tree_count && take > 0; ++i) {
    DELTAKV_RETURN_IF_ERROR(reader.Run(&rec, &buffer));
    if (rec.deleted) continue;
    if (skip >= rec.len) {
      skip -= rec.len;
      continue;
    }
    size_t pos = list_internal::ValueOffset(buffer, skip);
    skip = 0;
    while (pos < buffer.size() && take > 0) {
      out->emplace_back(NextValue(buffer, &pos));
      --take;
    }
  }
  return Status::OK();
}

}  // namespace deltakv::crdt
