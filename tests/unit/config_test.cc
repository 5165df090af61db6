// deltakv-server options: TOML file < DELTAKV_* environment < flags, and
// clear usage errors (exit code 2) naming the option.
#include <stdlib.h>
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/config.h"

using deltakv::gateway::ParseServerConfig;
using deltakv::gateway::ServerConfig;

namespace {

std::optional<ServerConfig> Parse(std::vector<std::string> args, int* code) {
  args.insert(args.begin(), "deltakv-server");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return ParseServerConfig(static_cast<int>(args.size()), argv.data(), code);
}

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& text) {
    char tmpl[] = "/tmp/deltakv-config-XXXXXX";
    int fd = mkstemp(tmpl);
    REQUIRE(fd >= 0);
    close(fd);
    path = tmpl;
    std::ofstream(path) << text;
  }
  ~TempFile() { std::filesystem::remove(path); }
};

}  // namespace

TEST_CASE("defaults hold without file, environment or flags") {
  int code = -1;
  auto c = Parse({}, &code);
  REQUIRE(c);
  CHECK(c->region == "local");
  CHECK(c->http_host == "127.0.0.1");
  CHECK(c->http_port == 8080);
  CHECK(c->durability == "sync");
  CHECK(c->max_body_bytes == 1u << 20);
}

TEST_CASE("flags win over the environment, which wins over the file") {
  TempFile file(
      "region = \"from-file\"\n"
      "data-dir = \"/file/data\"\n"
      "durability = \"periodic\"\n"
      "peer = [\"eu-west=eu.example.net:7100\", \"ap-south=10.0.0.7:7100\"]\n"
      "repl = \"0.0.0.0:7100\"\n"
      "insecure-replication = true\n");
  setenv("DELTAKV_REGION", "from-env", 1);
  setenv("DELTAKV_DATA_DIR", "/env/data", 1);
  int code = -1;
  auto c = Parse({"--config", file.path, "--region", "from-flag"}, &code);
  unsetenv("DELTAKV_REGION");
  unsetenv("DELTAKV_DATA_DIR");
  REQUIRE(c);
  CHECK(c->region == "from-flag");     // flag
  CHECK(c->data_dir == "/env/data");   // environment over file
  CHECK(c->durability == "periodic");  // file over default
  REQUIRE(c->peer_list.size() == 2);
  CHECK(c->peer_list[0].region == "eu-west");
  CHECK(c->peer_list[1].host == "10.0.0.7");
  CHECK(c->repl_port == 7100);
}

TEST_CASE("DELTAKV_PEERS takes a comma-separated list") {
  setenv("DELTAKV_PEERS", "b=127.0.0.1:7200,c=127.0.0.1:7300", 1);
  int code = -1;
  auto c = Parse(
      {"--region", "a", "--repl", "127.0.0.1:7100", "--insecure-replication"},
      &code);
  unsetenv("DELTAKV_PEERS");
  REQUIRE(c);
  REQUIRE(c->peer_list.size() == 2);
  CHECK(c->peer_list[1].port == 7300);
}

TEST_CASE("invalid options exit 2 with a message naming them") {
  const std::vector<std::vector<std::string>> bad = {
      {"--durability", "sometimes"},
      {"--http", "nonsense"},
      {"--region", "Not Valid"},
      {"--no-such-option"},
      {"--max-body-bytes", "12"},
      {"--peer", "x=host"},
      {"--peer", "b=127.0.0.1:7200"},  // peers need --repl
      {"--repl", "0.0.0.0:7100"},      // curve keys or insecure
      {"--region", "a", "--repl", "127.0.0.1:7100", "--insecure-replication",
       "--peer", "a=127.0.0.1:7200"},  // itself
  };
  for (const auto& args : bad) {
    int code = -1;
    INFO(args[0]);
    CHECK_FALSE(Parse(args, &code));
    CHECK(code == 2);
  }
  TempFile file("no-such-key = 1\n");
  int code = -1;
  CHECK_FALSE(Parse({"--config", file.path}, &code));
  CHECK(code == 2);
}

