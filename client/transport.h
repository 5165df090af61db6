// Transport: what the typed client facade needs from a region. Two
// implementations: the embedded replica (client/embedded_transport.cc) and
// REST over HTTP or HTTPS (client/remote_transport.cc). Internal.
//
// Thread-safety: implementations are safe for concurrent use.
#ifndef DELTAKV_CLIENT_TRANSPORT_H_
#define DELTAKV_CLIENT_TRANSPORT_H_

#include <string>
#include <string_view>
#include <vector>

#include "deltakv/db.h"

namespace deltakv {

class Transport {
 public:
  virtual ~Transport() = default;
  virtual Result<int64_t> CounterIncrement(const std::string& key,
                                           int64_t by) = 0;
  virtual Result<int64_t> CounterValue(const std::string& key) = 0;
  virtual Status RegisterSet(const std::string& key,
                             std::string_view value) = 0;
  virtual Result<RegisterValue> RegisterGet(const std::string& key) = 0;
  virtual Result<uint64_t> SetAdd(const std::string& key,
                                  const std::vector<std::string>& m) = 0;
  virtual Result<uint64_t> SetRemove(const std::string& key,
                                     const std::vector<std::string>& m) = 0;
  virtual Result<bool> SetContains(const std::string& key,
                                   std::string_view member) = 0;
  virtual Result<std::vector<std::string>> SetMembers(
      const std::string& key) = 0;
  // List edits: kind 0 insert at index, 1 delete count at index, 2 push
  // back, 3 push front. Return the length afterwards.
  virtual Result<uint64_t> ListEdit(const std::string& key, int kind,
                                    uint64_t index, uint64_t count,
                                    const std::vector<std::string>& values) = 0;
  // Inserts each code point of `text` as one value (by default through
  // ListEdit; a remote transport sends the text as it is).
  virtual Result<uint64_t> ListInsertText(const std::string& key,
                                          uint64_t index,
                                          std::string_view text);
  virtual Result<ListRange> ListGet(const std::string& key, uint64_t offset,
                                    uint64_t limit) = 0;
  virtual Result<bool> Delete(std::string_view key) = 0;
  virtual Result<KeyType> TypeOf(std::string_view key) = 0;
  virtual Result<ScanResult> Scan(std::string_view prefix,
                                  std::string_view cursor, size_t limit) = 0;
};

}  // namespace deltakv

#endif  // DELTAKV_CLIENT_TRANSPORT_H_
