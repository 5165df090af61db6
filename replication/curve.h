// CurveZMQ keys for region links: loading key files, generating key pairs,
// the ZAP handler that admits only the configured peer public keys (without
// a ZAP handler libzmq accepts any client key) and binds each key to its
// region, and the check that a received frame speaks only for the region
// whose key authenticated it.
//
// Key files hold the Z85 text of a key (40 characters; surrounding
// whitespace ignored). A peer keys folder holds one file per peer,
// "<region>.key", with that region's public key; a key may belong to one
// region only.
//
// Binding: the ZAP handler answers an allowed key with User-Id = the region
// of its file. libzmq attaches that User-Id to every message received over
// the connection, so a Curve server socket (our ROUTER) can refuse a frame
// whose `region` field is not the region of the key that sent it
// (FrameFromRegion). Plaintext links (--insecure-replication) carry no key
// and no User-Id: there every peer is trusted to name its own region.
//
// Thread-safety: CurveKeys is a value; the free functions are stateless.
// ZapHandler runs its own thread; its public methods are safe from any
// thread.
#ifndef DELTAKV_REPLICATION_CURVE_H_
#define DELTAKV_REPLICATION_CURVE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "deltakv/status.h"

namespace zmq {
class context_t;
class message_t;
}  // namespace zmq

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
// InvalidArgument for an unreadable or malformed key file, a file name that
// is not a region id, or one key given for two regions.
Result<CurveKeys> LoadCurveKeys(const std::string& secret_key_file,
                                const std::string& peer_keys_dir);
// Our key pair only (no peer keys): what the nodes of a region cluster
// share.
Result<CurveKeys> LoadCurveKeyPair(const std::string& secret_key_file);

// The ZAP User-Id of the connection `m` was received on: with our ZAP
// handler, the region whose key authenticated the peer. Empty when the
// message carries none (plaintext links, client-side sockets).
std::string AuthenticatedRegion(const zmq::message_t& m);
// Whether a frame that claims to come from `region` may be taken from
// message `m`, a frame the peer sent (on a ROUTER: the body, not the
// routing id the socket prepends, which carries no metadata).
// Insecure mode: always (no keys, peers are trusted). Otherwise only when
// AuthenticatedRegion(m) == region.
bool FrameFromRegion(const zmq::message_t& m, std::string_view region,
                     bool insecure);
// The same decision on an already read User-Id.
bool FrameFromRegion(std::string_view user_id, std::string_view region,
                     bool insecure);

// Answers ZAP requests on inproc://zeromq.zap.01 of `ctx`: a CURVE client
// whose public key is one of `peer_keys` (region -> Z85 public key, as in
// CurveKeys::peer_keys) gets 200 with User-Id = that region; everyone else
// gets 400 and is counted.
class ZapHandler {
 public:
  // InvalidArgument when one key is given for two regions (it could then
  // speak for both); IOError when the ZAP endpoint cannot be bound.
  static Result<std::unique_ptr<ZapHandler>> Start(
      zmq::context_t* ctx, const std::map<std::string, std::string>& peer_keys);
  ~ZapHandler();
  uint64_t refused() const { return refused_.load(); }
  // Replaces the allowed keys (same rules as Start); new connections only.
  Status SetPeerKeys(const std::map<std::string, std::string>& peer_keys);

 private:
  ZapHandler() = default;
  void Loop();

  zmq::context_t* ctx_ = nullptr;
  std::unique_ptr<class ZapSocket> socket_;
  std::mutex mu_;
  std::map<std::string, std::string> region_of_key_;  // guarded by mu_
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> refused_{0};
  std::thread thread_;
};

}  // namespace deltakv::replication

#endif  // DELTAKV_REPLICATION_CURVE_H_
