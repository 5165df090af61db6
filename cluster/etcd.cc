// <utility> before Asio (Boost 1.74 + GCC 12 in C++20).
#include <utility>

#include "cluster/etcd.h"

#include "cluster/cluster_view.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

namespace deltakv::cluster {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// ------------------------------------------------------------ JSON answers

namespace etcd_json {

namespace {

constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

Status Bad(const std::string& what) {
  return Status::InvalidArgument("malformed etcd answer: " + what);
}

Result<json> ParseObject(std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) return Bad("not JSON");
  if (!j.is_object()) return Bad("not a JSON object");
  return j;
}

// An int64 field: etcd's gateway writes them as strings ("12"), zero
// values are left out.
Status GetInt(const json& obj, const char* field, int64_t* out) {
  *out = 0;
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return Status::OK();
  if (it->is_number_integer()) {
    if (it->is_number_unsigned() &&
        it->get<uint64_t>() >
            static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Bad(std::string("'") + field + "' out of range");
    }
    *out = it->get<int64_t>();
    return Status::OK();
  }
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) {
      return Bad(std::string("'") + field + "' is not an integer");
    }
    return Status::OK();
  }
  return Bad(std::string("'") + field + "' is not an integer");
}

Status GetBool(const json& obj, const char* field, bool* out) {
  *out = false;
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return Status::OK();
  if (!it->is_boolean()) return Bad(std::string("'") + field + "' not a bool");
  *out = it->get<bool>();
  return Status::OK();
}

Status GetBytes(const json& obj, const char* field, std::string* out) {
  out->clear();
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return Status::OK();
  if (!it->is_string()) return Bad(std::string("'") + field + "' not a string");
  auto decoded = Base64Decode(it->get_ref<const std::string&>());
  if (!decoded.ok()) {
    return Bad(std::string("'") + field + "': " + decoded.status().message());
  }
  *out = std::move(decoded).value();
  return Status::OK();
}

// An object field (absent: empty object).
Result<json> GetObject(const json& obj, const char* field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return json::object();
  if (!it->is_object())
    return Bad(std::string("'") + field + "' not an object");
  return *it;
}

Result<json> GetArray(const json& obj, const char* field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return json::array();
  if (!it->is_array()) return Bad(std::string("'") + field + "' not an array");
  return *it;
}

// An error answer ({"error":..,"code":N,"message":..}) as a Status.
std::optional<Status> ErrorOf(const json& j) {
  auto it = j.find("error");
  if (it == j.end()) return std::nullopt;
  std::string message;
  if (auto m = j.find("message"); m != j.end() && m->is_string()) {
    message = m->get<std::string>();
  } else if (it->is_string()) {
    message = it->get<std::string>();
  } else if (it->is_object()) {
    if (auto m2 = it->find("message"); m2 != it->end() && m2->is_string()) {
      message = m2->get<std::string>();
    }
  }
  if (message.empty()) message = "an error without a message";
  if (message.find("not found") != std::string::npos) {
    return Status::NotFound("etcd: " + message);
  }
  return Status::Unavailable("etcd: " + message);
}

Result<int64_t> HeaderRevision(const json& j) {
  auto header = GetObject(j, "header");
  if (!header.ok()) return header.status();
  int64_t rev = 0;
  if (Status s = GetInt(*header, "revision", &rev); !s.ok()) return s;
  if (rev < 0) return Bad("negative revision");
  return rev;
}

Result<EtcdKeyValue> ParseKv(const json& j) {
  if (!j.is_object()) return Bad("a key-value is not an object");
  EtcdKeyValue kv;
  Status s = GetBytes(j, "key", &kv.key);
  if (s.ok()) s = GetBytes(j, "value", &kv.value);
  if (s.ok()) s = GetInt(j, "create_revision", &kv.create_revision);
  if (s.ok()) s = GetInt(j, "mod_revision", &kv.mod_revision);
  if (s.ok()) s = GetInt(j, "version", &kv.version);
  if (s.ok()) s = GetInt(j, "lease", &kv.lease);
  if (!s.ok()) return s;
  return kv;
}

