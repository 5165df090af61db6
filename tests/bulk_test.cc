// Black-box tests of `deltakv export` and `deltakv import` (and the
// POST /v1/batch route they use) against real servers: a round trip of
// every type through a second, fresh server; --prefix; malformed lines
// reported with their line number; --skip-errors.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "client/http_client.h"
#include "tests/server_harness.h"

using deltakv::HttpClient;
using deltakv::testing::ServerProcess;
using nlohmann::json;

namespace {

std::unique_ptr<HttpClient> Client(const ServerProcess& s) {
  REQUIRE_FALSE(s.url().empty());
  auto c = HttpClient::Create(s.url());
  REQUIRE(c.ok());
  return std::move(c).value();
}

json Call(HttpClient& c, const char* method, const std::string& target,
          const json& body = nullptr, int want = 200) {
  auto r = c.Request(method, target, body.is_null() ? "" : body.dump());
  REQUIRE(r.ok());
  INFO(target << " -> " << r->body);
  REQUIRE(r->status == want);
  return json::parse(r->body);
}

// A temporary folder for the files of one test.
struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/deltakv-bulk-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string File(const std::string& name) const { return path + "/" + name; }
  std::string path;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

struct Run {
  int status = -1;
  std::string out, err;
};

// Runs the CLI against `s` with stdin from `in` (empty: /dev/null), bounded
// to two minutes.
Run Cli(const ServerProcess& s, const TempDir& dir, const std::string& args,
        const std::string& in = {}) {
  const std::string out = dir.File("stdout"), err = dir.File("stderr");
  const std::string cmd = "timeout 120 " + std::string(DELTAKV_CLI_BIN) +
                          " --url " + s.url() + " " + args + " <" +
                          (in.empty() ? "/dev/null" : in) + " >" + out + " 2>" +
                          err;
  Run r;
  const int st = std::system(cmd.c_str());
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = ReadAll(out);
  r.err = ReadAll(err);
  return r;
}

size_t Lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

}  // namespace

