// Black-box tests of HTTPS: a real deltakv-server with --tls-cert-file and
// --tls-key-file (and --tls-client-ca-file for mutual TLS), certificates
// made at test time (tests/tls_certs.h), talked to by the typed remote
// client, HttpClient, raw sockets and the CLI.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "client/http_client.h"
#include "deltakv/db.h"
#include "tests/server_harness.h"
#include "tests/tls_certs.h"

using deltakv::Code;
using deltakv::HttpClient;
using deltakv::TlsOptions;
using deltakv::testing::KeyPair;
using deltakv::testing::RawExchange;
using deltakv::testing::ServerProcess;
using deltakv::testing::StatusOf;
using deltakv::testing::TestPki;

namespace {

std::vector<std::string> TlsFlags(const KeyPair& server,
                                  const std::string& client_ca = {}) {
  std::vector<std::string> flags = {"--tls-cert-file", server.cert,
                                    "--tls-key-file", server.key};
  if (!client_ca.empty()) {
    flags.push_back("--tls-client-ca-file");
    flags.push_back(client_ca);
  }
  return flags;
}

std::string HttpsUrl(const ServerProcess& s,
                     const std::string& host = "127.0.0.1") {
  REQUIRE_FALSE(s.port().empty());
  return "https://" + host + ":" + s.port();
}

TlsOptions Trust(const std::string& ca, const KeyPair* client = nullptr) {
  TlsOptions o;
  o.ca_file = ca;
  if (client != nullptr) {
    o.cert_file = client->cert;
    o.key_file = client->key;
  }
  return o;
}

std::unique_ptr<HttpClient> Client(
    const std::string& url, const TlsOptions& tls,
    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto c = HttpClient::Create(url, "", timeout, tls);
  REQUIRE(c.ok());
  return std::move(c).value();
}

// Runs the CLI with `args` (after `env`, e.g. "DELTAKV_CA_FILE=x"); returns
// its exit status and fills *out with stdout and stderr.
int Cli(const std::string& env, const std::string& args, std::string* out) {
  std::string cmd = "env " + env + " timeout 60 " +
                    std::string(DELTAKV_CLI_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  out->clear();
  char buf[512];
  while (fgets(buf, sizeof buf, p)) *out += buf;
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("the remote client writes and reads over HTTPS, by IP and by name") {
  TestPki pki;
  ServerProcess server(TlsFlags(pki.server()));
  deltakv::ConnectOptions options;
  options.tls = Trust(pki.ca());
  auto db_or = deltakv::Db::Connect(HttpsUrl(server), options);
  REQUIRE(db_or.ok());
  deltakv::Db& db = **db_or;
  auto n = db.Counter("visits").Increment(3);
  REQUIRE(n.ok());
  CHECK(*n == 3);
  REQUIRE(db.Register("cfg").Set(R"({"tls":true})").ok());
  auto v = db.Register("cfg").Get();
  REQUIRE(v.ok());
  CHECK(v->value == R"({"tls":true})");
  // The certificate also names localhost.
  auto by_name = deltakv::Db::Connect(HttpsUrl(server, "localhost"),
                                      {.tls = {.ca_file = pki.ca()}});
  REQUIRE(by_name.ok());
  auto seen = (*by_name)->Counter("visits").Value();
  REQUIRE(seen.ok());
  CHECK(*seen == 3);
  // Many calls over one client: the kept-alive TLS connection serves them.
  for (int i = 0; i < 50; ++i) REQUIRE(db.Counter("visits").Increment().ok());
  CHECK(*db.Counter("visits").Value() == 53);
}

TEST_CASE(
    "the CLI writes and reads over HTTPS with --ca-file or DELTAKV_CA_FILE") {
  TestPki pki;
  ServerProcess server(TlsFlags(pki.server()));
  const std::string url = "--url " + HttpsUrl(server);
  std::string out;
  CHECK(Cli("", url + " --ca-file " + pki.ca() + " counter incr hits 2",
            &out) == 0);
  CHECK(out == "2\n");
  CHECK(Cli("DELTAKV_CA_FILE=" + pki.ca() + " DELTAKV_URL=" + HttpsUrl(server),
            "counter get hits", &out) == 0);
  CHECK(out == "2\n");
  CHECK(Cli("", url + " --ca-file " + pki.ca() + " register set r '\"s\"'",
            &out) == 0);
  CHECK(Cli("", url + " --ca-file " + pki.ca() + " register get r", &out) == 0);
  CHECK(out == "\"s\"\n");
  // Without the CA the system's store does not know this certificate.
  CHECK(Cli("", url + " counter get hits", &out) == 1);
  CHECK(Contains(out, "does not verify"));
}

TEST_CASE(
    "a server certificate not signed by the given CA is refused, saying so") {
  TestPki pki;
  ServerProcess impostor(TlsFlags(pki.rogue_server()));
  auto c = Client(HttpsUrl(impostor), Trust(pki.ca()));
  auto r = c->Request("GET", "/healthz");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kUnauthorized);
  CHECK(Contains(r.status().message(), "does not verify"));
  CHECK_FALSE(Contains(r.status().message(), "reset"));
  // A write is never sent to the impostor.
  deltakv::ConnectOptions options;
  options.tls = Trust(pki.ca());
  auto db = deltakv::Db::Connect(HttpsUrl(impostor), options);
  REQUIRE(db.ok());
  CHECK((*db)->Counter("c").Increment().status().code() == Code::kUnauthorized);
  auto trusting = Client(HttpsUrl(impostor), Trust(pki.rogue_ca()));
  auto check = trusting->Request("GET", "/v1/counter/c");
  REQUIRE(check.ok());
  CHECK(check->status == 404);
  // The CLI says so too (exit 1).
  std::string out;
  CHECK(Cli("",
            "--url " + HttpsUrl(impostor) + " --ca-file " + pki.ca() +
                " counter incr c",
            &out) == 1);
  CHECK(Contains(out, "does not verify"));
}

TEST_CASE("a server certificate issued for another name is refused") {
  TestPki pki;
  ServerProcess server(TlsFlags(pki.wrong_name_server()));
  auto r =
      Client(HttpsUrl(server), Trust(pki.ca()))->Request("GET", "/healthz");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kUnauthorized);
  CHECK(Contains(r.status().message(), "not issued for 127.0.0.1"));
}

TEST_CASE(
    "plain HTTP to the TLS port fails cleanly and the server keeps serving") {
  TestPki pki;
  ServerProcess server(TlsFlags(pki.server()));
  auto https = Client(HttpsUrl(server), Trust(pki.ca()));
  auto ok = https->Request("GET", "/healthz");
  REQUIRE(ok.ok());
  CHECK(ok->status == 200);
  // Our client with http://: an error (or an error status), never a hang.
  auto plain = HttpClient::Create("http://127.0.0.1:" + server.port(), "",
                                  std::chrono::seconds(10));
  REQUIRE(plain.ok());
  auto r = (*plain)->Request("GET", "/healthz");
  if (r.ok()) {
    CHECK(r->status >= 400);
  } else {
    CHECK(r.status().code() != Code::kTimeout);
  }
  // Raw plain requests: the server closes the connection without a 200.
  std::vector<std::thread> raw;
  std::vector<std::string> answers(8);
  for (size_t i = 0; i < answers.size(); ++i) {
    raw.emplace_back([&, i] {
      answers[i] =
          RawExchange(server.port(),
                      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" +
                          std::string(i * 512, 'x'),
                      std::chrono::seconds(10), /*half_close=*/i % 2 == 0);
    });
  }
  // A client that opens a connection and never starts the handshake.
  std::thread silent(
      [&] { RawExchange(server.port(), "", std::chrono::seconds(2), false); });
  // Meanwhile the kept-alive and new HTTPS connections are served.
  auto again = https->Request("GET", "/readyz");
  REQUIRE(again.ok());
  CHECK(again->status == 200);
  for (auto& t : raw) t.join();
  silent.join();
  for (const auto& a : answers) CHECK(StatusOf(a) != 200);
  auto fresh = Client(HttpsUrl(server), Trust(pki.ca()));
  auto w = fresh->Request("POST", "/v1/counter/after/incr", R"({"by":1})");
  REQUIRE(w.ok());
  CHECK(w->status == 200);
}

TEST_CASE(
    "mutual TLS: no client certificate or a foreign one is refused, one the CA "
    "signed is served") {
  TestPki pki;
  ServerProcess server(TlsFlags(pki.server(), pki.ca()));
  const std::string url = HttpsUrl(server);
  SECTION("without a client certificate") {
    auto r = Client(url, Trust(pki.ca()))->Request("GET", "/v1/status");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kUnauthorized);
    CHECK(Contains(r.status().message(), "certificate"));
  }
  SECTION("with a certificate another CA signed") {
    auto r = Client(url, Trust(pki.ca(), &pki.rogue_client()))
                 ->Request("POST", "/v1/counter/m/incr", R"({"by":1})");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kUnauthorized);
  }
  SECTION("with a certificate the CA signed") {
    auto c = Client(url, Trust(pki.ca(), &pki.client()));
    auto w = c->Request("POST", "/v1/counter/m/incr", R"({"by":4})");
    REQUIRE(w.ok());
    CHECK(w->status == 200);
    auto r = c->Request("GET", "/v1/counter/m");
    REQUIRE(r.ok());
    CHECK(Contains(r->body, R"("value":4)"));
    std::string out;
    CHECK(Cli("",
              "--url " + url + " --ca-file " + pki.ca() + " --cert-file " +
                  pki.client().cert + " --key-file " + pki.client().key +
                  " counter get m",
              &out) == 0);
    CHECK(out == "4\n");
    CHECK(Cli("", "--url " + url + " --ca-file " + pki.ca() + " counter get m",
              &out) == 1);
    CHECK(Contains(out, "certificate"));
  }
}

