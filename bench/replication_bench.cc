// Replication benchmark: real deltakv-server processes, one per region, on
// 127.0.0.1, replicating over ZeroMQ in plaintext (--insecure-replication)
// with periodic durability (fsync every 100 ms). Prints one Markdown table
// per part:
//
//   1. lag: local acknowledgement in region A -> visible in B and C, p50 and
//      p99, at offered loads of 1k, 10k and 50k writes/s (open loop, paced
//      from several client threads), on plain loopback and through
//      DelayProxy links that add a one-way delay (default 25 ms);
//   2. bytes on the wire per replicated counter increment and set add,
//      against the raw CRDT codec blob of the same deltas;
//   3. catch-up time after a partition (the proxies cut every link of C)
//      while A and B keep writing;
//   4. state transfer MB/s: a fresh region joins a source whose delta log
//      is bounded to 1,000 entries, so it needs a snapshot.
//
// Reproduce: scripts/bench-replication [--quick]   (Release build)
//
// Everything runs under one temporary folder (removed at exit); servers
// are children that die with this process (PR_SET_PDEATHSIG).
#include <signal.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/replication_proxy.h"
#include "client/http_client.h"
#include "crdt/codec.h"
#include "tests/server_harness.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using deltakv::HttpClient;
using deltakv::bench::DelayProxy;
using nlohmann::json;

// ------------------------------------------------------------ options ---

struct Options {
  bool quick = false;
  double lag_seconds = 10;  // per offered load
  double partition_seconds = 60;
  double partition_rate = 10000;  // writes/s, split between A and B
  int bytes_writes = 20000;       // per workload
  int state_keys = 100000;
  int delay_ms = 25;
  std::string parts = "lag,bytes,partition,state";
  std::string tmp_dir;  // empty: a new folder under /tmp
  std::string command;  // for the report
};

double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}
double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// ------------------------------------------------------------ servers ---

// One deltakv-server process. Forked from the main thread only, so that
// PR_SET_PDEATHSIG kills it when this benchmark dies.
class Server {
 public:
  Server(std::string region, std::string dir, std::vector<std::string> args)
      : region_(std::move(region)), dir_(std::move(dir)) {
    fs::create_directories(dir_);
    std::string ready = dir_ + "/ready";
    std::vector<std::string> argv = {DELTAKV_SERVER_BIN,
                                     "--region",
                                     region_,
                                     "--data-dir",
                                     dir_ + "/data",
                                     "--http",
                                     "127.0.0.1:0",
                                     "--ready-file",
                                     ready,
                                     "--access-log",
                                     "false",
                                     "--log-level",
                                     "warn",
                                     "--insecure-replication",
                                     "--durability",
                                     "periodic",
                                     "--sync-interval-ms",
                                     "100"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string log = dir_ + "/server.log";
    pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      FILE* f = std::fopen(log.c_str(), "a");
      if (f) {
        dup2(fileno(f), 1);
        dup2(fileno(f), 2);
      }
      std::vector<char*> a;
      for (auto& s : argv) a.push_back(s.data());
      a.push_back(nullptr);
      execv(a[0], a.data());
      _exit(127);
    }
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      std::ifstream f(ready);
      std::string addr;
      if (f >> addr) {
        url_ = "http://" + addr;
        break;
      }
      int st;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (url_.empty()) {
      std::fprintf(stderr, "region %s did not start; its log:\n",
                   region_.c_str());
      std::ifstream l(log);
      std::fprintf(stderr, "%s\n",
                   std::string(std::istreambuf_iterator<char>(l), {}).c_str());
      std::exit(1);
    }
    admin_ = Client();
  }
  ~Server() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    auto deadline = Clock::now() + std::chrono::seconds(20);
    int st;
    while (waitpid(pid_, &st, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  std::unique_ptr<HttpClient> Client() const {
    auto c = HttpClient::Create(url_);
    if (!c.ok()) {
      std::fprintf(stderr, "client: %s\n", c.status().ToString().c_str());
      std::exit(1);
    }
    return std::move(c).value();
  }
  // GET /v1/status (an empty object on failure).
  json Status() const { return GetStatus(*admin_); }
  static json GetStatus(HttpClient& c) {
    auto r = c.Request("GET", "/v1/status");
    if (!r.ok() || r->status != 200) return json::object();
    return json::parse(r->body, nullptr, false);
  }
  // The value of one unlabelled Prometheus sample (0 if absent).
  double Metric(const std::string& name) const {
    auto r = admin_->Request("GET", "/metrics");
    if (!r.ok()) return 0;
    std::istringstream in(r->body);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(name + " ", 0) == 0)
        return std::atof(line.c_str() + name.size());
    }
    return 0;
  }

  const std::string& region() const { return region_; }
  const std::string& url() const { return url_; }

 private:
  std::string region_, dir_, url_;
  pid_t pid_ = -1;
  std::unique_ptr<HttpClient> admin_;
};

