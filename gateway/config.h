// ServerConfig: every option of deltakv-server, from a TOML file
// (--config), DELTAKV_* environment variables and flags; flags win over the
// environment, which wins over the file. Parsing is CLI11's.
//
// Thread-safety: a value.
#ifndef DELTAKV_GATEWAY_CONFIG_H_
#define DELTAKV_GATEWAY_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace deltakv::gateway {

struct ServerConfig {
  std::string region = "local";
  std::string data_dir = "./data";
  std::string http = "127.0.0.1:8080";
  // A second listener for /healthz, /readyz and /metrics only (empty: off),
  // so probes answer whatever load the API listener is under.
  std::string admin_http;
  // TLS for the API listener (PEM files); both or neither. With the client
  // CA, clients must present a certificate it signed (mutual TLS).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // HOST:PORT of the Redis protocol (RESP) listener (empty: off).
  std::string resp;
  std::string repl;                // HOST:PORT of the PUB socket
  std::vector<std::string> peers;  // NAME=HOST:PORT
  std::string curve_secret_key_file;
  std::string curve_peer_keys_dir;
  bool insecure_replication = false;
  uint32_t repl_batch_interval_ms = 2;
  uint32_t repl_heartbeat_ms = 1000;
  int repl_hwm = 10000;
  uint64_t max_log_entries = 1000000;
  double repl_debug_drop_rate = 0;  // fault injection, tests only
  uint64_t repl_snapshot_chunk_bytes = 1 << 20;
  uint32_t repl_transfer_timeout_ms = 5000;
  std::string token_file;
  std::string tokens;  // comma-separated (DELTAKV_TOKENS)
  uint64_t max_parked_requests = 10000;
  // Per-key caps on local writes, the answer bound of reads, and the read
  // threads (docs/api.md, "Limits").
  uint64_t max_set_members = 1000000;
  uint64_t max_list_length = 1000000;
  uint64_t max_key_bytes = 64ull << 20;      // bytes a key holds, not its name
  uint64_t list_cache_bytes = 256ull << 20;  // decoded lists kept (estimate)
  uint64_t max_response_bytes = 16ull << 20;
  int read_threads = 4;
  uint64_t max_queued_reads = 1024;
  bool tokens_given = false;  // --tokens / DELTAKV_TOKENS set, even to ""

  std::string durability = "sync";
  uint32_t sync_interval_ms = 100;
  uint64_t initial_map_bytes = 64ull << 20;
  uint64_t max_map_bytes = 64ull << 30;
  uint64_t max_value_bytes = 64 * 1024;
  uint64_t max_body_bytes = 1 << 20;
  uint64_t max_buffered_body_bytes = 256ull << 20;  // all connections
  uint64_t max_header_bytes = 16 << 10;
  uint64_t max_url_bytes = 8 << 10;
  uint32_t max_json_depth = 64;
  uint64_t max_connections = 10000;
  int io_threads = 2;
  uint32_t idle_timeout_ms = 60000;
  uint32_t header_timeout_ms = 10000;
  uint32_t body_timeout_ms = 30000;
  uint32_t shutdown_grace_ms = 10000;
  std::string log_format = "text";
  std::string log_level = "info";
  bool access_log = true;
  std::string ready_file;  // written with "host:port" once serving
  std::string restore;     // install this backup into data_dir, then exit

  // The region cluster (docs/cluster.md). No etcd: a one-node region.
  std::string etcd;           // comma-separated http://HOST:PORT endpoints
  std::string node_id;        // "": the host name
  std::string internal;       // HOST:PORT of the node-to-node listener
  uint32_t replicas = 3;      // N
  uint32_t write_quorum = 0;  // default W (0: a majority of N)
  uint32_t read_quorum = 0;   // default R (0: a majority of N)
  uint32_t vnodes = 512;      // this node's weight on the ring
  std::string zone;
  uint32_t etcd_lease_ttl_s = 10;
  uint32_t etcd_timeout_ms = 3000;
  uint32_t node_timeout_ms = 2000;        // bound of a call to another node
  uint64_t max_hint_bytes = 64ull << 20;  // hints kept per node down

  // Derived by Parse.
  std::string http_host;
  uint16_t http_port = 0;
  std::string admin_host;
  uint16_t admin_port = 0;
  std::string resp_host;
  uint16_t resp_port = 0;
  std::string repl_host;
  uint16_t repl_port = 0;
  struct Peer {
    std::string region, host;
    uint16_t port = 0;
  };
  std::vector<Peer> peer_list;
  std::vector<std::string> etcd_endpoints;
};

// Parses argv. On success returns the config; otherwise prints the help or
// the error (naming the option) and returns the exit code in *exit_code (0
// for --help, 2 for a usage error).
std::optional<ServerConfig> ParseServerConfig(int argc, char** argv,
                                              int* exit_code);

}  // namespace deltakv::gateway

#endif  // DELTAKV_GATEWAY_CONFIG_H_
