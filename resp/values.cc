#include "resp/values.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <vector>

namespace deltakv::resp {

std::string EncodeRegisterValue(std::string_view bytes) {
  if (!ValidUtf8(bytes)) return std::string(bytes);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() + 2);
  out.push_back('"');
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string DecodeRegisterValue(std::string_view stored) {
  // The common case: a JSON string without escapes.
  if (stored.size() >= 2 && stored.front() == '"' && stored.back() == '"' &&
      stored.substr(1, stored.size() - 2).find_first_of("\"\\") ==
          std::string_view::npos) {
    return std::string(stored.substr(1, stored.size() - 2));
  }
  nlohmann::json v = nlohmann::json::parse(stored, nullptr, false);
  if (v.is_discarded()) return std::string(stored);  // raw bytes
  if (v.is_string()) return v.get<std::string>();
  return std::string(stored);
}

std::optional<int64_t> ParseInt(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

namespace {

// One token of a glob pattern: a literal byte, '?', a class, or '*'.
struct GlobToken {
  enum Kind { kLiteral, kAny, kClass, kStar } kind = kLiteral;
  char literal = 0;
  bool negate = false;
  std::vector<std::pair<unsigned char, unsigned char>> ranges;

  bool Matches(char ch) const {
    const auto c = static_cast<unsigned char>(ch);
    switch (kind) {
      case kLiteral:
        return ch == literal;
      case kAny:
        return true;
      case kClass: {
        bool in = false;
        for (auto [lo, hi] : ranges) in |= c >= lo && c <= hi;
        return in != negate;
      }
      case kStar:
        return false;
    }
    return false;
  }
};

std::vector<GlobToken> Tokenize(std::string_view p) {
  std::vector<GlobToken> out;
  for (size_t i = 0; i < p.size(); ++i) {
    GlobToken t;
    switch (p[i]) {
      case '*':
        if (!out.empty() && out.back().kind == GlobToken::kStar) continue;
        t.kind = GlobToken::kStar;
        break;
      case '?':
        t.kind = GlobToken::kAny;
        break;
      case '\\':
        if (i + 1 < p.size()) ++i;
        t.literal = p[i];
        break;
      case '[': {
        t.kind = GlobToken::kClass;
        ++i;
        if (i < p.size() && p[i] == '^') {
          t.negate = true;
          ++i;
        }
        // Up to the closing ']' (or the end of the pattern, as Redis).
        for (; i < p.size() && p[i] != ']'; ++i) {
          unsigned char lo = static_cast<unsigned char>(p[i]);
          if (p[i] == '\\' && i + 1 < p.size()) {
            lo = static_cast<unsigned char>(p[++i]);
          } else if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
            unsigned char hi = static_cast<unsigned char>(p[i + 2]);
            if (lo > hi) std::swap(lo, hi);
            t.ranges.emplace_back(lo, hi);
            i += 2;
            continue;
          }
          t.ranges.emplace_back(lo, lo);
        }
        break;
      }
      default:
        t.literal = p[i];
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view s) {
  const std::vector<GlobToken> tokens = Tokenize(pattern);
  size_t t = 0, i = 0;
  size_t star = std::string_view::npos, star_i = 0;
  while (i < s.size()) {
    if (t < tokens.size() && tokens[t].kind == GlobToken::kStar) {
      star = t++;
      star_i = i;
    } else if (t < tokens.size() && tokens[t].Matches(s[i])) {
      ++t;
      ++i;
    } else if (star != std::string_view::npos) {
      t = star + 1;
      i = ++star_i;
    } else {
      return false;
    }
  }
  while (t < tokens.size() && tokens[t].kind == GlobToken::kStar) ++t;
  return t == tokens.size();
}

std::string GlobPrefix(std::string_view pattern) {
  std::string out;
  for (char c : pattern) {
    if (c == '*' || c == '?' || c == '[' || c == '\\') break;
    out.push_back(c);
  }
  return out;
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace deltakv::resp