uint64_t Applied(const json& status, const std::string& region) {
  if (!status.contains("applied")) return 0;
  const json& a = status["applied"];
  auto it = a.find(region);
  return it == a.end() ? 0 : it->get<uint64_t>();
}
const json* PeerOf(const json& status, const std::string& region) {
  if (!status.contains("peers")) return nullptr;
  for (const json& p : status["peers"]) {
    if (p.value("region", "") == region) return &p;
  }
  return nullptr;
}
uint64_t PeerField(const json& status, const std::string& region,
                   const char* field) {
  const json* p = PeerOf(status, region);
  return p ? p->value(field, uint64_t{0}) : 0;
}

// Per-peer counters in /v1/status and /metrics (bytes_in, bytes_out,
// catchups, state_transfers) are refreshed once per heartbeat (1 s): wait
// this long before reading them.
constexpr auto kStatusRefresh = std::chrono::milliseconds(1300);

// ------------------------------------------------------------ cluster ---

// Fully meshed regions. With proxies, region x reaches region y through a
// DelayProxy pair (PUB and ROUTER port) of its own: links[{x, y}].
class Cluster {
 public:
  Cluster(const std::string& root, std::vector<std::string> names, bool proxied,
          std::chrono::microseconds delay, std::vector<std::string> extra = {})
      : names_(std::move(names)) {
    static int n = 0;
    dir_ = root + "/cluster" + std::to_string(n++);
    for (size_t i = 0; i < names_.size(); ++i)
      repl_.push_back(deltakv::testing::FreePortPair());
    std::vector<std::vector<std::string>> args(names_.size());
    for (size_t x = 0; x < names_.size(); ++x) {
      args[x] = {"--repl", "127.0.0.1:" + std::to_string(repl_[x])};
      for (size_t y = 0; y < names_.size(); ++y) {
        if (x == y) continue;
        uint16_t port = repl_[y];
        if (proxied) {
          port = deltakv::testing::FreePortPair();
          Link& l = links_[{x, y}];
          l.pub = DelayProxy::Open(port, repl_[y], delay);
          l.router = DelayProxy::Open(port + 1, repl_[y] + 1, delay);
          if (!l.pub || !l.router) {
            std::fprintf(stderr, "cannot open proxy on %u\n", port);
            std::exit(1);
          }
        }
        args[x].push_back("--peer");
        args[x].push_back(names_[y] + "=127.0.0.1:" + std::to_string(port));
      }
      args[x].insert(args[x].end(), extra.begin(), extra.end());
    }
    for (size_t x = 0; x < names_.size(); ++x) {
      servers_.push_back(
          std::make_unique<Server>(names_[x], dir_ + "/" + names_[x], args[x]));
    }
  }
  ~Cluster() {
    servers_.clear();
    links_.clear();
    fs::remove_all(dir_);
  }

  Server& server(size_t i) { return *servers_[i]; }
  size_t size() const { return servers_.size(); }

  void SetDelay(std::chrono::microseconds d) {
    for (auto& [k, l] : links_) {
      l.pub->SetDelay(d);
      l.router->SetDelay(d);
    }
  }
  // Cuts (or heals) every link from and to region i.
  void Isolate(size_t i, bool cut) {
    for (auto& [k, l] : links_) {
      if (k.first != i && k.second != i) continue;
      for (DelayProxy* p : {l.pub.get(), l.router.get()}) {
        if (cut) {
          p->Cut();
        } else {
          p->Heal();
        }
      }
    }
  }
  // TCP payload bytes region `from` sent to region `to` (through proxies).
  uint64_t ProxyBytes(size_t from, size_t to) {
    auto it = links_.find({to, from});
    if (it == links_.end()) return 0;
    return it->second.pub->bytes_to_client() +
           it->second.router->bytes_to_client();
  }

