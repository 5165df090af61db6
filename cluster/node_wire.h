// NodeWire: the frames the nodes of a region cluster exchange over their
// --internal ZeroMQ sockets (docs/formats.md, "Node-to-node frames"). One
// ZeroMQ message = one frame:
//
//   byte 0    magic 0xD8
//   byte 1    version (1)
//   byte 2    kind (Kind below)
//   bytes 3-10  request id, u64 little-endian (a reply carries its request's)
//   payload   the kind's fields: unsigned varints (LEB128, at most 10
//             bytes), byte strings as a varint length and the bytes,
//             booleans and enums as one byte
//
// Requests go DEALER -> ROUTER, replies back. Every reply starts with a
// status (code byte, message string); the kind's fields follow only when
// the code is OK.
//
// Decoding takes untrusted bytes: lengths are checked against what is left
// before anything is allocated, counts against caps, enums against their
// ranges, and trailing bytes are refused. Anything malformed is Corruption.
//
// Thread-safety: stateless functions.
#ifndef DELTAKV_CLUSTER_NODE_WIRE_H_
#define DELTAKV_CLUSTER_NODE_WIRE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/service.h"
#include "deltakv/status.h"

namespace deltakv::cluster::wire {

inline constexpr uint8_t kMagic = 0xD8;
inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kHeaderBytes = 11;
// Frames larger than this are refused (also ZMQ_MAXMSGSIZE): a key's state
// is at most --max-key-bytes (64 MiB) plus its name and dots.
inline constexpr size_t kMaxFrameBytes = 80ull << 20;
// Values of one write, states of one apply, keys of one scan page.
inline constexpr size_t kMaxItems = 1ull << 20;

enum class Kind : uint8_t {
  kApply = 1,   // join these states/deltas; reply: status
  kDigest = 2,  // key -> whether held, type, digest of the state
  kState = 3,   // key -> whether held, type, state
  kWrite = 4,   // a write forwarded to a replica that coordinates it
  kRead = 5,    // a read forwarded likewise
  kScan = 6,    // a page of this node's keys
  kReply = 7,   // the answer to any request
};
inline constexpr uint8_t kMaxKind = 7;

// A key's state or delta (crdt codec bytes) with its type tag.
struct KeyBlob {
  std::string key;
  uint8_t type = 0;  // crdt::CrdtType
  std::string blob;
};

struct Frame {
  Kind kind = Kind::kReply;
  uint64_t id = 0;
  Kind request = Kind::kApply;  // kReply: the kind it answers (echoed)

  // kApply: the states; kState/kDigest reply: at most one (none: not held).
  std::vector<KeyBlob> blobs;
  // kDigest/kState request, kWrite, kRead: the key (kWrite/kRead: in op).
  std::string key;
  uint64_t digest = 0;  // kDigest reply

  // kWrite
  WriteOp write;
  uint32_t w = 0;  // WriteOptions::w
  // kRead
  ReadOp read;
  uint32_t r = 0;           // ReadOptions::r
  uint32_t timeout_ms = 0;  // kWrite, kRead: the caller's patience

  // kScan request
  std::string prefix, after;
  uint64_t limit = 0;

  // kReply
  Status status;
  WriteResult write_result;
  ReadResult read_result;
  ScanResult scan_result;
};

// Encodes `f` (Frame::kind decides the fields written).
std::string Encode(const Frame& f);
// Decodes one frame. Corruption for anything malformed.
Result<Frame> Decode(std::string_view bytes);

}  // namespace deltakv::cluster::wire

#endif  // DELTAKV_CLUSTER_NODE_WIRE_H_
