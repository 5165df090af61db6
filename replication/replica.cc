#include "replication/replica.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <vector>

#include <spdlog/spdlog.h>

#include "replication/list_store.h"
#include "replication/records.h"
#include "replication/txn_apply.h"
#include "storage/keys.h"

namespace deltakv::replication {

using storage::Table;

namespace {

std::string U64Bytes(uint64_t v) {
  std::string s;
  storage::AppendU64(&s, v);
  return s;
}

Result<uint64_t> GetU64(const storage::ReadTxn& txn, std::string_view key,
                        uint64_t fallback) {
  std::string_view v;
  Status s = txn.Get(Table::kMeta, key, &v);
  if (s.IsNotFound()) return fallback;
  DELTAKV_RETURN_IF_ERROR(s);
  size_t pos = 0;
  uint64_t out;
  if (!storage::ReadU64(v, &pos, &out) || pos != v.size()) {
    return Status::Corruption("metadata " + std::string(key) + " malformed");
  }
  return out;
}

}  // namespace

Replica::Replica(const ReplicaOptions& options)
    : options_(options),
      list_cache_(std::make_unique<ListCache>(options.list_cache_bytes)) {}

Result<std::unique_ptr<Replica>> Replica::Open(const ReplicaOptions& options) {
  DELTAKV_RETURN_IF_ERROR(RegionId::Parse(options.region).status());
  if (options.max_batch == 0) {
    return Status::InvalidArgument("max_batch must be at least 1");
  }
  if (options.durability == Durability::kPeriodic &&
      options.sync_interval_ms == 0) {
    return Status::InvalidArgument("sync_interval_ms must be at least 1");
  }
  std::unique_ptr<Replica> r(new Replica(options));
  storage::EnvOptions env;
  env.path = options.path;
  env.initial_map_bytes = options.initial_map_bytes;
  env.max_map_bytes = options.max_map_bytes;
  env.no_sync = options.durability == Durability::kPeriodic;
  DELTAKV_ASSIGN_OR_RETURN(r->env_, storage::Environment::Open(env));
  DELTAKV_RETURN_IF_ERROR(r->LoadMetadata());
  // What is on disk at open is durable.
  DELTAKV_ASSIGN_OR_RETURN(r->durable_marks_, r->AppliedMarks(false));
  r->writer_ = std::thread([p = r.get()] { p->WriterLoop(); });
  if (options.durability == Durability::kPeriodic) {
    r->syncer_ = std::thread([p = r.get()] { p->SyncLoop(); });
  }
  return r;
}

Result<Replica::Restored> Replica::Restore(const std::string& backup_file,
                                           const ReplicaOptions& options) {
  namespace fs = std::filesystem;
  DELTAKV_RETURN_IF_ERROR(RegionId::Parse(options.region).status());
  std::error_code ec;
  const fs::path dir(options.path);
  const fs::path data = dir / "data.mdb";
  if (fs::exists(data, ec)) {
    return Status::InvalidArgument(
        "the folder " + options.path +
        " already holds a store: restore into an empty folder (move the old "
        "one away first)");
  }
  if (!fs::is_regular_file(backup_file, ec)) {
    return Status::InvalidArgument("the backup " + backup_file +
                                   " is not a readable file");
  }
  // The copy is changed in a staging folder and moved into place only once
  // it carries its new replica id, synced: a crash half-way leaves no
  // data.mdb that could start as the old incarnation.
  const fs::path staging = dir / ".restoring";
  fs::remove_all(staging, ec);  // an earlier attempt that did not finish
  fs::create_directories(staging, ec);
  if (ec) {
    return Status::IOError("creating " + staging.string() + ": " +
                           ec.message());
  }
  Restored out;
  Status st = [&]() -> Status {
    fs::copy_file(backup_file, staging / "data.mdb", ec);
    if (ec) {
      return Status::IOError("copying " + backup_file + ": " + ec.message());
    }
    storage::EnvOptions env;
    env.path = staging.string();
    env.initial_map_bytes = options.initial_map_bytes;
    env.max_map_bytes = std::max<uint64_t>(
        options.max_map_bytes,
        static_cast<uint64_t>(fs::file_size(staging / "data.mdb", ec)));
    auto opened = storage::Environment::Open(env);
    if (!opened.ok()) {
      return Status::Corruption(
          "the backup " + backup_file +
          " is not a deltakv store: " + opened.status().message());
    }
    DELTAKV_ASSIGN_OR_RETURN(storage::WriteTxn txn, (*opened)->BeginWrite());
    std::string_view v;
    Status s = txn.Get(Table::kMeta, kMetaFormat, &v);
    if (s.IsNotFound()) {
      return Status::Corruption("the backup " + backup_file +
                                " is not a deltakv store (no format)");
    }
    DELTAKV_RETURN_IF_ERROR(s);
    DELTAKV_ASSIGN_OR_RETURN(uint64_t format, GetU64(txn, kMetaFormat, 0));
    // A format 2 copy is migrated when the restored store is opened.
    if (format != kStoreFormat && format != kLegacyListFormat) {
      return Status::Corruption("the backup has store format " +
                                std::to_string(format) + " (expected " +
                                std::to_string(kStoreFormat) + ")");
    }
    DELTAKV_RETURN_IF_ERROR(txn.Get(Table::kMeta, kMetaRegion, &v));
    if (v != options.region) {
      return Status::InvalidArgument("the backup belongs to region '" +
                                     std::string(v) + "', not '" +
                                     options.region + "'");
    }
    DELTAKV_ASSIGN_OR_RETURN(out.old_replica, GetU64(txn, kMetaReplicaId, 0));
    if (out.old_replica == 0) return Status::Corruption("replica id missing");
    DELTAKV_ASSIGN_OR_RETURN(out.seq,
                             GetU64(txn, AppliedKey(options.region), 0));
    do {
      out.new_replica = ReplicaId::Random().value();
    } while (out.new_replica == out.old_replica);
    DELTAKV_RETURN_IF_ERROR(
        txn.Put(Table::kMeta, kMetaReplicaId, U64Bytes(out.new_replica)));
    // Bootstrap again from every peer: what this region sent them after
    // the copy was taken (its own earlier writes included) comes back with
    // their state. A store that bootstraps is one created empty.
    std::vector<std::string> stale;
    {
      DELTAKV_ASSIGN_OR_RETURN(storage::Cursor cur,
                               txn.OpenCursor(Table::kMeta));
      for (const std::string_view prefix : {"bootstrapped/", "transfer/"}) {
        for (bool ok = cur.Seek(prefix); ok && cur.key().starts_with(prefix);
             ok = cur.Next()) {
          stale.emplace_back(cur.key());
        }
      }
      DELTAKV_RETURN_IF_ERROR(cur.status());
    }
    for (const std::string& k : stale) {
      DELTAKV_RETURN_IF_ERROR(txn.Delete(Table::kMeta, k));
    }
    DELTAKV_RETURN_IF_ERROR(txn.Put(Table::kMeta, kMetaFresh, U64Bytes(1)));
    DELTAKV_RETURN_IF_ERROR(txn.Commit());
    DELTAKV_RETURN_IF_ERROR((*opened)->Sync());
    opened->reset();  // closed before it moves
    fs::rename(staging / "data.mdb", data, ec);
    if (ec) return Status::IOError("installing the backup: " + ec.message());
    // The rename itself must survive a crash.
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
    return Status::OK();
  }();
  fs::remove_all(staging, ec);
  if (!st.ok()) return st;
  return out;
}

Status Replica::LoadMetadata() {
  for (int attempt = 0;; ++attempt) {
    DELTAKV_ASSIGN_OR_RETURN(storage::WriteTxn txn, env_->BeginWrite());
    std::string_view v;
    Status s = txn.Get(Table::kMeta, kMetaFormat, &v);
    Status put;
    if (s.IsNotFound()) {
      replica_id_ = ReplicaId::Random();
      if (!(put = txn.Put(Table::kMeta, kMetaFormat, U64Bytes(kStoreFormat)))
               .ok() ||
          !(put = txn.Put(Table::kMeta, kMetaRegion, options_.region)).ok() ||
          !(put = txn.Put(Table::kMeta, kMetaReplicaId,
                          U64Bytes(replica_id_.value())))
               .ok() ||
          !(put = txn.Put(Table::kMeta, kMetaFresh, U64Bytes(1))).ok()) {
        if (put.code() == Code::kUnavailable && attempt == 0) {
          txn.Abort();
          DELTAKV_RETURN_IF_ERROR(env_->Grow());
          continue;
        }
        return put;
      }
      DELTAKV_RETURN_IF_ERROR(txn.Commit());
      fresh_ = true;
      return Status::OK();
    }
    DELTAKV_RETURN_IF_ERROR(s);
    fresh_ = txn.Get(Table::kMeta, kMetaFresh, &v).ok();
    DELTAKV_ASSIGN_OR_RETURN(uint64_t format, GetU64(txn, kMetaFormat, 0));
    if (format == kLegacyListFormat) {
      // Lists move to the chunked layout, in this transaction.
      uint64_t lists = 0;
      Status m = MigrateLegacyLists(&txn, &lists);
      if (m.ok())
        m = txn.Put(Table::kMeta, kMetaFormat, U64Bytes(kStoreFormat));
      if (m.ok()) m = txn.Commit();
      if (m.code() == Code::kUnavailable && attempt < 8) {
        txn.Abort();
        DELTAKV_RETURN_IF_ERROR(env_->Grow());
        continue;
      }
      if (!m.ok()) {
        return Status(m.code(), "migrating the store's lists from format " +
                                    std::to_string(format) + ": " +
                                    m.message());
      }
      spdlog::info("store migrated from format {} to {} ({} lists rewritten)",
                   format, kStoreFormat, lists);
      continue;  // read the metadata again
    }
    if (format != kStoreFormat) {
      return Status::Corruption("store format " + std::to_string(format) +
                                " is not supported (expected " +
                                std::to_string(kStoreFormat) + ")");
    }
    DELTAKV_RETURN_IF_ERROR(txn.Get(Table::kMeta, kMetaRegion, &v));
    if (v != options_.region) {
      return Status::InvalidArgument("the store at " + options_.path +
                                     " belongs to region '" + std::string(v) +
                                     "', not '" + options_.region + "'");
    }
    DELTAKV_ASSIGN_OR_RETURN(uint64_t id, GetU64(txn, kMetaReplicaId, 0));
    if (id == 0) return Status::Corruption("replica id missing");
    replica_id_ = ReplicaId(id);
    DELTAKV_ASSIGN_OR_RETURN(uint64_t hlc, GetU64(txn, kMetaHlc, 0));
    clock_.Restore(HlcTimestamp(hlc));
    DELTAKV_ASSIGN_OR_RETURN(next_key_id_, GetU64(txn, kMetaNextKeyId, 1));
    DELTAKV_ASSIGN_OR_RETURN(local_seq_,
                             GetU64(txn, AppliedKey(options_.region), 0));
    committed_seq_ = local_seq_;
    durable_seq_ = local_seq_;
    DELTAKV_ASSIGN_OR_RETURN(uint64_t log_start, GetU64(txn, kMetaLogStart, 1));
    log_start_ = log_start;
    txn.Abort();
    return Status::OK();
  }
}

Replica::~Replica() {
  {
    std::lock_guard<std::mutex> l(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard<std::mutex> l(sync_mu_);
    sync_stop_ = true;
  }
  sync_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
  if (env_) (void)env_->Sync();
}

void Replica::Submit(Op op, Callback done) {
  std::unique_lock<std::mutex> l(mu_);
  if (closing_) {
    l.unlock();
    done(Status::Unavailable("replica is closing"));
    return;
  }
  Pending p;
  p.op = std::move(op);
  p.done = std::move(done);
  queue_.push_back(std::move(p));
  // A busy writer picks the operation up with its next batch: wake it only
  // when it sleeps (saves a futex call per operation under load).
  const bool wake = writer_waiting_;
  l.unlock();
  if (wake) cv_.notify_one();
}

void Replica::SubmitJoin(std::vector<LoggedDelta> states, Callback done) {
  Pending p;
  p.is_remote = true;
  p.remote.snapshot = true;  // origin empty: a node of this region
  p.remote.deltas = std::move(states);
  p.done = std::move(done);
  std::unique_lock<std::mutex> l(mu_);
  if (closing_) {
    l.unlock();
    p.done(Status::Unavailable("replica is closing"));
    return;
  }
  queue_.push_back(std::move(p));
  const bool wake = writer_waiting_;
  l.unlock();
  if (wake) cv_.notify_one();
}

Result<OpResult> Replica::Apply(Op op) {
  std::promise<Result<OpResult>> promise;
  auto future = promise.get_future();
  Submit(std::move(op),
         [&promise](Result<OpResult> r) { promise.set_value(std::move(r)); });
  return future.get();
}

Status Replica::RunBlocking(Pending p) {
  std::promise<Result<OpResult>> promise;
  auto future = promise.get_future();
  p.done = [&promise](Result<OpResult> r) { promise.set_value(std::move(r)); };
  {
    std::unique_lock<std::mutex> l(mu_);
    if (closing_) return Status::Unavailable("replica is closing");
    queue_.push_back(std::move(p));
  }
  cv_.notify_all();
  return future.get().status();
}

Status Replica::ApplyRemote(const std::string& origin,
                            std::vector<LoggedDelta> deltas) {
  RemoteBatch b;
  b.origin = origin;
  if (!deltas.empty()) {
    b.first = deltas.front().seq;
    b.last = deltas.back().seq;
  }
  b.deltas = std::move(deltas);
  return ApplyRemote(std::move(b));
}

Status Replica::ApplyRemote(RemoteBatch batch) {
  DELTAKV_RETURN_IF_ERROR(RegionId::Parse(batch.origin).status());
  if (batch.origin == options_.region) {
    return Status::InvalidArgument(
        "remote deltas cannot come from this region");
  }
  if (!batch.snapshot && batch.last < batch.first) {
    return Status::InvalidArgument("remote batch: last < first");
  }
  Pending p;
  p.is_remote = true;
  p.remote = std::move(batch);
  return RunBlocking(std::move(p));
}

Result<uint64_t> Replica::PeerReplica(const std::string& origin) const {
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  return GetU64(txn, PeerReplicaKey(origin), 0);
}

Status Replica::SetPeerReplica(const std::string& origin, uint64_t replica,
                               bool restart) {
  DELTAKV_RETURN_IF_ERROR(RegionId::Parse(origin).status());
  Pending p;
  p.peer = origin;
  p.peer_replica = replica;
  p.peer_restart = restart;
  return RunBlocking(std::move(p));
}

Status Replica::SyncNow() {
  if (options_.durability == Durability::kSync) return Status::OK();
  const uint64_t seq = committed_seq_.load();
  auto marks = AppliedMarks(false);
  DELTAKV_RETURN_IF_ERROR(env_->Sync());
  std::lock_guard<std::mutex> d(durable_mu_);
  durable_seq_ = std::max(durable_seq_, seq);
  if (marks.ok()) durable_marks_ = std::move(*marks);
  return Status::OK();
}

Status Replica::RaiseIncarnationMark(const std::string& origin,
                                     uint64_t replica, uint64_t seq) {
  DELTAKV_RETURN_IF_ERROR(RegionId::Parse(origin).status());
  if (replica == 0) return Status::InvalidArgument("replica id 0");
  Pending p;
  p.peer = origin;
  p.mark_replica = replica;
  p.mark_seq = seq;
  return RunBlocking(std::move(p));
}

uint64_t Replica::DurableSequence() const {
  std::lock_guard<std::mutex> l(durable_mu_);
  return durable_seq_;
}

void Replica::PinLog(const std::string& requester, uint64_t from) {
  std::lock_guard<std::mutex> l(pin_mu_);
  if (from == 0) {
    log_pins_.erase(requester);
  } else {
    log_pins_[requester] = from;
  }
}

bool Replica::NeedsStateFrom(const std::string& peer) const {
  if (!fresh_) return false;
  auto txn = env_->BeginRead();
  if (!txn.ok()) return false;
  std::string_view v;
  return txn->Get(Table::kMeta, BootstrappedKey(peer), &v).IsNotFound();
}

Result<std::optional<TransferProgress>> Replica::TransferFrom(
    const std::string& peer) const {
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  std::string_view v;
  Status s = txn.Get(Table::kMeta, TransferKey(peer), &v);
  if (s.IsNotFound()) return std::optional<TransferProgress>();
  DELTAKV_RETURN_IF_ERROR(s);
  size_t pos = 0;
  TransferProgress p;
  if (!storage::ReadU64(v, &pos, &p.seq)) {
    return Status::Corruption("transfer progress of " + peer + " malformed");
  }
  p.cursor.assign(v.substr(pos));
  return std::optional<TransferProgress>(std::move(p));
}

Result<uint64_t> Replica::AppliedOf(const std::string& origin,
                                    uint64_t replica) const {
  if (origin == options_.region) {
    return replica == replica_id_.value() ? committed_seq_.load() : 0;
  }
  DELTAKV_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  DELTAKV_ASSIGN_OR_RETURN(uint64_t current,
                           GetU64(txn, PeerReplicaKey(origin), 0));
  if (current != 0 && current == replica) {
    return GetU64(txn, AppliedKey(origin), 0);
  }
  return GetU64(txn, IncarnationKey(origin, replica), 0);
}

Status Replica::TrimLog(uint64_t through) {
  if (through < log_start_.load()) return Status::OK();
  Pending p;
  p.trim_through = through;
  return RunBlocking(std::move(p));
}

void Replica::SetCommitListener(std::function<void(uint64_t)> listener) {
  std::lock_guard<std::mutex> l(mu_);
  listener_ = std::move(listener);
}

void Replica::WriterLoop() {
  std::vector<Pending> batch;
  size_t last_batch = 0;     // operations in the previous batch
  double commit_micros = 0;  // moving average of a sync commit
  for (;;) {
    std::function<void(uint64_t)> listener;
    {
      std::unique_lock<std::mutex> l(mu_);
      // Sync mode: the clients just acknowledged come back one round trip
      // later. Waiting a fraction of a commit for them lets the next fsync
      // carry them too, instead of splitting the load into two half-full
      // commits forever.
      if (options_.durability == Durability::kSync && last_batch > 1 &&
          queue_.size() < last_batch && !closing_) {
        const auto wait = std::chrono::microseconds(
            static_cast<int64_t>(std::min(1000.0, commit_micros / 4)));
        writer_waiting_ = true;
        cv_.wait_for(l, wait,
                     [&] { return closing_ || queue_.size() >= last_batch; });
        writer_waiting_ = false;
      }
      // Idle for a while: clear reader slots left by dead processes.
      writer_waiting_ = true;
      const bool woke = cv_.wait_for(l, std::chrono::seconds(10), [&] {
        return closing_ || !queue_.empty();
      });
      writer_waiting_ = false;
      if (!woke) {
        l.unlock();
        env_->ClearStaleReaders();
        continue;
      }
      if (queue_.empty()) return;  // closing and drained
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      listener = listener_;
    }
    const uint64_t commit_before = stat_commit_us_.load();
    CommitBatch(batch);
    stat_lc_hits_ = list_cache_->hits;
    stat_lc_misses_ = list_cache_->misses;
    stat_lc_evictions_ = list_cache_->evictions;
    stat_lc_bytes_ = list_cache_->bytes();
    stat_lc_entries_ = list_cache_->size();
    commit_micros =
        0.8 * commit_micros +
        0.2 * static_cast<double>(stat_commit_us_.load() - commit_before);
    last_batch = batch.size();
    batch.clear();
    if (listener) listener(committed_seq_.load());
  }
}

void Replica::CommitBatch(std::vector<Pending>& batch) {
  std::vector<Result<OpResult>> results;
  // Remote batches refused after they had touched the transaction (an
  // entry that cannot be joined): the transaction is redone without them,
  // so a batch is applied whole, with its watermark, or not at all.
  std::vector<std::optional<Status>> refused(batch.size());
  for (int attempt = 0;; ++attempt) {
    results.clear();
    const uint64_t seq_before = local_seq_;
    const uint64_t key_id_before = next_key_id_;
    log_start_pending_ = log_start_.load();
    Status failure;
    bool redo = false;
    auto txn_or = env_->BeginWrite();
    if (!txn_or.ok()) {
      failure = txn_or.status();
    } else {
      storage::WriteTxn& txn = *txn_or;
      TxnApply apply(&txn, options_, replica_id_, &clock_, &next_key_id_,
                     list_cache_.get());
      for (size_t i = 0; i < batch.size(); ++i) {
        Pending& p = batch[i];
        if (refused[i]) {
          results.push_back(*refused[i]);
          continue;
        }
        if (p.is_remote) {
          bool storage_failure = false, poisoned = false;
          Result<OpResult> r = ApplyRemoteInTxn(txn, apply, p.remote,
                                                &storage_failure, &poisoned);
          if (storage_failure || apply.storage_failed()) {
            failure = r.status();
            break;
          }
          if (poisoned) {
            refused[i] = r.status();
            redo = true;
            break;
          }
          results.push_back(std::move(r));
          continue;
        }
        if (!p.peer.empty()) {
          Status st = PeerReplicaInTxn(txn, p);
          if (!st.ok()) {
            failure = st;
            break;
          }
          results.push_back(OpResult{});
          continue;
        }
        if (p.trim_through != 0) {
          Status st = TrimInTxn(txn, p.trim_through);
          if (!st.ok()) {
            failure = st;
            break;
          }
          results.push_back(OpResult{});
          continue;
        }
        std::string delta;
        crdt::CrdtType type;
        Result<OpResult> r = apply.Local(p.op, &delta, &type);
        if (apply.storage_failed()) {
          failure = r.status();
          break;
        }
        if (r.ok() && !delta.empty()) {
          r->seq = ++local_seq_;
          if (p.op.want_delta) {
            r->delta = delta;
            r->type = type;
          }
          Status put =
              txn.Put(Table::kDeltaLog, LogKey(options_.region, r->seq),
                      EncodeLogValue(p.op.key, type, delta));
          if (!put.ok()) {
            failure = put;
            break;
          }
          // The log is bounded: past max_log_entries the oldest entries go
          // (a peer that still needs them gets a state transfer).
          if (local_seq_ >= log_start_pending_ + options_.max_log_entries) {
            Status st = TrimInTxn(txn, local_seq_ - options_.max_log_entries);
            if (!st.ok()) {
              failure = st;
              break;
            }
          }
        }
        results.push_back(std::move(r));
      }
      if (failure.ok() && !redo) {
        Status m;
        if (!(m = txn.Put(Table::kMeta, AppliedKey(options_.region),
                          U64Bytes(local_seq_)))
                 .ok() ||
            !(m = txn.Put(Table::kMeta, kMetaHlc,
                          U64Bytes(clock_.Last().packed())))
                 .ok() ||
            !(m = txn.Put(Table::kMeta, kMetaNextKeyId, U64Bytes(next_key_id_)))
                 .ok()) {
          failure = m;
        } else {
          auto t0 = std::chrono::steady_clock::now();
          failure = txn.Commit();
          stat_commit_us_ += static_cast<uint64_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - t0)
                  .count());
        }
      }
      if (!failure.ok() || redo) txn.Abort();
    }
    if (failure.ok() && !redo) break;
    list_cache_->Clear();  // may hold uncommitted edits
    local_seq_ = seq_before;
    next_key_id_ = key_id_before;
    if (redo) continue;  // at most batch.size() times: each refuses one
    if (failure.message().find("MDB_MAP_FULL") != std::string::npos &&
        attempt < 64) {
      ++stat_retries_;
      Status grown = env_->Grow();
      if (grown.ok()) continue;
      failure = grown;
    }
    for (Pending& p : batch) p.done(failure);
    return;
  }
  committed_seq_ = local_seq_;
  if (options_.durability == Durability::kSync) {
    std::lock_guard<std::mutex> l(durable_mu_);
    durable_seq_ = local_seq_;
  }
  log_start_ = log_start_pending_;
  ++stat_batches_;
  stat_ops_ += batch.size();
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i].done(std::move(results[i]));
  }
}

