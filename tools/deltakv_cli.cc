// deltakv: the command-line client of a deltakv-server.
//   deltakv [--url URL] [--token T] [--ca-file F] [--cert-file F --key-file F]
//           [--json] COMMAND ...
// Exit status: 0 success, 1 server or connection error (message shown),
// 2 usage error.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "client/http_client.h"
#include "core/percent.h"
#include "replication/curve.h"
#include "tools/bulk.h"

using nlohmann::json;

namespace {

std::string Enc(std::string_view in) { return deltakv::PercentEncode(in); }

struct Context {
  std::unique_ptr<deltakv::HttpClient> http;
  bool json_out = false;
};

// Sends a request; on success stores the parsed answer in *out. Returns the
// process exit code.
int Call(Context& ctx, const char* method, const std::string& target,
         const json* body, json* out) {
  std::string payload = body ? body->dump() : std::string();
  auto r = ctx.http->Request(method, target, payload);
  if (!r.ok()) {
    std::cerr << "deltakv: " << r.status().ToString() << "\n";
    return 1;
  }
  json j = json::parse(r->body, nullptr, false);
  if (r->status != 200) {
    if (ctx.json_out) {
      std::cout << r->body << "\n";
    } else if (!j.is_discarded() && j.contains("error")) {
      std::cerr << "deltakv: " << j["error"].value("code", "error") << ": "
                << j["error"].value("message", "") << "\n";
    } else {
      std::cerr << "deltakv: HTTP " << r->status << "\n";
    }
    return 1;
  }
  if (j.is_discarded()) {
    std::cerr << "deltakv: the server's answer is not JSON\n";
    return 1;
  }
  *out = std::move(j);
  return 0;
}

// `deltakv backup --out FILE`: the server's consistent copy, streamed into
// FILE.partial and renamed once complete (FILE is never half written).
int Backup(Context& ctx, const std::string& file, bool quiet) {
  const std::string partial = file + ".partial";
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    std::cerr << "deltakv: cannot write " << partial << ": "
              << std::strerror(errno) << "\n";
    return 1;
  }
  const bool bar = !quiet && ::isatty(2) == 1;
  auto last = std::chrono::steady_clock::now();
  auto sink = [fd, &partial](std::string_view piece) {
    while (!piece.empty()) {
      const ssize_t n = ::write(fd, piece.data(), piece.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return deltakv::Status::IOError("writing " + partial + ": " +
                                        std::strerror(errno));
      }
      piece.remove_prefix(static_cast<size_t>(n));
    }
    return deltakv::Status::OK();
  };
  auto progress = [&](uint64_t done, uint64_t total) {
    if (!bar) return;
    const auto now = std::chrono::steady_clock::now();
    if (done != total && now - last < std::chrono::milliseconds(200)) return;
    last = now;
    if (total > 0) {
      std::fprintf(
          stderr, "\rbackup: %.1f of %.1f MiB (%3.0f%%)",
          static_cast<double>(done) / (1 << 20),
          static_cast<double>(total) / (1 << 20),
          100.0 * static_cast<double>(done) / static_cast<double>(total));
    } else {
      std::fprintf(stderr, "\rbackup: %.1f MiB",
                   static_cast<double>(done) / (1 << 20));
    }
  };
  if (bar) std::fprintf(stderr, "backup: the server is copying its store...");
  // The server copies its whole store before the first byte comes.
  auto r =
      ctx.http->Download("/v1/backup", sink, progress, std::chrono::hours(2));
  if (bar) std::fprintf(stderr, "\n");
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  auto fail = [&](const std::string& why) {
    ::unlink(partial.c_str());
    std::cerr << "deltakv: " << why << "\n";
    return 1;
  };
  if (!r.ok()) return fail(r.status().ToString());
  if (r->status != 200) {
    json j = json::parse(r->body, nullptr, false);
    if (!j.is_discarded() && j.contains("error")) {
      return fail(j["error"].value("code", "error") + ": " +
                  j["error"].value("message", ""));
    }
    return fail("HTTP " + std::to_string(r->status));
  }
  if (!synced) return fail("syncing " + partial + ": " + std::strerror(errno));
  if (::rename(partial.c_str(), file.c_str()) != 0) {
    return fail("renaming " + partial + ": " + std::strerror(errno));
  }
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  std::cout << file << ": " << size << " bytes\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"deltakv: command-line client of a deltakv-server"};
  app.require_subcommand(1);
  std::string url = "http://127.0.0.1:8080", token;
  bool json_out = false;
  deltakv::TlsOptions tls;
  app.add_option("--url", url, "server URL: http[s]://HOST:PORT")
      ->envname("DELTAKV_URL")
      ->capture_default_str();
  app.add_option("--token", token, "API bearer token")
      ->envname("DELTAKV_TOKEN");
  app.add_option("--ca-file", tls.ca_file,
                 "https: PEM file of the CAs that may sign the server's "
                 "certificate (default: the system's CA store)")
      ->envname("DELTAKV_CA_FILE");
  app.add_option("--cert-file", tls.cert_file,
                 "https, mutual TLS: this client's PEM certificate")
      ->envname("DELTAKV_CERT_FILE");
  app.add_option("--key-file", tls.key_file,
                 "https, mutual TLS: the PEM private key of --cert-file")
      ->envname("DELTAKV_KEY_FILE");
  app.add_flag("--json", json_out, "print the server's JSON answers");

