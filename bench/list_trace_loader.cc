#include "bench/list_trace_loader.h"

#include <zlib.h>

#include <exception>
#include <nlohmann/json.hpp>

namespace deltakv::bench {

std::string DefaultTracePath(const std::string& source_dir) {
  return source_dir + "/../shared/traces/automerge-paper.json.gz";
}

Status LoadTrace(const std::string& path, Trace* out) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return Status::IOError("cannot open " + path);
  std::string json;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) {
    json.append(buf, static_cast<size_t>(n));
  }
  const bool failed = n < 0;
  gzclose(f);
  if (failed) return Status::IOError("cannot decompress " + path);
  try {
    const nlohmann::json doc = nlohmann::json::parse(json);
    out->end_content = doc.at("endContent").get<std::string>();
    out->patches.clear();
    for (const auto& txn : doc.at("txns")) {
      for (const auto& p : txn.at("patches")) {
        out->patches.push_back(TracePatch{p.at(0).get<uint64_t>(),
                                          p.at(1).get<uint64_t>(),
                                          p.at(2).get<std::string>()});
      }
    }
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("trace: ") + e.what());
  }
  return Status::OK();
}

std::u32string DecodeUtf8(const std::string& s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    int len = b < 0x80         ? 1
              : (b >> 5) == 6  ? 2
              : (b >> 4) == 14 ? 3
              : (b >> 3) == 30 ? 4
                               : 0;
    if (len == 0 || i + static_cast<size_t>(len) > s.size()) {
      out.push_back(0xfffd);
      ++i;
      continue;
    }
    char32_t cp = len == 1 ? b : (b & (0x7f >> len));
    for (int k = 1; k < len; ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    }
    out.push_back(cp);
    i += static_cast<size_t>(len);
  }
  return out;
}

std::string EncodeUtf8(const std::u32string& s) {
  std::string out;
  for (char32_t c : s) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xc0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xe0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
    } else {
      out.push_back(static_cast<char>(0xf0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
    }
  }
  return out;
}

}  // namespace deltakv::bench