Status Replica::PeerReplicaInTxn(storage::WriteTxn& txn, const Pending& p) {
  if (p.mark_replica != 0) {
    const std::string key = IncarnationKey(p.peer, p.mark_replica);
    DELTAKV_ASSIGN_OR_RETURN(uint64_t old, GetU64(txn, key, 0));
    if (p.mark_seq <= old) return Status::OK();
    return txn.Put(Table::kMeta, key, U64Bytes(p.mark_seq));
  }
  if (p.peer_restart) {
    // Keep what the previous incarnation reached, for causal tokens that
    // name it.
    DELTAKV_ASSIGN_OR_RETURN(uint64_t old,
                             GetU64(txn, PeerReplicaKey(p.peer), 0));
    DELTAKV_ASSIGN_OR_RETURN(uint64_t mark, GetU64(txn, AppliedKey(p.peer), 0));
    if (old != 0) {
      DELTAKV_RETURN_IF_ERROR(
          txn.Put(Table::kMeta, IncarnationKey(p.peer, old), U64Bytes(mark)));
    }
    DELTAKV_RETURN_IF_ERROR(
        txn.Put(Table::kMeta, AppliedKey(p.peer), U64Bytes(0)));
    // A transfer from the old incarnation cannot be resumed from the new.
    DELTAKV_RETURN_IF_ERROR(txn.Delete(Table::kMeta, TransferKey(p.peer)));
  }
  return txn.Put(Table::kMeta, PeerReplicaKey(p.peer),
                 U64Bytes(p.peer_replica));
}

