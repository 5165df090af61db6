#include "gateway/request_map.h"

#include <cctype>
#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>

#include "cluster/service.h"
#include "core/utf8.h"

namespace deltakv::gateway {

using nlohmann::json;

namespace {

// clang-format off
const std::vector<RouteSpec> kRoutes = {
    {Route::kCounterGet,  "GET",    "/v1/counter/{key}",          "counter_get",  false},
    {Route::kCounterIncr, "POST",   "/v1/counter/{key}/incr",     "counter_incr", true},
    {Route::kRegisterGet, "GET",    "/v1/register/{key}",         "register_get", false},
    {Route::kRegisterPut, "PUT",    "/v1/register/{key}",         "register_put", true},
    {Route::kSetGet,      "GET",    "/v1/set/{key}",              "set_get",      false},
    {Route::kSetContains, "GET",    "/v1/set/{key}/contains",     "set_contains", false},
    {Route::kSetAdd,      "POST",   "/v1/set/{key}/add",          "set_add",      true},
    {Route::kSetRemove,   "POST",   "/v1/set/{key}/remove",       "set_remove",   true},
    {Route::kListGet,     "GET",    "/v1/list/{key}",             "list_get",     false},
    {Route::kListInsert,  "POST",   "/v1/list/{key}/insert",      "list_insert",  true},
    {Route::kListDelete,  "POST",   "/v1/list/{key}/delete",      "list_delete",  true},
    {Route::kListPush,    "POST",   "/v1/list/{key}/push",        "list_push",    true},
    {Route::kKeyGet,      "GET",    "/v1/keys/{key}",             "key_get",      false},
    {Route::kKeyDelete,   "DELETE", "/v1/keys/{key}",             "key_delete",   true},
    {Route::kKeysList,    "GET",    "/v1/keys",                   "keys_list",    false},
    {Route::kBatch,       "POST",   "/v1/batch",                  "batch",        true},
    {Route::kStatus,      "GET",    "/v1/status",                 "status",       false},
    {Route::kBackup,      "GET",    "/v1/backup",                 "backup",       false},
    {Route::kCluster,     "GET",    "/v1/cluster",                "cluster",      false},
    {Route::kHealthz,     "GET",    "/healthz",                   "healthz",      false},
    {Route::kReadyz,      "GET",    "/readyz",                    "readyz",       false},
    {Route::kMetrics,     "GET",    "/metrics",                   "metrics",      false},
    {Route::kUiPage,      "GET",    "/ui",                        "ui_page",      false},
    {Route::kUiScript,    "GET",    "/ui/app.js",                 "ui_script",    false},
    {Route::kUiStyle,     "GET",    "/ui/style.css",              "ui_style",     false},
};
// clang-format on

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

ApiError Err(int status, std::string code, std::string message) {
  return ApiError{status, std::move(code), std::move(message)};
}

ApiError BadRequest(std::string message) {
  return Err(400, "bad_request", std::move(message));
}

template <typename T>
bool ParseNumber(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

struct DepthExceeded {};

// Parses with a bound on nesting depth; the parser is iterative, and
// nlohmann (>= 3.10) frees nested values without recursion.
bool ParseJson(std::string_view body, size_t max_depth, json* out,
               ApiError* error) {
  try {
    *out =
        json::parse(body.begin(), body.end(),
                    [max_depth](int depth, json::parse_event_t event, json&) {
                      if ((event == json::parse_event_t::object_start ||
                           event == json::parse_event_t::array_start) &&
                          static_cast<size_t>(depth) >= max_depth) {
                        throw DepthExceeded{};
                      }
                      return true;
                    });
  } catch (const DepthExceeded&) {
    *error = BadRequest("JSON nested deeper than " + std::to_string(max_depth) +
                        " levels");
    return false;
  } catch (const json::exception& e) {
    *error = BadRequest(std::string("malformed JSON: ") + e.what());
    return false;
  }
  return true;
}

bool GetInt(const json& obj, const char* field, bool required, int64_t* out,
            ApiError* error) {
  auto it = obj.find(field);
  if (it == obj.end()) {
    if (required)
      *error = BadRequest(std::string("missing field '") + field + "'");
    return !required;
  }
  if (it->is_number_integer() && !it->is_number_unsigned()) {
    *out = it->get<int64_t>();
    return true;
  }
  if (it->is_number_unsigned() &&
      it->get<uint64_t>() <=
          static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    *out = static_cast<int64_t>(it->get<uint64_t>());
    return true;
  }
  *error = BadRequest(std::string("field '") + field +
                      "' must be an integer in the int64 range");
  return false;
}

bool GetStrings(const json& obj, const char* field, const MapLimits& limits,
                std::vector<std::string>* out, ApiError* error) {
  auto it = obj.find(field);
  if (it == obj.end()) {
    *error = BadRequest(std::string("missing field '") + field + "'");
    return false;
  }
  if (!it->is_array()) {
    *error = BadRequest(std::string("field '") + field +
                        "' must be an array of strings");
    return false;
  }
  if (it->empty()) {
    *error = BadRequest(std::string("field '") + field + "' must not be empty");
    return false;
  }
  if (it->size() > limits.max_members) {
    *error = Err(413, "too_large",
                 std::string("field '") + field + "' holds more than " +
                     std::to_string(limits.max_members) + " items");
    return false;
  }
  for (const json& v : *it) {
    if (!v.is_string()) {
      *error = BadRequest(std::string("field '") + field +
                          "' must be an array of strings");
      return false;
    }
    const std::string& s = v.get_ref<const std::string&>();
    if (s.size() > limits.max_value_bytes) {
      *error = Err(413, "too_large",
                   "an item of '" + std::string(field) + "' exceeds " +
                       std::to_string(limits.max_value_bytes) + " bytes");
      return false;
    }
    out->push_back(s);
  }
  return true;
}

// {"text":"..."} in place of "values": each code point one value. No count
// cap: the text is bounded by the body's (--max-body-bytes), and every
// value is one code point, far under --max-value-bytes.
bool GetText(const json& obj, MappedRequest* r, ApiError* error) {
  if (obj.contains("values")) {
    *error = BadRequest("give 'values' or 'text', not both");
    return false;
  }
  const json& t = obj.at("text");
  if (!t.is_string()) {
    *error = BadRequest("field 'text' must be a string");
    return false;
  }
  const std::string& text = t.get_ref<const std::string&>();
  if (text.empty()) {
    *error = BadRequest("field 'text' must not be empty");
    return false;
  }
  r->values.reserve(text.size());
  if (!SplitUtf8(text, &r->values)) {
    r->values.clear();
    *error = BadRequest("field 'text' must be UTF-8");
    return false;
  }
  return true;
}

bool IsJsonContentType(std::string_view ct) {
  auto semi = ct.find(';');
  std::string_view base = ct.substr(0, semi);
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  std::string lower(base);
  for (char& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "application/json";
}

bool MapFields(MappedRequest* r, const json& doc, const MapLimits& limits,
               ApiError* error);

// The write routes a batch may hold, by their metrics name.
const RouteSpec* BatchOpRoute(std::string_view name) {
  for (const RouteSpec& spec : kRoutes) {
    if (spec.write && spec.route != Route::kBatch && name == spec.name) {
      return &spec;
    }
  }
  return nullptr;
}

// POST /v1/batch: {"ops":[{"op":"counter_incr","key":"k","by":1},...]}.
// Every op is checked before any is applied: one malformed op refuses the
// whole batch, naming it.
bool MapBatch(MappedRequest* r, const json& doc, const MapLimits& limits,
              ApiError* error) {
  auto it = doc.find("ops");
  if (it == doc.end() || !it->is_array()) {
    *error = BadRequest("field 'ops' must be an array of operations");
    return false;
  }
  if (it->empty()) {
    *error = BadRequest("field 'ops' must not be empty");
    return false;
  }
  if (it->size() > limits.max_batch_ops) {
    *error =
        Err(413, "too_large",
            "a batch holds at most " + std::to_string(limits.max_batch_ops) +
                " operations, not " + std::to_string(it->size()));
    return false;
  }
  r->ops.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const json& o = (*it)[i];
    auto fail = [&](ApiError e) {
      e.message = "ops[" + std::to_string(i) + "]: " + e.message;
      *error = std::move(e);
      return false;
    };
    if (!o.is_object())
      return fail(BadRequest("an operation must be an object"));
    auto name = o.find("op");
    const RouteSpec* spec =
        name != o.end() && name->is_string()
            ? BatchOpRoute(name->get_ref<const std::string&>())
            : nullptr;
    if (spec == nullptr) {
      return fail(BadRequest(
          "field 'op' must be one of counter_incr, register_put, set_add, "
          "set_remove, list_insert, list_delete, list_push, key_delete"));
    }
    auto key = o.find("key");
    if (key == o.end() || !key->is_string()) {
      return fail(BadRequest("field 'key' must be a string"));
    }
    MappedRequest op;
    op.route = spec->route;
    op.key = key->get<std::string>();
    if (op.key.empty() || op.key.size() > limits.max_key_bytes) {
      return fail(BadRequest("key must be 1 to " +
                             std::to_string(limits.max_key_bytes) + " bytes"));
    }
    if (!ValidUtf8(op.key)) {
      return fail(BadRequest("keys and members must be UTF-8"));
    }
    ApiError e;
    if (!MapFields(&op, o, limits, &e)) return fail(std::move(e));
    r->ops.push_back(std::move(op));
  }
  return true;
}

bool MapBody(MappedRequest* r, std::string_view content_type,
             std::string_view body, const MapLimits& limits, ApiError* error) {
  const bool optional_body = r->route == Route::kCounterIncr;
  if (body.empty()) {
    if (optional_body) return true;
    *error = BadRequest("a JSON body is required");
    return false;
  }
  if (!IsJsonContentType(content_type)) {
    *error = Err(415, "unsupported_media_type",
                 "Content-Type must be application/json");
    return false;
  }
  json doc;
  if (!ParseJson(body, limits.max_json_depth, &doc, error)) return false;
  if (!doc.is_object()) {
    *error = BadRequest("the body must be a JSON object");
    return false;
  }
  if (r->route == Route::kBatch) return MapBatch(r, doc, limits, error);
  return MapFields(r, doc, limits, error);
}

// The fields of a write, from its body (or a batch's operation).
bool MapFields(MappedRequest* r, const json& doc, const MapLimits& limits,
               ApiError* error) {
  switch (r->route) {
    case Route::kCounterIncr:
      return GetInt(doc, "by", false, &r->by, error);
    case Route::kRegisterPut: {
      auto it = doc.find("value");
      if (it == doc.end()) {
        *error = BadRequest("missing field 'value'");
        return false;
      }
      r->value_json = it->dump();
      if (r->value_json.size() > limits.max_value_bytes) {
        *error = Err(413, "too_large",
                     "value of " + std::to_string(r->value_json.size()) +
                         " bytes exceeds max_value_bytes (" +
                         std::to_string(limits.max_value_bytes) + ")");
        return false;
      }
      return true;
    }
    case Route::kSetAdd:
    case Route::kSetRemove:
      return GetStrings(doc, "members", limits, &r->members, error);
    case Route::kListInsert:
      if (!GetInt(doc, "index", true, &r->index, error)) return false;
      if (r->index < 0) {
        *error = BadRequest("field 'index' must be >= 0");
        return false;
      }
      if (doc.contains("text")) return GetText(doc, r, error);
      return GetStrings(doc, "values", limits, &r->values, error);
    case Route::kListDelete:
      if (!GetInt(doc, "index", true, &r->index, error) ||
          !GetInt(doc, "count", true, &r->count, error)) {
        return false;
      }
      if (r->index < 0 || r->count < 1) {
        *error = BadRequest("'index' must be >= 0 and 'count' >= 1");
        return false;
      }
      return true;
    case Route::kListPush: {
      if (!GetStrings(doc, "values", limits, &r->values, error)) return false;
      auto it = doc.find("side");
      if (it == doc.end()) return true;
      if (!it->is_string() || (*it != "back" && *it != "front")) {
        *error = BadRequest("field 'side' must be \"back\" or \"front\"");
        return false;
      }
      r->front = *it == "front";
      return true;
    }
    default:
      return true;
  }
}

bool MapQuery(MappedRequest* r, std::string_view query, ApiError* error) {
  if (query.empty()) return true;
  for (std::string_view pair : Split(query, '&')) {
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string name, value;
    if (!PercentDecode(pair.substr(0, eq), &name) ||
        (eq != std::string_view::npos &&
         !PercentDecode(pair.substr(eq + 1), &value))) {
      *error = BadRequest("bad percent-encoding in the query");
      return false;
    }
    auto number = [&](auto* out, uint64_t max) {
      using T = std::remove_pointer_t<decltype(out)>;
      T v;
      if (!ParseNumber(value, &v) || static_cast<uint64_t>(v) > max) {
        *error =
            BadRequest("query parameter '" + name +
                       "' must be an integer from 0 to " + std::to_string(max));
        return false;
      }
      *out = v;
      return true;
    };
    if (name == "member") {
      r->member = value;
      r->has_member = true;
    } else if (name == "prefix") {
      r->prefix = value;
    } else if (name == "cursor") {
      r->cursor = value;
    } else if (name == "key") {
      if (value.empty() || value.size() > 1024) {
        *error = BadRequest("query parameter 'key' must be 1 to 1024 bytes");
        return false;
      }
      r->placement_key = value;
    } else if (name == "after") {
      r->after = value;
    } else if (name == "format") {
      if (value != "values" && value != "text") {
        *error = BadRequest(
            "query parameter 'format' must be \"values\" or \"text\"");
        return false;
      }
      r->text_format = value == "text";
    } else if (name == "offset") {
      if (!number(&r->offset, uint64_t{1} << 53)) return false;
    } else if (name == "limit") {
      if (!number(&r->limit, 100000)) return false;
    } else if (name == "wait_regions") {
      if (!number(&r->wait_regions, 64)) return false;
    } else if (name == "w" || name == "r") {
      uint32_t n = 0;
      if (value == "quorum") {
        n = cluster::kQuorum;
      } else if (value == "all") {
        n = cluster::kAllReplicas;
      } else if (!ParseNumber(value, &n) || n < 1 || n > 64) {
        *error = BadRequest("query parameter '" + name +
                            "' must be a number from 1 to 64, \"quorum\" "
                            "or \"all\"");
        return false;
      }
      (name == "w" ? r->w : r->r) = n;
    } else if (name == "timeout_ms") {
      if (!number(&r->timeout_ms, kMaxTimeoutMs)) return false;
    }
    // Unknown parameters are ignored.
  }
  return true;
}

}  // namespace

const std::vector<RouteSpec>& RouteTable() { return kRoutes; }

const RouteSpec& SpecOf(Route route) {
  return kRoutes[static_cast<size_t>(route)];
}

namespace {

// The route of (method, path), or nullptr; *path_matched tells whether
// another method has the path (405 rather than 404).
const RouteSpec* Match(std::string_view method, std::string_view path,
                       bool* path_matched, std::string_view* raw_key) {
  std::vector<std::string_view> segs = Split(path.substr(1), '/');
  for (const RouteSpec& spec : kRoutes) {
    std::vector<std::string_view> tmpl =
        Split(std::string_view(spec.path).substr(1), '/');
    if (tmpl.size() != segs.size()) continue;
    bool match = true;
    std::string_view key;
    for (size_t i = 0; i < tmpl.size() && match; ++i) {
      if (tmpl[i] == "{key}") {
        key = segs[i];
      } else if (tmpl[i] != segs[i]) {
        match = false;
      }
    }
    if (!match) continue;
    *path_matched = true;
    if (method == spec.method) {
      *raw_key = key;
      return &spec;
    }
  }
  return nullptr;
}

}  // namespace

const RouteSpec* MatchRoute(std::string_view method, std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path.empty() || path[0] != '/') return nullptr;
  bool path_matched = false;
  std::string_view raw_key;
  return Match(method, path, &path_matched, &raw_key);
}

std::optional<MappedRequest> MapRequest(std::string_view method,
                                        std::string_view target,
                                        std::string_view content_type,
                                        std::string_view body,
                                        const MapLimits& limits,
                                        ApiError* error) {
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query =
      q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  if (path.empty() || path[0] != '/') {
    *error = BadRequest("the request target must be an absolute path");
    return std::nullopt;
  }
  bool path_matched = false;
  std::string_view raw_key;
  const RouteSpec* found = Match(method, path, &path_matched, &raw_key);
  if (found == nullptr) {
    *error = path_matched
                 ? Err(405, "method_not_allowed",
                       "method " + std::string(method) + " not allowed here")
                 : Err(404, "not_found", "no such route");
    return std::nullopt;
  }
  MappedRequest r;
  r.route = found->route;
  if (std::string_view(found->path).find("{key}") != std::string_view::npos) {
    if (!PercentDecode(raw_key, &r.key)) {
      *error = BadRequest("bad percent-encoding in the key");
      return std::nullopt;
    }
    if (r.key.empty() || r.key.size() > limits.max_key_bytes) {
      *error = BadRequest("key must be 1 to " +
                          std::to_string(limits.max_key_bytes) + " bytes");
      return std::nullopt;
    }
  }
  if (!MapQuery(&r, query, error)) return std::nullopt;
  if ((method == "POST" || method == "PUT") &&
      !MapBody(&r, content_type, body, limits, error)) {
    return std::nullopt;
  }
  return r;
}

}  // namespace deltakv::gateway
