// deltakv-server: one region. Run with --help for the options.
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "cluster/cluster_view.h"
#include "cluster/coordinator.h"
#include "cluster/local_service.h"
#include "cluster/membership.h"
#include "gateway/api.h"
#include "gateway/config.h"
#include "gateway/http_server.h"
#include "replication/replica.h"
#include "replication/streams.h"
#include "resp/commands.h"
#include "resp/server.h"

using namespace deltakv;

namespace {

std::shared_ptr<spdlog::logger> MakeLogger(const gateway::ServerConfig& c) {
  auto log = spdlog::stdout_logger_mt("deltakv");
  if (c.log_format == "json") {
    log->set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","msg":%v})",
        spdlog::pattern_time_type::utc);
  } else {
    log->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v",
                     spdlog::pattern_time_type::utc);
  }
  log->set_level(spdlog::level::from_str(c.log_level));
  log->flush_on(spdlog::level::info);
  return log;
}

// A free-text log line; JSON-quoted in json mode so every line parses.
void Say(spdlog::logger& log, const gateway::ServerConfig& c,
         spdlog::level::level_enum level, const std::string& text) {
  if (c.log_format == "json") {
    log.log(level, "{}", nlohmann::json(text).dump());
  } else {
    log.log(level, "{}", text);
  }
}

// The API tokens the configuration names (none: an open API).
Result<gateway::Auth> LoadAuth(const gateway::ServerConfig& c) {
  if (!c.token_file.empty()) return gateway::Auth::FromFile(c.token_file);
  // Given at all (flag, environment or file), even as "," or "": it must
  // yield tokens.
  if (c.tokens_given) return gateway::Auth::FromList(c.tokens);
  return gateway::Auth();
}

// Connections the admin listener (probes, scrapers) takes at once.
constexpr size_t kAdminConnections = 64;
// File descriptors kept for LMDB, ZeroMQ, logs and accept bursts.
constexpr size_t kReservedFds = 256;

// Raises the soft limit on open files to the hard limit, and lowers
// *max_connections (the cap of each of `listeners` listeners: HTTP, and
// RESP when on) to what it leaves room for. Returns a warning, if any.
std::string FitConnectionsToFdLimit(size_t* max_connections, bool admin,
                                    size_t listeners) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return {};
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  const size_t limit = rl.rlim_cur == RLIM_INFINITY
                           ? std::numeric_limits<size_t>::max()
                           : static_cast<size_t>(rl.rlim_cur);
  const size_t other = kReservedFds + (admin ? kAdminConnections : 0);
  if (limit >= other && (limit - other) / listeners >= *max_connections) {
    return {};
  }
  const size_t fit =
      limit > other + 16 * listeners ? (limit - other) / listeners : 16;
  std::string warning =
      "--max-connections " + std::to_string(*max_connections) +
      (listeners > 1 ? " per listener (HTTP and RESP)" : "") +
      " does not fit the open-file limit " + std::to_string(limit) +
      "; using " + std::to_string(fit);
  *max_connections = fit;
  return warning;
}

