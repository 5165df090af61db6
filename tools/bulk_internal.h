// Internal to the bulk commands (tools/export.cc, tools/import.cc): the
// line format's name and version, error printing and the progress line.
//
// Thread-safety: PrintError and Progress may be used from any thread.
#ifndef DELTAKV_TOOLS_BULK_INTERNAL_H_
#define DELTAKV_TOOLS_BULK_INTERNAL_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace deltakv {
struct HttpResult;
}

namespace deltakv::cli {

inline constexpr const char* kFormatName = "deltakv-keys";
inline constexpr int64_t kFormatVersion = 1;

std::string Enc(std::string_view s);  // percent-encoded, for a URL
// "code: message" of an error answer, else "HTTP status".
std::string ErrorOf(const HttpResult& r);
// "deltakv: message" on stderr, on a line of its own (clearing a progress
// line that is shown).
void PrintError(const std::string& message);

// A progress line on stderr, redrawn every 200 ms while the work runs
// (when `on`): keys done, keys/s, and with `total_bytes` the share of
// `*bytes` in it. Stop (or the destructor) leaves the last one on screen.
class Progress {
 public:
  Progress(bool on, const char* verb, uint64_t total_bytes,
           const std::atomic<uint64_t>* bytes);
  ~Progress();
  void Stop();

  std::atomic<uint64_t> done{0};  // keys done

 private:
  void Loop();
  void Draw();

  bool on_;
  const char* verb_;
  uint64_t total_bytes_;
  const std::atomic<uint64_t>* bytes_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace deltakv::cli

#endif  // DELTAKV_TOOLS_BULK_INTERNAL_H_
