// Holds docs/openapi.yaml against the gateway's route table in both
// directions: every route the server serves is documented, and every
// documented (path, method) is served. No YAML library is installed, so a
// small line parser reads the `paths:` section (block style, as written in
// docs/openapi.yaml: path keys indented 2 spaces, operations 4).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "gateway/request_map.h"

using deltakv::gateway::RouteSpec;
using deltakv::gateway::RouteTable;

namespace {

using Operation = std::pair<std::string, std::string>;  // (path, METHOD)

size_t Indent(const std::string& line) {
  size_t n = 0;
  while (n < line.size() && line[n] == ' ') ++n;
  return n;
}

// The text of a mapping key on `line` ("  /v1/x:" -> "/v1/x"), unquoted;
// empty when the line is not "key:" with nothing (or a comment) after it.
std::string BlockKey(const std::string& line) {
  std::string s = line.substr(Indent(line));
  if (size_t hash = s.find(" #"); hash != std::string::npos) s.erase(hash);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
  if (s.size() < 2 || s.back() != ':') return "";
  s.pop_back();
  if (s.size() >= 2 && (s.front() == '\'' || s.front() == '"') &&
      s.back() == s.front()) {
    s = s.substr(1, s.size() - 2);
  }
  return s;
}

// Every (path, method) under the top-level `paths:` key. Methods are
// upper-cased; keys of a path item that are not HTTP methods (parameters,
// summary, ...) are skipped.
std::set<Operation> ParsePaths(const std::string& yaml) {
  static const std::set<std::string> kMethods = {
      "get", "put", "post", "delete", "options", "head", "patch", "trace"};
  std::set<Operation> ops;
  std::istringstream in(yaml);
  std::string line, path;
  bool in_paths = false;
  while (std::getline(in, line)) {
    const size_t indent = Indent(line);
    if (indent == line.size() || line[indent] == '#') continue;  // blank
    if (indent == 0) {
      in_paths = BlockKey(line) == "paths";
      path.clear();
      continue;
    }
    if (!in_paths) continue;
    const std::string key = BlockKey(line);
    if (indent == 2) {
      path = key;
    } else if (indent == 4 && !path.empty() && kMethods.count(key) != 0) {
      std::string method = key;
      std::transform(method.begin(), method.end(), method.begin(),
                     [](unsigned char c) { return std::toupper(c); });
      ops.emplace(path, method);
    }
  }
  return ops;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::set<Operation> Documented() {
  const std::string yaml =
      ReadFile(std::string(DELTAKV_SOURCE_DIR) + "/docs/openapi.yaml");
  REQUIRE_FALSE(yaml.empty());
  return ParsePaths(yaml);
}

std::set<Operation> Served() {
  std::set<Operation> ops;
  for (const RouteSpec& spec : RouteTable()) {
    ops.emplace(spec.path, spec.method);
  }
  return ops;
}

}  // namespace

TEST_CASE("the paths parser reads paths and methods and nothing else") {
  const std::string yaml =
      "openapi: 3.0.3\n"
      "info:\n"
      "  title: t\n"
      "  /not/a/path:\n"
      "    get:\n"
      "paths:\n"
      "  # a comment\n"
      "  /v1/a/{key}:\n"
      "    parameters:\n"
      "      - $ref: '#/components/parameters/Key'\n"
      "    get:\n"
      "      summary: read\n"
      "      responses:\n"
      "        '200':\n"
      "          description: ok\n"
      "\n"
      "    put:  # write\n"
      "      requestBody:\n"
      "        content:\n"
      "          application/json:\n"
      "            schema:\n"
      "              properties:\n"
      "                post:\n"
      "                  type: string\n"
      "  '/v1/b':\n"
      "    delete:\n"
      "components:\n"
      "  schemas:\n"
      "    get:\n"
      "      type: object\n";
  const std::set<Operation> expected = {
      {"/v1/a/{key}", "GET"}, {"/v1/a/{key}", "PUT"}, {"/v1/b", "DELETE"}};
  CHECK(ParsePaths(yaml) == expected);
}

TEST_CASE("every route the server serves is in docs/openapi.yaml") {
  const std::set<Operation> documented = Documented();
  for (const Operation& op : Served()) {
    INFO("served but not documented: " << op.second << " " << op.first);
    CHECK(documented.count(op) == 1);
  }
}

TEST_CASE("every operation in docs/openapi.yaml is a route the server serves") {
  const std::set<Operation> served = Served();
  const std::set<Operation> documented = Documented();
  CHECK(documented.size() >= served.size());
  for (const Operation& op : documented) {
    INFO("documented but not served: " << op.second << " " << op.first);
    CHECK(served.count(op) == 1);
  }
}

TEST_CASE("the route table has no duplicate (path, method)") {
  CHECK(Served().size() == RouteTable().size());
}
