// libFuzzer target for the RESP parser (resp/parser.h).
//
// Input: the first byte picks the limits (bit 0: tiny, so the limit paths
// are reached with short inputs) and the second a piece size (1..256); the
// rest is the byte stream a client sends, e.g.
// "\x00\x07*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n".
//
// The parser must never crash, and:
// - fed whole or in pieces of any size it yields the same commands and the
//   same final status (incremental parsing changes nothing);
// - every command has at least one argument and no more than max_args;
//   multibulk arguments respect max_bulk_bytes, inline ones
//   max_inline_bytes;
// - an error is final and comes with a "Protocol error: " message;
// - what it buffers stays bounded by the input it was fed.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "resp/parser.h"

namespace {

using deltakv::resp::Parser;
using deltakv::resp::ParserLimits;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "resp_parser_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

struct Run {
  std::vector<std::vector<std::string>> commands;
  Parser::Status last = Parser::Status::kNeedMore;
  std::string error;
};

Run Parse(std::string_view in, size_t piece, const ParserLimits& limits) {
  Parser p(limits);
  Run run;
  for (size_t i = 0; i < in.size() || i == 0; i += piece) {
    p.Feed(in.substr(i, piece));
    Check(p.buffered() <= in.size(), "buffers more than it was fed");
    std::vector<std::string> args;
    while ((run.last = p.Next(&args)) == Parser::Status::kCommand) {
      Check(!args.empty(), "an empty command");
      Check(args.size() <= limits.max_args, "more arguments than max_args");
      size_t bytes = 0;
      for (const auto& a : args) bytes += a.size();
      Check(bytes <= limits.max_command_bytes + limits.max_inline_bytes,
            "a command over the size limits");
      run.commands.push_back(std::move(args));
      args.clear();
    }
    if (run.last == Parser::Status::kError) {
      run.error = p.error();
      Check(run.error.rfind("Protocol error: ", 0) == 0,
            "an error without its prefix");
      // Final: more bytes change nothing.
      p.Feed("*1\r\n$4\r\nPING\r\n");
      Check(p.Next(&args) == Parser::Status::kError, "an error is not final");
      break;
    }
    if (in.empty()) break;
  }
  return run;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  ParserLimits limits;
  if (data[0] & 1) {
    limits.max_bulk_bytes = 16;
    limits.max_args = 4;
    limits.max_inline_bytes = 32;
    limits.max_command_bytes = 64;
  }
  const size_t piece = static_cast<size_t>(data[1]) % 256 + 1;
  std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);
  const Run whole = Parse(in, in.size() == 0 ? 1 : in.size(), limits);
  const Run pieces = Parse(in, piece, limits);
  Check(whole.commands == pieces.commands,
        "pieces yield other commands than the whole");
  Check(whole.last == pieces.last, "pieces end in another status");
  Check(whole.error == pieces.error, "pieces end in another error");
  for (const auto& cmd : whole.commands) {
    for (const auto& a : cmd) {
      Check(
          a.size() <= std::max(limits.max_bulk_bytes, limits.max_inline_bytes),
          "an argument over the limits");
    }
  }
  return 0;
}
