// EtcdClient: the etcd v3 operations the region cluster needs, over etcd's
// JSON gateway (HTTP/1.1, keys and values base64 in JSON; etcd 3.4 serves
// it on the client port). Several endpoints may be given: a call goes to
// the endpoint that answered last and fails over to the next one on a
// connection error, a timeout or a 5xx answer. Every call is bounded by
// the client's timeout, and every answer is validated: a malformed body
// (JSON, base64, numbers) is an error Status, never a crash.
//
// Only http:// endpoints (no TLS to etcd yet).
//
// Thread-safety: every method may be called from any thread; calls run
// independently (one connection each).
#ifndef DELTAKV_CLUSTER_ETCD_H_
#define DELTAKV_CLUSTER_ETCD_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "deltakv/status.h"

namespace deltakv::cluster {

struct EtcdKeyValue {
  std::string key, value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct EtcdRange {
  int64_t revision = 0;  // the store's revision when it answered
  std::vector<EtcdKeyValue> kvs;
};

// One comparison of a transaction: the key's `target` EQUAL to `value`
// (a missing key has version and mod_revision 0).
struct EtcdCompare {
  enum class Target { kVersion, kModRevision };
  std::string key;
  Target target = Target::kModRevision;
  int64_t value = 0;
};

// One operation of a transaction.
struct EtcdOp {
  enum class Kind { kPut, kDelete, kRange };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;      // kPut
  int64_t lease = 0;      // kPut: 0 for none
  std::string range_end;  // kDelete, kRange: "" for the one key
};

struct EtcdTxnResult {
  bool succeeded = false;
  int64_t revision = 0;
  // One per operation of the branch that ran; filled for kRange.
  std::vector<EtcdRange> ranges;
};

struct EtcdLease {
  int64_t id = 0;
  int64_t ttl_seconds = 0;  // what is left (keepalive: the full TTL again)
};

struct EtcdWatchEvent {
  bool deleted = false;  // DELETE; otherwise PUT
  EtcdKeyValue kv;
};

struct EtcdWatchBatch {
  int64_t revision = 0;  // the store's revision of the batch
  bool created = false;  // the watch's first message
  std::vector<EtcdWatchEvent> events;
};

struct EtcdOptions {
  // "http://HOST:PORT" each; at least one.
  std::vector<std::string> endpoints;
  std::chrono::milliseconds timeout{3000};  // per call, all attempts
};

class EtcdClient {
 public:
  // InvalidArgument: no endpoint, or one that is not http://HOST:PORT.
  static Result<EtcdClient> Create(EtcdOptions options);
  // Parses "http://a:2379,http://b:2379" style lists (the --etcd flag).
  static Result<std::vector<std::string>> ParseEndpoints(std::string_view s);

  EtcdClient(EtcdClient&& other) noexcept;
  ~EtcdClient();

  // The key, or every key in [key, range_end) ("" : the key alone).
  Result<EtcdRange> Range(std::string_view key,
                          std::string_view range_end = {}) const;
  // Every key starting with `prefix`.
  Result<EtcdRange> RangePrefix(std::string_view prefix) const;
  // Returns the store's revision after the put.
  Result<int64_t> Put(std::string_view key, std::string_view value,
                      int64_t lease = 0) const;
  // Returns the number of keys deleted.
  Result<int64_t> Delete(std::string_view key,
                         std::string_view range_end = {}) const;
  // Runs `success` when every comparison holds, `failure` otherwise.
  Result<EtcdTxnResult> Txn(const std::vector<EtcdCompare>& compare,
                            const std::vector<EtcdOp>& success,
                            const std::vector<EtcdOp>& failure) const;

  Result<EtcdLease> LeaseGrant(int64_t ttl_seconds) const;
  // NotFound when the lease expired or was revoked.
  Result<EtcdLease> LeaseKeepAlive(int64_t id) const;
  Status LeaseRevoke(int64_t id) const;

  // Watches [key, range_end) from `start_revision` (0: from now) until
  // `on_batch` returns false, `stopped` returns true (asked every 100 ms),
  // or the stream fails. Returns OK when stopped or told to stop; an error
  // when the stream failed, timed out connecting, or the revision was
  // compacted (Code::kNotFound: re-read and watch again from the new
  // revision). Blocks: call it on a thread of its own.
  Status Watch(std::string_view key, std::string_view range_end,
               int64_t start_revision,
               const std::function<bool(const EtcdWatchBatch&)>& on_batch,
               const std::function<bool()>& stopped) const;

  // The end of the range of every key starting with `prefix`.
  static std::string PrefixEnd(std::string_view prefix);
  const std::vector<std::string>& endpoints() const { return endpoints_; }

 private:
  struct Endpoint {
    std::string host, port;
  };
  EtcdClient() = default;
  // POSTs `body` to `path`; the 200 body, or an error.
  Result<std::string> Post(std::string_view path,
                           const std::string& body) const;

  std::vector<std::string> endpoints_;
  std::vector<Endpoint> parsed_;
  std::chrono::milliseconds timeout_{3000};
  mutable std::atomic<size_t> preferred_{0};  // the endpoint that answered last
};

// The JSON of etcd's answers, parsed and validated (exposed for tests).
namespace etcd_json {
std::string Base64Encode(std::string_view bytes);
// InvalidArgument on a character outside the alphabet, bad padding, or
// stray bits under the padding (only canonical base64, as etcd writes).
Result<std::string> Base64Decode(std::string_view text);
Result<EtcdRange> ParseRange(std::string_view body);
Result<int64_t> ParsePut(std::string_view body);
Result<int64_t> ParseDeleteRange(std::string_view body);
Result<EtcdTxnResult> ParseTxn(std::string_view body);
Result<EtcdLease> ParseLeaseGrant(std::string_view body);
Result<EtcdLease> ParseLeaseKeepAlive(std::string_view body);
// One message of a watch stream.
Result<EtcdWatchBatch> ParseWatchMessage(std::string_view body);
// Cuts complete top-level JSON objects off the front of `buffer` (a
// stream), leaving an incomplete tail; InvalidArgument on bytes that
// cannot start one or an object above `max_bytes`.
Status SplitObjects(std::string* buffer, std::vector<std::string>* out,
                    size_t max_bytes = 16 << 20);
}  // namespace etcd_json

}  // namespace deltakv::cluster

#endif  // DELTAKV_CLUSTER_ETCD_H_
