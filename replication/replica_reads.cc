// The read side of Replica: each call runs in its own LMDB read transaction
// and never waits for the writer.
#include "crdt/list_codec.h"
#include "replication/list_store.h"
#include "replication/records.h"
#include "replication/replica.h"
#include "storage/keys.h"

namespace deltakv::replication {

using crdt::CrdtType;
using storage::Table;

namespace {

Status ValidKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyBytes) {
    return Status::InvalidArgument("key must be 1 to " +
                                   std::to_string(kMaxKeyBytes) + " bytes");
  }
  return Status::OK();
}

// Loads the header of a live key of `type`. NotFound / WrongType otherwise.
Status LoadLive(const storage::ReadTxn& txn, std::string_view key,
                std::optional<CrdtType> type, KeyHeader* h) {
  DELTAKV_RETURN_IF_ERROR(ValidKey(key));
  storage::NameSlot slot;
  DELTAKV_RETURN_IF_ERROR(LocateKey(txn, key, &slot));
  if (!slot.found) return Status::NotFound("key not found");
  DELTAKV_RETURN_IF_ERROR(DecodeHeader(slot.key, slot.value, h));
  if (type && h->type != *type) {
    return Status::WrongType(
        "key holds a " + std::string(crdt::CrdtTypeName(h->type)) + ", not a " +
        std::string(crdt::CrdtTypeName(*type)));
  }
  if (!h->live) return Status::NotFound("key not found");
  return Status::OK();
}

// The full state of the key whose header is `h`, as a snapshot sends it.
// *has_state is false for a key with nothing to send (an empty list, an
// unknown type).
Status StateOf(const storage::ReadTxn& txn, const KeyHeader& h,
               LoggedDelta* out, bool* has_state) {
  LoggedDelta& e = *out;
  *has_state = false;
  e.key = h.full_key;
  e.type = h.type;
  switch (h.type) {
    case CrdtType::kCounter:
    case CrdtType::kRegister:
      e.delta = h.payload;
      break;
    case CrdtType::kSet: {
      crdt::AWORSet set;
      if (!h.payload.empty()) {
        DELTAKV_RETURN_IF_ERROR(
            crdt::DecodeContext(h.payload, &set.mutable_context()));
      }
      std::string prefix = MemberRecordKey(h.key_id, "");
      DELTAKV_ASSIGN_OR_RETURN(storage::Cursor mc,
                               txn.OpenCursor(Table::kRecords));
      std::vector<Dot> dots;
      for (bool m = mc.Seek(prefix); m && mc.key().starts_with(prefix);
           m = mc.Next()) {
        std::string member;
        DELTAKV_RETURN_IF_ERROR(DecodeMember(mc.key().substr(prefix.size()),
                                             mc.value(), &member, &dots));
        for (const Dot& d : dots) set.InsertDotUnchecked(member, d);
      }
      DELTAKV_RETURN_IF_ERROR(mc.status());
      e.delta = crdt::Encode(set);
      break;
    }
    case CrdtType::kList:
      DELTAKV_RETURN_IF_ERROR(
          ReadListState(txn, h.key_id, h.payload, &e.delta));
      if (e.delta.empty()) return Status::OK();
      break;
    default:
      return Status::OK();
  }
  *has_state = true;
  return Status::OK();
}

}  // namespace

Result<int64_t> Replica::CounterValue(std::string_view key) const {
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  KeyHeader h;
  DELTAKV_RETURN_IF_ERROR(LoadLive(txn, key, CrdtType::kCounter, &h));
  crdt::PNCounter c;
  DELTAKV_RETURN_IF_ERROR(crdt::Decode(h.payload, &c));
  return c.Value();
}

Result<RegisterValue> Replica::RegisterGet(std::string_view key) const {
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  KeyHeader h;
  DELTAKV_RETURN_IF_ERROR(LoadLive(txn, key, CrdtType::kRegister, &h));
  crdt::ORRegister r;
  DELTAKV_RETURN_IF_ERROR(crdt::Decode(h.payload, &r));
  std::optional<crdt::ORRegister::WriteView> w = RegisterWinner(r);
  if (!w) return Status::NotFound("key not found");
  RegisterValue out;
  bool present;
  DELTAKV_RETURN_IF_ERROR(
      DecodeRegisterValue(w->value, &present, &out.origin, &out.value));
  out.updated_at = w->timestamp;
  return out;
}

