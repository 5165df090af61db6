// The remote transport: the typed facade over the REST API of a
// deltakv-server (HTTP or HTTPS), with connection reuse. Server errors map
// back to the Status codes the embedded transport returns.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "client/http_client.h"
#include "client/transport.h"
#include "core/percent.h"
#include "core/utf8.h"

namespace deltakv {

namespace {

using nlohmann::json;

std::string Enc(std::string_view in) { return PercentEncode(in); }

// Members or values asked for per page when reading a whole set or list;
// the server may answer fewer (its pages are cut to its answer bound).
constexpr uint64_t kPage = 10000;

Code CodeOf(std::string_view name) {
  if (name == "not_found") return Code::kNotFound;
  if (name == "wrong_type") return Code::kWrongType;
  if (name == "too_large") return Code::kTooLarge;
  if (name == "unavailable") return Code::kUnavailable;
  if (name == "timeout") return Code::kTimeout;
  if (name == "unauthorized") return Code::kUnauthorized;
  if (name == "internal") return Code::kIOError;
  return Code::kInvalidArgument;  // bad_request, method_not_allowed, 415
}

KeyType TypeOf(std::string_view t) {
  if (t == "counter") return KeyType::kCounter;
  if (t == "register") return KeyType::kRegister;
  if (t == "set") return KeyType::kSet;
  return KeyType::kList;
}

class RemoteTransport final : public Transport {
 public:
  explicit RemoteTransport(std::unique_ptr<HttpClient> http)
      : http_(std::move(http)) {}

