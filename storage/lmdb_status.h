// The one place where LMDB return codes become Status values.
//
// Thread-safety: stateless.
#ifndef DELTAKV_STORAGE_LMDB_STATUS_H_
#define DELTAKV_STORAGE_LMDB_STATUS_H_

#include <string_view>

#include "deltakv/status.h"

namespace deltakv::storage {

// Maps an MDB_* or errno code to a Status, keeping mdb_strerror's text and
// naming `what` was being done. MDB_SUCCESS is OK; MDB_NOTFOUND is NotFound;
// MDB_MAP_FULL is Unavailable; MDB_CORRUPTED, MDB_PAGE_NOTFOUND,
// MDB_VERSION_MISMATCH and MDB_INVALID are Corruption; MDB_BAD_VALSIZE is
// TooLarge; MDB_READERS_FULL, MDB_TXN_FULL, MDB_CURSOR_FULL, MDB_DBS_FULL
// and MDB_MAP_RESIZED are Unavailable; everything else is IOError.
Status MdbStatus(int rc, std::string_view what);

}  // namespace deltakv::storage

#endif  // DELTAKV_STORAGE_LMDB_STATUS_H_