TEST_CASE(
    "a kept-alive HTTPS connection the server closed is not reused, and a POST "
    "is sent once") {
  TestPki pki;
  ServerProcess server([&] {
    auto f = TlsFlags(pki.server());
    f.push_back("--idle-timeout-ms");
    f.push_back("200");
    return f;
  }());
  auto c = Client(HttpsUrl(server), Trust(pki.ca()));
  for (int round = 0; round < 3; ++round) {
    auto w = c->Request("POST", "/v1/counter/once/incr", R"({"by":1})");
    REQUIRE(w.ok());
    CHECK(w->status == 200);
    // The server closes the idle connection meanwhile.
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
  }
  auto r = c->Request("GET", "/v1/counter/once");
  REQUIRE(r.ok());
  CHECK(Contains(r->body, R"("value":3)"));
}

TEST_CASE("SIGTERM with kept-alive HTTPS and HTTP connections open exits 0") {
  // Regression: the server freed its connections after the registry they
  // leave (double free at exit) when a kept-alive connection was idle.
  TestPki pki;
  ServerProcess tls_server(TlsFlags(pki.server()));
  ServerProcess plain_server;
  REQUIRE_FALSE(plain_server.url().empty());
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < 16; ++i) {
    clients.push_back(i % 2 ? Client(plain_server.url(), TlsOptions{})
                            : Client(HttpsUrl(tls_server), Trust(pki.ca())));
    auto r = clients.back()->Request("GET", "/healthz");
    REQUIRE(r.ok());
    CHECK(r->status == 200);
  }
  // The connections stay open, idle, in the clients' pools.
  for (ServerProcess* s : {&tls_server, &plain_server}) {
    const int status = s->Stop();
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}

