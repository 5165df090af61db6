// deltakv-server: one region. Run with --help for the options.
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "gateway/api.h"
#include "gateway/config.h"
#include "gateway/http_server.h"
#include "replication/replica.h"

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

  auto log = MakeLogger(c);
  if (!c.repl.empty() || !c.peers.empty()) {
    Say(*log, c, spdlog::level::warn,
        "geo-replication (--repl, --peer) is not part of this build yet: "
        "running as a single region");
  }

  gateway::ApiOptions api_options;
  api_options.limits.max_value_bytes = c.max_value_bytes;
  api_options.limits.max_json_depth = c.max_json_depth;
  api_options.access_log = c.access_log;
  api_options.json_log = c.log_format == "json";
  if (!c.token_file.empty()) {
    auto auth = gateway::Auth::FromFile(c.token_file);
    if (!auth.ok()) {
      Say(*log, c, spdlog::level::err, auth.status().ToString());
      return 2;
    }
    api_options.auth = std::move(auth).value();
  } else if (!c.tokens.empty()) {
    api_options.auth = gateway::Auth::FromList(c.tokens);
  }
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
  auto replica = replication::Replica::Open(ro);
  if (!replica.ok()) {
    Say(*log, c, spdlog::level::err,
        "cannot open " + c.data_dir + ": " + replica.status().ToString());
    return 1;
  }

  auto api = std::make_unique<gateway::Api>(replica->get(), api_options, log);
  gateway::Api* api_ptr = api.get();
  (*replica)->SetCommitListener([api_ptr](uint64_t) { api_ptr->OnCommit(); });

  gateway::HttpServerOptions ho;
  ho.host = c.http_host;
  ho.port = c.http_port;
  ho.io_threads = c.io_threads;
  ho.max_body_bytes = c.max_body_bytes;
  ho.max_header_bytes = c.max_header_bytes;
  ho.max_url_bytes = c.max_url_bytes;
  ho.max_connections = c.max_connections;
  ho.idle_timeout = std::chrono::milliseconds(c.idle_timeout_ms);
  ho.header_timeout = std::chrono::milliseconds(c.header_timeout_ms);
  ho.body_timeout = std::chrono::milliseconds(c.body_timeout_ms);
  ho.on_refused = [api_ptr](int status, const std::string&) {
    api_ptr->metrics().CountRefused(status);
  };
  auto server = gateway::HttpServer::Start(
      ho, [api_ptr](gateway::HttpRequest req, gateway::Responder respond) {
        api_ptr->Handle(std::move(req), std::move(respond));
      });
  if (!server.ok()) {
    Say(*log, c, spdlog::level::err, server.status().ToString());
    return 1;
  }
  const std::string listening =
      c.http_host + ":" + std::to_string((*server)->port());
  Say(*log, c, spdlog::level::info,
      "deltakv-server region " + c.region + " (replica " +
          (*replica)->replica_id().ToString() + ") serving http://" +
          listening + ", data in " + c.data_dir + ", durability " +
          c.durability);
  if (!c.ready_file.empty()) {
    std::string tmp = c.ready_file + ".tmp";
    {
      std::ofstream f(tmp);
      f << listening << "\n";
    }
    std::rename(tmp.c_str(), c.ready_file.c_str());
  }

  int sig = 0;
  sigwait(&signals, &sig);
  Say(*log, c, spdlog::level::info,
      std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
          ": finishing in-flight requests");
  api->SetReady(false);
  (*server)->Shutdown(std::chrono::milliseconds(c.shutdown_grace_ms));
  replica->reset();  // drains queued batches, syncs, closes LMDB
  api.reset();
  server->reset();
  Say(*log, c, spdlog::level::info, "stopped");
  return 0;
}
