#include "deltakv/status.h"

#include <cstdio>
#include <cstdlib>

namespace deltakv {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kNotFound:
      return "not_found";
    case Code::kInvalidArgument:
      return "invalid_argument";
    case Code::kWrongType:
      return "wrong_type";
    case Code::kCorruption:
      return "corruption";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kTooLarge:
      return "too_large";
    case Code::kTimeout:
      return "timeout";
    case Code::kUnauthorized:
      return "unauthorized";
    case Code::kIOError:
      return "io_error";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(CodeName(code_));
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

void DieOnResultError(const Status& status) {
  std::fprintf(stderr, "deltakv: value of a failed Result accessed: %s\n",
               status.ToString().c_str());
  std::abort();
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string msg(context);
  msg += ": ";
  msg += message_;
  return Status(code_, std::move(msg));
}

}  // namespace deltakv
