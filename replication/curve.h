// CurveZMQ keys for region links: loading key files, generating key pairs,
// and the ZAP handler that admits only the configured peer public keys
// (without a ZAP handler libzmq accepts any client key).
//
// Key files hold the Z85 text of a key (40 characters; surrounding
// whitespace ignored). A peer keys folder holds one file per peer,
// "<region>.key", with that region's public key.
//
// Thread-safety: CurveKeys is a value. ZapHandler runs its own thread.
#ifndef DELTAKV_REPLICATION_CURVE_H_
#define DELTAKV_REPLICATION_CURVE_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "deltakv/status.h"

namespace zmq {
class context_t;
}

namespace deltakv::replication {

struct CurveKeys {
  std::string public_key;                        // Z85, ours
  std::string secret_key;                        // Z85, ours
  std::map<std::string, std::string> peer_keys;  // region -> Z85 public key
};

// Unavailable when libzmq was built without CURVE.
Status CheckCurveAvailable();
// A fresh key pair (Z85).
Result<std::pair<std::string, std::string>> GenerateKeyPair();
// Reads our secret key (deriving the public key) and the peers' keys.
Result<CurveKeys> LoadCurveKeys(const std::string& secret_key_file,
                                const std::string& peer_keys_dir);

// Answers ZAP requests on inproc://zeromq.zap.01 of `ctx`: CURVE clients
// whose public key is allowed get 200, everyone else 400. Counts refusals.
class ZapHandler {
 public:
  static Result<std::unique_ptr<ZapHandler>> Start(zmq::context_t* ctx,
                                                   std::set<std::string> z85);
  ~ZapHandler();
  uint64_t refused() const { return refused_.load(); }
  void SetAllowed(std::set<std::string> z85);

 private:
  ZapHandler() = default;
  void Loop();

  zmq::context_t* ctx_ = nullptr;
  std::unique_ptr<class ZapSocket> socket_;
  std::mutex mu_;
  std::set<std::string> allowed_;  // guarded by mu_
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> refused_{0};
  std::thread thread_;
};

}  // namespace deltakv::replication

#endif  // DELTAKV_REPLICATION_CURVE_H_
