// Cluster: N regions of a test, each a real deltakv-server process on
// loopback with its own data folder and replication ports, fully meshed;
// plus small HTTP helpers. Shared by the multi-process replication tests.
#ifndef DELTAKV_TESTS_REGION_CLUSTER_H_
#define DELTAKV_TESTS_REGION_CLUSTER_H_

#include <catch2/catch.hpp>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "client/http_client.h"
#include "tests/server_harness.h"
#include "tests/whole_key.h"

namespace deltakv::testing {

using nlohmann::json;

struct RegionSpec {
  std::string name;
  uint16_t repl = 0;
};

// N regions of a test cluster, each a server process, fully meshed.
class Cluster {
 public:
  explicit Cluster(std::vector<std::string> names,
                   std::vector<std::string> extra = {}, bool curve = false)
      : extra_(std::move(extra)), curve_(curve) {
    char tmpl[] = "/tmp/deltakv-cluster-XXXXXX";
    dir_ = mkdtemp(tmpl);
    for (auto& n : names) {
      RegionSpec r{n, FreePortPair()};
      REQUIRE(r.repl != 0);
      specs_.push_back(r);
    }
    if (curve_) {
      std::filesystem::create_directories(dir_ + "/peers");
      for (auto& r : specs_) {
        std::string cmd = std::string(DELTAKV_CLI_BIN) + " keygen " + r.name +
                          " --out-dir " + dir_ + "/keys >/dev/null";
        REQUIRE(std::system(cmd.c_str()) == 0);
        std::filesystem::copy_file(dir_ + "/keys/" + r.name + ".key",
                                   dir_ + "/peers/" + r.name + ".key");
      }
    }
    servers_.resize(specs_.size());
    for (size_t i = 0; i < specs_.size(); ++i) Start(i);
  }
  ~Cluster() {
    servers_.clear();
    std::filesystem::remove_all(dir_);
  }

  std::vector<std::string> Args(size_t i) const {
    const RegionSpec& r = specs_[i];
    std::vector<std::string> args = {"--region",
                                     r.name,
                                     "--repl",
                                     "127.0.0.1:" + std::to_string(r.repl),
                                     "--repl-heartbeat-ms",
                                     "200"};
    for (const RegionSpec& p : specs_) {
      if (p.name == r.name) continue;
      args.push_back("--peer");
      args.push_back(p.name + "=127.0.0.1:" + std::to_string(p.repl));
    }
    if (curve_) {
      args.insert(args.end(), {"--curve-secret-key-file",
                               dir_ + "/keys/" + r.name + ".secret",
                               "--curve-peer-keys-dir", dir_ + "/peers"});
    } else {
      args.push_back("--insecure-replication");
    }
    args.insert(args.end(), extra_.begin(), extra_.end());
    return args;
  }

  void Start(size_t i, std::vector<std::string> more = {}) {
    std::string d = dir_ + "/" + specs_[i].name;
    std::filesystem::create_directories(d);
    auto args = Args(i);
    args.insert(args.end(), more.begin(), more.end());
    servers_[i] = std::make_unique<ServerProcess>(args, d);
    REQUIRE_FALSE(servers_[i]->url().empty());
    auto c = HttpClient::Create(servers_[i]->url());
    REQUIRE(c.ok());
    clients_.resize(servers_.size());
    clients_[i] = std::move(c).value();
  }
  void Kill(size_t i) { servers_[i]->Kill(); }
  void Stop(size_t i) { servers_[i]->Stop(); }
  // Removes region i's store (the region must be stopped): a lost disk.
  void Wipe(size_t i) {
    std::filesystem::remove_all(dir_ + "/" + specs_[i].name + "/data");
  }
  pid_t pid(size_t i) const { return servers_[i]->pid(); }
  const std::string& url(size_t i) const { return servers_[i]->url(); }

  HttpClient& client(size_t i) { return *clients_[i]; }
  size_t size() const { return specs_.size(); }
  const std::string& name(size_t i) const { return specs_[i].name; }
  // Region i's folder (what its ServerProcess keeps its store under).
  std::string dir(size_t i) const { return dir_ + "/" + specs_[i].name; }
  const std::string& dir() const { return dir_; }
  const RegionSpec& spec(size_t i) const { return specs_[i]; }

  // Every key with its full answer, as one JSON object (register
  // timestamps included: regions must agree on those too).
  json Digest(size_t i) {
    json all = json::object();
    std::string cursor;
    for (int page = 0; page < 1000; ++page) {
      std::string target = "/v1/keys?limit=1000";
      if (!cursor.empty()) target += "&cursor=" + cursor;
      auto r = client(i).Request("GET", target);
      if (!r.ok() || r->status != 200) return json();
      json j = json::parse(r->body);
      for (auto& k : j["keys"]) {
        std::string key = k["key"];
        json v = WholeKey(
            [&](const std::string& t) {
              auto got = client(i).Request("GET", t);
              if (!got.ok() || got->status != 200) return json();
              return json::parse(got->body, nullptr, false);
            },
            "/v1/keys/" + Enc(key));
        if (v.is_null()) return json();
        all[key] = v;
      }
      if (j["cursor"].is_null()) break;
      cursor = j["cursor"];
    }
    return all;
  }

  // Waits (bounded) until every region has the same digest.
  bool Converge(std::chrono::seconds limit = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      json first = Digest(0);
      bool same = !first.is_null();
      for (size_t i = 1; same && i < size(); ++i) same = Digest(i) == first;
      if (same) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

  static std::string Enc(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
      char buf[4];
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
        out.push_back(static_cast<char>(c));
      } else {
        std::snprintf(buf, sizeof buf, "%%%02X", c);
        out += buf;
      }
    }
    return out;
  }

 private:
  std::string dir_;
  std::vector<std::string> extra_;
  bool curve_;
  std::vector<RegionSpec> specs_;
  std::vector<std::unique_ptr<ServerProcess>> servers_;
  std::vector<std::unique_ptr<HttpClient>> clients_;
};

inline int Post(HttpClient& c, const std::string& target, const json& body,
                json* out = nullptr) {
  auto r = c.Request("POST", target, body.dump());
  if (!r.ok()) return 0;
  if (out) *out = json::parse(r->body, nullptr, false);
  return r->status;
}

inline int64_t Counter(HttpClient& c, const std::string& key) {
  auto r = c.Request("GET", "/v1/counter/" + key);
  REQUIRE(r.ok());
  if (r->status == 404) return 0;
  REQUIRE(r->status == 200);
  return json::parse(r->body)["value"].get<int64_t>();
}

}  // namespace deltakv::testing

#endif  // DELTAKV_TESTS_REGION_CLUSTER_H_
