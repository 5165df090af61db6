// Percent-encoding of URL path segments and query values (RFC 3986).
//
// Thread-safety: stateless.
#ifndef DELTAKV_CORE_PERCENT_H_
#define DELTAKV_CORE_PERCENT_H_

#include <string>
#include <string_view>

namespace deltakv {

// Encodes every byte except the unreserved set (ALPHA DIGIT - . _ ~).
std::string PercentEncode(std::string_view in);
// Decodes %XX escapes ('+' stays '+'). False on a malformed escape.
bool PercentDecode(std::string_view in, std::string* out);

}  // namespace deltakv

#endif  // DELTAKV_CORE_PERCENT_H_
