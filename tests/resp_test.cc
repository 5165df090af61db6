// Black-box tests of the Redis protocol listener: a real deltakv-server
// with --resp 127.0.0.1:0, driven by redis-cli (Debian's redis-tools) and
// by raw sockets (pipelining, split and malformed frames), with the REST
// API on the same data.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "client/http_client.h"
#include "tests/raw_conn.h"
#include "tests/server_harness.h"

using deltakv::HttpClient;
using deltakv::testing::FreePortPair;
using deltakv::testing::RawConn;
using deltakv::testing::RawExchange;
using deltakv::testing::ServerProcess;
using nlohmann::json;

namespace {

std::vector<std::string> WithResp(std::vector<std::string> extra = {}) {
  extra.insert(extra.begin(), {"--resp", "127.0.0.1:0"});
  return extra;
}

// Runs a program (bounded by `timeout` 20 s) and returns its stdout and
// stderr together.
std::string Run(std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"timeout", "20"});
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return out;
}

// redis-cli, formatted as on a terminal ("(integer) 1", "\"v\"", "(nil)",
// "(error) ERR ..."), without the trailing newline.
class Cli {
 public:
  explicit Cli(const ServerProcess& s, std::vector<std::string> extra = {})
      : port_(s.resp_port()), extra_(std::move(extra)) {
    REQUIRE_FALSE(port_.empty());
  }
  std::string operator()(std::vector<std::string> args) const {
    std::vector<std::string> argv = {"redis-cli", "--no-raw", "-p", port_};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out = Run(argv);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

 private:
  std::string port_;
  std::vector<std::string> extra_;
};

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

std::unique_ptr<HttpClient> Rest(const ServerProcess& s) {
  auto c = HttpClient::Create(s.url(), "");
  REQUIRE(c.ok());
  return std::move(c).value();
}

json RestCall(HttpClient& c, const char* method, const std::string& target,
              const std::string& body = {}) {
  auto r = c.Request(method, target, body);
  REQUIRE(r.ok());
  json j = json::parse(r->body, nullptr, false);
  j["_status"] = r->status;
  return j;
}

std::string Bulk(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}
std::string Cmd(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) out += Bulk(a);
  return out;
}

// One line of answer from a raw connection (bounded: 10 s).
std::string ReadLine(RawConn& conn) {
  return conn.Read(std::chrono::seconds(10), "\r\n");
}

}  // namespace

TEST_CASE("redis-cli: counters answer INCR, INCRBY, DECR, DECRBY and GET") {
  ServerProcess s(WithResp());
  Cli cli(s);
  CHECK(cli({"INCR", "visits"}) == "(integer) 1");
  CHECK(cli({"INCRBY", "visits", "41"}) == "(integer) 42");
  CHECK(cli({"DECR", "visits"}) == "(integer) 41");
  CHECK(cli({"DECRBY", "visits", "-9"}) == "(integer) 50");
  CHECK(cli({"GET", "visits"}) == "\"50\"");  // a bulk string, as Redis
  CHECK(StartsWith(cli({"INCRBY", "visits", "x"}),
                   "(error) ERR value is not an integer"));
  CHECK(StartsWith(cli({"INCRBY", "visits", "9223372036854775807"}),
                   "(error) ERR"));
  CHECK(cli({"GET", "visits"}) == "\"50\"");  // the overflow wrote nothing
  CHECK(StartsWith(cli({"INCR"}), "(error) ERR wrong number of arguments"));
}

TEST_CASE("redis-cli: registers answer SET, GET, MGET and MSET") {
  ServerProcess s(WithResp());
  Cli cli(s);
  CHECK(cli({"SET", "greeting", "hello world"}) == "OK");
  CHECK(cli({"GET", "greeting"}) == "\"hello world\"");
  CHECK(cli({"GET", "missing"}) == "(nil)");
  CHECK(cli({"MSET", "a", "1", "b", "two"}) == "OK");
  CHECK(cli({"MGET", "a", "b", "missing"}) == "1) \"1\"\n2) \"two\"\n3) (nil)");
  CHECK(StartsWith(cli({"MSET", "a", "1", "b"}),
                   "(error) ERR wrong number of arguments"));
  CHECK(cli({"SET", "a", "quote\"and\\back"}) == "OK");
  CHECK(cli({"GET", "a"}) == "\"quote\\\"and\\\\back\"");
}

