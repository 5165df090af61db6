// Auth: the API tokens (bearer tokens of the REST API, AUTH passwords of
// the Redis protocol), compared in constant time. Protocol-neutral: both
// adapters check credentials through it.
//
// Thread-safety: immutable after construction.
#ifndef DELTAKV_CLUSTER_AUTH_H_
#define DELTAKV_CLUSTER_AUTH_H_

#include <string>
#include <string_view>
#include <vector>

#include "deltakv/status.h"

namespace deltakv::cluster {

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
  // True when `token` is a configured token (or none is configured); the
  // same constant-time comparison as Allows, without the "Bearer " scheme.
  bool AllowsToken(std::string_view token) const;

 private:
  std::vector<std::string> tokens_;
};

}  // namespace deltakv::cluster

#endif  // DELTAKV_CLUSTER_AUTH_H_