Result<std::vector<std::string>> Replica::SetMembers(
    std::string_view key) const {
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  KeyHeader h;
  DELTAKV_RETURN_IF_ERROR(LoadLive(txn, key, CrdtType::kSet, &h));
  std::string prefix = MemberRecordKey(h.key_id, "");
  DELTAKV_ASSIGN_OR_RETURN(storage::Cursor cur,
                           txn.OpenCursor(Table::kRecords));
  std::vector<std::string> members;
  std::vector<Dot> dots;
  for (bool ok = cur.Seek(prefix); ok && cur.key().starts_with(prefix);
       ok = cur.Next()) {
    std::string m;
    DELTAKV_RETURN_IF_ERROR(
        DecodeMember(cur.key().substr(prefix.size()), cur.value(), &m, &dots));
    members.push_back(std::move(m));
  }
  DELTAKV_RETURN_IF_ERROR(cur.status());
  // Hashed (long) members sort by prefix+hash in storage; sort by bytes.
  std::sort(members.begin(), members.end());
  return members;
}

Result<SetPage> Replica::SetRange(std::string_view key,
                                  std::optional<std::string_view> after,
                                  size_t limit) const {
  if (limit == 0) return Status::InvalidArgument("limit must be positive");
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  KeyHeader h;
  DELTAKV_RETURN_IF_ERROR(LoadLive(txn, key, CrdtType::kSet, &h));
  const std::string prefix = MemberRecordKey(h.key_id, "");
  DELTAKV_ASSIGN_OR_RETURN(storage::Cursor cur,
                           txn.OpenCursor(Table::kRecords));
  SetPage page;
  page.size = h.count;
  const std::string start = MemberRecordKey(h.key_id, after.value_or(""));
  bool ok = cur.Seek(start);
  if (ok && after && cur.key() == start) ok = cur.Next();
  std::vector<Dot> dots;
  for (; ok && cur.key().starts_with(prefix); ok = cur.Next()) {
    if (page.members.size() == limit) {
      page.more = true;
      break;
    }
    const std::string_view stored = cur.key().substr(prefix.size());
    std::string m;
    DELTAKV_RETURN_IF_ERROR(DecodeMember(stored, cur.value(), &m, &dots));
    page.members.push_back(std::move(m));
    page.positions.emplace_back(stored);
  }
  DELTAKV_RETURN_IF_ERROR(cur.status());
  return page;
}

Result<bool> Replica::SetContains(std::string_view key,
                                  std::string_view member) const {
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  KeyHeader h;
  DELTAKV_RETURN_IF_ERROR(LoadLive(txn, key, CrdtType::kSet, &h));
  storage::NameSlot slot;
  DELTAKV_RETURN_IF_ERROR(LocateMember(txn, h.key_id, member, &slot));
  return slot.found;
}

Result<uint64_t> Replica::SetSize(std::string_view key) const {
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  KeyHeader h;
  DELTAKV_RETURN_IF_ERROR(LoadLive(txn, key, CrdtType::kSet, &h));
  return h.count;
}

Result<ListPage> Replica::ListRange(std::string_view key, uint64_t offset,
                                    uint64_t limit) const {
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  KeyHeader h;
  DELTAKV_RETURN_IF_ERROR(LoadLive(txn, key, CrdtType::kList, &h));
  ListPage page;
  DELTAKV_RETURN_IF_ERROR(ReadListValues(txn, h.key_id, h.payload, offset,
                                         limit, &page.length, &page.values));
  return page;
}

Result<SnapshotChunk> Replica::ReadSnapshot(
    std::string_view cursor, size_t max_bytes, bool inclusive,
    std::vector<std::string>* positions) const {
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  DELTAKV_ASSIGN_OR_RETURN(storage::Cursor cur, txn.OpenCursor(Table::kKeys));
  bool ok = cur.Seek(cursor);
  if (ok && !inclusive && !cursor.empty() && cur.key() == cursor) {
    ok = cur.Next();
  }
  SnapshotChunk chunk;
  size_t bytes = 0;
  for (; ok; ok = cur.Next()) {
    KeyHeader h;
    DELTAKV_RETURN_IF_ERROR(DecodeHeader(cur.key(), cur.value(), &h));
    LoggedDelta e;
    bool has_state = false;
    DELTAKV_RETURN_IF_ERROR(StateOf(txn, h, &e, &has_state));
    if (!has_state) continue;
    bytes += e.key.size() + e.delta.size();
    chunk.states.push_back(std::move(e));
    if (positions) positions->emplace_back(cur.key());
    if (bytes >= max_bytes) {
      chunk.next.assign(cur.key());
      // Done only if nothing follows.
      if (!cur.Next()) chunk.next.clear();
      break;
    }
  }
  DELTAKV_RETURN_IF_ERROR(cur.status());
  return chunk;
}