TEST_CASE("redis-cli: SET options are refused with the reason") {
  ServerProcess s(WithResp());
  Cli cli(s);
  for (const char* opt : {"EX", "PX", "EXAT", "PXAT"}) {
    std::string out = cli({"SET", "k", "v", opt, "10"});
    CHECK(StartsWith(out, "(error) ERR SET " + std::string(opt) +
                              " is not supported: deltakv has no TTL"));
  }
  CHECK(StartsWith(cli({"SET", "k", "v", "KEEPTTL"}),
                   "(error) ERR SET KEEPTTL is not supported"));
  CHECK(StartsWith(cli({"SET", "k", "v", "NX"}),
                   "(error) ERR SET NX is not supported: a conditional write "
                   "needs coordination"));
  CHECK(StartsWith(cli({"SET", "k", "v", "XX"}),
                   "(error) ERR SET XX is not supported"));
  CHECK(StartsWith(cli({"SET", "k", "v", "GET"}),
                   "(error) ERR SET GET is not supported"));
  CHECK(cli({"SET", "k", "v", "BOGUS"}) == "(error) ERR syntax error");
  CHECK(cli({"GET", "k"}) == "(nil)");  // nothing was written
}

TEST_CASE(
    "redis-cli: sets answer SADD, SREM, SMEMBERS, SISMEMBER, "
    "SMISMEMBER, SCARD and SSCAN") {
  ServerProcess s(WithResp());
  Cli cli(s);
  CHECK(cli({"SADD", "tags", "crdt", "lmdb", "zmq", "crdt"}) == "(integer) 3");
  CHECK(cli({"SADD", "tags", "crdt"}) == "(integer) 0");
  CHECK(cli({"SREM", "tags", "zmq", "nope"}) == "(integer) 1");
  CHECK(cli({"SMEMBERS", "tags"}) == "1) \"crdt\"\n2) \"lmdb\"");
  CHECK(cli({"SCARD", "tags"}) == "(integer) 2");
  CHECK(cli({"SCARD", "missing"}) == "(integer) 0");
  CHECK(cli({"SISMEMBER", "tags", "lmdb"}) == "(integer) 1");
  CHECK(cli({"SISMEMBER", "tags", "zmq"}) == "(integer) 0");
  CHECK(cli({"SMISMEMBER", "tags", "crdt", "zmq"}) ==
        "1) (integer) 1\n2) (integer) 0");
  CHECK(cli({"SSCAN", "tags", "0"}) ==
        "1) \"0\"\n2) 1) \"crdt\"\n   2) \"lmdb\"");
  CHECK(cli({"SSCAN", "tags", "0", "MATCH", "l*", "COUNT", "5"}) ==
        "1) \"0\"\n2) 1) \"lmdb\"");
  CHECK(StartsWith(cli({"SSCAN", "tags", "7"}), "(error) ERR invalid cursor"));
  CHECK(cli({"SMEMBERS", "missing"}) == "(empty array)");
  CHECK(cli({"SREM", "missing", "a"}) == "(integer) 0");
}