  std::string key, value;
  int64_t n = 1, index = 0;
  std::vector<std::string> items;
  std::string prefix;

  auto* counter = app.add_subcommand("counter", "PN-counters");
  counter->require_subcommand(1);
  auto* c_incr =
      counter->add_subcommand("incr", "add N (default 1, may be negative)");
  c_incr->add_option("KEY", key)->required();
  c_incr->add_option("N", n);
  auto* c_get = counter->add_subcommand("get", "read a counter");
  c_get->add_option("KEY", key)->required();

  auto* reg = app.add_subcommand("register", "last-writer-wins registers");
  reg->require_subcommand(1);
  auto* r_set = reg->add_subcommand("set", "write a JSON value");
  r_set->add_option("KEY", key)->required();
  r_set->add_option("JSON", value)->required();
  auto* r_get = reg->add_subcommand("get", "read a register");
  r_get->add_option("KEY", key)->required();

  auto* set = app.add_subcommand("set", "add-wins sets");
  set->require_subcommand(1);
  auto* s_add = set->add_subcommand("add", "add members");
  s_add->add_option("KEY", key)->required();
  s_add->add_option("MEMBER", items)->required();
  auto* s_remove = set->add_subcommand("remove", "remove members");
  s_remove->add_option("KEY", key)->required();
  s_remove->add_option("MEMBER", items)->required();
  auto* s_members = set->add_subcommand("members", "list members");
  s_members->add_option("KEY", key)->required();

  auto* list = app.add_subcommand("list", "lists");
  list->require_subcommand(1);
  auto* l_insert = list->add_subcommand("insert", "insert values at INDEX");
  l_insert->add_option("KEY", key)->required();
  l_insert->add_option("INDEX", index)->required();
  auto* l_values = l_insert->add_option("VALUE", items);
  std::optional<std::string> text;
  auto* l_text = l_insert->add_option(
      "--text", text, "insert the code points of TEXT, each one value");
  l_text->excludes(l_values);
  auto* l_get = list->add_subcommand("get", "read a list");
  l_get->add_option("KEY", key)->required();
  bool as_text = false;
  l_get->add_flag("--text", as_text,
                  "print the values as one text (each must be one character)");