Result<EtcdRange> RangeOf(const json& j) {
  EtcdRange out;
  auto rev = HeaderRevision(j);
  if (!rev.ok()) return rev.status();
  out.revision = *rev;
  auto kvs = GetArray(j, "kvs");
  if (!kvs.ok()) return kvs.status();
  for (const json& item : *kvs) {
    auto kv = ParseKv(item);
    if (!kv.ok()) return kv.status();
    out.kvs.push_back(std::move(kv).value());
  }
  return out;
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return Status::InvalidArgument("base64 length is not a multiple of 4");
  }
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + static_cast<size_t>(k)];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return Status::InvalidArgument("base64 padding misplaced");
      v[k] = value(c);
      if (v[k] < 0) return Status::InvalidArgument("not base64");
    }
    const uint32_t n = (static_cast<uint32_t>(v[0]) << 18) |
                       (static_cast<uint32_t>(v[1]) << 12) |
                       (static_cast<uint32_t>(v[2]) << 6) |
                       static_cast<uint32_t>(v[3]);
    // Canonical only: the bits under the padding are zero.
    if ((pad == 1 && (n & 0xff) != 0) || (pad == 2 && (n & 0xffff) != 0)) {
      return Status::InvalidArgument("base64 with stray bits in its padding");
    }
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return out;
}

Result<EtcdRange> ParseRange(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  if (auto e = ErrorOf(*j)) return *e;
  return RangeOf(*j);
}

Result<int64_t> ParsePut(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  if (auto e = ErrorOf(*j)) return *e;
  return HeaderRevision(*j);
}

Result<int64_t> ParseDeleteRange(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  if (auto e = ErrorOf(*j)) return *e;
  if (auto rev = HeaderRevision(*j); !rev.ok()) return rev.status();
  int64_t deleted = 0;
  if (Status s = GetInt(*j, "deleted", &deleted); !s.ok()) return s;
  return deleted;
}

Result<EtcdTxnResult> ParseTxn(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  if (auto e = ErrorOf(*j)) return *e;
  EtcdTxnResult out;
  auto rev = HeaderRevision(*j);
  if (!rev.ok()) return rev.status();
  out.revision = *rev;
  if (Status s = GetBool(*j, "succeeded", &out.succeeded); !s.ok()) return s;
  auto responses = GetArray(*j, "responses");
  if (!responses.ok()) return responses.status();
  for (const json& r : *responses) {
    if (!r.is_object()) return Bad("a txn response is not an object");
    auto it = r.find("response_range");
    if (it == r.end()) {
      out.ranges.emplace_back();
      continue;
    }
    if (!it->is_object()) return Bad("'response_range' not an object");
    auto range = RangeOf(*it);
    if (!range.ok()) return range.status();
    if (range->revision == 0) range->revision = out.revision;
    out.ranges.push_back(std::move(range).value());
  }
  return out;
}

Result<EtcdLease> ParseLeaseGrant(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  if (auto e = ErrorOf(*j)) return *e;
  EtcdLease lease;
  Status s = GetInt(*j, "ID", &lease.id);
  if (s.ok()) s = GetInt(*j, "TTL", &lease.ttl_seconds);
  if (!s.ok()) return s;
  if (lease.id <= 0 || lease.ttl_seconds <= 0) {
    return Bad("lease grant without an ID and a TTL");
  }
  return lease;
}

Result<EtcdLease> ParseLeaseKeepAlive(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  if (auto e = ErrorOf(*j)) return *e;
  auto result = GetObject(*j, "result");
  if (!result.ok()) return result.status();
  EtcdLease lease;
  Status s = GetInt(*result, "ID", &lease.id);
  if (s.ok()) s = GetInt(*result, "TTL", &lease.ttl_seconds);
  if (!s.ok()) return s;
  if (lease.id <= 0) return Bad("keepalive answer without an ID");
  // An expired or revoked lease answers a TTL of 0 (left out).
  if (lease.ttl_seconds <= 0) {
    return Status::NotFound("etcd: lease " + std::to_string(lease.id) +
                            " expired");
  }
  return lease;
}

