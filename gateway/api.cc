#include "gateway/api.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "core/ids.h"
#include "gateway/paging.h"
#include "replication/replica.h"
#include "replication/streams.h"
#include "storage/keys.h"

namespace deltakv::gateway {

using nlohmann::json;
using replication::Op;
using replication::OpKind;

struct Api::Call {
  HttpRequest req;
  Responder respond;
  std::chrono::steady_clock::time_point start;
  const RouteSpec* spec = nullptr;
  MappedRequest m;
  std::atomic<bool> client_gone{false};
};

namespace {

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string ErrorJson(std::string_view code, std::string_view message) {
  json j;
  j["error"] = {{"code", code}, {"message", message}};
  return Dump(j);
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF.
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c >> 5) == 6) {
      n = 2;
      cp = c & 0x1f;
    } else if ((c >> 4) == 14) {
      n = 3;
      cp = c & 0x0f;
    } else if ((c >> 3) == 30) {
      n = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 2) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n;
  }
  return true;
}

int HttpStatusOf(Code code, std::string* name) {
  switch (code) {
    case Code::kOk:
      *name = "ok";
      return 200;
    case Code::kNotFound:
      *name = "not_found";
      return 404;
    case Code::kInvalidArgument:
      *name = "bad_request";
      return 400;
    case Code::kWrongType:
      *name = "wrong_type";
      return 409;
    case Code::kTooLarge:
      *name = "too_large";
      return 413;
    case Code::kUnavailable:
      *name = "unavailable";
      return 503;
    case Code::kTimeout:
      *name = "timeout";
      return 504;
    case Code::kUnauthorized:
      *name = "unauthorized";
      return 401;
    default:
      *name = "internal";
      return 500;
  }
}

const char* TypeName(crdt::CrdtType t) {
  switch (t) {
    case crdt::CrdtType::kCounter:
      return "counter";
    case crdt::CrdtType::kRegister:
      return "register";
    case crdt::CrdtType::kSet:
      return "set";
    case crdt::CrdtType::kList:
      return "list";
    default:
      return "mvregister";
  }
}

bool IsRead(Route r) { return !SpecOf(r).write; }

// Probes and scrapes are answered on the I/O thread: they are cheap, and
// must answer however busy the read threads are.
bool RunsInline(Route r) {
  return r == Route::kHealthz || r == Route::kReadyz || r == Route::kMetrics;
}

// Bytes of an answer's fields other than its page: names, sizes, and a
// cursor (a version byte and a storage position, in hex). The key, written
// as a JSON string, comes on top.
constexpr size_t kAnswerFields = 160 + 2 * (1 + storage::kHashedNameBytes);

}  // namespace

Api::Api(replication::Replica* replica, ApiOptions options,
         std::shared_ptr<spdlog::logger> log)
    : replica_(replica),
      options_(std::move(options)),
      auth_(std::make_shared<Auth>(options_.auth)),
      log_(std::move(log)),
      waiters_([this] { return ReadLevels(); }, options_.max_parked),
      reads_(options_.read_threads, options_.max_queued_reads) {}

Api::~Api() = default;

void Api::Handle(HttpRequest request, Responder respond) {
  auto call = std::make_shared<Call>();
  call->req = std::move(request);
  call->respond = std::move(respond);
  call->start = std::chrono::steady_clock::now();
  const std::string& target = call->req.target;
  if (!Authorized(target, call->req.authorization)) {
    call->spec = MatchRoute(call->req.method, target);
    return Finish(call, 401,
                  ErrorJson("unauthorized", "missing or wrong bearer token"),
                  "application/json", {{"WWW-Authenticate", "Bearer"}});
  }
  ApiError error;
  auto mapped = MapRequest(call->req.method, target, call->req.content_type,
                           call->req.body, options_.limits, &error);
  if (!mapped) return FailApi(call, error);
  call->m = std::move(*mapped);
  call->spec = &SpecOf(call->m.route);
  for (const std::string* s :
       {&call->m.key, &call->m.member, &call->m.prefix}) {
    if (!ValidUtf8(*s)) {
      return FailApi(
          call, ApiError{400, "bad_request", "keys and members must be UTF-8"});
    }
  }
  if (!call->m.after.empty() && IsRead(call->m.route)) {
    std::vector<Wanted> wanted;
    Status parsed = ParseToken(call->m.after, &wanted);
    if (!parsed.ok()) {
      return FailApi(call, ApiError{400, "bad_request", parsed.message()});
    }
    return Park(
        call,
        [wanted = std::move(wanted)](
            const Waiters::Levels& levels) -> std::optional<Waiters::Level> {
          for (const Wanted& w : wanted) {
            auto it = levels.find(w.level);
            if (it == levels.end() || it->second < w.seq) {
              return Waiters::Level{w.level, w.seq};
            }
          }
          return std::nullopt;
        },
        [this, call] { Dispatch(call); },
        "this region has not yet applied everything the token names; retry, "
        "or read without ?after=");
  }
  Dispatch(call);
}