TEST_CASE(
    "an https URL to a plain HTTP server fails saying it does not speak "
    "HTTPS") {
  ServerProcess server;
  REQUIRE_FALSE(server.port().empty());
  auto c = Client("https://127.0.0.1:" + server.port(), TlsOptions{});
  auto r = c->Request("GET", "/healthz");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kUnavailable);
  CHECK(Contains(r.status().message(), "HTTPS"));
}

TEST_CASE(
    "TLS files and URLs that cannot work are refused before anything is sent") {
  TestPki pki;
  const auto create = [](const std::string& url, const TlsOptions& tls) {
    return HttpClient::Create(url, "", std::chrono::seconds(1), tls).status();
  };
  TlsOptions missing;
  missing.ca_file = pki.dir() + "/missing.crt";
  auto s = create("https://127.0.0.1:1", missing);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(Contains(s.message(), "missing.crt"));
  // A key is not a CA certificate.
  s = create("https://127.0.0.1:1", Trust(pki.server().key));
  CHECK(s.code() == Code::kInvalidArgument);
  TlsOptions half = Trust(pki.ca());
  half.cert_file = pki.client().cert;
  CHECK(create("https://127.0.0.1:1", half).code() == Code::kInvalidArgument);
  TlsOptions mismatch = Trust(pki.ca(), &pki.client());
  mismatch.key_file = pki.server().key;
  s = create("https://127.0.0.1:1", mismatch);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(Contains(s.message(), "does not match"));
  // TLS files with a plain URL would silently send everything in clear.
  CHECK(create("http://127.0.0.1:1", Trust(pki.ca())).code() ==
        Code::kInvalidArgument);
  for (const char* url :
       {"https://", "https://:8443", "https://h:99999", "https://h:0",
        "https://h:1/path", "ftp://h:1", "https://[::1", "https://h:x"}) {
    INFO(url);
    CHECK(create(url, TlsOptions{}).code() == Code::kInvalidArgument);
  }
  CHECK(create("https://[::1]:8443", TlsOptions{}).ok());
  CHECK(create("https://localhost", TlsOptions{}).ok());
  // The CLI: a usage error (exit 2) naming the file.
  std::string out;
  CHECK(
      Cli("",
          "--url https://127.0.0.1:1 --ca-file " + missing.ca_file + " status",
          &out) == 2);
  CHECK(Contains(out, "missing.crt"));
}

TEST_CASE("an HTTPS answer with Connection: close ends with close_notify") {
  // Before: the server closed the TCP connection without a TLS
  // close_notify, so a client could not tell the end of the answer from a
  // truncation attack (OpenSSL 3 reports "unexpected eof").
  TestPki pki;
  ServerProcess s(TlsFlags(pki.server()));
  REQUIRE_FALSE(s.port().empty());
  const std::string cmd =
      "printf 'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: "
      "close\\r\\n\\r\\n' | timeout 20 openssl s_client -connect 127.0.0.1:" +
      s.port() + " -CAfile " + pki.ca() + " -ign_eof -state 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  INFO(out);
  CHECK(Contains(out, "HTTP/1.1 200"));
  CHECK(Contains(out, "alert read:warning:close notify"));
}