Result<EtcdWatchBatch> ParseWatchMessage(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  if (auto e = ErrorOf(*j)) return *e;
  auto result = GetObject(*j, "result");
  if (!result.ok()) return result.status();
  EtcdWatchBatch out;
  auto rev = HeaderRevision(*result);
  if (!rev.ok()) return rev.status();
  out.revision = *rev;
  if (Status s = GetBool(*result, "created", &out.created); !s.ok()) return s;
  int64_t compacted = 0;
  if (Status s = GetInt(*result, "compact_revision", &compacted); !s.ok()) {
    return s;
  }
  if (compacted > 0) {
    return Status::NotFound("etcd: watch revision compacted (oldest " +
                            std::to_string(compacted) + ")");
  }
  bool canceled = false;
  if (Status s = GetBool(*result, "canceled", &canceled); !s.ok()) return s;
  if (canceled) return Status::Unavailable("etcd: watch canceled");
  auto events = GetArray(*result, "events");
  if (!events.ok()) return events.status();
  for (const json& e : *events) {
    if (!e.is_object()) return Bad("a watch event is not an object");
    EtcdWatchEvent ev;
    if (auto t = e.find("type"); t != e.end() && !t->is_null()) {
      if (t->is_string() && t->get<std::string>() == "DELETE") {
        ev.deleted = true;
      } else if (t->is_string() && t->get<std::string>() == "PUT") {
        ev.deleted = false;
      } else if (t->is_number_integer()) {
        ev.deleted = t->get<int64_t>() == 1;
      } else {
        return Bad("unknown watch event type");
      }
    }
    auto kv = GetObject(e, "kv");
    if (!kv.ok()) return kv.status();
    auto parsed = ParseKv(*kv);
    if (!parsed.ok()) return parsed.status();
    ev.kv = std::move(parsed).value();
    out.events.push_back(std::move(ev));
  }
  return out;
}

Status SplitObjects(std::string* buffer, std::vector<std::string>* out,
                    size_t max_bytes) {
  size_t pos = 0;
  for (;;) {
    while (pos < buffer->size() &&
           ((*buffer)[pos] == ' ' || (*buffer)[pos] == '\n' ||
            (*buffer)[pos] == '\r' || (*buffer)[pos] == '\t')) {
      ++pos;
    }
    if (pos == buffer->size()) break;
    if ((*buffer)[pos] != '{') {
      return Bad("watch stream does not hold JSON objects");
    }
    int depth = 0;
    bool in_string = false, escaped = false;
    size_t end = std::string::npos;
    for (size_t i = pos; i < buffer->size(); ++i) {
      const char c = (*buffer)[i];
      if (in_string) {
        if (escaped) {
          escaped = false;
        } else if (c == '\\') {
          escaped = true;
        } else if (c == '"') {
          in_string = false;
        }
        continue;
      }
      if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) {
          end = i + 1;
          break;
        }
      }
    }
    if (end == std::string::npos) {
      if (buffer->size() - pos > max_bytes) {
        return Bad("watch message too large");
      }
      break;
    }
    out->push_back(buffer->substr(pos, end - pos));
    pos = end;
  }
  buffer->erase(0, pos);
  return Status::OK();
}

}  // namespace etcd_json

// -------------------------------------------------------------- transport

namespace {

std::string KeyJson(const json& j) { return j.dump(); }

// One HTTP exchange with a deadline: async operations on a private
// io_context, run until they finish or the deadline passes.
class Exchange {
 public:
  Exchange(std::string host, std::string port, Clock::time_point deadline)
      : host_(std::move(host)), port_(std::move(port)), deadline_(deadline) {}

