// The read path's pure parts: answer sizes of JSON strings, pages cut to a
// byte budget, set cursors, and the bounded read pool.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gateway/paging.h"
#include "gateway/read_pool.h"

using deltakv::gateway::FittingItems;
using deltakv::gateway::JsonStringBytes;
using deltakv::gateway::ParseSetCursor;
using deltakv::gateway::ReadPool;
using deltakv::gateway::SetCursor;
using nlohmann::json;

namespace {

// What the API writes for a string.
size_t Dumped(const std::string& s) {
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace).size();
}

}  // namespace

TEST_CASE("JsonStringBytes is the dumped size of valid UTF-8") {
  for (const std::string& s :
       {std::string(), std::string("plain"), std::string("q\"b\\s/"),
        std::string("\n\t\r\b\f"), std::string("\x01\x1f\x7f", 3),
        std::string("\0", 1), std::string("é€😀"), std::string("a\xc3\xa9z")}) {
    INFO(s);
    CHECK(JsonStringBytes(s) == Dumped(s));
  }
  std::mt19937 rng(7);
  const char32_t points[] = {0x01, 0x0a, 0x22,   0x41,   0x5c,
                             0x7f, 0xe9, 0x20ac, 0xfffd, 0x1f600};
  for (int round = 0; round < 500; ++round) {
    std::string s;
    const int n = static_cast<int>(rng() % 20);
    for (int i = 0; i < n; ++i) {
      const char32_t cp = points[rng() % std::size(points)];
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else if (cp < 0x800) {
        s.push_back(static_cast<char>(0xc0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
      } else if (cp < 0x10000) {
        s.push_back(static_cast<char>(0xe0 | (cp >> 12)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
      } else {
        s.push_back(static_cast<char>(0xf0 | (cp >> 18)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
      }
    }
    REQUIRE(JsonStringBytes(s) == Dumped(s));
  }
}

TEST_CASE("JsonStringBytes bounds what invalid UTF-8 is dumped as") {
  std::mt19937 rng(11);
  for (int round = 0; round < 2000; ++round) {
    std::string s;
    const int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(rng() & 0xff));
    INFO(json(s).dump(-1, ' ', true, json::error_handler_t::replace));
    REQUIRE(JsonStringBytes(s) >= Dumped(s));
  }
}

TEST_CASE("FittingItems keeps the items whose array fits the budget") {
  const std::vector<std::string> items = {"ab", "cd", "ef"};  // 4 bytes each
  CHECK(FittingItems(items, 0, 100) == 3);
  CHECK(FittingItems(items, 0, 4 + 5 + 5) == 3);  // commas included
  CHECK(FittingItems(items, 0, 4 + 5 + 4) == 2);
  CHECK(FittingItems(items, 0, 3) == 0);
  CHECK(FittingItems(items, 10, 14) == 1);
  CHECK(FittingItems({}, 0, 0) == 0);
  // What fits, dumped, is within the budget.
  std::vector<std::string> many;
  for (int i = 0; i < 1000; ++i) many.push_back(std::string(i % 37, '"'));
  const size_t n = FittingItems(many, 0, 5000);
  json arr = json::array();
  for (size_t i = 0; i < n; ++i) arr.push_back(many[i]);
  CHECK(arr.dump().size() - 2 <= 5000);
  arr.push_back(many[n]);
  CHECK(arr.dump().size() - 2 > 5000);
}

TEST_CASE("set cursors round-trip every position, the empty one included") {
  for (const std::string& p :
       {std::string(), std::string("a"), std::string("\0\xff", 2),
        std::string(401, 'x')}) {
    const std::string c = SetCursor(p);
    CHECK_FALSE(c.empty());
    auto back = ParseSetCursor(c);
    REQUIRE(back);
    CHECK(*back == p);
  }
  for (const char* bad : {"", "0", "02", "0161z", "01abc", "zz", "01AB"}) {
    INFO(bad);
    CHECK_FALSE(ParseSetCursor(bad));
  }
}

TEST_CASE("the read pool runs tasks off the caller's thread") {
  ReadPool pool(2, 8);
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  const auto caller = std::this_thread::get_id();
  std::atomic<bool> on_caller{false};
  for (int i = 0; i < 4; ++i) {
    REQUIRE(pool.Post([&] {
      if (std::this_thread::get_id() == caller) on_caller = true;
      std::lock_guard<std::mutex> l(mu);
      ++done;
      cv.notify_all();
    }));
  }
  std::unique_lock<std::mutex> l(mu);
  REQUIRE(cv.wait_for(l, std::chrono::seconds(10), [&] { return done == 4; }));
  CHECK_FALSE(on_caller);
}

TEST_CASE(
    "the read pool refuses tasks beyond its queue, and runs the queued "
    "ones when stopped") {
  ReadPool pool(1, 2);
  std::mutex mu;
  std::condition_variable cv;
  bool started = false, release = false;
  std::atomic<int> ran{0};
  REQUIRE(pool.Post([&] {
    std::unique_lock<std::mutex> l(mu);
    started = true;
    cv.notify_all();
    cv.wait(l, [&] { return release; });
    ++ran;
  }));
  {
    std::unique_lock<std::mutex> l(mu);
    REQUIRE(cv.wait_for(l, std::chrono::seconds(10), [&] { return started; }));
  }
  // The one thread is busy: two tasks may wait, a third is refused.
  CHECK(pool.Post([&] { ++ran; }));
  CHECK(pool.Post([&] { ++ran; }));
  CHECK(pool.queued() == 2);
  CHECK_FALSE(pool.Post([&] { ran += 100; }));
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
  }
  cv.notify_all();
  pool.Stop();
  CHECK(ran == 3);
  CHECK_FALSE(pool.Post([&] { ++ran; }));
  pool.Stop();  // twice is fine
}
