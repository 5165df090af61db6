#include "replication/txn_apply.h"

#include <algorithm>
#include <set>

#include "crdt/list_codec.h"
#include "storage/keys.h"

namespace deltakv::replication {

using crdt::CrdtType;
using storage::Table;

namespace {

// A list delta that carries no run and no deleted range.
bool IsEmptyListDelta(const crdt::List& d) {
  return !d.has_pending() && d.total_elements() == 0;
}

}  // namespace

// ------------------------------------------------------------------ keys

Status TxnApply::Load(std::string_view key, Loaded* out) {
  if (key.empty() || key.size() > kMaxKeyBytes) {
    return Status::InvalidArgument("key must be 1 to " +
                                   std::to_string(kMaxKeyBytes) + " bytes");
  }
  out->hashed = storage::IsLongName(key);
  storage::NameSlot slot;
  DELTAKV_RETURN_IF_ERROR(Located(LocateKey(*txn_, key, &slot)));
  out->name_key = std::move(slot.key);
  if (!slot.found) {
    out->exists = false;
    out->header = KeyHeader();
    out->header.full_key.assign(key);
    return Status::OK();
  }
  DELTAKV_RETURN_IF_ERROR(
      DecodeHeader(out->name_key, slot.value, &out->header));
  out->exists = true;
  return Status::OK();
}

Status TxnApply::Located(Status s) {
  // Records that do not decode, and a name refused for want of a free slot,
  // are the operation's failure; anything else is LMDB's.
  if (s.ok() || s.code() == Code::kCorruption ||
      s.code() == Code::kInvalidArgument) {
    return s;
  }
  return Check(std::move(s));
}

Status TxnApply::CheckType(const Loaded& k, CrdtType type) const {
  if (k.exists && k.header.type != type) {
    return Status::WrongType(
        "key holds a " + std::string(crdt::CrdtTypeName(k.header.type)) +
        ", not a " + std::string(crdt::CrdtTypeName(type)));
  }
  return Status::OK();
}

void TxnApply::Init(Loaded* k, CrdtType type) {
  if (k->exists) return;
  k->header.type = type;
  k->header.key_id = (*next_key_id_)++;
  k->exists = true;
}

Status TxnApply::StoreHeader(const Loaded& k) {
  return Check(
      txn_->Put(Table::kKeys, k.name_key, EncodeHeader(k.header, k.hashed)));
}

Result<OpResult> TxnApply::Local(const Op& op, std::string* delta,
                                 CrdtType* type) {
  delta->clear();
  Loaded k;
  DELTAKV_RETURN_IF_ERROR(Load(op.key, &k));
  switch (op.kind) {
    case OpKind::kCounterIncrement:
      *type = CrdtType::kCounter;
      return Counter(k, op, delta);
    case OpKind::kRegisterSet:
      *type = CrdtType::kRegister;
      return Register(k, op, delta);
    case OpKind::kSetAdd:
    case OpKind::kSetRemove:
      *type = CrdtType::kSet;
      return SetOp(k, op, delta);
    case OpKind::kDelete:
      *type = k.header.type;
      return Delete(k, delta);
    case OpKind::kListInsert:
    case OpKind::kListDelete:
    case OpKind::kListPush:
      *type = CrdtType::kList;
      return ListOp(k, op, delta);
  }
  return Status::InvalidArgument("unknown operation");
}

// --------------------------------------------------------------- counter

Result<OpResult> TxnApply::Counter(Loaded& k, const Op& op,
                                   std::string* delta) {
  DELTAKV_RETURN_IF_ERROR(CheckType(k, CrdtType::kCounter));
  crdt::PNCounter state;
  if (k.exists) DELTAKV_RETURN_IF_ERROR(crdt::Decode(k.header.payload, &state));
  DELTAKV_ASSIGN_OR_RETURN(crdt::PNCounter d, state.Increment(replica_, op.by));
  auto value = state.Value();
  OpResult r;
  r.value = value.value_or(0);
  // Adding 0 changes nothing: it neither creates the key nor logs a delta.
  if (d.empty()) return r;
  Init(&k, CrdtType::kCounter);
  k.header.payload = crdt::Encode(state);
  k.header.live = state.live();
  DELTAKV_RETURN_IF_ERROR(StoreHeader(k));
  *delta = crdt::Encode(d);
  return r;
}

// -------------------------------------------------------------- register

Result<OpResult> TxnApply::Register(Loaded& k, const Op& op,
                                    std::string* delta) {
  DELTAKV_RETURN_IF_ERROR(CheckType(k, CrdtType::kRegister));
  if (op.value.size() > options_.max_value_bytes) {
    return Status::TooLarge("value of " + std::to_string(op.value.size()) +
                            " bytes exceeds max_value_bytes (" +
                            std::to_string(options_.max_value_bytes) + ")");
  }
  // The write supersedes every write seen here: the key holds its value.
  if (options_.max_key_bytes != 0 && op.value.size() > options_.max_key_bytes) {
    return Status::TooLarge("value of " + std::to_string(op.value.size()) +
                            " bytes exceeds max_key_bytes (" +
                            std::to_string(options_.max_key_bytes) + ")");
  }
  crdt::ORRegister state;
  if (k.exists) DELTAKV_RETURN_IF_ERROR(crdt::Decode(k.header.payload, &state));
  // The write supersedes every write this region has seen of the key.
  crdt::ORRegister d =
      state.Set(clock_->Now(), replica_,
                EncodeRegisterValue(true, options_.region, op.value));
  Init(&k, CrdtType::kRegister);
  k.header.payload = crdt::Encode(state);
  k.header.live = true;
  DELTAKV_RETURN_IF_ERROR(StoreHeader(k));
  *delta = crdt::Encode(d);
  return OpResult{};
}

// ------------------------------------------------------------------- set

Status TxnApply::LoadMember(const Loaded& k, std::string_view member,
                            crdt::AWORSet* partial, MemberDots* before) {
  if (before->count(member)) return Status::OK();
  storage::NameSlot slot;
  DELTAKV_RETURN_IF_ERROR(
      Located(LocateMember(*txn_, k.header.key_id, member, &slot)));
  std::vector<Dot> dots;
  if (slot.found) {
    std::string full;
    DELTAKV_RETURN_IF_ERROR(DecodeMember(std::string_view(slot.key).substr(8),
                                         slot.value, &full, &dots));
    for (const Dot& d : dots) partial->InsertDotUnchecked(member, d);
  }
  before->emplace(std::string(member), std::move(dots));
  return Status::OK();
}

Status TxnApply::LoadSet(const Loaded& k,
                         const std::vector<std::string>& members,
                         const crdt::CausalContext* cover,
                         crdt::AWORSet* partial, MemberDots* before) {
  if (k.exists && !k.header.payload.empty()) {
    DELTAKV_RETURN_IF_ERROR(
        crdt::DecodeContext(k.header.payload, &partial->mutable_context()));
  }
  if (!k.exists) return Status::OK();
  for (const std::string& m : members) {
    DELTAKV_RETURN_IF_ERROR(LoadMember(k, m, partial, before));
  }
  if (cover == nullptr) return Status::OK();
  // Members holding a dot the cover contains: range scans of the dot index.
  auto load_by_index = [&](std::string_view index_value) -> Status {
    std::string_view bytes;
    std::string record_key = MemberRecordKey(k.header.key_id, index_value);
    Status got = Check(txn_->Get(Table::kRecords, record_key, &bytes));
    if (got.IsNotFound()) {
      return Status::Corruption(
          "storage record: dot index names a member "
          "record that does not exist");
    }
    DELTAKV_RETURN_IF_ERROR(got);
    std::string member;
    std::vector<Dot> dots;
    DELTAKV_RETURN_IF_ERROR(DecodeMember(index_value, bytes, &member, &dots));
    return LoadMember(k, member, partial, before);
  };
  DELTAKV_ASSIGN_OR_RETURN(storage::Cursor cur,
                           txn_->OpenCursor(Table::kIndex));
  std::vector<std::string> found;  // index values; load after the scan
  for (const auto& [replica, n] : cover->version_vector()) {
    std::string end = DotIndexKey(k.header.key_id, Dot{replica, n});
    for (bool ok = cur.Seek(DotIndexKey(k.header.key_id, Dot{replica, 1}));
         ok && cur.key() <= end; ok = cur.Next()) {
      found.emplace_back(cur.value());
    }
    DELTAKV_RETURN_IF_ERROR(Check(cur.status()));
  }
  for (const Dot& d : cover->dot_cloud()) {
    std::string_view v;
    Status s =
        Check(txn_->Get(Table::kIndex, DotIndexKey(k.header.key_id, d), &v));
    if (s.ok())
      found.emplace_back(v);
    else if (!s.IsNotFound())
      return s;
  }
  for (const std::string& name : found) {
    DELTAKV_RETURN_IF_ERROR(load_by_index(name));
  }
  return Status::OK();
}

Status TxnApply::LoadAllMembers(const Loaded& k, crdt::AWORSet* partial,
                                MemberDots* before) {
  std::string prefix = MemberRecordKey(k.header.key_id, "");
  DELTAKV_ASSIGN_OR_RETURN(storage::Cursor cur,
                           txn_->OpenCursor(Table::kRecords));
  for (bool ok = cur.Seek(prefix); ok && cur.key().starts_with(prefix);
       ok = cur.Next()) {
    std::string member;
    std::vector<Dot> dots;
    DELTAKV_RETURN_IF_ERROR(DecodeMember(cur.key().substr(prefix.size()),
                                         cur.value(), &member, &dots));
    for (const Dot& d : dots) partial->InsertDotUnchecked(member, d);
    before->emplace(std::move(member), std::move(dots));
  }
  return Check(cur.status());
}

Result<std::optional<uint64_t>> TxnApply::StoredSetBytes(const Loaded& k) {
  using Known = std::optional<uint64_t>;
  if (!k.exists || k.header.count == 0) return Known(0);
  std::string_view v;
  Status s = Check(txn_->Get(Table::kIndex, SetBytesKey(k.header.key_id), &v));
  if (s.IsNotFound()) return Known();
  DELTAKV_RETURN_IF_ERROR(s);
  uint64_t bytes = 0, count = 0;
  if (!DecodeSetBytes(v, &bytes, &count) || count != k.header.count) {
    return Known();  // stale: counted again when needed
  }
  return Known(bytes);
}

Result<uint64_t> TxnApply::CountSetBytes(const Loaded& k) {
  std::string prefix = MemberRecordKey(k.header.key_id, "");
  DELTAKV_ASSIGN_OR_RETURN(storage::Cursor cur,
                           txn_->OpenCursor(Table::kRecords));
  uint64_t bytes = 0;
  std::string member;
  std::vector<Dot> dots;
  for (bool ok = cur.Seek(prefix); ok && cur.key().starts_with(prefix);
       ok = cur.Next()) {
    DELTAKV_RETURN_IF_ERROR(DecodeMember(cur.key().substr(prefix.size()),
                                         cur.value(), &member, &dots));
    bytes += member.size();
  }
  DELTAKV_RETURN_IF_ERROR(Check(cur.status()));
  return bytes;
}

Status TxnApply::CheckSetCaps(const Loaded& k, const Op& op,
                              const MemberDots& before,
                              std::optional<uint64_t>* bytes) {
  const uint64_t max_members = options_.max_set_members;
  const uint64_t max_bytes = options_.max_key_bytes;
  if (max_members == 0 && max_bytes == 0) return Status::OK();
  // The members the add makes present (each once).
  std::set<std::string_view> added;
  uint64_t added_bytes = 0;
  for (const std::string& m : op.members) {
    auto it = before.find(m);
    if (it != before.end() && !it->second.empty()) continue;
    if (added.insert(m).second) added_bytes += m.size();
  }
  if (added.empty()) return Status::OK();  // the set does not grow
  const uint64_t count = k.exists ? k.header.count : 0;
  if (max_members != 0 && count + added.size() > max_members) {
    return Status::TooLarge(
        "the set would hold " + std::to_string(count + added.size()) +
        " members, over max_set_members (" + std::to_string(max_members) + ")");
  }
  if (max_bytes == 0) return Status::OK();
  DELTAKV_ASSIGN_OR_RETURN(*bytes, StoredSetBytes(k));
  if (!*bytes) {
    DELTAKV_ASSIGN_OR_RETURN(uint64_t counted, CountSetBytes(k));
    *bytes = counted;
  }
  if (**bytes + added_bytes > max_bytes) {
    return Status::TooLarge("the set's members would take " +
                            std::to_string(**bytes + added_bytes) +
                            " bytes, over max_key_bytes (" +
                            std::to_string(max_bytes) + ")");
  }
  return Status::OK();
}

Status TxnApply::PersistSet(Loaded& k, const MemberDots& before,
                            const crdt::AWORSet& after,
                            std::optional<uint64_t> bytes) {
  static const std::vector<Dot> kNone;
  const uint64_t kid = k.header.key_id;
  if (!bytes) {
    DELTAKV_ASSIGN_OR_RETURN(bytes, StoredSetBytes(k));
  }
  // The members whose dots change, with where their records are (or go).
  // Every record key is found before anything is written, so a name that
  // cannot be stored fails the operation with nothing written.
  struct Change {
    const std::string* member;
    const std::vector<Dot>* old_dots;
    const std::vector<Dot>* new_dots;
    std::string record_key;
  };
  std::vector<Change> changes;
  for (const auto& [member, old_dots] : before) {
    auto it = after.entries().find(member);
    const std::vector<Dot>* now =
        it == after.entries().end() ? &kNone : &it->second;
    if (*now != old_dots) changes.push_back({&member, &old_dots, now, {}});
  }
  for (const auto& [member, dots] : after.entries()) {
    if (!before.count(member)) {
      changes.push_back({&member, &kNone, &dots, {}});
    }
  }
  std::set<std::string, std::less<>> claimed;  // new long-name records
  for (Change& c : changes) {
    if (!storage::IsLongName(*c.member)) {
      c.record_key = MemberRecordKey(kid, *c.member);
      continue;
    }
    storage::NameSlot slot;
    DELTAKV_RETURN_IF_ERROR(
        Located(LocateMember(*txn_, kid, *c.member, &slot, &claimed)));
    if (!slot.found) claimed.insert(slot.key);
    c.record_key = std::move(slot.key);
  }
  for (const Change& c : changes) {
    const std::vector<Dot>& old_dots = *c.old_dots;
    const std::vector<Dot>& now = *c.new_dots;
    const std::string_view stored_name =
        std::string_view(c.record_key).substr(8);
    for (const Dot& d : old_dots) {
      if (!std::binary_search(now.begin(), now.end(), d)) {
        DELTAKV_RETURN_IF_ERROR(
            Check(txn_->Delete(Table::kIndex, DotIndexKey(kid, d))));
      }
    }
    for (const Dot& d : now) {
      if (!std::binary_search(old_dots.begin(), old_dots.end(), d)) {
        DELTAKV_RETURN_IF_ERROR(
            Check(txn_->Put(Table::kIndex, DotIndexKey(kid, d), stored_name)));
      }
    }
    if (now.empty()) {
      if (k.header.count > 0) --k.header.count;
      if (bytes) *bytes -= std::min<uint64_t>(*bytes, c.member->size());
      DELTAKV_RETURN_IF_ERROR(
          Check(txn_->Delete(Table::kRecords, c.record_key)));
      continue;
    }
    if (old_dots.empty()) {
      ++k.header.count;
      if (bytes) *bytes += c.member->size();
    }
    DELTAKV_RETURN_IF_ERROR(Check(txn_->Put(Table::kRecords, c.record_key,
                                            EncodeMember(*c.member, now))));
  }
  // The member bytes follow the change when they were known; otherwise a
  // stale record goes (they are counted again when a cap needs them).
  if (bytes) {
    DELTAKV_RETURN_IF_ERROR(
        Check(txn_->Put(Table::kIndex, SetBytesKey(kid),
                        EncodeSetBytes(*bytes, k.header.count))));
  } else {
    DELTAKV_RETURN_IF_ERROR(
        Check(txn_->Delete(Table::kIndex, SetBytesKey(kid))));
  }
  k.header.payload = crdt::EncodeContext(after.context());
  k.header.live = k.header.count > 0;
  return StoreHeader(k);
}

Result<OpResult> TxnApply::SetOp(Loaded& k, const Op& op, std::string* delta) {
  DELTAKV_RETURN_IF_ERROR(CheckType(k, CrdtType::kSet));
  if (op.members.empty()) {
    return Status::InvalidArgument("members must not be empty");
  }
  for (const std::string& m : op.members) {
    if (m.size() > options_.max_value_bytes) {
      return Status::TooLarge("member of " + std::to_string(m.size()) +
                              " bytes exceeds max_value_bytes");
    }
  }
  const bool add = op.kind == OpKind::kSetAdd;
  if (!add && !k.exists) return OpResult{};
  const uint64_t count_before = k.exists ? k.header.count : 0;
  crdt::AWORSet partial;
  MemberDots before;
  DELTAKV_RETURN_IF_ERROR(LoadSet(k, op.members, nullptr, &partial, &before));
  std::optional<uint64_t> bytes;
  if (add) DELTAKV_RETURN_IF_ERROR(CheckSetCaps(k, op, before, &bytes));
  crdt::AWORSet d;
  for (const std::string& m : op.members) {
    d.Join(add ? partial.Add(replica_, m) : partial.Remove(m));
  }
  OpResult r;
  if (d.context().empty()) {
    r.size = k.header.count;
    return r;
  }
  Init(&k, CrdtType::kSet);
  DELTAKV_RETURN_IF_ERROR(PersistSet(k, before, partial, bytes));
  r.size = k.header.count;
  r.changed = add ? r.size - std::min(r.size, count_before)
                  : count_before - std::min(r.size, count_before);
  *delta = crdt::Encode(d);
  return r;
}

// ---------------------------------------------------------------- delete

Result<OpResult> TxnApply::Delete(Loaded& k, std::string* delta) {
  OpResult r;
  if (!k.exists) return r;
  r.deleted = k.header.live;
  switch (k.header.type) {
    case CrdtType::kCounter: {
      // Not live: every entry is at its floor already; a reset would change
      // nothing.
      if (!k.header.live) return r;
      crdt::PNCounter state;
      DELTAKV_RETURN_IF_ERROR(crdt::Decode(k.header.payload, &state));
      crdt::PNCounter d = state.Reset();
      if (d.empty()) return r;
      k.header.payload = crdt::Encode(state);
      k.header.live = state.live();
      DELTAKV_RETURN_IF_ERROR(StoreHeader(k));
      *delta = crdt::Encode(d);
      return r;
    }
    case CrdtType::kRegister: {
      if (!k.header.live) return r;
      // Observed remove: the delta names the writes this region has seen;
      // a concurrent write elsewhere survives it.
      crdt::ORRegister state;
      DELTAKV_RETURN_IF_ERROR(crdt::Decode(k.header.payload, &state));
      crdt::ORRegister d = state.Clear();
      k.header.payload = crdt::Encode(state);
      k.header.live = false;
      DELTAKV_RETURN_IF_ERROR(StoreHeader(k));
      *delta = crdt::Encode(d);
      return r;
    }
    case CrdtType::kSet: {
      if (!k.header.live) return r;
      crdt::AWORSet partial;
      MemberDots before;
      DELTAKV_RETURN_IF_ERROR(LoadSet(k, {}, nullptr, &partial, &before));
      DELTAKV_RETURN_IF_ERROR(LoadAllMembers(k, &partial, &before));
      crdt::AWORSet d = partial.Clear();
      DELTAKV_RETURN_IF_ERROR(PersistSet(k, before, partial));
      *delta = crdt::Encode(d);
      return r;
    }
    case CrdtType::kList: {
      // Runs held for a missing origin are not visible (the key may not be
      // live) but have been seen here: the delete covers them too, so they
      // do not appear when their origin arrives.
      DELTAKV_ASSIGN_OR_RETURN(crdt::List * list, LoadList(k));
      crdt::List d = list->Clear();
      if (IsEmptyListDelta(d)) return r;
      DELTAKV_RETURN_IF_ERROR(StoreList(k));
      *delta = crdt::Encode(d);
      return r;
    }
    default:
      return Status::InvalidArgument("delete of this type is not supported");
  }
}

// ------------------------------------------------------------------ list

ListCache::Entry* ListCache::Find(uint64_t id) {
  auto it = entries.find(id);
  if (it == entries.end()) return nullptr;
  lru.splice(lru.begin(), lru, it->second.used);
  return &it->second;
}

ListCache::Entry* ListCache::Put(uint64_t id, std::string directory,
                                 crdt::List list, ListLayout layout) {
  Erase(id);
  lru.push_front(id);
  Entry& e = entries[id];
  e.directory = std::move(directory);
  e.list = std::move(list);
  e.list.TrackChunks(true);
  e.layout = std::move(layout);
  e.used = lru.begin();
  e.bytes = e.layout.bytes() * kMemoryFactor + kEntryOverhead;
  bytes_ += e.bytes;
  EvictBut(id);
  return &e;
}

void ListCache::Resize(uint64_t id, size_t encoded_bytes) {
  auto it = entries.find(id);
  if (it == entries.end()) return;
  bytes_ -= it->second.bytes;
  it->second.bytes = encoded_bytes * kMemoryFactor + kEntryOverhead;
  bytes_ += it->second.bytes;
  EvictBut(id);
}

void ListCache::Erase(uint64_t id) {
  auto it = entries.find(id);
  if (it == entries.end()) return;
  bytes_ -= it->second.bytes;
  lru.erase(it->second.used);
  entries.erase(it);
}

void ListCache::Clear() {
  entries.clear();
  lru.clear();
  bytes_ = 0;
}

void ListCache::EvictBut(uint64_t keep) {
  while (bytes_ > max_bytes && !lru.empty() && lru.back() != keep) {
    Erase(lru.back());
    ++evictions;
  }
}

Result<crdt::List*> TxnApply::LoadList(const Loaded& k) {
  ListCache::Entry* cached = list_cache_->Find(k.header.key_id);
  if (cached != nullptr && cached->directory == k.header.payload) {
    ++list_cache_->hits;
    return &cached->list;
  }
  ++list_cache_->misses;
  crdt::List list;
  ListLayout layout;
  const std::string& dir = k.header.payload;
  if (k.exists && !dir.empty()) {
    DELTAKV_RETURN_IF_ERROR(
        Check(LoadStoredList(*txn_, k.header.key_id, dir, &list, &layout)));
  }
  return &list_cache_
              ->Put(k.header.key_id, dir, std::move(list), std::move(layout))
              ->list;
}

Status TxnApply::StoreList(Loaded& k, uint64_t max_bytes) {
  ListCache::Entry* e = list_cache_->Find(k.header.key_id);
  if (e == nullptr) return Status::Corruption("list not loaded");
  std::string payload;
  Status s = replication::StoreList(txn_, k.header.key_id, &e->list, &e->layout,
                                    max_bytes, &payload);
  if (!s.ok()) {
    // The cached list holds the refused edit: drop it, so the next edit
    // reads what the transaction holds.
    list_cache_->Erase(k.header.key_id);
    return s.code() == Code::kTooLarge ? s : Check(s);
  }
  const uint64_t size = e->list.size();
  e->directory = payload;
  list_cache_->Resize(k.header.key_id, e->layout.bytes());
  k.header.payload = std::move(payload);
  k.header.count = size;
  k.header.live = size > 0;
  return StoreHeader(k);
}

Result<OpResult> TxnApply::ListOp(Loaded& k, const Op& op, std::string* delta) {
  DELTAKV_RETURN_IF_ERROR(CheckType(k, CrdtType::kList));
  for (const std::string& v : op.members) {
    if (v.size() > options_.max_value_bytes) {
      return Status::TooLarge("list value of " + std::to_string(v.size()) +
                              " bytes exceeds max_value_bytes");
    }
  }
  if (op.kind != OpKind::kListDelete && op.members.empty()) {
    return Status::InvalidArgument("values must not be empty");
  }
  Init(&k, CrdtType::kList);
  DELTAKV_ASSIGN_OR_RETURN(crdt::List * list, LoadList(k));
  const bool grows = op.kind != OpKind::kListDelete;
  if (grows && options_.max_list_length != 0 &&
      list->size() + op.members.size() > options_.max_list_length) {
    return Status::TooLarge("the list would hold " +
                            std::to_string(list->size() + op.members.size()) +
                            " values, over max_list_length (" +
                            std::to_string(options_.max_list_length) + ")");
  }
  Result<crdt::List> d = Status::InvalidArgument("unknown list operation");
  switch (op.kind) {
    case OpKind::kListInsert:
      d = list->Insert(replica_, op.index, op.members);
      break;
    case OpKind::kListDelete:
      d = list->Delete(op.index, op.count);
      break;
    default:
      d = op.front ? list->PushFront(replica_, op.members)
                   : list->PushBack(replica_, op.members);
  }
  if (!d.ok()) {
    // The list is unchanged; a key created by this failed op is not stored.
    return d.status();
  }
  OpResult r;
  r.size = list->size();
  // Deleting nothing changes nothing: it neither creates the key nor logs.
  if (IsEmptyListDelta(*d)) return r;
  DELTAKV_RETURN_IF_ERROR(StoreList(k, grows ? options_.max_key_bytes : 0));
  *delta = crdt::Encode(*d);
  return r;
}

// ---------------------------------------------------------------- remote

Status TxnApply::Remote(const std::string& key, CrdtType type,
                        std::string_view delta) {
  Loaded k;
  DELTAKV_RETURN_IF_ERROR(Load(key, &k));
  DELTAKV_RETURN_IF_ERROR(CheckType(k, type));
  switch (type) {
    case CrdtType::kCounter: {
      crdt::PNCounter d, state;
      DELTAKV_RETURN_IF_ERROR(crdt::Decode(delta, &d));
      if (k.exists) {
        DELTAKV_RETURN_IF_ERROR(crdt::Decode(k.header.payload, &state));
      }
      state.Join(d);
      Init(&k, type);
      k.header.payload = crdt::Encode(state);
      k.header.live = state.live();
      return StoreHeader(k);
    }
    case CrdtType::kRegister: {
      crdt::ORRegister d, state;
      DELTAKV_RETURN_IF_ERROR(crdt::Decode(delta, &d));
      DELTAKV_RETURN_IF_ERROR(CheckRegisterValues(d));
      if (!d.MaxTimestamp().is_zero()) {
        (void)clock_->Update(d.MaxTimestamp());  // a later local write wins
      }
      if (k.exists) {
        DELTAKV_RETURN_IF_ERROR(crdt::Decode(k.header.payload, &state));
      }
      state.Join(d);
      Init(&k, type);
      k.header.payload = crdt::Encode(state);
      k.header.live = RegisterWinner(state).has_value();
      return StoreHeader(k);
    }
    case CrdtType::kSet: {
      crdt::AWORSet d;
      DELTAKV_RETURN_IF_ERROR(crdt::Decode(delta, &d));
      Init(&k, type);
      crdt::AWORSet partial;
      MemberDots before;
      std::vector<std::string> members;
      for (const auto& entry : d.entries()) members.push_back(entry.first);
      DELTAKV_RETURN_IF_ERROR(
          LoadSet(k, members, &d.context(), &partial, &before));
      partial.Join(d);
      return PersistSet(k, before, partial);
    }
    case CrdtType::kList: {
      crdt::List d;
      DELTAKV_RETURN_IF_ERROR(crdt::Decode(delta, &d));
      Init(&k, type);
      DELTAKV_ASSIGN_OR_RETURN(crdt::List * list, LoadList(k));
      list->Join(std::move(d));
      return StoreList(k);
    }
    default:
      return Status::InvalidArgument(
          "remote deltas of this type are not supported yet");
  }
}

}  // namespace deltakv::replication