  // Connects and sends a POST of `body` to `path`.
  Status Send(std::string_view path, const std::string& body) {
    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    bool done = false;
    tcp::resolver::results_type results;
    resolver.async_resolve(
        host_, port_, [&](beast::error_code e, tcp::resolver::results_type r) {
          ec = e;
          results = std::move(r);
          done = true;
        });
    if (!RunUntil(&done)) return Timeout("resolving");
    if (ec) return Failed("resolving", ec);
    done = false;
    asio::async_connect(socket_, results,
                        [&](beast::error_code e, const tcp::endpoint&) {
                          ec = e;
                          done = true;
                        });
    if (!RunUntil(&done)) return Timeout("connecting");
    if (ec) return Failed("connecting", ec);
    req_.method(http::verb::post);
    req_.target(beast::string_view(path.data(), path.size()));
    req_.version(11);
    req_.set(http::field::host, host_ + ":" + port_);
    req_.set(http::field::content_type, "application/json");
    req_.body() = body;
    req_.prepare_payload();
    done = false;
    http::async_write(socket_, req_, [&](beast::error_code e, size_t) {
      ec = e;
      done = true;
    });
    if (!RunUntil(&done)) return Timeout("sending");
    if (ec) return Failed("sending", ec);
    return Status::OK();
  }

  // Reads a whole response of at most `limit` body bytes.
  Result<std::pair<int, std::string>> Receive(size_t limit) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(limit);
    beast::error_code ec;
    bool done = false;
    http::async_read(socket_, buffer_, parser,
                     [&](beast::error_code e, size_t) {
                       ec = e;
                       done = true;
                     });
    if (!RunUntil(&done)) return Timeout("waiting for the answer");
    if (ec) return Failed("reading the answer", ec);
    auto& res = parser.get();
    return std::make_pair(static_cast<int>(res.result_int()),
                          std::move(res.body()));
  }

  // Reads the response header, then hands body bytes to `on_bytes` as they
  // come until it returns false, `stop` is set, or the stream ends.
  // `on_bytes` returns false to end the stream, with *error set when it
  // failed.
  Status Stream(const std::function<bool(std::string_view, Status*)>& on_bytes,
                const std::function<bool()>& stopped, int* status_code) {
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(std::numeric_limits<uint64_t>::max());
    beast::error_code ec;
    bool done = false;
    http::async_read_header(socket_, buffer_, parser,
                            [&](beast::error_code e, size_t) {
                              ec = e;
                              done = true;
                            });
    if (!RunUntil(&done)) return Timeout("waiting for the watch to start");
    if (ec) return Failed("reading the watch header", ec);
    *status_code = static_cast<int>(parser.get().result_int());
    char chunk[16384];
    while (!parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof chunk;
      done = false;
      http::async_read_some(socket_, buffer_, parser,
                            [&](beast::error_code e, size_t) {
                              ec = e;
                              done = true;
                            });
      // No deadline here: a watch is quiet until something changes. Poll
      // the stop flag instead.
      while (!done) {
        ioc_.restart();
        ioc_.run_for(std::chrono::milliseconds(100));
        if (!done && stopped()) {
          Abort();
          return Status::OK();
        }
      }
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return Failed("reading the watch stream", ec);
      const size_t got = sizeof chunk - parser.get().body().size;
      if (got > 0) {
        Status error;
        if (!on_bytes(std::string_view(chunk, got), &error)) {
          Abort();
          return error;
        }
      }
      if (stopped()) {
        Abort();
        return Status::OK();
      }
    }
    return Status::Unavailable("etcd " + host_ + ":" + port_ +
                               ": the watch stream ended");
  }

  ~Exchange() { Abort(); }

 private:
  // Runs the io_context until *done or the deadline; on the deadline the
  // socket closes and the pending handlers finish with an error.
  bool RunUntil(bool* done) {
    while (!*done) {
      const auto left = deadline_ - Clock::now();
      if (left <= Clock::duration::zero()) break;
      ioc_.restart();
      ioc_.run_for(left);
    }
    if (*done) return true;
    Abort();
    return false;
  }
  void Abort() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    // Lets the cancelled handlers run (they refer to this frame).
    ioc_.restart();
    ioc_.run_for(std::chrono::milliseconds(50));
  }
  Status Timeout(const char* what) {
    return Status::Timeout("etcd " + host_ + ":" + port_ + ": timed out " +
                           what);
  }
  Status Failed(const char* what, const beast::error_code& ec) {
    return Status::Unavailable("etcd " + host_ + ":" + port_ + ": " + what +
                               ": " + ec.message());
  }

  std::string host_, port_;
  Clock::time_point deadline_;
  asio::io_context ioc_;
  tcp::socket socket_{ioc_};
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
};

