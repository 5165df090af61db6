#include "storage/lmdb_status.h"

#include <lmdb.h>

#include <string>

namespace deltakv::storage {

Status MdbStatus(int rc, std::string_view what) {
  if (rc == MDB_SUCCESS) return Status::OK();
  std::string msg(what);
  msg += ": ";
  msg += mdb_strerror(rc);
  switch (rc) {
    case MDB_NOTFOUND:
      return Status::NotFound(std::move(msg));
    case MDB_MAP_FULL:
    case MDB_READERS_FULL:
    case MDB_TXN_FULL:
    case MDB_CURSOR_FULL:
    case MDB_DBS_FULL:
    case MDB_MAP_RESIZED:
      return Status::Unavailable(std::move(msg));
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_VERSION_MISMATCH:
    case MDB_INVALID:
      return Status::Corruption(std::move(msg));
    case MDB_BAD_VALSIZE:
      return Status::TooLarge(std::move(msg));
    default:
      return Status::IOError(std::move(msg));
  }
}

}  // namespace deltakv::storage