void Api::Park(const std::shared_ptr<Call>& call, Waiters::Check check,
               std::function<void()> ready, std::string timeout_message) {
  const uint64_t id = waiters_.Wait(
      std::move(check), std::chrono::milliseconds(call->m.timeout_ms),
      [this, call, ready = std::move(ready),
       timeout_message = std::move(timeout_message)](Waiters::Outcome o) {
        switch (o) {
          case Waiters::Outcome::kReady:
            return ready();
          case Waiters::Outcome::kTimeout:
            return Finish(call, 504, ErrorJson("timeout", timeout_message));
          case Waiters::Outcome::kCancelled:
            if (call->client_gone) {
              // Nobody reads the answer; 499 as in other servers' logs.
              return Finish(call, 499,
                            ErrorJson("client_closed", "the client went away"));
            }
            return Finish(call, 503,
                          ErrorJson("unavailable", "the server is stopping"));
        }
      });
  if (id == 0) {
    metrics_.CountParkedRefused();
    return FailApi(
        call,
        ApiError{503, "unavailable",
                 "too many requests are waiting for causal tokens or "
                 "regions; retry later" +
                     std::string(call->spec->write
                                     ? " (the write is applied locally and "
                                       "will still replicate)"
                                     : "")});
  }
  // A client that disconnects frees its slot at once.
  std::weak_ptr<Call> weak = call;
  call->req.gone->OnGone([this, weak, id] {
    if (auto c = weak.lock()) {
      c->client_gone = true;
      waiters_.Cancel(id);
    }
  });
}

bool Api::AuthorizeHeader(std::string_view method, std::string_view target,
                          std::string_view authorization) {
  if (Authorized(target, authorization)) return true;
  metrics_.Observe(MatchRoute(method, target), 401, 0);
  return false;
}

bool Api::Authorized(std::string_view target,
                     std::string_view authorization) const {
  const bool v1 = target.rfind("/v1/", 0) == 0 || target == "/v1" ||
                  target.rfind("/v1?", 0) == 0;
  return !v1 || std::atomic_load(&auth_)->Allows(authorization);
}

void Api::Dispatch(std::shared_ptr<Call> call) {
  if (!IsRead(call->m.route)) return Write(call);
  if (RunsInline(call->m.route)) return Read(call);
  if (!reads_.Post([this, call] { Read(call); })) {
    Finish(call, 503,
           ErrorJson("unavailable",
                     "too many reads are waiting for a read thread; retry "
                     "later"),
           "application/json", {{"Retry-After", "1"}});
  }
}

// A causal token names, per origin, an incarnation (replica id) and a
// sequence of it: "region:replica:seq,..." (docs/api.md). A region that
// lost its store starts a new incarnation, so a token of the old one is
// never taken for data of the new.
void Api::SetAuth(Auth auth) {
  std::atomic_store(&auth_, std::shared_ptr<const Auth>(
                                std::make_shared<Auth>(std::move(auth))));
}

std::string Api::Token() const {
  auto marks = replica_->AppliedMarks(/*durable_only=*/false);
  std::string out;
  if (!marks.ok()) return out;
  for (const auto& m : *marks) {
    if (m.replica == 0) continue;  // an origin whose identity is unknown
    if (!out.empty()) out += ',';
    out += m.region + ":" + ReplicaId(m.replica).ToString() + ":" +
           std::to_string(m.seq);
  }
  return out;
}

