#include "storage/environment.h"

#include <fcntl.h>
#include <lmdb.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "storage/lmdb_status.h"

namespace deltakv::storage {

namespace {

constexpr std::array<const char*, kTableCount> kTableNames = {
    "keys", "records", "index", "deltalog", "meta"};

MDB_val Val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

std::string_view View(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

}  // namespace

// ------------------------------------------------------------------ Cursor

Cursor::Cursor(Cursor&& other) noexcept
    : cursor_(other.cursor_),
      valid_(other.valid_),
      key_(other.key_),
      value_(other.value_),
      status_(std::move(other.status_)) {
  other.cursor_ = nullptr;
}

Cursor::~Cursor() {
  if (cursor_ != nullptr) mdb_cursor_close(cursor_);
}

bool Cursor::Step(int op, std::string_view key) {
  MDB_val k = Val(key), v{0, nullptr};
  int rc = mdb_cursor_get(cursor_, &k, &v, static_cast<MDB_cursor_op>(op));
  if (rc == MDB_SUCCESS) {
    key_ = View(k);
    value_ = View(v);
    valid_ = true;
    return true;
  }
  valid_ = false;
  if (rc != MDB_NOTFOUND) status_ = MdbStatus(rc, "cursor");
  return false;
}

bool Cursor::Seek(std::string_view key) {
  if (key.empty()) return First();
  return Step(MDB_SET_RANGE, key);
}
bool Cursor::First() { return Step(MDB_FIRST, {}); }
bool Cursor::Next() { return valid_ && Step(MDB_NEXT, {}); }

// ------------------------------------------------------------ transactions

ReadTxn::ReadTxn(Environment* env, MDB_txn* txn,
                 std::shared_lock<std::shared_mutex> l)
    : env_(env), txn_(txn), lock_(std::move(l)) {}

ReadTxn::ReadTxn(ReadTxn&& other) noexcept
    : env_(other.env_), txn_(other.txn_), lock_(std::move(other.lock_)) {
  other.txn_ = nullptr;
}

ReadTxn::~ReadTxn() { Release(); }

void ReadTxn::Release() {
  if (txn_ != nullptr) {
    mdb_txn_abort(txn_);
    txn_ = nullptr;
  }
  if (lock_.owns_lock()) lock_.unlock();
}

Status ReadTxn::Get(Table table, std::string_view key,
                    std::string_view* value) const {
  if (txn_ == nullptr) return Status::Unavailable("transaction finished");
  MDB_val k = Val(key), v{0, nullptr};
  int rc = mdb_get(txn_, env_->dbi_[static_cast<int>(table)], &k, &v);
  if (rc == MDB_NOTFOUND) return Status(Code::kNotFound, "");
  if (rc != MDB_SUCCESS) return MdbStatus(rc, "get");
  *value = View(v);
  return Status::OK();
}

Result<Cursor> ReadTxn::OpenCursor(Table table) const {
  if (txn_ == nullptr) return Status::Unavailable("transaction finished");
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(txn_, env_->dbi_[static_cast<int>(table)], &c);
  if (rc != MDB_SUCCESS) return MdbStatus(rc, "open cursor");
  return Cursor(c);
}

WriteTxn::~WriteTxn() = default;

Status WriteTxn::Put(Table table, std::string_view key,
                     std::string_view value) {
  if (txn_ == nullptr) return Status::Unavailable("transaction finished");
  MDB_val k = Val(key), v = Val(value);
  int rc = mdb_put(txn_, env_->dbi_[static_cast<int>(table)], &k, &v, 0);
  return rc == MDB_SUCCESS ? Status::OK() : MdbStatus(rc, "put");
}

Status WriteTxn::Delete(Table table, std::string_view key) {
  if (txn_ == nullptr) return Status::Unavailable("transaction finished");
  MDB_val k = Val(key);
  int rc = mdb_del(txn_, env_->dbi_[static_cast<int>(table)], &k, nullptr);
  if (rc == MDB_SUCCESS || rc == MDB_NOTFOUND) return Status::OK();
  return MdbStatus(rc, "delete");
}

Status WriteTxn::Commit() {
  if (txn_ == nullptr) return Status::Unavailable("transaction finished");
  int rc = mdb_txn_commit(txn_);
  txn_ = nullptr;  // LMDB frees the transaction either way
  Release();
  return rc == MDB_SUCCESS ? Status::OK() : MdbStatus(rc, "commit");
}

void WriteTxn::Abort() { Release(); }

// ------------------------------------------------------------- Environment

Result<std::unique_ptr<Environment>> Environment::Open(
    const EnvOptions& options) {
  if (options.path.empty()) {
    return Status::InvalidArgument("storage path is empty");
  }
  if (options.initial_map_bytes == 0 ||
      options.max_map_bytes < options.initial_map_bytes) {
    return Status::InvalidArgument(
        "map sizes: need 0 < initial_map_bytes <= max_map_bytes");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.path, ec);
  if (ec) {
    return Status::IOError("create " + options.path + ": " + ec.message());
  }
  std::unique_ptr<Environment> env(new Environment());
  env->options_ = options;
  const std::string lock_path = options.path + "/deltakv.lock";
  env->lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (env->lock_fd_ < 0) {
    return Status::IOError("open " + lock_path + ": " + std::strerror(errno));
  }
  if (flock(env->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Status::Unavailable("data folder " + options.path +
                               " is in use by another process");
  }
  int rc = mdb_env_create(&env->env_);
  if (rc != MDB_SUCCESS) return MdbStatus(rc, "mdb_env_create");
  env->map_bytes_ = options.initial_map_bytes;
  if ((rc = mdb_env_set_maxdbs(env->env_, kTableCount)) != MDB_SUCCESS ||
      (rc = mdb_env_set_maxreaders(env->env_, options.max_readers)) !=
          MDB_SUCCESS ||
      (rc = mdb_env_set_mapsize(env->env_, env->map_bytes_)) != MDB_SUCCESS) {
    return MdbStatus(rc, "configure environment");
  }
  // MDB_NOTLS: read transactions are not tied to threads (gateway I/O
  // threads hand work around). MDB_NORDAHEAD: random access workload.
  unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
  if (options.no_sync) flags |= MDB_NOSYNC;
  rc = mdb_env_open(env->env_, options.path.c_str(), flags, 0644);
  if (rc != MDB_SUCCESS) {
    return MdbStatus(rc, "open environment at " + options.path);
  }
  // An existing environment may be larger than the initial size.
  MDB_envinfo info;
  mdb_env_info(env->env_, &info);
  env->map_bytes_ = std::max<uint64_t>(env->map_bytes_, info.me_mapsize);
  env->ClearStaleReaders();
  DELTAKV_RETURN_IF_ERROR(env->OpenTables());
  return env;
}

Status Environment::OpenTables() {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
  if (rc != MDB_SUCCESS) return MdbStatus(rc, "begin (open tables)");
  for (int i = 0; i < kTableCount; ++i) {
    MDB_dbi dbi;
    rc = mdb_dbi_open(txn, kTableNames[i], MDB_CREATE, &dbi);
    if (rc != MDB_SUCCESS) {
      mdb_txn_abort(txn);
      return MdbStatus(rc, std::string("open table ") + kTableNames[i]);
    }
    dbi_[i] = dbi;
  }
  rc = mdb_txn_commit(txn);
  return rc == MDB_SUCCESS ? Status::OK() : MdbStatus(rc, "commit tables");
}

Environment::~Environment() {
  if (env_ != nullptr) {
    if (options_.no_sync) mdb_env_sync(env_, 1);
    mdb_env_close(env_);
  }
  if (lock_fd_ >= 0) close(lock_fd_);  // releases the flock
}

Result<ReadTxn> Environment::BeginRead() {
  std::shared_lock<std::shared_mutex> lock(resize_mu_);
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
  if (rc != MDB_SUCCESS) return MdbStatus(rc, "begin read");
  return ReadTxn(this, txn, std::move(lock));
}

Result<WriteTxn> Environment::BeginWrite() {
  std::shared_lock<std::shared_mutex> lock(resize_mu_);
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
  if (rc != MDB_SUCCESS) return MdbStatus(rc, "begin write");
  return WriteTxn(this, txn, std::move(lock));
}

Status Environment::Grow() {
  std::unique_lock<std::shared_mutex> lock(resize_mu_);
  if (map_bytes_ >= options_.max_map_bytes) {
    return Status::Unavailable("storage full: the map reached its maximum of " +
                               std::to_string(options_.max_map_bytes) +
                               " bytes (max_map_bytes)");
  }
  uint64_t next = std::min(map_bytes_ * 2, options_.max_map_bytes);
  int rc = mdb_env_set_mapsize(env_, next);
  if (rc != MDB_SUCCESS) return MdbStatus(rc, "grow map");
  map_bytes_ = next;
  return Status::OK();
}

Status Environment::Sync() {
  int rc = mdb_env_sync(env_, 1);
  return rc == MDB_SUCCESS ? Status::OK() : MdbStatus(rc, "sync");
}

MapUsage Environment::Usage() const {
  // mdb_env_info and mdb_env_stat read the meta pages through the map, which
  // Grow() unmaps and maps again: hold the resize lock like a transaction.
  std::shared_lock<std::shared_mutex> lock(resize_mu_);
  MDB_envinfo info;
  MDB_stat stat;
  mdb_env_info(env_, &info);
  mdb_env_stat(env_, &stat);
  MapUsage u;
  u.map_bytes = info.me_mapsize;
  u.used_bytes = (info.me_last_pgno + 1) * uint64_t{stat.ms_psize};
  u.max_bytes = options_.max_map_bytes;
  return u;
}

Status Environment::CopyTo(int fd) const {
  std::shared_lock<std::shared_mutex> lock(resize_mu_);
  int rc = mdb_env_copyfd2(env_, fd, MDB_CP_COMPACT);
  return rc == MDB_SUCCESS ? Status::OK() : MdbStatus(rc, "copy");
}

int Environment::ClearStaleReaders() {
  int dead = 0;
  mdb_reader_check(env_, &dead);
  return dead;
}

}  // namespace deltakv::storage
