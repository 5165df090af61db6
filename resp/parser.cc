#include "resp/parser.h"

#include <algorithm>

namespace deltakv::resp {

namespace {

// "*<count>\r\n" and "$<length>\r\n" lines are short: a longer one is an
// error, never a reason to buffer more.
constexpr size_t kMaxNumberLine = 32;

bool IsSpace(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' ||
         c == '\f';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A character of a protocol error message: printable ASCII as itself,
// anything else as \xHH.
std::string Printable(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string(1, c);
  static const char* kHex = "0123456789abcdef";
  return std::string("\\x") + kHex[u >> 4] + kHex[u & 15];
}

}  // namespace

bool SplitInline(std::string_view line, std::vector<std::string>* out) {
  out->clear();
  size_t p = 0;
  const size_t end = line.size();
  for (;;) {
    while (p < end && IsSpace(line[p])) ++p;
    if (p == end) return true;
    bool in_double = false, in_single = false, done = false;
    std::string cur;
    while (!done) {
      if (in_double) {
        if (p == end) return false;  // unterminated quotes
        if (line[p] == '\\' && p + 3 < end && line[p + 1] == 'x' &&
            HexValue(line[p + 2]) >= 0 && HexValue(line[p + 3]) >= 0) {
          cur.push_back(static_cast<char>(HexValue(line[p + 2]) * 16 +
                                          HexValue(line[p + 3])));
          p += 3;
        } else if (line[p] == '\\' && p + 1 < end) {
          ++p;
          char c = line[p];
          switch (c) {
            case 'n':
              c = '\n';
              break;
            case 'r':
              c = '\r';
              break;
            case 't':
              c = '\t';
              break;
            case 'b':
              c = '\b';
              break;
            case 'a':
              c = '\a';
              break;
            default:
              break;
          }
          cur.push_back(c);
        } else if (line[p] == '"') {
          // A closing quote must be followed by a space or the end.
          if (p + 1 < end && !IsSpace(line[p + 1])) return false;
          done = true;
        } else {
          cur.push_back(line[p]);
        }
      } else if (in_single) {
        if (p == end) return false;
        if (line[p] == '\\' && p + 1 < end && line[p + 1] == '\'') {
          ++p;
          cur.push_back('\'');
        } else if (line[p] == '\'') {
          if (p + 1 < end && !IsSpace(line[p + 1])) return false;
          done = true;
        } else {
          cur.push_back(line[p]);
        }
      } else {
        if (p == end) break;
        switch (line[p]) {
          case ' ':
          case '\n':
          case '\r':
          case '\t':
            done = true;
            break;
          case '"':
            in_double = true;
            break;
          case '\'':
            in_single = true;
            break;
          default:
            cur.push_back(line[p]);
            break;
        }
      }
      if (p < end) ++p;
    }
    out->push_back(std::move(cur));
  }
}

void Parser::Feed(std::string_view bytes) {
  if (state_ == State::kError) return;
  buf_.append(bytes);
}

Parser::Status Parser::Fail(std::string message) {
  state_ = State::kError;
  error_ = std::move(message);
  buf_.clear();
  pos_ = 0;
  args_.clear();
  return Status::kError;
}

void Parser::Compact() {
  if (pos_ == 0) return;
  if (pos_ >= buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
}

Parser::Status Parser::ReadNumberLine(char prefix, int64_t* out) {
  // buf_[pos_] == prefix.
  const size_t avail = buf_.size() - pos_;
  const size_t scan = std::min(avail, kMaxNumberLine);
  const size_t nl = buf_.find('\n', pos_);
  if (nl == std::string::npos || nl - pos_ >= scan) {
    if (avail >= kMaxNumberLine) {
      return Fail(prefix == '*' ? "Protocol error: too big mbulk count string"
                                : "Protocol error: too big bulk count string");
    }
    return Status::kNeedMore;
  }
  const char* what = prefix == '*' ? "Protocol error: invalid multibulk length"
                                   : "Protocol error: invalid bulk length";
  if (nl == pos_ + 1 || buf_[nl - 1] != '\r') return Fail(what);
  std::string_view digits(buf_.data() + pos_ + 1, nl - 1 - (pos_ + 1));
  bool negative = false;
  if (!digits.empty() && digits[0] == '-') {
    negative = true;
    digits.remove_prefix(1);
  }
  // At most 18 digits: the value fits an int64 without overflow checks.
  if (digits.empty() || digits.size() > 18) return Fail(what);
  int64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return Fail(what);
    v = v * 10 + (c - '0');
  }
  *out = negative ? -v : v;
  pos_ = nl + 1;
  return Status::kCommand;
}

Parser::Status Parser::ParseInline(std::vector<std::string>* args) {
  const size_t nl = buf_.find('\n', pos_);
  if (nl == std::string::npos) {
    if (buf_.size() - pos_ > limits_.max_inline_bytes) {
      return Fail("Protocol error: too big inline request");
    }
    Compact();
    return Status::kNeedMore;
  }
  if (nl - pos_ > limits_.max_inline_bytes) {
    return Fail("Protocol error: too big inline request");
  }
  std::string_view line(buf_.data() + pos_, nl - pos_);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string> words;
  if (!SplitInline(line, &words)) {
    return Fail("Protocol error: unbalanced quotes in request");
  }
  pos_ = nl + 1;
  if (words.size() > limits_.max_args) {
    return Fail("Protocol error: invalid multibulk length");
  }
  if (words.empty()) return Status::kNeedMore;  // skipped by Next
  *args = std::move(words);
  return Status::kCommand;
}

Parser::Status Parser::Next(std::vector<std::string>* args) {
  for (;;) {
    switch (state_) {
      case State::kError:
        return Status::kError;
      case State::kStart: {
        if (pos_ >= buf_.size()) {
          Compact();
          return Status::kNeedMore;
        }
        if (buf_[pos_] != '*') {
          const size_t before = pos_;
          Status s = ParseInline(args);
          if (s == Status::kNeedMore && pos_ != before) continue;  // blank
          return s;
        }
        const size_t start = pos_;
        int64_t n = 0;
        Status s = ReadNumberLine('*', &n);
        if (s != Status::kCommand) {
          if (s == Status::kNeedMore) Compact();
          return s;
        }
        if (n > static_cast<int64_t>(limits_.max_args)) {
          return Fail("Protocol error: invalid multibulk length");
        }
        if (n <= 0) continue;  // an empty command
        command_bytes_ = pos_ - start;
        args_.clear();
        args_.reserve(static_cast<size_t>(std::min<int64_t>(n, 64)));
        args_left_ = n;
        state_ = State::kBulkHeader;
        continue;
      }
      case State::kBulkHeader: {
        if (pos_ >= buf_.size()) {
          Compact();
          return Status::kNeedMore;
        }
        if (buf_[pos_] != '$') {
          return Fail("Protocol error: expected '$', got '" +
                      Printable(buf_[pos_]) + "'");
        }
        const size_t start = pos_;
        int64_t len = 0;
        Status s = ReadNumberLine('$', &len);
        if (s != Status::kCommand) {
          if (s == Status::kNeedMore) Compact();
          return s;
        }
        command_bytes_ += pos_ - start;
        if (len < 0 || static_cast<uint64_t>(len) > limits_.max_bulk_bytes) {
          return Fail("Protocol error: invalid bulk length");
        }
        if (command_bytes_ + static_cast<size_t>(len) + 2 >
            limits_.max_command_bytes) {
          return Fail("Protocol error: command of more than " +
                      std::to_string(limits_.max_command_bytes) + " bytes");
        }
        bulk_len_ = len;
        state_ = State::kBulkBody;
        continue;
      }
      case State::kBulkBody: {
        const size_t len = static_cast<size_t>(bulk_len_);
        if (buf_.size() - pos_ < len + 2) {
          Compact();
          return Status::kNeedMore;
        }
        if (buf_[pos_ + len] != '\r' || buf_[pos_ + len + 1] != '\n') {
          return Fail("Protocol error: bulk string not followed by CRLF");
        }
        args_.emplace_back(buf_.data() + pos_, len);
        pos_ += len + 2;
        command_bytes_ += len + 2;
        if (--args_left_ > 0) {
          state_ = State::kBulkHeader;
          continue;
        }
        state_ = State::kStart;
        *args = std::move(args_);
        args_.clear();
        return Status::kCommand;
      }
    }
  }
}

}  // namespace deltakv::resp
