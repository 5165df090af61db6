// Bulk export and import of keys as JSON lines (docs/cli.md, "Export and
// import"): `deltakv export` pages through GET /v1/keys and reads every key
// whole; `deltakv import` sends the lines as POST /v1/batch requests over
// several connections at once.
//
// Thread-safety: each call runs on its own (it starts and joins its own
// threads); `http` must be safe for concurrent use, as HttpClient is.
#ifndef DELTAKV_TOOLS_BULK_H_
#define DELTAKV_TOOLS_BULK_H_

#include <cstddef>
#include <cstdio>
#include <string>

namespace deltakv {
class HttpClient;
}

namespace deltakv::cli {

struct ExportOptions {
  std::string prefix;
  bool progress = false;  // a progress line on stderr
  size_t connections = 4;
};

// Writes every live key starting with the prefix to `out`, one line each,
// after a header line. Returns the process exit code: 0 when every key was
// written; 1 after a failed request or output write (the message is on
// stderr), or when a key of a type the format has no line for was skipped.
// A key deleted while the export runs is left out; that is not an error.
int Export(HttpClient& http, const ExportOptions& options, std::FILE* out);

struct ImportOptions {
  bool progress = false;
  bool skip_errors = false;  // count malformed or refused lines and go on
  size_t batch_ops = 1000;   // operations per request (the server's maximum)
  size_t batch_bytes = 512 * 1024;  // body bytes per request, roughly
  size_t connections = 4;           // requests in flight
};

// Reads lines from the file descriptor `in` and writes them. Returns the
// process exit code: 0 when every line was applied; 1 when a line was
// refused (by the CLI or the server; each is reported on stderr with its
// line number), a request failed, or the input could not be read.
int Import(HttpClient& http, const ImportOptions& options, int in);

}  // namespace deltakv::cli

#endif  // DELTAKV_TOOLS_BULK_H_