TEST_CASE("export then import into a fresh server reproduces every key") {
  TempDir dir;
  ServerProcess a;
  auto c = Client(a);
  Call(*c, "POST", "/v1/counter/visits/incr", {{"by", 42}});
  Call(*c, "POST", "/v1/counter/debt/incr", {{"by", -7}});
  // A counter at 0 exists (+1 then -1) and is imported as one that exists.
  Call(*c, "POST", "/v1/counter/zero/incr", {{"by", 1}});
  Call(*c, "POST", "/v1/counter/zero/incr", {{"by", -1}});
  Call(*c, "PUT", "/v1/register/cfg",
       {{"value", {{"theme", "dark"}, {"sizes", {1, 2.5, nullptr}}}}});
  Call(*c, "PUT", "/v1/register/a%2Fb%20%C3%A9", {{"value", "é \"q\" \n"}});
  Call(*c, "PUT", "/v1/register/nothing", {{"value", nullptr}});
  // A set and a list larger than a page of reads and a write's 10,000
  // items, so both are paged on export and split on import.
  for (int round = 0; round < 3; ++round) {
    json members = json::array(), values = json::array();
    for (int i = 0; i < 9000; ++i) {
      members.push_back("m" + std::to_string(round * 9000 + i));
      values.push_back("v" + std::to_string(round * 9000 + i));
    }
    Call(*c, "POST", "/v1/set/big/add", {{"members", members}});
    Call(*c, "POST", "/v1/list/long/push", {{"values", values}});
  }
  Call(*c, "POST", "/v1/set/small/add", {{"members", {"x", "y", "é"}}});
  Call(*c, "POST", "/v1/list/todo/push", {{"values", {"b", "c"}}});
  Call(*c, "POST", "/v1/list/todo/push",
       {{"values", {"a"}}, {"side", "front"}});
  Call(*c, "POST", "/v1/counter/gone/incr");
  Call(*c, "DELETE", "/v1/keys/gone");

  Run e1 = Cli(a, dir, "export");
  INFO(e1.err);
  REQUIRE(e1.status == 0);
  CHECK(e1.err.empty());  // no progress line when stderr is not a terminal
  // A header and one line per live key, in key order.
  CHECK(Lines(e1.out) == 1 + 10);
  CHECK(e1.out.rfind("{\"format\":\"deltakv-keys\",\"version\":1}\n", 0) == 0);
  CHECK(
      e1.out.find("{\"key\":\"visits\",\"type\":\"counter\",\"value\":42}\n") !=
      std::string::npos);
  CHECK(e1.out.find("{\"key\":\"todo\",\"type\":\"list\",\"values\":[\"a\","
                    "\"b\",\"c\"]}\n") != std::string::npos);
  CHECK(e1.out.find("\"gone\"") == std::string::npos);
  WriteAll(dir.File("a.jsonl"), e1.out);

  ServerProcess b;
  Run imp = Cli(b, dir, "import", dir.File("a.jsonl"));
  INFO(imp.err);
  REQUIRE(imp.status == 0);
  CHECK(imp.err.empty());
  Run e2 = Cli(b, dir, "export");
  REQUIRE(e2.status == 0);
  CHECK(e2.out == e1.out);

  auto cb = Client(b);
  CHECK(Call(*cb, "GET", "/v1/counter/debt")["value"] == -7);
  CHECK(Call(*cb, "GET", "/v1/set/big?limit=1")["size"] == 27000);
  json l = Call(*cb, "GET", "/v1/list/long?offset=26999&limit=1");
  CHECK(l["length"] == 27000);
  CHECK(l["values"] == json{"v26999"});

  SECTION("--prefix exports only the keys under it") {
    Run p = Cli(a, dir, "export --prefix to");
    REQUIRE(p.status == 0);
    CHECK(Lines(p.out) == 2);
    CHECK(p.out.find("\"todo\"") != std::string::npos);
    Run none = Cli(a, dir, "export --prefix nothing-here");
    REQUIRE(none.status == 0);
    CHECK(Lines(none.out) == 1);
  }

  SECTION("importing into a region that holds the keys merges") {
    Run again = Cli(b, dir, "import", dir.File("a.jsonl"));
    REQUIRE(again.status == 0);
    CHECK(Call(*cb, "GET", "/v1/counter/visits")["value"] == 84);
    CHECK(Call(*cb, "GET", "/v1/set/small")["size"] == 3);
    CHECK(Call(*cb, "GET", "/v1/list/todo")["length"] == 6);
    CHECK(Call(*cb, "GET", "/v1/register/cfg")["value"]["theme"] == "dark");
  }
}