Result<std::optional<LoggedDelta>> Replica::KeyState(
    std::string_view key) const {
  DELTAKV_RETURN_IF_ERROR(ValidKey(key));
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  storage::NameSlot slot;
  DELTAKV_RETURN_IF_ERROR(LocateKey(txn, key, &slot));
  if (!slot.found) return std::optional<LoggedDelta>();
  KeyHeader h;
  DELTAKV_RETURN_IF_ERROR(DecodeHeader(slot.key, slot.value, &h));
  LoggedDelta e;
  bool has_state = false;
  DELTAKV_RETURN_IF_ERROR(StateOf(txn, h, &e, &has_state));
  if (!has_state) return std::optional<LoggedDelta>();
  return std::optional<LoggedDelta>(std::move(e));
}

Result<CrdtType> Replica::TypeOf(std::string_view key) const {
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  KeyHeader h;
  DELTAKV_RETURN_IF_ERROR(LoadLive(txn, key, std::nullopt, &h));
  return h.type;
}

Result<ScanPage> Replica::Scan(std::string_view prefix, std::string_view after,
                               size_t limit) const {
  if (limit == 0) return Status::InvalidArgument("limit must be positive");
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  DELTAKV_ASSIGN_OR_RETURN(storage::Cursor cur, txn.OpenCursor(Table::kKeys));
  // Keys longer than the inline limit are stored as prefix ‖ hash ‖ slot:
  // scan by the stored prefix and filter on the full key.
  std::string_view stored_prefix =
      prefix.substr(0, std::min(prefix.size(), storage::kHashedNamePrefix));
  bool ok;
  if (!after.empty() && after >= stored_prefix) {
    ok = cur.Seek(after);
    if (ok && cur.key() == after) ok = cur.Next();
  } else {
    ok = cur.Seek(stored_prefix);
  }
  ScanPage page;
  std::string last_stored;
  for (; ok && cur.key().starts_with(stored_prefix); ok = cur.Next()) {
    KeyHeader h;
    DELTAKV_RETURN_IF_ERROR(DecodeHeader(cur.key(), cur.value(), &h));
    std::string key = std::move(h.full_key);
    if (!h.live || !std::string_view(key).starts_with(prefix)) continue;
    if (page.keys.size() == limit) {
      page.next = last_stored;  // more keys follow
      break;
    }
    page.keys.push_back(KeyInfo{std::move(key), h.type});
    last_stored.assign(cur.key());
    page.positions.push_back(last_stored);
  }
  DELTAKV_RETURN_IF_ERROR(cur.status());
  return page;
}

Result<std::vector<LoggedDelta>> Replica::ReadLog(uint64_t from,
                                                  size_t max_count) const {
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  DELTAKV_ASSIGN_OR_RETURN(storage::Cursor cur,
                           txn.OpenCursor(Table::kDeltaLog));
  std::string prefix = options_.region;
  prefix.push_back('\0');
  std::vector<LoggedDelta> out;
  for (bool ok = cur.Seek(LogKey(options_.region, from));
       ok && cur.key().starts_with(prefix) && out.size() < max_count;
       ok = cur.Next()) {
    LoggedDelta d;
    size_t pos = prefix.size();
    if (!storage::ReadU64(cur.key(), &pos, &d.seq)) {
      return Status::Corruption("delta log key malformed");
    }
    DELTAKV_RETURN_IF_ERROR(
        DecodeLogValue(cur.value(), &d.key, &d.type, &d.delta));
    out.push_back(std::move(d));
  }
  DELTAKV_RETURN_IF_ERROR(cur.status());
  return out;
}

