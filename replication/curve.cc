#include "replication/curve.h"

#include <zmq.h>

#include <filesystem>
#include <fstream>
#include <vector>
#include <zmq.hpp>

#include "core/ids.h"

namespace deltakv::replication {

class ZapSocket {
 public:
  explicit ZapSocket(zmq::context_t& ctx)
      : socket(ctx, zmq::socket_type::rep) {}
  zmq::socket_t socket;
};

namespace {

Result<std::string> ReadKeyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument("cannot read key file " + path);
  std::string key;
  in >> key;
  if (key.size() != 40) {
    return Status::InvalidArgument("key file " + path +
                                   " must hold a 40-character Z85 key");
  }
  uint8_t raw[32];
  if (zmq_z85_decode(raw, key.c_str()) == nullptr) {
    return Status::InvalidArgument("key file " + path + " is not Z85");
  }
  return key;
}

// key -> region, refusing a key given for two regions (it could speak for
// both, and the User-Id could name only one).
Result<std::map<std::string, std::string>> RegionsByKey(
    const std::map<std::string, std::string>& peer_keys) {
  std::map<std::string, std::string> out;
  for (const auto& [region, key] : peer_keys) {
    auto [it, fresh] = out.emplace(key, region);
    if (!fresh) {
      return Status::InvalidArgument("peer regions " + it->second + " and " +
                                     region +
                                     " have the same public key; each region "
                                     "needs its own key pair");
    }
  }
  return out;
}

}  // namespace

std::string AuthenticatedRegion(const zmq::message_t& m) {
  const char* user_id = zmq_msg_gets(m.handle(), "User-Id");
  return user_id == nullptr ? std::string() : std::string(user_id);
}

bool FrameFromRegion(std::string_view user_id, std::string_view region,
                     bool insecure) {
  if (insecure) return true;
  return !user_id.empty() && user_id == region;
}

bool FrameFromRegion(const zmq::message_t& m, std::string_view region,
                     bool insecure) {
  if (insecure) return true;
  return FrameFromRegion(AuthenticatedRegion(m), region, false);
}

Status CheckCurveAvailable() {
  if (!zmq_has("curve")) {
    return Status::Unavailable(
        "this libzmq has no CURVE support; use --insecure-replication only "
        "for development");
  }
  return Status::OK();
}

Result<std::pair<std::string, std::string>> GenerateKeyPair() {
  DELTAKV_RETURN_IF_ERROR(CheckCurveAvailable());
  char pub[41], sec[41];
  if (zmq_curve_keypair(pub, sec) != 0) {
    return Status::IOError("zmq_curve_keypair failed");
  }
  return std::make_pair(std::string(pub, 40), std::string(sec, 40));
}

Result<CurveKeys> LoadCurveKeyPair(const std::string& secret_key_file) {
  DELTAKV_RETURN_IF_ERROR(CheckCurveAvailable());
  CurveKeys keys;
  DELTAKV_ASSIGN_OR_RETURN(keys.secret_key, ReadKeyFile(secret_key_file));
  char pub[41];
  if (zmq_curve_public(pub, keys.secret_key.c_str()) != 0) {
    return Status::InvalidArgument("cannot derive the public key from " +
                                   secret_key_file);
  }
  keys.public_key.assign(pub, 40);
  return keys;
}

Result<CurveKeys> LoadCurveKeys(const std::string& secret_key_file,
                                const std::string& peer_keys_dir) {
  DELTAKV_ASSIGN_OR_RETURN(CurveKeys keys, LoadCurveKeyPair(secret_key_file));
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator(peer_keys_dir, ec)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".key") {
      continue;
    }
    const std::string region = entry.path().stem().string();
    if (!RegionId::Parse(region).ok()) {
      return Status::InvalidArgument(
          "peer key file " + entry.path().string() + ": \"" + region +
          "\" is not a region id (1-64 characters of a-z 0-9 - _ .)");
    }
    DELTAKV_ASSIGN_OR_RETURN(std::string k, ReadKeyFile(entry.path().string()));
    keys.peer_keys[region] = k;
  }
  if (ec) {
    return Status::InvalidArgument("cannot read peer keys folder " +
                                   peer_keys_dir + ": " + ec.message());
  }
  DELTAKV_RETURN_IF_ERROR(RegionsByKey(keys.peer_keys).status());
  return keys;
}

Result<std::unique_ptr<ZapHandler>> ZapHandler::Start(
    zmq::context_t* ctx, const std::map<std::string, std::string>& peer_keys) {
  std::unique_ptr<ZapHandler> h(new ZapHandler());
  h->ctx_ = ctx;
  DELTAKV_ASSIGN_OR_RETURN(h->region_of_key_, RegionsByKey(peer_keys));
  try {
    h->socket_ = std::make_unique<ZapSocket>(*ctx);
    h->socket_->socket.set(zmq::sockopt::linger, 0);
    h->socket_->socket.bind("inproc://zeromq.zap.01");
  } catch (const zmq::error_t& e) {
    return Status::IOError(std::string("ZAP handler: ") + e.what());
  }
  h->thread_ = std::thread([p = h.get()] { p->Loop(); });
  return h;
}

ZapHandler::~ZapHandler() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

Status ZapHandler::SetPeerKeys(
    const std::map<std::string, std::string>& peer_keys) {
  DELTAKV_ASSIGN_OR_RETURN(auto by_key, RegionsByKey(peer_keys));
  std::lock_guard<std::mutex> l(mu_);
  region_of_key_ = std::move(by_key);
  return Status::OK();
}

void ZapHandler::Loop() {
  zmq::socket_t& s = socket_->socket;
  while (!stop_) {
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      // version, request id, domain, address, identity, mechanism,
      // credentials...
      std::vector<zmq::message_t> frames;
      do {
        zmq::message_t m;
        if (!s.recv(m)) break;
        frames.push_back(std::move(m));
      } while (frames.back().more());
      // The region the key belongs to; empty: not allowed.
      std::string region;
      if (frames.size() >= 7 && frames[5].to_string() == "CURVE" &&
          frames[6].size() == 32) {
        char z85[41];
        zmq_z85_encode(z85, static_cast<const uint8_t*>(frames[6].data()), 32);
        std::lock_guard<std::mutex> l(mu_);
        auto it = region_of_key_.find(std::string(z85, 40));
        if (it != region_of_key_.end()) region = it->second;
      }
      const bool ok = !region.empty();
      if (!ok) ++refused_;
      std::string request_id = frames.size() > 1 ? frames[1].to_string() : "";
      // Reply: version, request id, status code, status text, user id
      // (the key's region: libzmq attaches it to every message of the
      // connection as "User-Id"), metadata.
      s.send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
      s.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
      s.send(zmq::buffer(std::string(ok ? "200" : "400")),
             zmq::send_flags::sndmore);
      s.send(zmq::buffer(std::string(ok ? "OK" : "key not allowed")),
             zmq::send_flags::sndmore);
      s.send(zmq::buffer(region), zmq::send_flags::sndmore);
      s.send(zmq::str_buffer(""), zmq::send_flags::none);
    } catch (const zmq::error_t&) {
      if (stop_) break;
    }
  }
}

}  // namespace deltakv::replication
