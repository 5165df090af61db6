// Parser: splits the bytes a Redis client sends into commands (RESP2 and
// RESP3 requests are the same: arrays of bulk strings, "multibulk", or
// inline commands, one line of space-separated words with Redis's quoting
// rules). Incremental: bytes are fed as they arrive, in pieces of any size,
// and complete commands are taken out one at a time, so pipelined commands
// and commands split across reads both work; a partly received command
// keeps what was parsed of it (no re-parsing from the start).
//
// Every length is bounded before anything is allocated for it: one bulk
// string (ParserLimits::max_bulk_bytes), the arguments of one command
// (max_args), an inline line (max_inline_bytes) and the bytes of one whole
// command (max_command_bytes). A protocol error is final: the parser stays
// in error and the connection is to be closed after the error is sent (as
// Redis does).
//
// Thread-safety: a value; one connection uses one parser from one thread.
#ifndef DELTAKV_RESP_PARSER_H_
#define DELTAKV_RESP_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace deltakv::resp {

struct ParserLimits {
  size_t max_bulk_bytes = 64 * 1024;    // one argument
  size_t max_args = 1 << 16;            // arguments of one command
  size_t max_inline_bytes = 64 * 1024;  // one inline command line
  size_t max_command_bytes = 1 << 20;   // one command, framing included
};

class Parser {
 public:
  enum class Status {
    kCommand,   // *args holds the next command (at least one argument)
    kNeedMore,  // no complete command buffered: feed more bytes
    kError,     // a protocol error (see error()); final
  };

  explicit Parser(ParserLimits limits = {}) : limits_(limits) {}

  // Appends bytes received from the client.
  void Feed(std::string_view bytes);
  // Takes the next complete command out of the bytes fed so far. Empty
  // commands (a blank inline line, "*0\r\n", "*-1\r\n") are skipped.
  Status Next(std::vector<std::string>* args);

  // After kError: the message to send, e.g. "Protocol error: invalid bulk
  // length" (without the "-ERR " prefix).
  const std::string& error() const { return error_; }
  // Bytes fed and not yet taken out as commands.
  size_t buffered() const { return buf_.size() - pos_; }
  // True when part of a command has been received (a command is started).
  bool started() const { return buffered() > 0 || state_ != State::kStart; }

 private:
  enum class State { kStart, kBulkHeader, kBulkBody, kError };

  Status Fail(std::string message);
  // Parses "<prefix><integer>\r\n" at pos_; kNeedMore when the line is not
  // complete yet.
  Status ReadNumberLine(char prefix, int64_t* out);
  Status ParseInline(std::vector<std::string>* args);
  void Compact();

  ParserLimits limits_;
  std::string buf_;
  size_t pos_ = 0;  // the first byte not parsed yet
  State state_ = State::kStart;
  int64_t args_left_ = 0;          // multibulk: arguments still to read
  int64_t bulk_len_ = 0;           // kBulkBody: the argument's length
  size_t command_bytes_ = 0;       // bytes of the current command so far
  std::vector<std::string> args_;  // the current command's arguments
  std::string error_;
};

// Splits an inline command line the way Redis does (sdssplitargs): words
// separated by spaces or tabs; "double quotes" with \n \r \t \b \a \\ \"
// and \xHH escapes; 'single quotes' with \' only. False when quotes are
// unbalanced or a closing quote is not followed by a space.
bool SplitInline(std::string_view line, std::vector<std::string>* out);

}  // namespace deltakv::resp

#endif  // DELTAKV_RESP_PARSER_H_
