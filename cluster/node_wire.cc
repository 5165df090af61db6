#include "cluster/node_wire.h"

#include <cstring>

namespace deltakv::cluster::wire {

namespace {

class Writer {
 public:
  void Byte(uint8_t b) { out_.push_back(static_cast<char>(b)); }
  void Fixed64(uint64_t v) {
    for (int i = 0; i < 8; ++i) Byte(static_cast<uint8_t>(v >> (8 * i)));
  }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      Byte(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    Byte(static_cast<uint8_t>(v));
  }
  void Signed(int64_t v) {
    const uint64_t u = static_cast<uint64_t>(v);
    Varint((u << 1) ^ (v < 0 ? ~uint64_t{0} : 0));
  }
  void Bytes(std::string_view s) {
    Varint(s.size());
    out_.append(s.data(), s.size());
  }
  void Strings(const std::vector<std::string>& v) {
    Varint(v.size());
    for (const std::string& s : v) Bytes(s);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool Byte(uint8_t* b) {
    if (pos_ >= in_.size()) return false;
    *b = static_cast<uint8_t>(in_[pos_++]);
    return true;
  }
  bool Bool(bool* b) {
    uint8_t v;
    if (!Byte(&v) || v > 1) return false;
    *b = v == 1;
    return true;
  }
  bool Fixed64(uint64_t* v) {
    if (in_.size() - pos_ < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) {
      *v |= uint64_t{static_cast<uint8_t>(in_[pos_ + i])} << (8 * i);
    }
    pos_ += 8;
    return true;
  }
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b;
      if (!Byte(&b)) return false;
      // The tenth byte may carry only the top bit.
      if (shift == 63 && b > 1) return false;
      *v |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  bool U32(uint32_t* v) {
    uint64_t u;
    if (!Varint(&u) || u > UINT32_MAX) return false;
    *v = static_cast<uint32_t>(u);
    return true;
  }
  bool Signed(int64_t* v) {
    uint64_t u;
    if (!Varint(&u)) return false;
    *v = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
    return true;
  }
  bool Bytes(std::string* s) {
    uint64_t n;
    if (!Varint(&n) || n > in_.size() - pos_) return false;
    s->assign(in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  // A count of items each at least `min_bytes` long: bounded by the bytes
  // left, so nothing is allocated for items that are not there.
  bool Count(uint64_t* n, size_t min_bytes) {
    if (!Varint(n) || *n > kMaxItems) return false;
    return *n <= (in_.size() - pos_) / min_bytes;
  }
  bool Strings(std::vector<std::string>* v) {
    uint64_t n;
    if (!Count(&n, 1)) return false;
    v->resize(n);
    for (std::string& s : *v) {
      if (!Bytes(&s)) return false;
    }
    return true;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

Status Bad(std::string_view what) {
  return Status::Corruption("node frame: " + std::string(what));
}

bool ValidCrdtType(uint8_t t) { return t >= 1 && t <= 5; }

void PutBlob(Writer& w, const KeyBlob& b) {
  w.Bytes(b.key);
  w.Byte(b.type);
  w.Bytes(b.blob);
}

bool GetBlob(Reader& r, KeyBlob* b) {
  return r.Bytes(&b->key) && r.Byte(&b->type) && ValidCrdtType(b->type) &&
         r.Bytes(&b->blob);
}

void PutWriteOp(Writer& w, const WriteOp& op) {
  w.Byte(static_cast<uint8_t>(op.kind));
  w.Bytes(op.key);
  w.Signed(op.by);
  w.Bytes(op.value);
  w.Strings(op.values);
  w.Varint(op.index);
  w.Varint(op.count);
  w.Byte(op.front ? 1 : 0);
}

bool GetWriteOp(Reader& r, WriteOp* op) {
  uint8_t kind;
  if (!r.Byte(&kind) || kind > static_cast<uint8_t>(WriteKind::kListPush)) {
    return false;
  }
  op->kind = static_cast<WriteKind>(kind);
  return r.Bytes(&op->key) && r.Signed(&op->by) && r.Bytes(&op->value) &&
         r.Strings(&op->values) && r.Varint(&op->index) &&
         r.Varint(&op->count) && r.Bool(&op->front);
}

void PutReadOp(Writer& w, const ReadOp& op) {
  w.Byte(static_cast<uint8_t>(op.kind));
  w.Bytes(op.key);
  w.Strings(op.values);
  w.Varint(op.offset);
  w.Varint(op.limit);
  w.Byte(op.position ? 1 : 0);
  if (op.position) w.Bytes(*op.position);
}

bool GetReadOp(Reader& r, ReadOp* op) {
  uint8_t kind;
  if (!r.Byte(&kind) || kind > static_cast<uint8_t>(ReadKind::kSetPage)) {
    return false;
  }
  op->kind = static_cast<ReadKind>(kind);
  bool has_position;
  if (!r.Bytes(&op->key) || !r.Strings(&op->values) || !r.Varint(&op->offset) ||
      !r.Varint(&op->limit) || !r.Bool(&has_position)) {
    return false;
  }
  if (has_position) {
    op->position.emplace();
    if (!r.Bytes(&*op->position)) return false;
  }
  return true;
}

void PutReadResult(Writer& w, const ReadResult& rr) {
  w.Byte(static_cast<uint8_t>(rr.type));
  w.Signed(rr.counter);
  w.Bytes(rr.value);
  w.Varint(rr.updated_at.packed());
  w.Bytes(rr.origin);
  w.Strings(rr.values);
  w.Varint(rr.contains.size());
  for (bool c : rr.contains) w.Byte(c ? 1 : 0);
  w.Varint(rr.size);
  w.Strings(rr.positions);
  w.Byte(rr.more ? 1 : 0);
}

bool GetReadResult(Reader& r, ReadResult* rr) {
  uint8_t type;
  if (!r.Byte(&type) || type > static_cast<uint8_t>(KeyType::kOther)) {
    return false;
  }
  rr->type = static_cast<KeyType>(type);
  uint64_t packed, n;
  if (!r.Signed(&rr->counter) || !r.Bytes(&rr->value) || !r.Varint(&packed) ||
      !r.Bytes(&rr->origin) || !r.Strings(&rr->values) || !r.Count(&n, 1)) {
    return false;
  }
  rr->updated_at = HlcTimestamp(packed);
  rr->contains.resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    bool c;
    if (!r.Bool(&c)) return false;
    rr->contains[i] = c;
  }
  return r.Varint(&rr->size) && r.Strings(&rr->positions) && r.Bool(&rr->more);
}

}  // namespace

std::string Encode(const Frame& f) {
  Writer w;
  w.Byte(kMagic);
  w.Byte(kVersion);
  w.Byte(static_cast<uint8_t>(f.kind));
  w.Fixed64(f.id);
  switch (f.kind) {
    case Kind::kApply:
      w.Varint(f.blobs.size());
      for (const KeyBlob& b : f.blobs) PutBlob(w, b);
      break;
    case Kind::kDigest:
    case Kind::kState:
      w.Bytes(f.key);
      break;
    case Kind::kWrite:
      PutWriteOp(w, f.write);
      w.Varint(f.w);
      w.Varint(f.timeout_ms);
      break;
    case Kind::kRead:
      PutReadOp(w, f.read);
      w.Varint(f.r);
      w.Varint(f.timeout_ms);
      break;
    case Kind::kScan:
      w.Bytes(f.prefix);
      w.Bytes(f.after);
      w.Varint(f.limit);
      break;
    case Kind::kReply:
      w.Byte(static_cast<uint8_t>(f.request));
      w.Byte(static_cast<uint8_t>(f.status.code()));
      w.Bytes(f.status.message());
      if (!f.status.ok()) break;
      switch (f.request) {
        case Kind::kDigest:
          w.Byte(f.blobs.empty() ? 0 : 1);
          if (!f.blobs.empty()) {
            w.Byte(f.blobs[0].type);
            w.Fixed64(f.digest);
          }
          break;
        case Kind::kState:
          w.Byte(f.blobs.empty() ? 0 : 1);
          if (!f.blobs.empty()) PutBlob(w, f.blobs[0]);
          break;
        case Kind::kWrite: {
          const WriteResult& r = f.write_result;
          w.Signed(r.value);
          w.Varint(r.size);
          w.Varint(r.changed);
          w.Byte(r.deleted ? 1 : 0);
          w.Varint(r.seq);
          w.Bytes(r.token);
          break;
        }
        case Kind::kRead:
          PutReadResult(w, f.read_result);
          break;
        case Kind::kScan:
          w.Varint(f.scan_result.keys.size());
          for (const KeyEntry& e : f.scan_result.keys) {
            w.Bytes(e.key);
            w.Byte(static_cast<uint8_t>(e.type));
            w.Bytes(e.position);
          }
          w.Byte(f.scan_result.next ? 1 : 0);
          if (f.scan_result.next) w.Bytes(*f.scan_result.next);
          break;
        default:
          break;
      }
      break;
  }
  return w.Take();
}

Result<Frame> Decode(std::string_view bytes) {
  if (bytes.size() < kHeaderBytes) return Bad("shorter than its header");
  if (bytes.size() > kMaxFrameBytes) return Bad("too large");
  Reader r(bytes);
  uint8_t magic = 0, version = 0, kind = 0;
  Frame f;
  r.Byte(&magic);
  r.Byte(&version);
  r.Byte(&kind);
  r.Fixed64(&f.id);
  if (magic != kMagic) return Bad("bad magic");
  if (version != kVersion) {
    return Bad("version " + std::to_string(version) + " (this node speaks " +
               std::to_string(kVersion) + ")");
  }
  if (kind < 1 || kind > kMaxKind) return Bad("unknown kind");
  f.kind = static_cast<Kind>(kind);
  bool ok = true;
  switch (f.kind) {
    case Kind::kApply: {
      uint64_t n;
      ok = r.Count(&n, 3);
      if (ok) f.blobs.resize(n);
      for (uint64_t i = 0; ok && i < n; ++i) ok = GetBlob(r, &f.blobs[i]);
      break;
    }
    case Kind::kDigest:
    case Kind::kState:
      ok = r.Bytes(&f.key);
      break;
    case Kind::kWrite:
      ok = GetWriteOp(r, &f.write) && r.U32(&f.w) && r.U32(&f.timeout_ms);
      break;
    case Kind::kRead:
      ok = GetReadOp(r, &f.read) && r.U32(&f.r) && r.U32(&f.timeout_ms);
      break;
    case Kind::kScan:
      ok = r.Bytes(&f.prefix) && r.Bytes(&f.after) && r.Varint(&f.limit);
      break;
    case Kind::kReply: {
      uint8_t request, code;
      std::string message;
      ok = r.Byte(&request) && request >= 1 && request < kMaxKind &&
           r.Byte(&code) && code <= static_cast<uint8_t>(Code::kIOError) &&
           r.Bytes(&message);
      if (!ok) break;
      f.request = static_cast<Kind>(request);
      f.status = code == 0
                     ? Status::OK()
                     : Status(static_cast<Code>(code), std::move(message));
      if (!f.status.ok()) break;
      switch (f.request) {
        case Kind::kDigest: {
          bool found;
          ok = r.Bool(&found);
          if (ok && found) {
            f.blobs.resize(1);
            ok = r.Byte(&f.blobs[0].type) && ValidCrdtType(f.blobs[0].type) &&
                 r.Fixed64(&f.digest);
          }
          break;
        }
        case Kind::kState: {
          bool found;
          ok = r.Bool(&found);
          if (ok && found) {
            f.blobs.resize(1);
            ok = GetBlob(r, &f.blobs[0]);
          }
          break;
        }
        case Kind::kWrite: {
          WriteResult& w = f.write_result;
          ok = r.Signed(&w.value) && r.Varint(&w.size) &&
               r.Varint(&w.changed) && r.Bool(&w.deleted) && r.Varint(&w.seq) &&
               r.Bytes(&w.token);
          break;
        }
        case Kind::kRead:
          ok = GetReadResult(r, &f.read_result);
          break;
        case Kind::kScan: {
          uint64_t n;
          ok = r.Count(&n, 3);
          if (ok) f.scan_result.keys.resize(n);
          for (uint64_t i = 0; ok && i < n; ++i) {
            KeyEntry& e = f.scan_result.keys[i];
            uint8_t type = 0;
            ok = r.Bytes(&e.key) && r.Byte(&type) &&
                 type <= static_cast<uint8_t>(KeyType::kOther) &&
                 r.Bytes(&e.position);
            e.type = static_cast<KeyType>(type);
          }
          bool has_next;
          ok = ok && r.Bool(&has_next);
          if (ok && has_next) {
            f.scan_result.next.emplace();
            ok = r.Bytes(&*f.scan_result.next);
          }
          break;
        }
        default:
          break;
      }
      break;
    }
  }
  if (!ok) return Bad("truncated or malformed " + std::to_string(kind));
  if (!r.done()) return Bad("trailing bytes");
  return f;
}

}  // namespace deltakv::cluster::wire