TEST_CASE(
    "redis-cli: lists answer LPUSH, RPUSH, LINSERT, LRANGE, LLEN and "
    "LINDEX") {
  ServerProcess s(WithResp());
  Cli cli(s);
  CHECK(cli({"RPUSH", "l", "c", "d"}) == "(integer) 2");
  CHECK(cli({"LPUSH", "l", "b", "a"}) == "(integer) 4");  // a b c d
  CHECK(cli({"LRANGE", "l", "0", "-1"}) ==
        "1) \"a\"\n2) \"b\"\n3) \"c\"\n4) \"d\"");
  CHECK(cli({"LINSERT", "l", "BEFORE", "c", "x"}) == "(integer) 5");
  CHECK(cli({"LINSERT", "l", "AFTER", "d", "y"}) == "(integer) 6");
  CHECK(cli({"LINSERT", "l", "AFTER", "nope", "z"}) == "(integer) -1");
  CHECK(cli({"LINSERT", "missing", "AFTER", "a", "z"}) == "(integer) 0");
  CHECK(cli({"LRANGE", "l", "1", "3"}) == "1) \"b\"\n2) \"x\"\n3) \"c\"");
  CHECK(cli({"LRANGE", "l", "-2", "-1"}) == "1) \"d\"\n2) \"y\"");
  CHECK(cli({"LRANGE", "l", "10", "20"}) == "(empty array)");
  CHECK(cli({"LLEN", "l"}) == "(integer) 6");
  CHECK(cli({"LLEN", "missing"}) == "(integer) 0");
  CHECK(cli({"LINDEX", "l", "0"}) == "\"a\"");
  CHECK(cli({"LINDEX", "l", "-1"}) == "\"y\"");
  CHECK(cli({"LINDEX", "l", "99"}) == "(nil)");
  CHECK(StartsWith(cli({"LINSERT", "l", "ABOVE", "a", "z"}),
                   "(error) ERR syntax error"));
}

TEST_CASE(
    "redis-cli: keys answer DEL, UNLINK, EXISTS, TYPE and SCAN with "
    "MATCH, COUNT and TYPE") {
  ServerProcess s(WithResp());
  Cli cli(s);
  cli({"INCR", "c:1"});
  cli({"SET", "r:1", "v"});
  cli({"SADD", "s:1", "m"});
  cli({"RPUSH", "l:1", "x"});
  for (int i = 0; i < 30; ++i) cli({"SET", "page:" + std::to_string(i), "v"});
  CHECK(cli({"TYPE", "c:1"}) == "string");
  CHECK(cli({"TYPE", "r:1"}) == "string");
  CHECK(cli({"TYPE", "s:1"}) == "set");
  CHECK(cli({"TYPE", "l:1"}) == "list");
  CHECK(cli({"TYPE", "missing"}) == "none");
  CHECK(cli({"EXISTS", "c:1", "s:1", "missing", "c:1"}) == "(integer) 3");
  CHECK(cli({"SCAN", "0", "TYPE", "set", "COUNT", "1000"}) ==
        "1) \"0\"\n2) 1) \"s:1\"");
  CHECK(cli({"SCAN", "0", "MATCH", "*:1", "TYPE", "counter", "COUNT",
             "1000"}) == "1) \"0\"\n2) 1) \"c:1\"");
  CHECK(cli({"SCAN", "0", "MATCH", "l*"}) == "1) \"0\"\n2) 1) \"l:1\"");
  // redis-cli --scan follows the cursors to the end: every key, once.
  std::string all =
      Run({"redis-cli", "-p", s.resp_port(), "--scan", "--pattern", "page:*"});
  int seen = 0;
  for (size_t p = all.find("page:"); p != std::string::npos;
       p = all.find("page:", p + 1)) {
    ++seen;
  }
  CHECK(seen == 30);
  CHECK(StartsWith(cli({"SCAN", "12345"}), "(error) ERR invalid cursor"));
  CHECK(StartsWith(cli({"SCAN", "0", "TYPE", "zset"}),
                   "(error) ERR unknown type"));
  CHECK(cli({"DEL", "c:1", "r:1", "missing"}) == "(integer) 2");
  CHECK(cli({"UNLINK", "s:1"}) == "(integer) 1");
  CHECK(cli({"EXISTS", "c:1", "r:1", "s:1"}) == "(integer) 0");
  CHECK(cli({"GET", "c:1"}) == "(nil)");
  CHECK(cli({"DBSIZE"}) == "(integer) 31");
}