  // Waits (bounded) until every region has applied every region's
  // sequence. False on timeout.
  bool WaitConverged(std::chrono::seconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      std::vector<json> st;
      for (auto& s : servers_) st.push_back(s->Status());
      bool ok = true;
      for (size_t x = 0; x < size() && ok; ++x) {
        uint64_t seq = st[x].value("sequence", uint64_t{0});
        for (size_t y = 0; y < size(); ++y) {
          if (Applied(st[y], names_[x]) < seq) ok = false;
        }
      }
      if (ok) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

 private:
  struct Link {
    std::unique_ptr<DelayProxy> pub, router;
  };
  std::vector<std::string> names_;
  std::string dir_;
  std::vector<uint16_t> repl_;
  std::map<std::pair<size_t, size_t>, Link> links_;
  std::vector<std::unique_ptr<Server>> servers_;
};

// ------------------------------------------------------------ writers ---

// The number after "REGION:" in the token of a write's answer (0 if none).
uint64_t SeqFromToken(const std::string& body, const std::string& region) {
  size_t t = body.find("\"token\":\"");
  if (t == std::string::npos) return 0;
  t += 9;
  size_t end = body.find('"', t);
  std::string token = body.substr(t, end - t);
  size_t p = 0;
  while (p < token.size()) {
    size_t comma = token.find(',', p);
    if (comma == std::string::npos) comma = token.size();
    std::string part = token.substr(p, comma - p);
    if (part.size() > region.size() &&
        part.compare(0, region.size(), region) == 0 &&
        part[region.size()] == ':') {
      return std::strtoull(part.c_str() + region.size() + 1, nullptr, 10);
    }
    p = comma + 1;
  }
  return 0;
}

struct Ack {
  uint64_t seq;
  Clock::time_point at;
};
struct WriteLog {
  std::vector<Ack> acks;
  uint64_t errors = 0;
};
// (target, body) of the n-th write.
using MakeWrite = std::function<std::pair<std::string, std::string>(
    uint64_t n, std::mt19937_64&)>;

// Open-loop writers: `threads` threads send write n at start + n / rate
// (late writes go at once: the achieved rate shows a server that cannot keep
// up) until `end` or `stop`; writes still due at `end` are not sent. Each
// thread warms its connection first.
class Writers {
 public:
  Writers(const Server& s, double rate, int threads, Clock::time_point start,
          Clock::time_point end, MakeWrite make, std::atomic<bool>* stop)
      : logs_(threads) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back(
          [&s, rate, threads, start, end, make, stop, i, this] {
            auto c = s.Client();
            (void)c->Request("GET", "/v1/status");
            std::mt19937_64 rng(uint64_t(i) * 7919 + 17);
            WriteLog& log = logs_[i];
            for (uint64_t j = 0;; ++j) {
              uint64_t n = j * uint64_t(threads) + uint64_t(i);
              auto due =
                  start + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(double(n) / rate));
              auto now = Clock::now();
              if (due >= end || now >= end || *stop) break;
              if (due > now) std::this_thread::sleep_until(due);
              auto [target, body] = make(n, rng);
              auto r = c->Request("POST", target, body);
              now = Clock::now();
              if (!r.ok() || r->status != 200) {
                ++log.errors;
                continue;
              }
              log.acks.push_back({SeqFromToken(r->body, s.region()), now});
            }
          });
    }
  }
  // Joins the threads; returns every acknowledged write.
  WriteLog Join() {
    for (auto& t : threads_) t.join();
    threads_.clear();
    WriteLog all;
    for (auto& l : logs_) {
      all.acks.insert(all.acks.end(), l.acks.begin(), l.acks.end());
      all.errors += l.errors;
    }
    return all;
  }

 private:
  std::vector<WriteLog> logs_;
  std::vector<std::thread> threads_;
};

// Polls a region's /v1/status about every millisecond and records when its
// applied sequence of `origin` grows (the time the answer arrived).
class Watcher {
 public:
  struct Point {
    Clock::time_point at;
    uint64_t applied;
  };
  Watcher(const Server& s, std::string origin) : origin_(std::move(origin)) {
    thread_ = std::thread([this, &s] {
      auto c = s.Client();
      auto next = Clock::now();
      while (!stop_) {
        json st = Server::GetStatus(*c);
        auto now = Clock::now();
        uint64_t a = Applied(st, origin_);
        if (points_.empty() || a > points_.back().applied) {
          points_.push_back({now, a});
          latest_ = a;
        }
        next += std::chrono::milliseconds(1);
        if (next < now) next = now;
        std::this_thread::sleep_until(next);
      }
    });
  }
  ~Watcher() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t latest() const { return latest_; }
  // When `seq` was first seen applied; false if never.
  bool VisibleAt(uint64_t seq, Clock::time_point* at) const {
    auto it = std::lower_bound(
        points_.begin(), points_.end(), seq,
        [](const Point& p, uint64_t s) { return p.applied < s; });
    if (it == points_.end()) return false;
    *at = it->at;
    return true;
  }

 private:
  std::string origin_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> latest_{0};
  std::vector<Point> points_;
  std::thread thread_;
};

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p * double(v.size())));
  return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
}

// ---------------------------------------------------------- part: lag ---

const std::vector<std::string> kRegions = {"us-east", "eu-west", "ap-south"};

MakeWrite CounterWrite(std::string prefix, uint64_t keys) {
  return [prefix, keys](uint64_t, std::mt19937_64& rng) {
    return std::make_pair(
        "/v1/counter/" + prefix + std::to_string(rng() % keys) + "/incr",
        std::string(R"({"by":1})"));
  };
}

struct LagRow {
  std::string link;
  double offered = 0, achieved = 0;
  size_t writes = 0;
  uint64_t errors = 0;
  double p50[2], p99[2], max = 0;
  size_t invisible = 0;
  double goal_ms = 0;
};