  auto* del = app.add_subcommand("del", "delete a key (observed-remove)");
  del->add_option("KEY", key)->required();
  auto* keys = app.add_subcommand("keys", "list keys");
  keys->add_option("PREFIX", prefix);
  auto* status = app.add_subcommand("status", "the region's status");
  auto* cluster = app.add_subcommand("cluster", "the region's nodes");
  cluster->require_subcommand(1);
  auto* cluster_status = cluster->add_subcommand(
      "status", "the ring this node acts on and every node's state");
  std::string backup_file;
  bool quiet = false;
  auto* backup = app.add_subcommand(
      "backup",
      "save a consistent copy of the server's store (for deltakv-server "
      "--restore)");
  backup->add_option("--out", backup_file, "the file to write")->required();
  backup->add_flag("--quiet", quiet, "no progress on the terminal");
  deltakv::cli::ExportOptions export_options;
  deltakv::cli::ImportOptions import_options;
  auto* export_cmd = app.add_subcommand(
      "export", "write every key (type and value) as JSON lines to stdout");
  export_cmd->add_option("--prefix", export_options.prefix,
                         "only the keys starting with it");
  export_cmd
      ->add_option("--connections", export_options.connections,
                   "keys read at once")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  export_cmd->add_flag("--quiet", quiet, "no progress line on a terminal");
  auto* import_cmd = app.add_subcommand(
      "import", "write the keys of JSON lines from stdin (deltakv export's)");
  import_cmd->add_flag("--skip-errors", import_options.skip_errors,
                       "report and count bad lines, import the rest");
  import_cmd
      ->add_option("--batch", import_options.batch_ops,
                   "operations per request")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  import_cmd
      ->add_option("--batch-bytes", import_options.batch_bytes,
                   "request body bytes, roughly (below the server's "
                   "--max-body-bytes)")
      ->check(CLI::Range(4096, 64 << 20))
      ->capture_default_str();
  import_cmd
      ->add_option("--connections", import_options.connections,
                   "requests in flight")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  import_cmd->add_flag("--quiet", quiet, "no progress line on a terminal");
  std::string key_dir = ".", key_name;
  auto* keygen = app.add_subcommand(
      "keygen", "write a CurveZMQ key pair: NAME.key (public), NAME.secret");
  keygen->add_option("NAME", key_name, "region name")->required();
  keygen->add_option("--out-dir", key_dir, "folder for the two files")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "deltakv: " << e.what() << "\nRun deltakv --help.\n";
    return 2;
  }
  if (keygen->parsed()) {
    auto pair = deltakv::replication::GenerateKeyPair();
    if (!pair.ok()) {
      std::cerr << "deltakv: " << pair.status().ToString() << "\n";
      return 1;
    }
    std::error_code ec;
    std::filesystem::create_directories(key_dir, ec);
    const std::string base = key_dir + "/" + key_name;
    {
      std::ofstream pub(base + ".key");
      pub << pair->first << "\n";
      if (!pub) {
        std::cerr << "deltakv: cannot write " << base << ".key\n";
        return 1;
      }
    }
    int fd =
        ::open((base + ".secret").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
      std::cerr << "deltakv: cannot write " << base << ".secret\n";
      return 1;
    }
    std::string line = pair->second + "\n";
    bool ok = ::write(fd, line.data(), line.size()) ==
              static_cast<ssize_t>(line.size());
    ::close(fd);
    if (!ok) return 1;
    std::cout << base << ".key\n" << base << ".secret\n";
    return 0;
  }
  Context ctx;
  ctx.json_out = json_out;
  auto http =
      deltakv::HttpClient::Create(url, token, std::chrono::seconds(30), tls);
  if (!http.ok()) {
    std::cerr << "deltakv: " << http.status().message() << "\n";
    return 2;
  }
  ctx.http = std::move(http).value();

  if (export_cmd->parsed()) {
    export_options.progress = !quiet && ::isatty(STDERR_FILENO);
    return deltakv::cli::Export(*ctx.http, export_options, stdout);
  }
  if (import_cmd->parsed()) {
    import_options.progress = !quiet && ::isatty(STDERR_FILENO);
    return deltakv::cli::Import(*ctx.http, import_options, STDIN_FILENO);
  }

  json out;
  auto print_json = [&] { std::cout << out.dump() << "\n"; };
  int rc;
  const std::string k = Enc(key);
  if (c_incr->parsed()) {
    json body{{"by", n}};
    if ((rc = Call(ctx, "POST", "/v1/counter/" + k + "/incr", &body, &out)))
      return rc;
    json_out ? print_json()
             : void(std::cout << out["value"].get<int64_t>() << "\n");
  } else if (c_get->parsed()) {
    if ((rc = Call(ctx, "GET", "/v1/counter/" + k, nullptr, &out))) return rc;
    json_out ? print_json()
             : void(std::cout << out["value"].get<int64_t>() << "\n");
  } else if (r_set->parsed()) {
    json v = json::parse(value, nullptr, false);
    if (v.is_discarded()) {
      std::cerr
          << "deltakv: JSON is not valid JSON (quote strings: '\"text\"')\n";
      return 2;
    }
    json body{{"value", v}};
    if ((rc = Call(ctx, "PUT", "/v1/register/" + k, &body, &out))) return rc;
    json_out ? print_json() : void(std::cout << "ok\n");
  } else if (r_get->parsed()) {
    if ((rc = Call(ctx, "GET", "/v1/register/" + k, nullptr, &out))) return rc;
    json_out ? print_json() : void(std::cout << out["value"].dump() << "\n");
  } else if (s_add->parsed() || s_remove->parsed()) {
    json body{{"members", items}};
    const char* verb = s_add->parsed() ? "add" : "remove";
    if ((rc = Call(ctx, "POST", "/v1/set/" + k + "/" + verb, &body, &out)))
      return rc;
    json_out ? print_json()
             : void(std::cout << out["size"].get<uint64_t>() << "\n");
  } else if (s_members->parsed()) {
    // The whole set, a page at a time (the server's pages are bounded).
    std::string cursor;
    json all = json::array();
    for (;;) {
      std::string target = "/v1/set/" + k + "?limit=10000";
      if (!cursor.empty()) target += "&cursor=" + Enc(cursor);
      if ((rc = Call(ctx, "GET", target, nullptr, &out))) return rc;
      for (const auto& m : out["members"]) {
        if (json_out) {
          all.push_back(m);
        } else {
          std::cout << m.get<std::string>() << "\n";
        }
      }
      if (!out.contains("cursor") || out["cursor"].is_null()) break;
      std::string next = out["cursor"].get<std::string>();
      if (next == cursor) break;  // no progress: never loop
      cursor = std::move(next);
    }
    if (json_out) {
      out["members"] = std::move(all);
      out.erase("cursor");
      print_json();
    }
  } else if (l_insert->parsed()) {
    if (!text && items.empty()) {
      std::cerr << "deltakv: list insert needs VALUE... or --text TEXT\n";
      return 2;
    }
    json body = text ? json{{"index", index}, {"text", *text}}
                     : json{{"index", index}, {"values", items}};
    if ((rc = Call(ctx, "POST", "/v1/list/" + k + "/insert", &body, &out)))
      return rc;
    json_out ? print_json()
             : void(std::cout << out["length"].get<uint64_t>() << "\n");
  } else if (l_get->parsed() && as_text) {
    // The whole text, a page at a time; offsets count code points.
    uint64_t offset = 0;
    std::string all;
    for (;;) {
      std::string target =
          "/v1/list/" + k + "?format=text&offset=" + std::to_string(offset);
      if ((rc = Call(ctx, "GET", target, nullptr, &out))) return rc;
      const std::string page = out["text"].get<std::string>();
      uint64_t chars = 0;
      for (char c : page)
        chars += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
      all += page;
      offset += chars;
      if (chars == 0 || offset >= out["length"].get<uint64_t>()) break;
    }
    if (json_out) {
      out["text"] = std::move(all);
      print_json();
    } else {
      std::cout << all << "\n";
    }
  } else if (l_get->parsed()) {
    // The whole list, a page at a time (the server's pages are bounded).
    uint64_t offset = 0;
    json all = json::array();
    for (;;) {
      std::string target =
          "/v1/list/" + k + "?limit=10000&offset=" + std::to_string(offset);
      if ((rc = Call(ctx, "GET", target, nullptr, &out))) return rc;
      for (const auto& v : out["values"]) {
        if (json_out) {
          all.push_back(v);
        } else {
          std::cout << v.get<std::string>() << "\n";
        }
      }
      offset += out["values"].size();
      if (out["values"].empty() || offset >= out["length"].get<uint64_t>()) {
        break;
      }
    }
    if (json_out) {
      out["values"] = std::move(all);
      print_json();
    }
  } else if (del->parsed()) {
    if ((rc = Call(ctx, "DELETE", "/v1/keys/" + k, nullptr, &out))) return rc;
    json_out ? print_json()
             : void(std::cout
                    << (out["deleted"].get<bool>() ? "deleted" : "not found")
                    << "\n");
  } else if (keys->parsed()) {
    std::string cursor;
    json all = json::array();
    for (;;) {
      std::string target = "/v1/keys?limit=1000&prefix=" + Enc(prefix);
      if (!cursor.empty()) target += "&cursor=" + Enc(cursor);
      if ((rc = Call(ctx, "GET", target, nullptr, &out))) return rc;
      for (const auto& e : out["keys"]) {
        if (json_out) {
          all.push_back(e);
        } else {
          std::cout << e["key"].get<std::string>() << "\t"
                    << e["type"].get<std::string>() << "\n";
        }
      }
      if (out["cursor"].is_null()) break;
      cursor = out["cursor"].get<std::string>();
    }
    if (json_out) std::cout << json{{"keys", all}}.dump() << "\n";
  } else if (backup->parsed()) {
    return Backup(ctx, backup_file, quiet);
  } else if (status->parsed()) {
    if ((rc = Call(ctx, "GET", "/v1/status", nullptr, &out))) return rc;
    std::cout << (json_out ? out.dump() : out.dump(2)) << "\n";
  } else if (cluster_status->parsed()) {
    if ((rc = Call(ctx, "GET", "/v1/cluster", nullptr, &out))) return rc;
    if (json_out) {
      std::cout << out.dump() << "\n";
      return 0;
    }
    std::cout << "region " << out.value("region", "") << ", node "
              << out.value("node_id", "") << ": N=" << out.value("replicas", 0)
              << " W=" << out.value("write_quorum", 0)
              << " R=" << out.value("read_quorum", 0) << ", ring revision "
              << out.value("ring_revision", 0) << "\n";
    if (out.contains("etcd") && out["etcd"].is_object()) {
      const json& e = out["etcd"];
      std::cout << "etcd: "
                << (e.value("reachable", false) ? "reachable"
                                                : "UNREACHABLE (serving "
                                                  "with the last ring seen)")
                << "\n";
    }
    std::printf("%-20s %-4s %-8s %-22s %-22s %-8s %s\n", "NODE", "UP", "STATE",
                "HTTP", "INTERNAL", "ZONE", "VNODES");
    for (const json& node : out.value("nodes", json::array())) {
      if (!node.is_object()) continue;
      std::printf(
          "%-20s %-4s %-8s %-22s %-22s %-8s %lld\n",
          node.value("id", "").c_str(), node.value("up", false) ? "yes" : "no",
          node.value("state", "").c_str(), node.value("http", "").c_str(),
          node.value("internal", "").c_str(), node.value("zone", "").c_str(),
          static_cast<long long>(node.value("vnodes", 0LL)));
    }
  }
  return 0;
}
