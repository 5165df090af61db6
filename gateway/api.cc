#include "gateway/api.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "cluster/service.h"
#include "core/utf8.h"
#include "gateway/paging.h"
#include "gateway/ui_assets.h"
#include "storage/keys.h"

namespace deltakv::gateway {

using cluster::KeyType;
using cluster::ReadKind;
using cluster::WriteKind;
using nlohmann::json;

struct Api::Call {
  HttpRequest req;
  Responder respond;
  std::chrono::steady_clock::time_point start;
  const RouteSpec* spec = nullptr;
  MappedRequest m;
  // Set when the request may park; cancelled when its client goes away.
  std::shared_ptr<cluster::Cancellation> cancel;
};

namespace {

// ?r= of a read; a read with a causal token reads every live replica of
// the key in a region cluster (docs/cluster.md).
cluster::ReadOptions ReadOptionsOf(const MappedRequest& m) {
  cluster::ReadOptions o;
  o.r = m.after.empty() ? m.r : cluster::kAllLive;
  return o;
}

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string ErrorJson(std::string_view code, std::string_view message) {
  json j;
  j["error"] = {{"code", code}, {"message", message}};
  return Dump(j);
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

std::string TypeName(KeyType t) { return std::string(cluster::KeyTypeName(t)); }

// A cancellation for `call`, cancelled when its client disconnects: a
// parked request whose client leaves frees its slot at once.
std::shared_ptr<cluster::Cancellation> CancelOnGone(const HttpRequest& req) {
  auto cancel = std::make_shared<cluster::Cancellation>();
  req.gone->OnGone([cancel] { cancel->Cancel(); });
  return cancel;
}

bool IsRead(Route r) { return !SpecOf(r).write; }

// Probes and scrapes are answered on the I/O thread: they are cheap, and
// must answer however busy the read threads are.
// Reads cheap enough for the I/O thread: the health endpoints, and keys
// whose size is bounded whatever they hold (a counter's few entries, one
// register value of at most --max-value-bytes). Sets, lists, scans and
// whole-key reads, whose cost grows with the data, go to the read pool.
bool RunsInline(Route r) {
  return r == Route::kHealthz || r == Route::kReadyz || r == Route::kMetrics ||
         r == Route::kUiPage || r == Route::kUiScript || r == Route::kUiStyle ||
         r == Route::kCounterGet || r == Route::kRegisterGet;
}

// The console page's headers: its files hold no data (the page reads the
// API with the user's token), may be cached but are revalidated (a new
// server version serves new files), and run only their own script and
// style, talking to this server alone.
std::vector<std::pair<std::string, std::string>> UiHeaders() {
  return {{"Cache-Control", "no-cache"},
          {"X-Content-Type-Options", "nosniff"},
          {"Content-Security-Policy",
           "default-src 'self'; object-src 'none'; "
           "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
          {"Referrer-Policy", "no-referrer"},
          {"X-Frame-Options", "DENY"}};
}

// Bytes of an answer's fields other than its page: names, sizes, and a
// cursor (a version byte and a storage position, in hex). The key, written
// as a JSON string, comes on top.
constexpr size_t kAnswerFields = 160 + 2 * (1 + storage::kHashedNameBytes);

}  // namespace

Api::Api(cluster::Service* service, const replication::Replica* replica,
         ApiOptions options, std::shared_ptr<spdlog::logger> log)
    : service_(service),
      replica_(replica),
      options_(std::move(options)),
      auth_(std::make_shared<Auth>(options_.auth)),
      log_(std::move(log)),
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
  const bool v1_route = std::string_view(call->spec->path).starts_with("/v1");
  if (!call->m.after.empty() && !v1_route) {
    // Only API reads wait for tokens: an open endpoint that parked would
    // let a client without a token hold connections that are never shed.
    return FailApi(call, ApiError{400, "bad_request",
                                  "?after= applies to /v1 reads only"});
  }
  if (!call->m.after.empty() && IsRead(call->m.route)) {
    // Wait for the token here, then read on a read thread: the wake-up
    // runs on whichever thread committed what the token names.
    call->cancel = CancelOnGone(call->req);
    return service_->AwaitToken(
        call->m.after, std::chrono::milliseconds(call->m.timeout_ms),
        call->cancel, [this, call](Status s) {
          if (!s.ok()) {
            return FailParked(
                call, s,
                "this region has not yet applied everything the token "
                "names; retry, or read without ?after=");
          }
          Dispatch(call, /*io_thread=*/false);
        });
  }
  Dispatch(call, /*io_thread=*/true);
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

void Api::Dispatch(std::shared_ptr<Call> call, bool io_thread) {
  if (!IsRead(call->m.route)) return Write(call);
  // Off an I/O thread (a wake-up on the commit thread) every read goes to
  // the pool, so the committing thread never does a reader's work.
  if (io_thread && RunsInline(call->m.route)) return Read(call);
  if (!reads_.Post([this, call] { Read(call); })) {
    Finish(call, 503,
           ErrorJson("unavailable",
                     "too many reads are waiting for a read thread; retry "
                     "later"),
           "application/json", {{"Retry-After", "1"}});
  }
}

void Api::SetExtraMetrics(std::function<std::string()> render) {
  std::atomic_store(&extra_metrics_,
                    std::shared_ptr<const std::function<std::string()>>(
                        render ? std::make_shared<std::function<std::string()>>(
                                     std::move(render))
                               : nullptr));
}

void Api::SetAuth(Auth auth) {
  std::atomic_store(&auth_, std::shared_ptr<const Auth>(
                                std::make_shared<Auth>(std::move(auth))));
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
      if (options_.not_ready) {
        if (const std::string why = options_.not_ready(); !why.empty()) {
          return Finish(call, 503, ErrorJson("unavailable", why));
        }
      }
      return Finish(call, 200, R"({"status":"ready"})");
    case Route::kMetrics: {
      std::string text =
          metrics_.Render(*replica_, options_.streams, service_->parked(),
                          service_->parked_refused());
      if (auto extra = std::atomic_load(&extra_metrics_); extra && *extra) {
        text += (*extra)();
      }
      if (options_.cluster_view) {
        text += Metrics::RenderCluster(options_.cluster_view());
      }
      return Finish(call, 200, std::move(text), "text/plain; version=0.0.4");
    }
    case Route::kUiPage:
    case Route::kUiScript:
    case Route::kUiStyle: {
      const UiAsset* asset = FindUiAsset(call->spec->path);
      if (asset == nullptr) {
        return FailApi(call, ApiError{404, "not_found", "no such file"});
      }
      return Finish(call, 200, std::string(asset->body),
                    std::string(asset->content_type), UiHeaders());
    }
    case Route::kBackup:
      return Backup(call);
    case Route::kCluster: {
      if (!options_.cluster_view) {
        return FailApi(call, ApiError{404, "not_found", "no cluster view"});
      }
      const cluster::ClusterView v = options_.cluster_view();
      json nodes = json::array();
      for (const auto& n : v.nodes) {
        nodes.push_back({{"id", n.id},
                         {"up", n.up},
                         {"state", n.state},
                         {"http", n.http},
                         {"internal", n.internal},
                         {"zone", n.zone},
                         {"vnodes", n.vnodes}});
      }
      json j = {{"region", v.region},
                {"node_id", v.node_id},
                {"replicas", v.replicas},
                {"write_quorum", v.write_quorum},
                {"read_quorum", v.read_quorum},
                {"ring_revision", v.ring_revision},
                {"nodes", nodes},
                {"moves", json::array()}};
      if (!call->m.placement_key.empty()) {
        const std::string& k = call->m.placement_key;
        j["key"] = {{"key", k},
                    {"replicas", options_.key_replicas
                                     ? options_.key_replicas(k)
                                     : std::vector<std::string>{v.node_id}}};
      }
      if (v.etcd) {
        j["etcd"] = {{"reachable", v.etcd_reachable},
                     {"endpoints", v.etcd_endpoints},
                     {"registered", v.registered},
                     {"last_contact_seconds",
                      v.etcd_last_contact_s < 0 ? json(nullptr)
                                                : json(v.etcd_last_contact_s)},
                     {"error", v.etcd_error.empty() ? json(nullptr)
                                                    : json(v.etcd_error)}};
      }
      return Finish(call, 200, Dump(j));
    }
    case Route::kStatus: {
      const cluster::RegionStatus st = service_->Region();
      json j;
      j["region"] = st.region;
      j["replica_id"] = st.replica_id;
      j["sequence"] = st.sequence;
      json applied = json::object();
      for (const auto& [r, seq] : st.applied) applied[r] = seq;
      j["applied"] = applied;
      json peers = json::array();
      for (const auto& p : st.peers) {
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
      j["peers"] = peers;
      j["log_start"] = st.log_start;
      j["storage"] = {{"map_used_bytes", st.map_used_bytes},
                      {"map_size_bytes", st.map_size_bytes},
                      {"map_max_bytes", st.map_max_bytes}};
      j["token"] = st.token;
      return Finish(call, 200, Dump(j));
    }
    case Route::kKeysList: {
      std::string after;
      if (!Unhex(m.cursor, &after)) {
        return FailApi(call, ApiError{400, "bad_request", "malformed cursor"});
      }
      return service_->Scan(
          m.prefix, std::move(after), m.limit == 0 ? kDefaultKeysPage : m.limit,
          [this, call](Result<cluster::ScanResult> page) {
            if (!page.ok()) return Fail(call, page.status());
            // The page, cut to the answer's budget:
            // {"key":…,"type":"register"}.
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
              j["cursor"] = Hex(page->keys[n - 1].position);
            } else {
              j["cursor"] = page->next ? json(Hex(*page->next)) : json(nullptr);
            }
            Answer(call, Dump(j));
          });
    }
    case Route::kSetContains: {
      if (!m.has_member) {
        return FailApi(call, ApiError{400, "bad_request",
                                      "query parameter 'member' is required"});
      }
      cluster::ReadOp op;
      op.kind = ReadKind::kSetContains;
      op.key = m.key;
      op.values = {m.member};
      return service_->Read(
          std::move(op), ReadOptionsOf(call->m),
          [this, call](Result<cluster::ReadResult> r) {
            if (!r.ok()) return Fail(call, r.status());
            const bool contains = !r->contains.empty() && r->contains[0];
            Finish(call, 200, Dump(json{{"contains", contains}}));
          });
    }
    default:
      return ReadKey(call);
  }
}

// Typed reads, and /v1/keys/{key} whatever the type. Sets and lists answer
// a page: at most `limit` members or values (a default page without it),
// fewer when more would pass max_response_bytes.
void Api::ReadKey(const std::shared_ptr<Call>& call) {
  switch (call->m.route) {
    case Route::kCounterGet:
      return ReadTyped(call, KeyType::kCounter);
    case Route::kRegisterGet:
      return ReadTyped(call, KeyType::kRegister);
    case Route::kSetGet:
      return ReadTyped(call, KeyType::kSet);
    case Route::kListGet:
      return ReadTyped(call, KeyType::kList);
    default: {
      cluster::ReadOp op;
      op.kind = ReadKind::kType;
      op.key = call->m.key;
      return service_->Read(std::move(op), ReadOptionsOf(call->m),
                            [this, call](Result<cluster::ReadResult> r) {
                              if (!r.ok()) return Fail(call, r.status());
                              ReadTyped(call, r->type);
                            });
    }
  }
}

void Api::ReadTyped(const std::shared_ptr<Call>& call, KeyType type) {
  const MappedRequest& m = call->m;
  cluster::ReadOp op;
  op.key = m.key;
  switch (type) {
    case KeyType::kCounter:
      op.kind = ReadKind::kCounter;
      break;
    case KeyType::kRegister:
      op.kind = ReadKind::kRegister;
      break;
    case KeyType::kSet:
      op.kind = ReadKind::kSetPage;
      if (!m.cursor.empty()) {
        op.position = ParseSetCursor(m.cursor);
        if (!op.position) {
          return FailApi(call,
                         ApiError{400, "bad_request", "malformed cursor"});
        }
      }
      op.limit = m.limit == 0 ? kDefaultSetPage : m.limit;
      break;
    case KeyType::kList:
      op.kind = ReadKind::kListRange;
      op.offset = m.offset;
      op.limit = m.limit != 0    ? m.limit
                 : m.text_format ? kDefaultTextPage
                                 : kDefaultListPage;
      break;
    default:
      return Fail(call, Status::WrongType("unsupported key type"));
  }
  service_->Read(
      std::move(op), ReadOptionsOf(m),
      [this, call](Result<cluster::ReadResult> r) {
        if (!r.ok()) return Fail(call, r.status());
        const std::string& key = call->m.key;
        json j;
        j["key"] = key;
        j["type"] = TypeName(r->type);
        const size_t fixed = JsonStringBytes(key) + kAnswerFields;
        const size_t budget = options_.max_response_bytes -
                              std::min(options_.max_response_bytes, fixed);
        switch (r->type) {
          case KeyType::kCounter:
            j["value"] = r->counter;
            break;
          case KeyType::kRegister: {
            json value = json::parse(r->value, nullptr, false);
            j["value"] = value.is_discarded() ? json(r->value) : value;
            j["updated_at"] = r->updated_at.ToString();
            j["origin"] = r->origin;
            break;
          }
          case KeyType::kSet: {
            const size_t n = FittingItems(r->values, 0, budget);
            if (n == 0 && !r->values.empty()) {
              return TooLargeToPage(call, "member", r->values[0].size());
            }
            const bool more = r->more || n < r->values.size();
            r->values.resize(n);
            j["members"] = std::move(r->values);
            j["size"] = r->size;
            j["cursor"] =
                more ? json(SetCursor(r->positions[n - 1])) : json(nullptr);
            break;
          }
          case KeyType::kList: {
            if (call->m.text_format) {
              // One string of the page's code points, as many as fit.
              std::string text;
              size_t used = 2;  // the quotes
              for (size_t i = 0; i < r->values.size(); ++i) {
                const std::string& v = r->values[i];
                if (!IsOneCodePoint(v)) {
                  return FailApi(
                      call,
                      ApiError{409, "wrong_type",
                               "the list holds values that are not single "
                               "characters (at position " +
                                   std::to_string(call->m.offset + i) +
                                   "); read it with format=values"});
                }
                const size_t bytes = JsonStringBytes(v) - 2;
                if (used + bytes > budget) break;
                used += bytes;
                text += v;
              }
              j["text"] = std::move(text);
              j["length"] = r->size;
              break;
            }
            const size_t n = FittingItems(r->values, 0, budget);
            if (n == 0 && !r->values.empty()) {
              return TooLargeToPage(call, "value", r->values[0].size());
            }
            r->values.resize(n);
            j["values"] = std::move(r->values);
            j["length"] = r->size;
            break;
          }
          default:
            return Fail(call, Status::WrongType("unsupported key type"));
        }
        Answer(call, Dump(j));
      });
}

// On a read thread: the copy takes as long as the store is big.
void Api::Backup(const std::shared_ptr<Call>& call) {
  if (options_.backup_dir.empty()) {
    return Finish(call, 404,
                  ErrorJson("not_found", "backups are not enabled here"));
  }
  if (backup_running_.exchange(true)) {
    return Finish(call, 503,
                  ErrorJson("unavailable",
                            "a backup is being taken; retry when it is done"),
                  "application/json", {{"Retry-After", "5"}});
  }
  std::string path = options_.backup_dir + "/backup-XXXXXX.tmp";
  const int fd = ::mkstemps(path.data(), 4);
  Status s = fd < 0 ? Status::IOError(std::string("creating the copy: ") +
                                      std::strerror(errno))
                    : service_->Backup(fd);
  if (fd >= 0) ::close(fd);
  backup_running_ = false;
  if (!s.ok()) {
    if (fd >= 0) ::unlink(path.c_str());
    log_->error("backup failed: {}", s.ToString());
    return Fail(call, s);
  }
  HttpResponse resp;
  resp.status = 200;
  resp.content_type = "application/octet-stream";
  resp.file = std::move(path);
  resp.headers = {{"Content-Disposition", "attachment; filename=\"deltakv-" +
                                              service_->Region().region +
                                              ".mdb\""}};
  Respond(call, std::move(resp));
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

namespace {

// The Service write of a mapped write route; false for another route.
bool ToWriteOp(const MappedRequest& m, cluster::WriteOp* op) {
  op->key = m.key;
  switch (m.route) {
    case Route::kCounterIncr:
      op->kind = WriteKind::kCounterIncrement;
      op->by = m.by;
      return true;
    case Route::kRegisterPut:
      op->kind = WriteKind::kRegisterSet;
      op->value = m.value_json;
      return true;
    case Route::kSetAdd:
      op->kind = WriteKind::kSetAdd;
      op->values = m.members;
      return true;
    case Route::kSetRemove:
      op->kind = WriteKind::kSetRemove;
      op->values = m.members;
      return true;
    case Route::kKeyDelete:
      op->kind = WriteKind::kDelete;
      return true;
    case Route::kListInsert:
      op->kind = WriteKind::kListInsert;
      op->index = static_cast<uint64_t>(m.index);
      op->values = m.values;
      return true;
    case Route::kListDelete:
      op->kind = WriteKind::kListDelete;
      op->index = static_cast<uint64_t>(m.index);
      op->count = static_cast<uint64_t>(m.count);
      return true;
    case Route::kListPush:
      op->kind = WriteKind::kListPush;
      op->front = m.front;
      op->values = m.values;
      return true;
    default:
      return false;
  }
}

// A write's answer without its token.
json WriteAnswer(Route route, const cluster::WriteResult& r) {
  json j = json::object();
  switch (route) {
    case Route::kCounterIncr:
      j["value"] = r.value;
      break;
    case Route::kSetAdd:
    case Route::kSetRemove:
      j["size"] = r.size;
      break;
    case Route::kKeyDelete:
      j["deleted"] = r.deleted;
      break;
    case Route::kListInsert:
    case Route::kListDelete:
    case Route::kListPush:
      j["length"] = r.size;
      break;
    default:
      break;
  }
  return j;
}

}  // namespace

void Api::Write(const std::shared_ptr<Call>& call) {
  const MappedRequest& m = call->m;
  if (m.route == Route::kBatch) return Batch(call);
  cluster::WriteOp op;
  if (!ToWriteOp(m, &op)) {
    return FailApi(call, ApiError{404, "not_found", "no such route"});
  }
  cluster::WriteOptions options;
  options.w = m.w;
  options.wait_regions = m.wait_regions;
  options.timeout = std::chrono::milliseconds(m.timeout_ms);
  if (m.wait_regions > 1) {
    call->cancel = CancelOnGone(call->req);
    options.cancel = call->cancel;
  }
  const Route route = m.route;
  const uint32_t wait = m.wait_regions;
  service_->Write(
      std::move(op), std::move(options),
      [this, call, route, wait](Result<cluster::WriteResult> r) {
        if (!r.ok()) {
          return FailParked(
              call, r.status(),
              "fewer than " + std::to_string(wait) +
                  " regions applied the write in time; it is applied "
                  "locally and will still replicate");
        }
        json j = WriteAnswer(route, *r);
        j["token"] = r->token;
        Finish(call, 200, Dump(j));
      });
}

// POST /v1/batch: the operations are submitted one after another, so they
// apply in order (and commit together in the writer's batches); each
// answers on its own. Not atomic: an operation that fails (wrong type, a
// per-key cap, a counter overflow) leaves the others applied. With
// ?wait_regions=N the answer waits until N regions applied the last write
// that changed something.
void Api::Batch(const std::shared_ptr<Call>& call) {
  struct State {
    std::vector<std::optional<Result<cluster::WriteResult>>> results;
    std::atomic<size_t> left{0};
  };
  const size_t n = call->m.ops.size();
  auto state = std::make_shared<State>();
  state->results.resize(n);
  state->left.store(n, std::memory_order_relaxed);
  if (call->m.wait_regions > service_->RegionCount()) {
    return Fail(call,
                Status::InvalidArgument(
                    "wait_regions is " + std::to_string(call->m.wait_regions) +
                    " but only " + std::to_string(service_->RegionCount()) +
                    " region(s) are configured"));
  }
  auto done = [this, call, state] {
    json results = json::array();
    size_t failed = 0;
    uint64_t seq = 0;
    for (size_t i = 0; i < state->results.size(); ++i) {
      const auto& r = *state->results[i];
      if (r.ok()) {
        results.push_back(WriteAnswer(call->m.ops[i].route, *r));
        seq = std::max(seq, r->seq);
      } else {
        std::string name;
        HttpStatusOf(r.status().code(), &name);
        ++failed;
        results.push_back(
            {{"error", {{"code", name}, {"message", r.status().message()}}}});
      }
    }
    json j;
    j["results"] = std::move(results);
    j["applied"] = state->results.size() - failed;
    j["failed"] = failed;
    const uint32_t wait = call->m.wait_regions;
    if (wait <= 1 || seq == 0) {
      j["token"] = service_->Token();
      return Finish(call, 200, Dump(j));
    }
    call->cancel = CancelOnGone(call->req);
    auto body = std::make_shared<json>(std::move(j));
    service_->WaitRegions(
        seq, wait, std::chrono::milliseconds(call->m.timeout_ms), call->cancel,
        [this, call, body, wait](Result<size_t> have) {
          const std::string late =
              "fewer than " + std::to_string(wait) +
              " regions applied the batch in time; it is applied locally and "
              "will still replicate";
          if (!have.ok()) return FailParked(call, have.status(), late);
          if (*have < wait) {
            return FailParked(call, Status::Timeout(late), late);
          }
          (*body)["token"] = service_->Token();
          Finish(call, 200, Dump(*body));
        });
  };
  for (size_t i = 0; i < n; ++i) {
    cluster::WriteOp op;
    ToWriteOp(call->m.ops[i], &op);  // MapRequest admits write routes only
    cluster::WriteOptions options;
    options.want_token = false;
    options.w = call->m.w;
    service_->Write(
        std::move(op), std::move(options),
        [state, i, done](Result<cluster::WriteResult> r) {
          state->results[i] = std::move(r);
          if (state->left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            done();
          }
        });
  }
}

// ---------------------------------------------------------------- answers

void Api::FailParked(const std::shared_ptr<Call>& call, const Status& s,
                     const std::string& timeout_message) {
  if (s.code() == Code::kTimeout) {
    return Finish(call, 504, ErrorJson("timeout", timeout_message));
  }
  if (s.code() == Code::kUnavailable && call->cancel &&
      call->cancel->cancelled()) {
    // Nobody reads the answer; 499 as in other servers' logs.
    return Finish(call, 499,
                  ErrorJson("client_closed", "the client went away"));
  }
  Fail(call, s);
}

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
  HttpResponse resp;
  resp.status = status;
  resp.content_type = std::move(content_type);
  resp.body = std::move(body);
  resp.headers = std::move(headers);
  Respond(call, std::move(resp));
}

void Api::Respond(const std::shared_ptr<Call>& call, HttpResponse resp) {
  const int status = resp.status;
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
  call->respond(std::move(resp));
}

}  // namespace deltakv::gateway
