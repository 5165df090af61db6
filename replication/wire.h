// Wire: the replication frames exchanged between regions (docs/formats.md,
// "Replication frames"). One ZeroMQ message = one frame:
//
//   byte 0   magic 0xD7
//   byte 1   wire version (1)
//   byte 2   kind (Kind below)
//   byte 3   flags: bit 0 = payload compressed with zstd
//   payload  MessagePack array of 10 (docs/formats.md); when compressed: u32
//            raw size (big-endian) followed by one zstd frame that declares
//            the same content size
//
// Decoding accepts untrusted bytes: every frame is checked (size limits,
// version, kind, field types, region ids, sequence ranges) and anything
// malformed returns Corruption. Memory is bounded before it is allocated:
// a compressed payload may declare at most MaxRawSize(compressed size)
// bytes (checked in the zstd frame header, nothing is allocated for a
// frame that declares more), the MessagePack structure is checked against
// absolute caps (kMaxEntries, kMaxApplied, nesting depth 2, no maps or
// extensions) and against its own length before any object is created, so
// the decoder's working memory stays a small multiple of the raw payload.
// Encode never produces a frame Decode refuses for its ratio: it sends the
// payload uncompressed instead.
//
// Thread-safety: stateless functions.
#ifndef DELTAKV_REPLICATION_WIRE_H_
#define DELTAKV_REPLICATION_WIRE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crdt/codec.h"
#include "deltakv/status.h"

namespace deltakv::replication::wire {

inline constexpr uint8_t kMagic = 0xD7;
inline constexpr uint8_t kVersion = 2;
// Frames larger than this are refused (also set as ZMQ_MAXMSGSIZE).
inline constexpr size_t kMaxFrameBytes = 64ull << 20;
// Payloads above this many bytes are compressed.
inline constexpr size_t kCompressAbove = 256;
// A compressed payload may expand to at most kMaxExpansion times its zstd
// frame's size, or kMinRawAllowance, whichever is larger (never above
// kMaxFrameBytes): see MaxRawSize.
inline constexpr size_t kMaxExpansion = 64;
inline constexpr size_t kMinRawAllowance = 1ull << 20;
// Entries per frame and regions per applied vector. Senders stay below
// these: a catch-up or delta frame holds at most 8192 log entries, a
// snapshot chunk at most its byte budget (1 MiB) of entries.
inline constexpr size_t kMaxEntries = 1ull << 20;
inline constexpr size_t kMaxApplied = 4096;

// The largest raw payload a zstd frame of `compressed` bytes may declare.
constexpr size_t MaxRawSize(size_t compressed) {
  const size_t by_ratio = compressed > kMaxFrameBytes / kMaxExpansion
                              ? kMaxFrameBytes
                              : compressed * kMaxExpansion;
  const size_t allowed =
      by_ratio > kMinRawAllowance ? by_ratio : kMinRawAllowance;
  return allowed < kMaxFrameBytes ? allowed : kMaxFrameBytes;
}

enum class Kind : uint8_t {
  kDeltas = 1,           // PUB: origin's deltas first..last
  kHeartbeat = 2,        // PUB: origin's latest sequence and applied vector
  kCatchupRequest = 3,   // DEALER -> ROUTER: send me from..
  kCatchupReply = 4,     // ROUTER -> DEALER: deltas first..last
  kNeedSnapshot = 5,     // ROUTER -> DEALER: range trimmed; ask a snapshot
  kSnapshotRequest = 6,  // DEALER -> ROUTER: next snapshot chunk
  kSnapshotReply = 7,    // ROUTER -> DEALER: states, next cursor
  kAck = 8,              // DEALER -> ROUTER: what the requester applied
  kStateOffer = 9,       // DEALER -> ROUTER: "I applied an earlier
                         // incarnation of yours: pull my state"
};
inline constexpr uint8_t kMaxKind = 9;

// The largest state a snapshot sends in fragments (a receiver stages one
// key's fragments in memory).
inline constexpr uint64_t kMaxStateBytes = 1ull << 30;

struct Entry {
  std::string key;
  crdt::CrdtType type = crdt::CrdtType::kCounter;
  std::string blob;  // delta (or full state in snapshots), crdt codec bytes
  // Snapshot fragments of a state too large for one frame: `blob` holds
  // bytes [offset, offset + blob.size()) of a state of `total` bytes whose
  // XXH3-64 is `hash`. total == 0: `blob` is whole.
  uint64_t total = 0, offset = 0, hash = 0;
};

// What a region has applied of an origin, and which incarnation of it.
struct AppliedEntry {
  std::string region;
  uint64_t replica = 0;  // the origin's replica id the sequence counts
  uint64_t seq = 0;
  bool operator==(const AppliedEntry&) const = default;
};
using AppliedVector = std::vector<AppliedEntry>;

struct Frame {
  Kind kind = Kind::kDeltas;
  std::string region;      // sender (origin, or requester for requests)
  uint64_t replica = 0;    // the sender's replica id (its incarnation)
  uint64_t first = 0;      // deltas/catch-up: first sequence
  uint64_t last = 0;       // deltas/catch-up: last; heartbeat: latest;
                           // snapshot: the snapshot's sequence
  uint64_t log_start = 0;  // heartbeat / need-snapshot: oldest in the log
  std::string cursor;      // snapshot request/reply position ("" = start
                           // / done)
  std::vector<Entry> entries;
  AppliedVector applied;  // heartbeat / ack
  uint64_t transfer = 0;  // snapshot request/reply: the request's tag
  uint64_t window = 0;    // snapshot request: chunks wanted; reply: which
};

// Encodes a frame; compresses payloads above kCompressAbove when that saves
// space and stays within MaxRawSize. The caller keeps a frame within
// kMaxEntries entries and kMaxApplied applied regions, and its payload
// within kMaxFrameBytes.
std::string Encode(const Frame& frame);
// Decodes and validates one frame.
Status Decode(std::string_view bytes, Frame* out);

}  // namespace deltakv::replication::wire

#endif  // DELTAKV_REPLICATION_WIRE_H_