LagRow MeasureLag(Cluster& c, const std::string& link, double rate,
                  double seconds, double goal_ms) {
  int threads = rate <= 1000 ? 2 : rate <= 10000 ? 8 : 16;
  std::atomic<bool> stop{false};
  Watcher wb(c.server(1), kRegions[0]), wc(c.server(2), kRegions[0]);
  auto start = Clock::now() + std::chrono::milliseconds(300);
  auto end = start + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(seconds));
  Writers w(c.server(0), rate, threads, start, end, CounterWrite("lag:", 10000),
            &stop);
  WriteLog log = w.Join();
  uint64_t max_seq = 0;
  Clock::time_point last = start;
  for (const Ack& a : log.acks) {
    max_seq = std::max(max_seq, a.seq);
    last = std::max(last, a.at);
  }
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while ((wb.latest() < max_seq || wc.latest() < max_seq) &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  wb.Stop();
  wc.Stop();
  LagRow row;
  row.link = link;
  row.offered = rate;
  row.writes = log.acks.size();
  row.errors = log.errors;
  row.achieved =
      double(log.acks.size()) / std::max(1e-9, Seconds(last - start));
  row.goal_ms = goal_ms;
  const Watcher* ws[2] = {&wb, &wc};
  for (int k = 0; k < 2; ++k) {
    std::vector<double> lags;
    for (const Ack& a : log.acks) {
      Clock::time_point at;
      if (!ws[k]->VisibleAt(a.seq, &at)) {
        ++row.invisible;
        continue;
      }
      lags.push_back(std::max(0.0, Ms(at - a.at)));
    }
    row.p50[k] = Percentile(lags, 0.50);
    row.p99[k] = Percentile(lags, 0.99);
    if (!lags.empty()) row.max = std::max(row.max, lags.back());
  }
  return row;
}

void PrintLag(const std::vector<LagRow>& rows, const Options& o) {
  std::printf(
      "\n### Replication lag (ack in us-east -> visible in eu-west / "
      "ap-south)\n\n");
  std::printf(
      "%.0f s per load, open loop; counter increments on 10,000 keys; "
      "lag = first /v1/status poll (every ~1 ms) showing the write "
      "applied - the writer's ack time.\n\n",
      o.lag_seconds);
  std::printf(
      "| link | offered w/s | achieved w/s | writes | errors | eu-west p50 ms "
      "| eu-west p99 ms | ap-south p50 ms | ap-south p99 ms | max ms | goal "
      "p99 <= | met? |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
  for (const LagRow& r : rows) {
    std::string met = "-";
    if (r.offered == 10000) {
      met = (r.p99[0] <= r.goal_ms && r.p99[1] <= r.goal_ms && r.invisible == 0)
                ? "met"
                : "NOT met";
      if (r.achieved < 0.95 * r.offered) met += " (rate not reached)";
    }
    std::printf("| %s | %.0f | %.0f | %zu | %" PRIu64
                " | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f ms | %s |\n",
                r.link.c_str(), r.offered, r.achieved, r.writes, r.errors,
                r.p50[0], r.p99[0], r.p50[1], r.p99[1], r.max, r.goal_ms,
                met.c_str());
    if (r.invisible)
      std::printf("|  (%zu writes never seen in time) |||||||||||\n",
                  r.invisible);
  }
}

// -------------------------------------------------------- part: bytes ---

struct BytesRow {
  std::string workload;
  size_t writes = 0;
  double raw = 0;        // mean codec blob of one delta
  double raw_entry = 0;  // blob + key + type as the wire's entry carries them
  double frames = 0;     // replication frame bytes received per peer per write
  double tcp = 0;        // TCP payload per peer per write (proxy count)
  double out = 0;        // deltakv_replication_bytes_out_total per write
};

BytesRow MeasureBytes(Cluster& c, const std::string& name, int kind,
                      int writes) {
  // kind 0: counter, 100k keys; 1: counter, one key; 2: set add, 100k keys.
  const uint64_t keys = 100000;
  MakeWrite make;
  if (kind == 0) make = CounterWrite("bc:", keys);
  if (kind == 1) make = CounterWrite("bh", 1);
  if (kind == 2) {
    make = [keys](uint64_t n, std::mt19937_64& rng) {
      char m[32];
      std::snprintf(m, sizeof m, "m%08" PRIu64, n);
      return std::make_pair(
          "/v1/set/bs:" + std::to_string(rng() % keys) + "/add",
          std::string(R"({"members":[")") + m + "\"]}");
    };
  }
  c.WaitConverged(std::chrono::seconds(30));
  std::this_thread::sleep_for(kStatusRefresh);
  auto before_b = c.server(1).Status(), before_c = c.server(2).Status();
  uint64_t tcp0 = c.ProxyBytes(0, 1) + c.ProxyBytes(0, 2);
  double out0 = c.server(0).Metric("deltakv_replication_bytes_out_total");
  const double rate = 10000;
  std::atomic<bool> stop{false};
  auto start = Clock::now() + std::chrono::milliseconds(200);
  auto end = start + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(writes / rate));
  Writers w(c.server(0), rate, 8, start, end, make, &stop);
  WriteLog log = w.Join();
  c.WaitConverged(std::chrono::seconds(60));
  std::this_thread::sleep_for(kStatusRefresh);
  auto after_b = c.server(1).Status(), after_c = c.server(2).Status();
  uint64_t tcp1 = c.ProxyBytes(0, 1) + c.ProxyBytes(0, 2);
  double out1 = c.server(0).Metric("deltakv_replication_bytes_out_total");

  BytesRow row;
  row.workload = name;
  row.writes = log.acks.size();
  double per = 2.0 * double(std::max<size_t>(1, row.writes));
  row.frames = double(PeerField(after_b, kRegions[0], "bytes_in") -
                      PeerField(before_b, kRegions[0], "bytes_in") +
                      PeerField(after_c, kRegions[0], "bytes_in") -
                      PeerField(before_c, kRegions[0], "bytes_in")) /
               per;
  row.tcp = double(tcp1 - tcp0) / per;
  row.out = (out1 - out0) / double(std::max<size_t>(1, row.writes));

  // The raw deltas: the same kind of writes on local CRDT values, as one
  // replica (a random 64-bit id, as the server's) produces them.
  namespace crdt = deltakv::crdt;
  auto replica = deltakv::ReplicaId::Random();
  std::mt19937_64 rng(99);
  std::map<uint64_t, crdt::PNCounter> counters;
  std::map<uint64_t, crdt::AWORSet> sets;
  double sum = 0, sum_entry = 0;
  size_t m = std::max<size_t>(1, row.writes);
  for (size_t i = 0; i < m; ++i) {
    uint64_t k = kind == 1 ? 0 : rng() % keys;
    std::string key = kind == 0   ? "bc:" + std::to_string(k)
                      : kind == 1 ? "bh0"
                                  : "bs:" + std::to_string(k);
    std::string blob;
    if (kind == 2) {
      char mem[32];
      std::snprintf(mem, sizeof mem, "m%08zu", i);
      blob = crdt::Encode(sets[k].Add(replica, mem));
    } else {
      blob = crdt::Encode(counters[k].Increment(replica, 1).value());
    }
    sum += double(blob.size());
    // msgpack str/bin headers of key and blob plus the type byte.
    sum_entry += double(blob.size() + key.size() + 2 + 2 + 1);
  }
  row.raw = sum / double(m);
  row.raw_entry = sum_entry / double(m);
  return row;
}

