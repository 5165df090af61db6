#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "client/http_client.h"
#include "core/percent.h"
#include "tools/bulk_internal.h"

namespace deltakv::cli {

namespace {

using Clock = std::chrono::steady_clock;

std::string WithCommas(uint64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) {
    s.insert(static_cast<size_t>(i), ",");
  }
  return s;
}

std::mutex& ErrMu() {
  static std::mutex mu;
  return mu;
}

// Set while a progress line is on the terminal: an error clears it first.
std::atomic<bool> g_progress_shown{false};

}  // namespace

std::string Enc(std::string_view s) { return PercentEncode(s); }

std::string ErrorOf(const HttpResult& r) {
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error") &&
      j["error"].is_object()) {
    const nlohmann::json& e = j["error"];
    auto text = [&](const char* field, const char* otherwise) {
      auto it = e.find(field);
      return it != e.end() && it->is_string() ? it->get<std::string>()
                                              : std::string(otherwise);
    };
    return text("code", "error") + ": " + text("message", "");
  }
  return "HTTP " + std::to_string(r.status);
}

void PrintError(const std::string& message) {
  std::lock_guard<std::mutex> lock(ErrMu());
  if (g_progress_shown.load()) std::cerr << "\r\x1b[K";
  std::cerr << "deltakv: " << message << "\n" << std::flush;
}

Progress::Progress(bool on, const char* verb, uint64_t total_bytes,
                   const std::atomic<uint64_t>* bytes)
    : on_(on), verb_(verb), total_bytes_(total_bytes), bytes_(bytes) {
  start_ = Clock::now();
  if (on_) {
    g_progress_shown.store(true);
    thread_ = std::thread([this] { Loop(); });
  }
}

Progress::~Progress() { Stop(); }

void Progress::Stop() {
  if (!on_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  cv_.notify_all();
  thread_.join();
  Draw();
  std::lock_guard<std::mutex> lock(ErrMu());
  std::cerr << "\n" << std::flush;
  g_progress_shown.store(false);
}

void Progress::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopped_) {
    cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (stopped_) break;
    lock.unlock();
    Draw();
    lock.lock();
  }
}

void Progress::Draw() {
  const double secs =
      std::chrono::duration<double>(Clock::now() - start_).count();
  const uint64_t n = done.load(std::memory_order_relaxed);
  std::string line =
      "\r\x1b[K" + std::string(verb_) + " " + WithCommas(n) + " keys, " +
      WithCommas(
          static_cast<uint64_t>(secs > 0 ? static_cast<double>(n) / secs : 0)) +
      " keys/s";
  if (total_bytes_ > 0 && bytes_ != nullptr) {
    const uint64_t b = bytes_->load(std::memory_order_relaxed);
    line += ", " +
            std::to_string(std::min<uint64_t>(100, b * 100 / total_bytes_)) +
            "%";
  }
  std::lock_guard<std::mutex> lock(ErrMu());
  std::cerr << line << std::flush;
}

}  // namespace deltakv::cli
