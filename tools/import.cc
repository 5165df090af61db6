// deltakv import: reads lines, checks each, and sends them as batches of
// write operations (POST /v1/batch), one worker thread and connection per
// shard of the keys.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/http_client.h"
#include "core/utf8.h"
#include "tools/bulk.h"
#include "tools/bulk_internal.h"

namespace deltakv::cli {

namespace {

using nlohmann::json;

constexpr size_t kMaxKeyBytes = 1024;     // the API's key bound
constexpr size_t kMaxItemsPerOp = 10000;  // members or values per write

struct Op {
  std::string text;  // one element of the batch's "ops"
  uint64_t line = 0;
  bool last = false;  // the last operation of its line
};

struct Batch {
  std::vector<Op> ops;
  size_t bytes = 0;
};

struct Shared {
  const ImportOptions* options;
  HttpClient* http;
  Progress* progress;
  std::atomic<bool> stop{false};    // no more lines are read
  std::atomic<bool> fatal{false};   // a request failed as a whole
  std::atomic<uint64_t> failed{0};  // lines refused
};

// Sends the batches of one shard of the keys, in order: every key's
// operations go through one worker, so they apply in the file's order.
class Worker {
 public:
  explicit Worker(Shared* shared) : s_(shared) {
    thread_ = std::thread([this] { Run(); });
  }

  // Blocks while two batches wait already.
  void Push(Batch b) {
    std::unique_lock<std::mutex> lock(mu_);
    space_.wait(lock, [&] { return queue_.size() < 2 || s_->fatal.load(); });
    if (s_->fatal.load()) return;
    queue_.push_back(std::move(b));
    ready_.notify_one();
  }
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    ready_.notify_all();
    thread_.join();
  }
  void Wake() {
    space_.notify_all();
    ready_.notify_all();
  }

 private:
  void Run() {
    for (;;) {
      Batch b;
      {
        std::unique_lock<std::mutex> lock(mu_);
        ready_.wait(lock, [&] { return !queue_.empty() || closed_; });
        if (queue_.empty()) return;
        b = std::move(queue_.front());
        queue_.pop_front();
      }
      space_.notify_one();
      // A refused line stops the reading only: what was read before it is
      // still sent. A failed request stops everything.
      if (s_->fatal.load()) continue;
      try {
        Send(std::move(b));
      } catch (const json::exception& e) {
        Fatal(std::string("the server's answer is not understood: ") +
              e.what());
      }
    }
  }

  void LineFailed(uint64_t line, const std::string& message) {
    if (line != last_failed_) s_->failed.fetch_add(1);
    last_failed_ = line;
    PrintError("line " + std::to_string(line) + ": " + message);
    if (!s_->options->skip_errors) s_->stop.store(true);
  }

  void Fatal(const std::string& message) {
    PrintError(message);
    s_->fatal.store(true);
    s_->stop.store(true);
  }

