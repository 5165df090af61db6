#include "gateway/config.h"

#include <stdlib.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <CLI/CLI.hpp>
#include <iostream>
#include <map>
#include <set>

#include "cluster/cluster_view.h"
#include "cluster/ring.h"
#include "core/ids.h"

namespace deltakv::gateway {

namespace {

bool SplitHostPort(const std::string& s, std::string* host, uint16_t* port) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = s.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  std::string p = s.substr(colon + 1);
  if (p.empty() || p.size() > 5) return false;
  unsigned v = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return false;
  *port = static_cast<uint16_t>(v);
  return true;
}

// The environment variable of an option name ("data-dir" ->
// "DELTAKV_DATA_DIR").
std::string EnvName(std::string key) {
  for (char& c : key) {
    c = c == '-'
            ? '_'
            : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return "DELTAKV_" + key;
}

// Variables this process set from a configuration file (so that a reload
// re-reads the file instead of seeing its own earlier values).
std::map<std::string, std::string>& FromFile() {
  static std::map<std::string, std::string> names;
  return names;
}

// Applies a TOML file underneath the environment: every key becomes its
// DELTAKV_* variable unless the environment already sets it, so flags win
// over the environment, which wins over the file. Returns an error message
// naming the key or the parse error.
void ClearFromFile() {
  for (const auto& [name, value] : FromFile()) {
    const char* now = getenv(name.c_str());
    if (now != nullptr && value == now) unsetenv(name.c_str());
  }
  FromFile().clear();
}

std::string ApplyConfigFile(const std::string& path, const CLI::App& app) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << "--config " << path << ": " << e.description() << " (line "
        << e.source().begin.line << ")";
    return msg.str();
  }
  for (const auto& [k, node] : table) {
    std::string key(k.str());
    const CLI::Option* opt = nullptr;
    try {
      opt = app.get_option("--" + key);
    } catch (const CLI::Error&) {
      opt = nullptr;
    }
    if (opt == nullptr || key == "config") {
      return "--config " + path + ": unknown option '" + key + "'";
    }
    std::string value;
    auto scalar = [](const toml::node& n, std::string* out) {
      if (auto v = n.value<std::string>()) {
        *out = *v;
      } else if (auto b = n.value<bool>(); b && n.is_boolean()) {
        *out = *b ? "true" : "false";
      } else if (auto i = n.value<int64_t>(); i && n.is_integer()) {
        *out = std::to_string(*i);
      } else if (auto d = n.value<double>(); d && n.is_floating_point()) {
        *out = std::to_string(*d);
      } else {
        return false;
      }
      return true;
    };
    if (const toml::array* arr = node.as_array()) {
      for (const auto& item : *arr) {
        std::string one;
        if (!scalar(item, &one)) {
          return "--config " + path + ": '" + key + "' must hold scalars";
        }
        value += (value.empty() ? "" : ",") + one;
      }
    } else if (!scalar(node, &value)) {
      return "--config " + path + ": '" + key + "' has an unsupported type";
    }
    const std::string env =
        opt->get_envname().empty() ? EnvName(key) : opt->get_envname();
    if (getenv(env.c_str()) == nullptr) {
      setenv(env.c_str(), value.c_str(), 1);
      FromFile()[env] = value;
    }
  }
  return "";
}

