// Auth: bearer tokens for the /v1 API, compared in constant time.
//
// Thread-safety: immutable after construction.
#ifndef DELTAKV_GATEWAY_AUTH_H_
#define DELTAKV_GATEWAY_AUTH_H_

#include <string>
#include <string_view>
#include <vector>

#include "deltakv/status.h"

namespace deltakv::gateway {

class Auth {
 public:
  Auth() = default;  // no tokens: every request is allowed
  explicit Auth(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {}

  // Tokens shorter than this are refused: a bearer token is the only
  // credential of the API.
  static constexpr size_t kMinTokenBytes = 16;

  // Tokens from a file (one per line; blank lines and '#' comments
  // ignored). InvalidArgument when the file cannot be read, holds no
  // token, or holds one shorter than kMinTokenBytes.
  static Result<Auth> FromFile(const std::string& path);
  // Tokens from a comma-separated list. InvalidArgument when the list
  // yields no token (a source given but empty, such as ",") or one shorter
  // than kMinTokenBytes.
  static Result<Auth> FromList(std::string_view list);

  bool enabled() const { return !tokens_.empty(); }
  // True when `authorization` is "Bearer <token>" with a configured token.
  // Every configured token is compared in full, in constant time for its
  // length, so timing does not reveal which prefix matched.
  bool Allows(std::string_view authorization) const;

 private:
  std::vector<std::string> tokens_;
};

}  // namespace deltakv::gateway

#endif  // DELTAKV_GATEWAY_AUTH_H_
