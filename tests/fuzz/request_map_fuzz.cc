// libFuzzer target for the request → operation mapping (MapRequest).
//
// Input: the first byte's bit 0 picks the limits (default or tiny, so the
// 413 paths are reached with short inputs) and bit 1 the form of the rest,
// split at its first three '\n' (the last part keeps any further newlines):
// - raw: method, target, Content-Type, body; e.g.
//   "\x00POST\n/v1/counter/k/incr\napplication/json\n{\"by\":2}";
// - routed, to reach the body and query checks of every route often: one
//   byte picks a row of RouteTable() (its method and path), then the raw
//   key segment, the query and the body, sent as application/json; e.g.
//   "\x02\x09k\nwait_regions=1\n{\"index\":0,\"values\":[\"a\"]}".
//
// MapRequest must never crash, must be deterministic, and:
// - a refusal carries a documented status with its code (400 bad_request,
//   404 not_found, 405 method_not_allowed, 413 too_large, 415
//   unsupported_media_type) and a message; 404/405 agree with a routing
//   computed independently here from RouteTable();
// - an accepted request names the route that matches its method and path;
//   its key (keyed routes only) is the percent-decoded path segment, 1 to
//   max_key_bytes long; bodies, members, values and query numbers respect
//   the limits and the per-route rules of docs/api.md.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/utf8.h"
#include "gateway/request_map.h"

namespace gw = deltakv::gateway;

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "request_map_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