Status Api::ParseToken(const std::string& token,
                       std::vector<Wanted>* out) const {
  // Parse the whole token first: a malformed token is an error wherever the
  // bad part stands.
  const Status malformed = Status::InvalidArgument(
      "malformed causal token (expected region:replica:sequence,...)");
  std::vector<std::string> regions;
  out->clear();
  size_t start = 0;
  while (start <= token.size()) {
    size_t comma = token.find(',', start);
    std::string_view part(
        token.data() + start,
        (comma == std::string::npos ? token.size() : comma) - start);
    size_t c1 = part.find(':');
    size_t c2 = part.rfind(':');
    if (c1 == std::string_view::npos || c1 == c2 || c2 + 1 == part.size() ||
        part.size() - c2 - 1 > 19) {
      return malformed;
    }
    auto region = RegionId::Parse(part.substr(0, c1));
    auto replica = ReplicaId::Parse(part.substr(c1 + 1, c2 - c1 - 1));
    if (!region.ok() || !replica.ok()) return malformed;
    uint64_t seq = 0;
    for (char c : part.substr(c2 + 1)) {
      if (c < '0' || c > '9') return malformed;
      seq = seq * 10 + static_cast<uint64_t>(c - '0');
    }
    regions.emplace_back(part.substr(0, c1));
    out->push_back(
        Wanted{"o/" + regions.back() + "/" + replica->ToString(), seq});
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  // A region that is neither this one, a peer, nor one applied here can
  // never be reached: refuse the token instead of parking the request.
  std::set<std::string> known = {replica_->region()};
  if (options_.streams) {
    for (const auto& p : options_.streams->Peers()) known.insert(p.region);
    for (const auto& p : options_.streams->ConfiguredPeers()) known.insert(p);
  }
  if (auto applied = replica_->AppliedVector(); applied.ok()) {
    for (const auto& [region, seq] : *applied) known.insert(region);
  }
  for (const auto& r : regions) {
    if (!known.contains(r)) {
      return Status::InvalidArgument(
          "the causal token names region '" + r +
          "', which is neither this region nor one of its peers");
    }
  }
  return Status::OK();
}

Waiters::Levels Api::ReadLevels() const {
  Waiters::Levels levels;
  auto name = [](const replication::AppliedMark& m) {
    return "o/" + m.region + "/" + ReplicaId(m.replica).ToString();
  };
  // Earlier incarnations' final watermarks first: the current ones win.
  if (auto old = replica_->IncarnationMarks(); old.ok()) {
    for (const auto& m : *old) levels[name(m)] = m.seq;
  }
  if (auto marks = replica_->AppliedMarks(/*durable_only=*/false); marks.ok()) {
    for (const auto& m : *marks) {
      if (m.replica != 0) levels[name(m)] = m.seq;
    }
  }
  // This region always counts for wait_regions.
  levels["w/1"] = std::numeric_limits<uint64_t>::max();
  if (options_.streams) {
    auto acks = options_.streams->PeerAcks();
    std::sort(acks.begin(), acks.end(), std::greater<>());
    for (size_t i = 0; i < acks.size(); ++i) {
      levels["w/" + std::to_string(i + 2)] = acks[i];
    }
  }
  return levels;
}

// ------------------------------------------------------------------ reads

void Api::Read(const std::shared_ptr<Call>& call) {
  const MappedRequest& m = call->m;
  switch (m.route) {
    case Route::kHealthz:
      return Finish(call, 200, R"({"status":"ok"})");
    case Route::kReadyz:
      if (!ready_) {
        return Finish(call, 503, ErrorJson("unavailable", "shutting down"));
      }
      return Finish(call, 200, R"({"status":"ready"})");
    case Route::kMetrics:
      return Finish(
          call, 200,
          metrics_.Render(*replica_, options_.streams, waiters_.parked()),
          "text/plain; version=0.0.4");
    case Route::kStatus: {
      json j;
      j["region"] = replica_->region();
      j["replica_id"] = replica_->replica_id().ToString();
      j["sequence"] = replica_->LastSequence();
      json applied = json::object();
      auto av = replica_->AppliedVector();
      if (av.ok()) {
        for (const auto& [r, s] : *av) applied[r] = s;
      }
      applied[replica_->region()] = replica_->LastSequence();
      j["applied"] = applied;
      json peers = json::array();
      if (options_.streams) {
        for (const auto& p : options_.streams->Peers()) {
          peers.push_back(
              {{"region", p.region},
               {"connected", p.connected},
               {"last_heard_seconds", p.last_heard_s},
               {"applied", p.applied},
               {"latest", p.latest},
               {"lag", p.lag},
               {"lag_seconds", p.lag_seconds},
               {"acked", p.acked},
               {"bytes_in", p.bytes_in},
               {"catchups", p.catchups},
               {"state_transfers", p.state_transfers},
               {"dropped_frames", p.dropped_frames},
               {"apply_failures", p.apply_failures},
               {"transferring", p.transferring},
               {"transfer_retries", p.transfer_retries},
               {"error", p.error.empty() ? json(nullptr) : json(p.error)}});
        }
      }
      j["peers"] = peers;
      j["log_start"] = replica_->LogStart();
      auto u = replica_->Usage();
      j["storage"] = {{"map_used_bytes", u.used_bytes},
                      {"map_size_bytes", u.map_bytes},
                      {"map_max_bytes", u.max_bytes}};
      j["token"] = Token();
      return Finish(call, 200, Dump(j));
    }
    case Route::kKeysList: {
      std::string after;
      if (!Unhex(m.cursor, &after)) {
        return FailApi(call, ApiError{400, "bad_request", "malformed cursor"});
      }
      auto page = replica_->Scan(m.prefix, after,
                                 m.limit == 0 ? kDefaultKeysPage : m.limit);
      if (!page.ok()) return Fail(call, page.status());
      // The page, cut to the answer's budget: {"key":…,"type":"register"}.
      std::vector<std::string> names;
      names.reserve(page->keys.size());
      for (const auto& k : page->keys) names.push_back(k.key);
      const size_t n = FittingItems(
          names, 26,
          options_.max_response_bytes -
              std::min(options_.max_response_bytes, kAnswerFields));
      if (n == 0 && !names.empty()) {
        return TooLargeToPage(call, "key", names[0].size());
      }
      json keys = json::array();
      for (size_t i = 0; i < n; ++i) {
        const auto& k = page->keys[i];
        keys.push_back({{"key", k.key}, {"type", TypeName(k.type)}});
      }
      json j;
      j["keys"] = keys;
      if (n < page->keys.size()) {
        j["cursor"] = Hex(page->positions[n - 1]);
      } else {
        j["cursor"] = page->next ? json(Hex(*page->next)) : json(nullptr);
      }
      return Answer(call, Dump(j));
    }
    case Route::kSetContains: {
      if (!m.has_member) {
        return FailApi(call, ApiError{400, "bad_request",
                                      "query parameter 'member' is required"});
      }
      auto r = replica_->SetContains(m.key, m.member);
      if (!r.ok()) return Fail(call, r.status());
      return Finish(call, 200, Dump(json{{"contains", *r}}));
    }
    default:
      return ReadKey(call);
  }
}

// Typed reads, and /v1/keys/{key} whatever the type. Sets and lists answer
// a page: at most `limit` members or values (a default page without it),
// fewer when more would pass max_response_bytes.
void Api::ReadKey(const std::shared_ptr<Call>& call) {
  const MappedRequest& m = call->m;
  crdt::CrdtType type;
  switch (m.route) {
    case Route::kCounterGet:
      type = crdt::CrdtType::kCounter;
      break;
    case Route::kRegisterGet:
      type = crdt::CrdtType::kRegister;
      break;
    case Route::kSetGet:
      type = crdt::CrdtType::kSet;
      break;
    case Route::kListGet:
      type = crdt::CrdtType::kList;
      break;
    default: {
      auto t = replica_->TypeOf(m.key);
      if (!t.ok()) return Fail(call, t.status());
      type = *t;
    }
  }
  json j;
  j["key"] = m.key;
  j["type"] = TypeName(type);
  const size_t fixed = JsonStringBytes(m.key) + kAnswerFields;
  const size_t budget = options_.max_response_bytes -
                        std::min(options_.max_response_bytes, fixed);
  switch (type) {
    case crdt::CrdtType::kCounter: {
      auto v = replica_->CounterValue(m.key);
      if (!v.ok()) return Fail(call, v.status());
      j["value"] = *v;
      break;
    }
    case crdt::CrdtType::kRegister: {
      auto v = replica_->RegisterGet(m.key);
      if (!v.ok()) return Fail(call, v.status());
      json value = json::parse(v->value, nullptr, false);
      j["value"] = value.is_discarded() ? json(v->value) : value;
      j["updated_at"] = v->updated_at.ToString();
      j["origin"] = v->origin;
      break;
    }
    case crdt::CrdtType::kSet: {
      std::optional<std::string> after;
      if (!m.cursor.empty()) {
        after = ParseSetCursor(m.cursor);
        if (!after) {
          return FailApi(call,
                         ApiError{400, "bad_request", "malformed cursor"});
        }
      }
      auto page = replica_->SetRange(
          m.key, after ? std::optional<std::string_view>(*after) : std::nullopt,
          m.limit == 0 ? kDefaultSetPage : m.limit);
      if (!page.ok()) return Fail(call, page.status());
      const size_t n = FittingItems(page->members, 0, budget);
      if (n == 0 && !page->members.empty()) {
        return TooLargeToPage(call, "member", page->members[0].size());
      }
      const bool more = page->more || n < page->members.size();
      page->members.resize(n);
      j["members"] = std::move(page->members);
      j["size"] = page->size;
      j["cursor"] =
          more ? json(SetCursor(page->positions[n - 1])) : json(nullptr);
      break;
    }
    case crdt::CrdtType::kList: {
      auto v = replica_->ListRange(m.key, m.offset,
                                   m.limit == 0 ? kDefaultListPage : m.limit);
      if (!v.ok()) return Fail(call, v.status());
      const size_t n = FittingItems(v->values, 0, budget);
      if (n == 0 && !v->values.empty()) {
        return TooLargeToPage(call, "value", v->values[0].size());
      }
      v->values.resize(n);
      j["values"] = std::move(v->values);
      j["length"] = v->length;
      break;
    }
    default:
      return Fail(call, Status::WrongType("unsupported key type"));
  }
  Answer(call, Dump(j));
}

void Api::Answer(const std::shared_ptr<Call>& call, std::string body) {
  if (body.size() > options_.max_response_bytes) {
    return FailApi(
        call, ApiError{413, "too_large",
                       "the answer would take " + std::to_string(body.size()) +
                           " bytes, over max_response_bytes (" +
                           std::to_string(options_.max_response_bytes) + ")"});
  }
  Finish(call, 200, std::move(body));
}

void Api::TooLargeToPage(const std::shared_ptr<Call>& call, const char* what,
                         size_t bytes) {
  FailApi(call,
          ApiError{413, "too_large",
                   std::string("a ") + what + " of " + std::to_string(bytes) +
                       " bytes does not fit in an answer of "
                       "max_response_bytes (" +
                       std::to_string(options_.max_response_bytes) + ")"});
}

// ----------------------------------------------------------------- writes

void Api::Write(const std::shared_ptr<Call>& call) {
  const MappedRequest& m = call->m;
  const size_t regions = options_.streams ? options_.streams->RegionCount() : 1;
  if (m.wait_regions > regions) {
    return FailApi(
        call, ApiError{400, "bad_request",
                       "wait_regions is " + std::to_string(m.wait_regions) +
                           " but only " + std::to_string(regions) +
                           " region(s) are configured"});
  }
  Op op;
  op.key = m.key;
  switch (m.route) {
    case Route::kCounterIncr:
      op.kind = OpKind::kCounterIncrement;
      op.by = m.by;
      break;
    case Route::kRegisterPut:
      op.kind = OpKind::kRegisterSet;
      op.value = m.value_json;
      break;
    case Route::kSetAdd:
      op.kind = OpKind::kSetAdd;
      op.members = m.members;
      break;
    case Route::kSetRemove:
      op.kind = OpKind::kSetRemove;
      op.members = m.members;
      break;
    case Route::kKeyDelete:
      op.kind = OpKind::kDelete;
      break;
    case Route::kListInsert:
      op.kind = OpKind::kListInsert;
      op.index = static_cast<uint64_t>(m.index);
      op.members = m.values;
      break;
    case Route::kListDelete:
      op.kind = OpKind::kListDelete;
      op.index = static_cast<uint64_t>(m.index);
      op.count = static_cast<uint64_t>(m.count);
      break;
    case Route::kListPush:
      op.kind = OpKind::kListPush;
      op.front = m.front;
      op.members = m.values;
      break;
    default:
      return FailApi(call, ApiError{404, "not_found", "no such route"});
  }
  const Route route = m.route;
  replica_->Submit(std::move(op), [this, call,
                                   route](Result<replication::OpResult> r) {
    if (!r.ok()) return Fail(call, r.status());
    json j;
    switch (route) {
      case Route::kCounterIncr:
        j["value"] = r->value;
        break;
      case Route::kSetAdd:
      case Route::kSetRemove:
        j["size"] = r->size;
        break;
      case Route::kKeyDelete:
        j["deleted"] = r->deleted;
        break;
      case Route::kListInsert:
      case Route::kListDelete:
      case Route::kListPush:
        j["length"] = r->size;
        break;
      default:
        break;
    }
    j["token"] = Token();
    const uint32_t wait = call->m.wait_regions;
    const uint64_t seq = r->seq;
    if (wait <= 1 || seq == 0 || !options_.streams) {
      return Finish(call, 200, Dump(j));
    }
    // Answer once `wait` regions applied it.
    const std::string level = "w/" + std::to_string(wait);
    Park(
        call,
        [level,
         seq](const Waiters::Levels& levels) -> std::optional<Waiters::Level> {
          auto it = levels.find(level);
          if (it != levels.end() && it->second >= seq) return std::nullopt;
          return Waiters::Level{level, seq};
        },
        [this, call, body = Dump(j)] { Finish(call, 200, body); },
        "fewer than " + std::to_string(wait) +
            " regions applied the write in time; it is applied locally and "
            "will still replicate");
  });
}

// ---------------------------------------------------------------- answers

void Api::Fail(const std::shared_ptr<Call>& call, const Status& s) {
  std::string name;
  int status = HttpStatusOf(s.code(), &name);
  std::string message = s.message();
  if (status == 504) {
    message += " (the write is applied locally and will still replicate)";
  }
  Finish(call, status, ErrorJson(name, message));
}

void Api::FailApi(const std::shared_ptr<Call>& call, const ApiError& e) {
  Finish(call, e.status, ErrorJson(e.code, e.message));
}

void Api::Finish(const std::shared_ptr<Call>& call, int status,
                 std::string body, std::string content_type,
                 std::vector<std::pair<std::string, std::string>> headers) {
  const double secs = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - call->start)
                          .count();
  metrics_.Observe(call->spec, status, secs);
  if (options_.access_log && log_) {
    if (options_.json_log) {
      const std::string method = call->req.head ? "HEAD" : call->req.method;
      json line = {{"method", method},
                   {"target", call->req.target},
                   {"status", status},
                   {"ms", secs * 1e3},
                   {"remote", call->req.remote}};
      log_->info("{}", Dump(line));
    } else {
      log_->info("{} {} {} {:.3f}ms {}",
                 call->req.head ? std::string("HEAD") : call->req.method,
                 call->req.target, status, secs * 1e3, call->req.remote);
    }
  }
  HttpResponse resp;
  resp.status = status;
  resp.content_type = std::move(content_type);
  resp.body = std::move(body);
  resp.headers = std::move(headers);
  call->respond(std::move(resp));
}

}  // namespace deltakv::gateway
