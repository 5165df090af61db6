// The embedded transport: the typed facade over an in-process Replica.
#include <memory>

#include "client/transport.h"
#include "replication/replica.h"

namespace deltakv {

namespace {

using replication::Op;
using replication::OpKind;

KeyType ToKeyType(crdt::CrdtType t) {
  switch (t) {
    case crdt::CrdtType::kCounter:
      return KeyType::kCounter;
    case crdt::CrdtType::kRegister:
      return KeyType::kRegister;
    case crdt::CrdtType::kSet:
      return KeyType::kSet;
    default:
      return KeyType::kList;
  }
}

class EmbeddedTransport final : public Transport {
 public:
  explicit EmbeddedTransport(std::unique_ptr<replication::Replica> r)
      : replica_(std::move(r)) {}

  Result<int64_t> CounterIncrement(const std::string& key,
                                   int64_t by) override {
    Op op;
    op.kind = OpKind::kCounterIncrement;
    op.key = key;
    op.by = by;
    DELTAKV_ASSIGN_OR_RETURN(replication::OpResult r, replica_->Apply(op));
    return r.value;
  }
  Result<int64_t> CounterValue(const std::string& key) override {
    return replica_->CounterValue(key);
  }
  Status RegisterSet(const std::string& key, std::string_view value) override {
    Op op;
    op.kind = OpKind::kRegisterSet;
    op.key = key;
    op.value.assign(value);
    return replica_->Apply(op).status();
  }
  Result<RegisterValue> RegisterGet(const std::string& key) override {
    DELTAKV_ASSIGN_OR_RETURN(replication::RegisterValue v,
                             replica_->RegisterGet(key));
    return RegisterValue{std::move(v.value), v.updated_at.ToString(),
                         std::move(v.origin)};
  }
  Result<uint64_t> SetAdd(const std::string& key,
                          const std::vector<std::string>& m) override {
    return SetOp(OpKind::kSetAdd, key, m);
  }
  Result<uint64_t> SetRemove(const std::string& key,
                             const std::vector<std::string>& m) override {
    return SetOp(OpKind::kSetRemove, key, m);
  }
  Result<bool> SetContains(const std::string& key,
                           std::string_view member) override {
    return replica_->SetContains(key, member);
  }
  Result<std::vector<std::string>> SetMembers(const std::string& key) override {
    return replica_->SetMembers(key);
  }
  Result<uint64_t> ListEdit(const std::string& key, int kind, uint64_t index,
                            uint64_t count,
                            const std::vector<std::string>& values) override {
    Op op;
    op.key = key;
    op.index = index;
    op.count = count;
    op.members = values;
    op.kind = kind == 0   ? OpKind::kListInsert
              : kind == 1 ? OpKind::kListDelete
                          : OpKind::kListPush;
    op.front = kind == 3;
    DELTAKV_ASSIGN_OR_RETURN(replication::OpResult r, replica_->Apply(op));
    return r.size;
  }
  Result<ListRange> ListGet(const std::string& key, uint64_t offset,
                            uint64_t limit) override {
    DELTAKV_ASSIGN_OR_RETURN(replication::ListPage p,
                             replica_->ListRange(key, offset, limit));
    return ListRange{std::move(p.values), p.length};
  }
  Result<bool> Delete(std::string_view key) override {
    Op op;
    op.kind = OpKind::kDelete;
    op.key.assign(key);
    DELTAKV_ASSIGN_OR_RETURN(replication::OpResult r, replica_->Apply(op));
    return r.deleted;
  }
  Result<KeyType> TypeOf(std::string_view key) override {
    DELTAKV_ASSIGN_OR_RETURN(crdt::CrdtType t, replica_->TypeOf(key));
    return ToKeyType(t);
  }
  Result<ScanResult> Scan(std::string_view prefix, std::string_view cursor,
                          size_t limit) override {
    DELTAKV_ASSIGN_OR_RETURN(replication::ScanPage page,
                             replica_->Scan(prefix, cursor, limit));
    ScanResult out;
    for (auto& k : page.keys) {
      out.keys.push_back(KeyEntry{std::move(k.key), ToKeyType(k.type)});
    }
    out.cursor = std::move(page.next);
    return out;
  }

 private:
  Result<uint64_t> SetOp(OpKind kind, const std::string& key,
                         const std::vector<std::string>& m) {
    Op op;
    op.kind = kind;
    op.key = key;
    op.members = m;
    DELTAKV_ASSIGN_OR_RETURN(replication::OpResult r, replica_->Apply(op));
    return r.size;
  }

  std::unique_ptr<replication::Replica> replica_;
};

}  // namespace

std::unique_ptr<Transport> NewEmbeddedTransport(const Options& options,
                                                Status* status) {
  replication::ReplicaOptions ro;
  ro.path = options.path;
  ro.region = options.region;
  ro.durability = options.durability == Durability::kSync
                      ? replication::Durability::kSync
                      : replication::Durability::kPeriodic;
  ro.sync_interval_ms = options.sync_interval_ms;
  ro.initial_map_bytes = options.initial_map_bytes;
  ro.max_map_bytes = options.max_map_bytes;
  ro.max_value_bytes = options.max_value_bytes;
  ro.max_set_members = options.max_set_members;
  ro.max_list_length = options.max_list_length;
  ro.max_key_bytes = options.max_key_bytes;
  auto r = replication::Replica::Open(ro);
  if (!r.ok()) {
    *status = r.status();
    return nullptr;
  }
  return std::make_unique<EmbeddedTransport>(std::move(r).value());
}

}  // namespace deltakv