ReplicaStats Replica::Stats() const {
  ReplicaStats s;
  s.batches = stat_batches_.load();
  s.ops = stat_ops_.load();
  s.commit_micros = stat_commit_us_.load();
  s.map_full_retries = stat_retries_.load();
  s.list_cache_hits = stat_lc_hits_.load();
  s.list_cache_misses = stat_lc_misses_.load();
  s.list_cache_evictions = stat_lc_evictions_.load();
  s.list_cache_bytes = stat_lc_bytes_.load();
  s.list_cache_entries = stat_lc_entries_.load();
  return s;
}

Result<OpResult> Replica::ApplyRemoteInTxn(storage::WriteTxn& txn,
                                           TxnApply& apply,
                                           const RemoteBatch& b,
                                           bool* storage_failure,
                                           bool* poisoned) {
  // States from another node of this region: joined, no watermark.
  auto applied = b.origin.empty() ? Result<uint64_t>(uint64_t{0})
                                  : GetU64(txn, AppliedKey(b.origin), 0);
  if (!applied.ok()) {
    *storage_failure = true;
    return applied.status();
  }
  const uint64_t mark = *applied;
  if (!b.snapshot) {
    if (b.last <= mark) return OpResult{};  // duplicate
    if (b.first > mark + 1) {
      return Status::InvalidArgument(
          "remote batch " + std::to_string(b.first) + ".." +
          std::to_string(b.last) + " of " + b.origin +
          " does not follow its applied watermark " + std::to_string(mark));
    }
  }
  Status skipped;
  for (const LoggedDelta& d : b.deltas) {
    Status st = apply.Remote(d.key, d.type, d.delta);
    if (apply.storage_failed()) {
      *storage_failure = true;
      return st;
    }
    if (st.ok()) continue;
    // Two regions that created a key with different types: the entry is
    // skipped (reported), the stream goes on.
    if (st.code() == Code::kWrongType) {
      if (skipped.ok()) skipped = st;
      continue;
    }
    // Anything else (a corrupt or oversized entry) refuses the whole batch:
    // the watermark must not pass data that was not applied.
    *poisoned = true;
    return Status(st.code(), "remote batch " + std::to_string(b.first) + ".." +
                                 std::to_string(b.last) + " of " + b.origin +
                                 ", key '" + d.key + "': " + st.message());
  }
  auto put = [&](std::string_view key, std::string_view value) {
    Status st = txn.Put(Table::kMeta, key, value);
    if (!st.ok()) *storage_failure = true;
    return st;
  };
  const uint64_t new_mark = b.transfer_done ? b.transfer_seq : b.last;
  // A finished transfer always records the watermark (even 0): heartbeats
  // then tell the sender it may stop keeping its log for us.
  if (new_mark > mark || b.transfer_done) {
    DELTAKV_RETURN_IF_ERROR(
        put(AppliedKey(b.origin), U64Bytes(std::max(mark, new_mark))));
  }
  if (b.transfer) {
    if (b.transfer_done) {
      Status st = txn.Delete(Table::kMeta, TransferKey(b.origin));
      if (!st.ok()) {
        *storage_failure = true;
        return st;
      }
      DELTAKV_RETURN_IF_ERROR(put(BootstrappedKey(b.origin), U64Bytes(1)));
    } else {
      std::string progress = U64Bytes(b.transfer_seq);
      progress += b.transfer_cursor;
      DELTAKV_RETURN_IF_ERROR(put(TransferKey(b.origin), progress));
    }
  }
  if (!skipped.ok()) return skipped;
  return OpResult{};
}