std::vector<std::string_view> SplitSlash(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find('/', start);
    out.push_back(s.substr(start, pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

bool HasKey(const gw::RouteSpec& spec) {
  return std::string_view(spec.path).find("{key}") != std::string_view::npos;
}

// The path's raw key segment when `path` matches the template of `spec`.
bool Matches(const gw::RouteSpec& spec, std::string_view path,
             std::string_view* raw_key) {
  std::vector<std::string_view> tmpl =
      SplitSlash(std::string_view(spec.path).substr(1));
  std::vector<std::string_view> segs = SplitSlash(path.substr(1));
  if (tmpl.size() != segs.size()) return false;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == "{key}") {
      *raw_key = segs[i];
    } else if (tmpl[i] != segs[i]) {
      return false;
    }
  }
  return true;
}

bool IsJson(std::string_view content_type) {
  std::string base(content_type.substr(0, content_type.find(';')));
  while (!base.empty() && base.back() == ' ') base.pop_back();
  for (char& c : base) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return base == "application/json";
}

bool StringsWithin(const std::vector<std::string>& v,
                   const gw::MapLimits& limits) {
  if (v.empty() || v.size() > limits.max_members) return false;
  for (const std::string& s : v) {
    if (s.size() > limits.max_value_bytes) return false;
  }
  return true;
}

void CheckError(const gw::ApiError& e) {
  const char* code = e.status == 400   ? "bad_request"
                     : e.status == 404 ? "not_found"
                     : e.status == 405 ? "method_not_allowed"
                     : e.status == 413 ? "too_large"
                     : e.status == 415 ? "unsupported_media_type"
                                       : nullptr;
  Check(code != nullptr, "refusal status outside 400/404/405/413/415");
  Check(e.code == code, "refusal code does not match its status");
  Check(!e.message.empty(), "refusal without a message");
}

// The fields of a write (a route's body, or one operation of a batch).
void CheckFields(const gw::MappedRequest& m, bool no_body,
                 const gw::MapLimits& limits) {
  switch (m.route) {
    case gw::Route::kCounterIncr:
      if (no_body) Check(m.by == 1, "incr without body is not by 1");
      break;
    case gw::Route::kRegisterPut: {
      Check(m.value_json.size() <= limits.max_value_bytes,
            "register value above max_value_bytes");
      nlohmann::json v = nlohmann::json::parse(m.value_json, nullptr, false);
      Check(!v.is_discarded(), "register value is not JSON");
      Check(v.dump() == m.value_json, "register value is not canonical");
      break;
    }
    case gw::Route::kSetAdd:
    case gw::Route::kSetRemove:
      Check(StringsWithin(m.members, limits), "members outside the limits");
      break;
    case gw::Route::kListInsert: {
      Check(m.index >= 0, "insert at a negative index");
      // {"text":...} has no count cap: every value is one code point.
      bool text = !m.values.empty();
      for (const std::string& v : m.values) {
        text = text && deltakv::IsOneCodePoint(v);
      }
      Check(text || StringsWithin(m.values, limits),
            "values outside the limits");
      break;
    }
    case gw::Route::kListDelete:
      Check(m.index >= 0 && m.count >= 1, "delete index/count out of range");
      break;
    case gw::Route::kListPush:
      Check(StringsWithin(m.values, limits), "values outside the limits");
      break;
    case gw::Route::kBatch:
      Check(!m.ops.empty() && m.ops.size() <= limits.max_batch_ops,
            "a batch outside 1..max_batch_ops operations");
      for (const gw::MappedRequest& op : m.ops) {
        Check(gw::SpecOf(op.route).write && op.route != gw::Route::kBatch,
              "a batch operation that is not a write route");
        Check(!op.key.empty() && op.key.size() <= limits.max_key_bytes,
              "a batch key outside 1..max_key_bytes");
        CheckFields(op, false, limits);
      }
      break;
    default:
      break;
  }
}

void CheckAccepted(const gw::MappedRequest& m, const gw::RouteSpec& spec,
                   std::string_view method, std::string_view raw_key,
                   std::string_view content_type, std::string_view body,
                   const gw::MapLimits& limits) {
  Check(spec.route == m.route, "accepted with another route than matched");
  Check(method == spec.method, "accepted with another method");
  if (HasKey(spec)) {
    std::string decoded;
    Check(gw::PercentDecode(raw_key, &decoded), "accepted a bad escape");
    Check(m.key == decoded, "key is not the decoded path segment");
    Check(!m.key.empty() && m.key.size() <= limits.max_key_bytes,
          "key length outside 1..max_key_bytes");
  } else {
    Check(m.key.empty(), "a key on a route without {key}");
  }
  Check(m.wait_regions <= 64, "wait_regions above 64");
  Check(m.timeout_ms <= 600000, "timeout_ms above 600000");
  Check(m.limit <= 100000, "limit above 100000");
  Check(m.offset <= (uint64_t{1} << 53), "offset above 2^53");

  const bool has_body = method == "POST" || method == "PUT";
  if (has_body && !body.empty()) {
    Check(IsJson(content_type), "a body accepted without application/json");
  }
  if (has_body && m.route != gw::Route::kCounterIncr) {
    Check(!body.empty(), "a write accepted without its body");
  }
  CheckFields(m, body.empty(), limits);
}

void Exercise(std::string_view method, std::string_view target,
              std::string_view content_type, std::string_view body,
              const gw::MapLimits& limits) {
  gw::ApiError error;
  auto mapped =
      gw::MapRequest(method, target, content_type, body, limits, &error);

  // Pure: the same input maps the same way.
  gw::ApiError error2;
  auto again =
      gw::MapRequest(method, target, content_type, body, limits, &error2);
  Check(mapped.has_value() == again.has_value(), "not deterministic");

  // Routing, computed independently.
  std::string_view path = target.substr(0, target.find('?'));
  const gw::RouteSpec* matched = nullptr;
  bool path_matched = false;
  std::string_view raw_key;
  if (!path.empty() && path[0] == '/') {
    for (const gw::RouteSpec& spec : gw::RouteTable()) {
      std::string_view k;
      if (!Matches(spec, path, &k)) continue;
      path_matched = true;
      if (method == spec.method) {
        matched = &spec;
        raw_key = k;
        break;
      }
    }
  }

  if (!mapped) {
    CheckError(error);
    Check(error.status == error2.status && error.code == error2.code,
          "not deterministic");
    if (path.empty() || path[0] != '/') {
      Check(error.status == 400, "a relative target is not a 400");
    } else if (matched == nullptr) {
      Check(error.status == (path_matched ? 405 : 404),
            "an unrouted request is not 404/405 as the table says");
    } else {
      Check(error.status != 404 && error.status != 405,
            "a routed request answered 404/405");
      if (error.status == 415) {
        Check(!body.empty() && !IsJson(content_type),
              "415 with a JSON content type or no body");
      }
    }
    return;
  }
  Check(matched != nullptr, "accepted a request the table does not route");
  Check(again->route == mapped->route && again->key == mapped->key,
        "not deterministic");
  CheckAccepted(*mapped, *matched, method, raw_key, content_type, body, limits);
}

// Splits `in` into n parts at its first n - 1 '\n'; the last part keeps
// any further newlines. Missing parts are empty.
void SplitParts(std::string_view in, std::string_view* parts, int n) {
  for (int i = 0; i < n - 1; ++i) {
    size_t nl = in.find('\n');
    if (nl == std::string_view::npos) {
      parts[i] = in;
      return;
    }
    parts[i] = in.substr(0, nl);
    in.remove_prefix(nl + 1);
  }
  parts[n - 1] = in;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  gw::MapLimits limits;
  if (data[0] & 1) {
    limits.max_key_bytes = 8;
    limits.max_value_bytes = 16;
    limits.max_json_depth = 4;
    limits.max_members = 3;
  }
  const bool routed = (data[0] & 2) != 0;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string_view parts[4];
  if (!routed) {
    SplitParts(in, parts, 4);  // method, target, content type, body
    Exercise(parts[0], parts[1], parts[2], parts[3], limits);
  } else {
    if (in.empty()) return 0;
    const auto& table = gw::RouteTable();
    const gw::RouteSpec& spec =
        table[static_cast<unsigned char>(in[0]) % table.size()];
    in.remove_prefix(1);
    SplitParts(in, parts, 3);  // raw key segment, query, body
    std::string target(spec.path);
    if (size_t k = target.find("{key}"); k != std::string::npos) {
      target.replace(k, 5, parts[0]);
    }
    if (!parts[1].empty()) target += "?" + std::string(parts[1]);
    Exercise(spec.method, target, "application/json", parts[2], limits);
  }

  // Percent-encoding round-trips any bytes.
  std::string decoded;
  Check(gw::PercentDecode(gw::PercentEncode(parts[1]), &decoded) &&
            decoded == parts[1],
        "PercentDecode(PercentEncode(x)) != x");
  return 0;
}
