// deltakv export: pages through GET /v1/keys and reads each key whole, a
// few keys at a time, writing the lines in key order.
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/http_client.h"
#include "tools/bulk.h"
#include "tools/bulk_internal.h"

namespace deltakv::cli {

namespace {

using nlohmann::json;

constexpr const char* kPageLimit = "10000";  // set members, list values

enum class Got { kLine, kGone, kUnsupported, kError };

// One key, read whole (every page of a set or list), as its export line.
Got ExportKey(HttpClient& http, const std::string& key, std::string* line,
              std::string* error) {
  const std::string base = "/v1/keys/" + Enc(key);
  auto get = [&](const std::string& target, json* out) -> std::optional<Got> {
    auto r = http.Request("GET", target);
    if (!r.ok()) {
      *error = r.status().ToString();
      return Got::kError;
    }
    if (r->status == 404) return Got::kGone;  // deleted meanwhile
    if (r->status == 409) {
      *error = "key " + json(key).dump() + ": " + ErrorOf(*r);
      return Got::kUnsupported;
    }
    if (r->status != 200) {
      *error = "key " + json(key).dump() + ": " + ErrorOf(*r);
      return Got::kError;
    }
    *out = json::parse(r->body, nullptr, false);
    if (out->is_discarded() || !out->is_object() || !out->contains("type")) {
      *error = "the server's answer is not JSON";
      return Got::kError;
    }
    return std::nullopt;
  };
  json j;
  if (auto g = get(base + "?limit=" + kPageLimit, &j)) return *g;
  const std::string type = j["type"].get<std::string>();
  std::string out =
      "{\"key\":" + json(key).dump() + ",\"type\":\"" + type + "\",";
  if (type == "counter" || type == "register") {
    out += "\"value\":" + j["value"].dump();
  } else if (type == "set") {
    json members = std::move(j["members"]);
    json cursor = j["cursor"];
    while (cursor.is_string()) {
      json page;
      if (auto g = get("/v1/set/" + Enc(key) + "?limit=" + kPageLimit +
                           "&cursor=" + Enc(cursor.get<std::string>()),
                       &page)) {
        return *g;
      }
      for (auto& m : page["members"]) members.push_back(std::move(m));
      if (page["cursor"] == cursor) break;  // no progress: never loop
      cursor = page["cursor"];
    }
    out += "\"members\":" + members.dump();
  } else if (type == "list") {
    json values = std::move(j["values"]);
    uint64_t length = j.value("length", uint64_t{0});
    while (values.size() < length) {
      json page;
      if (auto g = get("/v1/list/" + Enc(key) + "?limit=" + kPageLimit +
                           "&offset=" + std::to_string(values.size()),
                       &page)) {
        return *g;
      }
      if (page["values"].empty()) break;
      for (auto& v : page["values"]) values.push_back(std::move(v));
      length = page.value("length", uint64_t{0});
    }
    out += "\"values\":" + values.dump();
  } else {
    *error = "key " + json(key).dump() + " holds a " + type +
             ", which the format has no line for";
    return Got::kUnsupported;
  }
  out += "}\n";
  *line = std::move(out);
  return Got::kLine;
}

}  // namespace

namespace {

int ExportAll(HttpClient& http, const ExportOptions& options, std::FILE* out) {
  Progress progress(options.progress, "exported", 0, nullptr);
  std::string header = std::string("{\"format\":\"") + kFormatName +
                       "\",\"version\":" + std::to_string(kFormatVersion) +
                       "}\n";
  std::fwrite(header.data(), 1, header.size(), out);
  std::string cursor;
  uint64_t unsupported = 0;
  const size_t threads = std::max<size_t>(1, options.connections);
  for (;;) {
    std::string target = "/v1/keys?limit=1000&prefix=" + Enc(options.prefix);
    if (!cursor.empty()) target += "&cursor=" + Enc(cursor);
    auto r = http.Request("GET", target);
    if (!r.ok()) {
      PrintError(r.status().ToString());
      return 1;
    }
    if (r->status != 200) {
      PrintError(ErrorOf(*r));
      return 1;
    }
    json page = json::parse(r->body, nullptr, false);
    if (page.is_discarded() || !page.contains("keys") ||
        !page["keys"].is_array()) {
      PrintError("the server's answer is not JSON");
      return 1;
    }
    const json& keys = page["keys"];
    const size_t n = keys.size();
    std::vector<std::string> lines(n), errors(n);
    std::vector<Got> got(n, Got::kGone);
    std::vector<std::thread> pool;
    for (size_t t = 0; t < std::min(threads, n); ++t) {
      pool.emplace_back([&, t] {
        for (size_t i = t; i < n; i += threads) {
          try {
            got[i] = ExportKey(http, keys[i].at("key").get<std::string>(),
                               &lines[i], &errors[i]);
          } catch (const json::exception& e) {
            got[i] = Got::kError;
            errors[i] = std::string("the server's answer is not understood: ") +
                        e.what();
          }
          if (got[i] == Got::kError) return;
        }
      });
    }
    for (auto& th : pool) th.join();
    for (size_t i = 0; i < n; ++i) {
      switch (got[i]) {
        case Got::kLine:
          std::fwrite(lines[i].data(), 1, lines[i].size(), out);
          progress.done.fetch_add(1, std::memory_order_relaxed);
          break;
        case Got::kGone:
          break;
        case Got::kUnsupported:
          ++unsupported;
          PrintError(errors[i] + " (skipped)");
          break;
        case Got::kError:
          PrintError(errors[i]);
          return 1;
      }
    }
    if (std::ferror(out)) {
      PrintError(std::string("cannot write the output: ") +
                 std::strerror(errno));
      return 1;
    }
    if (!page["cursor"].is_string()) break;
    std::string next = page["cursor"].get<std::string>();
    if (next == cursor) break;  // no progress: never loop
    cursor = std::move(next);
  }
  if (std::fflush(out) != 0) {
    PrintError(std::string("cannot write the output: ") + std::strerror(errno));
    return 1;
  }
  progress.Stop();
  if (unsupported > 0) {
    PrintError(std::to_string(unsupported) +
               " key(s) of a type the format has no line for were skipped");
    return 1;
  }
  return 0;
}

}  // namespace

int Export(HttpClient& http, const ExportOptions& options, std::FILE* out) {
  try {
    return ExportAll(http, options, out);
  } catch (const json::exception& e) {
    PrintError(std::string("the server's answer is not understood: ") +
               e.what());
    return 1;
  }
}

}  // namespace deltakv::cli