Status Replica::TrimInTxn(storage::WriteTxn& txn, uint64_t through) {
  {
    // Entries a running state transfer will need stay.
    std::lock_guard<std::mutex> l(pin_mu_);
    for (const auto& [requester, from] : log_pins_) {
      // A pin holds at most 4 x max_log_entries: beyond that the log bound
      // wins and the transfer's catch-up asks for a state transfer again.
      if (local_seq_ >= from &&
          local_seq_ - from >= 4 * options_.max_log_entries) {
        continue;
      }
      through = std::min(through, from - 1);
    }
  }
  if (through < log_start_pending_) return Status::OK();
  through = std::min(through, local_seq_);
  for (uint64_t s = log_start_pending_; s <= through; ++s) {
    DELTAKV_RETURN_IF_ERROR(
        txn.Delete(Table::kDeltaLog, LogKey(options_.region, s)));
  }
  log_start_pending_ = through + 1;
  return txn.Put(Table::kMeta, kMetaLogStart, U64Bytes(log_start_pending_));
}

void Replica::SyncLoop() {
  std::unique_lock<std::mutex> l(sync_mu_);
  while (!sync_stop_) {
    sync_cv_.wait_for(l, std::chrono::milliseconds(options_.sync_interval_ms),
                      [&] { return sync_stop_; });
    l.unlock();
    // What is committed before the fsync is durable after it.
    const uint64_t seq = committed_seq_.load();
    auto marks = AppliedMarks(false);
    if (env_->Sync().ok() && marks.ok()) {
      std::lock_guard<std::mutex> d(durable_mu_);
      durable_seq_ = std::max(durable_seq_, seq);
      durable_marks_ = std::move(*marks);
    }
    l.lock();
  }
}

}  // namespace deltakv::replication
