// Black-box tests of the HTTP server's connection handling: shedding idle
// connections near the cap, the admin listener, running out of file
// descriptors, HEAD, parked requests whose clients leave, and the metrics
// of all this. A real server on loopback.
#include <sys/resource.h>
#include <sys/types.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "client/http_client.h"
#include "gateway/request_map.h"
#include "tests/raw_conn.h"
#include "tests/server_harness.h"

using deltakv::HttpClient;
using deltakv::testing::RawConn;
using deltakv::testing::RawExchange;
using deltakv::testing::ServerProcess;
using deltakv::testing::StatusOf;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<HttpClient> ClientOf(const std::string& url,
                                     std::string token = {}) {
  REQUIRE_FALSE(url.empty());
  auto c = HttpClient::Create(url, std::move(token), 10s);
  REQUIRE(c.ok());
  return std::move(c).value();
}

// The value of a metric line that starts with `series` ("name{labels}"),
// or -1.
double Metric(HttpClient& admin, const std::string& series) {
  auto m = admin.Request("GET", "/metrics");
  INFO(
      "GET /metrics: " << (m.ok() ? std::string("ok") : m.status().ToString()));
  REQUIRE(m.ok());
  std::istringstream in(m->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

// Polls until the metric reaches at least `want` (bounded).
bool MetricReaches(HttpClient& admin, const std::string& series, double want,
                   std::chrono::milliseconds within = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Metric(admin, series) >= want) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

std::string AheadToken(HttpClient& c) {
  auto w = c.Request("POST", "/v1/counter/k/incr", R"({"by":1})");
  REQUIRE(w.ok());
  REQUIRE(w->status == 200);
  const std::string token = json::parse(w->body)["token"].get<std::string>();
  return token.substr(0, token.rfind(':')) + ":999999";
}

std::string Get(const std::string& target) {
  return "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
}

}  // namespace

TEST_CASE("idle connections near the cap are shed so new clients get in") {
  // Before: at --max-connections every new connection was closed at once,
  // so a client holding idle connections locked everyone else out, the
  // liveness probe included.
  ServerProcess s({"--max-connections", "40", "--admin-http", "127.0.0.1:0"});
  REQUIRE_FALSE(s.url().empty());
  REQUIRE_FALSE(s.admin_url().empty());
  auto admin = ClientOf(s.admin_url());
  auto api = ClientOf(s.url());
  const std::string ahead = AheadToken(*api);
  api.reset();  // its connection is not part of the count below

  // One request in flight (parked on a token): never shed.
  RawConn busy(s.port());
  REQUIRE(busy.Send(Get("/v1/counter/k?timeout_ms=8000&after=" + ahead)) == 0);
  REQUIRE(MetricReaches(*admin, "deltakv_http_parked_requests", 1));
  // Connections that send nothing, up to the cap.
  std::vector<std::unique_ptr<RawConn>> silent;
  for (int i = 0; i < 38; ++i) {
    silent.push_back(std::make_unique<RawConn>(s.port()));
  }
  // One that was served and is now keep-alive idle: shed first.
  RawConn kept(s.port());
  REQUIRE(kept.Send(Get("/healthz")) == 0);
  REQUIRE(kept.Read(5s, "\"ok\"}").find("200 OK") != std::string::npos);
  REQUIRE(MetricReaches(*admin,
                        "deltakv_http_open_connections{listener=\"api\"}", 40));

  // At the cap: the next connection is admitted, the keep-alive idle one
  // closed.
  RawConn next(s.port());
  CHECK(kept.ClosedWithin(5s));
  // Then the connection that has sent nothing for longest.
  RawConn after(s.port());
  CHECK(silent.front()->ClosedWithin(5s));
  CHECK_FALSE(silent.back()->ClosedWithin(200ms));
  REQUIRE(next.Send(Get("/healthz")) == 0);
  CHECK(next.Read(5s, "\"ok\"}").find("200 OK") != std::string::npos);

  // A flood well beyond the cap: new clients still get answers.
  std::vector<std::unique_ptr<RawConn>> flood;
  for (int i = 0; i < 200; ++i) {
    flood.push_back(std::make_unique<RawConn>(s.port()));
  }
  RawConn late(s.port());
  REQUIRE(late.Send(Get("/v1/counter/k")) == 0);
  CHECK(late.Read(5s, "}").find("200 OK") != std::string::npos);
  // The probes answer on the admin listener throughout.
  auto ready = admin->Request("GET", "/readyz");
  REQUIRE(ready.ok());
  CHECK(ready->status == 200);
  CHECK(Metric(*admin, "deltakv_http_refused_total{reason=\"idle_shed\"}") >=
        200);
  // The parked request was never shed: it gets its 504 at its deadline.
  CHECK(busy.Read(15s, "}").find("504 Gateway Timeout") != std::string::npos);
}

TEST_CASE("the admin listener serves only health, readiness and metrics") {
  ServerProcess s({"--admin-http", "127.0.0.1:0", "--tokens",
                   "admin-test-token-0123456789"});
  REQUIRE_FALSE(s.admin_url().empty());
  auto admin = ClientOf(s.admin_url());
  for (const char* path : {"/healthz", "/readyz", "/metrics"}) {
    INFO(path);
    auto r = admin->Request("GET", path);
    REQUIRE(r.ok());
    CHECK(r->status == 200);
  }
  for (const char* path : {"/v1/status", "/v1/counter/k", "/v1/keys"}) {
    INFO(path);
    auto r = admin->Request("GET", path);
    REQUIRE(r.ok());
    CHECK(r->status == 404);
  }
}

TEST_CASE("out of file descriptors, the server sheds and backs off") {
  // Before: accept failing with EMFILE was retried at once, forever: a
  // core spun at 100% and no connection was ever admitted again.
  ServerProcess s({"--admin-http", "127.0.0.1:0"});
  REQUIRE_FALSE(s.url().empty());
  // The server raised its soft limit to the hard one at start.
  {
    rlimit own{};
    REQUIRE(prlimit(s.pid(), RLIMIT_NOFILE, nullptr, &own) == 0);
    CHECK(own.rlim_cur == own.rlim_max);
  }
  rlimit low{};
  low.rlim_cur = low.rlim_max = 300;
  REQUIRE(prlimit(s.pid(), RLIMIT_NOFILE, &low, nullptr) == 0);
  std::vector<std::unique_ptr<RawConn>> flood;
  for (int i = 0; i < 400; ++i) {
    flood.push_back(std::make_unique<RawConn>(s.port()));
  }
  auto cpu_seconds = [&] {
    std::ifstream f("/proc/" + std::to_string(s.pid()) + "/stat");
    std::string text((std::istreambuf_iterator<char>(f)), {});
    std::istringstream in(text.substr(text.rfind(')') + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
      if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
    }
    return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
  };
  const double before = cpu_seconds();
  std::this_thread::sleep_for(2s);
  const double used = cpu_seconds() - before;
  INFO("server CPU while out of descriptors: " << used << " s in 2 s");
  CHECK(used < 1.0);  // a spinning accept loop burns the whole 2 s
  // A new client is admitted (an idle connection was shed for it).
  RawConn fresh(s.port());
  REQUIRE(fresh.Send(Get("/healthz")) == 0);
  CHECK(fresh.Read(5s, "\"ok\"}").find("200 OK") != std::string::npos);
  flood.clear();
  // Once the flood is gone the server serves again within a bounded time
  // (it may still be closing what it shed, or be in an accept backoff).
  auto admin = ClientOf(s.admin_url());
  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    auto m = admin->Request("GET", "/metrics");
    back = m.ok() && m->status == 200;
    if (!back) {
      UNSCOPED_INFO("attempt " << i << ": "
                               << (m.ok() ? std::to_string(m->status)
                                          : m.status().ToString()));
      std::this_thread::sleep_for(100ms);
    }
  }
  REQUIRE(back);
  CHECK(Metric(*admin, "deltakv_http_refused_total{reason=\"accept_error\"}") >
        0);
}

TEST_CASE("HEAD is answered for every GET route") {
  // Before: HEAD was 405 everywhere.
  ServerProcess s;
  REQUIRE_FALSE(s.url().empty());
  auto c = ClientOf(s.url());
  REQUIRE(c->Request("POST", "/v1/counter/c/incr", R"({"by":2})")->status ==
          200);
  REQUIRE(c->Request("PUT", "/v1/register/r", R"({"value":"v"})")->status ==
          200);
  REQUIRE(c->Request("POST", "/v1/set/s/add", R"({"members":["a"]})")->status ==
          200);
  REQUIRE(
      c->Request("POST", "/v1/list/l/push", R"({"values":["x"]})")->status ==
      200);
  int routes = 0;
  for (const auto& spec : deltakv::gateway::RouteTable()) {
    if (std::string(spec.method) != "GET") continue;
    std::string target = spec.path;
    const size_t at = target.find("{key}");
    if (at != std::string::npos) {
      const std::string p = target;
      const char* key = p.rfind("/v1/counter", 0) == 0    ? "c"
                        : p.rfind("/v1/register", 0) == 0 ? "r"
                        : p.rfind("/v1/set", 0) == 0      ? "s"
                        : p.rfind("/v1/list", 0) == 0     ? "l"
                                                          : "c";
      target.replace(at, 5, key);
    }
    if (target.find("/contains") != std::string::npos) target += "?member=a";
    INFO("HEAD " << target);
    ++routes;
    auto get = c->Request("GET", target);
    REQUIRE(get.ok());
    const std::string raw = RawExchange(
        s.port(),
        "HEAD " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(StatusOf(raw) == get->status);
    const size_t end = raw.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    CHECK(raw.size() == end + 4);  // no body
    // The length a GET answers (metrics and status change between calls).
    if (target != "/metrics" && target != "/v1/status") {
      CHECK(raw.find("Content-Length: " + std::to_string(get->body.size()) +
                     "\r\n") != std::string::npos);
    }
  }
  CHECK(routes >= 10);
  // HEAD on a route that has no GET is still 405.
  CHECK(StatusOf(RawExchange(s.port(),
                             "HEAD /v1/counter/c/incr HTTP/1.1\r\nHost: x\r\n"
                             "Connection: close\r\n\r\n")) == 405);
}

TEST_CASE("a HEAD refused before routing is answered without a body") {
  // Before: the refusals the HTTP layer makes itself (a URL too long, a
  // path the admin listener does not serve, a missing token) sent their
  // JSON error body after a HEAD, which the client takes for the start of
  // the next response.
  ServerProcess s(
      {"--admin-http", "127.0.0.1:0", "--tokens", "0123456789abcdef0123"});
  REQUIRE_FALSE(s.url().empty());
  const std::string admin_port =
      s.admin_url().substr(s.admin_url().rfind(':') + 1);
  struct Case {
    std::string port, request;
    int status;
  };
  const std::vector<Case> cases = {
      {s.port(),
       "HEAD /v1/counter/" + std::string(10000, 'k') +
           " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
       414},
      {admin_port,
       "HEAD /v1/counter/c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
       404},
      {s.port(),
       "HEAD /v1/counter/c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
       401},
  };
  for (const Case& c : cases) {
    INFO("expect " << c.status);
    const std::string raw = RawExchange(c.port, c.request);
    CHECK(StatusOf(raw) == c.status);
    const size_t end = raw.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    CHECK(raw.size() == end + 4);  // no body
  }
}

TEST_CASE("a parked request whose client leaves frees its slot at once") {
  // Before: the slot (and the connection) stayed taken until the request's
  // timeout, so clients that gave up kept --max-parked-requests full.
  ServerProcess s(
      {"--max-parked-requests", "1", "--admin-http", "127.0.0.1:0"});
  REQUIRE_FALSE(s.url().empty());
  auto api = ClientOf(s.url());
  auto admin = ClientOf(s.admin_url());
  const std::string ahead = AheadToken(*api);
  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    {
      RawConn conn(s.port());
      REQUIRE(conn.Send(Get("/v1/counter/k?timeout_ms=60000&after=" + ahead)) ==
              0);
      REQUIRE(MetricReaches(*admin, "deltakv_http_parked_requests", 1));
    }  // the client closes its connection
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (Metric(*admin, "deltakv_http_parked_requests") != 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    CHECK(Metric(*admin, "deltakv_http_parked_requests") == 0);
  }
  // The slot is free: a new parked request is taken (504 at its timeout,
  // not 503).
  auto r = api->Request("GET", "/v1/counter/k?timeout_ms=100&after=" + ahead);
  REQUIRE(r.ok());
  CHECK(r->status == 504);
  CHECK(Metric(*admin, "deltakv_http_parked_refused_total") == 0);
}

TEST_CASE("a write parked on wait_regions whose client leaves frees its slot") {
  // The write path of the test above: a write waiting for a peer region
  // that never answers is cancelled when its client disconnects.
  const uint16_t pa = deltakv::testing::FreePortPair();
  const uint16_t pb = deltakv::testing::FreePortPair();  // nobody there
  ServerProcess s(
      {"--region", "wa", "--repl", "127.0.0.1:" + std::to_string(pa), "--peer",
       "wb=127.0.0.1:" + std::to_string(pb), "--insecure-replication",
       "--max-parked-requests", "1", "--admin-http", "127.0.0.1:0"});
  REQUIRE_FALSE(s.url().empty());
  auto api = ClientOf(s.url());
  auto admin = ClientOf(s.admin_url());
  const std::string body = R"({"by":1})";
  const std::string post =
      "POST /v1/counter/w/incr?wait_regions=2&timeout_ms=60000 HTTP/1.1\r\n"
      "Host: x\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  for (int round = 0; round < 2; ++round) {
    INFO("round " << round);
    {
      RawConn conn(s.port());
      REQUIRE(conn.Send(post) == 0);
      REQUIRE(MetricReaches(*admin, "deltakv_http_parked_requests", 1));
    }  // the client closes its connection
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (Metric(*admin, "deltakv_http_parked_requests") != 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    CHECK(Metric(*admin, "deltakv_http_parked_requests") == 0);
  }
  // The slot is free: the next parked write is taken (504 at its timeout,
  // not 503), and every write was applied here.
  auto r = api->Request(
      "POST", "/v1/counter/w/incr?wait_regions=2&timeout_ms=100", body);
  REQUIRE(r.ok());
  CHECK(r->status == 504);
  CHECK(Metric(*admin, "deltakv_http_parked_refused_total") == 0);
  auto v = api->Request("GET", "/v1/counter/w");
  REQUIRE(v.ok());
  CHECK(json::parse(v->body)["value"] == 3);
}

TEST_CASE("a 401 is counted under the route it was for") {
  // Before: requests refused for their token were counted as "unmatched".
  ServerProcess s({"--tokens", "metrics-test-token-0123456789"});
  REQUIRE_FALSE(s.url().empty());
  auto anon = ClientOf(s.url());
  for (int i = 0; i < 2; ++i) {
    REQUIRE(anon->Request("GET", "/v1/counter/k")->status == 401);
  }
  REQUIRE(anon->Request("POST", "/v1/counter/k/incr", R"({"by":1})")->status ==
          401);
  CHECK(Metric(*anon,
               "deltakv_http_requests_total{route=\"counter_get\",status="
               "\"401\"}") == 2);
  CHECK(Metric(*anon,
               "deltakv_http_requests_total{route=\"counter_incr\",status="
               "\"401\"}") == 1);
  CHECK(Metric(*anon, "deltakv_http_refused_total{reason=\"unauthorized\"}") ==
        3);
}

TEST_CASE("an open endpoint never parks on a causal token") {
  // Before: /healthz?after=<unreached token> parked without a token for up
  // to a minute, holding a connection that shedding never frees (and, on
  // the admin listener, one of the probes' 64).
  ServerProcess s({"--tokens", "open-endpoint-token-0123456789", "--admin-http",
                   "127.0.0.1:0"});
  REQUIRE_FALSE(s.url().empty());
  auto api = ClientOf(s.url(), "open-endpoint-token-0123456789");
  const std::string ahead = AheadToken(*api);
  for (const std::string& url : {s.url(), s.admin_url()}) {
    auto anon = ClientOf(url);
    for (const char* path : {"/healthz", "/readyz", "/metrics"}) {
      INFO(url << path);
      auto r = anon->Request(
          "GET", std::string(path) + "?timeout_ms=60000&after=" + ahead);
      REQUIRE(r.ok());
      CHECK(r->status == 400);
    }
  }
  auto admin = ClientOf(s.admin_url());
  CHECK(Metric(*admin, "deltakv_http_parked_requests") == 0);
}