TEST_CASE(
    "redis-cli: server commands PING, ECHO, SELECT, INFO, CLIENT, "
    "COMMAND, CONFIG and QUIT") {
  ServerProcess s(WithResp());
  Cli cli(s);
  cli({"SET", "k", "v"});
  CHECK(cli({"PING"}) == "PONG");
  CHECK(cli({"PING", "hi"}) == "\"hi\"");
  CHECK(cli({"ECHO", "echo me"}) == "\"echo me\"");
  CHECK(cli({"SELECT", "0"}) == "OK");
  CHECK(
      StartsWith(cli({"SELECT", "1"}), "(error) ERR DB index is out of range"));
  const std::string info = cli({"INFO"});
  for (const char* part :
       {"# Server", "redis_version:", "# Clients", "connected_clients:1",
        "# Replication", "role:master", "region:local", "# Keyspace",
        "db0:keys=1,expires=0"}) {
    INFO(part);
    CHECK(info.find(part) != std::string::npos);
  }
  CHECK(cli({"INFO", "keyspace"}).find("# Server") == std::string::npos);
  // One connection: SETNAME then GETNAME (redis-cli reads commands from
  // standard input in order).
  const std::string named =
      Run({"sh", "-c",
           "printf 'CLIENT SETNAME tester\\nCLIENT GETNAME\\nCLIENT ID\\n' | "
           "redis-cli -p " +
               s.resp_port()});
  CHECK(named.find("OK\ntester\n") != std::string::npos);
  CHECK(StartsWith(cli({"CLIENT", "SETNAME", "has space"}),
                   "(error) ERR Client names cannot contain spaces"));
  CHECK(StartsWith(cli({"COMMAND", "COUNT"}), "(integer) "));
  const std::string ci = cli({"COMMAND", "INFO", "get", "nosuch"});
  CHECK(ci.find("\"get\"") != std::string::npos);
  CHECK(ci.find("(integer) 2") != std::string::npos);  // GET's arity
  CHECK(ci.find("(nil)") != std::string::npos);
  CHECK(cli({"COMMAND", "DOCS", "incr"}).find("summary") != std::string::npos);
  CHECK(cli({"CONFIG", "GET", "appendfsync"}) ==
        "1) \"appendfsync\"\n2) \"always\"");
  CHECK(StartsWith(cli({"CONFIG", "SET", "save", ""}),
                   "(error) ERR CONFIG SET is not supported"));
  CHECK(cli({"QUIT"}) == "OK");
  CHECK(
      StartsWith(cli({"NOSUCH", "a"}), "(error) ERR unknown command 'NOSUCH'"));
}

TEST_CASE("redis-cli: HELLO 3 switches to RESP3") {
  ServerProcess s(WithResp());
  Cli cli3(s, {"-3"});
  cli3({"SADD", "s", "a", "b"});
  const std::string hello = cli3({"HELLO", "3"});
  CHECK(hello.find("\"proto\"") != std::string::npos);
  CHECK(hello.find("(integer) 3") != std::string::npos);
  // A RESP3 set and a RESP3 null.
  const std::string raw =
      RawExchange(s.resp_port(), Cmd({"HELLO", "3"}) + Cmd({"SMEMBERS", "s"}) +
                                     Cmd({"GET", "missing"}));
  CHECK(raw.find("%7\r\n") != std::string::npos);
  CHECK(raw.find("~2\r\n$1\r\na\r\n$1\r\nb\r\n") != std::string::npos);
  CHECK(raw.find("_\r\n") != std::string::npos);
  CHECK(StartsWith(cli3({"HELLO", "4"}), "(error) NOPROTO"));
}

