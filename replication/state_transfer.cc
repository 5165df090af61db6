// State transfer between regions, both sides (docs/replication.md, "State
// transfer"): a region that needs a peer's state (its store started empty,
// the peer trimmed the log past its position, or the peer offers what an
// earlier store of ours wrote) asks for it in chunks.
//
//   requester                                 sender
//   SnapshotRequest{tag, seq?, cursor, window} ─▶ pins its log at seq + 1,
//                                               reads `window` chunks from
//   ◀─ SnapshotReply{tag, seq, cursor', i}      cursor, one frame each
//   applies each chunk with its cursor (one transaction), asks for the
//   next window when the last chunk of this one arrived; no answer before
//   the deadline: asks again from where it stands, with a longer deadline.
//
// Cursors are opaque to the requester: "K<position>" resumes after the
// state stored at <position>, "F<u64 offset><position>" inside it (a state
// larger than a chunk travels in fragments with its length and hash; the
// requester joins it once whole). The final chunk has an empty cursor and
// moves the watermark to seq.
#include <spdlog/spdlog.h>
#include <xxhash.h>

#include "replication/streams_internal.h"
#include "storage/keys.h"

namespace deltakv::replication {

namespace {

// A state not asked for again within this long stops holding the log.
constexpr auto kServeIdle = std::chrono::seconds(180);
constexpr auto kMaxDeadline = std::chrono::seconds(60);

std::string WholeCursor(std::string_view position) {
  return "K" + std::string(position);
}

std::string FragmentCursor(uint64_t offset, std::string_view position) {
  std::string c = "F";
  storage::AppendU64(&c, offset);
  c.append(position);
  return c;
}

// Splits a cursor; false when malformed.
bool ParseCursor(std::string_view c, bool* fragment, uint64_t* offset,
                 std::string* position) {
  *fragment = false;
  *offset = 0;
  position->clear();
  if (c.empty()) return true;
  if (c[0] == 'K') {
    position->assign(c.substr(1));
    return !position->empty();
  }
  if (c[0] == 'F') {
    size_t pos = 1;
    if (!storage::ReadU64(c, &pos, offset)) return false;
    *fragment = true;
    position->assign(c.substr(pos));
    return !position->empty();
  }
  return false;
}

uint64_t Hash(std::string_view bytes) {
  return XXH3_64bits(bytes.data(), bytes.size());
}

}  // namespace

// ------------------------------------------------------------ requester

void Streams::Impl::StartTransfer(Peer& p, const char* why) {
  if (p.transfer.active) return;
  Transfer t;
  t.active = true;
  auto progress = replica->TransferFrom(p.spec.region);
  if (progress.ok() && progress->has_value()) {
    t.seq = (*progress)->seq;
    t.seq_known = true;
    t.cursor = (*progress)->cursor;
    log->info("replication: resuming the state transfer from {} ({})",
              p.spec.region, why);
  } else {
    log->info("replication: state transfer from {}: {}", p.spec.region, why);
  }
  t.pos = t.cursor;
  // The claims known now are covered by every chunk read from now on.
  t.claims = std::move(p.claims);
  p.claims.clear();
  p.transfer = std::move(t);
  p.catchup_inflight = false;
  RequestChunks(p);
}

void Streams::Impl::RequestChunks(Peer& p) {
  Transfer& t = p.transfer;
  t.tag = rng() | 1;
  t.asked = std::max<uint32_t>(1, opt.transfer_window);
  t.got = 0;
  t.waiting_retry = false;
  auto timeout = std::chrono::milliseconds(opt.transfer_timeout_ms) *
                 (1u << std::min<uint32_t>(t.attempts, 4));
  t.deadline = Clock::now() + std::min<Clock::duration>(timeout, kMaxDeadline);
  wire::Frame req;
  req.kind = wire::Kind::kSnapshotRequest;
  req.region = replica->region();
  req.first = t.seq_known ? 1 : 0;
  req.last = t.seq;
  req.cursor = t.seq_known ? t.pos : std::string();
  req.transfer = t.tag;
  req.window = t.asked;
  Send(*p.dealer, req);
}

void Streams::Impl::CheckTransfers() {
  const auto now = Clock::now();
  for (auto& pp : peers) {
    Peer& p = *pp;
    Transfer& t = p.transfer;
    if (!t.active || now < t.deadline) continue;
    if (!t.waiting_retry) {
      ++t.attempts;
      ++p.transfer_retries;
      log->warn(
          "replication: state transfer from {}: no answer in time; asking "
          "again (attempt {})",
          p.spec.region, t.attempts + 1);
    }
    // A state half-received in fragments goes on from where it stands if
    // the sender still has it; otherwise the sender starts it over.
    if (t.staged.empty()) t.pos = t.cursor;
    RequestChunks(p);
  }
}

void Streams::Impl::RestartState(Peer& p, const std::string& key,
                                 const char* why) {
  log->warn(
      "replication: state transfer from {}: '{}': {}; asking for it "
      "again",
      p.spec.region, key, why);
  Transfer& t = p.transfer;
  t.ClearStaged();
  t.pos = t.cursor;
  RequestChunks(p);
}

void Streams::Impl::HandleSnapshotReply(Peer& p, wire::Frame& f) {
  Transfer& t = p.transfer;
  // Only the chunk we expect next of the current request: late replies to
  // an earlier request are dropped (that request was asked again).
  if (!t.active || t.waiting_retry || f.transfer != t.tag ||
      f.window != t.got + 1 || f.first != 1) {
    return;
  }
  if (t.seq_known && f.last != t.seq) {
    // The sender no longer has our transfer's sequence and started over.
    log->warn("replication: state transfer from {} starts over at {}",
              p.spec.region, f.last);
    t.cursor.clear();
    t.ClearStaged();
  }
  ++t.got;
  t.seq = f.last;
  t.seq_known = true;
  t.attempts = 0;
  t.deadline =
      Clock::now() + std::chrono::milliseconds(opt.transfer_timeout_ms);
  std::vector<LoggedDelta> states;
  bool partial = false;
  for (wire::Entry& e : f.entries) {
    if (e.total == 0) {
      LoggedDelta d;
      d.key = std::move(e.key);
      d.type = e.type;
      d.delta = std::move(e.blob);
      states.push_back(std::move(d));
      continue;
    }
    if (e.offset == 0) {
      t.ClearStaged();
      t.staged_key = e.key;
      t.staged_type = e.type;
      t.staged_total = e.total;
      t.staged_hash = e.hash;
    } else if (e.key != t.staged_key || e.type != t.staged_type ||
               e.total != t.staged_total || e.hash != t.staged_hash ||
               e.offset != t.staged.size()) {
      // Fragments of two different readings: start the state over.
      return RestartState(p, e.key, "fragments do not match");
    }
    t.staged.append(e.blob);
    if (t.staged.size() < t.staged_total) {
      partial = true;
      continue;
    }
    if (Hash(t.staged) != t.staged_hash) {
      return RestartState(p, t.staged_key, "it arrived with a wrong hash");
    }
    LoggedDelta d;
    d.key = std::move(t.staged_key);
    d.type = t.staged_type;
    d.delta = std::move(t.staged);
    states.push_back(std::move(d));
    t.ClearStaged();
  }
  const bool final = f.cursor.empty();
  if (partial && !final) {
    t.pos = f.cursor;  // nothing to apply yet
  } else {
    RemoteBatch b;
    b.origin = p.spec.region;
    b.snapshot = true;
    b.transfer = true;
    b.transfer_done = final;
    b.transfer_seq = t.seq;
    b.transfer_cursor = f.cursor;
    b.deltas = std::move(states);
    Status st = replica->ApplyRemote(std::move(b));
    if (!st.ok() && st.code() != Code::kWrongType) {
      // Nothing of the chunk was applied and the cursor stays: ask again
      // after a backoff.
      LinkFailed(p, "applying a state transfer chunk", st);
      t.ClearStaged();
      t.pos = t.cursor;
      t.waiting_retry = true;
      t.deadline = p.retry_at;
      return;
    }
    if (!st.ok()) {
      log->warn("replication: state transfer from {}: {} (entry skipped)",
                p.spec.region, st.ToString());
    }
    p.error.clear();
    p.backoff = std::chrono::milliseconds(0);
    t.cursor = f.cursor;
    t.pos = f.cursor;
  }
  if (final) {
    p.applied = std::max(p.applied, t.seq);
    p.needs_state = false;
    ++p.state_transfers;
    log->info("replication: state transfer from {} complete at {}",
              p.spec.region, t.seq);
    for (const auto& c : t.claims) {
      Status st = replica->RaiseIncarnationMark(c.region, c.replica, c.seq);
      if (!st.ok()) {
        log->warn("replication: recording {}'s earlier store: {}", c.region,
                  st.ToString());
      }
    }
    t = Transfer();
    Ack(p);
    if (!p.claims.empty()) {
      StartTransfer(p, "it applied more of a lost store than we did");
    } else {
      RequestCatchup(p);
    }
    return;
  }
  if (t.got == t.asked) RequestChunks(p);
}

// ------------------------------------------------------------ sender

void Streams::Impl::ServeSnapshot(
    const wire::Frame& req,
    const std::function<void(const wire::Frame&)>& reply) {
  bool fragment;
  uint64_t offset;
  std::string position;
  if (!ParseCursor(req.cursor, &fragment, &offset, &position) ||
      req.transfer == 0) {
    owner_dropped();
    log->warn("replication: {} sent a malformed snapshot request", req.region);
    return;
  }
  // A transfer keeps the sequence of its first chunk (every state sent is
  // at least that recent). One that names a sequence we do not have (we
  // lost an unsynced tail) starts over.
  const uint64_t durable = replica->DurableSequence();
  // Resuming is worth it only while the log still holds what the catch-up
  // after the transfer needs (a restart of ours drops the pin).
  const bool resume = req.first == 1 && req.last <= durable &&
                      req.last + 1 >= replica->LogStart();
  const uint64_t seq = resume ? req.last : durable;
  std::string pos = resume ? req.cursor : std::string();
  TransferServe& serve = serving[req.region];
  serve.last_request = Clock::now();
  serve.transfer_seq = seq;
  // Keep the log from seq + 1 on for a configured peer: it catches up from
  // there once the transfer is complete, however long it takes.
  if (FindPeer(req.region) != nullptr) replica->PinLog(req.region, seq + 1);
  const size_t chunk = std::max<size_t>(opt.snapshot_chunk_bytes, 1024);
  const uint64_t window =
      std::min<uint64_t>(std::max<uint64_t>(req.window, 1), 16);
  for (uint64_t i = 1; i <= window && !stop; ++i) {
    wire::Frame r;
    r.kind = wire::Kind::kSnapshotReply;
    r.region = replica->region();
    r.first = 1;
    r.last = seq;
    r.transfer = req.transfer;
    r.window = i;
    if (!ParseCursor(pos, &fragment, &offset, &position)) return;
    if (fragment) {
      // Inside a large state: from the cached reading, or read it again
      // (and start it over) when the cache holds something else.
      if (serve.position != position || serve.seq != seq) {
        std::vector<std::string> at;
        auto c = replica->ReadSnapshot(position, 1, /*inclusive=*/true, &at);
        if (!c.ok()) {
          log->warn("replication: snapshot for {}: {}", req.region,
                    c.status().ToString());
          return;  // the requester asks again after its deadline
        }
        if (at.empty() || at.front() != position) {
          pos = WholeCursor(position);  // gone: go on after it
          --i;
          continue;
        }
        serve.position = position;
        serve.seq = seq;
        serve.state = std::move(c->states.front());
        serve.hash = Hash(serve.state.delta);
        offset = 0;
      }
      const std::string& bytes = serve.state.delta;
      if (offset >= bytes.size()) offset = 0;
      const size_t n = std::min<size_t>(chunk, bytes.size() - offset);
      wire::Entry e;
      e.key = serve.state.key;
      e.type = serve.state.type;
      e.blob.assign(bytes, offset, n);
      e.total = bytes.size();
      e.offset = offset;
      e.hash = serve.hash;
      r.entries.push_back(std::move(e));
      if (offset + n < bytes.size()) {
        r.cursor = FragmentCursor(offset + n, position);
      } else {
        r.cursor = WholeCursor(position);
        serve.position.clear();
        serve.state = LoggedDelta();
        // The last fragment: is anything after it?
        auto more = replica->HasKeyAfter(position);
        if (more.ok() && !*more) r.cursor.clear();
      }
    } else {
      std::vector<std::string> at;
      auto c = replica->ReadSnapshot(position, chunk, false, &at);
      if (!c.ok()) {
        log->warn("replication: snapshot for {}: {}", req.region,
                  c.status().ToString());
        return;
      }
      size_t bytes = 0, taken = 0;
      for (; taken < c->states.size(); ++taken) {
        LoggedDelta& st = c->states[taken];
        const size_t size = st.key.size() + st.delta.size();
        if (taken > 0 && bytes + size > chunk) break;
        if (size > chunk) {
          if (taken > 0) break;
          if (st.delta.size() > wire::kMaxStateBytes) {
            // Cannot travel: report it and go on without it.
            log->error(
                "replication: the state of '{}' ({} bytes) exceeds the "
                "{}-byte transfer limit; {} does not get it",
                st.key, st.delta.size(), wire::kMaxStateBytes, req.region);
            pos = WholeCursor(at[taken]);
            break;
          }
          // A state larger than a chunk: send it in fragments.
          serve.position = at[taken];
          serve.seq = seq;
          serve.state = std::move(st);
          serve.hash = Hash(serve.state.delta);
          pos = FragmentCursor(0, at[taken]);
          break;
        }
        bytes += size;
        r.entries.push_back(
            wire::Entry{std::move(st.key), st.type, std::move(st.delta)});
      }
      if (taken == 0 && !c->states.empty()) {
        --i;  // the fragment path (or the skip) sends this frame
        continue;
      }
      if (taken == c->states.size() && c->next.empty()) {
        r.cursor.clear();  // done
      } else {
        r.cursor = WholeCursor(at[taken - 1]);
      }
    }
    // Periodic durability: what we send must be on our disk, or an OS
    // crash could make us reuse dots the requester then holds.
    if (replica->DurableSequence() < replica->LastSequence()) {
      Status st = replica->SyncNow();
      if (!st.ok()) {
        log->warn("replication: snapshot for {}: {}", req.region,
                  st.ToString());
        return;
      }
    }
    reply(r);
    if (r.cursor.empty()) {
      serve.position.clear();
      serve.state = LoggedDelta();
      return;
    }
    pos = r.cursor;
  }
}

void Streams::Impl::ExpireServing() {
  const auto now = Clock::now();
  for (auto it = serving.begin(); it != serving.end();) {
    if (now - it->second.last_request > kServeIdle) {
      replica->PinLog(it->first, 0);
      it = serving.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace deltakv::replication
