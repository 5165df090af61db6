// RequestMap: from an HTTP request (method, target, body) to a routed,
// validated API call, without touching storage. Pure and deterministic, so
// it is fuzzed on its own (tests/fuzz/request_map_fuzz.cc).
//
// Thread-safety: stateless functions.
#ifndef DELTAKV_GATEWAY_REQUEST_MAP_H_
#define DELTAKV_GATEWAY_REQUEST_MAP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/percent.h"

namespace deltakv::gateway {

enum class Route {
  kCounterGet,
  kCounterIncr,
  kRegisterGet,
  kRegisterPut,
  kSetGet,
  kSetContains,
  kSetAdd,
  kSetRemove,
  kListGet,
  kListInsert,
  kListDelete,
  kListPush,
  kKeyGet,
  kKeyDelete,
  kKeysList,
  kBatch,
  kStatus,
  kBackup,
  kCluster,
  kHealthz,
  kReadyz,
  kMetrics,
  kUiPage,  // the console page (ui/), open like /healthz
  kUiScript,
  kUiStyle,  // the last: Metrics counts routes up to it
};

// One row of the route table: what docs/openapi.yaml must list.
struct RouteSpec {
  Route route;
  const char* method;  // "GET", "POST", "PUT", "DELETE"
  const char* path;    // OpenAPI template, e.g. "/v1/counter/{key}/incr"
  const char* name;    // metrics label
  bool write;          // accepts ?wait_regions=&timeout_ms=
};
const std::vector<RouteSpec>& RouteTable();
const RouteSpec& SpecOf(Route route);

struct MapLimits {
  size_t max_key_bytes = 1024;
  size_t max_value_bytes = 64 * 1024;
  size_t max_json_depth = 64;
  size_t max_members = 10000;   // per request (per op of a batch)
  size_t max_batch_ops = 1000;  // operations in one POST /v1/batch
};

struct ApiError {
  int status = 400;
  std::string code;  // bad_request, not_found, ...
  std::string message;
};

struct MappedRequest {
  Route route = Route::kHealthz;
  std::string key;
  // Writes.
  int64_t by = 1;                    // counter incr
  std::string value_json;            // register put: the value, as JSON text
  std::vector<std::string> members;  // set add/remove
  std::vector<std::string> values;   // list insert/push (text: code points)
  int64_t index = 0;                 // list insert/delete
  int64_t count = 0;                 // list delete
  bool front = false;                // list push side
  // Reads.
  std::string member;        // set contains
  bool has_member = false;   // ?member= given (possibly empty)
  std::string prefix;        // keys list
  std::string cursor;        // keys list (opaque)
  uint64_t offset = 0;       // list get
  uint64_t limit = 0;        // list get / keys list; 0 = default
  bool text_format = false;  // list get ?format=text
  // Batch: the operations, each routed (a write route) and validated as
  // its own request would be, in order.
  std::vector<MappedRequest> ops;
  // Consistency.
  std::string after;          // causal token to wait for
  uint32_t wait_regions = 0;  // 0: none
  // ?w= / ?r=: replicas of the key in a region cluster (0: the default;
  // cluster::kQuorum, cluster::kAllReplicas, or 1-64).
  uint32_t w = 0, r = 0;
  std::string placement_key;   // GET /v1/cluster?key=
  uint32_t timeout_ms = 5000;  // for after / wait_regions
};

// The route a request goes to, from its method and target alone (no
// validation); nullptr when none.
const RouteSpec* MatchRoute(std::string_view method, std::string_view target);

// The longest ?timeout_ms= (a parked request holds a connection and a
// slot of --max-parked-requests).
inline constexpr uint32_t kMaxTimeoutMs = 60000;

// Routes and validates. On failure sets *error (status 400, 404, 405, 413
// or 415) and returns nullopt.
std::optional<MappedRequest> MapRequest(std::string_view method,
                                        std::string_view target,
                                        std::string_view content_type,
                                        std::string_view body,
                                        const MapLimits& limits,
                                        ApiError* error);

// Percent-decoding and encoding live in core/percent.h.
using ::deltakv::PercentDecode;
using ::deltakv::PercentEncode;

}  // namespace deltakv::gateway

#endif  // DELTAKV_GATEWAY_REQUEST_MAP_H_