TEST_CASE("a type clash answers WRONGTYPE like Redis") {
  ServerProcess s(WithResp());
  Cli cli(s);
  cli({"INCR", "counter"});
  cli({"SET", "register", "v"});
  cli({"SADD", "set", "m"});
  cli({"RPUSH", "list", "x"});
  const std::string wrong =
      "(error) WRONGTYPE Operation against a key "
      "holding the wrong kind of value";
  CHECK(StartsWith(cli({"SET", "counter", "v"}), wrong));
  CHECK(StartsWith(cli({"INCR", "register"}), wrong));
  CHECK(StartsWith(cli({"GET", "set"}), wrong));
  CHECK(StartsWith(cli({"SADD", "list", "m"}), wrong));
  CHECK(StartsWith(cli({"RPUSH", "set", "x"}), wrong));
  CHECK(StartsWith(cli({"SMEMBERS", "counter"}), wrong));
  CHECK(StartsWith(cli({"LRANGE", "set", "0", "-1"}), wrong));
  CHECK(StartsWith(cli({"MSET", "fresh", "1", "set", "2"}), wrong));
  CHECK(cli({"GET", "fresh"}) == "(nil)");  // MSET wrote nothing
  CHECK(cli({"MGET", "register", "set"}) == "1) \"v\"\n2) (nil)");
}

TEST_CASE(
    "commands that need coordination answer why they do not fit a "
    "CRDT store") {
  ServerProcess s(WithResp());
  Cli cli(s);
  cli({"RPUSH", "l", "x"});
  const std::vector<std::vector<std::string>> refused = {
      {"LPOP", "l"},
      {"RPOP", "l"},
      {"SETNX", "k", "v"},
      {"MULTI"},
      {"EXEC"},
      {"WATCH", "k"},
      {"EVAL", "return 1", "0"},
      {"FLUSHALL"},
      {"FLUSHDB"},
      {"GETSET", "k", "v"},
      {"APPEND", "k", "v"},
      {"SPOP", "s"},
      {"RENAME", "a", "b"}};
  for (const auto& args : refused) {
    const std::string out = cli(args);
    INFO(args[0] << ": " << out);
    CHECK(StartsWith(
        out, "(error) ERR " + args[0] + " does not fit a CRDT store: "));
    CHECK(out.find("unknown command") == std::string::npos);
  }
  CHECK(StartsWith(cli({"EXPIRE", "k", "10"}),
                   "(error) ERR EXPIRE does not fit a CRDT store: deltakv has "
                   "no TTL"));
  for (const char* sub : {"SLOTS", "SHARDS"}) {
    CHECK(StartsWith(cli({"CLUSTER", sub}),
                     "(error) ERR This instance has cluster support "
                     "disabled: a deltakv region is served by one node"));
  }
  CHECK(cli({"LLEN", "l"}) == "(integer) 1");  // LPOP took nothing
}

TEST_CASE("AUTH with the API tokens: NOAUTH until authenticated") {
  const std::string token = "resp-test-token-0123456789";
  ServerProcess s(WithResp({"--tokens", token}));
  Cli cli(s);
  CHECK(cli({"PING"}) == "(error) NOAUTH Authentication required.");
  CHECK(cli({"GET", "k"}) == "(error) NOAUTH Authentication required.");
  CHECK(StartsWith(cli({"HELLO", "3"}), "(error) NOAUTH HELLO must be called"));
  CHECK(
      StartsWith(cli({"AUTH", "wrong-token-0123456789"}), "(error) WRONGPASS"));
  CHECK(StartsWith(cli({"AUTH", "someone", token}), "(error) WRONGPASS"));
  // AUTH token, then a command, on one connection.
  std::string raw =
      RawExchange(s.resp_port(), Cmd({"AUTH", token}) + Cmd({"INCR", "n"}));
  CHECK(raw == "+OK\r\n:1\r\n");
  raw = RawExchange(s.resp_port(),
                    Cmd({"AUTH", "default", token}) + Cmd({"INCR", "n"}));
  CHECK(raw == "+OK\r\n:2\r\n");
  raw =
      RawExchange(s.resp_port(), Cmd({"HELLO", "2", "AUTH", "default", token}) +
                                     Cmd({"GET", "n"}));
  CHECK(raw.find("$1\r\n2\r\n") != std::string::npos);
  // redis-cli's own -a.
  Cli authed(s, {"-a", token, "--no-auth-warning"});
  CHECK(authed({"GET", "n"}) == "\"2\"");
  CHECK(cli({"QUIT"}) == "OK");  // QUIT needs no token
}

