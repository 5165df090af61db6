// Unit tests of the RESP parser, the reply builder and the value rules of
// the Redis protocol adapter (resp/).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "resp/parser.h"
#include "resp/reply.h"
#include "resp/values.h"

using deltakv::resp::Parser;
using deltakv::resp::ParserLimits;
using deltakv::resp::Reply;
using Args = std::vector<std::string>;

namespace {

// Every command `bytes` holds, fed in pieces of `piece` bytes; the last
// status in *last.
std::vector<Args> ParseAll(const std::string& bytes, size_t piece,
                           Parser::Status* last = nullptr,
                           ParserLimits limits = {}) {
  Parser p(limits);
  std::vector<Args> out;
  Parser::Status s = Parser::Status::kNeedMore;
  for (size_t i = 0; i < bytes.size(); i += piece) {
    p.Feed(std::string_view(bytes).substr(i, piece));
    Args args;
    while ((s = p.Next(&args)) == Parser::Status::kCommand) {
      out.push_back(args);
    }
    if (s == Parser::Status::kError) break;
  }
  if (last) *last = s;
  return out;
}

std::string ErrorOf(const std::string& bytes, ParserLimits limits = {}) {
  Parser p(limits);
  p.Feed(bytes);
  Args args;
  Parser::Status s;
  while ((s = p.Next(&args)) == Parser::Status::kCommand) {
  }
  return s == Parser::Status::kError ? p.error() : "";
}

}  // namespace

TEST_CASE("a multibulk command parses into its arguments") {
  auto cmds = ParseAll("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nx!\r\n", 1000);
  REQUIRE(cmds.size() == 1);
  CHECK(cmds[0] == Args{"SET", "k", "v\r\nx!"});
}