// Checks and completes the region cluster's options; an error message or
// "".
std::string ParseCluster(ServerConfig* c) {
  if (c->node_id.empty()) {
    char host[256] = {0};
    if (gethostname(host, sizeof host - 1) == 0) c->node_id = host;
    if (!cluster::Ring::ValidNodeId(c->node_id)) c->node_id = "node";
  }
  if (!cluster::Ring::ValidNodeId(c->node_id)) {
    return "--node-id: 1-64 bytes of [A-Za-z0-9._-], got '" + c->node_id + "'";
  }
  if (!c->internal.empty()) {
    std::string host;
    uint16_t port = 0;
    if (!SplitHostPort(c->internal, &host, &port)) {
      return "--internal: expected HOST:PORT, got '" + c->internal + "'";
    }
  }
  if (!c->zone.empty() && !cluster::Ring::ValidNodeId(c->zone)) {
    return "--zone: 1-64 bytes of [A-Za-z0-9._-], got '" + c->zone + "'";
  }
  const uint32_t majority = c->replicas / 2 + 1;
  if (c->write_quorum == 0) c->write_quorum = majority;
  if (c->read_quorum == 0) c->read_quorum = majority;
  if (c->write_quorum > c->replicas) {
    return "--write-quorum " + std::to_string(c->write_quorum) +
           " exceeds --replicas " + std::to_string(c->replicas);
  }
  if (c->read_quorum > c->replicas) {
    return "--read-quorum " + std::to_string(c->read_quorum) +
           " exceeds --replicas " + std::to_string(c->replicas);
  }
  if (c->etcd.empty()) return "";
  auto endpoints = cluster::ParseEtcdEndpoints(c->etcd);
  if (!endpoints.ok()) return "--etcd: " + endpoints.status().message();
  c->etcd_endpoints = std::move(endpoints).value();
  if (c->internal.empty()) {
    return "--etcd needs --internal HOST:PORT (where the other nodes of the "
           "region reach this one)";
  }
  if (!c->insecure_replication && c->curve_secret_key_file.empty()) {
    return "--etcd needs --curve-secret-key-file (the region's key pair, "
           "which every node of the region holds) or --insecure-replication "
           "for development";
  }
  if (!c->repl.empty() || !c->peer_list.empty()) {
    return "--etcd with --repl/--peer: replication between regions whose "
           "regions are clusters is not built yet; run a region cluster "
           "without --repl, or one-node regions with it";
  }
  return "";
}

}  // namespace

