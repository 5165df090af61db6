// WholeKey: a key's full answer from GET /v1/keys/{key}, following the
// pages of a set (cursor) and of a list (offset), for tests that compare
// whole regions.
#ifndef DELTAKV_TESTS_WHOLE_KEY_H_
#define DELTAKV_TESTS_WHOLE_KEY_H_

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace deltakv::testing {

// `get` answers the parsed body of a GET of the target (null on failure);
// `path` is "/v1/keys/<encoded key>". Null when a page cannot be read.
inline nlohmann::json WholeKey(
    const std::function<nlohmann::json(const std::string&)>& get,
    const std::string& path) {
  using nlohmann::json;
  json first = get(path);
  if (!first.is_object()) return json();
  const std::string type = first.value("type", "");
  if (type == "set" && first["members"].is_array()) {
    std::vector<std::string> members;
    for (auto& m : first["members"]) members.push_back(m);
    json cursor = first.value("cursor", json(nullptr));
    for (int i = 0; i < 100000 && cursor.is_string(); ++i) {
      json page = get(path + "?cursor=" + cursor.get<std::string>());
      if (!page.is_object() || !page["members"].is_array()) return json();
      for (auto& m : page["members"]) members.push_back(m);
      cursor = page.value("cursor", json(nullptr));
    }
    std::sort(members.begin(), members.end());
    first["members"] = members;
    first.erase("cursor");
  } else if (type == "list" && first["values"].is_array()) {
    json values = first["values"];
    const size_t length = first.value("length", size_t{0});
    while (values.size() < length) {
      json page = get(path + "?offset=" + std::to_string(values.size()));
      if (!page.is_object() || !page["values"].is_array() ||
          page["values"].empty()) {
        return json();
      }
      for (auto& v : page["values"]) values.push_back(v);
    }
    first["values"] = values;
  }
  return first;
}

}  // namespace deltakv::testing

#endif  // DELTAKV_TESTS_WHOLE_KEY_H_