  Result<int64_t> CounterIncrement(const std::string& key,
                                   int64_t by) override {
    DELTAKV_ASSIGN_OR_RETURN(json j,
                             Call("POST", "/v1/counter/" + Enc(key) + "/incr",
                                  json{{"by", by}}.dump()));
    return Int(j, "value");
  }
  Result<int64_t> CounterValue(const std::string& key) override {
    DELTAKV_ASSIGN_OR_RETURN(json j, Call("GET", "/v1/counter/" + Enc(key)));
    return Int(j, "value");
  }
  Status RegisterSet(const std::string& key, std::string_view value) override {
    // The REST API stores JSON values; bytes that are not JSON travel as a
    // JSON string.
    json v = json::parse(value, nullptr, false);
    if (v.is_discarded()) v = std::string(value);
    return Call("PUT", "/v1/register/" + Enc(key),
                json{{"value", v}}.dump(-1, ' ', false,
                                        json::error_handler_t::replace))
        .status();
  }
  Result<RegisterValue> RegisterGet(const std::string& key) override {
    DELTAKV_ASSIGN_OR_RETURN(json j, Call("GET", "/v1/register/" + Enc(key)));
    RegisterValue out;
    try {
      out.value = j.at("value").dump();
      out.updated_at = j.at("updated_at").get<std::string>();
      out.origin = j.at("origin").get<std::string>();
    } catch (const json::exception& e) {
      return Malformed(e.what());
    }
    return out;
  }
  Result<uint64_t> SetAdd(const std::string& key,
                          const std::vector<std::string>& m) override {
    return SetOp("add", key, m);
  }
  Result<uint64_t> SetRemove(const std::string& key,
                             const std::vector<std::string>& m) override {
    return SetOp("remove", key, m);
  }
  Result<bool> SetContains(const std::string& key,
                           std::string_view member) override {
    DELTAKV_ASSIGN_OR_RETURN(
        json j,
        Call("GET", "/v1/set/" + Enc(key) + "/contains?member=" + Enc(member)));
    return Bool(j, "contains");
  }
  // Reads the set a page at a time, following the cursor.
  Result<std::vector<std::string>> SetMembers(const std::string& key) override {
    std::vector<std::string> out;
    std::string cursor;
    for (;;) {
      std::string target =
          "/v1/set/" + Enc(key) + "?limit=" + std::to_string(kPage);
      if (!cursor.empty()) target += "&cursor=" + Enc(cursor);
      DELTAKV_ASSIGN_OR_RETURN(json j, Call("GET", target));
      std::string next;
      try {
        for (const json& m : j.at("members")) {
          out.push_back(m.get<std::string>());
        }
        auto it = j.find("cursor");
        if (it == j.end() || it->is_null()) break;
        next = it->get<std::string>();
      } catch (const json::exception& e) {
        return Malformed(e.what());
      }
      if (next.empty() || next == cursor) return Malformed("cursor");
      cursor = std::move(next);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  Result<uint64_t> ListEdit(const std::string& key, int kind, uint64_t index,
                            uint64_t count,
                            const std::vector<std::string>& values) override {
    json body;
    std::string verb;
    if (kind == 0) {
      verb = "insert";
      body = {{"index", index}, {"values", values}};
    } else if (kind == 1) {
      verb = "delete";
      body = {{"index", index}, {"count", count}};
    } else {
      verb = "push";
      body = {{"values", values}, {"side", kind == 3 ? "front" : "back"}};
    }
    DELTAKV_ASSIGN_OR_RETURN(
        json j,
        Call("POST", "/v1/list/" + Enc(key) + "/" + verb,
             body.dump(-1, ' ', false, json::error_handler_t::replace)));
    auto it = j.find("length");
    if (it == j.end() || !it->is_number_unsigned()) return Malformed("length");
    return it->get<uint64_t>();
  }
  Result<uint64_t> ListInsertText(const std::string& key, uint64_t index,
                                  std::string_view text) override {
    if (text.empty()) return Status::InvalidArgument("text must not be empty");
    if (!ValidUtf8(text)) return Status::InvalidArgument("text must be UTF-8");
    const json body = {{"index", index}, {"text", std::string(text)}};
    DELTAKV_ASSIGN_OR_RETURN(
        json j, Call("POST", "/v1/list/" + Enc(key) + "/insert", body.dump()));
    auto it = j.find("length");
    if (it == j.end() || !it->is_number_unsigned()) return Malformed("length");
    return it->get<uint64_t>();
  }
  // Reads the range a page at a time.
  Result<ListRange> ListGet(const std::string& key, uint64_t offset,
                            uint64_t limit) override {
    ListRange out;
    uint64_t at = offset;
    for (bool first = true;; first = false) {
      const uint64_t want =
          limit == 0 ? kPage : std::min(kPage, limit - out.values.size());
      const std::string target = "/v1/list/" + Enc(key) +
                                 "?offset=" + std::to_string(at) +
                                 "&limit=" + std::to_string(want);
      Result<json> r = Call("GET", target);
      // The list shrank under a later page: what was read stands.
      if (!first && !r.ok() && r.status().code() == Code::kInvalidArgument) {
        break;
      }
      DELTAKV_ASSIGN_OR_RETURN(json j, std::move(r));
      size_t got = 0;
      try {
        for (const json& v : j.at("values")) {
          out.values.push_back(v.get<std::string>());
          ++got;
        }
        out.length = j.at("length").get<uint64_t>();
      } catch (const json::exception& e) {
        return Malformed(e.what());
      }
      at += got;
      if (got == 0 || at >= out.length ||
          (limit != 0 && out.values.size() >= limit)) {
        break;
      }
    }
    return out;
  }
  Result<bool> Delete(std::string_view key) override {
    DELTAKV_ASSIGN_OR_RETURN(json j, Call("DELETE", "/v1/keys/" + Enc(key)));
    return Bool(j, "deleted");
  }
  Result<KeyType> TypeOf(std::string_view key) override {
    // One member or value is enough to learn the type.
    DELTAKV_ASSIGN_OR_RETURN(json j,
                             Call("GET", "/v1/keys/" + Enc(key) + "?limit=1"));
    try {
      return deltakv::TypeOf(j.at("type").get<std::string>());
    } catch (const json::exception& e) {
      return Malformed(e.what());
    }
  }
  Result<ScanResult> Scan(std::string_view prefix, std::string_view cursor,
                          size_t limit) override {
    std::string target =
        "/v1/keys?prefix=" + Enc(prefix) + "&limit=" + std::to_string(limit);
    if (!cursor.empty()) target += "&cursor=" + Enc(cursor);
    DELTAKV_ASSIGN_OR_RETURN(json j, Call("GET", target));
    ScanResult out;
    try {
      for (const json& k : j.at("keys")) {
        out.keys.push_back(
            KeyEntry{k.at("key").get<std::string>(),
                     deltakv::TypeOf(k.at("type").get<std::string>())});
      }
      if (!j.at("cursor").is_null())
        out.cursor = j["cursor"].get<std::string>();
    } catch (const json::exception& e) {
      return Malformed(e.what());
    }
    return out;
  }

 private:
  static Status Malformed(const char* what) {
    return Status::Corruption(
        std::string("unexpected answer from the server: ") + what);
  }

  Result<json> Call(std::string_view method, const std::string& target,
                    std::string_view body = {}) {
    DELTAKV_ASSIGN_OR_RETURN(HttpResult r,
                             http_->Request(method, target, body));
    json j = json::parse(r.body, nullptr, false);
    if (r.status != 200) {
      if (!j.is_discarded() && j.contains("error") && j["error"].is_object()) {
        const json& e = j["error"];
        return Status(CodeOf(e.value("code", "")), e.value("message", ""));
      }
      return Status::IOError("HTTP " + std::to_string(r.status));
    }
    if (j.is_discarded()) return Malformed("not JSON");
    return j;
  }

  static Result<int64_t> Int(const json& j, const char* field) {
    auto it = j.find(field);
    if (it == j.end() || !it->is_number_integer()) return Malformed(field);
    return it->get<int64_t>();
  }
  static Result<bool> Bool(const json& j, const char* field) {
    auto it = j.find(field);
    if (it == j.end() || !it->is_boolean()) return Malformed(field);
    return it->get<bool>();
  }
  Result<uint64_t> SetOp(const char* verb, const std::string& key,
                         const std::vector<std::string>& m) {
    DELTAKV_ASSIGN_OR_RETURN(
        json j, Call("POST", "/v1/set/" + Enc(key) + "/" + verb,
                     json{{"members", m}}.dump(
                         -1, ' ', false, json::error_handler_t::replace)));
    auto it = j.find("size");
    if (it == j.end() || !it->is_number_unsigned()) return Malformed("size");
    return it->get<uint64_t>();
  }

  std::unique_ptr<HttpClient> http_;
};

}  // namespace

std::unique_ptr<Transport> NewRemoteTransport(std::string_view url,
                                              const ConnectOptions& options,
                                              Status* status) {
  if (options.timeout_ms == 0) {
    *status = Status::InvalidArgument("ConnectOptions.timeout_ms must be > 0");
    return nullptr;
  }
  auto http = HttpClient::Create(url, options.token,
                                 std::chrono::milliseconds(options.timeout_ms),
                                 options.tls);
  if (!http.ok()) {
    *status = http.status();
    return nullptr;
  }
  return std::make_unique<RemoteTransport>(std::move(http).value());
}

}  // namespace deltakv