constexpr size_t kMaxAnswerBytes = 64 << 20;

}  // namespace

// ----------------------------------------------------------------- client

Result<std::vector<std::string>> EtcdClient::ParseEndpoints(
    std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) comma = s.size();
    std::string_view one = s.substr(start, comma - start);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (!one.empty()) out.emplace_back(one);
    start = comma + 1;
  }
  if (out.empty()) return Status::InvalidArgument("no etcd endpoint given");
  return out;
}

Result<std::vector<std::string>> ParseEtcdEndpoints(std::string_view list) {
  auto endpoints = EtcdClient::ParseEndpoints(list);
  if (!endpoints.ok()) return endpoints.status();
  EtcdOptions probe;
  probe.endpoints = *endpoints;
  if (auto made = EtcdClient::Create(probe); !made.ok()) return made.status();
  return endpoints;
}

Result<EtcdClient> EtcdClient::Create(EtcdOptions options) {
  if (options.endpoints.empty()) {
    return Status::InvalidArgument("no etcd endpoint given");
  }
  if (options.timeout.count() <= 0) {
    return Status::InvalidArgument("the etcd timeout must be positive");
  }
  EtcdClient c;
  for (const std::string& e : options.endpoints) {
    const std::string_view scheme = "http://";
    std::string_view rest = e;
    if (rest.substr(0, scheme.size()) != scheme) {
      return Status::InvalidArgument(
          "etcd endpoint must be http://HOST:PORT, got '" + e + "'");
    }
    rest.remove_prefix(scheme.size());
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    const size_t colon = rest.rfind(':');
    Endpoint ep;
    if (colon == std::string_view::npos || colon == 0 ||
        colon + 1 == rest.size()) {
      return Status::InvalidArgument(
          "etcd endpoint must be http://HOST:PORT, got '" + e + "'");
    }
    ep.host = std::string(rest.substr(0, colon));
    ep.port = std::string(rest.substr(colon + 1));
    if (ep.host.size() > 2 && ep.host.front() == '[' && ep.host.back() == ']') {
      ep.host = ep.host.substr(1, ep.host.size() - 2);
    }
    unsigned port = 0;
    auto [ptr, ec] =
        std::from_chars(ep.port.data(), ep.port.data() + ep.port.size(), port);
    if (ec != std::errc() || ptr != ep.port.data() + ep.port.size() ||
        port == 0 || port > 65535 ||
        ep.host.find_first_of("/?#@ ") != std::string::npos) {
      return Status::InvalidArgument(
          "etcd endpoint must be http://HOST:PORT, got '" + e + "'");
    }
    c.parsed_.push_back(std::move(ep));
  }
  c.endpoints_ = std::move(options.endpoints);
  c.timeout_ = options.timeout;
  return c;
}

EtcdClient::EtcdClient(EtcdClient&& other) noexcept
    : endpoints_(std::move(other.endpoints_)),
      parsed_(std::move(other.parsed_)),
      timeout_(other.timeout_),
      preferred_(other.preferred_.load()) {}

EtcdClient::~EtcdClient() = default;

std::string EtcdClient::PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<uint8_t>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<uint8_t>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