TEST_CASE("region cluster options are checked") {
  const std::vector<std::vector<std::string>> bad = {
      {"--replicas", "3", "--write-quorum", "4"},  // W > N
      {"--replicas", "3", "--read-quorum", "4"},   // R > N
      {"--replicas", "0"},
      {"--vnodes", "0"},
      {"--vnodes", "5000"},
      {"--node-id", "has space"},
      {"--node-id", "a/b"},
      {"--zone", "z 1"},
      {"--internal", "nonsense"},
      {"--etcd", "127.0.0.1:2379"},  // no scheme
      {"--etcd", "https://127.0.0.1:2379"},
      {"--etcd", ","},
      {"--etcd-lease-ttl", "1"},
      // A cluster node needs its node-to-node address and the region's keys
      // (or plaintext said out loud), and is not yet a geo-replicated one.
      {"--etcd", "http://127.0.0.1:2379", "--insecure-replication"},
      {"--etcd", "http://127.0.0.1:2379", "--internal", "127.0.0.1:7201"},
      {"--etcd", "http://127.0.0.1:2379", "--internal", "127.0.0.1:7201",
       "--insecure-replication", "--repl", "127.0.0.1:7000"},
      {"--node-timeout-ms", "10"},
  };
  for (const auto& args : bad) {
    int code = -1;
    INFO(args[0] << " " << args[1]);
    CHECK_FALSE(Parse(args, &code));
    CHECK(code == 2);
  }
  int code = -1;
  auto c = Parse({"--etcd", "http://127.0.0.1:2379,http://10.0.0.2:2379",
                  "--node-id", "n1", "--replicas", "5", "--zone", "z1",
                  "--internal", "127.0.0.1:7201", "--insecure-replication"},
                 &code);
  REQUIRE(c);
  CHECK(c->etcd_endpoints.size() == 2);
  CHECK(c->write_quorum == 3);  // a majority of N
  CHECK(c->read_quorum == 3);
  CHECK(c->vnodes == 512);
  setenv("DELTAKV_WRITE_QUORUM", "1", 1);
  auto env = Parse({"--replicas", "3"}, &code);
  unsetenv("DELTAKV_WRITE_QUORUM");
  REQUIRE(env);
  CHECK(env->write_quorum == 1);
  CHECK(env->read_quorum == 2);
  CHECK(!env->node_id.empty());  // the host name, or "node"
}

TEST_CASE("--help succeeds and lists the options with defaults") {
  int code = -1;
  std::stringstream captured;
  auto* old = std::cout.rdbuf(captured.rdbuf());
  auto c = Parse({"--help"}, &code);
  std::cout.rdbuf(old);
  CHECK_FALSE(c);
  CHECK(code == 0);
  const std::string help = captured.str();
  for (const char* opt :
       {"--region", "--data-dir", "--http", "--repl", "--peer", "--durability",
        "--token-file", "--curve-secret-key-file", "--max-body-bytes"}) {
    INFO(opt);
    CHECK(help.find(opt) != std::string::npos);
  }
  CHECK(help.find("127.0.0.1:8080") != std::string::npos);  // a default
}

TEST_CASE("per-key caps, the answer bound and the read threads are options") {
  int code = -1;
  auto d = Parse({}, &code);
  REQUIRE(d);
  CHECK(d->max_set_members == 1000000);
  CHECK(d->max_list_length == 1000000);
  CHECK(d->max_key_bytes == 64ull << 20);
  CHECK(d->max_response_bytes == 16ull << 20);
  CHECK(d->read_threads == 4);
  CHECK(d->max_queued_reads == 1024);
  setenv("DELTAKV_MAX_SET_MEMBERS", "77", 1);
  auto c = Parse({"--max-list-length", "5", "--max-key-bytes", "4096",
                  "--max-response-bytes", "1048576", "--read-threads", "2",
                  "--max-queued-reads", "9"},
                 &code);
  unsetenv("DELTAKV_MAX_SET_MEMBERS");
  REQUIRE(c);
  CHECK(c->max_set_members == 77);
  CHECK(c->max_list_length == 5);
  CHECK(c->max_key_bytes == 4096);
  CHECK(c->max_response_bytes == 1048576);
  CHECK(c->read_threads == 2);
  CHECK(c->max_queued_reads == 9);
  // Out of range, or an answer bound that cannot hold one value.
  for (const std::vector<std::string>& bad :
       std::vector<std::vector<std::string>>{
           {"--max-set-members", "0"},
           {"--max-list-length", "-1"},
           {"--max-key-bytes", "10"},
           {"--read-threads", "0"},
           {"--max-queued-reads", "0"},
           {"--max-response-bytes", "100"},
           {"--max-response-bytes", "100000"}}) {  // < 64 KiB + 64 KiB
    INFO(bad[0] << " " << bad[1]);
    code = -1;
    CHECK_FALSE(Parse(bad, &code));
    CHECK(code == 2);
  }
}
