// The command table, dispatch (authentication, arity) and the server and
// connection commands. The typed commands are in data_commands.cc.
#include <unistd.h>

#include <algorithm>
#include <random>
#include <unordered_map>

#include "resp/commands_internal.h"

#ifndef DELTAKV_VERSION
#define DELTAKV_VERSION "0.0.0"
#endif

namespace deltakv::resp {

namespace {

// The Redis version deltakv answers to clients that probe for features.
constexpr const char* kRedisVersion = "7.0.0";

constexpr size_t kMaxCursors = 10000;  // SCAN cursors kept (oldest dropped)
constexpr uint64_t kInfoKeyCountCap = 100000;

// Why the commands that need coordination do not fit (docs/resp.md).
constexpr const char* kPop =
    "a pop needs coordination between regions: two regions popping at the "
    "same time would both take the same element; read with LRANGE/LINDEX";
constexpr const char* kConditional =
    "a conditional write needs coordination between regions: 'only if "
    "absent' cannot be decided by one region while others write "
    "concurrently; use SET (last writer wins) or a set (SADD)";
constexpr const char* kReadModifyWrite =
    "a read-modify-write of a last-writer-wins register needs coordination "
    "between regions: concurrent writes in two regions would lose one; use "
    "a counter (INCRBY), a set or a list";
constexpr const char* kTransaction =
    "transactions need coordination between regions; every deltakv command "
    "is applied on its own, at once, in its region, and regions converge";
constexpr const char* kScript =
    "scripts run atomically against one copy of the data, which a "
    "multi-region CRDT store does not have";
constexpr const char* kFlush =
    "wiping every key needs all regions to agree on what 'every key' is; "
    "delete keys one by one (DEL) instead";
constexpr const char* kTtl = "deltakv has no TTL (expiring keys) yet";
constexpr const char* kRename =
    "renaming moves a key's history, which concurrent writes in other "
    "regions would split between the old and the new name";
constexpr const char* kListEdit =
    "is not supported yet: list elements are edited by index through the "
    "REST API (POST /v1/list/{key}/delete)";
constexpr const char* kCluster =
    "This instance has cluster support disabled: a deltakv region is served "
    "by one node until the region cluster exists, and every node holds "
    "every key, so there are no hash slots to route by and no MOVED "
    "redirects";
constexpr const char* kPubSub = "publish/subscribe is not part of deltakv";
constexpr const char* kBlocking =
    "blocking pops need coordination between regions (see LPOP)";

bool ValidClientName(std::string_view name);
std::string Quoted(std::string_view s);

}  // namespace

using C = Commands;

#define H(f) &C::f

const std::vector<C::Spec>& Commands::Table() {
  static const std::vector<C::Spec> table = {
      {"append", 3, "write", 1, 1, 1, "string", "Appends to a value", nullptr,
       kReadModifyWrite},
      {"auth", -2, "noauth fast no-script loading stale", 0, 0, 0, "connection",
       "Authenticates with an API token", H(AuthCmd)},
      {"blmove", 6, "write blocking", 1, 2, 1, "list", "", nullptr, kBlocking},
      {"blpop", -3, "write blocking", 1, -2, 1, "list", "", nullptr, kBlocking},
      {"brpop", -3, "write blocking", 1, -2, 1, "list", "", nullptr, kBlocking},
      {"brpoplpush", 4, "write blocking", 1, 2, 1, "list", "", nullptr,
       kBlocking},
      {"client", -2, "admin noscript loading stale", 0, 0, 0, "connection",
       "SETNAME, GETNAME, ID, SETINFO, INFO", H(ClientCmd)},
      {"cluster", -2, "", 0, 0, 0, "cluster", "", nullptr, kCluster},
      {"command", -1, "loading stale", 0, 0, 0, "server",
       "COUNT, INFO, DOCS, LIST: the commands deltakv answers", H(CommandCmd)},
      {"config", -2, "admin loading stale", 0, 0, 0, "server",
       "GET: a few settings clients probe for", H(Config)},
      {"copy", -3, "write", 1, 2, 1, "generic", "", nullptr, kRename},
      {"dbsize", 1, "readonly fast", 0, 0, 0, "server",
       "The number of live keys (counted up to 100000)", H(DbSize)},
      {"decr", 2, "write denyoom fast", 1, 1, 1, "string",
       "Decrements a counter by one", H(Incr)},
      {"decrby", 3, "write denyoom fast", 1, 1, 1, "string",
       "Decrements a counter", H(Incr)},
      {"del", -2, "write", 1, -1, 1, "generic",
       "Deletes keys (observed remove: concurrent writes elsewhere survive)",
       H(Del)},
      {"discard", 1, "noscript loading stale fast", 0, 0, 0, "transactions", "",
       nullptr, kTransaction},
      {"echo", 2, "fast", 0, 0, 0, "connection", "Returns its argument",
       H(Echo)},
      {"eval", -3, "noscript", 0, 0, 0, "scripting", "", nullptr, kScript},
      {"eval_ro", -3, "noscript", 0, 0, 0, "scripting", "", nullptr, kScript},
      {"evalsha", -3, "noscript", 0, 0, 0, "scripting", "", nullptr, kScript},
      {"evalsha_ro", -3, "noscript", 0, 0, 0, "scripting", "", nullptr,
       kScript},
      {"exec", 1, "noscript loading stale", 0, 0, 0, "transactions", "",
       nullptr, kTransaction},
      {"exists", -2, "readonly fast", 1, -1, 1, "generic",
       "Counts the keys that exist", H(Exists)},
      {"expire", -3, "write fast", 1, 1, 1, "generic", "", nullptr, kTtl},
      {"expireat", -3, "write fast", 1, 1, 1, "generic", "", nullptr, kTtl},
      {"fcall", -3, "noscript", 0, 0, 0, "scripting", "", nullptr, kScript},
      {"fcall_ro", -3, "noscript", 0, 0, 0, "scripting", "", nullptr, kScript},
      {"flushall", -1, "write", 0, 0, 0, "server", "", nullptr, kFlush},
      {"flushdb", -1, "write", 0, 0, 0, "server", "", nullptr, kFlush},
      {"function", -2, "noscript", 0, 0, 0, "scripting", "", nullptr, kScript},
      {"get", 2, "readonly fast", 1, 1, 1, "string",
       "Reads a register, or a counter's value as a string", H(Get)},
      {"getdel", 2, "write fast", 1, 1, 1, "string", "", nullptr,
       kReadModifyWrite},
      {"getex", -2, "write fast", 1, 1, 1, "string", "", nullptr, kTtl},
      {"getset", 3, "write denyoom fast", 1, 1, 1, "string", "", nullptr,
       kReadModifyWrite},
      {"hello", -1, "noauth noscript fast no-auth loading stale", 0, 0, 0,
       "connection", "Picks RESP2 or RESP3, authenticates, names the client",
       H(Hello)},
      {"incr", 2, "write denyoom fast", 1, 1, 1, "string",
       "Increments a counter by one", H(Incr)},
      {"incrby", 3, "write denyoom fast", 1, 1, 1, "string",
       "Increments a counter", H(Incr)},
      {"incrbyfloat", 3, "write denyoom fast", 1, 1, 1, "string", "", nullptr,
       "counters hold 64-bit integers; a float increment of a register is a "
       "read-modify-write, which needs coordination between regions"},
      {"info", -1, "loading stale", 0, 0, 0, "server",
       "server, clients, persistence, replication (each peer region's lag), "
       "keyspace",
       H(Info)},
      {"lindex", 3, "readonly", 1, 1, 1, "list", "Reads a list element",
       H(LIndex)},
      {"linsert", 5, "write denyoom", 1, 1, 1, "list",
       "Inserts before or after the first element equal to a pivot",
       H(LInsert)},
      {"llen", 2, "readonly fast", 1, 1, 1, "list", "A list's length", H(LLen)},
      {"lmove", 5, "write", 1, 2, 1, "list", "", nullptr, kPop},
      {"lmpop", -4, "write", 0, 0, 0, "list", "", nullptr, kPop},
      {"lpop", -2, "write fast", 1, 1, 1, "list", "", nullptr, kPop},
      {"lpush", -3, "write denyoom fast", 1, 1, 1, "list",
       "Pushes to the front", H(Push)},
      {"lpushx", -3, "write denyoom fast", 1, 1, 1, "list", "", nullptr,
       kConditional},
      {"lrange", 4, "readonly", 1, 1, 1, "list", "Reads a range of a list",
       H(LRange)},
      {"lrem", 4, "write", 1, 1, 1, "list", "", nullptr, kListEdit},
      {"lset", 4, "write denyoom", 1, 1, 1, "list", "", nullptr, kListEdit},
      {"ltrim", 4, "write", 1, 1, 1, "list", "", nullptr, kListEdit},
      {"mget", -2, "readonly fast", 1, -1, 1, "string",
       "Reads several registers or counters", H(MGet)},
      {"move", 3, "write fast", 1, 1, 1, "generic", "", nullptr, kRename},
      {"mset", -3, "write denyoom", 1, -1, 2, "string",
       "Writes several registers (each on its own, not atomically)", H(MSet)},
      {"msetnx", -3, "write denyoom", 1, -1, 2, "string", "", nullptr,
       kConditional},
      {"multi", 1, "noscript loading stale fast", 0, 0, 0, "transactions", "",
       nullptr, kTransaction},
      {"persist", 2, "write fast", 1, 1, 1, "generic", "", nullptr, kTtl},
      {"pexpire", -3, "write fast", 1, 1, 1, "generic", "", nullptr, kTtl},
      {"pexpireat", -3, "write fast", 1, 1, 1, "generic", "", nullptr, kTtl},
      {"ping", -1, "fast", 0, 0, 0, "connection", "PONG, or its argument",
       H(Ping)},
      {"psetex", 4, "write denyoom", 1, 1, 1, "string", "", nullptr, kTtl},
      {"psubscribe", -2, "pubsub", 0, 0, 0, "pubsub", "", nullptr, kPubSub},
      {"pttl", 2, "readonly fast", 1, 1, 1, "generic", "", nullptr, kTtl},
      {"publish", 3, "pubsub", 0, 0, 0, "pubsub", "", nullptr, kPubSub},
      {"quit", -1, "noauth allow_busy loading stale fast", 0, 0, 0,
       "connection", "Closes the connection", H(Quit)},
      {"rename", 3, "write", 1, 2, 1, "generic", "", nullptr, kRename},
      {"renamenx", 3, "write fast", 1, 2, 1, "generic", "", nullptr, kRename},
      {"rpop", -2, "write fast", 1, 1, 1, "list", "", nullptr, kPop},
      {"rpoplpush", 3, "write denyoom", 1, 2, 1, "list", "", nullptr, kPop},
      {"rpush", -3, "write denyoom fast", 1, 1, 1, "list", "Pushes to the back",
       H(Push)},
      {"rpushx", -3, "write denyoom fast", 1, 1, 1, "list", "", nullptr,
       kConditional},
      {"sadd", -3, "write denyoom fast", 1, 1, 1, "set",
       "Adds members (add wins over a concurrent remove)", H(SAdd)},
      {"scan", -2, "readonly", 0, 0, 0, "generic",
       "Iterates over keys: MATCH, COUNT, TYPE", H(Scan)},
      {"scard", 2, "readonly fast", 1, 1, 1, "set", "A set's size", H(SCard)},
      {"script", -2, "noscript", 0, 0, 0, "scripting", "", nullptr, kScript},
      {"select", 2, "loading stale fast", 0, 0, 0, "connection",
       "SELECT 0: deltakv has one keyspace", H(Select)},
      {"set", -3, "write denyoom", 1, 1, 1, "string",
       "Writes a register (last writer wins); no options", H(Set)},
      {"setex", 4, "write denyoom", 1, 1, 1, "string", "", nullptr, kTtl},
      {"setnx", 3, "write denyoom fast", 1, 1, 1, "string", "", nullptr,
       kConditional},
      {"setrange", 4, "write denyoom", 1, 1, 1, "string", "", nullptr,
       kReadModifyWrite},
      {"sismember", 3, "readonly fast", 1, 1, 1, "set", "Tests a member",
       H(SIsMember)},
      {"smembers", 2, "readonly", 1, 1, 1, "set", "A set's members",
       H(SMembers)},
      {"smismember", -3, "readonly fast", 1, 1, 1, "set",
       "Tests several members", H(SIsMember)},
      {"smove", 4, "write fast", 1, 2, 1, "set", "", nullptr,
       "moving a member between sets atomically needs coordination between "
       "regions; SREM and SADD instead"},
      {"spop", -2, "write fast", 1, 1, 1, "set", "", nullptr, kPop},
      {"srem", -3, "write fast", 1, 1, 1, "set",
       "Removes the members this region has seen", H(SAdd)},
      {"sscan", -3, "readonly", 1, 1, 1, "set",
       "Iterates over a set's members (one page)", H(SScan)},
      {"subscribe", -2, "pubsub", 0, 0, 0, "pubsub", "", nullptr, kPubSub},
      {"swapdb", 3, "write fast", 0, 0, 0, "server", "", nullptr, kRename},
      {"ttl", 2, "readonly fast", 1, 1, 1, "generic", "", nullptr, kTtl},
      {"type", 2, "readonly fast", 1, 1, 1, "generic",
       "string (registers and counters), set, list or none", H(Type)},
      {"unlink", -2, "write fast", 1, -1, 1, "generic", "Deletes keys (DEL)",
       H(Del)},
      {"unwatch", 1, "noscript loading stale fast", 0, 0, 0, "transactions", "",
       nullptr, kTransaction},
      {"wait", 3, "noscript", 0, 0, 0, "generic",
       "Waits until N regions (this one included) applied this connection's "
       "writes",
       H(Wait)},
      {"watch", -2, "noscript loading stale fast", 1, -1, 1, "transactions", "",
       nullptr, kTransaction},
  };
  return table;
}

#undef H

namespace {

bool ValidClientName(std::string_view name) {
  for (char c : name) {
    if (c < '!' || c > '~') return false;
  }
  return true;
}

std::string Quoted(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 128)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  return out;
}

}  // namespace

