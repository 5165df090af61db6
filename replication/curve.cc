#include "replication/curve.h"

#include <zmq.h>

#include <filesystem>
#include <fstream>
#include <zmq.hpp>

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

}  // namespace

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

Result<CurveKeys> LoadCurveKeys(const std::string& secret_key_file,
                                const std::string& peer_keys_dir) {
  DELTAKV_RETURN_IF_ERROR(CheckCurveAvailable());
  CurveKeys keys;
  DELTAKV_ASSIGN_OR_RETURN(keys.secret_key, ReadKeyFile(secret_key_file));
  char pub[41];
  if (zmq_curve_public(pub, keys.secret_key.c_str()) != 0) {
    return Status::InvalidArgument("cannot derive the public key from " +
                                   secret_key_file);
  }
  keys.public_key.assign(pub, 40);
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator(peer_keys_dir, ec)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".key") {
      continue;
    }
    DELTAKV_ASSIGN_OR_RETURN(std::string k, ReadKeyFile(entry.path().string()));
    keys.peer_keys[entry.path().stem().string()] = k;
  }
  if (ec) {
    return Status::InvalidArgument("cannot read peer keys folder " +
                                   peer_keys_dir + ": " + ec.message());
  }
  return keys;
}

Result<std::unique_ptr<ZapHandler>> ZapHandler::Start(
    zmq::context_t* ctx, std::set<std::string> z85) {
  std::unique_ptr<ZapHandler> h(new ZapHandler());
  h->ctx_ = ctx;
  h->allowed_ = std::move(z85);
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

void ZapHandler::SetAllowed(std::set<std::string> z85) {
  std::lock_guard<std::mutex> l(mu_);
  allowed_ = std::move(z85);
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
      bool ok = false;
      if (frames.size() >= 7 && frames[5].to_string() == "CURVE" &&
          frames[6].size() == 32) {
        char z85[41];
        zmq_z85_encode(z85, static_cast<const uint8_t*>(frames[6].data()), 32);
        std::lock_guard<std::mutex> l(mu_);
        ok = allowed_.count(std::string(z85, 40)) != 0;
      }
      if (!ok) ++refused_;
      std::string request_id = frames.size() > 1 ? frames[1].to_string() : "";
      s.send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
      s.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
      s.send(zmq::buffer(std::string(ok ? "200" : "400")),
             zmq::send_flags::sndmore);
      s.send(zmq::buffer(std::string(ok ? "OK" : "key not allowed")),
             zmq::send_flags::sndmore);
      s.send(zmq::str_buffer(""), zmq::send_flags::sndmore);
      s.send(zmq::str_buffer(""), zmq::send_flags::none);
    } catch (const zmq::error_t&) {
      if (stop_) break;
    }
  }
}

}  // namespace deltakv::replication