TEST_CASE("pipelined commands come out one by one, in order") {
  std::string bytes;
  for (int i = 0; i < 100; ++i) {
    bytes += "*2\r\n$4\r\nINCR\r\n$" +
             std::to_string(std::to_string(i).size()) + "\r\n" +
             std::to_string(i) + "\r\n";
  }
  auto cmds = ParseAll(bytes, bytes.size());
  REQUIRE(cmds.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(cmds[i][1] == std::to_string(i));
}

TEST_CASE("a command split at every byte parses the same as whole") {
  const std::string bytes =
      "*2\r\n$4\r\nPING\r\n$0\r\n\r\nECHO \"a b\" 'c'\r\n*1\r\n$4\r\nPING\r\n";
  const auto whole = ParseAll(bytes, bytes.size());
  for (size_t piece : {1, 2, 3, 5, 7}) {
    CHECK(ParseAll(bytes, piece) == whole);
  }
  REQUIRE(whole.size() == 3);
  CHECK(whole[0] == Args{"PING", ""});
  CHECK(whole[1] == Args{"ECHO", "a b", "c"});
}

TEST_CASE("inline commands follow Redis's quoting rules") {
  auto cmds = ParseAll(
      "set k \"tab\\there\\x41\"\r\n\r\n   \nget 'it\\'s'\nping\r\n", 1000);
  REQUIRE(cmds.size() == 3);
  CHECK(cmds[0] == Args{"set", "k", "tab\there\x41"});
  CHECK(cmds[1] == Args{"get", "it's"});
  CHECK(cmds[2] == Args{"ping"});
  CHECK(ErrorOf("set \"open\r\n") ==
        "Protocol error: unbalanced quotes in request");
  CHECK(ErrorOf("set \"a\"b\r\n") ==
        "Protocol error: unbalanced quotes in request");
}

TEST_CASE("empty multibulk commands are skipped") {
  auto cmds = ParseAll("*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", 1000);
  REQUIRE(cmds.size() == 1);
  CHECK(cmds[0] == Args{"PING"});
}

TEST_CASE(
    "lengths beyond the limits are protocol errors before any "
    "allocation") {
  ParserLimits tiny;
  tiny.max_bulk_bytes = 8;
  tiny.max_args = 3;
  tiny.max_inline_bytes = 16;
  tiny.max_command_bytes = 40;
  CHECK(ErrorOf("*1\r\n$9\r\n", tiny) == "Protocol error: invalid bulk length");
  CHECK(ErrorOf("*1\r\n$99999999999999999\r\n") ==
        "Protocol error: invalid bulk length");
  CHECK(ErrorOf("*1\r\n$999999999999999999999\r\n") ==
        "Protocol error: invalid bulk length");
  CHECK(ErrorOf("*1\r\n$-2\r\n") == "Protocol error: invalid bulk length");
  CHECK(ErrorOf("*4\r\n", tiny) == "Protocol error: invalid multibulk length");
  CHECK(ErrorOf("*" + std::string(40, '1')) ==
        "Protocol error: too big mbulk count string");
  CHECK(ErrorOf("*1\r\n$" + std::string(40, '1')) ==
        "Protocol error: too big bulk count string");
  CHECK(ErrorOf(std::string(17, 'a'), tiny) ==
        "Protocol error: too big inline request");
  CHECK(ErrorOf("*3\r\n$8\r\n12345678\r\n$8\r\n12345678\r\n$8\r\n", tiny)
            .find("Protocol error: command of more than 40 bytes") == 0);
}

TEST_CASE(
    "malformed frames are protocol errors and the parser stays in "
    "error") {
  CHECK(ErrorOf("*1\r\n:5\r\n") == "Protocol error: expected '$', got ':'");
  CHECK(ErrorOf("*1\r\n\x01") == "Protocol error: expected '$', got '\\x01'");
  CHECK(ErrorOf("*x\r\n") == "Protocol error: invalid multibulk length");
  CHECK(ErrorOf("*1\n") == "Protocol error: invalid multibulk length");
  CHECK(ErrorOf("*1\r\n$2\r\nPING\r\n") ==
        "Protocol error: bulk string not followed by CRLF");
  Parser p;
  p.Feed("*1\r\n$x\r\n*1\r\n$4\r\nPING\r\n");
  Args args;
  CHECK(p.Next(&args) == Parser::Status::kError);
  p.Feed("*1\r\n$4\r\nPING\r\n");
  CHECK(p.Next(&args) == Parser::Status::kError);
  CHECK(p.buffered() == 0);
}

TEST_CASE("a partly received command needs more and says it started") {
  Parser p;
  Args args;
  CHECK_FALSE(p.started());
  p.Feed("*2\r\n$3\r\nGET\r\n$1");
  CHECK(p.Next(&args) == Parser::Status::kNeedMore);
  CHECK(p.started());
  p.Feed("\r\nk\r\n");
  CHECK(p.Next(&args) == Parser::Status::kCommand);
  CHECK(args == Args{"GET", "k"});
  CHECK_FALSE(p.started());
}

TEST_CASE("replies are RESP2 or RESP3") {
  Reply r2(2), r3(3);
  for (Reply* r : {&r2, &r3}) {
    r->Map(1);
    r->Bulk("k");
    r->Null();
    r->Set(1);
    r->Integer(-5);
    r->Bool(true);
    r->Error("ERR bad\r\nline");
  }
  CHECK(r2.bytes() ==
        "*2\r\n$1\r\nk\r\n$-1\r\n*1\r\n:-5\r\n:1\r\n-ERR bad  line\r\n");
  CHECK(r3.bytes() ==
        "%1\r\n$1\r\nk\r\n_\r\n~1\r\n:-5\r\n#t\r\n-ERR bad  line\r\n");
}

TEST_CASE(
    "register values: UTF-8 travels as a JSON string, other bytes as "
    "they are") {
  using deltakv::resp::DecodeRegisterValue;
  using deltakv::resp::EncodeRegisterValue;
  CHECK(EncodeRegisterValue("hi") == "\"hi\"");
  CHECK(EncodeRegisterValue("a\"b\\c\n\x01") == "\"a\\\"b\\\\c\\n\\u0001\"");
  for (std::string v :
       {std::string("plain"), std::string("a\"b\\c\n\x01"),
        std::string("\xc3\xa9t\xc3\xa9"), std::string("\xff\x00\xfe", 3),
        std::string("123"), std::string("")}) {
    CHECK(DecodeRegisterValue(EncodeRegisterValue(v)) == v);
  }
  // Values written through REST: JSON text as it is, strings unquoted.
  CHECK(DecodeRegisterValue("{\"a\":1}") == "{\"a\":1}");
  CHECK(DecodeRegisterValue("42") == "42");
  CHECK(DecodeRegisterValue("\"\\u00e9\"") == "\xc3\xa9");
}

TEST_CASE("glob patterns match like Redis, in linear time") {
  using deltakv::resp::GlobMatch;
  using deltakv::resp::GlobPrefix;
  CHECK(GlobMatch("*", "anything"));
  CHECK(GlobMatch("user:*", "user:42"));
  CHECK_FALSE(GlobMatch("user:*", "users"));
  CHECK(GlobMatch("h?llo", "hello"));
  CHECK(GlobMatch("h[ae]llo", "hallo"));
  CHECK_FALSE(GlobMatch("h[^e]llo", "hello"));
  CHECK(GlobMatch("h[a-c]llo", "hbllo"));
  CHECK(GlobMatch("a\\*b", "a*b"));
  CHECK_FALSE(GlobMatch("a\\*b", "axb"));
  CHECK(GlobMatch("*a*b*c", "xxaxxbxxc"));
  // A pattern that is exponential for naive backtracking.
  CHECK_FALSE(GlobMatch(std::string(50, '*') + "a*a*a*a*a*a*a*b",
                        std::string(5000, 'a')));
  CHECK(GlobPrefix("user:*:x") == "user:");
  CHECK(GlobPrefix("a\\*") == "a");
}

TEST_CASE("integers are strict") {
  using deltakv::resp::ParseInt;
  CHECK(ParseInt("42") == 42);
  CHECK(ParseInt("-9223372036854775808") == INT64_MIN);
  CHECK_FALSE(ParseInt("9223372036854775808"));
  CHECK_FALSE(ParseInt("+1"));
  CHECK_FALSE(ParseInt(" 1"));
  CHECK_FALSE(ParseInt("1x"));
  CHECK_FALSE(ParseInt(""));
}