Result<std::string> EtcdClient::Post(std::string_view path,
                                     const std::string& body) const {
  const auto deadline = Clock::now() + timeout_;
  const size_t n = parsed_.size();
  const size_t first = preferred_.load() % n;
  Status last = Status::Unavailable("etcd: no endpoint");
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (first + k) % n;
    const auto now = Clock::now();
    if (now >= deadline) break;
    // Each endpoint left gets its part of the time left.
    const auto attempt_deadline =
        now + (deadline - now) / static_cast<int64_t>(n - k);
    Exchange x(parsed_[i].host, parsed_[i].port, attempt_deadline);
    Status s = x.Send(path, body);
    if (!s.ok()) {
      last = s;
      continue;
    }
    auto answer = x.Receive(kMaxAnswerBytes);
    if (!answer.ok()) {
      last = answer.status();
      continue;
    }
    const int code = answer->first;
    if (code >= 500) {
      // etcd's gateway answers 503 while it has no leader: try another.
      auto j = json::parse(answer->second, nullptr, false);
      std::string message;
      if (j.is_object() && j.contains("message") && j["message"].is_string()) {
        message = j["message"].get<std::string>();
      }
      last = Status::Unavailable("etcd " + endpoints_[i] + ": HTTP " +
                                 std::to_string(code) +
                                 (message.empty() ? "" : ": " + message));
      continue;
    }
    preferred_ = i;
    if (code != 200) {
      auto j = json::parse(answer->second, nullptr, false);
      std::string message;
      if (j.is_object() && j.contains("message") && j["message"].is_string()) {
        message = j["message"].get<std::string>();
      }
      if (message.find("not found") != std::string::npos) {
        return Status::NotFound("etcd: " + message);
      }
      return Status::InvalidArgument("etcd " + endpoints_[i] + ": HTTP " +
                                     std::to_string(code) +
                                     (message.empty() ? "" : ": " + message));
    }
    return std::move(answer->second);
  }
  return last;
}

Result<EtcdRange> EtcdClient::Range(std::string_view key,
                                    std::string_view range_end) const {
  json req = {{"key", etcd_json::Base64Encode(key)}};
  if (!range_end.empty()) req["range_end"] = etcd_json::Base64Encode(range_end);
  auto body = Post("/v3/kv/range", KeyJson(req));
  if (!body.ok()) return body.status();
  return etcd_json::ParseRange(*body);
}

Result<EtcdRange> EtcdClient::RangePrefix(std::string_view prefix) const {
  return Range(prefix, PrefixEnd(prefix));
}

Result<int64_t> EtcdClient::Put(std::string_view key, std::string_view value,
                                int64_t lease) const {
  json req = {{"key", etcd_json::Base64Encode(key)},
              {"value", etcd_json::Base64Encode(value)}};
  if (lease != 0) req["lease"] = std::to_string(lease);
  auto body = Post("/v3/kv/put", KeyJson(req));
  if (!body.ok()) return body.status();
  return etcd_json::ParsePut(*body);
}

Result<int64_t> EtcdClient::Delete(std::string_view key,
                                   std::string_view range_end) const {
  json req = {{"key", etcd_json::Base64Encode(key)}};
  if (!range_end.empty()) req["range_end"] = etcd_json::Base64Encode(range_end);
  auto body = Post("/v3/kv/deleterange", KeyJson(req));
  if (!body.ok()) return body.status();
  return etcd_json::ParseDeleteRange(*body);
}

namespace {
json OpJson(const EtcdOp& op) {
  switch (op.kind) {
    case EtcdOp::Kind::kPut: {
      json put = {{"key", etcd_json::Base64Encode(op.key)},
                  {"value", etcd_json::Base64Encode(op.value)}};
      if (op.lease != 0) put["lease"] = std::to_string(op.lease);
      return {{"request_put", put}};
    }
    case EtcdOp::Kind::kDelete: {
      json del = {{"key", etcd_json::Base64Encode(op.key)}};
      if (!op.range_end.empty()) {
        del["range_end"] = etcd_json::Base64Encode(op.range_end);
      }
      return {{"request_delete_range", del}};
    }
    case EtcdOp::Kind::kRange: {
      json range = {{"key", etcd_json::Base64Encode(op.key)}};
      if (!op.range_end.empty()) {
        range["range_end"] = etcd_json::Base64Encode(op.range_end);
      }
      return {{"request_range", range}};
    }
  }
  return json::object();
}
}  // namespace

