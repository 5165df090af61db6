#include "cluster/auth.h"

#include <cctype>
#include <fstream>

namespace deltakv::cluster {

namespace {

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

// Constant-time equality for equal lengths; unequal lengths compare the
// candidate against itself so the loop runs the same.
bool SameBytes(std::string_view a, std::string_view b) {
  const bool same_len = a.size() == b.size();
  std::string_view x = same_len ? b : a;
  volatile unsigned char diff = same_len ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff =
        static_cast<unsigned char>(diff | (static_cast<unsigned char>(a[i]) ^
                                           static_cast<unsigned char>(x[i])));
  }
  return diff == 0;
}

Status CheckTokens(const std::vector<std::string>& tokens,
                   const std::string& source) {
  if (tokens.empty()) {
    return Status::InvalidArgument(source +
                                   " holds no token (refusing to run with an "
                                   "open API when tokens were asked for)");
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].size() < Auth::kMinTokenBytes) {
      return Status::InvalidArgument(
          source + ": token " + std::to_string(i + 1) + " has " +
          std::to_string(tokens[i].size()) +
          " bytes; API tokens need at least " +
          std::to_string(Auth::kMinTokenBytes) +
          " (e.g. od -An -N32 -tx1 /dev/urandom | tr -d ' \\n')");
    }
  }
  return Status::OK();
}

}  // namespace

Result<Auth> Auth::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument("cannot read token file " + path);
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(in, line)) {
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#') continue;
    tokens.push_back(std::move(t));
  }
  DELTAKV_RETURN_IF_ERROR(CheckTokens(tokens, "token file " + path));
  return Auth(std::move(tokens));
}

Result<Auth> Auth::FromList(std::string_view list) {
  std::vector<std::string> tokens;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string t = Trim(list.substr(start, comma - start));
    if (!t.empty()) tokens.push_back(std::move(t));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  DELTAKV_RETURN_IF_ERROR(CheckTokens(tokens, "--tokens"));
  return Auth(std::move(tokens));
}

bool Auth::Allows(std::string_view authorization) const {
  if (tokens_.empty()) return true;
  // The scheme is case-insensitive (RFC 7235).
  constexpr std::string_view kBearer = "bearer ";
  if (authorization.size() <= kBearer.size()) return false;
  for (size_t i = 0; i < kBearer.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        kBearer[i]) {
      return false;
    }
  }
  return AllowsToken(authorization.substr(kBearer.size()));
}

bool Auth::AllowsToken(std::string_view token) const {
  if (tokens_.empty()) return true;
  bool ok = false;
  for (const std::string& t : tokens_) ok |= SameBytes(token, t);
  return ok;
}

}  // namespace deltakv::cluster