TEST_CASE("without tokens AUTH says none is configured") {
  ServerProcess s(WithResp());
  Cli cli(s);
  CHECK(StartsWith(cli({"AUTH", "whatever-token-0123456"}),
                   "(error) ERR AUTH <password> called without any password "
                   "configured"));
}

TEST_CASE("the same data is visible through REST and RESP") {
  ServerProcess s(WithResp());
  Cli cli(s);
  auto rest = Rest(s);
  // RESP writes, REST reads.
  cli({"INCRBY", "hits", "7"});
  cli({"SET", "name", "deltakv \xc3\xa9t\xc3\xa9"});
  cli({"SADD", "tags", "b", "a"});
  cli({"RPUSH", "queue", "x", "y"});
  CHECK(RestCall(*rest, "GET", "/v1/counter/hits")["value"] == 7);
  CHECK(RestCall(*rest, "GET", "/v1/register/name")["value"] ==
        "deltakv \xc3\xa9t\xc3\xa9");
  CHECK(RestCall(*rest, "GET", "/v1/set/tags")["members"] ==
        json::array({"a", "b"}));
  CHECK(RestCall(*rest, "GET", "/v1/list/queue")["values"] ==
        json::array({"x", "y"}));
  // REST writes, RESP reads.
  RestCall(*rest, "POST", "/v1/counter/hits/incr", R"({"by":3})");
  RestCall(*rest, "PUT", "/v1/register/doc", R"({"value":{"a":[1,2]}})");
  RestCall(*rest, "PUT", "/v1/register/text", R"({"value":"line\nbreak"})");
  RestCall(*rest, "POST", "/v1/set/tags/add", R"({"members":["c"]})");
  RestCall(*rest, "POST", "/v1/list/queue/push",
           R"({"values":["w"],"side":"front"})");
  CHECK(cli({"GET", "hits"}) == "\"10\"");
  CHECK(cli({"GET", "doc"}) == "\"{\\\"a\\\":[1,2]}\"");
  CHECK(cli({"GET", "text"}) == "\"line\\nbreak\"");
  CHECK(cli({"SCARD", "tags"}) == "(integer) 3");
  CHECK(cli({"LRANGE", "queue", "0", "-1"}) == "1) \"w\"\n2) \"x\"\n3) \"y\"");
  // A delete through one is a delete through the other.
  cli({"DEL", "tags"});
  CHECK(RestCall(*rest, "GET", "/v1/set/tags")["_status"] == 404);
}

TEST_CASE("binary register values round-trip through RESP") {
  ServerProcess s(WithResp());
  const std::string value("\xff\x00\xfe\r\n\x01", 6);
  std::string raw = RawExchange(
      s.resp_port(), Cmd({"SET", "bin", value}) + Cmd({"GET", "bin"}));
  CHECK(raw == "+OK\r\n" + Bulk(value));
  // Keys and members are UTF-8, as in the REST API.
  raw = RawExchange(s.resp_port(), Cmd({"SET", std::string("\xff", 1), "v"}) +
                                       Cmd({"SADD", "s", "\xc3"}));
  CHECK(raw.find("-ERR a key must be UTF-8") != std::string::npos);
  CHECK(raw.find("-ERR set members and list values must be UTF-8") !=
        std::string::npos);
}