Result<EtcdTxnResult> EtcdClient::Txn(
    const std::vector<EtcdCompare>& compare, const std::vector<EtcdOp>& success,
    const std::vector<EtcdOp>& failure) const {
  json cmp = json::array();
  for (const EtcdCompare& c : compare) {
    json one = {{"key", etcd_json::Base64Encode(c.key)}, {"result", "EQUAL"}};
    if (c.target == EtcdCompare::Target::kVersion) {
      one["target"] = "VERSION";
      one["version"] = std::to_string(c.value);
    } else {
      one["target"] = "MOD";
      one["mod_revision"] = std::to_string(c.value);
    }
    cmp.push_back(one);
  }
  json ok = json::array(), fail = json::array();
  for (const EtcdOp& op : success) ok.push_back(OpJson(op));
  for (const EtcdOp& op : failure) fail.push_back(OpJson(op));
  json req = {{"compare", cmp}, {"success", ok}, {"failure", fail}};
  auto body = Post("/v3/kv/txn", KeyJson(req));
  if (!body.ok()) return body.status();
  return etcd_json::ParseTxn(*body);
}

Result<EtcdLease> EtcdClient::LeaseGrant(int64_t ttl_seconds) const {
  json req = {{"TTL", std::to_string(ttl_seconds)}, {"ID", "0"}};
  auto body = Post("/v3/lease/grant", KeyJson(req));
  if (!body.ok()) return body.status();
  return etcd_json::ParseLeaseGrant(*body);
}

Result<EtcdLease> EtcdClient::LeaseKeepAlive(int64_t id) const {
  json req = {{"ID", std::to_string(id)}};
  auto body = Post("/v3/lease/keepalive", KeyJson(req));
  if (!body.ok()) return body.status();
  // The stream may hold several messages; the first one answers.
  std::string buffer = std::move(body).value();
  std::vector<std::string> messages;
  if (Status s = etcd_json::SplitObjects(&buffer, &messages); !s.ok()) return s;
  if (messages.empty()) {
    return Status::InvalidArgument("malformed etcd answer: empty keepalive");
  }
  return etcd_json::ParseLeaseKeepAlive(messages.front());
}

Status EtcdClient::LeaseRevoke(int64_t id) const {
  json req = {{"ID", std::to_string(id)}};
  auto body = Post("/v3/lease/revoke", KeyJson(req));
  if (!body.ok()) return body.status();
  auto j = json::parse(*body, nullptr, false);
  if (!j.is_object()) {
    return Status::InvalidArgument("malformed etcd answer: not a JSON object");
  }
  return Status::OK();
}

Status EtcdClient::Watch(
    std::string_view key, std::string_view range_end, int64_t start_revision,
    const std::function<bool(const EtcdWatchBatch&)>& on_batch,
    const std::function<bool()>& stopped) const {
  json create = {{"key", etcd_json::Base64Encode(key)}};
  if (!range_end.empty()) {
    create["range_end"] = etcd_json::Base64Encode(range_end);
  }
  if (start_revision > 0) {
    create["start_revision"] = std::to_string(start_revision);
  }
  const std::string body = KeyJson({{"create_request", create}});
  const size_t n = parsed_.size();
  const size_t first = preferred_.load() % n;
  Status last = Status::Unavailable("etcd: no endpoint");
  for (size_t k = 0; k < n && !stopped(); ++k) {
    const size_t i = (first + k) % n;
    Exchange x(parsed_[i].host, parsed_[i].port, Clock::now() + timeout_);
    Status s = x.Send("/v3/watch", body);
    if (!s.ok()) {
      last = s;
      continue;
    }
    std::string buffer;
    bool started = false;
    int code = 0;
    s = x.Stream(
        [&](std::string_view bytes, Status* error) {
          buffer.append(bytes);
          std::vector<std::string> messages;
          *error = etcd_json::SplitObjects(&buffer, &messages);
          if (!error->ok()) return false;
          for (const std::string& m : messages) {
            auto batch = etcd_json::ParseWatchMessage(m);
            if (!batch.ok()) {
              *error = batch.status();
              return false;
            }
            started = true;
            if (!on_batch(*batch)) return false;
          }
          return true;
        },
        stopped, &code);
    if (code != 0 && code != 200) {
      return Status::Unavailable("etcd " + endpoints_[i] + ": watch HTTP " +
                                 std::to_string(code));
    }
    if (s.ok()) return s;
    if (started || s.code() == Code::kNotFound) return s;
    last = s;
  }
  return stopped() ? Status::OK() : last;
}

}  // namespace deltakv::cluster