const std::vector<Commands::Spec>& CommandTable() { return Commands::Table(); }

const Commands::Spec* FindCommand(std::string_view lower_name) {
  static const auto* index = [] {
    auto* m = new std::unordered_map<std::string_view, const Commands::Spec*>;
    for (const auto& s : Commands::Table()) (*m)[s.name] = &s;
    return m;
  }();
  auto it = index->find(lower_name);
  return it == index->end() ? nullptr : it->second;
}

std::string ErrorText(const Status& s) {
  switch (s.code()) {
    case Code::kWrongType:
      return "WRONGTYPE Operation against a key holding the wrong kind of "
             "value (" +
             s.message() + ")";
    case Code::kTimeout:
      return "TIMEOUT " + s.message();
    case Code::kUnavailable:
      return "UNAVAILABLE " + s.message();
    default:
      return "ERR " + s.message();
  }
}

std::optional<std::string> CheckKey(std::string_view key) {
  if (key.empty() || key.size() > 1024) {
    return "ERR a key must be 1 to 1024 bytes";
  }
  if (!ValidUtf8(key)) {
    return "ERR a key must be UTF-8 (keys are shared with the JSON REST API)";
  }
  return std::nullopt;
}

std::optional<std::string> CheckText(std::string_view value) {
  if (!ValidUtf8(value)) {
    return "ERR set members and list values must be UTF-8 (they are shared "
           "with the JSON REST API)";
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- commands

Commands::Commands(cluster::Service* service, CommandsOptions options)
    : service_(service),
      options_(std::move(options)),
      auth_(std::make_shared<cluster::Auth>(options_.auth)),
      start_(std::chrono::steady_clock::now()),
      metrics_([] {
        std::vector<std::string> names;
        for (const Spec& spec : CommandTable()) names.emplace_back(spec.name);
        return names;
      }()) {
  if (options_.version.empty()) options_.version = DELTAKV_VERSION;
  std::random_device rd;
  next_cursor_ = (uint64_t{rd()} << 20 | rd()) % (uint64_t{1} << 40) + 1;
}

Commands::~Commands() = default;

std::string Commands::RenderMetrics() const {
  return metrics_.Render(
      options_.connected_clients ? options_.connected_clients() : 0);
}

void Commands::SetAuth(cluster::Auth auth) {
  std::atomic_store(&auth_,
                    std::shared_ptr<const cluster::Auth>(
                        std::make_shared<cluster::Auth>(std::move(auth))));
}

bool Commands::Pipelinable(const std::vector<std::string>& args) {
  if (args.empty()) return false;
  const std::string& n = args[0];
  if (n.size() > 6) return false;
  const std::string name = Lower(n);
  if (name == "set") return args.size() == 3;  // options are refused
  return name == "incr" || name == "incrby" || name == "decr" ||
         name == "decrby" || name == "sadd" || name == "srem" ||
         name == "lpush" || name == "rpush" || name == "del" ||
         name == "unlink";
}

uint64_t Commands::SaveCursor(std::string position) {
  std::lock_guard<std::mutex> l(cursor_mu_);
  const uint64_t id = next_cursor_++;
  cursors_[id] = std::move(position);
  cursor_order_.push_back(id);
  while (cursor_order_.size() > kMaxCursors) {
    cursors_.erase(cursor_order_.front());
    cursor_order_.pop_front();
  }
  return id;
}

bool Commands::LoadCursor(uint64_t id, std::string* position) {
  std::lock_guard<std::mutex> l(cursor_mu_);
  auto it = cursors_.find(id);
  if (it == cursors_.end()) return false;
  *position = it->second;
  return true;
}

void Commands::Run(Client& client, std::vector<std::string> args, Done done) {
  auto call = std::make_shared<Call>();
  call->name = Lower(args.empty() ? std::string_view() : args[0]);
  call->args = std::move(args);
  call->protocol = client.protocol;
  call->client = &client;
  call->gone = client.gone;
  call->done = std::move(done);
  const Spec* spec = FindCommand(call->name);
  call->metrics = &metrics_;
  call->command = spec == nullptr
                      ? CommandTable().size()
                      : static_cast<size_t>(spec - CommandTable().data());
  call->start = std::chrono::steady_clock::now();

  // Authentication: with tokens configured, only AUTH, HELLO and QUIT
  // run before it (as in Redis). A reload that drops the token used
  // makes the connection unauthenticated.
  auto auth = std::atomic_load(&auth_);
  if (auth->enabled()) {
    if (client.authenticated && client.checked != auth) {
      client.authenticated = auth->AllowsToken(client.password);
      client.checked = auth;
    }
    const bool exempt =
        spec != nullptr &&
        (spec->handler == &Commands::AuthCmd ||
         spec->handler == &Commands::Hello || spec->handler == &Commands::Quit);
    if (!client.authenticated && !exempt) {
      return call->Fail("NOAUTH Authentication required.");
    }
  }
  if (spec == nullptr) {
    std::string msg = "ERR unknown command '" + Quoted(call->args[0]) +
                      "', with args beginning with: ";
    for (size_t i = 1; i < call->args.size() && i < 8; ++i) {
      msg += "'" + Quoted(call->args[i]) + "' ";
    }
    return call->Fail(msg);
  }
  const int n = static_cast<int>(call->args.size());
  if ((spec->arity > 0 && n != spec->arity) ||
      (spec->arity < 0 && n < -spec->arity)) {
    return call->WrongArgs();
  }
  Dispatch(call, *spec);
  call->client = nullptr;
}

void Commands::Dispatch(const std::shared_ptr<Call>& call, const Spec& spec) {
  if (spec.refusal != nullptr) {
    std::string upper = call->name;
    for (char& c : upper) c = static_cast<char>(std::toupper(c));
    if (spec.refusal == kCluster)
      return call->Fail(std::string("ERR ") + kCluster);
    if (spec.refusal == kListEdit) {
      return call->Fail("ERR " + upper + " " + kListEdit);
    }
    return call->Fail("ERR " + upper +
                      " does not fit a CRDT store: " + spec.refusal);
  }
  (this->*spec.handler)(call);
}

// -------------------------------------------------------- connection

void Commands::Ping(const std::shared_ptr<Call>& c) {
  if (c->args.size() > 2) return c->WrongArgs();
  Reply r = c->NewReply();
  if (c->args.size() == 2) {
    r.Bulk(c->args[1]);
  } else {
    r.Simple("PONG");
  }
  c->Send(r);
}

void Commands::Echo(const std::shared_ptr<Call>& c) {
  Reply r = c->NewReply();
  r.Bulk(c->args[1]);
  c->Send(r);
}

void Commands::Select(const std::shared_ptr<Call>& c) {
  auto db = ParseInt(c->args[1]);
  if (!db) return c->Fail("ERR value is not an integer or out of range");
  if (*db != 0) {
    return c->Fail(
        "ERR DB index is out of range (deltakv has one keyspace: SELECT 0)");
  }
  c->Ok();
}

void Commands::Quit(const std::shared_ptr<Call>& c) {
  Reply r = c->NewReply();
  r.Simple("OK");
  c->Send(r, 0, /*close=*/true);
}

void Commands::AuthCmd(const std::shared_ptr<Call>& c) {
  if (c->args.size() > 3) return c->SyntaxError();
  auto auth = std::atomic_load(&auth_);
  if (!auth->enabled()) {
    return c->Fail(
        "ERR AUTH <password> called without any password configured for the "
        "default user. Are you sure your configuration is correct?");
  }
  const bool user_ok = c->args.size() == 2 || c->args[1] == "default";
  const std::string& password = c->args.back();
  if (!user_ok || !auth->AllowsToken(password)) {
    return c->Fail(
        "WRONGPASS invalid username-password pair or user is disabled.");
  }
  c->client->authenticated = true;
  c->client->password = password;
  c->client->checked = auth;
  c->Ok();
}

void Commands::Hello(const std::shared_ptr<Call>& c) {
  Client& client = *c->client;
  int protocol = client.protocol;
  size_t i = 1;
  if (c->args.size() > 1) {
    auto v = ParseInt(c->args[1]);
    if (!v) {
      return c->Fail("ERR Protocol version is not an integer or out of range");
    }
    if (*v != 2 && *v != 3) {
      return c->Fail("NOPROTO unsupported protocol version");
    }
    protocol = static_cast<int>(*v);
    i = 2;
  }
  std::optional<std::string> password, name;
  for (; i < c->args.size(); ++i) {
    const std::string opt = Lower(c->args[i]);
    if (opt == "auth" && i + 2 < c->args.size()) {
      if (c->args[i + 1] != "default") {
        return c->Fail(
            "WRONGPASS invalid username-password pair or user is disabled.");
      }
      password = c->args[i + 2];
      i += 2;
    } else if (opt == "setname" && i + 1 < c->args.size()) {
      name = c->args[++i];
    } else {
      return c->Fail("ERR Syntax error in HELLO option '" + Quoted(c->args[i]) +
                     "'");
    }
  }
  auto auth = std::atomic_load(&auth_);
  if (password) {
    if (auth->enabled() && !auth->AllowsToken(*password)) {
      return c->Fail(
          "WRONGPASS invalid username-password pair or user is disabled.");
    }
    if (auth->enabled()) {
      client.authenticated = true;
      client.password = *password;
      client.checked = auth;
    }
  } else if (auth->enabled() && !client.authenticated) {
    return c->Fail(
        "NOAUTH HELLO must be called with the client already authenticated, "
        "otherwise the HELLO <proto> AUTH <user> <pass> option can be used "
        "to authenticate the client and select the RESP protocol version at "
        "the same time");
  }
  if (name) {
    if (!ValidClientName(*name)) {
      return c->Fail(
          "ERR Client names cannot contain spaces, newlines or special "
          "characters.");
    }
    client.name = *name;
  }
  client.protocol = protocol;
  Reply r(protocol);
  r.Map(7);
  r.Bulk("server");
  r.Bulk("redis");
  r.Bulk("version");
  r.Bulk(kRedisVersion);
  r.Bulk("proto");
  r.Integer(protocol);
  r.Bulk("id");
  r.Integer(static_cast<int64_t>(client.id));
  r.Bulk("mode");
  r.Bulk("standalone");
  r.Bulk("role");
  r.Bulk("master");
  r.Bulk("modules");
  r.Array(0);
  c->Send(r);
}

void Commands::ClientCmd(const std::shared_ptr<Call>& c) {
  Client& client = *c->client;
  const std::string sub = Lower(c->args[1]);
  const size_t n = c->args.size();
  if (sub == "setname" && n == 3) {
    if (!ValidClientName(c->args[2])) {
      return c->Fail(
          "ERR Client names cannot contain spaces, newlines or special "
          "characters.");
    }
    client.name = c->args[2];
    return c->Ok();
  }
  if (sub == "getname" && n == 2) {
    Reply r = c->NewReply();
    if (client.name.empty()) {
      r.Null();
    } else {
      r.Bulk(client.name);
    }
    return c->Send(r);
  }
  if (sub == "id" && n == 2) return c->Int(static_cast<int64_t>(client.id));
  if (sub == "setinfo" && n == 4) {
    const std::string attr = Lower(c->args[2]);
    if (!ValidClientName(c->args[3])) {
      return c->Fail("ERR " + attr +
                     " cannot contain spaces, newlines or special characters.");
    }
    if (attr == "lib-name") {
      client.lib_name = c->args[3];
    } else if (attr == "lib-ver") {
      client.lib_version = c->args[3];
    } else {
      return c->Fail("ERR Unrecognized option '" + Quoted(c->args[2]) + "'");
    }
    return c->Ok();
  }
  if (sub == "info" && n == 2) {
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::steady_clock::now() - client.since)
                         .count();
    Reply r = c->NewReply();
    r.Verbatim("id=" + std::to_string(client.id) + " addr=" + client.remote +
               " name=" + client.name + " age=" + std::to_string(age) +
               " db=0 resp=" + std::to_string(client.protocol) + " lib-name=" +
               client.lib_name + " lib-ver=" + client.lib_version + "\n");
    return c->Send(r);
  }
  if (sub == "help") {
    Reply r = c->NewReply();
    const char* lines[] = {"CLIENT <subcommand> [<arg> ...]. Subcommands are:",
                           "SETNAME <name>",
                           "GETNAME",
                           "ID",
                           "SETINFO <lib-name|lib-ver> <value>",
                           "INFO"};
    r.Array(std::size(lines));
    for (const char* l : lines) r.Simple(l);
    return c->Send(r);
  }
  c->Fail("ERR unknown subcommand or wrong number of arguments for '" +
          Quoted(c->args[1]) + "'. Try CLIENT HELP.");
}

// ------------------------------------------------------------- server

namespace {

void CommandInfo(Reply& r, const Commands::Spec& s) {
  r.Array(10);
  r.Bulk(s.name);
  r.Integer(s.arity);
  std::vector<std::string_view> flags;
  std::string_view f(s.flags);
  while (!f.empty()) {
    size_t sp = f.find(' ');
    flags.push_back(f.substr(0, sp));
    if (sp == std::string_view::npos) break;
    f.remove_prefix(sp + 1);
  }
  r.Set(flags.size());
  for (auto fl : flags) r.Simple(fl);
  r.Integer(s.first_key);
  r.Integer(s.last_key);
  r.Integer(s.step);
  r.Set(1);
  r.Simple(std::string("@") + s.group);
  r.Set(0);    // tips
  r.Array(0);  // key specifications
  r.Array(0);  // subcommands
}

void CommandDoc(Reply& r, const Commands::Spec& s) {
  r.Bulk(s.name);
  r.Map(3);
  r.Bulk("summary");
  r.Bulk(s.refusal != nullptr ? std::string("Refused by deltakv: ") + s.refusal
                              : std::string(s.summary));
  r.Bulk("since");
  r.Bulk("1.0.0");
  r.Bulk("group");
  r.Bulk(s.group);
}

}  // namespace

void Commands::CommandCmd(const std::shared_ptr<Call>& c) {
  const auto& table = Table();
  Reply r = c->NewReply();
  if (c->args.size() == 1) {
    r.Array(table.size());
    for (const auto& s : table) CommandInfo(r, s);
    return c->Send(r);
  }
  const std::string sub = Lower(c->args[1]);
  if (sub == "count" && c->args.size() == 2) {
    return c->Int(static_cast<int64_t>(table.size()));
  }
  if (sub == "list" && c->args.size() == 2) {
    r.Array(table.size());
    for (const auto& s : table) r.Bulk(s.name);
    return c->Send(r);
  }
  if (sub == "info") {
    if (c->args.size() == 2) {
      r.Array(table.size());
      for (const auto& s : table) CommandInfo(r, s);
      return c->Send(r);
    }
    r.Array(c->args.size() - 2);
    for (size_t i = 2; i < c->args.size(); ++i) {
      const Spec* s = FindCommand(Lower(c->args[i]));
      if (s == nullptr) {
        r.NullArray();
      } else {
        CommandInfo(r, *s);
      }
    }
    return c->Send(r);
  }
  if (sub == "docs") {
    std::vector<const Spec*> specs;
    if (c->args.size() == 2) {
      for (const auto& s : table) specs.push_back(&s);
    } else {
      for (size_t i = 2; i < c->args.size(); ++i) {
        if (const Spec* s = FindCommand(Lower(c->args[i]))) specs.push_back(s);
      }
    }
    r.Map(specs.size());
    for (const Spec* s : specs) CommandDoc(r, *s);
    return c->Send(r);
  }
  c->Fail("ERR unknown subcommand or wrong number of arguments for '" +
          Quoted(c->args[1]) + "'. Try COMMAND HELP.");
}

void Commands::Config(const std::shared_ptr<Call>& c) {
  const std::string sub = Lower(c->args[1]);
  if (sub != "get") {
    return c->Fail("ERR CONFIG " + Quoted(c->args[1]) +
                   " is not supported: deltakv-server is configured with "
                   "flags, DELTAKV_* environment variables or a TOML file "
                   "(deltakv-server --help)");
  }
  if (c->args.size() < 3) return c->WrongArgs();
  const bool sync = options_.durability == "sync";
  const std::vector<std::pair<std::string, std::string>> settings = {
      {"appendfsync", sync ? "always" : "everysec"},
      {"appendonly", "yes"},
      {"databases", "1"},
      {"maxclients", std::to_string(options_.max_connections)},
      {"maxmemory", "0"},
      {"port", std::to_string(port_.load())},
      {"save", ""},
  };
  std::vector<const std::pair<std::string, std::string>*> hits;
  for (const auto& kv : settings) {
    for (size_t i = 2; i < c->args.size(); ++i) {
      if (GlobMatch(Lower(c->args[i]), kv.first)) {
        hits.push_back(&kv);
        break;
      }
    }
  }
  Reply r = c->NewReply();
  r.Map(hits.size());
  for (const auto* kv : hits) {
    r.Bulk(kv->first);
    r.Bulk(kv->second);
  }
  c->Send(r);
}

void Commands::CountKeys(std::function<void(uint64_t, bool)> done) {
  struct Count {
    uint64_t n = 0;
    std::function<void(uint64_t, bool)> done;
    std::function<void(std::string)> next;
  };
  auto count = std::make_shared<Count>();
  count->done = std::move(done);
  std::weak_ptr<Count> weak = count;
  count->next = [this, weak](std::string after) {
    auto self = weak.lock();
    if (!self) return;
    service_->Scan("", std::move(after), 1000,
                   [self](Result<cluster::ScanResult> page) {
                     if (!page.ok()) return self->done(self->n, false);
                     self->n += page->keys.size();
                     if (!page->next || self->n >= kInfoKeyCountCap) {
                       const bool capped = page->next.has_value();
                       auto finish = std::move(self->done);
                       self->next = nullptr;  // breaks the cycle
                       return finish(self->n, capped);
                     }
                     auto next = self->next;
                     next(*page->next);
                   });
  };
  auto first = count->next;
  first("");
}

void Commands::DbSize(const std::shared_ptr<Call>& c) {
  CountKeys([c](uint64_t keys, bool) { c->Int(static_cast<int64_t>(keys)); });
}

void Commands::Info(const std::shared_ptr<Call>& c) {
  std::vector<std::string> sections;
  for (size_t i = 1; i < c->args.size(); ++i) {
    sections.push_back(Lower(c->args[i]));
  }
  auto want = [&sections](const std::string& s) {
    if (sections.empty()) return true;
    for (const auto& x : sections) {
      if (x == s || x == "all" || x == "everything" || x == "default") {
        return true;
      }
    }
    return false;
  };
  std::string text;
  const cluster::RegionStatus region = service_->Region();
  if (want("server")) {
    const auto up = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::steady_clock::now() - start_)
                        .count();
    text += "# Server\r\nredis_version:" + std::string(kRedisVersion) +
            "\r\ndeltakv_version:" + options_.version +
            "\r\nredis_mode:standalone\r\nos:Linux\r\narch_bits:64\r\n"
            "process_id:" +
            std::to_string(getpid()) +
            "\r\ntcp_port:" + std::to_string(port_.load()) +
            "\r\nuptime_in_seconds:" + std::to_string(up) +
            "\r\nregion:" + region.region +
            "\r\nreplica_id:" + region.replica_id + "\r\n\r\n";
  }
  if (want("clients")) {
    const size_t clients =
        options_.connected_clients ? options_.connected_clients() : 0;
    text += "# Clients\r\nconnected_clients:" + std::to_string(clients) +
            "\r\nmaxclients:" + std::to_string(options_.max_connections) +
            "\r\nblocked_clients:" + std::to_string(service_->parked()) +
            "\r\n\r\n";
  }
  if (want("persistence")) {
    text += "# Persistence\r\nloading:0\r\ndurability:" + options_.durability +
            "\r\n\r\n";
  }
  if (want("replication")) {
    size_t connected = 0;
    for (const auto& p : region.peers) connected += p.connected ? 1 : 0;
    text += "# Replication\r\nrole:master\r\nregion:" + region.region +
            "\r\nregions:" + std::to_string(region.regions) +
            "\r\nconnected_regions:" + std::to_string(connected) +
            "\r\nsequence:" + std::to_string(region.sequence) +
            "\r\nlog_start:" + std::to_string(region.log_start) + "\r\n";
    for (size_t i = 0; i < region.peers.size(); ++i) {
      const auto& p = region.peers[i];
      char lag_s[32], heard[32];
      std::snprintf(lag_s, sizeof lag_s, "%.3f", p.lag_seconds);
      std::snprintf(heard, sizeof heard, "%.3f", p.last_heard_s);
      text += "peer" + std::to_string(i) + ":region=" + p.region +
              ",connected=" + (p.connected ? "1" : "0") +
              ",applied=" + std::to_string(p.applied) +
              ",latest=" + std::to_string(p.latest) +
              ",lag=" + std::to_string(p.lag) + ",lag_seconds=" + lag_s +
              ",acked=" + std::to_string(p.acked) +
              ",last_heard_seconds=" + heard + "\r\n";
    }
    text += "\r\n";
  }
  if (!want("keyspace")) {
    Reply r = c->NewReply();
    r.Verbatim(text);
    return c->Send(r);
  }
  CountKeys([c, text](uint64_t keys, bool capped) mutable {
    text += "# Keyspace\r\n";
    if (keys > 0) {
      text += "db0:keys=" + std::to_string(keys) + ",expires=0,avg_ttl=0" +
              (capped ? ",counted_up_to=" + std::to_string(keys) : "") + "\r\n";
    }
    Reply r = c->NewReply();
    r.Verbatim(text);
    c->Send(r);
  });
}

void Commands::Wait(const std::shared_ptr<Call>& c) {
  auto regions = ParseInt(c->args[1]);
  auto timeout = ParseInt(c->args[2]);
  if (!regions || !timeout) {
    return c->Fail("ERR value is not an integer or out of range");
  }
  if (*regions < 0 || *regions > 1000) {
    return c->Fail("ERR numregions must be 0 to 1000");
  }
  if (*timeout < 0) return c->Fail("ERR timeout is negative");
  // 0 waits for ever, as in Redis (a year, here).
  const auto wait =
      *timeout == 0 ? std::chrono::milliseconds(int64_t{365} * 24 * 3600 * 1000)
                    : std::chrono::milliseconds(*timeout);
  service_->WaitRegions(c->client->last_write_seq,
                        static_cast<uint32_t>(*regions), wait, c->gone,
                        [c](Result<size_t> n) {
                          if (!n.ok()) return c->Fail(ErrorText(n.status()));
                          c->Int(static_cast<int64_t>(*n));
                        });
}

}  // namespace deltakv::resp