TEST_CASE(
    "pipelined commands are answered in order and read their own "
    "writes") {
  ServerProcess s(WithResp());
  std::string batch;
  for (int i = 0; i < 500; ++i) batch += Cmd({"INCR", "p"});
  batch += Cmd({"GET", "p"});
  batch += Cmd({"SET", "r", "one"}) + Cmd({"GET", "r"}) +
           Cmd({"SET", "r", "two"}) + Cmd({"GET", "r"});
  batch += "PING\r\n";  // an inline command in the same stream
  const std::string raw =
      RawExchange(s.resp_port(), batch, std::chrono::seconds(20));
  std::string want;
  for (int i = 1; i <= 500; ++i) want += ":" + std::to_string(i) + "\r\n";
  want += Bulk("500") + "+OK\r\n" + Bulk("one") + "+OK\r\n" + Bulk("two") +
          "+PONG\r\n";
  CHECK(raw == want);
}

TEST_CASE("a command split across many writes is parsed once complete") {
  ServerProcess s(WithResp());
  RawConn conn(s.resp_port());
  const std::string cmd = Cmd({"SADD", "split", "alpha", "beta"});
  for (char c : cmd) {
    REQUIRE(conn.Send(std::string(1, c)) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  CHECK(ReadLine(conn) == ":2\r\n");
}

TEST_CASE(
    "malformed RESP is answered with an error or a closed connection, "
    "never a crash, and the data stays intact") {
  ServerProcess s(WithResp({"--max-value-bytes", "4096"}));
  Cli cli(s);
  cli({"SET", "keep", "safe"});
  cli({"SADD", "keepset", "m"});
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"huge bulk length", "*2\r\n$3\r\nGET\r\n$99999999999\r\n"},
      {"bulk over max value bytes", "*2\r\n$3\r\nGET\r\n$5000\r\n"},
      {"negative bulk length", "*1\r\n$-5\r\n"},
      {"huge array length", "*999999999999\r\n"},
      {"array over the argument limit", "*70000\r\n"},
      {"not a bulk", "*1\r\n:12\r\n"},
      {"letters for a length", "*x\r\n"},
      {"length without CR", "*1\n$4\nPING\n"},
      {"bulk longer than said", "*1\r\n$2\r\nPING\r\n"},
      {"endless count line", "*" + std::string(200, '9')},
      {"unbalanced quotes", "SET \"a b\r\n"},
      {"endless inline line", std::string(70000, 'a')},
  };
  for (const auto& [name, bytes] : cases) {
    INFO(name);
    const std::string raw = RawExchange(s.resp_port(), bytes);
    CHECK(StartsWith(raw, "-ERR Protocol error"));
  }
  // Truncated frames and binary junk: an error, or nothing and a close.
  std::string junk;
  uint32_t x = 12345;
  for (int i = 0; i < 4096; ++i) {
    x = x * 1103515245u + 12345u;
    junk.push_back(static_cast<char>(x >> 24));
  }
  for (const std::string& bytes :
       {std::string("*3\r\n$3\r\nSET\r\n$1\r\nk"), std::string("*2\r\n$3\r\nG"),
        junk, std::string("\x00\x01\x02\r\n", 5)}) {
    const std::string raw = RawExchange(s.resp_port(), bytes);
    CHECK((raw.empty() || raw[0] == '-'));
  }
  CHECK(cli({"GET", "keep"}) == "\"safe\"");
  CHECK(cli({"SMEMBERS", "keepset"}) == "1) \"m\"");
  CHECK(cli({"GET", "k"}) == "(nil)");  // the truncated SET wrote nothing
}