TEST_CASE("a malformed line stops the import with its line number") {
  TempDir dir;
  ServerProcess s;
  auto c = Client(s);
  Call(*c, "POST", "/v1/counter/taken/incr");
  const std::string good1 = R"({"key":"a","type":"counter","value":1})";
  const std::string good2 = R"({"key":"b","type":"set","members":["x"]})";
  const std::string after = R"({"key":"z","type":"counter","value":1})";
  struct Case {
    std::string line, message;
    bool server = false;  // refused by the server, not by the CLI
  };
  const std::string long_key(1025, 'k');
  const std::vector<Case> cases = {
      {R"({"key":"x","type":"counter","value":)",
       "malformed JSON at column 37"},
      {R"(["key","x"])", "a line must be a JSON object"},
      {R"({"type":"counter","value":1})", "missing field 'key'"},
      {R"({"key":7,"type":"counter","value":1})",
       "field 'key' must be a string"},
      {R"({"key":"","type":"counter","value":1})",
       "key must be 1 to 1024 bytes"},
      {R"({"key":")" + long_key + R"(","type":"counter","value":1})",
       "key must be 1 to 1024 bytes"},
      {R"({"key":"x","type":"map","value":1})", "unknown type \"map\""},
      {R"({"key":"x","value":1})", "missing field 'type'"},
      {R"({"key":"x","type":"counter","value":"5"})",
       "must be an integer in the int64 range"},
      {R"({"key":"x","type":"counter","value":1.5})",
       "must be an integer in the int64 range"},
      {R"({"key":"x","type":"counter","value":9223372036854775808})",
       "must be an integer in the int64 range"},
      {R"({"key":"x","type":"register"})", "missing field 'value'"},
      {R"({"key":"x","type":"set","members":[1]})",
       "field 'members' must be an array of strings"},
      {R"({"key":"x","type":"list","values":"abc"})",
       "field 'values' must be an array of strings"},
      {"{\"key\":\"x\xff\",\"type\":\"counter\",\"value\":1}",
       "not valid UTF-8"},
      {R"({"format":"deltakv-keys","version":2})",
       "unsupported format version 2"},
      // Refused by the server: the key holds another type.
      {R"({"key":"taken","type":"set","members":["x"]})", "wrong_type", true},
      // Refused by the server before any write of its batch.
      {R"({"key":"huge","type":"register","value":")" +
           std::string(70000, 'v') + "\"}",
       "too_large", true},
  };
  int n = 0;
  for (const Case& k : cases) {
    DYNAMIC_SECTION("case " << n++ << ": " << k.message) {
      WriteAll(dir.File("in.jsonl"),
               good1 + "\n\n" + good2 + "\n" + k.line + "\n" + after + "\n");
      Run r = Cli(s, dir, "import", dir.File("in.jsonl"));
      INFO(r.err);
      CHECK(r.status == 1);
      CHECK(r.err.find("line 4: ") != std::string::npos);
      CHECK(r.err.find(k.message) != std::string::npos);
      // The lines before it are applied; the line after it is not read
      // (a line the server refuses is seen once later lines may be in
      // flight already).
      CHECK(Call(*c, "GET", "/v1/counter/a")["value"].get<int64_t>() >= 1);
      CHECK(Call(*c, "GET", "/v1/set/b")["size"] == 1);
      if (!k.server) Call(*c, "GET", "/v1/counter/z", nullptr, 404);
    }
  }
}

TEST_CASE("--skip-errors reports and counts bad lines and imports the rest") {
  TempDir dir;
  ServerProcess s;
  auto c = Client(s);
  Call(*c, "PUT", "/v1/register/taken", {{"value", 1}});
  WriteAll(dir.File("in.jsonl"),
           "{\"key\":\"a\",\"type\":\"counter\",\"value\":3}\n"
           "not json\n"
           "{\"key\":\"taken\",\"type\":\"counter\",\"value\":1}\n"
           "{\"key\":\"big\",\"type\":\"register\",\"value\":\"" +
               std::string(70000, 'v') +
               "\"}\n"
               "{\"key\":\"l\",\"type\":\"list\",\"values\":[\"p\",\"q\"]}\n");
  Run r =
      Cli(s, dir, "import --skip-errors --connections 1", dir.File("in.jsonl"));
  INFO(r.err);
  CHECK(r.status == 1);
  CHECK(r.err.find("line 2: malformed JSON at column 2: ") !=
        std::string::npos);
  CHECK(r.err.find("line 3: wrong_type") != std::string::npos);
  CHECK(r.err.find("line 4: too_large") != std::string::npos);
  CHECK(r.err.find("3 line(s) not imported (skipped)") != std::string::npos);
  CHECK(Call(*c, "GET", "/v1/counter/a")["value"] == 3);
  CHECK(Call(*c, "GET", "/v1/list/l")["values"] == json{"p", "q"});
  Call(*c, "GET", "/v1/register/big", nullptr, 404);
}