  void Send(Batch b) {
    int retries = 0;
    while (!b.ops.empty()) {
      std::string body = "{\"ops\":[";
      for (size_t i = 0; i < b.ops.size(); ++i) {
        if (i) body += ',';
        body += b.ops[i].text;
      }
      body += "]}";
      auto r = s_->http->Request("POST", "/v1/batch", body);
      if (!r.ok()) {
        return Fatal(r.status().ToString() + " (lines " +
                     std::to_string(b.ops.front().line) + " to " +
                     std::to_string(b.ops.back().line) +
                     " may be applied in part)");
      }
      if (r->status == 503 && retries < 10) {
        ++retries;
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      if (r->status == 400 || r->status == 413) {
        // One operation refused the whole batch before any was applied:
        // "ops[i]: why". Report its line; with --skip-errors send the rest.
        json j = json::parse(r->body, nullptr, false);
        std::string message =
            j.is_object() && j.contains("error") && j["error"].is_object()
                ? j["error"].value("message", std::string())
                : std::string();
        size_t idx = 0;
        if (message.rfind("ops[", 0) == 0 &&
            std::sscanf(message.c_str(), "ops[%zu]", &idx) == 1 &&
            idx < b.ops.size()) {
          const uint64_t line = b.ops[idx].line;
          const std::string code = j["error"].value("code", std::string());
          LineFailed(line, code + ": " + message.substr(message.find(']') + 3));
          // Without --skip-errors the lines before it are still applied.
          const bool skip = s_->options->skip_errors;
          std::erase_if(b.ops, [line, skip](const Op& op) {
            return skip ? op.line == line : op.line >= line;
          });
          continue;
        }
        return Fatal("the server refused a batch: " + ErrorOf(*r));
      }
      if (r->status != 200) {
        return Fatal("the server refused a batch: " + ErrorOf(*r));
      }
      json j = json::parse(r->body, nullptr, false);
      if (j.is_discarded() || !j.contains("results") ||
          !j["results"].is_array() || j["results"].size() != b.ops.size()) {
        return Fatal("the server's answer to a batch is not understood");
      }
      const json& results = j["results"];
      for (size_t i = 0; i < b.ops.size(); ++i) {
        const json& res = results[i];
        if (res.is_object() && res.contains("error") &&
            res["error"].is_object()) {
          LineFailed(b.ops[i].line,
                     res["error"].value("code", std::string("error")) + ": " +
                         res["error"].value("message", std::string()));
        } else if (b.ops[i].last && b.ops[i].line != last_failed_) {
          s_->progress->done.fetch_add(1, std::memory_order_relaxed);
        }
      }
      return;
    }
  }

  Shared* s_;
  std::mutex mu_;
  std::condition_variable ready_, space_;
  std::deque<Batch> queue_;
  bool closed_ = false;
  uint64_t last_failed_ = 0;
  std::thread thread_;
};

// Lines of a file descriptor, read in large blocks.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  // The next line without its newline (and a trailing CR); false at the
  // end. A read error sets error().
  bool Next(std::string* line) {
    for (;;) {
      size_t nl = buf_.find('\n', std::max(pos_, scanned_));
      if (nl != std::string::npos) {
        line->assign(buf_, pos_, nl - pos_);
        bytes.fetch_add(nl + 1 - pos_, std::memory_order_relaxed);
        pos_ = nl + 1;
        if (!line->empty() && line->back() == '\r') line->pop_back();
        return true;
      }
      if (eof_) {
        if (pos_ >= buf_.size()) return false;
        line->assign(buf_, pos_);
        bytes.fetch_add(buf_.size() - pos_, std::memory_order_relaxed);
        pos_ = buf_.size();
        if (!line->empty() && line->back() == '\r') line->pop_back();
        return true;
      }
      buf_.erase(0, pos_);
      pos_ = 0;
      const size_t old = buf_.size();
      scanned_ = old;  // no newline before it
      buf_.resize(old + (1 << 20));
      ssize_t n;
      do {
        n = ::read(fd_, buf_.data() + old, 1 << 20);
      } while (n < 0 && errno == EINTR);
      if (n < 0) {
        error_ = std::strerror(errno);
        buf_.resize(old);
        eof_ = true;
        continue;
      }
      buf_.resize(old + static_cast<size_t>(n));
      if (n == 0) eof_ = true;
    }
  }
  const std::string& error() const { return error_; }
  std::atomic<uint64_t> bytes{0};

 private:
  int fd_;
  std::string buf_;
  size_t pos_ = 0;
  size_t scanned_ = 0;  // buf_ holds no newline from pos_ up to here
  bool eof_ = false;
  std::string error_;
};

// The operations of one line; an error message when it is malformed.
std::optional<std::string> ParseLine(const std::string& text,
                                     const ImportOptions& options,
                                     std::string* key, std::vector<Op>* ops) {
  if (!ValidUtf8(text)) return "not valid UTF-8";
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    std::string what = e.what();
    if (auto p = what.find("] "); p != std::string::npos) what.erase(0, p + 2);
    // "parse error at line 1, column 7: why": the line is one line.
    if (what.rfind("parse error at line ", 0) == 0) {
      if (auto c = what.find(", column "); c != std::string::npos) {
        return "malformed JSON at" + what.substr(c + 1);
      }
    }
    return "malformed JSON: " + what;
  }
  if (!j.is_object()) return "a line must be a JSON object";
  if (j.contains("format")) {  // a header line
    if (j["format"] != kFormatName) {
      return "unknown format " + j["format"].dump() + " (expected \"" +
             kFormatName + "\")";
    }
    auto v = j.find("version");
    if (v == j.end() || !v->is_number_integer() ||
        v->get<int64_t>() != kFormatVersion) {
      return "unsupported format version " +
             (v == j.end() ? std::string("(none)") : v->dump()) +
             " (this deltakv reads version " + std::to_string(kFormatVersion) +
             ")";
    }
    return std::nullopt;
  }
  auto k = j.find("key");
  if (k == j.end()) return "missing field 'key'";
  if (!k->is_string()) return "field 'key' must be a string";
  *key = k->get<std::string>();
  if (key->empty() || key->size() > kMaxKeyBytes) {
    return "key must be 1 to " + std::to_string(kMaxKeyBytes) + " bytes";
  }
  auto t = j.find("type");
  if (t == j.end()) return "missing field 'type'";
  if (!t->is_string()) return "field 'type' must be a string";
  const std::string type = t->get<std::string>();
  const std::string head = "\"key\":" + k->dump();
  if (type == "counter") {
    auto v = j.find("value");
    if (v == j.end()) return "missing field 'value'";
    if (!v->is_number_integer() ||
        (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t{INT64_MAX})) {
      return "field 'value' of a counter must be an integer in the int64 "
             "range";
    }
    if (v->get<int64_t>() == 0) {
      // An increment by 0 changes nothing, so it would not create the key:
      // +1 then -1 does, and leaves a counter that exists at its value.
      ops->push_back({"{\"op\":\"counter_incr\"," + head + ",\"by\":1}"});
      ops->push_back({"{\"op\":\"counter_incr\"," + head + ",\"by\":-1}"});
    } else {
      ops->push_back(
          {"{\"op\":\"counter_incr\"," + head + ",\"by\":" + v->dump() + "}"});
    }
  } else if (type == "register") {
    auto v = j.find("value");
    if (v == j.end()) return "missing field 'value'";
    ops->push_back(
        {"{\"op\":\"register_put\"," + head + ",\"value\":" + v->dump() + "}"});
  } else if (type == "set" || type == "list") {
    const bool set = type == "set";
    const char* field = set ? "members" : "values";
    auto v = j.find(field);
    if (v == j.end()) return std::string("missing field '") + field + "'";
    if (!v->is_array()) {
      return std::string("field '") + field + "' must be an array of strings";
    }
    for (const json& item : *v) {
      if (!item.is_string()) {
        return std::string("field '") + field + "' must be an array of strings";
      }
    }
    // Writes of at most kMaxItemsPerOp items and half a batch of bytes, in
    // order (a list's values are pushed at the back).
    const std::string start = std::string("{\"op\":\"") +
                              (set ? "set_add" : "list_push") + "\"," + head +
                              ",\"" + field + "\":[";
    std::string cur;
    size_t items = 0;
    for (const json& item : *v) {
      std::string s = item.dump();
      if (items > 0 && (items == kMaxItemsPerOp ||
                        cur.size() + s.size() > options.batch_bytes / 2)) {
        ops->push_back({start + cur + "]}"});
        cur.clear();
        items = 0;
      }
      if (items) cur += ',';
      cur += s;
      ++items;
    }
    if (items) ops->push_back({start + cur + "]}"});
    // An empty set or list writes nothing (the key stays missing).
  } else {
    return "unknown type " + t->dump() + " (counter, register, set or list)";
  }
  return std::nullopt;
}

}  // namespace

