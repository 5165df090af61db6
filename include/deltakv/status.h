// Status and Result<T>: how every deltakv function reports success or failure.
//
// No exception crosses a module boundary in deltakv: functions return a
// Status, or a Result<T> holding either a value or a non-OK Status. The codes
// are few on purpose; the message carries the detail (including the original
// text of a library error).
//
// Thread-safety: a Status or Result is a value; distinct objects may be used
// from distinct threads, one object needs external synchronisation.
#ifndef DELTAKV_INCLUDE_DELTAKV_STATUS_H_
#define DELTAKV_INCLUDE_DELTAKV_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace deltakv {

enum class Code : int {
  kOk = 0,
  kNotFound = 1,         // key or record does not exist
  kInvalidArgument = 2,  // caller's input is wrong (includes counter overflow)
  kWrongType = 3,        // key holds another CRDT type
  kCorruption = 4,       // bytes from disk or wire fail validation
  kUnavailable = 5,      // resource exhausted or closed (e.g. map full)
  kTooLarge = 6,         // value, key or message over its limit
  kTimeout = 7,          // a wait ran out of time
  kUnauthorized = 8,     // missing or wrong credentials
  kIOError = 9,          // the operating system or a library failed
};

// The stable lowercase name of a code, e.g. "not_found", "wrong_type".
std::string_view CodeName(Code code);

class Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) {
    return {Code::kNotFound, std::move(msg)};
  }
  static Status InvalidArgument(std::string msg) {
    return {Code::kInvalidArgument, std::move(msg)};
  }
  static Status WrongType(std::string msg) {
    return {Code::kWrongType, std::move(msg)};
  }
  static Status Corruption(std::string msg) {
    return {Code::kCorruption, std::move(msg)};
  }
  static Status Unavailable(std::string msg) {
    return {Code::kUnavailable, std::move(msg)};
  }
  static Status TooLarge(std::string msg) {
    return {Code::kTooLarge, std::move(msg)};
  }
  static Status Timeout(std::string msg) {
    return {Code::kTimeout, std::move(msg)};
  }
  static Status Unauthorized(std::string msg) {
    return {Code::kUnauthorized, std::move(msg)};
  }
  static Status IOError(std::string msg) {
    return {Code::kIOError, std::move(msg)};
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }

  // "OK" or "<code name>: <message>".
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context` and ": ".
  Status WithContext(std::string_view context) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Reports a value access on a failed Result and aborts (any build type).
[[noreturn]] void DieOnResultError(const Status& status);

// Either a T or a non-OK Status. Accessing the value of a failed Result is a
// programming error: the process aborts with the error's text.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "a Result built from a Status must be an error");
    if (status_.ok()) status_ = Status(Code::kIOError, "OK status in Result");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  T& value() & {
    if (!ok()) DieOnResultError(status_);
    return *value_;
  }
  const T& value() const& {
    if (!ok()) DieOnResultError(status_);
    return *value_;
  }
  T&& value() && {
    if (!ok()) DieOnResultError(status_);
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // The value, or `fallback` when this Result is an error.
  T value_or(T fallback) const& { return ok() ? *value_ : std::move(fallback); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace deltakv

#define DELTAKV_CONCAT_INNER_(a, b) a##b
#define DELTAKV_CONCAT_(a, b) DELTAKV_CONCAT_INNER_(a, b)

// Returns the Status of `expr` from the enclosing function when it is not OK.
#define DELTAKV_RETURN_IF_ERROR(expr)          \
  do {                                         \
    ::deltakv::Status _dkv_status = (expr);    \
    if (!_dkv_status.ok()) return _dkv_status; \
  } while (0)

// `lhs = value of expr`, or returns its Status from the enclosing function.
#define DELTAKV_ASSIGN_OR_RETURN(lhs, expr)                                    \
  DELTAKV_ASSIGN_OR_RETURN_IMPL_(DELTAKV_CONCAT_(_dkv_result_, __LINE__), lhs, \
                                 expr)
#define DELTAKV_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()

#endif  // DELTAKV_INCLUDE_DELTAKV_STATUS_H_
