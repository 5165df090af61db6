// Three regions editing one text concurrently over REST (the text API of
// lists): pastes at one position, and typing character by character after
// one's own previous character while the others type too. Every region
// converges to one text in which each region's run stays whole: the list
// CRDT never interleaves concurrent runs.
#include <catch2/catch.hpp>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "client/http_client.h"
#include "tests/region_cluster.h"
#include "tests/server_harness.h"

using deltakv::HttpClient;
using deltakv::testing::Cluster;
using deltakv::testing::Post;
using nlohmann::json;

namespace {

std::string Text(HttpClient& c, const std::string& key) {
  auto r = c.Request("GET", "/v1/list/" + key + "?format=text&limit=100000");
  REQUIRE(r.ok());
  if (r->status == 404) return "";
  REQUIRE(r->status == 200);
  return json::parse(r->body)["text"].get<std::string>();
}

// Waits (bounded) until every region has the same text of `key`.
bool SameText(Cluster& cl, const std::string& key, std::string* text) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string first = Text(cl.client(0), key);
    bool same = true;
    for (size_t i = 1; i < cl.size() && same; ++i) {
      same = Text(cl.client(i), key) == first;
    }
    if (same) {
      *text = first;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// The "text" of a text page's body ("" when it is not one).
std::string TextOf(const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
    return "";
  }
  return j["text"].get<std::string>();
}

// Whether every occurrence of `c` in `text` forms one run of `n`.
bool OneRun(const std::string& text, char c, size_t n) {
  const size_t first = text.find(c);
  if (first == std::string::npos) return n == 0;
  const size_t last = text.rfind(c);
  return last - first + 1 == n && text.substr(first, n) == std::string(n, c);
}

}  // namespace

TEST_CASE("three regions paste at one position: one text, runs whole") {
  Cluster cl({"us-east", "eu-west", "ap-south"});
  REQUIRE(Post(cl.client(0), "/v1/list/doc/insert",
               {{"index", 0}, {"text", "base|"}}) == 200);
  std::string text;
  REQUIRE(SameText(cl, "doc", &text));
  REQUIRE(text == "base|");
  const std::string letters = "xyz";
  std::vector<int> failed(cl.size(), 0);
  std::vector<std::thread> ts;
  for (size_t i = 0; i < cl.size(); ++i) {
    ts.emplace_back([&, i] {
      // Each region pastes its run at the same place, several times.
      for (int k = 0; k < 5; ++k) {
        if (Post(cl.client(i), "/v1/list/doc/insert",
                 {{"index", 5}, {"text", std::string(40, letters[i])}}) !=
            200) {
          ++failed[i];
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  for (int f : failed) CHECK(f == 0);
  REQUIRE(SameText(cl, "doc", &text));
  CHECK(text.size() == 5 + 3 * 200);
  CHECK(text.rfind("base|", 0) == 0);
  // Each paste is one run of 40 (pastes of one region may sit apart).
  for (char c : letters) {
    size_t count = 0;
    for (size_t p = 0; p < text.size();) {
      if (text[p] != c) {
        ++p;
        continue;
      }
      size_t q = p;
      while (q < text.size() && text[q] == c) ++q;
      CHECK((q - p) % 40 == 0);
      count += q - p;
      p = q;
    }
    CHECK(count == 200);
  }
}

// Typing is read-then-insert: an index computed from a read goes stale if
// another region's edit lands before it between the read and the insert
// (true of any index-based API). So each region types while it cannot hear
// the others (restarted alone on its store, as a region offline would),
// and the three histories merge when they are back together: runs typed
// concurrently, character by character, at one place.
TEST_CASE("three regions type at one place concurrently: no interleaving") {
  Cluster cl({"us-east", "eu-west", "ap-south"});
  REQUIRE(Post(cl.client(0), "/v1/list/doc/insert",
               {{"index", 0}, {"text", "hello world"}}) == 200);
  std::string text;
  REQUIRE(SameText(cl, "doc", &text));
  for (size_t i = 0; i < cl.size(); ++i) cl.Stop(i);
  const std::string letters = "abc";
  constexpr size_t kRun = 60;
  // Catch2 assertions are not thread-safe: each thread reports, the main
  // thread checks.
  std::vector<std::string> alone_text(cl.size());
  std::vector<int> failed_inserts(cl.size(), 0), stopped(cl.size(), -1);
  std::vector<std::thread> ts;
  for (size_t i = 0; i < cl.size(); ++i) {
    ts.emplace_back([&, i] {
      deltakv::testing::ServerProcess alone({"--region", cl.name(i)},
                                            cl.dir(i));
      if (alone.url().empty()) return;
      auto client = HttpClient::Create(alone.url());
      if (!client.ok()) return;
      const char c = letters[i];
      for (size_t k = 0; k < kRun; ++k) {
        // Like an editor's cursor: right after this region's previous
        // character (after "hello" for the first one).
        auto r =
            (*client)->Request("GET", "/v1/list/doc?format=text&limit=100000");
        const std::string now = r.ok() ? TextOf(r->body) : "";
        const size_t mine = now.rfind(c);
        const size_t at = mine == std::string::npos ? 5 : mine + 1;
        if (Post(**client, "/v1/list/doc/insert",
                 {{"index", at}, {"text", std::string(1, c)}}) != 200) {
          ++failed_inserts[i];
        }
      }
      auto r =
          (*client)->Request("GET", "/v1/list/doc?format=text&limit=100000");
      if (r.ok()) {
        alone_text[i] = TextOf(r->body);
      }
      stopped[i] = alone.Stop();
    });
  }
  for (auto& t : ts) t.join();
  for (size_t i = 0; i < cl.size(); ++i) {
    CHECK(failed_inserts[i] == 0);
    CHECK(alone_text[i] == "hello" + std::string(kRun, letters[i]) + " world");
    CHECK(stopped[i] == 0);
  }
  for (size_t i = 0; i < cl.size(); ++i) cl.Start(i);
  REQUIRE(SameText(cl, "doc", &text));
  INFO(text);
  CHECK(text.size() == 11 + 3 * kRun);
  CHECK(text.rfind("hello", 0) == 0);
  CHECK(text.substr(text.size() - 6) == " world");
  for (char c : letters) CHECK(OneRun(text, c, kRun));
}