int Import(HttpClient& http, const ImportOptions& options, int in) {
  LineReader reader(in);
  uint64_t total = 0;
  struct stat st;
  if (::fstat(in, &st) == 0 && S_ISREG(st.st_mode)) {
    const off_t at = ::lseek(in, 0, SEEK_CUR);
    if (at >= 0 && st.st_size > at)
      total = static_cast<uint64_t>(st.st_size - at);
  }
  Progress progress(options.progress, "imported", total, &reader.bytes);
  Shared shared;
  shared.options = &options;
  shared.http = &http;
  shared.progress = &progress;
  const size_t nworkers = std::max<size_t>(1, options.connections);
  std::vector<std::unique_ptr<Worker>> workers;
  for (size_t i = 0; i < nworkers; ++i) {
    workers.push_back(std::make_unique<Worker>(&shared));
  }
  std::vector<Batch> pending(nworkers);
  auto flush = [&](size_t w) {
    if (pending[w].ops.empty()) return;
    workers[w]->Push(std::move(pending[w]));
    pending[w] = Batch();
  };
  std::string text, key;
  std::vector<Op> ops;
  uint64_t lineno = 0;
  bool read_failed = false;
  while (!shared.stop.load() && reader.Next(&text)) {
    ++lineno;
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    ops.clear();
    key.clear();
    if (auto error = ParseLine(text, options, &key, &ops)) {
      shared.failed.fetch_add(1);
      PrintError("line " + std::to_string(lineno) + ": " + *error);
      if (!options.skip_errors) {
        // The lines before this one are still applied.
        shared.stop.store(true);
        break;
      }
      continue;
    }
    if (key.empty()) continue;  // a header line
    if (ops.empty()) {          // an empty set or list
      progress.done.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    const size_t w = std::hash<std::string>{}(key) % nworkers;
    for (size_t i = 0; i < ops.size(); ++i) {
      Op& op = ops[i];
      op.line = lineno;
      op.last = i + 1 == ops.size();
      Batch& b = pending[w];
      if (!b.ops.empty() && (b.ops.size() >= options.batch_ops ||
                             b.bytes + op.text.size() > options.batch_bytes)) {
        flush(w);
      }
      pending[w].bytes += op.text.size() + 1;
      pending[w].ops.push_back(std::move(op));
    }
  }
  if (!reader.error().empty()) {
    PrintError("cannot read the input: " + reader.error());
    read_failed = true;
  }
  for (size_t w = 0; w < nworkers; ++w) {
    if (!shared.fatal.load()) flush(w);
  }
  for (auto& w : workers) w->Wake();
  for (auto& w : workers) w->Close();
  progress.Stop();
  const uint64_t failed = shared.failed.load();
  if (failed > 0) {
    PrintError(std::to_string(failed) + " line(s) not imported" +
               (options.skip_errors ? " (skipped)" : ""));
  }
  return failed > 0 || shared.fatal.load() || read_failed ? 1 : 0;
}

}  // namespace deltakv::cli