TEST_CASE("WAIT counts the regions that applied the connection's writes") {
  const uint16_t pa = FreePortPair(), pb = FreePortPair();
  ServerProcess a(
      WithResp({"--region", "wa", "--repl", "127.0.0.1:" + std::to_string(pa),
                "--peer", "wb=127.0.0.1:" + std::to_string(pb),
                "--insecure-replication", "--repl-heartbeat-ms", "100"}));
  ServerProcess b(
      WithResp({"--region", "wb", "--repl", "127.0.0.1:" + std::to_string(pb),
                "--peer", "wa=127.0.0.1:" + std::to_string(pa),
                "--insecure-replication", "--repl-heartbeat-ms", "100"}));
  REQUIRE_FALSE(a.resp_port().empty());
  REQUIRE_FALSE(b.resp_port().empty());
  // One connection: a write, then WAIT for both regions (bounded: 20 s).
  const std::string raw = RawExchange(
      a.resp_port(), Cmd({"INCR", "w"}) + Cmd({"WAIT", "2", "20000"}),
      std::chrono::seconds(25));
  CHECK(raw == ":1\r\n:2\r\n");
  Cli cli_b(b);
  CHECK(cli_b({"GET", "w"}) == "\"1\"");
  Cli cli_a(a);
  CHECK(StartsWith(cli_a({"WAIT", "3", "10"}),
                   "(error) ERR asked for 3 regions but only 2"));
  // A connection that wrote nothing: every region has all of it.
  CHECK(cli_a({"WAIT", "1", "0"}) == "(integer) 2");
  CHECK(cli_a({"INFO", "replication"}).find("peer0:region=wb") !=
        std::string::npos);
}

TEST_CASE("at the connection cap the idle connection longest idle is shed") {
  ServerProcess s(WithResp({"--max-connections", "2"}));
  RawConn first(s.resp_port());
  REQUIRE(first.Send(Cmd({"PING"})) == 0);
  CHECK(ReadLine(first) == "+PONG\r\n");
  RawConn second(s.resp_port());
  REQUIRE(second.Send(Cmd({"PING"})) == 0);
  CHECK(ReadLine(second) == "+PONG\r\n");
  // A third: the first (idle longest) is closed to admit it.
  const std::string raw = RawExchange(s.resp_port(), Cmd({"PING"}));
  CHECK(raw == "+PONG\r\n");
  CHECK(first.ClosedWithin(std::chrono::seconds(5)));
  REQUIRE(second.Send(Cmd({"PING"})) == 0);
  CHECK(ReadLine(second) == "+PONG\r\n");
}

TEST_CASE("SIGTERM with Redis clients connected stops the server cleanly") {
  ServerProcess s(WithResp());
  RawConn idle(s.resp_port());
  REQUIRE(idle.Send(Cmd({"SET", "k", "v"})) == 0);
  CHECK(ReadLine(idle) == "+OK\r\n");
  const int status = s.Stop();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("the Redis-protocol listener's commands show in /metrics") {
  // Before: /metrics had no RESP series, so an operator could not see the
  // listener's load, errors or refusals.
  ServerProcess s(WithResp());
  Cli cli(s);
  auto rest = Rest(s);
  for (int i = 0; i < 3; ++i) cli({"INCR", "m"});
  cli({"SADD", "m", "x"});  // WRONGTYPE: an error reply
  cli({"NOSUCHCOMMAND"});
  RawExchange(s.resp_port(), "*2\r\n$-7\r\n");  // malformed: closed
  auto r = rest->Request("GET", "/metrics");
  REQUIRE(r.ok());
  const std::string& m = r->body;
  INFO(m);
  CHECK(m.find("deltakv_resp_commands_total{command=\"incr\",result=\"ok\"} "
               "3\n") != std::string::npos);
  CHECK(m.find("deltakv_resp_commands_total{command=\"sadd\",result="
               "\"error\"} 1\n") != std::string::npos);
  CHECK(m.find("deltakv_resp_commands_total{command=\"unknown\",result="
               "\"error\"} 1\n") != std::string::npos);
  CHECK(m.find("deltakv_resp_command_duration_seconds_count ") !=
        std::string::npos);
  CHECK(m.find("deltakv_resp_refused_total{reason=\"protocol_error\"} 1\n") !=
        std::string::npos);
  CHECK(m.find("deltakv_resp_open_connections ") != std::string::npos);
  // Without --resp there are no such series.
  ServerProcess plain;
  auto r2 = Rest(plain)->Request("GET", "/metrics");
  REQUIRE(r2.ok());
  CHECK(r2->body.find("deltakv_resp_") == std::string::npos);
}
