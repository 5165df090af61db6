// ZmtpFilter: the framing logic of the nemesis test's fault proxy, on
// hand-built ZMTP 3 streams fed in pieces of every size.
#include <catch2/catch.hpp>

#include <string>

#include "tests/tools/fault_proxy.h"

using deltakv::testing::ZmtpFilter;

namespace {

std::string Greeting(char major = 3) {
  std::string g(64, '\0');
  g[0] = static_cast<char>(0xFF);
  g[9] = 0x7F;
  g[10] = major;
  g[11] = 1;
  g.replace(12, 4, "NULL");
  return g;
}

std::string Frame(uint8_t flags, const std::string& body) {
  std::string f(1, static_cast<char>(flags));
  if (body.size() > 255) {
    f[0] = static_cast<char>(flags | 0x02);
    for (int i = 7; i >= 0; --i) {
      f.push_back(static_cast<char>((body.size() >> (8 * i)) & 0xFF));
    }
  } else {
    f.push_back(static_cast<char>(body.size()));
  }
  return f + body;
}

// Feeds `in` in pieces of `step` bytes; returns what the filter forwards.
std::string FeedInSteps(ZmtpFilter& f, const std::string& in, size_t step) {
  std::string out;
  for (size_t i = 0; i < in.size(); i += step) {
    REQUIRE(f.Feed(std::string_view(in).substr(i, step), &out).ok());
  }
  return out;
}

const std::string kReady = Frame(0x04, "\x05READYsomething");
const std::string kPing = Frame(0x04, "\x04PING");
const std::string kTwoPart = Frame(0x01, "head") + Frame(0x00, "tail");
const std::string kLong = Frame(0x00, std::string(300, 'x'));
const std::string kShort = Frame(0x00, "one");

}  // namespace

TEST_CASE("the fault filter drops whole messages and never command frames") {
  const std::string in =
      Greeting() + kReady + kTwoPart + kPing + kLong + kShort + kPing;
  for (size_t step : {size_t{1}, size_t{3}, size_t{64}, in.size()}) {
    ZmtpFilter f([] { return 0; });
    CHECK(FeedInSteps(f, in, step) == Greeting() + kReady + kPing + kPing);
    CHECK(f.counts().messages == 3);
    CHECK(f.counts().dropped == 3);
    CHECK(f.counts().commands == 3);
  }
}

TEST_CASE("the fault filter duplicates a message whole, right after itself") {
  const std::string in = Greeting() + kReady + kTwoPart + kLong + kPing;
  for (size_t step : {size_t{1}, size_t{7}, in.size()}) {
    ZmtpFilter f([] { return 2; });
    CHECK(FeedInSteps(f, in, step) ==
          Greeting() + kReady + kTwoPart + kTwoPart + kLong + kLong + kPing);
    CHECK(f.counts().duplicated == 2);
  }
}

TEST_CASE("the fault filter holds back an incomplete frame") {
  ZmtpFilter f;
  const std::string in = Greeting() + kLong;
  std::string out;
  REQUIRE(f.Feed(std::string_view(in).substr(0, in.size() - 1), &out).ok());
  CHECK(out == Greeting());
  REQUIRE(f.Feed(std::string_view(in).substr(in.size() - 1), &out).ok());
  CHECK(out == in);
}

TEST_CASE("the fault filter passes an older ZMTP stream through untouched") {
  ZmtpFilter f([] { return 0; });
  const std::string in = Greeting(2) + kShort + kLong;
  CHECK(FeedInSteps(f, in, 5) == in);
  CHECK(f.passthrough());
}

TEST_CASE("the fault filter refuses a frame with reserved flag bits") {
  ZmtpFilter f;
  std::string out;
  const std::string in = Greeting() + Frame(0x40, "bad");
  CHECK(f.Feed(in, &out).code() == deltakv::Code::kInvalidArgument);
}