std::optional<ServerConfig> ParseServerConfig(int argc, char** argv,
                                              int* exit_code) {
  ServerConfig c;
  CLI::App app{
      "deltakv-server: one region of deltakv, a geo-replicated key-value "
      "store of delta-state CRDTs.\nOptions come from --config FILE (TOML, "
      "keys named like the flags without dashes, e.g. data-dir = \"./d\"), "
      "DELTAKV_* environment variables and flags; flags win over the "
      "environment, which wins over the file."};
  app.option_defaults()->always_capture_default();
  std::string config_file;
  app.add_option("--config", config_file,
                 "TOML configuration file (keys named like the flags)")
      ->envname("DELTAKV_CONFIG");

  auto* region = app.add_option("--region", c.region, "this region's id")
                     ->envname("DELTAKV_REGION");
  app.add_option("--data-dir", c.data_dir, "LMDB data folder")
      ->envname("DELTAKV_DATA_DIR");
  app.add_option("--http", c.http, "HTTP listen address HOST:PORT")
      ->envname("DELTAKV_HTTP");
  app.add_option("--repl", c.repl,
                 "replication PUB address HOST:PORT (ROUTER on PORT+1)")
      ->envname("DELTAKV_REPL");
  app.add_option("--peer", c.peers, "peer region NAME=HOST:PORT (repeatable)")
      ->envname("DELTAKV_PEERS")
      ->delimiter(',');
  app.add_option("--curve-secret-key-file", c.curve_secret_key_file,
                 "CurveZMQ secret key of this region")
      ->envname("DELTAKV_CURVE_SECRET_KEY_FILE");
  app.add_option("--curve-peer-keys-dir", c.curve_peer_keys_dir,
                 "folder of allowed peer public keys")
      ->envname("DELTAKV_CURVE_PEER_KEYS_DIR");
  app.add_flag("--insecure-replication", c.insecure_replication,
               "replicate in plaintext (development only)")
      ->envname("DELTAKV_INSECURE_REPLICATION");
  app.add_option("--repl-batch-interval-ms", c.repl_batch_interval_ms,
                 "a replication batch closes after this long")
      ->envname("DELTAKV_REPL_BATCH_INTERVAL_MS")
      ->check(CLI::Range(1u, 10000u));
  app.add_option("--repl-heartbeat-ms", c.repl_heartbeat_ms,
                 "heartbeat interval of replication links")
      ->envname("DELTAKV_REPL_HEARTBEAT_MS")
      ->check(CLI::Range(10u, 60000u));
  app.add_option("--repl-hwm", c.repl_hwm,
                 "ZeroMQ high-water mark of replication sockets")
      ->envname("DELTAKV_REPL_HWM")
      ->check(CLI::Range(1, 10000000));
  app.add_option("--max-log-entries", c.max_log_entries,
                 "delta log bound (older entries need a state transfer)")
      ->envname("DELTAKV_MAX_LOG_ENTRIES")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  app.add_option("--repl-snapshot-chunk-bytes", c.repl_snapshot_chunk_bytes,
                 "bytes of state per state-transfer chunk (larger states "
                 "travel in fragments)")
      ->envname("DELTAKV_REPL_SNAPSHOT_CHUNK_BYTES")
      ->check(CLI::Range(uint64_t{1024}, uint64_t{32} << 20));
  app.add_option("--repl-transfer-timeout-ms", c.repl_transfer_timeout_ms,
                 "first deadline of a state-transfer request (it doubles on "
                 "each retry, up to 60 s)")
      ->envname("DELTAKV_REPL_TRANSFER_TIMEOUT_MS")
      ->check(CLI::Range(100u, 600000u));
  app.add_option("--repl-debug-drop-rate", c.repl_debug_drop_rate,
                 "testing only: drop this fraction of received frames")
      ->envname("DELTAKV_REPL_DEBUG_DROP_RATE")
      ->check(CLI::Range(0.0, 0.99));
  app.add_option("--max-parked-requests", c.max_parked_requests,
                 "requests that may wait at once on ?after= tokens or "
                 "?wait_regions (503 beyond)")
      ->envname("DELTAKV_MAX_PARKED_REQUESTS")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 24));
  app.add_option("--max-set-members", c.max_set_members,
                 "members one set may hold: a local add beyond it is 413 "
                 "(deltas from other regions are always applied)")
      ->envname("DELTAKV_MAX_SET_MEMBERS")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  app.add_option("--max-list-length", c.max_list_length,
                 "values one list may hold: a local insert or push beyond it "
                 "is 413 (deltas from other regions are always applied)")
      ->envname("DELTAKV_MAX_LIST_LENGTH")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  app.add_option("--list-cache-bytes", c.list_cache_bytes,
                 "memory (estimated) for the lists the writer keeps decoded "
                 "between edits; the least recently used go beyond")
      ->envname("DELTAKV_LIST_CACHE_BYTES")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 40));
  app.add_option("--max-key-bytes", c.max_key_bytes,
                 "bytes one key may hold (a set's members, a list's stored "
                 "state, a register's value; not the key's name): a local "
                 "write beyond it is 413")
      ->envname("DELTAKV_MAX_KEY_BYTES")
      ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 40));
  app.add_option("--max-response-bytes", c.max_response_bytes,
                 "largest answer to a read: set, list and key pages are cut "
                 "to it (continue from the cursor or offset)")
      ->envname("DELTAKV_MAX_RESPONSE_BYTES")
      ->check(CLI::Range(uint64_t{64} << 10, uint64_t{1} << 32));
  app.add_option("--read-threads", c.read_threads,
                 "threads running reads (off the HTTP I/O threads)")
      ->envname("DELTAKV_READ_THREADS")
      ->check(CLI::Range(1, 256));
  app.add_option("--max-queued-reads", c.max_queued_reads,
                 "reads that may wait for a read thread (503 beyond)")
      ->envname("DELTAKV_MAX_QUEUED_READS")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 20));
  app.add_option("--token-file", c.token_file,
                 "file of API bearer tokens, one per line")
      ->envname("DELTAKV_TOKEN_FILE");
  CLI::Option* tokens_option =
      app.add_option("--tokens", c.tokens,
                     "API bearer tokens, comma-separated (each at least 16 "
                     "bytes)")
          ->envname("DELTAKV_TOKENS");
  app.add_option("--durability", c.durability,
                 "sync: fsync before acknowledging; periodic: fsync every "
                 "--sync-interval-ms")
      ->envname("DELTAKV_DURABILITY")
      ->check(CLI::IsMember({"sync", "periodic"}));
  app.add_option("--sync-interval-ms", c.sync_interval_ms,
                 "fsync interval in periodic durability")
      ->envname("DELTAKV_SYNC_INTERVAL_MS")
      ->check(CLI::Range(1u, 60000u));
  app.add_option("--initial-map-bytes", c.initial_map_bytes,
                 "first LMDB map size")
      ->envname("DELTAKV_INITIAL_MAP_BYTES")
      ->check(CLI::Range(uint64_t{1} << 20, uint64_t{1} << 46));
  app.add_option("--max-map-bytes", c.max_map_bytes,
                 "LMDB map maximum: writes fail 503 beyond it")
      ->envname("DELTAKV_MAX_MAP_BYTES")
      ->check(CLI::Range(uint64_t{1} << 20, uint64_t{1} << 46));
  app.add_option("--max-value-bytes", c.max_value_bytes,
                 "largest register value or member")
      ->envname("DELTAKV_MAX_VALUE_BYTES")
      ->check(CLI::Range(uint64_t{1}, uint64_t{64} << 20));
  app.add_option("--max-body-bytes", c.max_body_bytes,
                 "largest HTTP request body")
      ->envname("DELTAKV_MAX_BODY_BYTES")
      ->check(CLI::Range(uint64_t{1024}, uint64_t{256} << 20));
  app.add_option("--max-buffered-body-bytes", c.max_buffered_body_bytes,
                 "request body bytes buffered across all connections: 503 "
                 "beyond it")
      ->envname("DELTAKV_MAX_BUFFERED_BODY_BYTES")
      ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 40));
  app.add_option("--max-header-bytes", c.max_header_bytes,
                 "largest HTTP request header block")
      ->envname("DELTAKV_MAX_HEADER_BYTES")
      ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 20));
  app.add_option("--max-url-bytes", c.max_url_bytes, "longest request URL")
      ->envname("DELTAKV_MAX_URL_BYTES")
      ->check(CLI::Range(uint64_t{256}, uint64_t{1} << 20));
  app.add_option("--max-json-depth", c.max_json_depth,
                 "deepest JSON nesting accepted")
      ->envname("DELTAKV_MAX_JSON_DEPTH")
      ->check(CLI::Range(1u, 1000u));
  app.add_option("--admin-http", c.admin_http,
                 "HOST:PORT of a second listener serving only /healthz, "
                 "/readyz and /metrics (for probes and scrapers)")
      ->envname("DELTAKV_ADMIN_HTTP");
  app.add_option("--resp", c.resp,
                 "HOST:PORT of a Redis protocol (RESP2/RESP3) listener on the "
                 "same data (off unless given)")
      ->envname("DELTAKV_RESP");
  app.add_option("--tls-cert-file", c.tls_cert_file,
                 "PEM certificate chain: the API listener speaks HTTPS")
      ->envname("DELTAKV_TLS_CERT_FILE");
  app.add_option("--tls-key-file", c.tls_key_file,
                 "PEM private key of --tls-cert-file")
      ->envname("DELTAKV_TLS_KEY_FILE");
  app.add_option("--tls-client-ca-file", c.tls_client_ca_file,
                 "PEM CA certificates: clients must present a certificate "
                 "one of them signed (mutual TLS)")
      ->envname("DELTAKV_TLS_CLIENT_CA_FILE");
  app.add_option("--max-connections", c.max_connections,
                 "concurrent HTTP connections")
      ->envname("DELTAKV_MAX_CONNECTIONS")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1000000}));
  app.add_option("--io-threads", c.io_threads, "HTTP I/O threads")
      ->envname("DELTAKV_IO_THREADS")
      ->check(CLI::Range(1, 256));
  app.add_option("--idle-timeout-ms", c.idle_timeout_ms,
                 "close keep-alive connections idle this long")
      ->envname("DELTAKV_IDLE_TIMEOUT_MS")
      ->check(CLI::Range(1u, 3600000u));
  app.add_option("--header-timeout-ms", c.header_timeout_ms,
                 "time allowed to send the request headers")
      ->envname("DELTAKV_HEADER_TIMEOUT_MS")
      ->check(CLI::Range(1u, 3600000u));
  app.add_option("--body-timeout-ms", c.body_timeout_ms,
                 "time allowed to send the body (and to read the response)")
      ->envname("DELTAKV_BODY_TIMEOUT_MS")
      ->check(CLI::Range(1u, 3600000u));
  app.add_option("--shutdown-grace-ms", c.shutdown_grace_ms,
                 "on SIGTERM, time allowed for in-flight requests")
      ->envname("DELTAKV_SHUTDOWN_GRACE_MS")
      ->check(CLI::Range(0u, 3600000u));
  app.add_option("--log-format", c.log_format, "text or json (one per line)")
      ->envname("DELTAKV_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", c.log_level, "trace|debug|info|warn|error")
      ->envname("DELTAKV_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_option("--access-log", c.access_log, "one log line per request")
      ->envname("DELTAKV_ACCESS_LOG");
  app.add_option("--ready-file", c.ready_file,
                 "write HOST:PORT to this file once serving (for scripts; "
                 "further lines: the admin listener, and \"resp HOST:PORT\" "
                 "with --resp)")
      ->envname("DELTAKV_READY_FILE");
  app.add_option("--restore", c.restore,
                 "install this backup (GET /v1/backup, `deltakv backup`) as "
                 "the store of --data-dir, which must hold none, under a new "
                 "incarnation of --region, then exit; start the server as "
                 "usual afterwards")
      ->check(CLI::ExistingFile);

  app.add_option("--etcd", c.etcd,
                 "etcd endpoints of the region, http://HOST:PORT,... (off: a "
                 "one-node region)")
      ->envname("DELTAKV_ETCD");
  app.add_option("--node-id", c.node_id,
                 "this node's id in the region, 1-64 bytes of "
                 "[A-Za-z0-9._-] (default: the host name)")
      ->envname("DELTAKV_NODE_ID");
  app.add_option("--internal", c.internal,
                 "HOST:PORT of this node's node-to-node listener, as the "
                 "other nodes reach it")
      ->envname("DELTAKV_INTERNAL");
  app.add_option("--replicas", c.replicas,
                 "N: replicas of each key in the region (capped by the nodes "
                 "up)")
      ->envname("DELTAKV_REPLICAS")
      ->check(CLI::Range(1u, 64u));
  app.add_option("--write-quorum", c.write_quorum,
                 "W: replicas that must have a write before it is "
                 "acknowledged (default: a majority of N)")
      ->envname("DELTAKV_WRITE_QUORUM")
      ->check(CLI::Range(1u, 64u));
  app.add_option("--read-quorum", c.read_quorum,
                 "R: replicas a read asks (default: a majority of N)")
      ->envname("DELTAKV_READ_QUORUM")
      ->check(CLI::Range(1u, 64u));
  app.add_option("--vnodes", c.vnodes,
                 "this node's weight: its virtual nodes on the ring")
      ->envname("DELTAKV_VNODES")
      ->check(CLI::Range(1u, 4096u));
  app.add_option("--zone", c.zone,
                 "this node's zone: a key's replicas go to distinct zones "
                 "first")
      ->envname("DELTAKV_ZONE");
  app.add_option("--etcd-lease-ttl", c.etcd_lease_ttl_s,
                 "seconds after which a node that stopped renewing its etcd "
                 "lease is seen down")
      ->envname("DELTAKV_ETCD_LEASE_TTL")
      ->check(CLI::Range(2u, 3600u));
  app.add_option("--etcd-timeout-ms", c.etcd_timeout_ms,
                 "bound of each call to etcd (all endpoints tried)")
      ->envname("DELTAKV_ETCD_TIMEOUT_MS")
      ->check(CLI::Range(100u, 600000u));
  app.add_option("--node-timeout-ms", c.node_timeout_ms,
                 "bound of each call to another node of the region (a "
                 "replica that does not answer in time counts as missing)")
      ->envname("DELTAKV_NODE_TIMEOUT_MS")
      ->check(CLI::Range(50u, 60000u));
  app.add_option("--max-hint-bytes", c.max_hint_bytes,
                 "deltas kept in memory for one replica that is down, in "
                 "bytes (the oldest go beyond)")
      ->envname("DELTAKV_MAX_HINT_BYTES")
      ->check(CLI::Range(uint64_t{1} << 16, uint64_t{1} << 40));

  // The file goes underneath the environment, then flags and environment
  // are parsed: flags > environment > file > defaults.
  ClearFromFile();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) config_file = argv[i + 1];
    if (a.rfind("--config=", 0) == 0) config_file = a.substr(9);
  }
  if (config_file.empty() && getenv("DELTAKV_CONFIG") != nullptr) {
    config_file = getenv("DELTAKV_CONFIG");
  }
  if (!config_file.empty()) {
    std::string error = ApplyConfigFile(config_file, app);
    if (!error.empty()) {
      std::cerr << "deltakv-server: " << error << "\n";
      *exit_code = 2;
      return std::nullopt;
    }
  }
  try {
    app.parse(argc, argv);
    c.tokens_given = tokens_option->count() > 0;
  } catch (const CLI::CallForHelp& e) {
    *exit_code = app.exit(e);
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    std::cerr << "deltakv-server: " << e.what() << "\n"
              << "Run with --help for the options.\n";
    *exit_code = 2;
    return std::nullopt;
  }
  auto usage = [&](const std::string& msg) {
    std::cerr << "deltakv-server: " << msg << "\n";
    *exit_code = 2;
    return std::nullopt;
  };
  if (!RegionId::Parse(c.region).ok()) {
    return usage("--region: " + RegionId::Parse(c.region).status().message());
  }
  (void)region;
  if (!SplitHostPort(c.http, &c.http_host, &c.http_port)) {
    return usage("--http: expected HOST:PORT, got '" + c.http + "'");
  }
  if (!c.admin_http.empty() &&
      !SplitHostPort(c.admin_http, &c.admin_host, &c.admin_port)) {
    return usage("--admin-http: expected HOST:PORT, got '" + c.admin_http +
                 "'");
  }
  if (!c.resp.empty() && !SplitHostPort(c.resp, &c.resp_host, &c.resp_port)) {
    return usage("--resp: expected HOST:PORT, got '" + c.resp + "'");
  }
  if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
    return usage("--tls-cert-file and --tls-key-file go together");
  }
  if (!c.tls_client_ca_file.empty() && c.tls_cert_file.empty()) {
    return usage(
        "--tls-client-ca-file needs --tls-cert-file and --tls-key-file");
  }
  for (const std::string& p : c.peers) {
    size_t eq = p.find('=');
    ServerConfig::Peer peer;
    if (eq == std::string::npos || !RegionId::Parse(p.substr(0, eq)).ok() ||
        !SplitHostPort(p.substr(eq + 1), &peer.host, &peer.port) ||
        peer.port == 65535) {
      return usage("--peer: expected NAME=HOST:PORT, got '" + p + "'");
    }
    peer.region = p.substr(0, eq);
    if (peer.region == c.region) {
      return usage("--peer: " + peer.region + " is this region");
    }
    for (const auto& other : c.peer_list) {
      if (other.region == peer.region) {
        return usage("--peer: " + peer.region + " given twice");
      }
    }
    c.peer_list.push_back(peer);
  }
  if (!c.repl.empty()) {
    if (!SplitHostPort(c.repl, &c.repl_host, &c.repl_port) ||
        c.repl_port == 65535) {
      return usage("--repl: expected HOST:PORT (PORT+1 is used too), got '" +
                   c.repl + "'");
    }
    if (!c.insecure_replication &&
        (c.curve_secret_key_file.empty() || c.curve_peer_keys_dir.empty())) {
      return usage(
          "--repl needs --curve-secret-key-file and --curve-peer-keys-dir "
          "(or --insecure-replication for development)");
    }
  } else if (!c.peer_list.empty()) {
    return usage("--peer needs --repl (this region's replication address)");
  }
  if (c.initial_map_bytes > c.max_map_bytes) {
    return usage("--initial-map-bytes is larger than --max-map-bytes");
  }
  if (c.max_value_bytes + 1024 > c.max_body_bytes) {
    return usage("--max-body-bytes must exceed --max-value-bytes by 1 KiB");
  }
  if (c.max_response_bytes < c.max_value_bytes + (64 << 10)) {
    return usage(
        "--max-response-bytes must exceed --max-value-bytes by 64 KiB");
  }
  if (c.max_buffered_body_bytes < c.max_body_bytes) {
    return usage("--max-buffered-body-bytes must be at least --max-body-bytes");
  }
  if (const std::string e = ParseCluster(&c); !e.empty()) return usage(e);
  return c;
}

}  // namespace deltakv::gateway