TEST_CASE("POST /v1/batch answers each operation and refuses malformed ones") {
  ServerProcess s;
  auto c = Client(s);
  Call(*c, "PUT", "/v1/register/r", {{"value", 1}});
  json ok = Call(*c, "POST", "/v1/batch",
                 {{"ops",
                   {{{"op", "counter_incr"}, {"key", "c"}, {"by", 2}},
                    {{"op", "counter_incr"}, {"key", "c"}, {"by", 3}},
                    {{"op", "set_add"}, {"key", "r"}, {"members", {"x"}}},
                    {{"op", "list_push"}, {"key", "l"}, {"values", {"a", "b"}}},
                    {{"op", "key_delete"}, {"key", "r"}}}}});
  CHECK(ok["applied"] == 4);
  CHECK(ok["failed"] == 1);
  CHECK(ok["results"][1] == json{{"value", 5}});
  CHECK(ok["results"][2]["error"]["code"] == "wrong_type");
  CHECK(ok["results"][3] == json{{"length", 2}});
  CHECK(ok["results"][4] == json{{"deleted", true}});
  CHECK(ok["token"].is_string());

  json bad = Call(*c, "POST", "/v1/batch",
                  {{"ops",
                    {{{"op", "counter_incr"}, {"key", "c"}},
                     {{"op", "counter_get"}, {"key", "c"}}}}},
                  400);
  CHECK(bad["error"]["message"].get<std::string>().rfind("ops[1]: ", 0) == 0);
  // Nothing of a refused batch is applied.
  CHECK(Call(*c, "GET", "/v1/counter/c")["value"] == 5);
  Call(*c, "POST", "/v1/batch", {{"ops", json::array()}}, 400);
  Call(*c, "POST", "/v1/batch", {{"ops", {{{"op", "counter_incr"}}}}}, 400);
  json many = json::array();
  for (int i = 0; i < 1001; ++i) {
    many.push_back({{"op", "counter_incr"}, {"key", "c"}});
  }
  Call(*c, "POST", "/v1/batch", {{"ops", many}}, 413);
  Call(*c, "POST", "/v1/batch?wait_regions=2",
       {{"ops", {{{"op", "counter_incr"}, {"key", "c"}}}}}, 400);
}

TEST_CASE(
    "a route added to the table keeps unmatched requests apart in /metrics") {
  // The per-route request counters had one row too few once the batch
  // route came: /metrics and unmatched requests shared the last row.
  ServerProcess s;
  auto c = Client(s);
  Call(*c, "POST", "/v1/batch",
       {{"ops", {{{"op", "counter_incr"}, {"key", "c"}}}}});
  Call(*c, "GET", "/v1/nope", nullptr, 404);
  auto m = c->Request("GET", "/metrics");
  REQUIRE(m.ok());
  INFO(m->body);
  auto has = [&](const std::string& series) {
    return m->body.find("deltakv_http_requests_total{" + series + "} 1\n") !=
           std::string::npos;
  };
  CHECK(has("route=\"batch\",status=\"200\""));
  CHECK(has("route=\"unmatched\",status=\"404\""));
  CHECK_FALSE(has("route=\"metrics\",status=\"404\""));
}

TEST_CASE("on a terminal, import and export show a progress line") {
  if (std::system("command -v script >/dev/null 2>&1") != 0) {
    WARN("script(1) is not installed: no terminal to test with");
    return;
  }
  TempDir dir;
  ServerProcess s;
  WriteAll(dir.File("in.jsonl"),
           "{\"key\":\"a\",\"type\":\"counter\",\"value\":1}\n"
           "{\"key\":\"b\",\"type\":\"register\",\"value\":2}\n"
           "{\"key\":\"c\",\"type\":\"set\",\"members\":[\"x\"]}\n");
  // script(1) runs the CLI on a pseudo-terminal and copies what it shows.
  auto on_tty = [&](const std::string& args, const std::string& in) {
    const std::string inner = std::string(DELTAKV_CLI_BIN) + " --url " +
                              s.url() + " " + args + " <" + in + " >/dev/null";
    const std::string cmd = "timeout 120 script -qec '" + inner +
                            "' /dev/null >" + dir.File("tty") + " 2>&1";
    const int st = std::system(cmd.c_str());
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    return ReadAll(dir.File("tty"));
  };
  const std::string imp = on_tty("import", dir.File("in.jsonl"));
  INFO(imp);
  CHECK(imp.find("imported 3 keys") != std::string::npos);
  CHECK(imp.find("100%") != std::string::npos);
  const std::string exp = on_tty("export", "/dev/null");
  INFO(exp);
  CHECK(exp.find("exported 3 keys") != std::string::npos);
  const std::string quiet = on_tty("import --quiet", dir.File("in.jsonl"));
  CHECK(quiet.find("imported") == std::string::npos);
}