Result<std::vector<std::pair<std::string, uint64_t>>> Replica::AppliedVector()
    const {
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  DELTAKV_ASSIGN_OR_RETURN(storage::Cursor cur, txn.OpenCursor(Table::kMeta));
  const std::string prefix = AppliedKey("");
  std::vector<std::pair<std::string, uint64_t>> out;
  for (bool ok = cur.Seek(prefix); ok && cur.key().starts_with(prefix);
       ok = cur.Next()) {
    size_t pos = 0;
    uint64_t v;
    if (!storage::ReadU64(cur.value(), &pos, &v)) {
      return Status::Corruption("applied watermark malformed");
    }
    out.emplace_back(std::string(cur.key().substr(prefix.size())), v);
  }
  DELTAKV_RETURN_IF_ERROR(cur.status());
  return out;
}

Result<std::vector<AppliedMark>> Replica::AppliedMarks(
    bool durable_only) const {
  if (durable_only && options_.durability == Durability::kPeriodic) {
    std::lock_guard<std::mutex> l(durable_mu_);
    std::vector<AppliedMark> out = durable_marks_;
    bool self = false;
    for (auto& m : out) {
      if (m.region == options_.region) {
        m.seq = durable_seq_;
        self = true;
      }
    }
    if (!self) {
      out.push_back(
          AppliedMark{options_.region, replica_id_.value(), durable_seq_});
    }
    return out;
  }
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  DELTAKV_ASSIGN_OR_RETURN(storage::Cursor cur, txn.OpenCursor(Table::kMeta));
  const std::string prefix = AppliedKey("");
  std::vector<AppliedMark> out;
  bool self = false;
  for (bool ok = cur.Seek(prefix); ok && cur.key().starts_with(prefix);
       ok = cur.Next()) {
    size_t pos = 0;
    AppliedMark m;
    if (!storage::ReadU64(cur.value(), &pos, &m.seq)) {
      return Status::Corruption("applied watermark malformed");
    }
    m.region.assign(cur.key().substr(prefix.size()));
    out.push_back(std::move(m));
  }
  DELTAKV_RETURN_IF_ERROR(cur.status());
  for (AppliedMark& m : out) {
    if (m.region == options_.region) {
      m.replica = replica_id_.value();
      m.seq = std::max(m.seq, committed_seq_.load());
      self = true;
      continue;
    }
    std::string_view v;
    Status s = txn.Get(Table::kMeta, PeerReplicaKey(m.region), &v);
    if (s.ok()) {
      size_t pos = 0;
      if (!storage::ReadU64(v, &pos, &m.replica)) {
        return Status::Corruption("peer replica id malformed");
      }
    } else if (!s.IsNotFound()) {
      return s;
    }
  }
  if (!self) {
    out.push_back(AppliedMark{options_.region, replica_id_.value(),
                              committed_seq_.load()});
  }
  return out;
}

Result<std::vector<AppliedMark>> Replica::IncarnationMarks() const {
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  DELTAKV_ASSIGN_OR_RETURN(storage::Cursor cur, txn.OpenCursor(Table::kMeta));
  const std::string prefix = "incarnation/";
  std::vector<AppliedMark> out;
  for (bool ok = cur.Seek(prefix); ok && cur.key().starts_with(prefix);
       ok = cur.Next()) {
    // incarnation/<region>/<16 hex>
    std::string_view rest = cur.key().substr(prefix.size());
    size_t slash = rest.rfind('/');
    if (slash == std::string_view::npos) continue;
    auto id = ReplicaId::Parse(rest.substr(slash + 1));
    size_t pos = 0;
    AppliedMark m;
    if (!id.ok() || !storage::ReadU64(cur.value(), &pos, &m.seq)) {
      return Status::Corruption("incarnation record malformed");
    }
    m.region.assign(rest.substr(0, slash));
    m.replica = id->value();
    out.push_back(std::move(m));
  }
  DELTAKV_RETURN_IF_ERROR(cur.status());
  return out;
}

Result<bool> Replica::HasKeyAfter(std::string_view position) const {
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  DELTAKV_ASSIGN_OR_RETURN(storage::Cursor cur, txn.OpenCursor(Table::kKeys));
  bool ok = cur.Seek(position);
  if (ok && cur.key() == position) ok = cur.Next();
  DELTAKV_RETURN_IF_ERROR(cur.status());
  return ok;
}

}  // namespace deltakv::replication