// The host other nodes and clients reach a listener on: the bound host,
// or this machine's name when it binds every interface.
std::string AdvertisedHost(const std::string& host) {
  if (host.empty() || host == "0.0.0.0" || host == "::") {
    char name[256] = {0};
    if (gethostname(name, sizeof name - 1) == 0 && name[0] != '\0') {
      return name;
    }
  }
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

// What GET /v1/cluster shows: the membership's view with --etcd, this node
// alone otherwise. Filled once the API listener's port is known.
struct ClusterState {
  std::mutex mu;
  cluster::ClusterView self;                  // GUARDED_BY(mu)
  cluster::Membership* membership = nullptr;  // GUARDED_BY(mu)

  cluster::ClusterView View() {
    std::lock_guard<std::mutex> lock(mu);
    if (membership == nullptr) return self;
    cluster::ClusterView v = membership->View();
    v.replicas = self.replicas;
    v.write_quorum = self.write_quorum;
    v.read_quorum = self.read_quorum;
    return v;
  }
};

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  auto config = gateway::ParseServerConfig(argc, argv, &exit_code);
  if (!config) return exit_code;
  const gateway::ServerConfig& c = *config;

  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto log = MakeLogger(c);

  gateway::ApiOptions api_options;
  api_options.limits.max_value_bytes = c.max_value_bytes;
  api_options.limits.max_json_depth = c.max_json_depth;
  api_options.access_log = c.access_log;
  api_options.json_log = c.log_format == "json";
  api_options.max_response_bytes = static_cast<size_t>(c.max_response_bytes);
  api_options.read_threads = static_cast<size_t>(c.read_threads);
  api_options.max_queued_reads = static_cast<size_t>(c.max_queued_reads);
  if (!c.restore.empty()) {
    replication::ReplicaOptions restore_options;
    restore_options.path = c.data_dir;
    restore_options.region = c.region;
    restore_options.initial_map_bytes = c.initial_map_bytes;
    restore_options.max_map_bytes = c.max_map_bytes;
    auto restored = replication::Replica::Restore(c.restore, restore_options);
    if (!restored.ok()) {
      Say(*log, c, spdlog::level::err,
          "cannot restore " + c.restore + ": " + restored.status().ToString());
      return restored.status().code() == Code::kInvalidArgument ? 2 : 1;
    }
    char ids[96];
    std::snprintf(ids, sizeof ids, "%016llx (was %016llx)",
                  static_cast<unsigned long long>(restored->new_replica),
                  static_cast<unsigned long long>(restored->old_replica));
    Say(*log, c, spdlog::level::info,
        "restored " + c.restore + " into " + c.data_dir + " (region " +
            c.region + ", sequence " + std::to_string(restored->seq) +
            ") as replica " + ids +
            ": its peers will send it what the backup lacks once it runs");
    return 0;
  }
  ClusterState cluster_state;
  api_options.cluster_view = [&cluster_state] { return cluster_state.View(); };
  auto auth = LoadAuth(c);
  if (!auth.ok()) {
    Say(*log, c, spdlog::level::err, auth.status().ToString());
    return 2;
  }
  api_options.auth = std::move(auth).value();
  if (!api_options.auth.enabled()) {
    Say(*log, c, spdlog::level::warn,
        "no API tokens configured (--token-file or DELTAKV_TOKENS): the /v1 "
        "API is open to anyone who can reach " +
            c.http);
  }

  replication::ReplicaOptions ro;
  ro.path = c.data_dir;
  ro.region = c.region;
  ro.durability = c.durability == "sync" ? replication::Durability::kSync
                                         : replication::Durability::kPeriodic;
  ro.sync_interval_ms = c.sync_interval_ms;
  ro.initial_map_bytes = c.initial_map_bytes;
  ro.max_map_bytes = c.max_map_bytes;
  ro.max_value_bytes = c.max_value_bytes;
  ro.max_log_entries = c.max_log_entries;
  ro.max_set_members = c.max_set_members;
  ro.max_list_length = c.max_list_length;
  ro.max_key_bytes = c.max_key_bytes;
  ro.list_cache_bytes = c.list_cache_bytes;
  api_options.backup_dir = c.data_dir;
  auto replica = replication::Replica::Open(ro);
  if (!replica.ok()) {
    Say(*log, c, spdlog::level::err,
        "cannot open " + c.data_dir + ": " + replica.status().ToString());
    return 1;
  }
  // Copies of GET /v1/backup that a crash left behind (once the store is
  // ours: another server on this folder may be sending one).
  {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(c.data_dir, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("backup-", 0) == 0 && name.size() > 11 &&
          name.compare(name.size() - 4, 4, ".tmp") == 0) {
        std::filesystem::remove(e.path(), ec);
      }
    }
  }

  // Geo-replication.
  std::unique_ptr<replication::Streams> streams;
  cluster::LocalService* http_service_ptr = nullptr;
  cluster::LocalService* service_ptr = nullptr;
  if (!c.repl.empty()) {
    replication::StreamsOptions so;
    so.bind_host = c.repl_host;
    so.port = c.repl_port;
    for (const auto& p : c.peer_list)
      so.peers.push_back({p.region, p.host, p.port});
    so.insecure = c.insecure_replication;
    so.batch_interval_ms = c.repl_batch_interval_ms;
    so.heartbeat_ms = c.repl_heartbeat_ms;
    so.hwm = c.repl_hwm;
    so.debug_drop_rate = c.repl_debug_drop_rate;
    so.snapshot_chunk_bytes = static_cast<size_t>(c.repl_snapshot_chunk_bytes);
    so.transfer_timeout_ms = c.repl_transfer_timeout_ms;
    if (so.insecure) {
      Say(*log, c, spdlog::level::warn,
          "--insecure-replication: region links are NOT encrypted or "
          "authenticated; use only for development");
    } else {
      auto keys = replication::LoadCurveKeys(c.curve_secret_key_file,
                                             c.curve_peer_keys_dir);
      if (!keys.ok()) {
        Say(*log, c, spdlog::level::err, keys.status().ToString());
        return keys.status().code() == Code::kUnavailable ? 1 : 2;
      }
      so.keys = std::move(keys).value();
    }
    auto s = replication::Streams::Start(replica->get(), std::move(so), log,
                                         [&http_service_ptr, &service_ptr] {
                                           if (http_service_ptr) {
                                             http_service_ptr->OnCommit();
                                           }
                                           if (service_ptr) {
                                             service_ptr->OnCommit();
                                           }
                                         });
    if (!s.ok()) {
      Say(*log, c, spdlog::level::err, s.status().ToString());
      return 1;
    }
    streams = std::move(s).value();
    api_options.streams = streams.get();
    Say(*log, c, spdlog::level::info,
        "replication on " + c.repl +
            " (+1), peers: " + std::to_string(c.peer_list.size()) +
            (c.insecure_replication ? ", plaintext" : ", CurveZMQ"));
  }

  const bool api_options_enabled = api_options.auth.enabled();
  replication::Streams* streams_ptr = streams.get();
  // The protocol-neutral service each protocol adapter calls: one for the
  // REST API, one for the Redis protocol, each parking at most
  // --max-parked-requests waits (so /metrics counts the REST API's).
  cluster::LocalServiceOptions service_options;
  service_options.streams = streams_ptr;
  service_options.max_parked = static_cast<size_t>(c.max_parked_requests);
  auto http_service =
      std::make_unique<cluster::LocalService>(replica->get(), service_options);
  http_service_ptr = http_service.get();
  auto service =
      std::make_unique<cluster::LocalService>(replica->get(), service_options);
  service_ptr = service.get();
  // A region cluster: writes, reads and scans of both adapters go through
  // the coordinator, which routes them to the key's replicas.
  std::unique_ptr<cluster::Coordinator> coordinator;
  std::unique_ptr<cluster::ClusterService> http_cluster, resp_cluster;
  cluster::Service* http_front = http_service.get();
  cluster::Service* resp_front = service.get();
  if (!c.etcd.empty()) {
    cluster::CoordinatorOptions co;
    co.node_id = c.node_id;
    co.replicas = c.replicas;
    co.write_quorum = c.write_quorum;
    co.read_quorum = c.read_quorum;
    co.node_timeout = std::chrono::milliseconds(c.node_timeout_ms);
    co.max_hint_bytes = static_cast<size_t>(c.max_hint_bytes);
    co.ring_cache = c.data_dir + "/cluster-ring.json";
    co.log = [log, &c](bool error, const std::string& m) {
      Say(*log, c, error ? spdlog::level::warn : spdlog::level::info, m);
    };
    co.transport.bind = c.internal;
    co.transport.insecure = c.insecure_replication;
    co.transport.log = [log](const std::string& m) { log->warn("{}", m); };
    if (c.insecure_replication) {
      Say(*log, c, spdlog::level::warn,
          "--insecure-replication: node-to-node traffic is NOT encrypted or "
          "authenticated; use only for development");
    } else {
      auto keys = replication::LoadCurveKeyPair(c.curve_secret_key_file);
      if (!keys.ok()) {
        Say(*log, c, spdlog::level::err, keys.status().ToString());
        return keys.status().code() == Code::kUnavailable ? 1 : 2;
      }
      co.transport.public_key = keys->public_key;
      co.transport.secret_key = keys->secret_key;
    }
    auto started =
        cluster::Coordinator::Start(replica->get(), http_service.get(), co);
    if (!started.ok()) {
      Say(*log, c, spdlog::level::err, started.status().ToString());
      return started.status().code() == Code::kInvalidArgument ? 2 : 1;
    }
    coordinator = std::move(started).value();
    api_options.not_ready = [coord = coordinator.get()]() -> std::string {
      return coord->KnowsRing() ? std::string()
                                : "this node has not read its region's ring "
                                  "from etcd yet";
    };
    api_options.key_replicas = [coord =
                                    coordinator.get()](const std::string& key) {
      return coord->Targets(key);
    };
    http_cluster = std::make_unique<cluster::ClusterService>(
        coordinator.get(), http_service.get());
    resp_cluster = std::make_unique<cluster::ClusterService>(coordinator.get(),
                                                             service.get());
    http_front = http_cluster.get();
    resp_front = resp_cluster.get();
  }
  auto api = std::make_unique<gateway::Api>(http_front, replica->get(),
                                            api_options, log);
  gateway::Api* api_ptr = api.get();
  (*replica)->SetCommitListener(
      [http_service_ptr, streams_ptr, service_ptr](uint64_t) {
        http_service_ptr->OnCommit();
        service_ptr->OnCommit();
        if (streams_ptr) streams_ptr->Notify();
      });

  size_t max_connections = static_cast<size_t>(c.max_connections);
  const std::string fd_warning = FitConnectionsToFdLimit(
      &max_connections, !c.admin_http.empty(), c.resp.empty() ? 1 : 2);
  if (!fd_warning.empty()) Say(*log, c, spdlog::level::warn, fd_warning);
  std::atomic<gateway::HttpServer*> api_server{nullptr};
  std::atomic<gateway::HttpServer*> admin_server{nullptr};
  api->metrics().SetConnectionGauges(
      [&api_server] {
        auto* s = api_server.load();
        return s ? s->active_connections() : 0;
      },
      [&admin_server] {
        auto* s = admin_server.load();
        return s ? s->active_connections() : 0;
      });

  gateway::HttpServerOptions ho;
  ho.host = c.http_host;
  ho.port = c.http_port;
  ho.io_threads = c.io_threads;
  ho.max_body_bytes = c.max_body_bytes;
  ho.max_buffered_body_bytes = c.max_buffered_body_bytes;
  ho.max_header_bytes = c.max_header_bytes;
  ho.max_url_bytes = c.max_url_bytes;
  ho.max_connections = max_connections;
  ho.tls_cert_file = c.tls_cert_file;
  ho.tls_key_file = c.tls_key_file;
  ho.tls_client_ca_file = c.tls_client_ca_file;
  ho.idle_timeout = std::chrono::milliseconds(c.idle_timeout_ms);
  ho.header_timeout = std::chrono::milliseconds(c.header_timeout_ms);
  ho.body_timeout = std::chrono::milliseconds(c.body_timeout_ms);
  ho.authorize = [api_ptr](std::string_view method, std::string_view target,
                           std::string_view authorization) {
    return api_ptr->AuthorizeHeader(method, target, authorization);
  };
  ho.on_refused = [api_ptr](int status, std::string_view reason) {
    api_ptr->metrics().CountRefused(status, reason);
  };
  auto handler = [api_ptr](gateway::HttpRequest req,
                           gateway::Responder respond) {
    api_ptr->Handle(std::move(req), std::move(respond));
  };
  // A listener that cannot start ends the process: replication and the
  // commit listener stop first, so nothing calls into what is destroyed.
  // Declared before early_exit, which stops them (the RESP listener's
  // metrics hook and its parked calls point into them).
  std::unique_ptr<resp::Commands> resp_commands;
  std::unique_ptr<resp::RespServer> resp_server;
  std::atomic<resp::RespServer*> resp_server_ptr{nullptr};
  auto early_exit = [&](int code) {
    // Listeners first, as at SIGTERM: nothing serves while what it calls
    // into goes away.
    if (auto* s = api_server.load()) s->Shutdown(std::chrono::milliseconds(0));
    api->StopReads();
    if (resp_server) resp_server->Shutdown(std::chrono::milliseconds(0));
    if (auto* s = admin_server.load()) {
      s->Shutdown(std::chrono::milliseconds(0));
    }
    api->SetExtraMetrics(nullptr);
    coordinator.reset();  // its handlers call the replica and the services
    if (streams) streams->Stop();
    (*replica)->SetCommitListener(nullptr);
    // Parked waits are answered while the RESP commands still exist.
    service.reset();
    http_service.reset();
    return code;
  };
  auto server = gateway::HttpServer::Start(ho, handler);
  if (!server.ok()) {
    Say(*log, c, spdlog::level::err, server.status().ToString());
    return early_exit(server.status().code() == Code::kInvalidArgument ? 2 : 1);
  }
  api_server = server->get();
  // The admin listener: probes and scrapers get their own connections, so
  // a flood of the API listener cannot make a pod look dead.
  Result<std::unique_ptr<gateway::HttpServer>> admin =
      std::unique_ptr<gateway::HttpServer>();
  if (!c.admin_http.empty()) {
    gateway::HttpServerOptions ao;
    ao.host = c.admin_host;
    ao.port = c.admin_port;
    ao.io_threads = 1;
    ao.max_connections = kAdminConnections;
    ao.max_header_bytes = c.max_header_bytes;
    ao.max_url_bytes = c.max_url_bytes;
    ao.idle_timeout = std::chrono::milliseconds(c.idle_timeout_ms);
    ao.header_timeout = std::chrono::milliseconds(c.header_timeout_ms);
    ao.body_timeout = std::chrono::milliseconds(c.body_timeout_ms);
    ao.only_paths = {"/healthz", "/readyz", "/metrics"};
    ao.on_refused = ho.on_refused;
    admin = gateway::HttpServer::Start(ao, handler);
    if (!admin.ok()) {
      Say(*log, c, spdlog::level::err,
          "--admin-http: " + admin.status().ToString());
      return early_exit(1);
    }
    admin_server = admin->get();
  }
  // The Redis protocol listener (--resp).
  if (!c.resp.empty()) {
    resp::CommandsOptions co;
    co.auth = api_options.auth;
    co.durability = c.durability;
    co.max_connections = max_connections;
    co.connected_clients = [&resp_server_ptr] {
      auto* s = resp_server_ptr.load();
      return s ? s->active_connections() : size_t{0};
    };
    resp_commands = std::make_unique<resp::Commands>(resp_front, co);
    resp::RespServerOptions ro2;
    ro2.host = c.resp_host;
    ro2.port = c.resp_port;
    ro2.io_threads = c.io_threads;
    ro2.max_connections = max_connections;
    ro2.limits.max_bulk_bytes = std::max<size_t>(
        static_cast<size_t>(c.max_value_bytes), replication::kMaxKeyBytes);
    ro2.limits.max_command_bytes = static_cast<size_t>(c.max_body_bytes);
    ro2.idle_timeout = std::chrono::milliseconds(c.idle_timeout_ms);
    ro2.command_timeout = std::chrono::milliseconds(c.header_timeout_ms);
    ro2.write_timeout = std::chrono::milliseconds(c.body_timeout_ms);
    ro2.on_refused = [cmds = resp_commands.get()](std::string_view reason) {
      cmds->CountRefused(reason);
    };
    auto rs = resp::RespServer::Start(ro2, resp_commands.get());
    if (!rs.ok()) {
      Say(*log, c, spdlog::level::err, "--resp: " + rs.status().ToString());
      return early_exit(rs.status().code() == Code::kInvalidArgument ? 2 : 1);
    }
    resp_server = std::move(rs).value();
    resp_server_ptr = resp_server.get();
    resp_commands->SetPort(resp_server->port());
    // The listener's metrics in /metrics (the API's and the admin's).
  }
  // The RESP listener's and the coordinator's metrics in /metrics (the
  // API's and the admin's).
  if (resp_commands || coordinator) {
    api->SetExtraMetrics(
        [cmds = resp_commands.get(), coord = coordinator.get()] {
          std::string out;
          if (cmds) out += cmds->RenderMetrics();
          if (coord) out += coord->RenderMetrics();
          return out;
        });
  }
  // This node in the region: alone, or a member of the ring in etcd.
  std::unique_ptr<cluster::Membership> membership;
  {
    cluster::ClusterNodeView me;
    me.id = c.node_id;
    me.http =
        AdvertisedHost(c.http_host) + ":" + std::to_string((*server)->port());
    me.internal = c.internal;
    if (coordinator) {
      // The port bound (--internal may name port 0).
      const std::string host = c.internal.substr(0, c.internal.rfind(':'));
      me.internal = AdvertisedHost(host) + ":" +
                    std::to_string(coordinator->internal_port());
    }
    me.zone = c.zone;
    me.vnodes = c.vnodes;
    std::lock_guard<std::mutex> lock(cluster_state.mu);
    cluster_state.self.region = c.region;
    cluster_state.self.node_id = c.node_id;
    cluster_state.self.nodes = {me};
    if (!c.etcd.empty()) {
      cluster_state.self.replicas = c.replicas;
      cluster_state.self.write_quorum = c.write_quorum;
      cluster_state.self.read_quorum = c.read_quorum;
    }
    if (!c.etcd.empty()) {
      cluster::MembershipOptions mo;
      mo.region = c.region;
      mo.self.id = me.id;
      mo.self.vnodes = me.vnodes;
      mo.self.zone = me.zone;
      mo.self.http = me.http;
      mo.self.internal = me.internal;
      mo.etcd.endpoints = c.etcd_endpoints;
      mo.etcd.timeout = std::chrono::milliseconds(c.etcd_timeout_ms);
      mo.lease_ttl = std::chrono::seconds(c.etcd_lease_ttl_s);
      mo.log = [log, &c](bool error, const std::string& message) {
        Say(*log, c, error ? spdlog::level::warn : spdlog::level::info,
            message);
      };
      auto m = cluster::Membership::Start(
          std::move(mo), [log, &c, coord = coordinator.get()](
                             const cluster::Ring& ring, int64_t rev) {
            Say(*log, c, spdlog::level::info,
                "ring revision " + std::to_string(rev) + ": " +
                    std::to_string(ring.nodes().size()) + " nodes");
            // Requests use the new ring from now on.
            if (coord) coord->RingChanged();
          });
      if (!m.ok()) {
        Say(*log, c, spdlog::level::err, "--etcd: " + m.status().ToString());
        return early_exit(2);
      }
      membership = std::move(m).value();
      cluster_state.membership = membership.get();
      if (coordinator) coordinator->SetMembership(membership.get());
      Say(*log, c, spdlog::level::info,
          "region cluster: node " + c.node_id + " in etcd " + c.etcd +
              " (N=" + std::to_string(c.replicas) +
              ", W=" + std::to_string(c.write_quorum) +
              ", R=" + std::to_string(c.read_quorum) + ")");
    }
  }
  const std::string resp_listening =
      resp_server ? c.resp_host + ":" + std::to_string(resp_server->port())
                  : std::string();
  const std::string listening =
      c.http_host + ":" + std::to_string((*server)->port());
  const std::string admin_listening =
      c.admin_http.empty()
          ? std::string()
          : c.admin_host + ":" + std::to_string((*admin)->port());
  const char* scheme = c.tls_cert_file.empty() ? "http://" : "https://";
  Say(*log, c, spdlog::level::info,
      "deltakv-server region " + c.region + " (replica " +
          (*replica)->replica_id().ToString() + ") serving " + scheme +
          listening +
          (admin_listening.empty()
               ? std::string()
               : ", health and metrics on http://" + admin_listening) +
          (resp_listening.empty() ? std::string()
                                  : ", Redis protocol on " + resp_listening) +
          ", data in " + c.data_dir + ", durability " + c.durability);
  if (!c.ready_file.empty()) {
    // Line 1: the API listener; line 2 (with --admin-http): the admin one;
    // then, with --resp, "resp HOST:PORT".
    std::string tmp = c.ready_file + ".tmp";
    {
      std::ofstream f(tmp);
      f << listening << "\n";
      if (!admin_listening.empty()) f << admin_listening << "\n";
      if (!resp_listening.empty()) f << "resp " << resp_listening << "\n";
    }
    std::rename(tmp.c_str(), c.ready_file.c_str());
  }

  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    // Configuration reload: the peer set (file, environment and flags are
    // read again; other options need a restart).
    int code = 0;
    auto fresh = gateway::ParseServerConfig(argc, argv, &code);
    if (!fresh) {
      Say(*log, c, spdlog::level::err,
          "SIGHUP: configuration invalid, tokens and peers unchanged");
      continue;
    }
    // API tokens: the file or list is read again. A reload never opens an
    // API that had tokens (that takes a restart).
    auto fresh_auth = LoadAuth(*fresh);
    if (!fresh_auth.ok()) {
      Say(*log, c, spdlog::level::err,
          "SIGHUP: " + fresh_auth.status().ToString() + "; tokens unchanged");
    } else if (!fresh_auth->enabled() && api_options_enabled) {
      Say(*log, c, spdlog::level::err,
          "SIGHUP: the configuration names no API token; keeping the current "
          "ones (restart to open the API)");
    } else {
      if (resp_commands) resp_commands->SetAuth(*fresh_auth);
      api->SetAuth(std::move(fresh_auth).value());
      Say(*log, c, spdlog::level::info, "SIGHUP: API tokens reloaded");
    }
    if (!streams) {
      Say(*log, c, spdlog::level::warn,
          "SIGHUP: replication is off (no --repl); nothing to reload");
      continue;
    }
    std::vector<replication::PeerSpec> peers;
    for (const auto& p : fresh->peer_list)
      peers.push_back({p.region, p.host, p.port});
    streams->SetPeers(std::move(peers));
    Say(*log, c, spdlog::level::info,
        "SIGHUP: peers reloaded (" + std::to_string(fresh->peer_list.size()) +
            ")");
  }
  Say(*log, c, spdlog::level::info,
      std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
          ": finishing in-flight requests");
  api->SetReady(false);
  (*server)->Shutdown(std::chrono::milliseconds(c.shutdown_grace_ms));
  api->StopReads();  // before the replica closes under them
  api_server = nullptr;
  if (resp_server) {
    resp_server->Shutdown(std::chrono::milliseconds(c.shutdown_grace_ms));
  }
  // The admin listener answered /readyz (503) through the drain; it stops
  // before what /metrics reads goes.
  if (*admin) (*admin)->Shutdown(std::chrono::milliseconds(0));
  admin_server = nullptr;
  // Leaves etcd (its lease revoked: the others see it down at once).
  {
    std::lock_guard<std::mutex> lock(cluster_state.mu);
    cluster_state.membership = nullptr;
  }
  if (coordinator) coordinator->SetMembership(nullptr);
  membership.reset();
  coordinator.reset();  // before the replica and the services it calls
  if (streams) streams->Stop();
  replica->reset();  // drains queued batches, syncs, closes LMDB
  service.reset();   // answers the waits still parked
  http_service.reset();
  api.reset();
  server->reset();
  resp_server_ptr = nullptr;
  resp_server.reset();
  resp_commands.reset();
  admin->reset();
  Say(*log, c, spdlog::level::info, "stopped");
  return 0;
}