void PrintBytes(const std::vector<BytesRow>& rows, int delay_ms) {
  std::printf(
      "\n### Bytes on the wire per replicated write (us-east -> each "
      "peer)\n\n");
  std::printf(
      "Writes paced at 10,000/s from 8 threads; counts include heartbeats, "
      "acks are not (they flow the other way). frames = "
      "deltakv_peer_bytes_in_total "
      "of us-east at the peer; TCP = payload through the proxy (ZMTP framing "
      "included, proxies at %d ms delay); bytes_out = "
      "deltakv_replication_bytes_out_total "
      "of us-east (a PUB frame counted once for all subscribers).\n\n",
      delay_ms);
  std::printf(
      "| workload | writes | raw delta blob B | raw entry (blob+key) B | "
      "frames B/write/peer | TCP B/write/peer | bytes_out B/write | TCP / raw "
      "blob | goal <= raw |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
  for (const BytesRow& r : rows) {
    std::printf("| %s | %zu | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %s |\n",
                r.workload.c_str(), r.writes, r.raw, r.raw_entry, r.frames,
                r.tcp, r.out, r.tcp / r.raw,
                r.tcp <= r.raw ? "met" : "NOT met");
  }
}

// ---------------------------------------------------- part: partition ---

void RunPartition(Cluster& c, const Options& o) {
  const double rate = o.partition_rate / 2;  // each of A and B
  std::atomic<bool> stop{false};
  auto start = Clock::now() + std::chrono::milliseconds(300);
  auto far = start + std::chrono::hours(1);
  Writers wa(c.server(0), rate, 6, start, far, CounterWrite("pc:", 100000),
             &stop);
  Writers wb(c.server(1), rate, 6, start, far, CounterWrite("pc:", 100000),
             &stop);
  std::this_thread::sleep_until(start + std::chrono::seconds(2));
  json c0 = c.server(2).Status();
  uint64_t catchups0 = PeerField(c0, kRegions[0], "catchups") +
                       PeerField(c0, kRegions[1], "catchups");
  uint64_t st0 = PeerField(c0, kRegions[0], "state_transfers") +
                 PeerField(c0, kRegions[1], "state_transfers");
  c.Isolate(2, true);
  auto t_cut = Clock::now();
  std::this_thread::sleep_until(
      t_cut + std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double>(o.partition_seconds)));
  uint64_t a_heal = c.server(0).Status().value("sequence", uint64_t{0});
  uint64_t b_heal = c.server(1).Status().value("sequence", uint64_t{0});
  json c1 = c.server(2).Status();
  uint64_t backlog = (a_heal - std::min(a_heal, Applied(c1, kRegions[0]))) +
                     (b_heal - std::min(b_heal, Applied(c1, kRegions[1])));
  auto t_heal_start = Clock::now();
  double part_s = Seconds(t_heal_start - t_cut);
  c.Isolate(2, false);
  auto t_heal = Clock::now();
  double catchup_s = NAN;
  auto deadline = t_heal + std::chrono::seconds(180);
  while (Clock::now() < deadline) {
    json s = c.server(2).Status();
    if (Applied(s, kRegions[0]) >= a_heal &&
        Applied(s, kRegions[1]) >= b_heal) {
      catchup_s = Seconds(Clock::now() - t_heal);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  WriteLog la = wa.Join(), lb = wb.Join();
  auto t_stop = Clock::now();
  bool converged = c.WaitConverged(std::chrono::seconds(120));
  double equal_s = converged ? Seconds(Clock::now() - t_stop) : NAN;
  std::this_thread::sleep_for(kStatusRefresh);
  json c2 = c.server(2).Status();
  uint64_t catchups = PeerField(c2, kRegions[0], "catchups") +
                      PeerField(c2, kRegions[1], "catchups") - catchups0;
  uint64_t sts = PeerField(c2, kRegions[0], "state_transfers") +
                 PeerField(c2, kRegions[1], "state_transfers") - st0;
  size_t during = 0;
  for (const WriteLog* l : {&la, &lb}) {
    for (const Ack& a : l->acks) during += a.at >= t_cut && a.at < t_heal_start;
  }
  double achieved = double(during) / part_s;

  std::printf("\n### Catch-up after a partition of ap-south\n\n");
  std::printf(
      "The proxies close every link of ap-south and hold new connections "
      "without forwarding (no SIGSTOP: ap-south keeps running); us-east and "
      "eu-west keep writing counter increments on 100,000 keys, half the "
      "offered rate each, before, during and after the partition. Catch-up = "
      "heal -> ap-south has applied everything written before the heal "
      "(writes continue meanwhile); equal = writes stopped -> all applied "
      "vectors equal. Proxies at %d ms delay.\n\n",
      0);
  std::printf(
      "| partition s | offered w/s | achieved w/s (during) | backlog deltas | "
      "catch-up s | catch-up deltas/s | equal after stop s | catch-up requests "
      "| state transfers | write errors |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::printf("| %.1f | %.0f | %.0f | %" PRIu64
              " | %.2f | %.0f | %.2f | %" PRIu64 " | %" PRIu64 " | %" PRIu64
              " |\n",
              part_s, o.partition_rate, achieved, backlog, catchup_s,
              double(backlog) / catchup_s, equal_s, catchups, sts,
              la.errors + lb.errors);
}

// -------------------------------------------------------- part: state ---

// A random-looking member for key i (16 hex digits), so that snapshot
// compression does not feed on repeated text.
std::string StateMember(int i, int which) {
  std::mt19937_64 rng(uint64_t(i) * 2 + uint64_t(which));
  char b[24];
  std::snprintf(b, sizeof b, "%016" PRIx64, uint64_t(rng()));
  return b;
}

void RunStateTransfer(const std::string& root, const Options& o) {
  // The source trims its delta log once every configured peer acknowledged
  // an entry; so it gets one running peer (eu-west) and does not list the
  // newcomer, whose requests its ROUTER serves all the same.
  const std::string src_name = "us-east", helper_name = "eu-west",
                    new_name = "ap-south";
  uint16_t src_port = deltakv::testing::FreePortPair(),
           helper_port = deltakv::testing::FreePortPair(),
           new_port = deltakv::testing::FreePortPair();
  std::string dir = root + "/state";
  Server src(src_name, dir + "/" + src_name,
             {"--repl", "127.0.0.1:" + std::to_string(src_port), "--peer",
              helper_name + "=127.0.0.1:" + std::to_string(helper_port),
              "--max-log-entries", "1000"});
  Server helper(helper_name, dir + "/" + helper_name,
                {"--repl", "127.0.0.1:" + std::to_string(helper_port), "--peer",
                 src_name + "=127.0.0.1:" + std::to_string(src_port)});
  // Fill: even keys counters, odd keys sets of two members.
  const int threads = 8;
  std::atomic<uint64_t> errors{0};
  auto fill_start = Clock::now();
  {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        auto c = src.Client();
        for (int i = t; i < o.state_keys; i += threads) {
          std::string k = std::to_string(i);
          auto r = i % 2 == 0
                       ? c->Request("POST", "/v1/counter/st:c:" + k + "/incr",
                                    R"({"by":1})")
                       : c->Request("POST", "/v1/set/st:s:" + k + "/add",
                                    R"({"members":[")" + StateMember(i, 0) +
                                        R"(",")" + StateMember(i, 1) + "\"]}");
          if (!r.ok() || r->status != 200) ++errors;
        }
      });
    }
    for (auto& t : ts) t.join();
  }
  double fill_s = Seconds(Clock::now() - fill_start);
  json s0 = src.Status();
  {  // wait (bounded) until eu-west acknowledged and us-east trimmed
    uint64_t seq = s0.value("sequence", uint64_t{0});
    auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline &&
           s0.value("log_start", uint64_t{0}) <= seq) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      s0 = src.Status();
    }
  }
  uint64_t src_seq = s0.value("sequence", uint64_t{0});
  uint64_t used = s0["storage"].value("map_used_bytes", uint64_t{0});
  uint64_t log_start = s0.value("log_start", uint64_t{0});

  auto t0 = Clock::now();
  Server fresh(new_name, dir + "/" + new_name,
               {"--repl", "127.0.0.1:" + std::to_string(new_port), "--peer",
                src_name + "=127.0.0.1:" + std::to_string(src_port)});
  auto t_ready = Clock::now();
  double done_s = NAN;
  json s;
  auto deadline = t_ready + std::chrono::seconds(300);
  while (Clock::now() < deadline) {
    s = fresh.Status();
    if (Applied(s, src_name) >= src_seq) {
      done_s = Seconds(Clock::now() - t_ready);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  double from_start_s = Seconds(Clock::now() - t0);
  std::this_thread::sleep_for(kStatusRefresh);
  s = fresh.Status();
  uint64_t bytes_in = PeerField(s, src_name, "bytes_in");
  uint64_t transfers = PeerField(s, src_name, "state_transfers");
  uint64_t fresh_used = s["storage"].value("map_used_bytes", uint64_t{0});
  // Spot checks: the last counter and set arrived.
  auto fc = fresh.Client();
  const int last = o.state_keys - 1;
  const int last_even = last - last % 2, last_odd = last % 2 ? last : last - 1;
  auto rc = fc->Request("GET", "/v1/counter/st:c:" + std::to_string(last_even));
  auto rs = fc->Request("GET", "/v1/set/st:s:" + std::to_string(last_odd));
  bool spot = rc.ok() && rc->status == 200 && rs.ok() && rs->status == 200 &&
              rs->body.find(StateMember(last_odd, 1)) != std::string::npos;
  const double mb = 1024.0 * 1024.0;
  std::printf("\n### State transfer to a fresh region\n\n");
  std::printf(
      "us-east filled with %d keys (half counters, half sets of two "
      "random 16-hex-digit members; %.1f s, %" PRIu64
      " errors); its peer eu-west applies and "
      "acknowledges everything, so us-east trims its delta log (log start "
      "%" PRIu64 " after sequence %" PRIu64
      "; --max-log-entries 1000 is "
      "passed too). Then ap-south starts empty with us-east as its peer and "
      "must take a snapshot. Time from ap-south serving HTTP until it has "
      "applied us-east's sequence; MB/s from the source's map_used_bytes "
      "and from the bytes ap-south received from us-east.\n\n",
      o.state_keys, fill_s, errors.load(), log_start, src_seq);
  std::printf(
      "| keys | source seq | source map_used MB | received MB | new region "
      "map_used MB | time s (from ready) | time s (from exec) | MB/s "
      "(map_used) | MB/s (received) | state transfers | spot check |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
  std::printf("| %d | %" PRIu64
              " | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f | %.1f | %" PRIu64
              " | %s |\n",
              o.state_keys, src_seq, double(used) / mb, double(bytes_in) / mb,
              double(fresh_used) / mb, done_s, from_start_s,
              double(used) / mb / done_s, double(bytes_in) / mb / done_s,
              transfers, spot ? "ok" : "FAILED");
}

// ------------------------------------------------------------- report ---

void PrintMachine() {
  utsname u{};
  uname(&u);
  std::string cpu = "?";
  std::ifstream ci("/proc/cpuinfo");
  for (std::string line; std::getline(ci, line);) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  std::ifstream mi("/proc/meminfo");
  std::string key;
  uint64_t mem_kb = 0;
  mi >> key >> mem_kb;
  double load = 0;
  std::ifstream la("/proc/loadavg");
  la >> load;
  std::printf(
      "machine: %s %s %s, %s, %ld cores, %.0f GiB RAM, load avg %.2f at start "
      "(cores shared with other work; nothing pinned)\n",
      u.sysname, u.release, u.machine, cpu.c_str(),
      sysconf(_SC_NPROCESSORS_ONLN), double(mem_kb) / 1048576.0, load);
}

bool Has(const std::string& parts, const std::string& p) {
  return ("," + parts + ",").find("," + p + ",") != std::string::npos;
}

int Usage() {
  std::fprintf(
      stderr,
      "usage: replication_bench [--quick] [--lag-seconds S] "
      "[--partition-seconds S] [--partition-rate W] [--bytes-writes N] "
      "[--state-keys N] [--delay-ms D] [--parts lag,bytes,partition,state] "
      "[--tmp-dir DIR]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (auto& a : args) {
    if (a == "--quick") {
      o.quick = true;
      o.lag_seconds = 3;
      o.partition_seconds = 10;
      o.bytes_writes = 10000;
      o.state_keys = 20000;
    }
  }
  o.command = "replication_bench";
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= args.size()) std::exit(Usage());
      return args[++i];
    };
    if (a == "--quick") {
    } else if (a == "--lag-seconds") {
      o.lag_seconds = std::atof(next().c_str());
    } else if (a == "--partition-seconds") {
      o.partition_seconds = std::atof(next().c_str());
    } else if (a == "--partition-rate") {
      o.partition_rate = std::atof(next().c_str());
    } else if (a == "--bytes-writes") {
      o.bytes_writes = std::atoi(next().c_str());
    } else if (a == "--state-keys") {
      o.state_keys = std::atoi(next().c_str());
    } else if (a == "--delay-ms") {
      o.delay_ms = std::atoi(next().c_str());
    } else if (a == "--parts") {
      o.parts = next();
    } else if (a == "--tmp-dir") {
      o.tmp_dir = next();
      continue;  // a local path: not part of the printed command
    } else {
      return Usage();
    }
    o.command += " " + a;
    if (a != "--quick") o.command += " " + args[i];
  }
  if (o.lag_seconds <= 0 || o.partition_seconds <= 0 || o.partition_rate <= 0 ||
      o.bytes_writes <= 0 || o.state_keys < 4 || o.delay_ms < 0) {
    return Usage();
  }
  signal(SIGPIPE, SIG_IGN);
  bool own_tmp = o.tmp_dir.empty();
  if (own_tmp) {
    char tmpl[] = "/tmp/deltakv-repl-bench-XXXXXX";
    o.tmp_dir = mkdtemp(tmpl);
  }
  std::string root = o.tmp_dir + "/run";
  fs::create_directories(root);

  std::printf("## Replication benchmark\n\n");
  std::printf("command: %s\n", o.command.c_str());
  PrintMachine();
  std::printf(
      "setup: 3 regions (us-east, eu-west, ap-south), one deltakv-server "
      "each on 127.0.0.1, --insecure-replication (plaintext ZeroMQ), "
      "--durability periodic --sync-interval-ms 100, default batching "
      "(2 ms) and heartbeats (1 s); delayed links: a DelayProxy per "
      "direction and socket (PUB and ROUTER) adding %d ms one way.\n",
      o.delay_ms);
  std::fflush(stdout);
  const auto delay = std::chrono::milliseconds(o.delay_ms);

  if (Has(o.parts, "lag")) {
    std::vector<LagRow> rows;
    {
      Cluster c(root, kRegions, false, std::chrono::microseconds(0));
      c.WaitConverged(std::chrono::seconds(30));
      for (double r : {1000.0, 10000.0, 50000.0}) {
        rows.push_back(MeasureLag(c, "loopback", r, o.lag_seconds, 10));
        std::fprintf(stderr, "lag loopback %.0f done\n", r);
      }
    }
    {
      Cluster c(root, kRegions, true, delay);
      c.WaitConverged(std::chrono::seconds(30));
      for (double r : {1000.0, 10000.0, 50000.0}) {
        rows.push_back(
            MeasureLag(c, "+" + std::to_string(o.delay_ms) + " ms proxy", r,
                       o.lag_seconds, o.delay_ms + 10));
        std::fprintf(stderr, "lag proxy %.0f done\n", r);
      }
    }
    PrintLag(rows, o);
    std::fflush(stdout);
  }
  if (Has(o.parts, "bytes") || Has(o.parts, "partition")) {
    Cluster c(root, kRegions, true, std::chrono::microseconds(0));
    c.WaitConverged(std::chrono::seconds(30));
    if (Has(o.parts, "bytes")) {
      std::vector<BytesRow> rows;
      rows.push_back(
          MeasureBytes(c, "counter incr, 100k keys", 0, o.bytes_writes));
      rows.push_back(
          MeasureBytes(c, "counter incr, 1 hot key", 1, o.bytes_writes));
      rows.push_back(MeasureBytes(c, "set add (new member), 100k keys", 2,
                                  o.bytes_writes));
      PrintBytes(rows, 0);
      std::fflush(stdout);
      std::fprintf(stderr, "bytes done\n");
    }
    if (Has(o.parts, "partition")) {
      RunPartition(c, o);
      std::fflush(stdout);
      std::fprintf(stderr, "partition done\n");
    }
  }
  if (Has(o.parts, "state")) {
    RunStateTransfer(root, o);
    std::fflush(stdout);
  }
  fs::remove_all(own_tmp ? o.tmp_dir : root);
  return 0;
}
